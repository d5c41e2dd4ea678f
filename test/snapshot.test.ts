// samepage snapshot, then samepage report: the live scan's numbers, exactly.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from './support/fixtures.js';
import { pidArgs, runSamepage, scanJson } from './support/samepage.js';
import type { Report } from '../src/report/report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-snapshot-'));
afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

/** The report without what differs between two runs by nature: time, and where pages came from. */
function comparable(r: Report): unknown {
  const c = structuredClone(r) as Partial<Report> & { totals: Report['totals']; ksm: Report['ksm']; processes: Report['processes'] };
  delete c.createdAt;
  c.totals.elapsedMs = 0;
  c.totals.stagesMs = { regions: 0, read: 0, sort: 0, model: 0 };
  c.totals.peakRssBytes = 0;
  c.totals.indexBytes = 0; // capacity: sized from smaps live, from the records in a snapshot
  c.ksm.runNow = null;
  for (const p of c.processes) {
    p.source = '';
    p.file = null;
    p.origin = 'live';
  }
  c.caveats = (c.caveats ?? []).filter((x) => !x.startsWith('snapshot figures'));
  return c;
}

describe('snapshots', () => {
  it('snapshot then report reproduces the live scan exactly, at most 16 bytes per resident page', async () => {
    const a = await startPagefill(['anon:600:seq=1', 'anon:200:zero', 'readonly:50', 'shared:30:seq=1', 'fork:2']);
    const b = await startPagefill(['anon:600:seq=1', 'anon:100:cycle=4,7', 'filepriv:20:seq=2']);
    const pids = [a.pid, ...a.childPids, b.pid];
    const live = await scanJson(pidArgs(pids));
    const file = join(dir, 'host.snap');
    const snap = await runSamepage(['snapshot', ...pidArgs(pids), '-o', file]);
    expect(snap.code, snap.stderr).toBe(0);
    expect(snap.stdout).toMatch(/wrote .*host\.snap: 4 processes/);
    const replay = await runSamepage(['report', file, '--json']);
    expect(replay.code, replay.stderr).toBe(0);
    const fromSnapshot = JSON.parse(replay.stdout) as Report;

    expect(comparable(fromSnapshot)).toEqual(comparable(live.report));
    // Fork-shared pages are still recognised from the snapshot: RAM freed is not inflated.
    expect(fromSnapshot.estimate.ramFreedPages).toBe(live.report.estimate.ramFreedPages);

    // Size: 16 bytes per resident page, plus metadata (the header and the shared frames).
    const size = statSync(file).size;
    const pages = live.report.totals.residentPages;
    expect(size).toBeLessThan(pages * 16 + 256 * 1024);
    // Written atomically: nothing else is left in the folder.
    expect(readdirSync(dir)).toEqual(['host.snap']);

    // The what-if flags apply to a snapshot too.
    const whatIf = await runSamepage(['report', file, '--json', '--use-zero-pages', '1']);
    const z = JSON.parse(whatIf.stdout) as Report;
    expect(z.estimate.counters.ksm_zero_pages).toBeGreaterThanOrEqual(200);
  });

  it('a corrupt or truncated snapshot is a clear error naming the file', async () => {
    const a = await startPagefill(['anon:50:seq=1']);
    const good = join(dir, 'good.snap');
    expect((await runSamepage(['snapshot', '--pid', String(a.pid), '-o', good])).code).toBe(0);
    const bytes = readFileSync(good);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated.snap', bytes.subarray(0, bytes.length - 100), /truncated\.snap: truncated/],
      ['header.snap', bytes.subarray(0, 20), /header\.snap: truncated \(header\)/],
      ['garbage.snap', Buffer.concat([bytes.subarray(0, 12), Buffer.from('{not json')]), /garbage\.snap: (corrupt header|truncated)/],
      ['empty.snap', Buffer.alloc(0), /empty\.snap: neither a samepage snapshot nor an ELF core/],
    ];
    for (const [name, content, message] of cases) {
      const file = join(dir, name);
      writeFileSync(file, content);
      const run = await runSamepage(['report', file]);
      expect(run.code, name).toBe(2);
      expect(run.stderr, name).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      rmSync(file);
    }
    const missing = await runSamepage(['report', join(dir, 'nope.snap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.snap: cannot open: ENOENT/);
    rmSync(good);
  });
});

describe('report mixes sources', () => {
  it('a snapshot, a core and a live process in one report, each with its origin', async () => {
    const a = await startPagefill(['anon:64:seq=21', 'anon:16:byte=3']);
    const snapFile = join(dir, 'mixed.snap');
    expect((await runSamepage(['snapshot', '--pid', String(a.pid), '-o', snapFile])).code).toBe(0);
    const b = await startPagefill(['anon:64:seq=21']);
    const sample = fileURLToPath(new URL('../samples/service-a.core.zst', import.meta.url));
    const run = await runSamepage(['report', snapFile, sample, '--pid', String(b.pid), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.processes.map((p) => p.origin).sort()).toEqual(['core', 'live', 'snapshot']);
    // Each row says which file it comes from, as given.
    expect(report.processes.map((p) => p.file).sort()).toEqual([sample, snapFile, null].sort());
    // The live process repeats the snapshot's 64 pages: duplicates across the two sources
    // (counted on whichever side comes second in frame order).
    const across = report.processes.filter((p) => p.origin !== 'core').reduce((n, p) => n + p.dupAcrossProcesses, 0);
    expect(across).toBeGreaterThanOrEqual(64);
    expect(report.caveats.join(' ')).toMatch(/content-only upper bound/);
    rmSync(snapFile);
  });
});
