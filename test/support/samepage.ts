// Runs the built samepage command the way a user does, and parses its JSON report.
import { execFile } from 'node:child_process';
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
