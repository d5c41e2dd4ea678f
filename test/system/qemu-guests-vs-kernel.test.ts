// The estimate against the judge on real VM guests: four QEMU guests booted from the same
// Debian kernel and initramfs (contents common to all of them, contents unique to each),
// frozen, scanned by samepage, then merged by the real kernel KSM to convergence. QEMU's
// guest RAM is MADV_MERGEABLE and MADV_HUGEPAGE, so most of it sits in transparent huge
// pages: the case where KSM's counters and the RAM it frees part ways (issue 13). Run with
// THP `enabled` at madvise and at always (set under the KSM lock, restored afterwards).
import { afterAll, describe, expect, it } from 'vitest';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { otherMergeablePids, readKsmStat, readPssAnonKb, readThpEnabled, withKsm, type KsmResult, type KsmSession, type ThpEnabled } from '../support/ksm.js';
import {
  buildInitramfs,
  guestBootFiles,
  startGuests,
  stopAllGuests,
  type GuestBootFiles,
} from '../support/qemu-guests.js';
import { pidArgs, runSamepage } from '../support/samepage.js';
import type { Estimate, Report } from '../../src/report/report.js';

/**
 * Switch on once samepage models KSM on huge pages (issue 13: the split on merge, zero-filled
 * subpages freed by the split but never counted): then the counters as the kernel reads them
 * must match samepage's default figures, zero-filled contents included.
 */
const THP_MODEL_EXACT = true;

const GUESTS = 4;
const MEMORY_MIB = 256;
const COMMON_MIB = 24;
const UNIQUE_MIB = 16;
const TOLERANCE = 0.01;

interface Measured {
  mode: ThpEnabled;
  bootMs: number[];
  readyUptimeS: number[];
  anonHugeKbBefore: number;
  pssAnonBeforeKb: number;
  pssAnonAfterKb: number;
  /** samepage as this kernel runs KSM (use_zero_pages 0). */
  report: Report;
  /** samepage with --use-zero-pages 1: zero-filled contents out of pages_shared/pages_sharing. */
  reportNoZero: Report;
  kernel: KsmResult;
  /**
   * KSM pages other mergeable processes hold after the run (another test's, on a machine shared
   * by several developers; never in CI, which runs one test file at a time). When not 0 the
   * global counters are not the guests' alone, and only the per-process figures are compared.
   */
  othersMerging: number;
  snapshotMs: number;
  ksmMs: number;
}

const measured = new Map<ThpEnabled, Measured>();
let bootFiles: Promise<GuestBootFiles | string> | undefined;

afterAll(stopAllGuests);

function mergeableNow(report: Report): Estimate {
  const scope = report.scopes.find((s) => s.scope === 'mergeable-now');
  if (!scope) throw new Error('the report has no mergeable-now scope');
  return scope;
}

function within(actual: number, expected: number, fraction = TOLERANCE): boolean {
  return Math.abs(actual - expected) <= fraction * Math.abs(expected);
}

async function anonHugeKb(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^AnonHugePages:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

async function sumOver(pids: number[], read: (pid: number) => Promise<number>): Promise<number> {
  return (await Promise.all(pids.map(read))).reduce((a, b) => a + b, 0);
}

async function reportJson(args: string[]): Promise<Report> {
  const run = await runSamepage([...args, '--json', '--no-progress']);
  if (run.code !== 0) throw new Error(`samepage ${args[0] ?? ''} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as Report;
}

/**
 * KSM's counters can hold still while splits of huge pages still free memory: carry on until
 * the guests' Pss_Anon holds as well across a whole further convergence.
 */
async function converge(ksm: KsmSession, pids: number[]): Promise<{ kernel: KsmResult; pssKb: number }> {
  let kernel = await ksm.runToConvergence(pids);
  let pssKb = await sumOver(pids, readPssAnonKb);
  for (let round = 0; round < 5; round++) {
    const again = await ksm.runToConvergence(pids);
    const now = await sumOver(pids, readPssAnonKb);
    const same =
      now === pssKb &&
      again.global.pages_sharing === kernel.global.pages_sharing &&
      again.global.pages_shared === kernel.global.pages_shared;
    kernel = again;
    pssKb = now;
    if (same) break;
  }
  return { kernel, pssKb };
}

async function measure(mode: ThpEnabled, files: GuestBootFiles): Promise<Measured> {
  const initramfs = await buildInitramfs(files, { commonMiB: COMMON_MIB });
  const snapshot = join(tmpdir(), `samepage-guests-${process.pid}-${mode}.snap`);
  try {
    await waitForNoOtherMergeable();
    // THP's mode is set and restored by the KSM session, under its lock.
    return await withKsm({ useZeroPages: 0, thpEnabled: mode }, async (ksm): Promise<Measured> => {
      const specs = Array.from({ length: GUESTS }, (_, i) => ({ name: `guest${i + 1}`, memoryMiB: MEMORY_MIB, uniqueMiB: UNIQUE_MIB }));
      const guests = await startGuests(files, initramfs, specs);
      try {
        await guests.freeze();
        const pids = guests.pids;
        const anonHugeKbBefore = await sumOver(pids, anonHugeKb);
        const pssAnonBeforeKb = await sumOver(pids, readPssAnonKb);

        const t0 = Date.now();
        const snap = await runSamepage(['snapshot', ...pidArgs(pids), '--no-progress', '-o', snapshot]);
        if (snap.code !== 0) throw new Error(`samepage snapshot exited ${snap.code}: ${snap.stderr}`);
        const snapshotMs = Date.now() - t0;
        const report = await reportJson(['report', snapshot, '--use-zero-pages', '0']);
        const reportNoZero = await reportJson(['report', snapshot, '--use-zero-pages', '1']);

        const t1 = Date.now();
        const { kernel, pssKb } = await converge(ksm, pids);
        let othersMerging = 0;
        for (const pid of kernel.otherMergeablePids) othersMerging += await readKsmStat(pid).then((s) => s.ksm_merging_pages, () => 0);
        return {
          othersMerging,
          mode,
          bootMs: guests.guests.map((g) => g.bootMs),
          readyUptimeS: guests.guests.map((g) => g.readyUptimeS),
          anonHugeKbBefore,
          pssAnonBeforeKb,
          pssAnonAfterKb: pssKb,
          report,
          reportNoZero,
          kernel,
          snapshotMs,
          ksmMs: Date.now() - t1,
        };
      } finally {
        await guests.stop();
      }
    });
  } finally {
    await rm(snapshot, { force: true });
    await rm(initramfs, { force: true });
  }
}

/**
 * Another test run's KSM fixtures (on a machine shared by several developers) would merge with
 * the guests: give them a minute to finish first. What is left is measured after the run
 * (Measured.othersMerging).
 */
async function waitForNoOtherMergeable(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await otherMergeablePids([])).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The figures side by side, for the log (and the note). */
function summary(m: Measured): Record<string, unknown> {
  const pageKb = m.report.host.pageSize / 1024;
  const est = mergeableNow(m.report);
  const noZero = mergeableNow(m.reportNoZero);
  return {
    thpEnabled: m.mode,
    bootMs: m.bootMs,
    guestUptimeAtReadyS: m.readyUptimeS,
    snapshotMs: m.snapshotMs,
    ksmMs: m.ksmMs,
    fullScans: m.kernel.fullScans,
    anonHugePagesBefore: m.anonHugeKbBefore / pageKb,
    residentPages: m.pssAnonBeforeKb / pageKb,
    ramFreed: { samepage: est.ramFreedPages, kernelPssAnonDrop: (m.pssAnonBeforeKb - m.pssAnonAfterKb) / pageKb },
    pages_shared: { samepage: est.counters.pages_shared, samepageNoZero: noZero.counters.pages_shared, kernel: m.kernel.global.pages_shared },
    pages_sharing: { samepage: est.counters.pages_sharing, samepageNoZero: noZero.counters.pages_sharing, kernel: m.kernel.global.pages_sharing },
    ksm_zero_pages: { samepage: est.counters.ksm_zero_pages, samepageNoZero: noZero.counters.ksm_zero_pages, kernel: m.kernel.global.ksm_zero_pages },
    ksm_merging_pages: m.kernel.processes.map((k) => ({
      samepage: m.report.processes.find((p) => p.pid === k.pid)?.mergeableNowScope.ksm_merging_pages,
      samepageNoZero: m.reportNoZero.processes.find((p) => p.pid === k.pid)?.mergeableNowScope.ksm_merging_pages,
      kernel: k.ksm_merging_pages,
    })),
    otherMergeablePids: m.kernel.otherMergeablePids,
    othersMerging: m.othersMerging,
    general_profit: { samepage: est.generalProfitBytes, kernel: m.kernel.global.general_profit },
  };
}

function files(): Promise<GuestBootFiles | string> {
  bootFiles ??= guestBootFiles();
  return bootFiles;
}

describe.each(['madvise', 'always'] as const)('four QEMU guests, THP enabled=%s, against the kernel KSM', (mode) => {
  it('boot, freeze, snapshot, merge to convergence: RAM freed matches', async (ctx) => {
    const boot = await files();
    if (typeof boot === 'string') ctx.skip(`no guests: ${boot}`);
    if ((await readThpEnabled()) === undefined) ctx.skip('no transparent huge pages on this kernel');
    const m = await measure(mode, boot as GuestBootFiles);
    measured.set(mode, m);
    console.log(`qemu guests vs kernel, guest kernel ${(boot as GuestBootFiles).kernelPackage}:`, JSON.stringify(summary(m)));

    // The guests' memory is mostly huge pages, or the test tests nothing of issue 13.
    expect(m.anonHugeKbBefore).toBeGreaterThan(m.pssAnonBeforeKb / 2);
    const pageKb = m.report.host.pageSize / 1024;
    const freedByKernel = (m.pssAnonBeforeKb - m.pssAnonAfterKb) / pageKb;
    expect(freedByKernel).toBeGreaterThan(0);
    expect(within(mergeableNow(m.report).ramFreedPages, freedByKernel), `RAM freed: samepage ${mergeableNow(m.report).ramFreedPages}, kernel ${freedByKernel}`).toBe(true);
  });

  it('every guest: ksm_merging_pages matches samepage counted without zero-filled contents', (ctx) => {
    const m = measured.get(mode);
    if (!m) ctx.skip('no measurement (skipped or failed above)');
    const { kernel, reportNoZero } = m as Measured;
    for (const k of kernel.processes) {
      const p = reportNoZero.processes.find((r) => r.pid === k.pid);
      expect(p, `pid ${k.pid} in the report`).toBeDefined();
      const predicted = p?.mergeableNowScope.ksm_merging_pages ?? NaN;
      expect(within(k.ksm_merging_pages, predicted), `ksm_merging_pages of ${k.pid}: kernel ${k.ksm_merging_pages}, samepage without zero-filled ${predicted}`).toBe(true);
    }
  });

  it('pages_shared and pages_sharing match samepage counted without zero-filled contents', (ctx) => {
    const m = measured.get(mode);
    if (!m) ctx.skip('no measurement (skipped or failed above)');
    const { kernel, reportNoZero, othersMerging } = m as Measured;
    if (othersMerging > 0) ctx.skip(`other processes hold ${othersMerging} KSM pages: the global counters are not the guests' alone`);
    const noZero = mergeableNow(reportNoZero).counters;
    expect(within(kernel.global.pages_sharing, noZero.pages_sharing), `pages_sharing: kernel ${kernel.global.pages_sharing}, samepage without zero-filled ${noZero.pages_sharing}`).toBe(true);
    expect(within(kernel.global.pages_shared, noZero.pages_shared), `pages_shared: kernel ${kernel.global.pages_shared}, samepage without zero-filled ${noZero.pages_shared}`).toBe(true);
  });

  // Exact only once the THP model lands: switch THP_MODEL_EXACT on.
  it.skipIf(!THP_MODEL_EXACT)('the counters as the kernel reads them: pages_shared, pages_sharing, ksm_zero_pages, ksm_merging_pages', (ctx) => {
    const m = measured.get(mode);
    if (!m) ctx.skip('no measurement (skipped or failed above)');
    const { kernel, report, othersMerging } = m as Measured;
    if (othersMerging > 0) ctx.skip(`other processes hold ${othersMerging} KSM pages: the global counters are not the guests' alone`);
    const est = mergeableNow(report).counters;
    expect(within(kernel.global.pages_sharing, est.pages_sharing), `pages_sharing: kernel ${kernel.global.pages_sharing}, samepage ${est.pages_sharing}`).toBe(true);
    expect(within(kernel.global.pages_shared, est.pages_shared), `pages_shared: kernel ${kernel.global.pages_shared}, samepage ${est.pages_shared}`).toBe(true);
    expect(Math.abs(kernel.global.ksm_zero_pages - est.ksm_zero_pages)).toBeLessThanOrEqual(Math.max(1, TOLERANCE * est.ksm_zero_pages));
    for (const k of kernel.processes) {
      const p = report.processes.find((r) => r.pid === k.pid);
      expect(p, `pid ${k.pid} in the report`).toBeDefined();
      expect(within(k.ksm_merging_pages, p?.mergeableNowScope.ksm_merging_pages ?? NaN), `ksm_merging_pages of ${k.pid}: kernel ${k.ksm_merging_pages}, samepage ${p?.mergeableNowScope.ksm_merging_pages}`).toBe(true);
    }
  });
});
