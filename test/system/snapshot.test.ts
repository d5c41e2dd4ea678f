// samepage snapshot, then samepage report: the live scan's numbers, exactly. And the files
// around it: what -o may replace and when it says no, signals during the write, checksums
// over every byte, standard output and input, and what a snapshot's scan could not read.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { hostname, release, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures, type Fixture } from './support/fixtures.js';
import { SAMEPAGE_BIN, pidArgs, runSamepage, runSamepageRaw, scanJson } from './support/samepage.js';
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
  delete c.inputs; // the files read: none for a live scan
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

const MiB = 1 << 20;

/** A fresh directory under the test's own for one test. */
function subdir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A pid no process has now: a child that has exited and been reaped. */
function freePid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim());
}

/** No stack trace, and every line is samepage's own. */
function expectCleanMessages(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at |internal error|TypeError|RangeError/);
  for (const line of stderr.split('\n').filter((l) => l !== '')) expect(line).toMatch(/^samepage: /);
}

/**
 * A snapshot's layout, read the way docs and snapshot-format.ts describe it: magic, u32 header
 * length, header, padding to 8, page records, frame records, checksum table, 24-byte trailer.
 */
function layoutOf(bytes: Buffer): { header: { pageRecords: number; frameRecords: number; createdAt: string }; records: number; frames: number; table: number; trailer: number } {
  expect(bytes.toString('latin1', 0, 8)).toBe('SPSNAP02');
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as { pageRecords: number; frameRecords: number; createdAt: string };
  const records = Math.ceil((12 + headerLength) / 8) * 8;
  const frames = records + header.pageRecords * 16;
  const trailer = bytes.length - 24;
  const table = bytes.readUInt32LE(trailer) + bytes.readUInt32LE(trailer + 4) * 2 ** 32;
  expect(table).toBe(frames + header.frameRecords * 16);
  expect(trailer - table).toBe(Math.ceil(table / MiB) * 8);
  expect(bytes.toString('latin1', trailer + 16)).toBe('SPSNEND2');
  return { header, records, frames, table, trailer };
}

/** The checksum block that holds `offset`, as the error names it. */
function blockOf(offset: number, table: number): string {
  const start = Math.floor(offset / MiB) * MiB;
  return `bytes ${start}-${Math.min(start + MiB, table) - 1}`;
}

function flipped(bytes: Buffer, ...offsets: number[]): Buffer {
  const copy = Buffer.from(bytes);
  for (const o of offsets) copy[o] = (copy[o] as number) ^ 0x01;
  return copy;
}

/**
 * A process whose snapshot has several checksum blocks and frame records (fork-shared pages,
 * as root), and whose write lasts long enough to be caught: 3 x 70000 page records.
 */
let big: Promise<Fixture> | undefined;
function bigFixture(): Promise<Fixture> {
  big ??= startPagefill(['anon:70000:uniq', 'fork:2']);
  return big;
}

describe('snapshot files: every byte checked', () => {
  it('a flipped byte anywhere, a cut or appended bytes: report fails, naming the file and where', async () => {
    const a = await bigFixture();
    const d = subdir('corrupt');
    const good = join(d, 'good.snap');
    const snap = await runSamepage(['snapshot', '--no-progress', ...pidArgs([a.pid, ...a.childPids]), '-o', good]);
    expect(snap.code, snap.stderr).toBe(0);
    const bytes = readFileSync(good);
    const l = layoutOf(bytes);
    expect(l.header.frameRecords).toBeGreaterThan(0);
    expect(l.table).toBeGreaterThan(2 * MiB); // several blocks
    const ok = await runSamepage(['report', good, '--json']);
    expect(ok.code, ok.stderr).toBe(0);

    const mid = l.records + 16 * Math.floor((l.frames - l.records) / 32); // a page record in the middle
    // The case: 500 flipped bytes in the page records gave 199 MiB instead of 200.
    const many = Array.from({ length: 500 }, (_, i) => l.records + Math.floor(((l.frames - l.records) * i) / 500));
    const cases: Array<[string, Buffer, RegExp | string]> = [
      ['magic', flipped(bytes, 0), /neither a samepage snapshot nor an ELF core/],
      ['format number', flipped(bytes, 7), /snapshot format 3 was written by a newer samepage/],
      ['header length', flipped(bytes, 9), `corrupt: checksum mismatch in bytes 0-${MiB - 1}`],
      ['header', flipped(bytes, 12 + 40), `corrupt: checksum mismatch in bytes 0-${MiB - 1}`],
      ['first page record', flipped(bytes, l.records), `corrupt: checksum mismatch in ${blockOf(l.records, l.table)}`],
      ['a page record', flipped(bytes, mid + 3), `corrupt: checksum mismatch in ${blockOf(mid + 3, l.table)}`],
      ['500 page-record bytes', flipped(bytes, ...many), `corrupt: checksum mismatch in ${blockOf(l.records, l.table)}`],
      ['a frame record', flipped(bytes, l.frames + 17), `corrupt: checksum mismatch in ${blockOf(l.frames + 17, l.table)}`],
      ['last byte before the table', flipped(bytes, l.table - 1), `corrupt: checksum mismatch in ${blockOf(l.table - 1, l.table)}`],
      ['checksum table', flipped(bytes, l.table + 3), /corrupt: checksum mismatch in the checksum table/],
      ['trailer: table offset', flipped(bytes, l.trailer + 1), /corrupt: the trailer puts the checksum table at byte \d+, which does not fit/],
      ['trailer: table checksum', flipped(bytes, l.trailer + 9), /corrupt: checksum mismatch in the checksum table/],
      ['trailer: magic', flipped(bytes, l.trailer + 20), /corrupt or truncated: it does not end with a snapshot trailer/],
      ['cut by one byte', bytes.subarray(0, bytes.length - 1), /corrupt or truncated/],
      ['cut in the middle', bytes.subarray(0, Math.floor(bytes.length / 2)), /corrupt or truncated/],
      ['cut after the header length', bytes.subarray(0, 12), /truncated: 12 bytes/],
      ['one byte appended', Buffer.concat([bytes, Buffer.from([0])]), /corrupt or truncated/],
      ['a page of zeros appended', Buffer.concat([bytes, Buffer.alloc(4096)]), /corrupt or truncated/],
      ['the file twice', Buffer.concat([bytes, bytes]), /corrupt: the trailer puts the checksum table/],
      ['empty', Buffer.alloc(0), /empty: neither a samepage snapshot nor an ELF core dump/],
    ];
    for (const [what, content, message] of cases) {
      const file = join(d, 'bad.snap');
      writeFileSync(file, content);
      const r = await runSamepage(['report', file]);
      expect(r.code, what).toBe(2);
      expect(r.stdout, what).toBe('');
      expect(r.stderr, what).toMatch(new RegExp(`^samepage: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      if (typeof message === 'string') expect(r.stderr, what).toContain(message);
      else expect(r.stderr, what).toMatch(message);
      expectCleanMessages(r.stderr);
    }
    const missing = await runSamepage(['report', join(d, 'nope.snap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.snap: cannot open: no such file or directory \(ENOENT\)/);
  });

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

  it('an output that cannot be created fails before the scan, with the reason in words', async () => {
    const a = await startPagefill(['anon:16:seq=42']);
    const d = subdir('early');
    // A pid that does not exist would be the error had the scan started first.
    const gone = freePid();
    const missing = await runSamepage(['snapshot', '--no-progress', '--pid', String(gone), '-o', join(d, 'no-such-dir', 'x.snap')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`samepage: cannot write ${join(d, 'no-such-dir', 'x.snap')}: ${join(d, 'no-such-dir')}: no such file or directory (ENOENT)\n`);
    const real = await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', join(d, 'no-such-dir', 'x.snap')]);
    expect(real.code).toBe(2);
    expect(real.stdout).toBe('');
    expect(real.stderr).not.toMatch(/wrote|warning/);
    const notDir = await runSamepage(['snapshot', '--no-progress', '--pid', String(gone), '-o', join(d, '..', 'corrupt-not-there', 'x', 'y.snap')]);
    expect(notDir.code).toBe(2);
    expect(notDir.stderr).toMatch(/no such file or directory \(ENOENT\)/);

    // Not allowed to create files there: a user without rights in a root-owned directory.
    const locked = subdir('locked');
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o755);
    const denied = await runAs(65534, ['snapshot', '--no-progress', '--pid', String(gone), '-o', join(locked, 'x.snap')]);
    expect(denied.code).toBe(2);
    expect(denied.stderr).toMatch(/^samepage: cannot write .*locked\/x\.snap: .*locked: permission denied \(EACCES\)\n$/m);

    // A read-only file system (a tmpfs mounted read-only here, when this machine lets root mount).
    const ro = subdir('ro');
    if (!tryMount(['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro])) return;
    try {
      const r = await runSamepage(['snapshot', '--no-progress', '--pid', String(gone), '-o', join(ro, 'x.snap')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`samepage: cannot write ${join(ro, 'x.snap')}: ${ro}: read-only file system (EROFS)\n`);
    } finally {
      execFileSync('umount', [ro]);
    }
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

  it('SIGINT, SIGTERM or SIGHUP during the write: no temp file left, the old file intact, death by that signal', async () => {
    const a = await bigFixture();
    const d = subdir('signals');
    const target = join(d, 'host.snap');
    const old = Buffer.from('the previous snapshot');
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      let caught = false;
      for (let attempt = 0; attempt < 5 && !caught; attempt++) {
        writeFileSync(target, old);
        const r = await interruptWrite(pidArgs([a.pid, ...a.childPids]), target, signal);
        expect(readdirSync(d), signal).toEqual(['host.snap']);
        if (!r.inWindow) continue; // the write was over before the stop landed: try again
        caught = true;
        expect(r.signal, `${signal}: ${r.stderr}`).toBe(signal);
        const now = readFileSync(target);
        // Only a signal that lands during the rename itself finds the new file in place, whole.
        if (!now.equals(old)) expect((await runSamepage(['report', target])).code).toBe(0);
        else expect(now.equals(old)).toBe(true);
      }
      expect(caught, `${signal}: never caught the write under way`).toBe(true);
    }
  });

  it('a full file system: the error in words, and no temp file left', async () => {
    const a = await startPagefill(['anon:2048:seq=44']);
    const small = subdir('full');
    if (!tryMount(['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', small])) return;
    try {
      const target = join(small, 'x.snap');
      const r = await runSamepage(['snapshot', '--no-progress', '--pid', String(a.pid), '-o', target]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^samepage: cannot write ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no space left on device \\(ENOSPC\\)$`, 'm'));
      expect(readdirSync(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
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
    const sample = fileURLToPath(new URL('../samples/service-a.core.zst', import.meta.url));
    const mixed = JSON.parse((await runSamepage(['report', file, sample, '--json'])).stdout) as Report;
    expect(mixed.inputs.map((i) => [i.kind, i.createdAt === null, i.hostname === null])).toEqual([
      ['snapshot', false, false],
      ['core', true, true],
    ]);
  });

  it("what its scan did not read, and the exit status it gave, come back in the report", async () => {
    const a = await startPagefill(['anon:32:seq=62']);
    const d = subdir('skips');
    chmodSync(dir, 0o755);
    chmodSync(d, 0o777);

    // A pid that had exited: listed, not a failure (exit 0 both times).
    const gone = freePid();
    const file = join(d, 'gone.snap');
    const snap = await runSamepage(['snapshot', '--no-progress', ...pidArgs([a.pid, gone]), '-o', file]);
    expect(snap.code, snap.stderr).toBe(0);
    const r = await runSamepage(['report', file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.skipped).toEqual([expect.objectContaining({ pid: gone, source: `pid ${gone} in gone.snap`, kind: 'exited', affectsExit: false })]);
    expect(r.stderr).toContain(`samepage: not scanned: pid ${gone} in gone.snap: no such process`);

    // Taken by a user who may read its own process but not root's: the denial made that
    // snapshot partial (exit 1), and makes its report partial too, with the denial listed.
    const own = spawn('sleep', ['120'], { uid: 65534, gid: 65534, stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const denied = join(d, 'denied.snap');
      const taken = await runAs(65534, ['snapshot', '--no-progress', ...pidArgs([own.pid as number, a.pid]), '-o', denied]);
      expect(taken.code, taken.stderr).toBe(1);
      expect(taken.stderr).toMatch(new RegExp(`skipped no permission to read the memory of pid ${a.pid}`));
      for (const args of [[denied, '--json'], [denied]]) {
        const rep = await runSamepage(['report', ...args]);
        expect(rep.code, rep.stderr).toBe(1);
        if (args.includes('--json')) {
          const j = JSON.parse(rep.stdout) as Report;
          expect(j.partial).toBe(true);
          expect(j.processes.map((p) => p.pid)).toEqual([own.pid]);
          expect(j.skipped).toEqual([expect.objectContaining({ pid: a.pid, source: `pid ${a.pid} (pagefill) in denied.snap`, kind: 'denied', permissionDenied: true, affectsExit: true })]);
        } else {
          expect(rep.stdout).toMatch(new RegExp(`skipped no permission to read the memory of pid ${a.pid}`));
        }
      }
    } finally {
      own.kill('SIGKILL');
    }
  });
});

/** Runs samepage as another user (setpriv), as `nobody` runs it. */
function runAs(uid: number, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, SAMEPAGE_BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** mount(8) as root; false (and a note) where this machine does not let the test mount. */
function tryMount(args: string[]): boolean {
  const r = spawnSync('mount', args);
  if (r.status === 0) return true;
  console.log(`[mount] cannot mount here (${r.stderr.toString().trim()}): that part is not run`);
  return false;
}

/**
 * Starts a snapshot and, the moment its temp file appears, stops the process (SIGSTOP) where it
 * is: if the temp file still exists then, the write is under way. Then sends `signal` and lets
 * it go on (SIGCONT).
 */
async function interruptWrite(selection: string[], target: string, signal: NodeJS.Signals): Promise<{ inWindow: boolean; signal: NodeJS.Signals | null; stderr: string }> {
  const d = dirname(target);
  const prefix = `.${basename(target)}.tmp-`;
  const child = spawn(process.execPath, [SAMEPAGE_BIN, 'snapshot', '--no-progress', ...selection, '-o', target], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let stopped = false;
  let inWindow = false;
  const watcher = watch(d, (_event, name) => {
    if (stopped || name === null || !name.startsWith(prefix) || child.exitCode !== null || child.signalCode !== null) return;
    stopped = true;
    const pid = child.pid as number;
    process.kill(pid, 'SIGSTOP');
    // kill(2) returns before the process is stopped: wait until it is, then look.
    const deadline = Date.now() + 5_000;
    while (!isStopped(pid) && Date.now() < deadline);
    inWindow = isStopped(pid) && existsSync(join(d, name));
    process.kill(pid, signal);
    process.kill(pid, 'SIGCONT');
  });
  const died = await new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_code, sig) => resolve(sig)));
  watcher.close();
  return { inWindow, signal: died, stderr };
}

/** The process is stopped (state T in /proc/PID/stat). */
function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2) === 'T';
  } catch {
    return false;
  }
}
