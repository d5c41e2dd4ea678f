import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { KsmPace } from './ksm-pace.js';

// How long KSM takes to reach the estimate and what ksmd costs (docs/estimate.md section 14).
// ksmd works in batches: ksm_do_scan(pages_to_scan) looks at that many pages of the mergeable
// VMAs, then the thread sleeps sleep_millisecs (rounded up to whole jiffies by
// msecs_to_jiffies) and goes on. A full scan goes once through every page KSM tracks.

/**
 * ksmd's CPU time per page it looks at, microseconds: measured on the machine samepage was
 * developed on (2 vCPUs, Linux 6.18; test/system/ksm-timing.test.ts prints it: ksmd's
 * utime + stime from /proc/<ksmd>/stat over full_scans x pages tracked): 2.3 to 2.8 us with the
 * machine quiet, 4.6 to 6.0 us under a load average of 8 (caches shared with other work). 3.2 us
 * is within a factor of 2 of all of them. A machine of another speed differs: --page-cost-us sets it.
 */
export const DEFAULT_PAGE_COST_US = 3.2;

/** KSM_ADVISOR_MIN_CPU in mm/ksm.c: the advisor keeps ksmd at 10% of a CPU or more. */
const ADVISOR_MIN_CPU = 10;
/** The advisor's defaults (mm/ksm.c, 6.8+), when the kernel does not show its knobs. */
const ADVISOR_DEFAULTS = { minPagesToScan: 500, maxPagesToScan: 30000, maxCpu: 70 };

export interface KsmTimingInput {
  /** Pages KSM tracks (rmap_items plus zero pages): what one full scan goes through. */
  eligiblePages: number;
  pace: KsmPace;
  /** The kernel's HZ, for the rounding of sleeps; null: the sleep is taken as given. */
  hz: number | null;
  pageCostUs: number;
  advisor: { minPagesToScan: number; maxPagesToScan: number; maxCpu: number } | null;
}

export interface KsmTiming {
  /** pages_to_scan in use: the setting, or the advisor's steady choice. */
  pagesToScan: number;
  /** One sleep between two batches, ms, after rounding to jiffies. */
  sleepMs: number;
  batchesPerScan: number;
  /** One full scan: batches x (sleep + pages_to_scan x page cost). */
  fullScanSeconds: number;
  /**
   * The estimate is reached with the last batch of the second full scan (docs/estimate.md
   * section 14): the first batch runs at once, so two scans hold one sleep less than two full scans.
   */
  savingReachedSeconds: number;
  /** ksmd's CPU per full scan, seconds, and as a share of one CPU while it runs. */
  ksmdCpuSecondsPerScan: number;
  ksmdCpuShare: number;
  pageCostUs: number;
}

/** Predicts the timing of KSM over `eligiblePages` at this pace. */
export function predictKsmTiming(input: KsmTimingInput): KsmTiming {
  const { eligiblePages: pages, pace, pageCostUs } = input;
  const sleepMs = input.hz === null ? pace.sleepMillisecs : (Math.ceil((pace.sleepMillisecs * input.hz) / 1000) * 1000) / input.hz;
  const costMs = pageCostUs / 1000;
  let pagesToScan = pace.pagesToScan;
  if (pace.advisorMode === 'scan-time' && pace.advisorTargetScanTime !== null) {
    // The advisor (scan_time_advisor in mm/ksm.c, 6.8+) starts at advisor_min_pages_to_scan and
    // after each full scan moves pages_to_scan towards a full scan of advisor_target_scan_time,
    // then caps it as the kernel does, in this order: at most advisor_max_cpu percent of a CPU,
    // at least KSM_ADVISOR_MIN_CPU (10) percent, at most advisor_max_pages_to_scan. Here: where
    // it settles.
    const a = input.advisor ?? ADVISOR_DEFAULTS;
    const target = pace.advisorTargetScanTime * 1000;
    // batches = pages / p; each takes sleep + p x cost: pages x sleep / p + pages x cost = target.
    const left = target - pages * costMs;
    let p = left > 0 ? Math.ceil((pages * sleepMs) / left) : a.maxPagesToScan;
    // p pages a batch use p x cost / (sleep + p x cost) of a CPU.
    const pagesAtCpu = (share: number): number => (share >= 1 ? Infinity : (share * sleepMs) / (costMs * (1 - share)));
    p = Math.min(p, Math.floor(pagesAtCpu(a.maxCpu / 100)));
    p = Math.max(p, Math.ceil(pagesAtCpu(ADVISOR_MIN_CPU / 100)));
    pagesToScan = Math.min(a.maxPagesToScan, p);
  }
  pagesToScan = Math.max(1, pagesToScan);
  const batches = Math.max(1, Math.ceil(pages / pagesToScan));
  const cpuMs = pages * costMs;
  const fullScanMs = batches * sleepMs + cpuMs;
  return {
    pagesToScan,
    sleepMs,
    batchesPerScan: batches,
    fullScanSeconds: fullScanMs / 1000,
    savingReachedSeconds: ((2 * batches - 1) * sleepMs + 2 * cpuMs) / 1000,
    ksmdCpuSecondsPerScan: cpuMs / 1000,
    ksmdCpuShare: fullScanMs > 0 ? cpuMs / fullScanMs : 0,
    pageCostUs,
  };
}

/** The running kernel's HZ from /proc/config.gz or /boot/config-RELEASE; null when neither says. */
export function kernelHz(release: string): number | null {
  const texts: Array<() => string> = [() => gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'), () => readFileSync(`/boot/config-${release}`, 'latin1')];
  for (const text of texts) {
    try {
      const m = /^CONFIG_HZ=(\d+)$/m.exec(text());
      if (m?.[1]) return Number(m[1]);
    } catch {
      // Not there: the next.
    }
  }
  return null;
}

/** The advisor's bounds as the kernel shows them (6.8+), null before. */
export function readAdvisorBounds(): KsmTimingInput['advisor'] {
  try {
    const n = (name: string): number => Number(readFileSync(`/sys/kernel/mm/ksm/${name}`, 'latin1').trim());
    const bounds = { minPagesToScan: n('advisor_min_pages_to_scan'), maxPagesToScan: n('advisor_max_pages_to_scan'), maxCpu: n('advisor_max_cpu') };
    return Object.values(bounds).every(Number.isFinite) ? bounds : null;
  } catch {
    return null;
  }
}

/** The pace from the kernel with the command line's "what if" on top; null when neither gives one. */
export function timingSetting(
  flags: { pagesToScan: number | undefined; sleepMs: number | undefined; advisor: 'none' | 'scan-time' | undefined; pageCostUs: number | undefined },
  kernel: KsmPace | null,
  release: string,
): { pace: KsmPace; paceSource: 'sysfs' | 'flags'; hz: number | null; pageCostUs: number; pageCostSource: 'default' | 'flag'; advisor: KsmTimingInput['advisor']; fullScansAtScan: number | null } | null {
  const given = flags.pagesToScan !== undefined || flags.sleepMs !== undefined || flags.advisor !== undefined;
  // Without KSM here the kernel's defaults: 100 pages every 20 ms, no advisor.
  const base: KsmPace = kernel ?? { pagesToScan: 100, sleepMillisecs: 20, advisorMode: null, advisorTargetScanTime: null, smartScan: null };
  if (kernel === null && !given) return null;
  const pace: KsmPace = {
    ...base,
    pagesToScan: flags.pagesToScan ?? base.pagesToScan,
    sleepMillisecs: flags.sleepMs ?? base.sleepMillisecs,
    advisorMode: flags.advisor ?? base.advisorMode,
    // The advisor's default target (200 s) when it is asked for on a kernel that does not show it.
    advisorTargetScanTime: base.advisorTargetScanTime ?? (flags.advisor === 'scan-time' ? 200 : null),
  };
  return {
    pace,
    paceSource: given ? 'flags' : 'sysfs',
    hz: kernelHz(release),
    pageCostUs: flags.pageCostUs ?? DEFAULT_PAGE_COST_US,
    pageCostSource: flags.pageCostUs === undefined ? 'default' : 'flag',
    advisor: readAdvisorBounds(),
    fullScansAtScan: readFullScans(),
  };
}

/** /sys/kernel/mm/ksm/full_scans, null without KSM. */
export function readFullScans(): number | null {
  try {
    const n = Number(readFileSync('/sys/kernel/mm/ksm/full_scans', 'latin1').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}
