// The progress bar: on a terminal only, its line always finished, so that Ctrl-C in the middle
// of a (synchronous) read leaves the shell's prompt on a line of its own.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { terminalProgress } from '../src/reporters/progress-bar.js';
import { startPagefill, stopAllFixtures } from './support/fixtures.js';

afterAll(stopAllFixtures);

const BIN = fileURLToPath(new URL('../bin/samepage.js', import.meta.url));

function terminal(columns = 80): { writes: string[]; isTTY: true; columns: number; write(t: string): void } {
  const writes: string[] = [];
  return { writes, isTTY: true, columns, write: (t: string) => void writes.push(t) };
}

describe('progress bar', () => {
  it('is only for a terminal', () => {
    expect(terminalProgress({ isTTY: false, write: () => undefined })).toBeUndefined();
  });

  it('ends every drawing with a newline, redraws the line above, and erases itself at the end', async () => {
    const t = terminal(60);
    const bar = terminalProgress(t, true);
    bar?.start(100 * 1048576);
    bar?.advance(50 * 1048576);
    await new Promise((r) => setTimeout(r, 120));
    bar?.advance(10 * 1048576);
    expect(t.writes.length).toBeGreaterThanOrEqual(2);
    for (const w of t.writes) expect(w.endsWith('\n')).toBe(true);
    expect(t.writes[0]).toMatch(/^\r\u001b\[2Kscanning \[ +\] 0\/100 MiB 0%\n$/);
    expect(t.writes[1]).toMatch(/^\u001b\[1A\r\u001b\[2Kscanning \[=+ +\] 60\/100 MiB 60% \d+s left\n$/);
    // Never wider than the terminal: a wrapped line would leave the cursor elsewhere.
    for (const w of t.writes) expect(w.replace(/^(\u001b\[1A)?\r\u001b\[2K/, '').trimEnd().length).toBeLessThan(60);
    bar?.finish();
    expect(t.writes.at(-1)).toBe('\u001b[1A\r\u001b[2K');
  });

  it('Ctrl-C in the middle of a scan leaves the bar on a finished line', async () => {
    const target = await startPagefill(['anon:262144:byte=9']);
    // A terminal for stderr (util-linux script); the JavaScript reader, slow enough to interrupt.
    const shell = `echo PID $$; SAMEPAGE_NO_NATIVE=1 exec '${process.execPath}' '${BIN}' scan --json --pid ${target.pid} >/dev/null`;
    const child = spawn('script', ['-qfec', shell, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const done = new Promise<void>((resolve) => child.once('close', () => resolve()));
    for (const until = Date.now() + 20_000; !out.includes('scanning [') && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    const pid = Number(/PID (\d+)/.exec(out)?.[1]);
    expect(out).toContain('scanning [');
    process.kill(pid, 'SIGINT');
    await done;
    // The last drawing of the bar, then the end of its line, and nothing after it.
    const last = out.slice(out.lastIndexOf('scanning ['));
    expect(last).toMatch(/^scanning \[[^\n]*\r?\n$/);
  });
});
