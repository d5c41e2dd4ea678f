import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { Selection } from './live/select.js';
import { EXIT_ERROR, EXIT_OK, readVersion, type Io } from './commands/common.js';
import { UserError } from './util/errors.js';
import { nativeAddonProblem } from './native/native-addon.js';

export { EXIT_ERROR, EXIT_OK, EXIT_PARTIAL } from './commands/common.js';

/*
 * Arguments are parsed with node:util's parseArgs rather than yargs: yargs alone added 15 MiB
 * to samepage's resident memory (39 -> 54 MiB measured on Node 20), a quarter of the 64 MiB
 * that the whole tool may use besides its 16 bytes per page.
 */

class UsageError extends Error {}

const SELECTION_OPTIONS = {
  pid: { type: 'string', multiple: true },
  name: { type: 'string', multiple: true },
  tree: { type: 'string', multiple: true },
  chromium: { type: 'boolean' },
  'chromium-all': { type: 'boolean' },
  all: { type: 'boolean' },
  threads: { type: 'string' },
  'no-progress': { type: 'boolean' },
} as const;

const REPORT_OPTIONS = {
  json: { type: 'boolean' },
  'use-zero-pages': { type: 'string' },
  'max-page-sharing': { type: 'string' },
  top: { type: 'string' },
} as const;

const COMMON_OPTIONS = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } } as const;

const SELECTION_HELP = `Choosing processes (repeatable, combined):
  --pid PID          a process
  --name REGEX       processes whose command or command line matches
  --tree PID         a process and all its descendants
  --chromium         Chromium's renderer processes (--type=renderer)
  --chromium-all     every Chromium process: browser, zygotes, renderers, GPU, utilities
  --all              every process of the machine
  --threads N        threads reading and hashing pages (default: the CPUs, at most 8)
  --no-progress      no progress bar (it is only ever shown when stderr is a terminal)`;

const REPORT_HELP = `Output:
  --json                  the report as JSON (docs/report-schema.md)
  --use-zero-pages 0|1    assume this use_zero_pages instead of the kernel's
  --max-page-sharing N    assume this max_page_sharing instead of the kernel's
  --top N                 rows of the process table (default 40)`;

const HELP: Record<string, string> = {
  main: `samepage: how much memory KSM would free, where the duplicates are, what it would cost.

Usage:
  samepage scan [options]           scan live processes (the default command)
  samepage snapshot -o FILE [opts]  save what a scan learns, to analyse later or elsewhere
  samepage report FILE... [opts]    analyse snapshots and core dumps (and live processes)

'samepage COMMAND --help' for a command's options; --version for the version.
Exit status: 0 all there was to read was read, 1 memory of a process you named (or of a
file) could not be read (the report says what), 2 bad input or nothing to scan, 3 no
permission to read any selected process's memory.`,
  scan: `samepage scan: scan live processes now.

${SELECTION_HELP}

${REPORT_HELP}`,
  snapshot: `samepage snapshot -o FILE: save what a scan of live processes learns (hashes, flags,
frames: 16 bytes per resident page), written atomically, for 'samepage report FILE' later.

  -o, --output FILE  the snapshot file to write ('-': standard output); a device, FIFO,
                     socket or symbolic link is refused, an existing file keeps its mode

${SELECTION_HELP}`,
  report: `samepage report FILE...: analyse snapshots and core dumps (gcore, kernel cores, QEMU
dump-guest-memory; .zst too), alone or together with live processes chosen as for scan.
'-' reads one from standard input: samepage snapshot -o - | samepage report -

${SELECTION_HELP}

${REPORT_HELP}`,
};

interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

function parse(args: string[], options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>): Parsed {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    // parseArgs' messages are clear, but some go on with advice meant for its own API users:
    // one line is what a user needs.
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /'(--?[\w-]+)/.exec((err as Error).message)?.[1];
      throw new UsageError(flag === undefined ? 'an option is missing its value' : `${flag} needs a value`);
    }
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(first);
  }
}

function wholeNumber(value: string | undefined, flag: string, min: number, max = Number.MAX_SAFE_INTEGER, why = ''): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} takes a whole number${max === Number.MAX_SAFE_INTEGER ? ` of at least ${min}` : ` from ${min} to ${max}`}${why}, not '${value}'`);
  }
  return n;
}

/** max_page_sharing_store() takes a C int (kstrtoint) of at least 2. */
const INT_MAX = 2147483647;

/** The largest pid this kernel hands out: pid_max - 1 (PID_MAX_LIMIT on 64-bit when unreadable). */
function maxPid(): number {
  try {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1').trim());
    if (Number.isSafeInteger(pidMax) && pidMax > 1) return pidMax - 1;
  } catch {
    // No procfs here: the kernel's own ceiling.
  }
  return 4194303;
}

function strings(v: Parsed['values'][string]): string[] {
  return Array.isArray(v) ? v : [];
}

function selectionOf(v: Parsed['values']): Selection {
  const pidMax = ` (this kernel's pid_max is ${maxPid() + 1})`;
  const pids = strings(v['pid']).map((p) => wholeNumber(p, '--pid', 1, maxPid(), pidMax) as number);
  const trees = strings(v['tree']).map((p) => wholeNumber(p, '--tree', 1, maxPid(), pidMax) as number);
  const names = strings(v['name']);
  const sel = { pids, names, trees, chromium: v['chromium'] === true, chromiumAll: v['chromium-all'] === true, all: v['all'] === true };
  if (sel.all && (pids.length > 0 || names.length > 0 || trees.length > 0 || sel.chromium || sel.chromiumAll)) {
    throw new UsageError('--all scans every process: it does not combine with --pid, --name, --tree or --chromium');
  }
  return sel;
}

function reportOutput(v: Parsed['values']): { json: boolean; useZeroPages: number | undefined; maxPageSharing: number | undefined; top: number } {
  return {
    json: v['json'] === true,
    useZeroPages: wholeNumber(v['use-zero-pages'] as string | undefined, '--use-zero-pages', 0, 1),
    maxPageSharing: wholeNumber(v['max-page-sharing'] as string | undefined, '--max-page-sharing', 2, INT_MAX, ' (the kernel takes a C int)'),
    top: wholeNumber(v['top'] as string | undefined, '--top', 1) ?? 40,
  };
}

function threadsOf(v: Parsed['values']): number {
  return wholeNumber(v['threads'] as string | undefined, '--threads', 1, 8) ?? Math.min(8, availableParallelism());
}

/** The CLI: parses arguments, runs the command, prints, and returns the exit status. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const args = [...argv];
  const first = args[0];
  const command = first === 'scan' || first === 'snapshot' || first === 'report' ? (args.shift() as string) : 'scan';
  try {
    if (first !== undefined && !first.startsWith('-') && command === 'scan' && first !== 'scan') throw new UsageError(`unknown command '${first}'`);
    if (command === 'scan') {
      const { values, positionals } = parse(args, { ...COMMON_OPTIONS, ...SELECTION_OPTIONS, ...REPORT_OPTIONS });
      if (values['version'] === true) return printVersion(io);
      if (values['help'] === true) return printHelp(first === 'scan' ? 'scan' : 'main', io);
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
      const { scanCommand } = await import('./commands/scan-command.js');
      return await run(() => scanCommand({ selection: selectionOf(values), ...reportOutput(values), threads: threadsOf(values), progress: values['no-progress'] !== true }, io), io);
    }
    if (command === 'snapshot') {
      const { values, positionals } = parse(args, { ...COMMON_OPTIONS, ...SELECTION_OPTIONS, output: { type: 'string', short: 'o' } });
      if (values['version'] === true) return printVersion(io);
      if (values['help'] === true) return printHelp('snapshot', io);
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
      const output = values['output'];
      if (typeof output !== 'string' || output === '') throw new UsageError('snapshot needs -o FILE, the file to write');
      const { snapshotCommand } = await import('./commands/snapshot-command.js');
      return await run(() => snapshotCommand({ selection: selectionOf(values), output, threads: threadsOf(values), progress: values['no-progress'] !== true }, io), io);
    }
    const { values, positionals } = parse(args, { ...COMMON_OPTIONS, ...SELECTION_OPTIONS, ...REPORT_OPTIONS });
    if (values['version'] === true) return printVersion(io);
    if (values['help'] === true) return printHelp('report', io);
    if (positionals.length === 0) throw new UsageError('report needs at least one snapshot or core file');
    // Each command's modules are loaded only when it runs: every module costs resident memory.
    const { reportCommand } = await import('./commands/report-command.js');
    return await run(
      () => reportCommand({ files: positionals, selection: selectionOf(values), ...reportOutput(values), threads: threadsOf(values), progress: values['no-progress'] !== true }, io),
      io,
    );
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`samepage: ${err.message}\nTry 'samepage --help'.\n`);
      return EXIT_ERROR;
    }
    throw err;
  }
}

async function run(command: () => number | Promise<number>, io: Io): Promise<number> {
  const problem = nativeAddonProblem();
  if (problem !== null) io.stderr.write(`samepage: warning: ${problem}\n`);
  try {
    return await command();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return reportError(err, io);
  }
}

function printHelp(topic: string, io: Io): number {
  io.stdout.write(`${HELP[topic] ?? HELP['main']}\n`);
  return EXIT_OK;
}

function printVersion(io: Io): number {
  io.stdout.write(`${readVersion()}\n`);
  return EXIT_OK;
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof UserError) {
    io.stderr.write(`samepage: ${err.message}\n`);
    return err.exitCode;
  }
  // Not a stack trace for the user: one line, with the stack only when asked for.
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`samepage: internal error: ${message}\n`);
  if (process.env['SAMEPAGE_DEBUG'] && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return EXIT_ERROR;
}
