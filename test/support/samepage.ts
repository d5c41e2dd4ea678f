// Runs the built samepage command the way a user does, and parses its JSON report.
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Report } from '../../src/report/report.js';

const BIN = fileURLToPath(new URL('../../bin/samepage.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function runSamepage(args: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Scans with --json and returns the report; fails with samepage's stderr when it exits with an error. */
export async function scanJson(args: string[]): Promise<{ report: Report; run: Run }> {
  const run = await runSamepage(['scan', '--json', '--no-progress', ...args]);
  if (run.code !== 0 && run.code !== 1) throw new Error(`samepage exited ${run.code}: ${run.stderr}`);
  return { report: JSON.parse(run.stdout) as Report, run };
}

export function pidArgs(pids: readonly number[]): string[] {
  return pids.flatMap((p) => ['--pid', String(p)]);
}

export interface RawRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs samepage with `input` written to its standard input (a pipe; closed at once when there
 * is none), keeping standard output as bytes. Killed with SIGKILL after the timeout.
 */
export function runSamepageRaw(args: string[], opts: { input?: Buffer; timeoutMs?: number } = {}): Promise<RawRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // samepage may exit before it reads everything: that is its answer, not a test failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? Buffer.alloc(0));
    child.once('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr, elapsedMs: Date.now() - started }));
  });
}

/** The path of the samepage command, for a test that runs it its own way (a shell pipeline...). */
export const SAMEPAGE_BIN = BIN;
