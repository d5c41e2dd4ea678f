// Hostile conditions: processes that are not what they seem (kernel threads, zombies, samepage's
// own wrappers), processes that die while they are read, signals, users without rights. Each
// case checks the exit status, the message, and that nothing is left behind: no stack trace, no
// target changed. Numbers past the kernel's limits: test/unit/cli-errors.test.ts.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { pidArgs, runSamepage, scanJson, type Run } from '../support/samepage.js';
import { seededUint32 } from '../support/rng.js';
import type { Report } from '../../src/report/report.js';

const BIN = fileURLToPath(new URL('../../bin/samepage.js', import.meta.url));

afterAll(stopAllFixtures);

function expectCleanMessages(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  expect(stderr).not.toMatch(/internal error|TypeError|RangeError|Error:/);
  for (const line of stderr.split('\n').filter((l) => l !== '')) expect(line).toMatch(/^samepage: /);
}

function run(command: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<Run & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as { code?: unknown; signal?: NodeJS.Signals | null } | null;
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

function asNobody(args: string[]): Promise<Run> {
  return run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args]);
}

/** A pid no process has now: a child that has exited and been reaped. */
function freePid(): number {
  const child = spawnSync('sh', ['-c', 'echo $$']);
  return Number(child.stdout.toString().trim());
}

function state(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return null;
  }
}

describe('processes with nothing to read are not failures', () => {
  it('--pid 2 (kthreadd) is a kernel thread, not a process that exited: exit 2, says so', async () => {
    const r = await runSamepage(['scan', '--pid', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^samepage: nothing to scan: pid 2 \([^)]*\): a kernel thread/);
    expect(r.stderr).not.toMatch(/exited/);
    expectCleanMessages(r.stderr);
  });

  it('--tree 2 finds kthreadd and its children, all kernel threads: exit 2, no "no process"', async () => {
    const r = await runSamepage(['scan', '--tree', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^samepage: nothing to scan: \d+ processes \(pid 2 .*\): a kernel thread/);
    expectCleanMessages(r.stderr);
  });

  it('a zombie in --tree is listed as not scanned and leaves the exit status 0', async () => {
    // The shell's child exits at once; the shell then becomes sleep, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 60'], { stdio: 'ignore' });
    try {
      const pid = parent.pid as number;
      let zombie: number | undefined;
      for (let i = 0; i < 100 && zombie === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter((c) => c !== '').map(Number);
        zombie = children.find((c) => state(c) === 'Z');
      }
      expect(zombie, 'the fixture made no zombie').toBeDefined();
      const { report, run: r } = await scanJson(['--tree', String(pid)]);
      expect(r.code, r.stderr).toBe(0);
      expect(report.processes.map((p) => p.pid)).toEqual([pid]);
      expect(report.partial).toBe(false);
      const z = report.skipped.find((k) => k.pid === zombie);
      expect(z).toMatchObject({ kind: 'zombie', affectsExit: false });
      expect(r.stderr).toMatch(/not scanned: pid \d+ \(sleep\): a zombie/);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('one vanished pid among several --pid is a note; the others are reported, exit 0', async () => {
    const a = await startPagefill(['anon:16:seq=1']);
    const gone = freePid();
    const { report, run: r } = await scanJson(['--pid', String(a.pid), '--pid', String(gone)]);
    expect(r.code, r.stderr).toBe(0);
    expect(report.processes.map((p) => p.pid)).toEqual([a.pid]);
    expect(report.skipped).toEqual([expect.objectContaining({ pid: gone, kind: 'exited', affectsExit: false })]);
    expect(r.stderr).toMatch(new RegExp(`not scanned: pid ${gone}: no such process`));
    // Alone, a pid that does not exist is the whole answer: exit 2.
    const alone = await runSamepage(['scan', '--pid', String(gone)]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toBe(`samepage: no process with pid ${gone}\n`);
  });

  it('--all exits 0 on a machine where some processes exit, and lists what it did not scan with the reason', async () => {
    // Short-lived processes appear and vanish during the scan, as on any busy host.
    const churn = spawn('sh', ['-c', 'while :; do sleep 0.01 & sleep 0.01; done'], { stdio: 'ignore', detached: true });
    try {
      for (let i = 0; i < 2; i++) {
        const { report, run: r } = await scanJson(['--all']);
        expect(r.code, r.stderr).toBe(0);
        expect(report.partial).toBe(false);
        expectCleanMessages(r.stderr);
        for (const k of report.skipped) {
          expect(k.affectsExit).toBe(false);
          expect(['exited', 'zombie', 'self', 'denied', 'failed']).toContain(k.kind);
        }
        // samepage itself is never scanned, and says so.
        expect(report.processes.map((p) => p.command)).not.toContain('samepage');
        expect(report.skipped.some((k) => k.kind === 'self' && k.reason === 'samepage itself')).toBe(true);
      }
    } finally {
      process.kill(-(churn.pid as number), 'SIGKILL');
    }
  });
});

describe("samepage's own process chain is never selected", () => {
  it('--name under timeout: the wrapper whose command line holds the pattern is not scanned', async () => {
    const a = await startPagefill(['anon:8:seq=5']);
    // timeout's command line contains "pagefill": a plain match would scan timeout (and node).
    const r = await run('timeout', ['60', process.execPath, BIN, 'scan', '--json', '--no-progress', '--name', 'pagefill']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.processes.map((p) => p.pid)).toContain(a.pid);
    expect(report.processes.map((p) => p.command)).not.toContain('timeout');
    expect(report.processes.map((p) => p.command)).not.toContain('node');
  });

  it('a pattern that matches only samepage and its wrappers matches nothing: exit 2', async () => {
    const r = await run('timeout', ['60', process.execPath, BIN, 'scan', '--name', 'no-such-process-7f3a']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('samepage: no process matches the selection\n');
  });
});

describe('without rights', () => {
  it('not root, --all: exit 3, the advice once, no stack trace', async () => {
    const r = await asNobody(['scan', '--all', '--no-progress']);
    expect(r.code).toBe(3);
    expectCleanMessages(r.stderr);
    expect(r.stderr.match(/run samepage as root/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/no permission to read the memory of \d+ processes/);
  });

  it('as root, a denial does not tell root to become root; it says what denies it', async () => {
    // pid 1 of a sandbox is often protected even from root: probe what this machine does.
    const r = await runSamepage(['scan', '--json', '--no-progress', '--pid', '1']);
    if (r.code === 0) {
      console.log('[pid 1] readable by root here: the denial branch does not run on this machine');
      expect((JSON.parse(r.stdout) as Report).processes.map((p) => p.pid)).toEqual([1]);
      return;
    }
    console.log(`[pid 1] denied to root here: ${r.stderr.trim()}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^samepage: no permission to read the memory of pid 1 .*even as root: /);
    expect(r.stderr).not.toMatch(/sudo|run samepage as root/);
    expectCleanMessages(r.stderr);
  });
});

describe('targets killed while they are read', () => {
  it('20 kills at random moments of the scan: exit 0, the survivor whole, the victim read whole or listed as exited', async () => {
    const next = seededUint32(20261202);
    const rng = (): number => next() / 0x1_0000_0000;
    const survivor = await startPagefill(['anon:2048:seq=3']);
    // Time one scan of a victim, so the kills land inside the read.
    const probe = await startPagefill(['anon:131072:byte=7']);
    const t0 = Date.now();
    await scanJson(pidArgs([probe.pid, survivor.pid]));
    const scanMs = Date.now() - t0;
    await probe.stop();
    const outcomes = { read: 0, exited: 0 };
    for (let i = 0; i < 20; i++) {
      const victim = await startPagefill(['anon:131072:byte=7']);
      const child = spawn(process.execPath, [BIN, 'scan', '--json', '--no-progress', ...pidArgs([victim.pid, survivor.pid])], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      await new Promise((r) => setTimeout(r, Math.floor(rng() * scanMs)));
      process.kill(victim.pid, 'SIGKILL');
      const code = await done;
      expect(code, stderr).toBe(0);
      expectCleanMessages(stderr);
      const report = JSON.parse(stdout) as Report;
      const s = report.processes.find((p) => p.pid === survivor.pid);
      expect(s?.residentPages).toBeGreaterThanOrEqual(2048);
      const v = report.processes.find((p) => p.pid === victim.pid);
      if (v !== undefined) {
        outcomes.read++;
        expect(v.residentPages).toBeGreaterThanOrEqual(131072);
      } else {
        outcomes.exited++;
        expect(report.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ pid: victim.pid, kind: 'exited', affectsExit: false })]));
      }
      expect(report.partial).toBe(false);
      await victim.stop();
    }
    console.log(`[kills] scan of the victim took ${scanMs} ms; read whole ${outcomes.read}, exited ${outcomes.exited}`);
    expect(outcomes.exited).toBeGreaterThan(0);
  });
});

describe('signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-scan ends samepage at once, with the signal's status, and leaves the target as it was`, async () => {
      const target = await startPagefill(['anon:262144:byte=9']);
      const child = spawn(process.execPath, [BIN, 'scan', '--json', '--no-progress', '--pid', String(target.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const done = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => child.once('close', (code, sig) => resolve({ code, sig })));
      await new Promise((r) => setTimeout(r, 250));
      const sentAt = Date.now();
      child.kill(signal);
      const { code, sig } = await done;
      expect(Date.now() - sentAt).toBeLessThan(5000);
      expect(sig === signal || code === 128 + (signal === 'SIGINT' ? 2 : 15)).toBe(true);
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(state(target.pid)).not.toBeNull();
      expect(state(target.pid)).not.toBe('T');
    });
  }
});
