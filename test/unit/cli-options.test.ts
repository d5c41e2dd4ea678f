// The command line's own checks, below yargs (src/cli/): whole numbers within limits, yargs'
// messages in samepage's words, flags that take no value, selections that do not combine, and
// the report flags' defaults. The whole command, run as a user runs it: cli-usage.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { INT_MAX, pidNumber, wholeNumber } from '../../src/cli/numbers.js';
import { DASH, checkFlagsTakeNoValue, reportFlagsOf, selectionOf, undash } from '../../src/cli/options.js';
import { UsageError, usageErrorOf } from '../../src/cli/usage-error.js';

/** The message of the UsageError `f` throws. */
function usage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no UsageError');
}

describe('wholeNumber', () => {
  it('takes decimal digits within the limits, the limits included', () => {
    expect(wholeNumber('2', '--max-page-sharing', 2, INT_MAX)).toBe(2);
    expect(wholeNumber(String(INT_MAX), '--max-page-sharing', 2, INT_MAX)).toBe(INT_MAX);
    expect(wholeNumber('007', '--top', 1)).toBe(7);
    expect(wholeNumber(String(Number.MAX_SAFE_INTEGER), '--top', 1)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses what Number() would take but a user did not mean: signs, exponents, hex, spaces, fractions', () => {
    for (const value of ['', '+7', '-1', '1e3', '0x10', ' 7', '7 ', '3.0', '٣', 'Infinity', '9007199254740993']) {
      expect(usage(() => wholeNumber(value, '--top', 1)), JSON.stringify(value)).toBe(`--top takes a whole number of at least 1, not '${value}'`);
    }
  });

  it('says the range, and why when there is a reason', () => {
    expect(usage(() => wholeNumber('9', '--threads', 1, 8))).toBe("--threads takes a whole number from 1 to 8, not '9'");
    expect(usage(() => wholeNumber('2147483648', '--max-page-sharing', 2, INT_MAX, ' (the kernel takes a C int)'))).toBe(
      "--max-page-sharing takes a whole number from 2 to 2147483647 (the kernel takes a C int), not '2147483648'",
    );
  });

  it("pidNumber: up to pid_max - 1, and says this kernel's pid_max", () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));
    expect(pidNumber(String(pidMax - 1), '--pid')).toBe(pidMax - 1);
    expect(usage(() => pidNumber(String(pidMax), '--tree'))).toBe(`--tree takes a whole number from 1 to ${pidMax - 1} (this kernel's pid_max is ${pidMax}), not '${pidMax}'`);
    expect(usage(() => pidNumber('0', '--pid'))).toMatch(/^--pid takes a whole number from 1 to /);
  });
});

describe("usageErrorOf: yargs' messages in samepage's words", () => {
  it('an unknown option as typed (long, with a value, short); a word nobody asked for', () => {
    expect(usageErrorOf('Unknown argument: bogus', ['scan', '--bogus']).message).toBe("unknown option '--bogus'");
    expect(usageErrorOf('Unknown argument: bogus', ['scan', '--bogus=3']).message).toBe("unknown option '--bogus'");
    expect(usageErrorOf('Unknown arguments: x, y', ['scan', '-x', '-y']).message).toBe("unknown option '-x'");
    expect(usageErrorOf('Unknown argument: 4', ['scan', '--pid', '3', '4']).message).toBe("unexpected argument '4'");
  });

  it('a flag without its value, with one dash or two', () => {
    expect(usageErrorOf('Not enough arguments following: pid', ['scan', '--pid']).message).toBe('--pid needs a value');
    expect(usageErrorOf('Not enough arguments following: o', ['snapshot', '-o']).message).toBe('-o needs a value');
  });

  it('any other message: its first line, lower case first', () => {
    expect(usageErrorOf('Something went wrong\nat line 2', []).message).toBe('something went wrong');
  });
});

describe('flags and selections', () => {
  it('a flag that takes no value refuses one, up to "--"', () => {
    expect(usage(() => checkFlagsTakeNoValue(['scan', '--all=yes']))).toBe('--all takes no value');
    expect(usage(() => checkFlagsTakeNoValue(['report', 'a.snap', '--json=false']))).toBe('--json takes no value');
    expect(() => checkFlagsTakeNoValue(['scan', '--all', '--pid=3', '--format=csv'])).not.toThrow();
    expect(() => checkFlagsTakeNoValue(['report', '--', '--all=yes'])).not.toThrow();
  });

  it('--all combines with no other selection', () => {
    const none = { pid: [], tree: [], name: [] };
    expect(selectionOf({ ...none, all: true })).toEqual({ pids: [], names: [], trees: [], chromium: false, chromiumAll: false, all: true });
    for (const other of [{ pid: [3] }, { tree: [3] }, { name: ['x'] }, { chromium: true }, { 'chromium-all': true }]) {
      expect(usage(() => selectionOf({ ...none, all: true, ...other })), JSON.stringify(other)).toBe('--all scans every process: it does not combine with --pid, --name, --tree or --chromium');
    }
    expect(selectionOf({ pid: [3, 4], name: ['^x$'], tree: [9], chromium: true })).toEqual({ pids: [3, 4], names: ['^x$'], trees: [9], chromium: true, chromiumAll: false, all: false });
  });

  it('the report flags: their defaults, --json as --format json, an empty --output refused', () => {
    expect(reportFlagsOf({})).toEqual({ format: 'table', output: null, sort: 'freed', useZeroPages: undefined, maxPageSharing: undefined, top: 40 });
    expect(reportFlagsOf({ json: true }).format).toBe('json');
    expect(reportFlagsOf({ json: true, format: 'json' }).format).toBe('json');
    expect(usage(() => reportFlagsOf({ json: true, format: 'csv' }))).toBe('--json is --format json: it does not combine with --format csv');
    expect(usage(() => reportFlagsOf({ output: '' }))).toBe('--output needs a file name');
    expect(reportFlagsOf({ output: '-', 'use-zero-pages': 1, 'max-page-sharing': 512, top: 5, sort: 'pid' })).toEqual({ format: 'table', output: '-', sort: 'pid', useZeroPages: 1, maxPageSharing: 512, top: 5 });
  });

  it("a lone '-' survives yargs as a word that argv never holds", () => {
    expect(DASH).not.toBe('-');
    expect(undash(DASH)).toBe('-');
    expect(undash('-x')).toBe('-x');
  });
});

describe('volatility sampling flags (issue 12)', () => {
  it('--interval takes seconds above 0, fractions too; --samples defaults to 2 and needs --interval', async () => {
    const { samplingOf } = await import('../../src/cli/options.js');
    expect(samplingOf({})).toBeNull();
    expect(samplingOf({ interval: 0.5 })).toEqual({ intervalSeconds: 0.5, samples: 2 });
    expect(samplingOf({ interval: 10, samples: 4 })).toEqual({ intervalSeconds: 10, samples: 4 });
    expect(usage(() => samplingOf({ samples: 3 }))).toBe('--samples needs --interval SECONDS');
  });
});
