import { availableParallelism } from 'node:os';
import yargs, { type Argv } from 'yargs';
import type { Selection } from './live/select.js';
import { scanCommand } from './commands/scan-command.js';
import { snapshotCommand } from './commands/snapshot-command.js';
import { reportCommand } from './commands/report-command.js';
import { EXIT_ERROR, EXIT_OK, readVersion, type Io } from './commands/common.js';
import { UserError } from './util/errors.js';

export { EXIT_ERROR, EXIT_OK, EXIT_PARTIAL } from './commands/common.js';

class UsageError extends Error {}

/** The options that choose live processes, shared by scan, snapshot and report. */
function selectionOptions<T>(y: Argv<T>) {
  return y
    .option('pid', { type: 'number', array: true, default: [] as number[], describe: 'a process to scan (repeatable)' })
    .option('name', { type: 'string', array: true, default: [] as string[], describe: 'processes whose command or command line matches this regular expression (repeatable)' })
    .option('tree', { type: 'number', array: true, default: [] as number[], describe: 'a process and all its descendants (repeatable)' })
    .option('chromium', { type: 'boolean', default: false, describe: "Chromium's renderer processes (--type=renderer)" })
    .option('chromium-all', { type: 'boolean', default: false, describe: 'every Chromium process: browser, zygotes, renderers, GPU, utilities' })
    .option('all', { type: 'boolean', default: false, describe: 'every process of the machine' })
    .option('threads', { type: 'number', describe: 'threads reading and hashing pages (default: the number of CPUs, at most 8)' })
    .option('progress', { type: 'boolean', default: true, describe: 'a progress bar on stderr when it is a terminal (--no-progress: never)' })
    .check((a) => {
      const pids = a.pid ?? [];
      const trees = a.tree ?? [];
      if (a.all && (pids.length > 0 || (a.name ?? []).length > 0 || trees.length > 0 || a.chromium || a['chromium-all'])) {
        throw new Error('--all scans every process: it does not combine with --pid, --name, --tree or --chromium');
      }
      for (const p of [...pids, ...trees]) {
        if (!Number.isInteger(p) || p <= 0) throw new Error(`not a pid: ${String(p)}`);
      }
      if (a.threads !== undefined && (!Number.isInteger(a.threads) || a.threads < 1 || a.threads > 8)) throw new Error('--threads must be a whole number from 1 to 8');
      return true;
    });
}

/** The options of commands that print a report. */
function reportOptions<T>(y: Argv<T>) {
  return y
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (docs/report-schema.md)' })
    .option('use-zero-pages', { type: 'number', choices: [0, 1], describe: "assume this use_zero_pages instead of the kernel's" })
    .option('max-page-sharing', { type: 'number', describe: "assume this max_page_sharing instead of the kernel's" })
    .option('top', { type: 'number', default: 40, describe: 'rows of the process table' })
    .check((a) => {
      const mps = a['max-page-sharing'];
      if (mps !== undefined && (!Number.isInteger(mps) || mps < 2)) throw new Error('--max-page-sharing must be a whole number of at least 2');
      if (a.top !== undefined && (!Number.isInteger(a.top) || a.top < 1)) throw new Error('--top must be a whole number of at least 1');
      return true;
    });
}

function selectionOf(a: { pid: number[]; name: string[]; tree: number[]; chromium: boolean; 'chromium-all': boolean; all: boolean }): Selection {
  return { pids: a.pid, names: a.name, trees: a.tree, chromium: a.chromium, chromiumAll: a['chromium-all'], all: a.all };
}

/** The CLI: parses arguments, runs the command, prints, and returns the exit status. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let status = EXIT_OK;
  let failure: unknown = null;
  // Errors of a command's run are kept apart from yargs' usage errors (which get a --help hint).
  const run = async (command: () => number | Promise<number>): Promise<void> => {
    try {
      status = await command();
    } catch (err) {
      failure = err;
    }
  };
  const threadsOf = (t: number | undefined): number => t ?? Math.min(8, availableParallelism());
  const parser = yargs([...argv])
    .scriptName('samepage')
    .usage('$0 <command> [options]')
    .command(
      ['scan', '$0'],
      'scan live processes: how much memory KSM would free for them, where the duplicates are, what it would cost',
      (y) => reportOptions(selectionOptions(y)),
      (a) =>
        run(() =>
          scanCommand(
            { selection: selectionOf(a), json: a.json, useZeroPages: a['use-zero-pages'], maxPageSharing: a['max-page-sharing'], top: a.top, threads: threadsOf(a.threads), progress: a.progress },
            io,
          ),
        ),
    )
    .command(
      'snapshot',
      'save what a scan of live processes learns (hashes, flags, frames: 16 bytes per resident page) to analyse later with `samepage report`',
      (y) => selectionOptions(y).option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the snapshot file to write' }),
      (a) => run(() => snapshotCommand({ selection: selectionOf(a), output: a.output, threads: threadsOf(a.threads), progress: a.progress }, io)),
    )
    .command(
      'report <files..>',
      'analyse snapshots and core dumps (gcore, kernel cores, QEMU dump-guest-memory; .zst too), alone or with live processes',
      (y) => reportOptions(selectionOptions(y)).positional('files', { type: 'string', array: true, describe: 'snapshot or core files' }),
      (a) =>
        run(() =>
          reportCommand(
            {
              files: (a.files ?? []).map(String),
              selection: selectionOf(a),
              json: a.json,
              useZeroPages: a['use-zero-pages'],
              maxPageSharing: a['max-page-sharing'],
              top: a.top,
              threads: threadsOf(a.threads),
              progress: a.progress,
            },
            io,
          ),
        ),
    )
    .strict()
    .strictOptions()
    .help()
    .version(readVersion())
    .wrap(Math.min(110, io.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Stop parsing here: without a throw yargs would go on and run the command.
      throw new UsageError(msg ?? (err instanceof Error ? err.message : String(err)));
    });

  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`samepage: ${err.message}\nTry 'samepage --help'.\n`);
      return EXIT_ERROR;
    }
    return reportError(err, io);
  }
  if (failure !== null) return reportError(failure, io);
  return status;
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
