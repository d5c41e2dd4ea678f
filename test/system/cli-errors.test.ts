// Errors of the live scan: no permission to read memory (a root-owned process read by nobody),
// not root (hidden frame numbers), a process that exits mid-scan. A clear one-line message and
// the right exit status, never a stack trace. Usage errors: test/unit/cli-errors.test.ts.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { LiveSource } from '../../src/live/live-source.js';
import { readProcessInfo } from '../../src/live/process-info.js';
import { runScan } from '../../src/scan/scan.js';
import type { SourceOpener } from '../../src/source/source-opener.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import { systemPageSize } from '../../src/util/system.js';
import type { PageSink } from '../../src/source/memory-source.js';

afterAll(stopAllFixtures);

const BIN = fileURLToPath(new URL('../../bin/samepage.js', import.meta.url));

function expectOneCleanLine(stderr: string): void {
  expect(stderr).toMatch(/^samepage: /);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  expect(stderr).not.toMatch(/Error:/);
}

/** Runs samepage as the unprivileged user nobody. */
function runAsNobody(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args], (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr });
    });
  });
}

describe('without rights', () => {
  it('no permission to read memory: says why and what to do, exit 3', async () => {
    // A root-owned process, read by nobody.
    const fixture = await startPagefill(['anon:4:seq=1']);
    const run = await runAsNobody(['scan', '--pid', String(fixture.pid)]);
    expect(run.code).toBe(3);
    expectOneCleanLine(run.stderr);
    expect(run.stderr).toMatch(/no permission to read the memory of pid \d+/);
    expect(run.stderr).toMatch(/root|CAP_SYS_PTRACE/);
  });

  it('not root: scans what it may, warns that PFNs are hidden and the estimate is an upper bound', async () => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const run = await runAsNobody(['scan', '--json', '--pid', String(child.pid)]);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/not root.*upper bound/);
      const report = JSON.parse(run.stdout) as { host: { pfnsVisible: boolean }; caveats: string[]; totals: { residentPages: number } };
      expect(report.host.pfnsVisible).toBe(false);
      expect(report.caveats.join(' ')).toMatch(/upper bound/);
      expect(report.totals.residentPages).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('a process that exits mid-scan', () => {
  it('is skipped with a warning; the other processes are still reported', async () => {
    const victim = await startPagefill(['anon:64:seq=1', 'anon:64:seq=2', 'anon:64:seq=3']);
    const survivor = await startPagefill(['anon:64:seq=1']);
    const pageSize = systemPageSize();
    const opener = (pid: number, killAfterFirstBatch: boolean): SourceOpener => {
      const info = readProcessInfo(pid);
      if (info === null) throw new Error(`pid ${pid} is gone`);
      return {
        label: `pid ${pid}`,
        pid,
        named: true,
        open: () => {
          const live = new LiveSource(info, pageSize, true, null);
          if (!killAfterFirstBatch) return live;
          // Kill the process for real once its first pages are read: the next reads fail as
          // they would when a process exits on its own during a scan.
          let killed = false;
          return {
            info: live.info,
            label: live.label,
            origin: live.origin,
            hasPhysicalInfo: live.hasPhysicalInfo,
            physical: live.physical,
            regions: () => live.regions(),
            close: () => live.close(),
            scanRegion(region, sink: PageSink, batch) {
              const tally = live.scanRegion(region, sink, batch);
              if (!killed && tally.virtualPages > 0 && region.residentPages !== 0) {
                killed = true;
                process.kill(pid, 'SIGKILL');
                waitUntilDead(pid);
              }
              return tally;
            },
          };
        },
      };
    };
    const scan = runScan([opener(victim.pid, true), opener(survivor.pid, false)], { pageSize, settings: DEFAULT_KSM_SETTINGS });
    expect(scan.sources.map((s) => s.info.pid)).toEqual([survivor.pid]);
    expect(scan.skipped).toHaveLength(1);
    expect(scan.skipped[0]?.pid).toBe(victim.pid);
    expect(scan.skipped[0]?.reason).toMatch(/exited during the scan|unmapped during the scan/);
    // The survivor's pages are all there, the victim's are not counted.
    expect(scan.model.content.byProcess.resident[0]).toBeGreaterThanOrEqual(64);
  });

});

/** Until the process is a zombie or gone: its memory is released by then. */
function waitUntilDead(pid: number): void {
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    let stat = '';
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      return;
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return;
  }
}
