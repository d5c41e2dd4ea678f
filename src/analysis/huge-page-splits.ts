import { HUGE_PAGE_FRAMES, META_ANON, META_HUGE, META_NO_PHYS, META_ZERO_PFN, type PageIndex, metaPfn } from '../index/page-index.js';
import { SCOPES, type ModelOptions } from './model-result.js';

/**
 * The transparent huge pages KSM would split, per scope: mm/ksm.c try_to_merge_one_page splits
 * a huge page before it merges any of its subpages, and it tries to merge a subpage whose
 * content has a partner in another frame (or, with use_zero_pages, any zero-filled subpage).
 * A huge page is named by its head: frame id / HUGE_PAGE_FRAMES (a PMD-mapped huge page is
 * 512 physically contiguous, aligned frames).
 */
export class HugePageSplits {
  readonly byScope: Array<Set<number>> = SCOPES.map(() => new Set<number>());

  /** Whether record r's huge page splits in scope s. */
  splits(s: number, meta: number, pfnLo: number): boolean {
    return (meta & META_HUGE) !== 0 && (this.byScope[s] as Set<number>).has(hugePageOf(meta, pfnLo));
  }

  get any(): boolean {
    return this.byScope.some((set) => set.size > 0);
  }
}

export function hugePageOf(meta: number, pfnLo: number): number {
  return Math.floor(metaPfn(meta, pfnLo) / HUGE_PAGE_FRAMES);
}

/** One pass over the sorted index: which huge pages would KSM split. Empty when none is known. */
export function findHugePageSplits(index: PageIndex, opts: ModelOptions): HugePageSplits {
  const splits = new HugePageSplits();
  const hh = index.hashHi;
  const hl = index.hashLo;
  const mt = index.meta;
  const pl = index.pfnLo;
  const n = index.length;
  // Most scans know of no huge page (no root, cores): one tight look, then nothing.
  let anyHuge = false;
  for (let r = 0; r < n && !anyHuge; r++) anyHuge = ((mt[r] as number) & META_HUGE) !== 0;
  if (!anyHuge) return splits;
  const { hi: zHi, lo: zLo } = opts.zeroHash;
  for (let a = 0; a < n; ) {
    const h1 = hh[a] as number;
    const h2 = hl[a] as number;
    let b = a + 1;
    let huge = ((mt[a] as number) & META_HUGE) !== 0;
    while (b < n && hh[b] === h1 && hl[b] === h2) {
      if (((mt[b] as number) & META_HUGE) !== 0) huge = true;
      b++;
    }
    if (huge) {
      const isZero = h1 === zHi && h2 === zLo;
      for (let s = 0; s < SCOPES.length; s++) {
        const need = META_ANON | (SCOPES[s] as { vmaFlag: number }).vmaFlag;
        if (!isZero || !opts.useZeroPages) {
          // KSM tries to merge only where the content has a partner in another frame.
          let frames = 0;
          let last = -1;
          for (let r = a; r < b && frames < 2; r++) {
            const m = mt[r] as number;
            if ((m & need) !== need || (m & META_ZERO_PFN) !== 0) continue;
            const frame = metaPfn(m, pl[r] as number);
            if ((m & META_NO_PHYS) !== 0 || frame !== last) frames++;
            last = frame;
          }
          if (frames < 2) continue;
        }
        const set = splits.byScope[s] as Set<number>;
        for (let r = a; r < b; r++) {
          const m = mt[r] as number;
          if ((m & (need | META_HUGE)) === (need | META_HUGE) && (m & META_ZERO_PFN) === 0) set.add(hugePageOf(m, pl[r] as number));
        }
      }
    }
    a = b;
  }
  return splits;
}
