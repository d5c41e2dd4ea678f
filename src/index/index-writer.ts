import type { PageBatch, PageSink, RecordTarget, SourceRegion } from '../source/memory-source.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_HUGE, PAGE_NO_PHYS, PAGE_VOLATILE } from '../source/memory-source.js';
import { KIND_INDEX, pageKind } from '../source/mapping-kind.js';
import type { PageHasher } from '../hash/page-hasher.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { FRAMES_PER_DOMAIN } from '../physical/physical-domains.js';
import {
  META_ANON,
  META_COMPATIBLE,
  META_EXCLUSIVE,
  META_HUGE,
  META_MERGEABLE_NOW,
  META_NO_PHYS,
  META_ZERO_PFN,
  HUGE_PAGE_FRAMES,
  PFN_HI_SHIFT,
  type PageIndex,
  packMeta,
} from './page-index.js';

/**
 * The one writer of the index, through which every reader writes: a batch of pages is hashed in
 * one call and appended as one record per page; a reader that makes records itself (the native
 * live reader) writes them through `records` and calls `finish`. Per page it does arithmetic only; the kernel is asked about a frame only for a
 * zero-content page mapped more than once (is it the kernel's zero page?), and the answer is
 * remembered.
 */
export class IndexWriter implements PageSink, RecordTarget {
  readonly records: RecordTarget = this;
  domain: number | null = null;
  /**
   * Bit r set: record r came marked PAGE_VOLATILE (a snapshot taken with --interval); null
   * until such a record comes.
   */
  volatileBits: Uint8Array | null = null;
  private processIndex = 0;
  private domainBase = 0;
  private physical: PhysicalPages | null = null;
  private readonly zeroPfns = new Set<number>();
  private readonly otherPfns = new Set<number>();

  constructor(
    readonly index: PageIndex,
    private readonly hasher: PageHasher,
    private readonly pageSize: number,
    readonly zeroHash: { readonly hi: number; readonly lo: number },
  ) {}

  /** The pages that follow belong to this process, whose frames live in this physical domain. */
  startSource(processIndex: number, domain: number | null, physical: PhysicalPages | null): void {
    this.processIndex = processIndex;
    this.domain = physical === null ? null : domain;
    this.domainBase = (domain ?? 0) * FRAMES_PER_DOMAIN;
    if (physical !== this.physical) {
      this.zeroPfns.clear();
      this.otherPfns.clear();
    }
    this.physical = domain === null ? null : physical;
  }

  regionMeta(region: SourceRegion): { anon: number; file: number } {
    const flags = (region.ksmCompatible === true ? META_COMPATIBLE : 0) | (region.mergeableNow === true ? META_MERGEABLE_NOW : 0);
    return {
      anon: packMeta(this.processIndex, KIND_INDEX[pageKind(region.kind, true)], flags, 0),
      file: packMeta(this.processIndex, KIND_INDEX[pageKind(region.kind, false)], flags, 0),
    };
  }

  finish(from: number): void {
    const index = this.index;
    const { hi: zHi, lo: zLo } = this.zeroHash;
    for (let r = from; r < index.length; r++) {
      if (index.hashHi[r] !== zHi || index.hashLo[r] !== zLo) continue;
      const m = index.meta[r] as number;
      if ((m & META_ANON) === 0 || (m & META_EXCLUSIVE) !== 0) continue;
      if ((m & META_NO_PHYS) !== 0 || this.isZeroPfn((index.pfnLo[r] as number) + ((m >>> 26) * FRAMES_PER_DOMAIN - this.domainBase))) {
        index.meta[r] = (m | META_ZERO_PFN) >>> 0;
      }
    }
  }

  pages(region: SourceRegion, batch: PageBatch): void {
    const index = this.index;
    const count = batch.count;
    index.reserve(count);
    const at = index.length;
    if (batch.hashed) {
      index.hashHi.set(batch.hashHi.subarray(0, count), at);
      index.hashLo.set(batch.hashLo.subarray(0, count), at);
    } else {
      this.hasher.hashPages(batch.data, count, this.pageSize, index.hashHi, index.hashLo, at);
    }

    const regionFlags = (region.ksmCompatible === true ? META_COMPATIBLE : 0) | (region.mergeableNow === true ? META_MERGEABLE_NOW : 0);
    const anonKind = KIND_INDEX[pageKind(region.kind, true)];
    const fileKind = KIND_INDEX[pageKind(region.kind, false)];
    const { hi: zHi, lo: zLo } = this.zeroHash;
    const pfnLo = index.pfnLo;
    const meta = index.meta;
    const physical = this.physical;
    const domainBase = this.domainBase;
    const offsets = index.pageOffset;
    if (offsets !== null) {
      const pageSize = this.pageSize;
      for (let i = 0; i < count; i++) offsets[at + i] = ((batch.vaddr[i] as number) - region.start) / pageSize;
    }
    for (let i = 0; i < count; i++) {
      let f = batch.flags[i] as number;
      const pfn = batch.pfn[i] as number;
      // No domain, or a frame number beyond a domain's range: no physical information.
      if (physical === null || pfn >= FRAMES_PER_DOMAIN) f |= PAGE_NO_PHYS;
      const anon = (f & PAGE_ANON) !== 0;
      let flags = regionFlags | (anon ? META_ANON : 0) | ((f & PAGE_EXCLUSIVE) !== 0 ? META_EXCLUSIVE : 0) | ((f & PAGE_NO_PHYS) !== 0 ? META_NO_PHYS : 0);
      if ((f & PAGE_HUGE) !== 0 && (f & PAGE_NO_PHYS) === 0) flags |= META_HUGE;
      const slot = at + i;
      if ((f & PAGE_VOLATILE) !== 0) this.markVolatile(slot);
      if (anon && (f & PAGE_EXCLUSIVE) === 0 && index.hashHi[slot] === zHi && index.hashLo[slot] === zLo) {
        // A zero-content page mapped more than once: the kernel's zero page, or a zero-filled
        // page shared by fork. Without PFNs the zero page is by far the likelier.
        if ((f & PAGE_NO_PHYS) !== 0 ? true : this.isZeroPfn(pfn)) flags |= META_ZERO_PFN;
      }
      const frame = (f & PAGE_NO_PHYS) !== 0 ? 0 : domainBase + pfn;
      pfnLo[slot] = frame % FRAMES_PER_DOMAIN;
      meta[slot] = packMeta(this.processIndex, anon ? anonKind : fileKind, flags, frame);
    }
    index.length = at + count;
  }

  /** Whether the kernel tells this source's huge pages apart (kpageflags readable). */
  get knowsHugePages(): boolean {
    return this.physical?.isThpHead !== undefined;
  }

  /**
   * Marks META_HUGE on the records [from, index.length) of the current source that sit in a
   * transparent huge page. A PMD-mapped huge page shows as 512 records in a row with
   * consecutive frames, the first a multiple of 512: only such a run is checked with the
   * kernel (its head's kpageflags), one read per candidate, none per page.
   */
  markHugePages(from: number): void {
    const physical = this.physical;
    if (physical === null || physical.isThpHead === undefined) return;
    const index = this.index;
    const meta = index.meta;
    const pfnLo = index.pfnLo;
    const n = index.length;
    const need = META_ANON | META_NO_PHYS;
    for (let r = from; r + HUGE_PAGE_FRAMES <= n; ) {
      const m = meta[r] as number;
      const base = pfnLo[r] as number;
      if ((m & need) !== META_ANON || base % HUGE_PAGE_FRAMES !== 0) {
        r++;
        continue;
      }
      const domain = m >>> PFN_HI_SHIFT;
      let k = 1;
      while (k < HUGE_PAGE_FRAMES) {
        const mk = meta[r + k] as number;
        if (pfnLo[r + k] !== base + k || (mk & need) !== META_ANON || mk >>> PFN_HI_SHIFT !== domain) break;
        k++;
      }
      if (k === HUGE_PAGE_FRAMES && physical.isThpHead(base + (domain * FRAMES_PER_DOMAIN - this.domainBase))) {
        for (let i = r; i < r + k; i++) meta[i] = ((meta[i] as number) | META_HUGE) >>> 0;
      }
      r += k;
    }
  }

  private markVolatile(record: number): void {
    const need = (record >>> 3) + 1;
    if (this.volatileBits === null || this.volatileBits.length < need) {
      const next = new Uint8Array(Math.max(need, Math.ceil(this.index.capacity / 8)));
      if (this.volatileBits !== null) next.set(this.volatileBits);
      this.volatileBits = next;
    }
    this.volatileBits[record >>> 3] = (this.volatileBits[record >>> 3] as number) | (1 << (record & 7));
  }

  private isZeroPfn(pfn: number): boolean {
    if (this.zeroPfns.has(pfn)) return true;
    if (this.otherPfns.has(pfn) || this.physical === null) return false;
    const zero = this.physical.isZeroPage(pfn);
    if (zero) this.zeroPfns.add(pfn);
    else if (this.otherPfns.size < 1_000_000) this.otherPfns.add(pfn);
    return zero;
  }
}
