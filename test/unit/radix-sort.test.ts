import { describe, expect, it } from 'vitest';
import { PageIndex, packMeta, metaPfn } from '../../src/index/page-index.js';
import { ENGINES } from '../support/engines.js';
import { seededUint32 as rng } from '../support/rng.js';

describe.each(ENGINES)("the %s engine's sort", (_name, engine) => {
  const sortIndex = (index: PageIndex): void => engine.sortIndex(index);

  it('orders records by (hash, pfn) and keeps each record whole', () => {
    const next = rng(42);
    const n = 70_000; // above the native sort's threshold for two threads
    const index = new PageIndex(n);
    for (let i = 0; i < n; i++) {
      // Few distinct hashes (many equal runs, like zero pages) mixed with random ones.
      const common = next() % 4 === 0;
      index.hashHi[i] = common ? 7 : next();
      index.hashLo[i] = common ? next() % 3 : next();
      const pfn = (next() % 64) * 0x1_0000_0000 + next();
      index.pfnLo[i] = pfn % 0x1_0000_0000;
      index.meta[i] = packMeta(i % 1000, 3, 0, pfn);
    }
    index.length = n;
    const expected = Array.from({ length: n }, (_, i) => [index.hashHi[i]!, index.hashLo[i]!, metaPfn(index.meta[i]!, index.pfnLo[i]!), index.meta[i]!] as const);
    expected.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);

    sortIndex(index);

    for (let i = 0; i < n; i++) {
      const e = expected[i]!;
      expect([index.hashHi[i], index.hashLo[i], metaPfn(index.meta[i]!, index.pfnLo[i]!)]).toEqual([e[0], e[1], e[2]]);
    }
    // Same multiset of whole records (meta travelled with its hash).
    const key = (h: number, l: number, m: number) => `${h}:${l}:${m}`;
    const before = expected.map((e) => key(e[0], e[1], e[3])).sort();
    const after = Array.from({ length: n }, (_, i) => key(index.hashHi[i]!, index.hashLo[i]!, index.meta[i]!)).sort();
    expect(after).toEqual(before);
  });

  it('handles empty and tiny indexes', () => {
    const index = new PageIndex(4);
    sortIndex(index);
    index.hashHi[0] = 2;
    index.hashHi[1] = 1;
    index.length = 2;
    sortIndex(index);
    expect(Array.from(index.hashHi.subarray(0, 2))).toEqual([1, 2]);
  });
});
