// The estimate against the judge on real VM guests: four QEMU guests booted from the same
// Debian kernel and initramfs (contents common to all of them, contents unique to each),
// frozen, scanned by samepage, then merged by the real kernel KSM to convergence. QEMU's
// guest RAM is MADV_MERGEABLE and MADV_HUGEPAGE, so most of it sits in transparent huge
// pages: the case where KSM's counters and the RAM it frees part ways (issue 13).
//
// Every setting is covered across the runs, with one boot of the guests per THP mode (set
// under the KSM lock, restored afterwards) and two KSM runs per boot, one per use_zero_pages:
//   THP madvise: QEMU as started by a virtualisation host (KSM on guest RAM only): the
//     mergeable-now scope; use_zero_pages 0, then 1.
//   THP always: QEMU started through merge-exec (PR_SET_MEMORY_MERGE, KSM for the whole
//     process): the enable-all scope; use_zero_pages 1, then 0.
// The scope is fixed by how QEMU is started, so each boot covers one; the order of the
// use_zero_pages values is swapped so each meets the guests' memory fresh from boot (mostly
// huge pages) once. Between the two runs KSM unmerges everything (run=2) and samepage takes a
// new snapshot: the first run split most huge pages, so the layout the second run starts
// from is another one.
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

const GUESTS = 4;
const MEMORY_MIB = 256;
const COMMON_MIB = 24;
const UNIQUE_MIB = 16;
const TOLERANCE = 0.01;

type Scope = 'mergeable-now' | 'enable-all';

interface Plan {
  mode: ThpEnabled;
  scope: Scope;
  /** One KSM run each, in this order, on the same boot. */
  useZeroPages: [0 | 1, 0 | 1];
}

const PLANS: Plan[] = [
  { mode: 'madvise', scope: 'mergeable-now', useZeroPages: [0, 1] },
  { mode: 'always', scope: 'enable-all', useZeroPages: [1, 0] },
];

interface Measured {
  plan: Plan;
  useZeroPages: 0 | 1;
  /** The first KSM run of this boot (memory as the guests left it, huge pages intact). */
  first: boolean;
  bootMs: number[];
  readyUptimeS: number[];
  anonHugeKbBefore: number;
  pssAnonBeforeKb: number;
  pssAnonAfterKb: number;
  /** samepage's report of a snapshot taken just before this KSM run, with this use_zero_pages. */
  report: Report;
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

const measured = new Map<string, Measured>();
let bootFiles: Promise<GuestBootFiles | string> | undefined;

afterAll(stopAllGuests);

function key(mode: ThpEnabled, useZeroPages: 0 | 1): string {
  return `${mode}/${useZeroPages}`;
}

function scopeOf(report: Report, scope: Scope): Estimate {
  const found = report.scopes.find((s) => s.scope === scope);
  if (!found) throw new Error(`the report has no ${scope} scope`);
  return found;
}

/** A process's ksm_merging_pages in the scope: the default fields are enable-all's. */
function processMerging(report: Report, pid: number, scope: Scope): number | undefined {
  const p = report.processes.find((r) => r.pid === pid);
  if (!p) return undefined;
  return scope === 'enable-all' ? p.ksm_merging_pages : p.mergeableNowScope.ksm_merging_pages;
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
      again.global.pages_shared === kernel.global.pages_shared &&
      again.global.ksm_zero_pages === kernel.global.ksm_zero_pages;
    kernel = again;
    pssKb = now;
    if (same) break;
  }
  return { kernel, pssKb };
}

/** One boot of the guests, then one KSM run per use_zero_pages of the plan. */
async function measure(plan: Plan, files: GuestBootFiles): Promise<Measured[]> {
  const initramfs = await buildInitramfs(files, { commonMiB: COMMON_MIB });
  const snapshot = join(tmpdir(), `samepage-guests-${process.pid}-${plan.mode}.snap`);
  try {
    await waitForNoOtherMergeable();
    // THP's mode is set and restored by the KSM session, under its lock.
    return await withKsm({ useZeroPages: plan.useZeroPages[0], thpEnabled: plan.mode }, async (ksm): Promise<Measured[]> => {
      const specs = Array.from({ length: GUESTS }, (_, i) => ({ name: `guest${i + 1}`, memoryMiB: MEMORY_MIB, uniqueMiB: UNIQUE_MIB }));
      const guests = await startGuests(files, initramfs, specs, { mergeAny: plan.scope === 'enable-all' });
      try {
        await guests.freeze();
        const pids = guests.pids;
        const out: Measured[] = [];
        for (const [i, useZeroPages] of plan.useZeroPages.entries()) {
          if (i > 0) {
            await ksm.unmerge();
            await ksm.setUseZeroPages(useZeroPages);
          }
          const anonHugeKbBefore = await sumOver(pids, anonHugeKb);
          const pssAnonBeforeKb = await sumOver(pids, readPssAnonKb);

          const t0 = Date.now();
          const snap = await runSamepage(['snapshot', ...pidArgs(pids), '--no-progress', '-o', snapshot]);
          if (snap.code !== 0) throw new Error(`samepage snapshot exited ${snap.code}: ${snap.stderr}`);
          const snapshotMs = Date.now() - t0;
          const report = await reportJson(['report', snapshot, '--use-zero-pages', String(useZeroPages)]);

          const t1 = Date.now();
          const { kernel, pssKb } = await converge(ksm, pids);
          let othersMerging = 0;
          for (const pid of kernel.otherMergeablePids) othersMerging += await readKsmStat(pid).then((s) => s.ksm_merging_pages, () => 0);
          out.push({
            plan,
            useZeroPages,
            first: i === 0,
            othersMerging,
            bootMs: guests.guests.map((g) => g.bootMs),
            readyUptimeS: guests.guests.map((g) => g.readyUptimeS),
            anonHugeKbBefore,
            pssAnonBeforeKb,
            pssAnonAfterKb: pssKb,
            report,
            kernel,
            snapshotMs,
            ksmMs: Date.now() - t1,
          });
        }
        return out;
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
  const est = scopeOf(m.report, m.plan.scope);
  return {
    thpEnabled: m.plan.mode,
    scope: m.plan.scope,
    useZeroPages: m.useZeroPages,
    firstRunOfBoot: m.first,
    bootMs: m.bootMs,
    guestUptimeAtReadyS: m.readyUptimeS,
    snapshotMs: m.snapshotMs,
    ksmMs: m.ksmMs,
    fullScans: m.kernel.fullScans,
    anonHugePagesBefore: m.anonHugeKbBefore / pageKb,
    residentPages: m.pssAnonBeforeKb / pageKb,
    ramFreed: { samepage: est.ramFreedPages, kernelPssAnonDrop: (m.pssAnonBeforeKb - m.pssAnonAfterKb) / pageKb },
    pages_shared: { samepage: est.counters.pages_shared, kernel: m.kernel.global.pages_shared },
    pages_sharing: { samepage: est.counters.pages_sharing, kernel: m.kernel.global.pages_sharing },
    ksm_zero_pages: { samepage: est.counters.ksm_zero_pages, kernel: m.kernel.global.ksm_zero_pages },
    ksm_merging_pages: m.kernel.processes.map((k) => ({ samepage: processMerging(m.report, k.pid, m.plan.scope), kernel: k.ksm_merging_pages })),
    otherMergeablePids: m.kernel.otherMergeablePids,
    othersMerging: m.othersMerging,
    general_profit: { samepage: est.generalProfitBytes, kernel: m.kernel.global.general_profit },
  };
}

function files(): Promise<GuestBootFiles | string> {
  bootFiles ??= guestBootFiles();
  return bootFiles;
}

function measurement(mode: ThpEnabled, useZeroPages: 0 | 1, skip: (why: string) => never): Measured {
  const m = measured.get(key(mode, useZeroPages));
  if (!m) skip('no measurement (skipped or failed above)');
  return m as Measured;
}

describe.each(PLANS)('four QEMU guests, THP enabled=$mode, $scope scope, against the kernel KSM', (plan) => {
  it(`boot, freeze, then per use_zero_pages (${plan.useZeroPages.join(', then ')}): snapshot, merge to convergence`, async (ctx) => {
    const boot = await files();
    if (typeof boot === 'string') ctx.skip(`no guests: ${boot}`);
    if ((await readThpEnabled()) === undefined) ctx.skip('no transparent huge pages on this kernel');
    const runs = await measure(plan, boot as GuestBootFiles);
    for (const m of runs) {
      measured.set(key(plan.mode, m.useZeroPages), m);
      console.log(`qemu guests vs kernel, guest kernel ${(boot as GuestBootFiles).kernelPackage}:`, JSON.stringify(summary(m)));
    }
    // The guests' memory is mostly huge pages at the first run, or the test tests nothing of issue 13.
    const first = runs[0];
    expect(first && first.anonHugeKbBefore > first.pssAnonBeforeKb / 2).toBe(true);
    // A boot and two KSM runs to convergence: about 3 minutes on a busy 2-CPU machine.
  }, 600_000);

  describe.each(plan.useZeroPages.map((useZeroPages) => ({ useZeroPages })))('use_zero_pages $useZeroPages', ({ useZeroPages }) => {
    it('RAM freed matches the guests\' Pss_Anon drop', (ctx) => {
      const m = measurement(plan.mode, useZeroPages, (why) => ctx.skip(why));
      const pageKb = m.report.host.pageSize / 1024;
      const freedByKernel = (m.pssAnonBeforeKb - m.pssAnonAfterKb) / pageKb;
      const predicted = scopeOf(m.report, plan.scope).ramFreedPages;
      expect(freedByKernel).toBeGreaterThan(0);
      expect(within(predicted, freedByKernel), `RAM freed: samepage ${predicted}, kernel ${freedByKernel}`).toBe(true);
    });

    it('every guest: ksm_merging_pages matches', (ctx) => {
      const m = measurement(plan.mode, useZeroPages, (why) => ctx.skip(why));
      for (const k of m.kernel.processes) {
        const predicted = processMerging(m.report, k.pid, plan.scope);
        expect(predicted, `pid ${k.pid} in the report`).toBeDefined();
        expect(within(k.ksm_merging_pages, predicted ?? NaN), `ksm_merging_pages of ${k.pid}: kernel ${k.ksm_merging_pages}, samepage ${predicted}`).toBe(true);
      }
    });

    it('pages_shared, pages_sharing and ksm_zero_pages match', (ctx) => {
      const m = measurement(plan.mode, useZeroPages, (why) => ctx.skip(why));
      if (m.othersMerging > 0) ctx.skip(`other processes hold ${m.othersMerging} KSM pages: the global counters are not the guests' alone`);
      const est = scopeOf(m.report, plan.scope).counters;
      const g = m.kernel.global;
      expect(within(g.pages_sharing, est.pages_sharing), `pages_sharing: kernel ${g.pages_sharing}, samepage ${est.pages_sharing}`).toBe(true);
      expect(within(g.pages_shared, est.pages_shared), `pages_shared: kernel ${g.pages_shared}, samepage ${est.pages_shared}`).toBe(true);
      expect(Math.abs(g.ksm_zero_pages - est.ksm_zero_pages), `ksm_zero_pages: kernel ${g.ksm_zero_pages}, samepage ${est.ksm_zero_pages}`).toBeLessThanOrEqual(
        Math.max(1, TOLERANCE * est.ksm_zero_pages),
      );
    });
  });
});
