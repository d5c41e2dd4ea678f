// The timing model (src/analysis/ksm-timing.ts) on numbers worked by hand; the kernel judges it
// in test/system/ksm-timing.test.ts.
import { describe, expect, it } from 'vitest';
import { predictKsmTiming, timingSetting } from '../../src/analysis/ksm-timing.js';

const pace = { pagesToScan: 100, sleepMillisecs: 20, advisorMode: 'none', advisorTargetScanTime: 200, smartScan: 1 };

describe('predictKsmTiming', () => {
  it('batches x sleep + pages x cost; the saving after two full scans less one sleep (the first batch runs at once)', () => {
    const t = predictKsmTiming({ eligiblePages: 10_050, pace, hz: 250, pageCostUs: 5, advisor: null });
    expect(t.batchesPerScan).toBe(101);
    expect(t.sleepMs).toBe(20);
    expect(t.fullScanSeconds).toBeCloseTo(101 * 0.02 + 10_050 * 5e-6, 9);
    expect(t.savingReachedSeconds).toBeCloseTo(2 * t.fullScanSeconds - 0.02, 9);
    expect(t.ksmdCpuSecondsPerScan).toBeCloseTo(0.05025, 9);
    expect(t.ksmdCpuShare).toBeCloseTo(0.05025 / t.fullScanSeconds, 9);
  });

  it('rounds a sleep up to whole jiffies, or takes it as given when HZ is unknown', () => {
    const one = { ...pace, sleepMillisecs: 1 };
    expect(predictKsmTiming({ eligiblePages: 1, pace: one, hz: 250, pageCostUs: 1, advisor: null }).sleepMs).toBe(4);
    expect(predictKsmTiming({ eligiblePages: 1, pace: one, hz: 1000, pageCostUs: 1, advisor: null }).sleepMs).toBe(1);
    expect(predictKsmTiming({ eligiblePages: 1, pace: { ...pace, sleepMillisecs: 15 }, hz: 100, pageCostUs: 1, advisor: null }).sleepMs).toBe(20);
    expect(predictKsmTiming({ eligiblePages: 1, pace: one, hz: null, pageCostUs: 1, advisor: null }).sleepMs).toBe(1);
  });

  it('the advisor: pages_to_scan for the target scan time, capped as mm/ksm.c caps it (max CPU, 10% CPU floor, max pages)', () => {
    const advisor = { minPagesToScan: 500, maxPagesToScan: 30_000, maxCpu: 70 };
    const scanTime = { ...pace, advisorMode: 'scan-time', advisorTargetScanTime: 200 };
    // 10 million pages, 20 ms sleeps, 10 us a page: p = ceil(1e7 x 20 / (200000 - 100000)) = 2000,
    // 10% of a CPU at 2000 x 0.01 / (20 + 20) = 50%: within the caps.
    const t = predictKsmTiming({ eligiblePages: 10_000_000, pace: scanTime, hz: 1000, pageCostUs: 10, advisor });
    expect(t.pagesToScan).toBe(2000);
    expect(t.fullScanSeconds).toBeCloseTo(200, 0);
    // Few pages: the 10% floor (p x 0.001 / (20 + p x 0.001) >= 0.1 -> p >= 2223), a scan faster than the target.
    expect(predictKsmTiming({ eligiblePages: 1000, pace: scanTime, hz: 1000, pageCostUs: 1, advisor }).pagesToScan).toBe(2223);
    // Costly pages: the CPU cap (70%: p x 1 ms <= 0.7 / 0.3 x 20 ms -> p <= 46).
    expect(predictKsmTiming({ eligiblePages: 10_000_000, pace: scanTime, hz: 1000, pageCostUs: 1000, advisor }).pagesToScan).toBe(46);
    // Many cheap pages: advisor_max_pages_to_scan.
    expect(predictKsmTiming({ eligiblePages: 1e9, pace: scanTime, hz: 1000, pageCostUs: 0.01, advisor }).pagesToScan).toBe(30_000);
  });
});

describe('timingSetting', () => {
  it('the flags override the kernel pace and say so; without KSM and flags there is none', () => {
    const t = timingSetting({ pagesToScan: 1000, sleepMs: undefined, advisor: undefined, pageCostUs: 2 }, pace, 'none');
    expect(t?.pace.pagesToScan).toBe(1000);
    expect(t?.pace.sleepMillisecs).toBe(20);
    expect(t?.paceSource).toBe('flags');
    expect(t?.pageCostUs).toBe(2);
    expect(t?.pageCostSource).toBe('flag');
    expect(timingSetting({ pagesToScan: undefined, sleepMs: undefined, advisor: undefined, pageCostUs: undefined }, null, 'none')).toBeNull();
  });
});
