// The histogram of contents by mappings and the process x process overlap, on an index of known content.
import { describe, expect, it } from 'vitest';
import { PageIndex, packMeta } from '../../src/index/page-index.js';
import { sortIndexInJs } from '../../src/index/radix-sort.js';
import { measureSharing } from '../../src/analysis/content-sharing.js';
import { ENGINES } from '../support/engines.js';
import { seededUint32 } from '../support/rng.js';

const ZERO = { hi: 0, lo: 0 };

/** An index from [content, process] pairs (content 0 is zero-filled), sorted as the scan sorts it. */
function indexOf(pages: Array<[number, number]>): PageIndex {
  const index = new PageIndex(pages.length);
  pages.forEach(([content, process], i) => {
    index.hashHi[i] = content === 0 ? 0 : 1000 + content;
    index.hashLo[i] = 0;
    index.pfnLo[i] = i + 1;
    index.meta[i] = packMeta(process, 2, 0, i + 1);
  });
  index.length = pages.length;
  sortIndexInJs(index);
  return index;
}

const times = (n: number, content: number, process: number): Array<[number, number]> => Array.from({ length: n }, () => [content, process]);

describe('measureSharing', () => {
  it('counts contents by mappings, 256 and more in one bucket, zero-filled apart', () => {
    const index = indexOf([
      [1, 0], // once: not shared
      ...times(2, 2, 0), // twice in process 0
      [3, 0], [3, 1], [3, 2], // three processes
      ...times(300, 4, 1), // 300 mappings
      ...times(256, 5, 2), // exactly 256
      ...times(50, 0, 0), ...times(7, 0, 1), // zero-filled
    ]);
    const s = measureSharing(index, ZERO, 3);
    const nonEmpty = [...s.contents.entries()].filter(([, c]) => c > 0).map(([i, c]) => [i + 2, c, s.mappings[i]]);
    expect(nonEmpty).toEqual([[2, 1, 2], [3, 1, 3], [256, 2, 556]]);
    expect(s.contents).toHaveLength(255);
    expect(s.zeroFilledMappings).toBe(57);
  });

  it('fills the overlap matrix with contents held in common, the diagonal with contents held twice', () => {
    const index = indexOf([
      [1, 0], [1, 1], // 0 and 1
      [2, 0], [2, 1], [2, 2], // all three
      ...times(3, 3, 2), // 2 alone, three times
      [4, 1], [4, 1], [4, 2], // 1 twice, and 2
      ...times(9, 0, 0), ...times(9, 0, 1), // zero-filled: never in the matrix
      [5, 3], // process 3 shares nothing: not in the matrix
    ]);
    const s = measureSharing(index, ZERO, 4);
    // Pages of shared content: 0 has 2, 1 has 4, 2 has 5; 3 has none.
    expect(s.overlapProcesses).toEqual([2, 1, 0]);
    const m = (a: number, b: number): number => s.overlap[s.overlapProcesses.indexOf(a) * 3 + s.overlapProcesses.indexOf(b)] ?? -1;
    expect([m(0, 1), m(0, 2), m(1, 2)]).toEqual([2, 1, 2]);
    expect([m(1, 0), m(2, 0), m(2, 1)]).toEqual([2, 1, 2]);
    expect([m(0, 0), m(1, 1), m(2, 2)]).toEqual([0, 1, 1]);
  });

  it('keeps the matrix to the processes with the most shared content', () => {
    const pages: Array<[number, number]> = [];
    for (let p = 0; p < 30; p++) pages.push(...times(p + 2, 100 + p, p), [7, p]);
    const s = measureSharing(indexOf(pages), ZERO, 30, 20);
    expect(s.overlapProcesses).toEqual(Array.from({ length: 20 }, (_, i) => 29 - i));
    expect(s.overlap).toHaveLength(400);
    expect(s.overlap[1]).toBe(1); // content 7, held by every process
  });
});

describe.each(ENGINES)("the %s engine's sharing pass", (_name, engine) => {
  it('equals the JavaScript reference on random indexes (many processes, runs of every length, zero-filled content)', () => {
    for (const seed of [1, 2, 3]) {
      const next = seededUint32(seed);
      const processes = seed === 3 ? 1 : 40;
      const pages: Array<[number, number]> = [];
      for (let i = 0; i < 20_000; i++) {
        // Mostly few contents (long runs, past 256 mappings), some unique, some zero-filled.
        const r = next() % 10;
        const content = r === 0 ? 0 : r < 6 ? 1 + (next() % 50) : 1000 + i;
        pages.push([content, next() % processes]);
      }
      const index = indexOf(pages);
      const reference = measureSharing(index, ZERO, processes);
      expect(reference.overlapProcesses.length).toBeGreaterThan(0);
      expect(engine.measureSharing(index, ZERO, processes)).toEqual(reference);
    }
  });

  it('equals the reference on an empty index', () => {
    const index = new PageIndex(16);
    expect(engine.measureSharing(index, ZERO, 0)).toEqual(measureSharing(index, ZERO, 0));
  });
});
