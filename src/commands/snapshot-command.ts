import type { Selection } from '../live/select.js';
import { collect } from '../scan/scan.js';
import { prepareSnapshot } from '../snapshot/snapshot-writer.js';
import { formatBytes, formatCount } from '../reporters/format.js';
import { skipLines } from '../reporters/skip-lines.js';
import { escapeLine } from '../reporters/text-escape.js';
import { isPartial } from '../source/skipped.js';
import { plural } from '../util/plural.js';
import { UserError } from '../util/errors.js';
import { STDOUT_PATH, checkOutputPath, writeOutputFile } from '../util/output-file.js';
import { EXIT_OK, EXIT_PARTIAL, effectiveSettings, hasSelection, liveOpeners, nothingScanned, progressFor, readVersion, type Io } from './common.js';
import { chooseEngine } from '../engine/choose-engine.js';
import { sampleVolatility } from '../scan/volatility.js';
import { readKsmPace } from '../analysis/ksm-pace.js';
import { readFullScans } from '../analysis/ksm-timing.js';
import type { SamplingFlags } from '../cli/options.js';

export interface SnapshotCommandOptions {
  selection: Selection;
  /** The file to write, or "-" for standard output. */
  output: string;
  threads: number;
  progress: boolean;
  /** --interval / --samples: read the pages again and record which changed (PAGE_VOLATILE). */
  sampling?: SamplingFlags | null;
}

/** samepage snapshot: what a live scan learns, saved for `samepage report` later or elsewhere. */
export async function snapshotCommand(opts: SnapshotCommandOptions, io: Io): Promise<number> {
  if (!hasSelection(opts.selection)) throw new UserError('nothing to snapshot: give --pid PID, --name REGEX, --tree PID, --chromium or --all');
  // Before the scan: a scan of every process takes a while, and its result would have nowhere to go.
  checkOutputPath(opts.output, io.stdout);
  const engine = chooseEngine();
  const live = liveOpeners(opts.selection, opts.threads, engine, io);
  try {
    const settings = effectiveSettings(null, { useZeroPages: undefined, maxPageSharing: undefined }, io);
    const progress = await progressFor(opts.progress, io);
    const began = await live.readRegionsAhead();
    const sampling = opts.sampling ?? null;
    const collected = collect(live.openers, { pageSize: live.pageSize, settings, progress, began, notScanned: live.notScanned, engine, keepPageOffsets: sampling !== null });
    if (collected.sources.length === 0) throw nothingScanned(collected.skipped);
    const volatility = sampling === null ? undefined : { sample: await sampleVolatility(collected, { ...sampling, threads: opts.threads }), pace: readKsmPace() };
    const snapshot = prepareSnapshot(collected, { version: readVersion(), root: live.root, settings, physical: live.physical, volatility, ksmFullScans: readFullScans() });
    const bytes = await writeOutputFile(opts.output, io.stdout, async (sink) => {
      await snapshot.write(sink);
    });
    for (const line of skipLines(collected.skipped, collected.warnings)) io.stderr.write(`samepage: ${escapeLine(line)}\n`);
    // With the snapshot on standard output, what is said about it goes to stderr.
    const toStdout = opts.output === STDOUT_PATH;
    (toStdout ? io.stderr : io.stdout).write(
      `samepage: wrote ${toStdout ? 'standard output' : opts.output}: ${plural(collected.sources.length, 'process', 'processes', formatCount)}, ${plural(collected.index.length, 'resident page', 'resident pages', formatCount)}, ${formatBytes(bytes)}\n`,
    );
    return isPartial(collected.skipped, collected.sources) ? EXIT_PARTIAL : EXIT_OK;
  } finally {
    live.close();
  }
}
