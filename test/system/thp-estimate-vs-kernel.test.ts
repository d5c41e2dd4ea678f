// The estimate against the real kernel KSM on memory in transparent huge pages, with THP's
// `enabled` set to madvise and to always (set and restored under the KSM lock, by withKsm).
// KSM splits a huge page before it merges any of its subpages, and since Linux 6.12 the split
// frees the zero-filled subpages without any counter seeing them (docs/estimate.md,
// "Transparent huge pages"). Which of the two behaviours this kernel has is probed here, not
// assumed: the model's choice must be the kernel's.
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures, type Fixture } from '../support/fixtures.js';
import { otherMergeablePids, withKsm, type KsmResult, type ThpEnabled } from '../support/ksm.js';
import { pidArgs, scanJson } from '../support/samepage.js';
import type { Estimate, Report } from '../../src/report/report.js';

const PAGE_KB = 4;
const SUBPAGES = 512;

afterAll(stopAllFixtures);

/**
 * Two processes of 32 and 24 MiB in huge pages, MADV_HUGEPAGE and MADV_MERGEABLE, each 2 MiB a
 * quarter of contents both hold, unique contents, zero-filled subpages and one content
 * repeated in the process (the fixture, at half its size).
 */
const WORKLOAD: string[][] = [['thpmix:16:7:madvise'], ['thpmix:12:7:madvise']];

async function anonHugeKb(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^AnonHugePages:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

async function compare(thpEnabled: ThpEnabled, useZeroPages: 0 | 1, workload: string[][]): Promise<{ report: Report; kernel: KsmResult; hugeKb: number }> {
  return withKsm({ useZeroPages, thpEnabled }, async (ksm) => {
    const fixtures: Fixture[] = [];
    try {
      // Started inside the session: THP's mode must be set before the memory is touched.
      for (const ops of workload) fixtures.push(await startPagefill(ops));
      const pids = fixtures.map((f) => f.pid);
      const others = await otherMergeablePids(pids);
      if (others.length > 0) console.log(`other KSM-mergeable processes run (${others.join(', ')}): the global counters are compared only when KSM scanned ours alone`);
      const hugeKb = (await Promise.all(pids.map(anonHugeKb))).reduce((a, b) => a + b, 0);
      const { report } = await scanJson([...pidArgs(pids), '--use-zero-pages', String(useZeroPages)]);
      const kernel = await ksm.runToConvergence(pids, { watchPssAnon: true });
      return { report, kernel, hugeKb };
    } finally {
      await Promise.all(fixtures.map((f) => f.stop()));
    }
  });
}

function log(label: string, e: Estimate, report: Report, kernel: KsmResult, hugeKb: number): void {
  const g = kernel.global;
  const thp = report.thp.scopes.find((s) => s.scope === e.scope);
  console.log(
    JSON.stringify({
      label,
      hugeKb,
      thp: { split: report.thp.splitBehaviour, basis: report.thp.basis, residentPages: report.thp.residentPages, ...thp },
      samepage: { ...e.counters, ramFreedPages: e.ramFreedPages, rmapItems: e.rmapItems, generalProfit: e.generalProfitBytes },
      kernel: { pages_shared: g.pages_shared, pages_sharing: g.pages_sharing, ksm_zero_pages: g.ksm_zero_pages, ramFreedPages: kernel.pssAnonDropKb / PAGE_KB, general_profit: g.general_profit, fullScans: kernel.fullScans },
      perProcess: report.processes.map((p) => {
        const k = kernel.processes.find((x) => x.pid === p.pid);
        const q = e.scope === 'enable-all' ? p : p.mergeableNowScope;
        return { pid: p.pid, samepage: [q.ksm_merging_pages, q.ksm_zero_pages, q.ksm_rmap_items], kernel: [k?.ksm_merging_pages, k?.ksm_zero_pages, k?.ksm_rmap_items] };
      }),
    }),
  );
}

/** Counters exact (the model claims exactness for them), RAM freed within a few pages of Pss_Anon. */
function checkAgainstKernel(e: Estimate, report: Report, kernel: KsmResult): void {
  const g = kernel.global;
  if (kernel.otherMergeablePids.length === 0) {
    expect(e.counters.pages_sharing, 'pages_sharing').toBe(g.pages_sharing);
    expect(e.counters.pages_shared, 'pages_shared').toBe(g.pages_shared);
    expect(e.counters.ksm_zero_pages, 'ksm_zero_pages').toBe(g.ksm_zero_pages);
  }
  // Pss_Anon also moves with the fixture's own small allocations (stdio buffers): 0.5%.
  const freedKernel = kernel.pssAnonDropKb / PAGE_KB;
  expect(Math.abs(e.ramFreedPages - freedKernel), `RAM freed ${e.ramFreedPages} vs kernel ${freedKernel}`).toBeLessThanOrEqual(0.005 * freedKernel + 2);
  for (const k of kernel.processes) {
    const row = report.processes.find((x) => x.pid === k.pid);
    const p = row === undefined ? undefined : e.scope === 'enable-all' ? row : row.mergeableNowScope;
    expect(p?.ksm_merging_pages, `pid ${k.pid} ksm_merging_pages`).toBe(k.ksm_merging_pages);
    expect(p?.ksm_zero_pages, `pid ${k.pid} ksm_zero_pages`).toBe(k.ksm_zero_pages);
  }
}

describe('what this kernel does with a huge page KSM splits', () => {
  it('probe: one huge page of the mix alone, use_zero_pages 1: the model chose what the kernel does', async () => {
    const { report, kernel, hugeKb } = await compare('madvise', 1, [['thpmix:1:3:madvise']]);
    const e = report.scopes.find((s) => s.scope === 'mergeable-now') as Estimate;
    log('probe', e, report, kernel, hugeKb);
    expect(hugeKb, 'the fixture got its huge page').toBe(2048);
    expect(report.thp.hugePagesKnown).toBe(true);
    expect(report.thp.residentPages).toBeGreaterThanOrEqual(SUBPAGES);
    // 128 zero-filled subpages: counted in the process's ksm_zero_pages only if the split kept them.
    const zeroPages = kernel.processes[0]?.ksm_zero_pages ?? -1;
    const kernelFreesUncounted = zeroPages === 0 && kernel.pssAnonDropKb / PAGE_KB >= 128;
    console.log(`[kernel] a KSM split frees zero-filled subpages uncounted: ${kernelFreesUncounted ? 'yes' : 'no'} (ksm_zero_pages ${zeroPages}, Pss_Anon drop ${kernel.pssAnonDropKb} kB)`);
    expect(report.thp.splitBehaviour).toBe(kernelFreesUncounted ? 'zero-subpages-freed' : 'zero-subpages-kept');
    checkAgainstKernel(e, report, kernel);
  });
});

/** The same, made mergeable whole by prctl(PR_SET_MEMORY_MERGE): the enable-all scope. */
const WORKLOAD_ANY: string[][] = [
  ['merge:any', 'thpmix:16:7'],
  ['merge:any', 'thpmix:12:7'],
];

describe.each(['madvise', 'always'] as const)('THP enabled=%s', (thpEnabled) => {
  it.each([
    [0, 'mergeable-now'],
    [1, 'mergeable-now'],
    [0, 'enable-all'],
    [1, 'enable-all'],
  ] as const)('two processes in huge pages, use_zero_pages %i, scope %s: counters exact, RAM freed', async (useZeroPages, scope) => {
    const { report, kernel, hugeKb } = await compare(thpEnabled, useZeroPages, scope === 'enable-all' ? WORKLOAD_ANY : WORKLOAD);
    const e = report.scopes.find((s) => s.scope === scope) as Estimate;
    log(`enabled=${thpEnabled} use_zero_pages=${useZeroPages} ${scope}`, e, report, kernel, hugeKb);
    expect(hugeKb, 'most of the fixture sits in huge pages').toBeGreaterThan(0.9 * 28 * 2048);
    const thp = report.thp.scopes.find((s) => s.scope === scope);
    expect(thp?.hugePagesSplit).toBeGreaterThanOrEqual(28);
    expect(report.thp.residentPages).toBeGreaterThanOrEqual(hugeKb / PAGE_KB);
    checkAgainstKernel(e, report, kernel);
    // The report says how much of the saving lies in huge pages: here nearly all of it.
    expect(thp?.ramFreedInHugePagesBytes).toBeGreaterThan(0.9 * e.ramFreedBytes);
  });
});
