// Slow movers (docs/estimate.md, "Slow movers: merged, broken, merged again"): a page that
// changes less often than KSM takes to merge it is merged, then unshared by copy-on-write when
// its process writes it, then merged again about two full scans later. Sampling over a window
// shorter than its time between changes sees it still and counts it as merged all the time; its
// real saving is the share of the time it spends merged.

/** What the report says about pages that merge and break again. */
export interface SlowMovers {
  /** interval x (samples - 1): pages that change less often than this looked still. */
  samplingWindowSeconds: number;
  /** How long KSM takes to merge a page again after a write broke it: two full scans (the upper bound; the average page takes 1.5). */
  remergeSeconds: number;
  /** For a page rewritten every `everySeconds`, the share of the time it is merged (1 - remerge / period, at least 0). */
  mergedShare: Array<{ everySeconds: number; share: number }>;
  note: string;
}

/** The share of the time a page rewritten every `periodSeconds` spends merged. */
export function mergedShare(periodSeconds: number, remergeSeconds: number): number {
  if (!(periodSeconds > 0)) return 0;
  return Math.max(0, 1 - remergeSeconds / periodSeconds);
}

export function slowMovers(intervalSeconds: number, samples: number, savingReachedSeconds: number): SlowMovers {
  const window = intervalSeconds * Math.max(1, samples - 1);
  const periods = [...new Set([window, 60, 600])].filter((p) => p > 0).sort((a, b) => a - b);
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  const at = periods.map((p) => ({ everySeconds: p, share: mergedShare(p, savingReachedSeconds) }));
  const note =
    `pages that change less often than every ${round(window)} s (the sampling window) looked still and are counted as merged all the time; ` +
    `KSM merges such a page, a write unshares it again by copy-on-write (one page fault and one page copied in the writing process), ` +
    `and KSM merges it again about ${round(savingReachedSeconds)} s (two full scans) later: a page rewritten every ` +
    at.map((r) => `${round(r.everySeconds)} s is merged about ${pct(r.share)}`).join(', ') +
    ' of the time. ksmd does not work harder for it (it reads every page every scan anyway); a longer --interval or more --samples finds the slower ones';
  return { samplingWindowSeconds: window, remergeSeconds: savingReachedSeconds, mergedShare: at, note };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
