// The progress bar: its line always finished, so that Ctrl-C in the middle of a (synchronous)
// read leaves the shell's prompt on a line of its own, here during a real scan of a 1 GiB
// process under script(1). The bar's drawing: test/unit/progress-bar.test.ts.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';

afterAll(stopAllFixtures);

const BIN = fileURLToPath(new URL('../../bin/samepage.js', import.meta.url));

describe('progress bar', () => {
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
