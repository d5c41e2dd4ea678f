// Bad input: a clear one-line message and a non-zero exit, never a stack trace. (The errors of a
// live scan, which need root: test/system/cli-errors.test.ts.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { runSamepage, scanJson } from '../support/samepage.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-cli-errors-'));

afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

function expectOneCleanLine(stderr: string): void {
  expect(stderr).toMatch(/^samepage: /);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  expect(stderr).not.toMatch(/Error:/);
}

function expectCleanMessages(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at /); // no stack frames
  expect(stderr).not.toMatch(/internal error|TypeError|RangeError|Error:/);
  for (const line of stderr.split('\n').filter((l) => l !== '')) expect(line).toMatch(/^samepage: /);
}

describe('bad input', () => {
  it("a pid past the kernel's pid_max", async () => {
    const run = await runSamepage(['scan', '--pid', '999999999']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^samepage: --pid takes a whole number from 1 to \d+ \(this kernel's pid_max is \d+\), not '999999999'\n/);
  });

  it('unknown and conflicting flags', async () => {
    for (const args of [['scan', '--bogus'], ['scan', '--all', '--pid', '1'], ['scan', '--use-zero-pages', '7', '--pid', '1'], ['scan', '--pid', 'abc'], ['scan']]) {
      const run = await runSamepage(args);
      expect(run.code, args.join(' ')).toBe(2);
      expectOneCleanLine(run.stderr);
    }
  });
});

describe('issue 12: sampling, timing and verify flags', () => {
  it('refuse what cannot be done, in one line, exit 2', async () => {
    const notReport = join(dir, 'not-a-report.json');
    writeFileSync(notReport, '{"hello": 1}');
    for (const args of [
      ['scan', '--pid', '1', '--interval', '0'],
      ['scan', '--pid', '1', '--samples', '3'],
      ['scan', '--pid', '1', '--interval', '1', '--samples', '1'],
      ['scan', '--pid', '1', '--sleep-ms', 'x'],
      ['scan', '--pid', '1', '--advisor', 'fast'],
      ['report', notReport, '--interval', '5'],
      ['verify', join(dir, 'missing.json')],
      ['verify', notReport],
      ['verify'],
    ]) {
      const run = await runSamepage(args);
      expect(run.code, args.join(' ')).toBe(2);
      expectOneCleanLine(run.stderr);
    }
  });
});

describe('numbers within the kernel limits', () => {
  it('refuses --max-page-sharing past INT_MAX and pids past pid_max, with exit 2', async () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    for (const args of [
      ['--max-page-sharing', '99999999999'],
      ['--max-page-sharing', '2147483648'],
      ['--max-page-sharing', '1'],
      ['--pid', String(pidMax)],
      ['--tree', '99999999999'],
    ]) {
      const r = await runSamepage(['scan', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^samepage: --[\w-]+ takes a whole number from \d+ to \d+/);
    }
    const a = await startPagefill(['anon:4:byte=1']);
    const { report } = await scanJson(['--pid', String(a.pid), '--max-page-sharing', '2147483647']);
    expect(report.ksm.maxPageSharing).toBe(2147483647);
  });

  it('a corrupt ELF header prints its offset as the exact integer, not a rounded float', async () => {
    const eh = Buffer.alloc(64);
    eh.writeUInt32BE(0x7f454c46, 0);
    eh[4] = 2; // ELFCLASS64
    eh[5] = 1; // little-endian
    eh[6] = 1;
    eh.writeUInt16LE(4, 16); // ET_CORE
    eh.writeUInt16LE(62, 18); // x86_64
    eh.writeBigUInt64LE(0xffff_ffff_ffff_fff0n, 32); // e_phoff
    eh.writeUInt16LE(64, 52);
    eh.writeUInt16LE(56, 54);
    eh.writeUInt16LE(1, 56);
    const file = join(dir, 'bad-phoff.core');
    writeFileSync(file, eh);
    const r = await runSamepage(['report', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('18446744073709551600');
    expect(r.stderr).not.toMatch(/\d\.\d+e\+|18446744073709552000/);
    expectCleanMessages(r.stderr);
  });
});
