// KSM's timing against the kernel: the report's full-scan time and ksmd's CPU, predicted from
// the eligible pages and the pace, against real KSM runs at two paces (targets not frozen, but
// still). The full scan is measured as the time from run=1 to convergence over the full scans
// ksmd counted; ksmd's CPU from utime + stime in /proc/<ksmd>/stat over the same run. The
// per-page cost this prints is how DEFAULT_PAGE_COST_US (src/analysis/ksm-timing.ts) was set.
import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures, type Fixture } from '../support/fixtures.js';
import { readKsmStat, withKsm } from '../support/ksm.js';
import { pidArgs, scanJson } from '../support/samepage.js';
import { kernelHz, predictKsmTiming } from '../../src/analysis/ksm-timing.js';

afterAll(stopAllFixtures);

const WORKLOAD = ['merge:any', 'nothp', 'anon:12000:seq=1', 'anon:8000:uniq'];
const CLK_TCK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on every Linux ABI

function ksmdPid(): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'latin1').trim() === 'ksmd') return Number(name);
    } catch {
      // Gone.
    }
  }
  throw new Error('no ksmd thread');
}

/** Seconds ksmd waited on a run queue (runnable, not running): /proc/PID/schedstat, second field. */
function waitSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').trim().split(' ')[1]) / 1e9;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

describe('KSM timing against the kernel', () => {
  it('full-scan time at two paces within 20%, ksmd CPU within a factor of 2', async () => {
    const fixtures: Fixture[] = [];
    try {
      for (let i = 0; i < 2; i++) fixtures.push(await startPagefill(WORKLOAD));
      const pids = fixtures.map((f) => f.pid);
      const ksmd = ksmdPid();
      const hz = kernelHz(release());
      const rows = [];
      for (const pace of [{ pagesToScan: 2000, sleepMillisecs: 40 }, { pagesToScan: 8000, sleepMillisecs: 100 }]) {
        const row = await withKsm({ useZeroPages: 0, ...pace }, async (ksm) => {
          const { report } = await scanJson(pidArgs(pids));
          const cpu0 = cpuSeconds(ksmd);
          const wait0 = waitSeconds(ksmd);
          const kernel = await ksm.runToConvergence(pids, { timeoutMs: 40_000 });
          const cpu = cpuSeconds(ksmd) - cpu0;
          const wait = waitSeconds(ksmd) - wait0;
          // KSM goes through other mergeable processes too (another VM on the machine): the
          // pages of a full scan are ours plus the rmap_items it holds for them.
          let others = 0;
          for (const pid of kernel.otherMergeablePids) others += await readKsmStat(pid).then((s) => s.ksm_rmap_items, () => 0);
          return { report, kernel, cpu, wait, others };
        });
        const t = row.report.timing;
        if (t == null) throw new Error('no timing in the report');
        const pages = t.eligiblePages + row.others;
        const predicted = predictKsmTiming({ eligiblePages: pages, pace: { ...pace, advisorMode: 'none', advisorTargetScanTime: null, smartScan: 0 }, hz, pageCostUs: t.pageCostUs, advisor: null });
        // The prediction is of ksmd on a CPU it gets when it wants one: the time it waited for
        // one (other work on the machine, ksmd runs at nice 5) is taken out of the measured.
        const measuredScan = (row.kernel.elapsedMs / 1000 - row.wait) / row.kernel.fullScans;
        const measuredCostUs = (row.cpu * 1e6) / (row.kernel.fullScans * pages);
        rows.push({ pace, pages, others: row.others, fullScans: row.kernel.fullScans, wallScan: row.kernel.elapsedMs / 1000 / row.kernel.fullScans, waitPerScan: row.wait / row.kernel.fullScans, measuredScan, predictedScan: predicted.fullScanSeconds, reportScan: t.fullScanSeconds, cpu: row.cpu, predictedCpu: predicted.ksmdCpuSecondsPerScan * row.kernel.fullScans, measuredCostUs });
      }
      console.log(JSON.stringify(rows));
      for (const r of rows) {
        expect(Math.abs(r.predictedScan - r.measuredScan), `full scan ${r.predictedScan} s predicted vs ${r.measuredScan} s`).toBeLessThanOrEqual(0.2 * r.measuredScan);
        // CPU time comes in 10 ms ticks, and ksmd's cost per page varies with the machine's load
        // (2.3-2.8 us quiet, 4.6-6.0 us at a load average of 8 here: caches shared with other
        // work): within a factor of 2 either way, or 3 ticks when the run was short.
        expect(r.predictedCpu, `ksmd CPU ${r.predictedCpu} s predicted vs ${r.cpu} s`).toBeLessThanOrEqual(Math.max(2 * r.cpu, r.cpu + 0.03));
        expect(r.predictedCpu, `ksmd CPU ${r.predictedCpu} s predicted vs ${r.cpu} s`).toBeGreaterThanOrEqual(Math.min(r.cpu / 2, r.cpu - 0.03));
      }
    } finally {
      await Promise.all(fixtures.map((f) => f.stop()));
    }
  }, 90_000);
});
