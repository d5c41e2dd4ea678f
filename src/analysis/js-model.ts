import {
  META_ANON,
  META_COMPATIBLE,
  META_EXCLUSIVE,
  META_HUGE,
  META_MERGEABLE_NOW,
  META_NO_PHYS,
  META_ZERO_PFN,
  type PageIndex,
  metaKind,
  metaPfn,
  metaProcess,
} from '../index/page-index.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import { HugePageSplits, findHugePageSplits } from './huge-page-splits.js';
import { SCOPES, emptyResult, f64, type ContentResult, type ModelOptions, type ModelResult, type ScopeResult } from './model-result.js';

// The KSM model in JavaScript: the reference every other model is held equal to
// (test/unit/ksm-model.test.ts), and the model where the native addon is not built. What it computes
// and why: docs/estimate.md.

/**
 * The model in JavaScript: the reference for the native pass, and the path where the addon
 * is not built. Most contents occur once. Those take a short loop of their own with local
 * counters, so the JIT has one small, stable loop to optimise; contents seen more than once go
 * to ContentGroups.add, a function called often enough to be optimised as a whole.
 */
export function runKsmModelInJs(index: PageIndex, opts: ModelOptions): ModelResult {
  const { content, scopes } = emptyResult(opts.processCount);
  const [all, now] = scopes as [ScopeResult, ScopeResult];
  const splits = findHugePageSplits(index, opts);
  const groups = new ContentGroups(index, opts, content, scopes, splits);

  const hh = index.hashHi;
  const hl = index.hashLo;
  const mt = index.meta;
  const n = index.length;
  const kindResident = content.byKind.resident;
  const procResident = content.byProcess.resident;
  const procAnon = content.byProcess.anon;
  const rmapAll = all.perProcess.rmapItems;
  const rmapNow = now.perProcess.rmapItems;
  const needAll = META_ANON | META_COMPATIBLE;
  const needNow = META_ANON | META_MERGEABLE_NOW;
  const zHi = opts.zeroHash.hi;
  const zLo = opts.zeroHash.lo;
  // Contents seen once, tracked by KSM (an rmap_item each) but never merged, per scope.
  let lonelyAll = 0;
  let lonelyNow = 0;
  let distinct = 0;
  let hugeResident = 0;

  for (let a = 0; a < n; distinct++) {
    const h1 = hh[a] as number;
    const h2 = hl[a] as number;
    let b = a + 1;
    while (b < n && hh[b] === h1 && hl[b] === h2) b++;
    if (b > a + 1 || (h1 === zHi && h2 === zLo)) {
      groups.add(a, b, h1 === zHi && h2 === zLo);
      a = b;
      continue;
    }
    const m = mt[a] as number;
    const k = metaKind(m);
    const p = metaProcess(m);
    kindResident[k] = (kindResident[k] as number) + 1;
    procResident[p] = (procResident[p] as number) + 1;
    if ((m & META_ANON) !== 0) procAnon[p] = (procAnon[p] as number) + 1;
    if ((m & META_HUGE) !== 0) hugeResident++;
    if ((m & META_ZERO_PFN) === 0) {
      if ((m & needAll) === needAll) {
        lonelyAll++;
        rmapAll[p] = (rmapAll[p] as number) + 1;
      }
      if ((m & needNow) === needNow) {
        lonelyNow++;
        rmapNow[p] = (rmapNow[p] as number) + 1;
      }
    }
    a = b;
  }
  all.rmapItems += lonelyAll;
  all.pagesUnshared += lonelyAll;
  now.rmapItems += lonelyNow;
  now.pagesUnshared += lonelyNow;
  content.distinctContents = distinct;
  content.naiveDuplicatePages = groups.naiveDuplicates;
  content.hugeResidentPages += hugeResident;
  scopes.forEach((scope, s) => (scope.hugePagesSplit = (splits.byScope[s] as Set<number>).size));
  return { content, scopes };
}

/** The contents seen more than once (and zero-filled pages, seen once or more). */
export class ContentGroups {
  naiveDuplicates = 0;
  private readonly hold: Float64Array;
  private readonly withinPerWeight: Float64Array;
  private readonly acrossPerWeight: Float64Array;
  private readonly touched: Int32Array;
  private weights = new Float64Array(256);
  private readonly shares: EqualShares;
  // One entry per distinct frame of the current run of eligible mappings.
  private readonly frames = new FrameRuns();

  constructor(
    private readonly index: PageIndex,
    private readonly opts: ModelOptions,
    private readonly content: ContentResult,
    private readonly scopes: ScopeResult[],
    private readonly splits: HugePageSplits = new HugePageSplits(),
  ) {
    const procs = Math.max(1, opts.processCount);
    this.hold = new Float64Array(procs);
    this.withinPerWeight = new Float64Array(procs);
    this.acrossPerWeight = new Float64Array(procs);
    this.touched = new Int32Array(procs);
    this.shares = new EqualShares(procs);
  }

  /** Records [a, b) hold one content. */
  add(a: number, b: number, isZero: boolean): void {
    const mt = this.index.meta;
    const pl = this.index.pfnLo;
    const { byKind, byProcess } = this.content;

    // Content statistics: every resident page, whatever KSM may do with it.
    for (let r = a; r < b; r++) {
      const m = mt[r] as number;
      const k = metaKind(m);
      const p = metaProcess(m);
      byKind.resident[k] = (byKind.resident[k] as number) + 1;
      byProcess.resident[p] = (byProcess.resident[p] as number) + 1;
      if ((m & META_ANON) !== 0) byProcess.anon[p] = (byProcess.anon[p] as number) + 1;
      if ((m & META_HUGE) !== 0) this.content.hugeResidentPages++;
      if (isZero) {
        byKind.zero[k] = (byKind.zero[k] as number) + 1;
        byProcess.zero[p] = (byProcess.zero[p] as number) + 1;
        if ((m & META_ZERO_PFN) !== 0) byKind.zeroPageMapped[k] = (byKind.zeroPageMapped[k] as number) + 1;
      }
    }
    if (b - a > 1) {
      this.naiveDuplicates += b - a - 1;
      this.countDuplicates(a, b);
    }

    const frames = this.frames;
    // Since 6.12 the split of a huge page frees its zero-filled subpages before KSM can count them.
    const splitFrees = isZero && this.opts.thpSplit === 'zero-subpages-freed' && this.splits.any;
    for (let s = 0; s < SCOPES.length; s++) {
      const need = META_ANON | (SCOPES[s] as { vmaFlag: number }).vmaFlag;
      const out = this.scopes[s] as ScopeResult;
      if (splitFrees) {
        this.zeroGroupWithSplits(a, b, s, need, out);
        continue;
      }
      if (b - a === 1 && !(isZero && this.opts.useZeroPages)) {
        // A zero-filled page seen once: tracked by KSM if eligible, never merged.
        const m = mt[a] as number;
        if ((m & need) === need && (m & META_ZERO_PFN) === 0) {
          const p = metaProcess(m);
          out.rmapItems++;
          out.pagesUnshared++;
          out.perProcess.rmapItems[p] = (out.perProcess.rmapItems[p] as number) + 1;
        }
        continue;
      }
      frames.clear();
      for (let r = a; r < b; r++) {
        const m = mt[r] as number;
        if ((m & need) !== need || (m & META_ZERO_PFN) !== 0) continue;
        const pfn = metaPfn(m, pl[r] as number);
        const noPhys = (m & META_NO_PHYS) !== 0;
        // Without physical information every mapping counts as its own frame: an upper bound.
        if (noPhys || frames.length === 0 || frames.lastPfn() !== pfn) frames.addFrame(pfn, noPhys);
        frames.addMapping(r, (m & META_EXCLUSIVE) !== 0);
      }
      if (frames.length > 0) applyKsm(out, frames, isZero, mt, this.opts, this.shares);
    }
  }

  /**
   * Duplicates among distinct frames (docs/estimate.md, "Duplicates and already shared pages"):
   * each frame weighs 1, shared equally among its mappings; a process holds the sum of its
   * mappings' weights. Of a content's F frames, F - 1 are duplicates: what a process holds
   * beyond one frame is within it, the rest across processes, split in proportion to what each
   * holds up to one frame. The other mappings of a frame are already shared.
   */
  private countDuplicates(a: number, b: number): void {
    const mt = this.index.meta;
    const pl = this.index.pfnLo;
    const { byKind, byProcess } = this.content;
    const weight = this.weightsFor(b - a);
    const hold = this.hold;
    const touched = this.touched;
    let touchedCount = 0;
    for (let r = a; r < b; ) {
      const m = mt[r] as number;
      let e = r + 1;
      // Records of one frame are adjacent; without a frame number each mapping is its own frame.
      if ((m & META_NO_PHYS) === 0) {
        const pfn = metaPfn(m, pl[r] as number);
        while (e < b && ((mt[e] as number) & META_NO_PHYS) === 0 && metaPfn(mt[e] as number, pl[e] as number) === pfn) e++;
      }
      const mappings = e - r;
      const w = 1 / mappings;
      const shared = (mappings - 1) / mappings;
      for (let i = r; i < e; i++) {
        weight[i - a] = w;
        const mi = mt[i] as number;
        const p = metaProcess(mi);
        if ((hold[p] as number) === 0) touched[touchedCount++] = p;
        hold[p] = (hold[p] as number) + w;
        if (mappings > 1) {
          const k = metaKind(mi);
          byKind.alreadyShared[k] = (byKind.alreadyShared[k] as number) + shared;
          byProcess.alreadyShared[p] = (byProcess.alreadyShared[p] as number) + shared;
        }
      }
      r = e;
    }
    let held = 0;
    for (let i = 0; i < touchedCount; i++) held += upToOne(this.hold[touched[i] as number] as number);
    const across = held - 1 > EPSILON ? held - 1 : 0;
    const withinPerWeight = this.withinPerWeight;
    const acrossPerWeight = this.acrossPerWeight;
    for (let i = 0; i < touchedCount; i++) {
      const p = touched[i] as number;
      const h = hold[p] as number;
      const within = h > 1 + EPSILON ? h - 1 : 0;
      const share = across === 0 ? 0 : (across * upToOne(h)) / held;
      byProcess.dupWithin[p] = (byProcess.dupWithin[p] as number) + within;
      byProcess.dupAcross[p] = (byProcess.dupAcross[p] as number) + share;
      withinPerWeight[p] = within / h;
      acrossPerWeight[p] = share / h;
    }
    // By kind: each mapping takes its process's figures in proportion to its weight.
    for (let r = a; r < b; r++) {
      const m = mt[r] as number;
      const p = metaProcess(m);
      const k = metaKind(m);
      const w = weight[r - a] as number;
      byKind.dupWithin[k] = (byKind.dupWithin[k] as number) + w * (withinPerWeight[p] as number);
      byKind.dupAcross[k] = (byKind.dupAcross[k] as number) + w * (acrossPerWeight[p] as number);
    }
    for (let i = 0; i < touchedCount; i++) hold[touched[i] as number] = 0;
  }

  /**
   * The zero-filled content in scope s when splits free zero-filled subpages: each subpage of a
   * huge page that splits is freed once, uncounted by KSM; the other mappings go to KSM as usual.
   */
  private zeroGroupWithSplits(a: number, b: number, s: number, need: number, out: ScopeResult): void {
    const mt = this.index.meta;
    const pl = this.index.pfnLo;
    const frames = this.frames;
    frames.clear();
    let lastFreed = -1;
    for (let r = a; r < b; r++) {
      const m = mt[r] as number;
      if ((m & META_ANON) !== 0 && this.splits.splits(s, m, pl[r] as number)) {
        const frame = metaPfn(m, pl[r] as number);
        if (frame === lastFreed) continue;
        lastFreed = frame;
        const p = metaProcess(m);
        const k = metaKind(m);
        out.zeroSubpagesFreedBySplit++;
        out.ramFreedPages++;
        out.ramFreedHugePages++;
        out.perProcess.ramFreedPages[p] = (out.perProcess.ramFreedPages[p] as number) + 1;
        out.ramFreedByKind[k] = (out.ramFreedByKind[k] as number) + 1;
        continue;
      }
      if ((m & need) !== need || (m & META_ZERO_PFN) !== 0) continue;
      const pfn = metaPfn(m, pl[r] as number);
      const noPhys = (m & META_NO_PHYS) !== 0;
      if (noPhys || frames.length === 0 || frames.lastPfn() !== pfn) frames.addFrame(pfn, noPhys);
      frames.addMapping(r, (m & META_EXCLUSIVE) !== 0);
    }
    if (frames.length > 0) applyKsm(out, frames, true, mt, this.opts, this.shares);
  }

  private weightsFor(n: number): Float64Array {
    if (this.weights.length < n) this.weights = new Float64Array(Math.max(n, this.weights.length * 2));
    return this.weights;
  }
}

/** Below this, a sum of frame weights is taken as whole: 1/3 + 1/3 + 1/3 is not exactly 1 in floating point. */
const EPSILON = 1e-9;

/** What a process holds, counted up to one frame. */
function upToOne(h: number): number {
  return h >= 1 - EPSILON ? 1 : h;
}

/**
 * Splits `amount` equally among the first `count` mappings of `records`: per process and per
 * kind, the number of its mappings x amount / count, so that identical processes get identical
 * shares whatever the order of their frames.
 */
export class EqualShares {
  private readonly perProcess: Int32Array;
  private readonly touched: Int32Array;
  private readonly perKind = new Int32Array(MAPPING_KINDS.length);

  constructor(processCount: number) {
    this.perProcess = new Int32Array(Math.max(1, processCount));
    this.touched = new Int32Array(Math.max(1, processCount));
  }

  split(records: Int32Array, count: number, amount: number, mt: Uint32Array, intoProcess: Float64Array, intoKind: Float64Array): void {
    const perProcess = this.perProcess;
    const perKind = this.perKind;
    let touchedCount = 0;
    for (let i = 0; i < count; i++) {
      const m = mt[records[i] as number] as number;
      const p = metaProcess(m);
      const k = metaKind(m);
      if ((perProcess[p] as number) === 0) this.touched[touchedCount++] = p;
      perProcess[p] = (perProcess[p] as number) + 1;
      perKind[k] = (perKind[k] as number) + 1;
    }
    for (let i = 0; i < touchedCount; i++) {
      const p = this.touched[i] as number;
      intoProcess[p] = (intoProcess[p] as number) + ((perProcess[p] as number) * amount) / count;
      perProcess[p] = 0;
    }
    for (let k = 0; k < perKind.length; k++) {
      if ((perKind[k] as number) === 0) continue;
      intoKind[k] = (intoKind[k] as number) + ((perKind[k] as number) * amount) / count;
      perKind[k] = 0;
    }
  }
}

/** What KSM does with one content's eligible mappings, grouped by physical frame. */
function applyKsm(out: ScopeResult, frames: FrameRuns, isZero: boolean, mt: Uint32Array, opts: ModelOptions, shares: EqualShares): void {
  const D = frames.length;
  const M = frames.recordCount;
  const perProc = out.perProcess;

  if (isZero && opts.useZeroPages) {
    // use_zero_pages: each zero-filled mapping is pointed at the kernel's zero page and counted
    // in ksm_zero_pages; once it maps the zero page KSM no longer tracks it (no rmap_item).
    out.ksmZeroPages += M;
    countByProcess(perProc.zeroPages, frames.records, M, mt);
    freeFrames(out, frames, 0, M, mt, opts.physical, shares);
    return;
  }

  out.rmapItems += M;
  countByProcess(perProc.rmapItems, frames.records, M, mt);
  if (M < 2) {
    out.pagesUnshared += 1;
    return;
  }
  if (D === 1) {
    if (opts.physical !== null && opts.physical.isKsmPage(frames.pfn[0] as number)) {
      // Already a KSM page (KSM is running): every mapping stays counted, nothing more is freed.
      out.pagesShared += 1;
      out.pagesSharing += M - 1;
      countByProcess(perProc.mergingPages, frames.records, M, mt);
    } else {
      // One frame mapped several times (fork): KSM never merges a page with itself.
      out.pagesUnshared += 1;
    }
    return;
  }
  const mps = Math.max(2, opts.maxPageSharing);
  const full = Math.floor(M / mps);
  const rem = M % mps;
  // Each KSM page serves at most max_page_sharing mappings; a last lone mapping finds no partner.
  const ksmPages = Math.min(D, full + (rem >= 2 ? 1 : 0));
  const mergedMappings = rem === 1 ? M - 1 : M;
  if (rem === 1) out.pagesUnshared += 1;
  out.pagesShared += ksmPages;
  out.pagesSharing += mergedMappings - ksmPages;
  countByProcess(perProc.mergingPages, frames.records, mergedMappings, mt);
  let pinned = 0;
  for (let i = 0; i < D; i++) if (frames.pinned(i, opts.physical)) pinned++;
  // A pinned frame that becomes a KSM page keeps serving: only the rest of the KSM pages cost.
  freeFrames(out, frames, Math.max(0, ksmPages - pinned), mergedMappings, mt, opts.physical, shares);
}

/** Adds each of the first `limit` mappings to its process's count. */
function countByProcess(into: Float64Array, records: Int32Array, limit: number, mt: Uint32Array): void {
  for (let i = 0; i < limit; i++) {
    const p = metaProcess(mt[records[i] as number] as number);
    into[p] = (into[p] as number) + 1;
  }
}

/**
 * Frames freed: the unpinned ones, less those that become (or stay) KSM pages. They are split
 * equally among the first `merging` mappings, those that merge (docs/estimate.md).
 */
function freeFrames(out: ScopeResult, frames: FrameRuns, keepUnpinned: number, merging: number, mt: Uint32Array, physical: PhysicalPages | null, shares: EqualShares): void {
  let unpinned = 0;
  for (let i = 0; i < frames.length; i++) {
    if (frames.pinned(i, physical)) continue;
    // The frames kept are the first unpinned ones; the others are freed (for the huge-page figure).
    if (unpinned++ < keepUnpinned) continue;
    const m = mt[frames.records[frames.firstMapping[i] as number] as number] as number;
    if ((m & META_HUGE) !== 0) out.ramFreedHugePages++;
  }
  const freed = unpinned > keepUnpinned ? unpinned - keepUnpinned : 0;
  out.ramFreedPages += freed;
  if (freed > 0 && merging > 0) shares.split(frames.records, merging, freed, mt, out.perProcess.ramFreedPages, out.ramFreedByKind);
}

/**
 * Scratch list of the distinct frames of one content and their eligible mappings (record
 * numbers, in order): reused across contents, grown when a content has more.
 */
class FrameRuns {
  length = 0;
  recordCount = 0;
  pfn = new Float64Array(64);
  /** Index into records of the frame's first mapping. */
  firstMapping = new Int32Array(64);
  mappings = new Int32Array(64);
  /** 1: every mapping is exclusive (mapcount 1). 2: no physical info. 0: ask the kernel. */
  private state = new Uint8Array(64);
  /** -1 unknown, 0 or 1 once asked. */
  private pinnedCache = new Int8Array(64);
  records = new Int32Array(256);

  clear(): void {
    this.length = 0;
    this.recordCount = 0;
  }

  lastPfn(): number {
    return this.pfn[this.length - 1] as number;
  }

  addFrame(pfn: number, noPhys: boolean): void {
    if (this.length === this.pfn.length) this.growFrames();
    const i = this.length++;
    this.pfn[i] = pfn;
    this.firstMapping[i] = this.recordCount;
    this.mappings[i] = 0;
    this.state[i] = noPhys ? 2 : 1;
    this.pinnedCache[i] = -1;
  }

  addMapping(record: number, exclusive: boolean): void {
    if (this.recordCount === this.records.length) {
      const next = new Int32Array(this.records.length * 2);
      next.set(this.records);
      this.records = next;
    }
    this.records[this.recordCount++] = record;
    const i = this.length - 1;
    this.mappings[i] = (this.mappings[i] as number) + 1;
    if (!exclusive && this.state[i] === 1) this.state[i] = 0;
  }

  /** The frame is also mapped where KSM will not merge it (another process, a shared VMA): it stays in use. */
  pinned(i: number, physical: PhysicalPages | null): boolean {
    if (physical === null || this.state[i] !== 0) return false;
    let cached = this.pinnedCache[i] as number;
    if (cached < 0) {
      cached = physical.mapCount(this.pfn[i] as number) > (this.mappings[i] as number) ? 1 : 0;
      this.pinnedCache[i] = cached;
    }
    return cached === 1;
  }

  private growFrames(): void {
    const size = this.pfn.length * 2;
    const grow = <T extends Float64Array | Int32Array | Uint8Array | Int8Array>(a: T, b: T): T => {
      b.set(a as never);
      return b;
    };
    this.pfn = grow(this.pfn, new Float64Array(size));
    this.firstMapping = grow(this.firstMapping, new Int32Array(size));
    this.mappings = grow(this.mappings, new Int32Array(size));
    this.state = grow(this.state, new Uint8Array(size));
    this.pinnedCache = grow(this.pinnedCache, new Int8Array(size));
  }
}
