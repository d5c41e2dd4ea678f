// The estimate on real Chromium against the real kernel KSM: several tabs of one local site,
// each in its own renderer, every process made mergeable with PR_SET_MEMORY_MERGE. The browser
// is frozen (SIGSTOP) while samepage scans and KSM merges, so both see the same memory.
import { afterAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, type ChromiumSession } from '../support/chromium.js';
import { withKsm } from '../support/ksm.js';
import { pidArgs, scanJson } from '../support/samepage.js';

const TABS = 4;
let session: ChromiumSession | null = null;

afterAll(async () => {
  await session?.close();
});

// In CI Chromium is installed by .ci/run, so a missing browser fails there instead of skipping.
describe.skipIf(!hasChromium() && !process.env['CI'])('Chromium: estimate vs the kernel', () => {
  it('RAM freed is within 2% of what KSM frees (Pss_Anon drop and ksm_merging_pages)', async () => {
    session = await launchChromium({ tabs: TABS, mergeAny: true });
    expect(session.rendererPids()).toHaveLength(TABS);
    session.freeze();
    const pids = session.pids();
    const { report, kernel } = await withKsm({ useZeroPages: 0 }, async (ksm) => {
      const { report } = await scanJson([...pidArgs(pids), '--use-zero-pages', '0']);
      const kernel = await ksm.runToConvergence(pids, { timeoutMs: 300_000 });
      return { report, kernel };
    });
    session.thaw();

    const pageKb = report.host.pageSize / 1024;
    const kernelFreedPages = kernel.pssAnonDropKb / pageKb;
    const kernelMerging = kernel.processes.reduce((n, p) => n + p.ksm_merging_pages, 0);
    const ourMerging = report.processes.reduce((n, p) => n + p.ksm_merging_pages, 0);
    console.log(
      JSON.stringify({
        processes: pids.length,
        residentMiB: Math.round((report.totals.residentPages * report.host.pageSize) / 1048576),
        samepage: { ramFreedPages: report.estimate.ramFreedPages, ...report.estimate.counters, merging: ourMerging, elapsedMs: report.totals.elapsedMs },
        kernel: { pssAnonDropPages: kernelFreedPages, pages_shared: kernel.global.pages_shared, pages_sharing: kernel.global.pages_sharing, merging: kernelMerging, fullScans: kernel.fullScans, elapsedMs: kernel.elapsedMs },
      }),
    );
    expect(report.totals.processes).toBe(pids.length);
    expect(report.estimate.ramFreedPages).toBeGreaterThan(0);
    const within = (a: number, b: number) => Math.abs(a - b) <= 0.02 * b;
    expect(within(report.estimate.ramFreedPages, kernelFreedPages), `RAM freed ${report.estimate.ramFreedPages} pages vs kernel Pss_Anon drop ${kernelFreedPages}`).toBe(true);
    expect(within(ourMerging, kernelMerging), `ksm_merging_pages ${ourMerging} vs kernel ${kernelMerging}`).toBe(true);
  });
});
