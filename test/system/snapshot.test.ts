// samepage snapshot and report where it takes root or a large process: checksums over every
// byte of a file with frame records (fork-shared pages, as root) and several blocks, what -o
// says when another user may not write or the file system is read-only or full (mount), signals
// during the write of a large snapshot, and what a snapshot's scan could not read (another
// user's snapshot). The round trip on the user's own processes: test/unit/snapshot.test.ts.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures, type Fixture } from '../support/fixtures.js';
import { SAMEPAGE_BIN, pidArgs, runSamepage } from '../support/samepage.js';
import { MiB, blockOf, flipped, layoutOf } from '../support/snapshot-file.js';
import type { Report } from '../../src/report/report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-snapshot-'));
afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

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
});

describe('snapshot -o: what it writes to', () => {
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

describe('what a snapshot remembers of its scan', () => {
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
