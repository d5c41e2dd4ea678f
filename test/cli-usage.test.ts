// The command line itself: help, version, completion and usage errors (no process is read).
import { describe, expect, it } from 'vitest';
import { runSamepage } from './support/samepage.js';

describe('usage', () => {
  it('--help, -h, help and help COMMAND print the commands and options, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await runSamepage(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^samepage \[scan\] \[options\]/);
      for (const command of ['scan', 'snapshot', 'report', 'help', 'completion']) expect(r.stdout).toContain(`samepage ${command}`);
      expect(r.stdout).toMatch(/Exit status: 0 /);
      expect(r.stderr).toBe('');
    }
    const snapshot = await runSamepage(['help', 'snapshot']);
    expect(snapshot.code).toBe(0);
    expect(snapshot.stdout).toMatch(/^samepage snapshot -o FILE/);
    expect(snapshot.stdout).toMatch(/-o, --output/);
    const report = await runSamepage(['report', '--help']);
    expect(report.stdout).toMatch(/^samepage report FILE\.\.\./);
    expect(report.stdout).toMatch(/--max-page-sharing/);
  });

  it('--version and -V print the version alone', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runSamepage([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    }
  });

  it('completion prints a shell script; the script asks samepage for the words', async () => {
    const script = await runSamepage(['completion']);
    expect(script.code).toBe(0);
    expect(script.stdout).toMatch(/complete .* samepage/);
    expect(script.stdout).toContain('samepage --get-yargs-completions');
    const commands = await runSamepage(['--get-yargs-completions', 'samepage', '']);
    expect(commands.stdout.split('\n')).toEqual(expect.arrayContaining(['scan', 'snapshot', 'report']));
    const flags = await runSamepage(['--get-yargs-completions', 'samepage', 'report', '--']);
    expect(flags.stdout.split('\n')).toEqual(expect.arrayContaining(['--pid', '--max-page-sharing', '--json']));
  });

  it('a usage error is one line, then where to look, exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [['frobnicate'], "unknown command 'frobnicate'"],
      [['help', 'frobnicate'], "unknown command 'frobnicate'"],
      [['scan', '--bogus'], "unknown option '--bogus'"],
      [['scan', '-x'], "unknown option '-x'"],
      [['scan', '--pid'], '--pid needs a value'],
      [['scan', '--pid', '3', '4'], "unexpected argument '4'"],
      [['scan', '--threads', '9'], "--threads takes a whole number from 1 to 8, not '9'"],
      [['scan', '--top', '0'], "--top takes a whole number of at least 1, not '0'"],
      [['report'], 'report needs at least one snapshot or core file'],
      [['snapshot', '--all'], 'snapshot needs -o FILE, the file to write'],
      [['scan', '--no-progress=3', '--all'], '--no-progress takes no value'],
    ];
    for (const [args, message] of cases) {
      const r = await runSamepage(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(`samepage: ${message}\nTry 'samepage --help'.\n`);
      expect(r.stdout).toBe('');
    }
  });
});
