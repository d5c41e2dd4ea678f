import yargs, { type Argv } from 'yargs';
import { EXIT_ERROR, EXIT_OK, readVersion, type Io } from './commands/common.js';
import { UserError } from './util/errors.js';
import { engineProblem } from './engine/choose-engine.js';
import { escapeLine } from './reporters/text-escape.js';
import { type Args, DASH, checkFlagsTakeNoValue, groupingFlagsOf, groupingOptions, groupingSelectionOptions, progressOf, reportFlagsOf, reportOptions, samplingOf, samplingOptions, selectionOf, selectionOptions, snapshotOptions, threadsOf, timingFlagsOf, timingOptions, undash } from './cli/options.js';
import { exportOptions, fleetFlagsOf, fleetOptions } from './cli/options.js';
import { UsageError, usageErrorOf } from './cli/usage-error.js';

export { EXIT_ERROR, EXIT_OK, EXIT_PARTIAL } from './commands/common.js';

/*
 * yargs parses the command line, checks it, writes the help and the shell completion. Importing
 * it costs 9.5 MiB of resident memory on Node 20 (42 -> 51.5 MiB for Node alone); the peak of a
 * --json scan of a small process went from 51.8 to 54.0 MiB with it (parseArgs and the
 * hand-written help gone): within the bound, 64 MiB + 16 B per resident page.
 */

const COMMANDS = ['scan', 'snapshot', 'report', 'verify', 'export', 'fleet', 'help', 'completion'];

const EPILOGUE = `Exit status: 0 all there was to read was read, 1 memory of a process you named (or of a
file) could not be read (the report says what), 2 bad input or nothing to scan, 3 no
permission to read any selected process's memory.`;

/** The CLI: parses arguments, runs the command, prints, and returns the exit status. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // yargs drops a lone '-' (standard input or output): it travels as a word no shell can pass.
  const args = argv.map((a) => (a === '-' ? DASH : a));
  try {
    // The default command (scan) would take an unknown word as an argument: name it for what it is.
    const first = args[0];
    if (first !== undefined && !first.startsWith('-') && !COMMANDS.includes(first)) throw new UsageError(`unknown command '${first}'`);
    checkFlagsTakeNoValue(args);
    const state: { status: number; helpFor: string | null } = { status: EXIT_OK, helpFor: null };
    await parser(io, state, args).parseAsync(args);
    if (state.helpFor !== null) {
      // `samepage help [COMMAND]`: the same text as --help.
      if (state.helpFor !== '' && !COMMANDS.filter((c) => c !== 'help' && c !== 'completion').includes(state.helpFor)) throw new UsageError(`unknown command '${state.helpFor}'`);
      const helpArgs = state.helpFor === '' ? ['--help'] : [state.helpFor, '--help'];
      await parser(io, state, helpArgs).parseAsync(helpArgs);
    }
    return state.status;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`samepage: ${escapeLine(err.message)}\nTry 'samepage --help'.\n`);
    return EXIT_ERROR;
  }
}

/** The commands; each handler loads its command's modules only when it runs: every module costs resident memory. */
function parser(io: Io, state: { status: number; helpFor: string | null }, args: readonly string[]): Argv {
  const y = yargs();
  // Types ([array], [boolean]) say nothing a user needs; the descriptions say what each flag
  // takes. (yargs 17.7 has the setting; @types/yargs 17 does not know it.)
  (y as unknown as { usageConfiguration(c: { 'hide-types': boolean }): unknown }).usageConfiguration({ 'hide-types': true });
  y.scriptName('samepage')
    .usage('samepage [scan] [options]\n\nHow much memory KSM would free, where the duplicates are, what it would cost.')
    .parserConfiguration({
      // --no-progress is a flag of its own; numbers stay strings until checked; no --a.b objects.
      'boolean-negation': false,
      'camel-case-expansion': false,
      'greedy-arrays': false,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
    })
    .command(['scan', '$0'], 'scan live processes (the default command)', (c) => timingOptions(samplingOptions(groupingOptions(reportOptions(groupingSelectionOptions(selectionOptions(c)))))), async (a: Args) => {
      const { scanCommand } = await import('./commands/scan-command.js');
      state.status = await run(() => scanCommand({ selection: selectionOf(a), ...reportFlagsOf(a), ...groupingFlagsOf(a), threads: threadsOf(a), progress: progressOf(a), sampling: samplingOf(a), timing: timingFlagsOf(a) }, io), io);
    })
    .command(
      'snapshot',
      'save what a scan learns, to analyse later or elsewhere',
      (c) =>
        samplingOptions(snapshotOptions(
          groupingSelectionOptions(selectionOptions(
            c.usage(
              "samepage snapshot -o FILE [options]\n\nSaves what a scan of live processes learns (hashes, flags, frames: 16 bytes per resident\npage), written atomically, for 'samepage report FILE' later.",
            ),
          )),
        )),
      async (a: Args) => {
        const output = a['output'];
        if (typeof output !== 'string' || output === '') throw new UsageError('snapshot needs -o FILE, the file to write');
        const { snapshotCommand } = await import('./commands/snapshot-command.js');
        state.status = await run(() => snapshotCommand({ selection: selectionOf(a), output, threads: threadsOf(a), progress: progressOf(a), sampling: samplingOf(a) }, io), io);
      },
    )
    .command(
      'report [files..]',
      'analyse snapshots and core dumps (and live processes)',
      (c) =>
        samplingOptions(groupingOptions(reportOptions(
          groupingSelectionOptions(selectionOptions(
            c
              .usage(
                'samepage report FILE... [options]\n\nAnalyses snapshots and core dumps (gcore, kernel cores, QEMU dump-guest-memory; .zst\ntoo), alone or together with live processes chosen as for scan. \'-\' reads one from standard input:\nsamepage snapshot -o - | samepage report -',
              )
              .positional('files', { type: 'string', array: true, describe: 'snapshots and core dumps' }),
          ))),
        )),
      async (a: Args) => {
        if (samplingOf(a) !== null) {
          throw new UsageError("--interval reads live memory again: a snapshot or core cannot be re-read; sample when taking the snapshot (samepage snapshot --interval SECONDS -o FILE)");
        }
        const files = Array.isArray(a['files']) ? a['files'].map((f) => undash(String(f))) : [];
        if (files.length === 0) throw new UsageError('report needs at least one snapshot or core file');
        const { reportCommand } = await import('./commands/report-command.js');
        state.status = await run(() => reportCommand({ files, selection: selectionOf(a), ...reportFlagsOf(a), ...groupingFlagsOf(a), threads: threadsOf(a), progress: progressOf(a) }, io), io);
      },
    )
    .command(
      'verify <prediction>',
      'compare a saved prediction (scan --json) with what KSM did since; read-only',
      (c) => c.positional('prediction', { type: 'string', describe: 'a report saved with scan --json' }).option('json', { type: 'boolean', describe: 'the comparison as JSON' }),
      async (a: Args) => {
        const file = typeof a['prediction'] === 'string' ? undash(a['prediction']) : '';
        if (file === '') throw new UsageError('verify needs the prediction: a report saved with scan --json');
        const { verifyCommand } = await import('./commands/verify-command.js');
        state.status = await run(() => verifyCommand({ file, json: a['json'] === true }, io), io);
      },
    )
    .command(
      'export [files..]',
      'snapshots (or live processes) as Parquet, partitioned by host, for fleet or Spark',
      (c) =>
        exportOptions(
          selectionOptions(
            c
              .usage('samepage export SNAPSHOT... -o DIR [options]\n\nWrites Parquet (pages, sources, hosts), partitioned by host: each snapshot is one host, and live\nprocesses chosen as for scan one more (docs/fleet.md).')
              .positional('files', { type: 'string', array: true, describe: 'snapshots' }),
          ),
        ),
      async (a: Args) => {
        const files = Array.isArray(a['files']) ? a['files'].map((f) => undash(String(f))) : [];
        const output = a['output'];
        if (typeof output !== 'string' || output === '') throw new UsageError('export needs -o DIR, the directory to write');
        const { exportCommand } = await import('./commands/export-command.js');
        const memoryLimit = typeof a['memory-limit'] === 'string' ? a['memory-limit'] : null;
        state.status = await run(() => exportCommand({ files, selection: selectionOf(a), output, threads: threadsOf(a), memoryLimit }, io), io);
      },
    )
    .command(
      'fleet [paths..]',
      'what many hosts share, within and across, and where their guests would best go',
      (c) =>
        fleetOptions(
          c
            .usage('samepage fleet PATH... [options]\n\nSnapshots, Parquet files or directories samepage export wrote, one host each, analysed\ntogether on DuckDB: duplicates within and across hosts, host x host and guest x guest sharing, and a\nplan for placing guests (docs/fleet.md).')
            .positional('paths', { type: 'string', array: true, describe: 'snapshots, Parquet files, export directories' }),
        ),
      async (a: Args) => {
        const paths = Array.isArray(a['paths']) ? a['paths'].map((f) => undash(String(f))) : [];
        if (paths.length === 0) throw new UsageError('fleet needs at least one snapshot, Parquet file or export directory');
        const { fleetCommand } = await import('./commands/fleet-command.js');
        const threads = typeof a['threads'] === 'number' ? a['threads'] : threadsOf({});
        state.status = await run(() => fleetCommand({ paths, ...fleetFlagsOf(a), threads }, io), io);
      },
    )
    .command('help [command]', "a command's options", (c) => c.positional('command', { type: 'string' }), (a: Args) => {
      state.helpFor = typeof a['command'] === 'string' ? a['command'] : '';
    })
    .command('completion', 'a bash or zsh completion script: samepage completion >> ~/.bashrc', {}, () => {
      y.showCompletionScript();
    })
    .version('version', 'the version', readVersion())
    .alias('version', 'V')
    .help('help', 'this help')
    .alias('help', 'h')
    .epilogue(EPILOGUE)
    // Not wrapped by yargs: it counts the usage's lines as one (a word cut in two); every line here is short.
    .wrap(null)
    .strict()
    .exitProcess(false)
    .fail((message: string | null, err: Error | null) => {
      // Thrown from a check (coerce) or a handler: the message is samepage's already.
      if (err instanceof UsageError) throw err;
      throw usageErrorOf(message ?? err?.message ?? 'bad arguments', args);
    });
  return y;
}

async function run(command: () => number | Promise<number>, io: Io): Promise<number> {
  const problem = engineProblem();
  if (problem !== null) io.stderr.write(`samepage: warning: ${problem}\n`);
  try {
    return await command();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: Io): number {
  if (err instanceof UserError) {
    // Messages may name processes: their names reach the terminal escaped.
    io.stderr.write(`samepage: ${err.message.split('\n').map((l) => escapeLine(l)).join('\n')}\n`);
    return err.exitCode;
  }
  // Not a stack trace for the user: one line, with the stack only when asked for.
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`samepage: internal error: ${escapeLine(message)}\n`);
  if (process.env['SAMEPAGE_DEBUG'] && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return EXIT_ERROR;
}
