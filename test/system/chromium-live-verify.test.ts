// Live Chromium tabs against the real kernel, never frozen: each tab runs a page that keeps a
// timer (rewrites part of its data every 50 ms) and an animation (redraws a canvas every frame).
// KSM may never settle on such a browser, so there is no converged figure to compare with:
// the test takes a prediction with scan --interval, lets KSM run for a fixed time at a fast
// pace, and reads what it reached through samepage verify. It asserts only what holds however
// far apart the two are (verify runs, leaves KSM's settings alone, gives a row per process and
// a reason for each gap) and prints the figures (docs/estimate.md, "Live Chromium").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium, type ChromiumSession } from '../support/chromium.js';
import { readKsmSettings, withKsm } from '../support/ksm.js';
import { pidArgs, runSamepage } from '../support/samepage.js';
import type { Report } from '../../src/report/report.js';
import type { VerifyResult } from '../../src/verify/verify.js';

const TABS = 3;
const KSM_RUN_MS = 30_000;
const PAGES_TO_SCAN = 5000;
const SLEEP_MS = 20;
let session: ChromiumSession | null = null;
const dir = mkdtempSync(join(tmpdir(), 'samepage-live-'));

afterAll(async () => {
  await session?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasChromium() && !process.env['CI'])('live Chromium tabs (timers, animation) against the kernel, through verify', () => {
  it('verify compares the sampled prediction with what KSM reached after a fixed time', async () => {
    session = await launchChromium({ tabs: TABS, mergeAny: true, settleMs: 5000, query: 'live=1' });
    const pids = session.rendererPids();
    expect(pids).toHaveLength(TABS);
    const prediction = join(dir, 'prediction.json');
    const out = await withKsm({ useZeroPages: 0, pagesToScan: PAGES_TO_SCAN, sleepMillisecs: SLEEP_MS }, async (ksm) => {
      const scan = await runSamepage(['scan', '--json', '--no-progress', '-o', prediction, '--interval', '2', '--samples', '2', ...pidArgs(pids)], { timeoutMs: 60_000 });
      expect(scan.code, scan.stderr).toBe(0);
      await ksm.start();
      await sleep(KSM_RUN_MS);
      const before = await readKsmSettings();
      const run = await runSamepage(['verify', prediction, '--json']);
      expect(run.code, run.stderr).toBe(0);
      expect(await readKsmSettings(), 'verify changed a KSM setting').toEqual(before);
      const text = await runSamepage(['verify', prediction]);
      expect(text.code, text.stderr).toBe(0);
      return { verify: JSON.parse(run.stdout) as VerifyResult, text: text.stdout };
    });
    const { readFile } = await import('node:fs/promises');
    const report = JSON.parse(await readFile(prediction, 'utf8')) as Report;
    const v = out.verify;
    console.log(
      JSON.stringify({
        prediction: {
          ramFreed: report.estimate.ramFreedPages,
          oneInstant: report.volatility?.oneInstant?.estimate.ramFreedPages,
          volatile: report.volatility?.volatilePages,
          reread: report.volatility?.rereadPages,
          fullScan: report.timing?.fullScanSeconds,
          savingReached: report.timing?.savingReachedSeconds,
        },
        ksm: v.ksm,
        converged: v.converged,
        total: v.total,
        rows: v.processes.map((r) => [r.pid, r.predictedMergingPages, r.actualMergingPages, r.errorShare, r.reasons]),
        reasons: v.reasons,
      }),
    );
    console.log(out.text);

    expect(report.volatility?.sampled).toBe(true);
    // The page keeps running: sampling finds pages that changed in every renderer.
    for (const row of report.volatility?.byProcess ?? []) expect(row.volatilePages, `pid ${row.pid}`).toBeGreaterThan(0);
    expect(v.processes.map((r) => r.pid).sort()).toEqual([...pids].sort());
    for (const row of v.processes) {
      expect(row.actualMergingPages, `pid ${row.pid} read`).not.toBeNull();
      // Every gap beyond tolerance comes with a reason.
      if (!row.agrees) expect(row.reasons.length, `pid ${row.pid}`).toBeGreaterThan(0);
    }
    // After a fixed time KSM has merged something in the tabs.
    expect(v.total.actualMergingPages).toBeGreaterThan(0);
    expect(out.text).toMatch(/\d/);
  }, 150_000);
});
