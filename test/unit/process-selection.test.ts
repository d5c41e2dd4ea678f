// How processes are named and chosen: the command line as /proc gives it (NUL-separated, or
// rewritten as one string), Chromium's process types, /proc/PID/stat with a command that holds
// ") ", and --tree, --pid and --name resolved against the user's own child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chromiumProcessType, splitCmdline } from '../../src/source/process-naming.js';
import { ownLineage, readProcessStatus } from '../../src/live/process-info.js';
import { descendants, selectProcesses, type Selection } from '../../src/live/select.js';
import type { ProcessInfo } from '../../src/source/memory-source.js';
import { UserError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-select-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a child and waits until /proc shows it running `command` (after its exec). */
async function start(file: string, args: string[], command: string): Promise<number> {
  const child = spawn(file, args, { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid as number;
  for (let i = 0; i < 200 && readProcessStatus(pid)?.info.command !== command; i++) await new Promise((r) => setTimeout(r, 10));
  expect(readProcessStatus(pid)?.info.command).toBe(command);
  return pid;
}

/** The pids of pid's children, as the kernel lists them. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter((c) => c !== '').map(Number);
}

const nothing: Selection = { pids: [], names: [], trees: [], chromium: false, chromiumAll: false, all: false };

describe('splitCmdline', () => {
  it('splits at NULs, drops the final one, keeps empty arguments', () => {
    expect(splitCmdline('/usr/bin/sleep\u000060\u0000')).toEqual(['/usr/bin/sleep', '60']);
    expect(splitCmdline('a\u0000\u0000b\u0000')).toEqual(['a', '', 'b']);
    expect(splitCmdline('single\u0000')).toEqual(['single']);
  });

  it('splits at spaces a command line the process rewrote as one string', () => {
    expect(splitCmdline('postgres: checkpointer  ')).toEqual(['postgres:', 'checkpointer']);
  });

  it('is empty for no command line (a kernel thread, a zombie)', () => {
    expect(splitCmdline('')).toEqual([]);
    expect(splitCmdline('\u0000')).toEqual([]);
  });
});

describe('chromiumProcessType', () => {
  const chromium = '/usr/lib/chromium/chromium';
  it('is the --type= switch', () => {
    expect(chromiumProcessType('chromium', [chromium, '--type=renderer', '--lang=en'])).toBe('renderer');
    expect(chromiumProcessType('chrome', ['/opt/google/chrome/chrome', '--type=gpu-process'])).toBe('gpu-process');
    expect(chromiumProcessType('electron', ['/usr/lib/electron/electron', '--type=zygote'])).toBe('zygote');
  });

  it("says a utility's sub-type, and only a utility's", () => {
    expect(chromiumProcessType('chromium', [chromium, '--type=utility', '--utility-sub-type=network.mojom.NetworkService'])).toBe('utility:network.mojom.NetworkService');
    expect(chromiumProcessType('chromium', [chromium, '--type=utility'])).toBe('utility');
    expect(chromiumProcessType('chromium', [chromium, '--utility-sub-type=x', '--type=renderer'])).toBe('renderer');
  });

  it('is "browser" for a Chromium executable without --type, by its path or, with no command line, its name', () => {
    expect(chromiumProcessType('chromium', [chromium, '--no-sandbox'])).toBe('browser');
    expect(chromiumProcessType('headless_shell', ['/opt/chrome/headless_shell'])).toBe('browser');
    expect(chromiumProcessType('msedge', ['/opt/microsoft/msedge/msedge'])).toBe('browser');
    expect(chromiumProcessType('chrome', [])).toBe('browser');
  });

  it('is null for anything else', () => {
    expect(chromiumProcessType('bash', ['/bin/bash', '-c', 'chromium --type=renderer'])).toBeNull();
    expect(chromiumProcessType('node', ['/usr/bin/node', 'bin/samepage.js', 'scan', '--chromium'])).toBeNull();
    expect(chromiumProcessType('chromedriver', ['/usr/bin/chromedriver'])).toBeNull();
    expect(chromiumProcessType('bash', [])).toBeNull();
  });
});

describe('readProcessStatus', () => {
  it('reads a command that holds ") (" and the fields after it, the ppid, the command line', async () => {
    // comm is the executable's name: a link to sleep whose name looks like the end of comm.
    const odd = join(dir, 'a) b (c');
    symlinkSync('/bin/sleep', odd);
    const pid = await start(odd, ['60'], 'a) b (c');
    const status = readProcessStatus(pid);
    expect(status?.kernelThread).toBe(false);
    expect(['R', 'S']).toContain(status?.state);
    expect(status?.info).toEqual({ pid, ppid: process.pid, command: 'a) b (c', cmdline: `${odd} 60`, chromiumType: null });
  });

  it('is null for a pid that is gone', () => {
    expect(readProcessStatus(2 ** 22 + 1)).toBeNull();
  });

  it("ownLineage: this process and every one above it, up to pid 1", () => {
    const lineage = ownLineage(process.pid);
    expect(lineage.has(process.pid)).toBe(true);
    expect(lineage.has(process.ppid)).toBe(true);
    expect(lineage.has(1) || [...lineage].some((p) => readProcessStatus(p)?.info.ppid === 0)).toBe(true);
  });
});

describe('descendants', () => {
  const info = (pid: number, ppid: number | null): { info: ProcessInfo } => ({ info: { pid, ppid, command: `p${pid}`, cmdline: '', chromiumType: null } });

  it('is the process, then its children and theirs, breadth first, by ppid', () => {
    const all = [info(13, 11), info(1, 0), info(10, 1), info(11, 10), info(20, 1), info(12, 10), info(14, 13)];
    expect(descendants(all, 10).map((p) => p.info.pid)).toEqual([10, 11, 12, 13, 14]);
    expect(descendants(all, 13).map((p) => p.info.pid)).toEqual([13, 14]);
    expect(descendants(all, 20).map((p) => p.info.pid)).toEqual([20]);
  });

  it('still finds the children of a process that is not in the list (it exited)', () => {
    expect(descendants([info(11, 10), info(12, 10), info(13, 11)], 10).map((p) => p.info.pid)).toEqual([11, 12, 13]);
  });
});

describe('selectProcesses, on the tests own children', () => {
  it('--tree: a shell and the two processes it started, all named', async () => {
    const sh = await start('sh', ['-c', 'sleep 60 & sleep 60 & wait'], 'sh');
    for (let i = 0; i < 200 && childrenOf(sh).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const kids = childrenOf(sh);
    expect(kids).toHaveLength(2);
    const { processes, notScanned } = selectProcesses({ ...nothing, trees: [sh] }, process.pid);
    expect(processes.map((p) => p.info.pid)).toEqual([sh, ...kids].sort((a, b) => a - b));
    expect(processes.every((p) => p.named)).toBe(true);
    expect(notScanned).toEqual([]);
  });

  it('--pid of samepage itself: nothing to scan, and why', () => {
    let err: unknown;
    try {
      selectProcesses({ ...nothing, pids: [process.pid] }, process.pid);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(new RegExp(`^nothing to scan: pid ${process.pid} \\([^)]*\\): samepage itself$`));
  });

  it('a pid that is gone is a note beside a process that is there, the whole answer alone', async () => {
    const pid = await start('sleep', ['60'], 'sleep');
    const gone = 2 ** 22 + 1;
    const { processes, notScanned } = selectProcesses({ ...nothing, pids: [pid, gone] }, process.pid);
    expect(processes.map((p) => p.info.pid)).toEqual([pid]);
    expect(notScanned).toEqual([{ pid: gone, source: `pid ${gone}`, reason: 'no such process (it exited, or never was)', permissionDenied: false, kind: 'exited', affectsExit: false }]);
    expect(() => selectProcesses({ ...nothing, pids: [gone] }, process.pid)).toThrow(`no process with pid ${gone}`);
  });

  it('refuses a --name that is not a regular expression, and a --tree of no process', () => {
    expect(() => selectProcesses({ ...nothing, names: ['(unclosed'] }, process.pid)).toThrow(/^--name: not a valid regular expression: \(unclosed \(/);
    expect(() => selectProcesses({ ...nothing, trees: [2 ** 22 + 1] }, process.pid)).toThrow(`--tree: no process with pid ${2 ** 22 + 1}`);
  });

  it("never selects its own process chain by a pattern, even one its own command matches", () => {
    const command = readProcessStatus(process.pid)?.info.command ?? '';
    expect(command).not.toBe('');
    const word = command.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const chain = ownLineage(process.pid);
    let selected: number[] = [];
    try {
      selected = selectProcesses({ ...nothing, names: [`^${word}$`] }, process.pid).processes.map((p) => p.info.pid);
    } catch (err) {
      expect((err as Error).message).toMatch(/^(no process matches the selection|nothing to scan: )/);
    }
    expect(selected.filter((p) => chain.has(p))).toEqual([]);
  });
});
