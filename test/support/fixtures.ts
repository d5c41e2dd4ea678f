// Test fixtures: small C programs (test/fixtures/*.c) compiled at test time, and the
// pagefill process that holds pages of known content for KSM tests.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const READY_TIMEOUT_MS = 20_000;

export interface Fixture {
  /** The pagefill process. */
  pid: number;
  /** Its children from fork:K, in fork order. */
  childPids: number[];
  /** SIGKILLs the process and its children, and waits until they are gone. */
  stop(): Promise<void>;
}

let buildDir: string | undefined;
const builds = new Map<string, Promise<string>>();
const running = new Set<ChildProcess>();

/** Compiles test/fixtures/<name>.c once per test process; returns the binary's path. */
export function buildFixture(name: string): Promise<string> {
  let build = builds.get(name);
  if (!build) {
    build = compile(name);
    builds.set(name, build);
    // A failed build is not cached, so the next caller sees the compiler error again.
    build.catch(() => builds.delete(name));
  }
  return build;
}

async function compile(name: string): Promise<string> {
  if (!/^[\w-]+$/.test(name)) throw new Error(`bad fixture name: ${name}`);
  buildDir ??= mkdtempSync(join(tmpdir(), 'samepage-fixtures-'));
  const source = fileURLToPath(new URL(`../fixtures/${name}.c`, import.meta.url));
  const binary = join(buildDir, name);
  try {
    await execFileAsync('cc', ['-O2', '-Wall', '-o', binary, source]);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`cc failed for ${name}.c: ${String(err)}\n${stderr}`);
  }
  return binary;
}

/**
 * Starts pagefill with the given ops (see test/fixtures/pagefill.c) and resolves once it has
 * written every page and printed its ready line.
 */
export async function startPagefill(ops: string[], opts: { prefix?: string[]; binary?: string } = {}): Promise<Fixture> {
  const binary = opts.binary ?? (await buildFixture('pagefill'));
  // A prefix that execs its last argument (setpriv --reuid=...) keeps the pid: the ready line still names it.
  const [command, ...args] = [...(opts.prefix ?? []), binary, ...ops] as [string, ...string[]];
  // detached: its own process group, so one kill(-pgid) reaches the forked children too.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  child.once('error', () => running.delete(child)); // Never started: nothing to stop.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });

  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));

  const ready = await new Promise<number[]>((resolve, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child);
      reject(new Error(`pagefill ${ops.join(' ')}: ${why}\nstderr: ${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('error', (err) => fail(`could not start: ${err.message}`));
    // 'close' rather than 'exit': it comes after stderr has been read to the end.
    child.once('close', (code, signal) => fail(`exited before ready (code ${code}, signal ${signal})`));
    child.stdout?.on('data', (chunk: string) => {
      stdout += chunk;
      const line = /^ready((?: \d+)+)\n/m.exec(stdout);
      if (settled || !line?.[1]) return;
      settled = true;
      clearTimeout(timer);
      resolve(line[1].trim().split(' ').map(Number));
    });
  });

  const [pid, ...childPids] = ready;
  if (pid === undefined || pid !== child.pid) {
    killGroup(child);
    throw new Error(`pagefill: unexpected ready line: ${stdout}`);
  }

  return {
    pid,
    childPids,
    async stop() {
      killGroup(child);
      await exited;
      // The children are reaped by init, not by us: wait until they no longer hold memory.
      await Promise.all(childPids.map((p) => waitGone(p)));
    },
  };
}

/** Stops every pagefill still running (for afterAll). */
export async function stopAllFixtures(): Promise<void> {
  const waits = [...running].map(
    (child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      killGroup(child);
    }),
  );
  await Promise.all(waits);
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Resolves when pid has exited (no /proc entry, or a zombie whose memory is freed). */
async function waitGone(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return;
    }
    // State is the field after "(comm)"; comm may itself contain ") ".
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`pagefill child ${pid} still alive ${timeoutMs} ms after SIGKILL`);
}

// A crashed or aborted test must leave no pagefill behind: on exit, and on the SIGTERM with
// which vitest ends its workers (or Ctrl-C). If this process is killed outright, pagefill
// notices by itself: it gets SIGTERM through PR_SET_PDEATHSIG.
function cleanupSync(): void {
  for (const child of running) killGroup(child);
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  buildDir = undefined;
}

process.once('exit', cleanupSync);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    cleanupSync();
    process.kill(process.pid, signal); // Die of the signal, as without this listener.
  });
}
