// samepage verify against the real kernel: a prediction saved with scan --json, KSM turned on
// by the test harness (never by samepage), verify read just after KSM started (not converged
// yet) and after convergence (within tolerance). verify itself never writes a KSM setting: the
// settings are compared before and after each call.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPagefill, stopAllFixtures, type Fixture } from '../support/fixtures.js';
import { readKsmSettings, withKsm } from '../support/ksm.js';
import { pidArgs, runSamepage } from '../support/samepage.js';
import type { VerifyResult } from '../../src/verify/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-verify-'));
afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

async function verify(prediction: string): Promise<VerifyResult> {
  const before = await readKsmSettings();
  const run = await runSamepage(['verify', prediction, '--json']);
  expect(run.code, run.stderr).toBe(0);
  expect(await readKsmSettings(), 'verify changed a KSM setting').toEqual(before);
  return JSON.parse(run.stdout) as VerifyResult;
}

describe('samepage verify', () => {
  it('says "not converged yet" just after KSM starts, and agrees once it has converged', async () => {
    const fixtures: Fixture[] = [];
    try {
      const workload = ['merge:any', 'nothp', 'anon:5000:seq=1', 'anon:2000:cycle=3,50', 'anon:1000:uniq'];
      for (let i = 0; i < 2; i++) fixtures.push(await startPagefill(workload));
      const pids = fixtures.map((f) => f.pid);
      const prediction = join(dir, 'prediction.json');
      await withKsm({ useZeroPages: 0, pagesToScan: 500, sleepMillisecs: 100 }, async (ksm) => {
        const scan = await runSamepage(['scan', '--json', '--no-progress', '-o', prediction, ...pidArgs(pids)]);
        expect(scan.code, scan.stderr).toBe(0);
        const snapshot = join(dir, 'prediction.snap');
        const snap = await runSamepage(['snapshot', '--no-progress', '-o', snapshot, ...pidArgs(pids)]);
        expect(snap.code, snap.stderr).toBe(0);

        await ksm.start();
        const early = await verify(prediction);
        console.log(JSON.stringify({ early: { ksm: early.ksm, total: early.total, reasons: early.reasons, timeLeft: early.timeLeftSeconds } }));
        expect(early.converged).toBe(false);
        expect(early.agrees).toBe(false);
        expect(early.reasons.join(' ')).toMatch(/not converged yet: [01] full scans? since the prediction, 2 needed; about [\d.]+ s left/);
        expect(early.timeLeftSeconds).toBeGreaterThan(0);

        // Generous: at 500 pages per 100 ms a full scan is over 3 s, more on a loaded machine.
        await ksm.runToConvergence(pids, { timeoutMs: 180_000 });
        const late = await verify(prediction);
        console.log(JSON.stringify({ late: { ksm: late.ksm, total: late.total, reasons: late.reasons, rows: late.processes.map((r) => [r.pid, r.predictedMergingPages, r.actualMergingPages, r.reasons]) } }));
        expect(late.converged).toBe(true);
        for (const row of late.processes) {
          expect(Math.abs((row.actualMergingPages ?? -1) - row.predictedMergingPages), `pid ${row.pid}`).toBeLessThanOrEqual(0.02 * row.predictedMergingPages);
        }
        expect(late.agrees).toBe(true);
        // A snapshot is a prediction too: the same answer.
        const fromSnapshot = await verify(snapshot);
        expect(fromSnapshot.total).toEqual(late.total);
        expect(fromSnapshot.agrees).toBe(true);
      });
    } finally {
      await Promise.all(fixtures.map((f) => f.stop()));
    }
  }, 240_000);
});
