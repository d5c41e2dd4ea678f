// The command line itself: help, version, completion and usage errors (no process is read).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runSamepage } from '../support/samepage.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const samples = ['service-a.core.zst', 'service-b.core.zst'].map((f) => fileURLToPath(new URL(`../../samples/${f}`, import.meta.url)));

describe('usage', () => {
  it('--help, -h, help and help COMMAND print the commands and options, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await runSamepage(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^samepage \[scan\] \[options\]/);
      for (const command of ['scan', 'snapshot', 'report', 'verify', 'help', 'completion']) expect(r.stdout).toContain(`samepage ${command}`);
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
      [['scan', '--format', 'xml', '--all'], "--format takes table, plain, json, markdown, csv or html, not 'xml'"],
      [['scan', '--json', '--format', 'csv', '--all'], '--json is --format json: it does not combine with --format csv'],
      [['scan', '--sort', 'size', '--all'], "--sort takes freed, resident, anonymous, swapped, dup-within, dup-across, merging, pid, command or source, not 'size'"],
    ];
    for (const [args, message] of cases) {
      const r = await runSamepage(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(`samepage: ${message}\nTry 'samepage --help'.\n`);
      expect(r.stdout).toBe('');
    }
  });
});

describe('--format, --output and --sort', () => {
  it('every format goes to stdout without --output; --output writes the same to a file', async () => {
    for (const format of ['table', 'plain', 'markdown', 'csv', 'html']) {
      const out = await runSamepage(['report', ...samples, '--format', format, '--sort', 'pid']);
      expect(out.code, out.stderr).toBe(0);
      const file = join(dir, `report.${format}`);
      const written = await runSamepage(['report', ...samples, '--format', format, '--sort', 'pid', '--output', file]);
      expect(written.code, written.stderr).toBe(0);
      expect(written.stdout).toBe(`samepage: wrote ${file} (${format})\n`);
      // The table's elapsed time may differ by a tenth of a second between two runs.
      const noTime = (t: string): string => t.replace(/scanned in [\d.]+ s/, '').replace(/"createdAt":"[^"]+"|"(elapsedMs|peakRssBytes)":\d+|"stagesMs":\{[^}]*\}|at \d{4}-\d\d-\d\dT[\d:.]+Z/g, '');
      expect(noTime(readFileSync(file, 'utf8'))).toBe(noTime(out.stdout));
    }
    // Written whole, then renamed: no temporary file is left.
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    const json = await runSamepage(['report', ...samples, '--format', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ schemaVersion: 2 });
  });

  it('the csv has one row per process, ordered by --sort', async () => {
    const r = await runSamepage(['report', ...samples, '--format', 'csv', '--sort', 'pid']);
    const lines = r.stdout.trimEnd().split('\r\n');
    expect(lines).toHaveLength(3);
    const pids = lines.slice(1).map((l) => Number(l.split(',')[1]));
    expect(pids).toEqual([...pids].sort((a, b) => a - b));
  });

  it('--output refuses what is not a regular file: a symlink, a device', async () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'keep');
    const link = join(dir, 'link');
    symlinkSync(target, link);
    const viaLink = await runSamepage(['report', ...samples, '--output', link]);
    expect(viaLink.code).toBe(2);
    expect(viaLink.stderr).toMatch(/^samepage: cannot write .*link: it is a symbolic link to .*target; samepage writes only a regular file or a new path/);
    expect(viaLink.stdout).toBe(''); // refused before any work
    expect(readFileSync(target, 'utf8')).toBe('keep');
    const device = await runSamepage(['report', ...samples, '-o', '/dev/null']);
    expect(device.code).toBe(2);
    expect(device.stderr).toMatch(/^samepage: cannot write \/dev\/null: it is a character device/);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });
});
