import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import yargs from 'yargs';
import { selectProcesses } from './live/select.js';
import { LiveSource } from './live/live-source.js';
import { KernelPhysicalPages } from './physical/physical-pages.js';
import { DEFAULT_KSM_SETTINGS, readKsmSettings, type KsmSettings } from './analysis/ksm-settings.js';
import { runScan, type SourceOpener } from './scan/scan.js';
import { buildReport } from './report/build-report.js';
import { renderJson } from './reporters/json.js';
import { renderTable } from './reporters/table.js';
import { terminalProgress } from './reporters/progress-bar.js';
import { isRoot, systemPageSize } from './util/system.js';
import { EXIT_NO_PERMISSION, UserError } from './util/errors.js';
import { nativeAddon } from './native/native-addon.js';

/** Exit statuses: everything scanned; scanned but something skipped; nothing useful (bad input). */
export const EXIT_OK = 0;
export const EXIT_PARTIAL = 1;
export const EXIT_ERROR = 2;

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The CLI: parses arguments, runs the command, prints, and returns the exit status. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let status = EXIT_OK;
  let failure: unknown = null;
  const parser = yargs([...argv])
    .scriptName('samepage')
    .usage('$0 <command> [options]')
    .command(
      ['scan', '$0'],
      'scan live processes: how much memory KSM would free for them, where the duplicates are, what it would cost',
      (y) =>
        y
          .option('pid', { type: 'number', array: true, default: [] as number[], describe: 'a process to scan (repeatable)' })
          .option('name', { type: 'string', array: true, default: [] as string[], describe: 'processes whose command or command line matches this regular expression (repeatable)' })
          .option('tree', { type: 'number', array: true, default: [] as number[], describe: 'a process and all its descendants (repeatable)' })
          .option('chromium', { type: 'boolean', default: false, describe: "Chromium's renderer processes (--type=renderer)" })
          .option('chromium-all', { type: 'boolean', default: false, describe: 'every Chromium process: browser, zygotes, renderers, GPU, utilities' })
          .option('all', { type: 'boolean', default: false, describe: 'every process of the machine' })
          .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON (docs/report-schema.md)' })
          .option('use-zero-pages', { type: 'number', choices: [0, 1], describe: "assume this use_zero_pages instead of the kernel's" })
          .option('max-page-sharing', { type: 'number', describe: "assume this max_page_sharing instead of the kernel's" })
          .option('top', { type: 'number', default: 40, describe: 'rows of the process table' })
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
            if (a['max-page-sharing'] !== undefined && (!Number.isInteger(a['max-page-sharing']) || a['max-page-sharing'] < 2)) {
              throw new Error('--max-page-sharing must be a whole number of at least 2');
            }
            if (a.threads !== undefined && (!Number.isInteger(a.threads) || a.threads < 1 || a.threads > 8)) throw new Error('--threads must be a whole number from 1 to 8');
            if (a.top !== undefined && (!Number.isInteger(a.top) || a.top < 1)) throw new Error('--top must be a whole number of at least 1');
            return true;
          }),
      async (a) => {
        // Errors of the run itself are kept apart from yargs' usage errors (which get a --help hint).
        status = await scanCommand(
          {
            selection: { pids: a.pid, names: a.name, trees: a.tree, chromium: a.chromium, chromiumAll: a['chromium-all'], all: a.all },
            json: a.json,
            useZeroPages: a['use-zero-pages'],
            maxPageSharing: a['max-page-sharing'],
            top: a.top,
            threads: a.threads ?? Math.min(8, availableParallelism()),
            progress: a.progress,
          },
          io,
        ).catch((err: unknown) => {
          failure = err;
          return EXIT_ERROR;
        });
      },
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

class UsageError extends Error {}

interface ScanCommandOptions {
  selection: Parameters<typeof selectProcesses>[0];
  json: boolean;
  useZeroPages: number | undefined;
  maxPageSharing: number | undefined;
  top: number;
  threads: number;
  progress: boolean;
}

async function scanCommand(opts: ScanCommandOptions, io: Io): Promise<number> {
  const s = opts.selection;
  if (s.pids.length + s.names.length + s.trees.length === 0 && !s.chromium && !s.chromiumAll && !s.all) {
    throw new UserError('nothing to scan: give --pid PID, --name REGEX, --tree PID, --chromium or --all');
  }
  const infos = selectProcesses(s, process.pid);
  if (infos.length === 0) throw new UserError('no process matches the selection');

  const root = isRoot();
  const pageSize = systemPageSize();
  const physical = root ? KernelPhysicalPages.tryOpen() : null;
  const pfnsVisible = physical !== null;
  if (!pfnsVisible) {
    io.stderr.write(
      'samepage: warning: not root, so the kernel hides physical frame numbers: pages already shared by fork cannot be recognised and the estimate is an upper bound\n',
    );
  }
  const settings = effectiveSettings(opts, io);
  const native = nativeAddon();
  const openers: SourceOpener[] = infos.map((info) => ({
    label: `pid ${info.pid} (${info.command})`,
    pid: info.pid,
    open: () => new LiveSource(info, pageSize, pfnsVisible, physical, native, opts.threads),
  }));
  try {
    const scan = runScan(openers, { pageSize, settings, progress: opts.progress ? terminalProgress(io.stderr) : undefined });
    if (scan.sources.length === 0) {
      const reasons = scan.skipped.map((k) => k.reason);
      const unique = [...new Set(reasons)];
      const code = scan.skipped.every((k) => k.permissionDenied) ? EXIT_NO_PERMISSION : EXIT_ERROR;
      throw new UserError(unique.length === 1 ? (unique[0] as string) : `nothing could be scanned:\n  ${reasons.join('\n  ')}`, code);
    }
    const report = buildReport(scan, { version: readVersion(), root });
    io.stdout.write(opts.json ? renderJson(report) : renderTable(report, { maxProcesses: opts.top }));
    if (opts.json) {
      for (const k of report.skipped) io.stderr.write(`samepage: skipped ${k.source}: ${k.reason}\n`);
      for (const w of report.warnings) io.stderr.write(`samepage: warning: ${w}\n`);
    }
    return report.skipped.length > 0 || report.totals.regionsSkipped > 0 ? EXIT_PARTIAL : EXIT_OK;
  } finally {
    physical?.close();
  }
}

function effectiveSettings(opts: ScanCommandOptions, io: Io): KsmSettings {
  const fromKernel = readKsmSettings();
  if (fromKernel === null) io.stderr.write('samepage: warning: KSM is not available here (/sys/kernel/mm/ksm): assuming its defaults\n');
  const base = fromKernel ?? DEFAULT_KSM_SETTINGS;
  if (opts.useZeroPages === undefined && opts.maxPageSharing === undefined) return base;
  return {
    ...base,
    useZeroPages: opts.useZeroPages === undefined ? base.useZeroPages : opts.useZeroPages === 1,
    maxPageSharing: opts.maxPageSharing ?? base.maxPageSharing,
    source: 'flags',
  };
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

let cachedVersion: string | null = null;

export function readVersion(): string {
  if (cachedVersion === null) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    cachedVersion = pkg.version ?? '0.0.0';
  }
  return cachedVersion;
}
