import type { PageIndex } from './page-index.js';

/**
 * Sorts the index in place by (hash, PFN): identical contents become adjacent runs, and within
 * a run the same physical page is adjacent too. In-place MSD radix sort (American flag sort),
 * one byte per level, with insertion sort for small buckets: no extra memory per page. The
 * native engine's sort (native/sort.c) is held equal to this one (test/unit/radix-sort.test.ts).
 */
export function sortIndexInJs(index: PageIndex): void {
  const n = index.length;
  const hh = index.hashHi;
  const hl = index.hashLo;
  const pl = index.pfnLo;
  const mt = index.meta;
  // The key, most significant byte first: 4 bytes of hashHi, 4 of hashLo, the 6 high PFN bits
  // kept in meta, then 4 bytes of pfnLo.
  const keyArrays = [hh, hh, hh, hh, hl, hl, hl, hl, mt, pl, pl, pl, pl];
  const keyShifts = [24, 16, 8, 0, 24, 16, 8, 0, 26, 24, 16, 8, 0];
  const levels = keyArrays.length;
  const counts = new Int32Array(256 * levels);
  const next = new Int32Array(257 * levels);

  const swap = (i: number, j: number): void => {
    let t = hh[i] as number;
    hh[i] = hh[j] as number;
    hh[j] = t;
    t = hl[i] as number;
    hl[i] = hl[j] as number;
    hl[j] = t;
    t = pl[i] as number;
    pl[i] = pl[j] as number;
    pl[j] = t;
    t = mt[i] as number;
    mt[i] = mt[j] as number;
    mt[j] = t;
  };

  const less = (i: number, j: number): boolean => {
    let a = hh[i] as number;
    let b = hh[j] as number;
    if (a !== b) return a < b;
    a = hl[i] as number;
    b = hl[j] as number;
    if (a !== b) return a < b;
    a = (mt[i] as number) >>> 26;
    b = (mt[j] as number) >>> 26;
    if (a !== b) return a < b;
    return (pl[i] as number) < (pl[j] as number);
  };

  const insertionSort = (lo: number, hi: number): void => {
    for (let i = lo + 1; i < hi; i++) {
      for (let j = i; j > lo && less(j, j - 1); j--) swap(j, j - 1);
    }
  };

  const sortRange = (lo: number, hi: number, level: number): void => {
    for (;;) {
      if (hi - lo < 2 || level >= levels) return;
      if (hi - lo <= 24) {
        insertionSort(lo, hi);
        return;
      }
      const arr = keyArrays[level] as Uint32Array;
      const shift = keyShifts[level] as number;
      const cBase = level * 256;
      const nBase = level * 257;
      counts.fill(0, cBase, cBase + 256);
      for (let i = lo; i < hi; i++) {
        const c = cBase + (((arr[i] as number) >>> shift) & 255);
        counts[c] = (counts[c] as number) + 1;
      }
      // One bucket holds everything (a run of equal bytes): go straight to the next byte.
      const first = ((arr[lo] as number) >>> shift) & 255;
      if (counts[cBase + first] === hi - lo) {
        level++;
        continue;
      }
      let pos = lo;
      for (let b = 0; b < 256; b++) {
        next[nBase + b] = pos;
        pos += counts[cBase + b] as number;
      }
      next[nBase + 256] = hi;
      // Bucket ends are the starts of the following buckets before any moves.
      const ends = new Int32Array(256);
      for (let b = 0; b < 256; b++) ends[b] = next[nBase + b + 1] as number;
      for (let b = 0; b < 256; b++) {
        const end = ends[b] as number;
        while ((next[nBase + b] as number) < end) {
          const i = next[nBase + b] as number;
          const d = ((arr[i] as number) >>> shift) & 255;
          if (d === b) {
            next[nBase + b] = i + 1;
          } else {
            const j = next[nBase + d] as number;
            swap(i, j);
            next[nBase + d] = j + 1;
          }
        }
      }
      let start = lo;
      for (let b = 0; b < 256; b++) {
        const end = ends[b] as number;
        if (end - start > 1) sortRange(start, end, level + 1);
        start = end;
      }
      return;
    }
  };

  sortRange(0, n, 0);
}
