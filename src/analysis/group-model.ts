import { META_ANON, META_COMPATIBLE, META_ZERO_PFN, PageIndex, metaProcess } from '../index/page-index.js';
import type { ModelOptions, ModelResult, ScopeResult } from './model-result.js';

// The KSM model per group of processes (--group-by), and across each pair of groups, by running
// the one model (the engine's runModel: src/analysis/js-model.ts or native/ksm_model.c) on
// subsets of the sorted index. A subset of a sorted index is sorted, and the model only ever
// looks at the records it is given (and the kernel's mapcount of their frames), so the model
// of a group's records is exactly the model of a scan of that group's processes alone.

/** What KSM would do for one group alone: the model's default scope, and the naive count. */
export interface GroupAlone {
  scope: ScopeResult;
  naiveDuplicatePages: number;
}

export interface GroupPairCross {
  a: number;
  b: number;
  /** RAM freed (pages) by merging a and b together, less what each frees alone. */
  crossRamFreedPages: number;
}

export interface GroupModelResult {
  alone: GroupAlone[];
  /** Only pairs that hold some content both could merge (eligible in both): every other pair's cross figure is 0. */
  pairs: GroupPairCross[];
}

export type RunModel = (index: PageIndex, opts: ModelOptions) => ModelResult;

/** A record KSM could track in the default scope (enable-all): anonymous, in a compatible VMA, not the zero page. */
const ELIGIBLE = META_ANON | META_COMPATIBLE;

/**
 * Every group's estimate alone, and the cross figure of every pair of groups that share
 * mergeable content. `groupOf[p]` is process p's group (0..groupCount-1). The index must be
 * sorted (engine.sortIndex); it is not changed.
 *
 * RAM freed is a sum over contents, each content's figure depending only on its own eligible
 * records (anonymous, in a VMA KSM accepts, not the zero page). So freed(a and b) - freed(a) -
 * freed(b) is the same sum over only the contents both a and b hold eligible copies of: each
 * pair's three model runs see only those records, not everything a and b hold.
 */
export function modelGroups(index: PageIndex, groupOf: Int32Array, groupCount: number, opts: ModelOptions, runModel: RunModel): GroupModelResult {
  const one: ModelOptions = { ...opts, processCount: 1 };
  const run = (sub: PageIndex): ModelResult => runModel(sub, one);

  const alone = modelAlone(index, groupOf, groupCount, run);

  // Contents with eligible records in two groups or more, and which pairs meet in them.
  const { sharedRecord, pairKeys } = sharedContents(index, groupOf, groupCount);
  const pairs: GroupPairCross[] = [];
  if (pairKeys.length === 0) return { alone, pairs };
  const shared = partition(index, groupOf, groupCount, sharedRecord);
  const both = new PageIndex(16);
  const onlyA = new PageIndex(16);
  const onlyB = new PageIndex(16);
  const freed = (sub: PageIndex): number => (run(sub).scopes[0] as ScopeResult).ramFreedPages;
  for (const key of pairKeys) {
    const a = Math.floor(key / groupCount);
    const b = key % groupCount;
    commonContents(shared.group(a), shared.group(b), both, onlyA, onlyB);
    pairs.push({ a, b, crossRamFreedPages: freed(both) - freed(onlyA) - freed(onlyB) });
  }
  return { alone, pairs };
}

/** Each group's records alone: one partition, freed (for the pairs' smaller one) once every group is run. */
function modelAlone(index: PageIndex, groupOf: Int32Array, groupCount: number, run: (sub: PageIndex) => ModelResult): GroupAlone[] {
  const all = partition(index, groupOf, groupCount, null);
  const alone: GroupAlone[] = [];
  for (let g = 0; g < groupCount; g++) {
    const r = run(all.group(g));
    alone.push({ scope: r.scopes[0] as ScopeResult, naiveDuplicatePages: r.content.naiveDuplicatePages });
  }
  return alone;
}

interface Partition {
  /** Group g's records, in index order (so sorted), each with process 0. */
  group(g: number): PageIndex;
}

/** A stable partition of the index's records (those with keep[r] when keep is given) by group. */
function partition(index: PageIndex, groupOf: Int32Array, groupCount: number, keep: Uint8Array | null): Partition {
  const n = index.length;
  const mt = index.meta;
  const start = new Int32Array(groupCount + 1);
  for (let r = 0; r < n; r++) {
    if (keep !== null && keep[r] === 0) continue;
    const g = groupOf[metaProcess(mt[r] as number)] as number;
    start[g + 1] = (start[g + 1] as number) + 1;
  }
  for (let g = 0; g < groupCount; g++) start[g + 1] = (start[g + 1] as number) + (start[g] as number);
  const total = start[groupCount] as number;
  const out = new PageIndex(total);
  const at = start.slice(0, groupCount);
  for (let r = 0; r < n; r++) {
    if (keep !== null && keep[r] === 0) continue;
    const m = mt[r] as number;
    const g = groupOf[metaProcess(m)] as number;
    const i = at[g] as number;
    at[g] = i + 1;
    out.hashHi[i] = index.hashHi[r] as number;
    out.hashLo[i] = index.hashLo[r] as number;
    out.pfnLo[i] = index.pfnLo[r] as number;
    // The model counts per process; a group's figures are its totals, so every record is process 0.
    out.meta[i] = (m & ~0xffff) >>> 0;
  }
  out.length = total;
  return {
    group: (g) => view(out, start[g] as number, start[g + 1] as number),
  };
}

/** Records [from, to) of an index, as an index of their own (no copy). */
function view(index: PageIndex, from: number, to: number): PageIndex {
  const v = Object.create(PageIndex.prototype) as PageIndex;
  v.hashHi = index.hashHi.subarray(from, to);
  v.hashLo = index.hashLo.subarray(from, to);
  v.pfnLo = index.pfnLo.subarray(from, to);
  v.meta = index.meta.subarray(from, to);
  v.length = to - from;
  return v;
}

/**
 * One pass over the sorted index: which records belong to a content that two groups or more
 * hold eligible copies of, and every pair of groups that meet in such a content (a x groupCount
 * + b, a < b, ascending).
 */
function sharedContents(index: PageIndex, groupOf: Int32Array, groupCount: number): { sharedRecord: Uint8Array; pairKeys: number[] } {
  const n = index.length;
  const hh = index.hashHi;
  const hl = index.hashLo;
  const mt = index.meta;
  const sharedRecord = new Uint8Array(n);
  const stamp = new Int32Array(groupCount).fill(-1);
  const present: number[] = [];
  const pairSet = new Set<number>();
  for (let a = 0; a < n; ) {
    let b = a + 1;
    while (b < n && hh[b] === hh[a] && hl[b] === hl[a]) b++;
    if (b - a > 1) {
      present.length = 0;
      for (let r = a; r < b; r++) {
        const m = mt[r] as number;
        if ((m & ELIGIBLE) !== ELIGIBLE || (m & META_ZERO_PFN) !== 0) continue;
        const g = groupOf[metaProcess(m)] as number;
        if (stamp[g] !== a) {
          stamp[g] = a;
          present.push(g);
        }
      }
      if (present.length > 1) {
        // Only eligible records: RAM freed depends on no other (the model skips them when it counts frames).
        for (let r = a; r < b; r++) {
          const m = mt[r] as number;
          if ((m & ELIGIBLE) === ELIGIBLE && (m & META_ZERO_PFN) === 0) sharedRecord[r] = 1;
        }
        present.sort((x, y) => x - y);
        for (let i = 0; i < present.length; i++) {
          for (let j = i + 1; j < present.length; j++) pairSet.add((present[i] as number) * groupCount + (present[j] as number));
        }
      }
    }
    a = b;
  }
  return { sharedRecord, pairKeys: [...pairSet].sort((x, y) => x - y) };
}

/**
 * The contents two sorted indexes both hold: `ab` gets their records of those contents merged
 * by (hash, frame) as the index sort orders them (one frame's mappings stay adjacent), `a` and
 * `b` each side's own.
 */
function commonContents(x: PageIndex, y: PageIndex, ab: PageIndex, a: PageIndex, b: PageIndex): void {
  ab.length = 0;
  a.length = 0;
  b.length = 0;
  const xh = x.hashHi;
  const xl = x.hashLo;
  const yh = y.hashHi;
  const yl = y.hashLo;
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const h1 = xh[i] as number;
    const l1 = xl[i] as number;
    const h2 = yh[j] as number;
    const l2 = yl[j] as number;
    if (h1 < h2 || (h1 === h2 && l1 < l2)) {
      while (i < x.length && xh[i] === h1 && xl[i] === l1) i++;
      continue;
    }
    if (h1 !== h2 || l1 !== l2) {
      while (j < y.length && yh[j] === h2 && yl[j] === l2) j++;
      continue;
    }
    let ie = i + 1;
    while (ie < x.length && xh[ie] === h1 && xl[ie] === l1) ie++;
    let je = j + 1;
    while (je < y.length && yh[je] === h1 && yl[je] === l1) je++;
    append(a, x, i, ie);
    append(b, y, j, je);
    // Within one content the order is by frame: the domain bits of meta, then pfnLo.
    ab.reserve(ie - i + je - j);
    let o = ab.length;
    while (i < ie || j < je) {
      const takeX = j >= je || (i < ie && frameKey(x, i) <= frameKey(y, j));
      const src = takeX ? x : y;
      const r = takeX ? i++ : j++;
      ab.hashHi[o] = src.hashHi[r] as number;
      ab.hashLo[o] = src.hashLo[r] as number;
      ab.pfnLo[o] = src.pfnLo[r] as number;
      ab.meta[o] = src.meta[r] as number;
      o++;
    }
    ab.length = o;
  }
}

function frameKey(x: PageIndex, i: number): number {
  return ((x.meta[i] as number) >>> 26) * 0x1_0000_0000 + (x.pfnLo[i] as number);
}

function append(out: PageIndex, src: PageIndex, from: number, to: number): void {
  out.reserve(to - from);
  const o = out.length;
  out.hashHi.set(src.hashHi.subarray(from, to), o);
  out.hashLo.set(src.hashLo.subarray(from, to), o);
  out.pfnLo.set(src.pfnLo.subarray(from, to), o);
  out.meta.set(src.meta.subarray(from, to), o);
  out.length = o + (to - from);
}
