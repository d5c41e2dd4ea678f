import type { Engine } from '../engine/engine.js';
import type { PageIndex } from '../index/page-index.js';
import { META_ANON, META_ZERO_PFN, metaKind, metaProcess } from '../index/page-index.js';
import { SCOPES, type ModelOptions, type ModelResult, type ScopeResult } from '../analysis/model-result.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import type { VolatilitySample } from './volatility.js';

/** The model run twice: with volatile pages as KSM sees them (never merged), and at one instant. */
export interface VolatileModel {
  /** Content statistics of one instant, scopes without the volatile pages: the estimate. */
  model: ModelResult;
  /** The scopes as the first pass alone saw them (every page still). */
  oneInstantScopes: ScopeResult[];
  /** Per scope (SCOPES order): volatile pages KSM would track, its pages_volatile once converged. */
  pagesVolatile: number[];
  byKind: { reread: Float64Array; volatile: Float64Array };
  byProcess: { reread: Float64Array; volatile: Float64Array };
  sortMs: number;
  modelMs: number;
}

/**
 * Runs the engine's model (JavaScript or native: the same one, so they stay equal) on the
 * index with each volatile page given a content of its own, which is what a volatile page is to
 * KSM: tracked (an rmap_item), never in a tree, never merged, never a partner for the others;
 * then puts the contents back and runs it again for the one-instant figures. The model counts
 * a page of unique content as pages_unshared; KSM counts a volatile one as pages_volatile, so it
 * is moved across. Exact, with one sort and one model pass more than a scan without sampling;
 * the index is left sorted with its first-pass contents.
 */
export function runVolatileModel(
  engine: Engine,
  index: PageIndex,
  sample: VolatilitySample,
  opts: ModelOptions,
  now: () => number,
  /** Run on the sorted index while the volatile pages hold contents of their own (the groups' models). */
  alsoWithoutVolatile?: (index: PageIndex) => void,
): VolatileModel {
  const n = index.length;
  const hh = index.hashHi;
  const hl = index.hashLo;
  const mt = index.meta;
  const kinds = MAPPING_KINDS.length;
  const procs = Math.max(1, opts.processCount);
  const byKind = { reread: new Float64Array(kinds), volatile: new Float64Array(kinds) };
  const byProcess = { reread: new Float64Array(procs), volatile: new Float64Array(procs) };
  const pagesVolatile = SCOPES.map(() => 0);
  let count = 0;
  for (let r = 0; r < n; r++) {
    const bit = 1 << (r & 7);
    if (((sample.reread[r >>> 3] as number) & bit) === 0) continue;
    const m = mt[r] as number;
    const k = metaKind(m);
    const p = metaProcess(m);
    byKind.reread[k] = (byKind.reread[k] as number) + 1;
    byProcess.reread[p] = (byProcess.reread[p] as number) + 1;
    if (((sample.volatile[r >>> 3] as number) & bit) === 0) continue;
    count++;
    byKind.volatile[k] = (byKind.volatile[k] as number) + 1;
    byProcess.volatile[p] = (byProcess.volatile[p] as number) + 1;
    SCOPES.forEach(({ vmaFlag }, s) => {
      const need = META_ANON | vmaFlag;
      if ((m & need) === need && (m & META_ZERO_PFN) === 0) pagesVolatile[s] = (pagesVolatile[s] as number) + 1;
    });
  }

  // A hash no first-pass page has marks a volatile page; the low word numbers it, and says where
  // its real hash was kept.
  const marker = unusedHashHi(index, opts.zeroHash.hi);
  const keptHi = new Uint32Array(count);
  const keptLo = new Uint32Array(count);
  let v = 0;
  for (let r = 0; r < n; r++) {
    if (((sample.volatile[r >>> 3] as number) & (1 << (r & 7))) === 0) continue;
    keptHi[v] = hh[r] as number;
    keptLo[v] = hl[r] as number;
    hh[r] = marker;
    hl[r] = v++;
  }

  let t = now();
  engine.sortIndex(index);
  let sortMs = now() - t;
  t = now();
  const still = engine.runModel(index, opts);
  let modelMs = now() - t;
  SCOPES.forEach((_, s) => {
    const scope = still.scopes[s] as ScopeResult;
    scope.pagesUnshared -= pagesVolatile[s] as number;
  });
  alsoWithoutVolatile?.(index);

  for (let r = 0; r < n; r++) {
    if (hh[r] !== marker) continue;
    const i = hl[r] as number;
    hh[r] = keptHi[i] as number;
    hl[r] = keptLo[i] as number;
  }
  t = now();
  engine.sortIndex(index);
  sortMs += now() - t;
  t = now();
  const instant = engine.runModel(index, opts);
  modelMs += now() - t;
  return {
    model: { content: instant.content, scopes: still.scopes },
    oneInstantScopes: instant.scopes,
    pagesVolatile,
    byKind,
    byProcess,
    sortMs,
    modelMs,
  };
}

/** A high hash word no record of the index has (one pass; almost always the first try). */
function unusedHashHi(index: PageIndex, zeroHi: number): number {
  for (let candidate = 0xffffffff; ; candidate--) {
    let used = candidate === zeroHi;
    for (let r = 0; r < index.length && !used; r++) {
      if (index.hashHi[r] === candidate) used = true;
    }
    if (!used) return candidate >>> 0;
  }
}
