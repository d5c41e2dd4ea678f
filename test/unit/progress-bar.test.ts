// The progress bar: on a terminal only, its line always finished, so that Ctrl-C in the middle
// of a (synchronous) read leaves the shell's prompt on a line of its own. (Ctrl-C during a real
// scan of a large process: test/system/progress-bar.test.ts.)
import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../../src/reporters/progress-bar.js';

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
});
