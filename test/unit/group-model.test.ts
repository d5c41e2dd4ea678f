// --group-by's figures (src/analysis/group-model.ts) against the model run on indexes built
// apart: each group's estimate alone equals the model of an index holding only that group's
// pages, sorted afresh, and each pair's cross figure equals model(a and b) - model(a) - model(b)
// on such indexes, exactly, on both engines, for random indexes of every shape the model knows
// (fork-shared frames met in two groups, pages without physical information, the zero page,
// zero-filled contents, chains past max_page_sharing, frames pinned elsewhere or already KSM pages).
import { describe, expect, it } from 'vitest';
import { META_ANON, META_COMPATIBLE, META_EXCLUSIVE, META_MERGEABLE_NOW, META_NO_PHYS, META_ZERO_PFN, PageIndex, metaProcess, packMeta } from '../../src/index/page-index.js';
import type { ModelOptions, ScopeResult } from '../../src/analysis/model-result.js';
import { modelGroups } from '../../src/analysis/group-model.js';
import type { PhysicalPages } from '../../src/physical/physical-pages.js';
import { MAPPING_KINDS } from '../../src/source/mapping-kind.js';
import { ENGINES } from '../support/engines.js';
import { seededUint32 } from '../support/rng.js';

const ZERO = { hi: 0x1234, lo: 0x5678 };
const PROCESSES = 9;

const fakeKernel: PhysicalPages = {
  mapCount: (pfn) => 1 + (pfn % 4),
  isZeroPage: () => false,
  isKsmPage: (pfn) => pfn % 11 === 0,
  kernelFiles: () => null,
  close: () => {},
};

/** Unsorted: contents seen once, a few times and many times, in random processes. */
function randomIndex(seed: number, contents: number): PageIndex {
  const next = seededUint32(seed);
  const index = new PageIndex(contents * 4);
  let pfn = 1000;
  const push = (hi: number, lo: number, meta: number, frame: number): void => {
    index.reserve(1);
    const i = index.length++;
    index.hashHi[i] = hi;
    index.hashLo[i] = lo;
    index.pfnLo[i] = frame;
    index.meta[i] = meta;
  };
  for (let c = 0; c < contents; c++) {
    const roll = next() % 1000;
    const zero = roll < 20;
    const copies = roll < 500 ? 1 : roll < 980 ? 2 + (next() % 9) : 20 + (next() % 300);
    const hi = zero ? ZERO.hi : next();
    const lo = zero ? ZERO.lo : next();
    let frame = pfn++;
    for (let k = 0; k < copies; k++) {
      const shape = next() % 100;
      let flags = 0;
      if (next() % 10 !== 0) flags |= META_ANON;
      if (next() % 5 !== 0) flags |= META_COMPATIBLE;
      if (next() % 3 === 0) flags |= META_MERGEABLE_NOW;
      const p = next() % PROCESSES;
      const kind = next() % MAPPING_KINDS.length;
      if (shape < 15) push(hi, lo, packMeta(p, kind, flags, frame), frame); // the previous frame again (fork)
      else if (shape < 18) push(hi, lo, packMeta(p, kind, flags | META_NO_PHYS, 0), 0);
      else if (shape < 20) push(hi, lo, packMeta(p, kind, flags | META_ZERO_PFN, 7), 7);
      else {
        frame = pfn++;
        push(hi, lo, packMeta(p, kind, flags | (next() % 20 !== 0 ? META_EXCLUSIVE : 0), frame), frame);
      }
    }
  }
  return index;
}

/** The records of these processes, in a new index of their own, as a scan of them alone would hold. */
function only(index: PageIndex, processes: ReadonlySet<number>): PageIndex {
  const out = new PageIndex(index.length);
  for (let r = 0; r < index.length; r++) {
    if (!processes.has(metaProcess(index.meta[r] as number))) continue;
    const i = out.length++;
    out.hashHi[i] = index.hashHi[r] as number;
    out.hashLo[i] = index.hashLo[r] as number;
    out.pfnLo[i] = index.pfnLo[r] as number;
    out.meta[i] = index.meta[r] as number;
  }
  return out;
}

function totals(s: ScopeResult): Record<string, number> {
  return { ramFreedPages: s.ramFreedPages, pagesShared: s.pagesShared, pagesSharing: s.pagesSharing, ksmZeroPages: s.ksmZeroPages, pagesUnshared: s.pagesUnshared, rmapItems: s.rmapItems };
}

describe.each(ENGINES)('group models on the %s engine', (_name, engine) => {
  const cases: Array<[string, Partial<ModelOptions>]> = [
    ['defaults', {}],
    ['use_zero_pages', { useZeroPages: true }],
    ['max_page_sharing 3', { maxPageSharing: 3 }],
    ['no physical information', { physical: null }],
  ];
  it.each(cases)('alone and cross equal the model of each group and pair scanned apart: %s', (_case, over) => {
    for (const seed of [1, 2]) {
      const raw = randomIndex(seed, 4_000);
      const opts: ModelOptions = { processCount: PROCESSES, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: fakeKernel, ...over };
      // Four groups of processes; group 3 holds one process, group 4 none.
      const groupOf = Int32Array.from({ length: PROCESSES }, (_, p) => (p === 8 ? 3 : p % 3));
      const groups = 5;
      const members = (g: number): Set<number> => new Set([...Array(PROCESSES).keys()].filter((p) => groupOf[p] === g));
      const apart = (ps: ReadonlySet<number>): ScopeResult => {
        const sub = only(raw, ps);
        engine.sortIndex(sub);
        return engine.runModel(sub, opts).scopes[0] as ScopeResult;
      };

      const sorted = only(raw, new Set([...Array(PROCESSES).keys()]));
      engine.sortIndex(sorted);
      const result = modelGroups(sorted, groupOf, groups, opts, (i, o) => engine.runModel(i, o));

      for (let g = 0; g < groups; g++) expect(totals(result.alone[g]?.scope as ScopeResult), `group ${g}`).toEqual(totals(apart(members(g))));
      let crossSeen = 0;
      for (let a = 0; a < groups; a++) {
        for (let b = a + 1; b < groups; b++) {
          const both = apart(new Set([...members(a), ...members(b)])).ramFreedPages;
          const expected = both - apart(members(a)).ramFreedPages - apart(members(b)).ramFreedPages;
          const pair = result.pairs.find((p) => p.a === a && p.b === b);
          expect(pair?.crossRamFreedPages ?? 0, `pair ${a} ${b}`).toBe(expected);
          if (expected !== 0) crossSeen++;
        }
      }
      expect(crossSeen).toBeGreaterThan(0);
      // The groups' records, sorted, are the whole index: every group alone plus across is the whole.
      expect(result.pairs.every((p) => p.a < p.b)).toBe(true);
    }
  });
});
