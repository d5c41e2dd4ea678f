// samepage snapshot, then samepage report, on the user's own processes (no root needed): the
// live scan's numbers, exactly. And the files around it: what -o may replace and when it says
// no, standard output and input, inputs that are not files, what a snapshot remembers of when
// and where it was taken. What needs root (frame records of fork-shared pages, another user,
// mount) or a large process: test/system/snapshot.test.ts; the format itself, on files written
// from its description: test/unit/snapshot-format.test.ts.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, release, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { SAMEPAGE_BIN, pidArgs, runSamepage, runSamepageRaw, scanJson } from '../support/samepage.js';
import { layoutOf } from '../support/snapshot-file.js';
import type { Report } from '../../src/report/report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-snapshot-'));
afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

/** The report without what differs between two runs by nature: time, and where pages came from. */
function comparable(r: Report): unknown {
  const c = structuredClone(r) as Partial<Report> & { totals: Report['totals']; ksm: Report['ksm']; processes: Report['processes'] };
  delete c.createdAt;
  delete c.inputs; // the files read: none for a live scan
  c.totals.elapsedMs = 0;
  c.totals.stagesMs = { regions: 0, read: 0, sort: 0, model: 0 };
  c.totals.peakRssBytes = 0;
  c.totals.indexBytes = 0; // capacity: sized from smaps live, from the records in a snapshot
  c.ksm.runNow = null;
  delete c.timing; // KSM's pace now: a live scan's, none in a report of files
  for (const p of c.processes) {
    p.source = '';
    p.file = null;
    p.origin = 'live';
  }
  c.caveats = (c.caveats ?? []).filter((x) => !x.startsWith('snapshot figures'));
  return c;
}

/** A fresh directory under the test's own for one test. */
function subdir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** No stack trace, and every line is samepage's own. */
function expectCleanMessages(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at |internal error|TypeError|RangeError/);
  for (const line of stderr.split('\n').filter((l) => l !== '')) expect(line).toMatch(/^samepage: /);
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
    // As root, fork-shared pages are recognised from the snapshot's frame records: RAM freed is
    // not inflated. As another user the kernel hides frame numbers from the live scan and the
    // snapshot alike: both give the same upper bound.
    expect(fromSnapshot.estimate.ramFreedPages).toBe(live.report.estimate.ramFreedPages);
    expect(fromSnapshot.host.pfnsVisible).toBe(live.report.host.pfnsVisible);
    if (live.report.host.pfnsVisible) expect(layoutOf(readFileSync(file)).header.frameRecords).toBeGreaterThan(0);

    // Size: 16 bytes per resident page, plus metadata (the header and the shared frames).
    const size = statSync(file).size;
    const pages = live.report.totals.residentPages;
    expect(size).toBeLessThan(pages * 16 + 256 * 1024);
    // Written atomically: nothing else is left in the folder.
    expect(readdirSync(dir)).toEqual(['host.snap']);

    // The what-if flags apply to a snapshot as to the live scan. As root, the 200 zero-filled
    // pages are frames of their own (not the zero page): use_zero_pages maps them to the zero page.
    const whatIf = await runSamepage(['report', file, '--json', '--use-zero-pages', '1']);
    const z = JSON.parse(whatIf.stdout) as Report;
    const liveWhatIf = await scanJson([...pidArgs(pids), '--use-zero-pages', '1']);
    expect(comparable(z)).toEqual(comparable(liveWhatIf.report));
    if (live.report.host.pfnsVisible) expect(z.estimate.counters.ksm_zero_pages).toBeGreaterThanOrEqual(200);
  });
});

describe('report mixes sources', () => {
  it('a snapshot, a core and a live process in one report, each with its origin', async () => {
    const a = await startPagefill(['anon:64:seq=21', 'anon:16:byte=3']);
    const snapFile = join(dir, 'mixed.snap');
    expect((await runSamepage(['snapshot', '--pid', String(a.pid), '-o', snapFile])).code).toBe(0);
    const b = await startPagefill(['anon:64:seq=21']);
    const sample = fileURLToPath(new URL('../../samples/service-a.core.zst', import.meta.url));
    const run = await runSamepage(['report', snapFile, sample, '--pid', String(b.pid), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.processes.map((p) => p.origin).sort()).toEqual(['core', 'live', 'snapshot']);
    // Each row says which file it comes from, as given.
    expect(report.processes.map((p) => p.file).sort()).toEqual([sample, snapFile, null].sort());
    // The live process repeats the snapshot's 64 pages: duplicates across the two sources
    // (half a page on each side: docs/estimate.md, section 9).
    const across = report.processes.filter((p) => p.origin !== 'core').reduce((n, p) => n + p.dupAcrossProcesses, 0);
    expect(across).toBeGreaterThanOrEqual(64);
    expect(report.caveats.join(' ')).toMatch(/content-only upper bound/);
    rmSync(snapFile);
  });
});

describe('snapshot files', () => {
  it('a format-1 file, and a file of a newer format, say so', async () => {
    const d = subdir('formats');
    const old = join(d, 'old.snap');
    // What samepage 0.1 wrote: its magic, a header length, a header.
    const header = Buffer.from(JSON.stringify({ format: 1, pageRecords: 0, frameRecords: 0 }));
    const prefix = Buffer.alloc(12);
    prefix.write('SPSNAP01', 'latin1');
    prefix.writeUInt32LE(header.length, 8);
    writeFileSync(old, Buffer.concat([prefix, header, Buffer.alloc(4)]));
    const r = await runSamepage(['report', old]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`samepage: ${old}: snapshot format 1 (an earlier samepage) is no longer read: take the snapshot again with this samepage\n`);
    const newer = join(d, 'newer.snap');
    writeFileSync(newer, Buffer.concat([Buffer.from('SPSNAP17', 'latin1'), Buffer.alloc(100)]));
    const n = await runSamepage(['report', newer]);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/newer\.snap: snapshot format 17 was written by a newer samepage \(this one reads format 2\)/);
  });
});

describe('snapshot -o: what it writes to', () => {
  it('refuses a device, a symbolic link, a FIFO and a directory, and leaves each as it was', async () => {
    const a = await startPagefill(['anon:16:seq=41']);
    const d = subdir('targets');
    const target = join(d, 'real.snap');
    writeFileSync(target, 'not to be touched');
    const link = join(d, 'link.snap');
    symlinkSync(target, link);
    const fifo = join(d, 'fifo.snap');
    execFileSync('mkfifo', [fifo]);
    const cases: Array<[string, RegExp]> = [
      ['/dev/null', /^samepage: cannot write \/dev\/null: it is a character device; samepage writes only a regular file or a new path/],
      ['/dev/full', /^samepage: cannot write \/dev\/full: it is a character device/],
      [link, /cannot write .*link\.snap: it is a symbolic link to .*real\.snap/],
      [fifo, /cannot write .*fifo\.snap: it is a FIFO/],
      [d, /cannot write .*targets: it is a directory/],
    ];
    for (const [output, message] of cases) {
      const r = await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', output], { timeoutMs: 20_000 });
      expect(r.code, output).toBe(2);
      expect(r.stderr, output).toMatch(message);
      expect(r.stdout, output).toBe('');
      expectCleanMessages(r.stderr);
    }
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(statSync('/dev/full').isCharacterDevice()).toBe(true);
    expect(readdirSync('/dev').filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(target);
    expect(readFileSync(target, 'utf8')).toBe('not to be touched');
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(d).sort()).toEqual(['fifo.snap', 'link.snap', 'real.snap']);
  });

  it("keeps the replaced file's mode; a new file is 0600", async () => {
    const a = await startPagefill(['anon:16:seq=43']);
    const d = subdir('modes');
    const existing = join(d, 'shared.snap');
    writeFileSync(existing, 'old');
    chmodSync(existing, 0o640);
    const r = await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', existing]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(existing).mode & 0o777).toBe(0o640);
    expect(readFileSync(existing).subarray(0, 8).toString('latin1')).toBe('SPSNAP02');
    const fresh = join(d, 'new.snap');
    expect((await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', fresh])).code).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    expect(readdirSync(d).sort()).toEqual(['new.snap', 'shared.snap']);
  });
});

describe("'-': standard output and standard input", () => {
  it('snapshot -o - | report - gives what report FILE gives', async () => {
    const a = await startPagefill(['anon:300:seq=51', 'anon:40:zero', 'fork:1']);
    const pids = [a.pid, ...a.childPids];
    const piped = await runSamepageRaw(['snapshot', '--no-progress', ...pidArgs(pids), '-o', '-']);
    expect(piped.code, piped.stderr).toBe(0);
    // What is said about the snapshot goes to stderr: stdout is the snapshot, nothing else.
    expect(piped.stderr).toMatch(/^samepage: wrote standard output: 2 processes, [\d,]+ resident pages/m);
    layoutOf(piped.stdout);
    const file = join(subdir('stdio'), 'piped.snap');
    writeFileSync(file, piped.stdout);
    const fromFile = await runSamepage(['report', file, '--json']);
    const fromStdin = await runSamepageRaw(['report', '-', '--json'], { input: piped.stdout });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    const f = JSON.parse(fromFile.stdout) as Report;
    const s = JSON.parse(fromStdin.stdout.toString()) as Report;
    expect(comparable(s)).toEqual(comparable(f));
    expect(s.inputs).toEqual([{ ...f.inputs[0], file: '-' }]);
    expect(s.processes.map((p) => p.source)).toEqual(f.processes.map((p) => p.source.replace('in piped.snap', 'in stdin')));

    // As a user types it, through a shell: two samepage processes joined by a pipe, and a redirection.
    const q = (x: string): string => `'${x.replace(/'/g, "'\\''")}'`;
    const sp = `${q(process.execPath)} ${q(SAMEPAGE_BIN)}`;
    const pipeline = await shell(`${sp} snapshot --no-progress --pid ${a.pid} -o - | ${sp} report - --json`);
    expect(pipeline.code, pipeline.stderr).toBe(0);
    expect((JSON.parse(pipeline.stdout) as Report).processes.map((p) => p.pid)).toEqual([a.pid]);
    const redirected = await shell(`${sp} report - --json < ${q(file)}`);
    expect(redirected.code, redirected.stderr).toBe(0);
    expect(comparable(JSON.parse(redirected.stdout) as Report)).toEqual(comparable(f));
    // Nothing of standard input's copy is left in the temp directory.
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('.samepage-stdin-'))).toEqual([]);
  });

  it('refuses a terminal, and says what standard input is when it is neither a pipe nor a file', async () => {
    const a = await startPagefill(['anon:8:seq=52']);
    const empty = await runSamepageRaw(['report', '-']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('samepage: stdin: empty: neither a samepage snapshot nor an ELF core dump\n');
    const devNull = await shell(`'${process.execPath}' '${SAMEPAGE_BIN}' report - < /dev/null`);
    expect(devNull.code).toBe(2);
    expect(devNull.stderr).toMatch(/^samepage: standard input is a character device/);
    const twice = await runSamepageRaw(['report', '-', '-']);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/can be read only once/);
    // A terminal, from script(1)'s pseudo-terminal.
    if (spawnSync('script', ['--version']).status !== 0) return;
    const out = await shell(`script -qec "'${process.execPath}' '${SAMEPAGE_BIN}' snapshot --no-progress --pid ${a.pid} -o -" /dev/null < /dev/null`);
    expect(out.code).toBe(2);
    expect(out.stdout).toMatch(/samepage: cannot write to standard output: it is a terminal/);
    const inp = await shell(`script -qec "'${process.execPath}' '${SAMEPAGE_BIN}' report -" /dev/null < /dev/null`);
    expect(inp.code).toBe(2);
    expect(inp.stdout).toMatch(/samepage: standard input is a terminal/);
  });

  it('a FIFO, a socket, a device or a directory as input is refused at once, never waited on', async () => {
    const d = subdir('inputs');
    const fifo = join(d, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const sock = join(d, 'sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      const cases: Array<[string, RegExp]> = [
        [fifo, /fifo: is a FIFO: samepage reads snapshots and cores from regular files; for a pipe use 'samepage report -'$/m],
        [sock, /sock: is a socket: samepage reads snapshots and cores from regular files/],
        ['/dev/zero', /\/dev\/zero: is a character device: samepage reads snapshots and cores from regular files$/m],
        [d, /inputs: is a directory: samepage reads snapshots and cores from regular files$/m],
      ];
      for (const [file, message] of cases) {
        const r = await runSamepageRaw(['report', file], { timeoutMs: 15_000 });
        expect(r.signal, `${file}: still running after 15 s`).toBe(null);
        expect(r.code, file).toBe(2);
        expect(r.stderr, file).toMatch(message);
        expect(r.elapsedMs, file).toBeLessThan(10_000);
      }
    } finally {
      server.close();
    }
  });
});

describe('what a snapshot remembers of its scan', () => {
  it('when and where it was taken: inputs[] in the JSON, a line in the table', async () => {
    const a = await startPagefill(['anon:32:seq=61']);
    const file = join(subdir('inputs-meta'), 'when.snap');
    expect((await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', file])).code).toBe(0);
    const { header } = layoutOf(readFileSync(file));
    await new Promise((r) => setTimeout(r, 20)); // the report's own time differs from the snapshot's
    const r = await runSamepage(['report', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.inputs).toEqual([{ file, kind: 'snapshot', createdAt: header.createdAt, hostname: hostname(), kernel: release() }]);
    expect(report.createdAt).not.toBe(header.createdAt);
    const table = await runSamepage(['report', file]);
    // The table wraps a long line at the terminal's width, indenting what follows.
    expect(table.stdout.replace(/\n +/g, ' ')).toContain(`snapshot ${file}: taken ${header.createdAt} on host ${hostname()} (Linux ${release()})`);
    // A core says nothing of when or where: null.
    const sample = fileURLToPath(new URL('../../samples/service-a.core.zst', import.meta.url));
    const mixed = JSON.parse((await runSamepage(['report', file, sample, '--json'])).stdout) as Report;
    expect(mixed.inputs.map((i) => [i.kind, i.createdAt === null, i.hostname === null])).toEqual([
      ['snapshot', false, false],
      ['core', true, true],
    ]);
  });
});

function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}
