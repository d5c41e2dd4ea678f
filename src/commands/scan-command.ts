import type { Selection } from '../live/select.js';
import { analyse, collect, runScan } from '../scan/scan.js';
import { sampleVolatility } from '../scan/volatility.js';
import { readKsmPace } from '../analysis/ksm-pace.js';
import type { SamplingFlags } from '../cli/options.js';
import { UserError } from '../util/errors.js';
import { checkReportOutput, effectiveSettings, hasSelection, liveOpeners, printReport, progressFor, type Io, type OutputOptions, type WhatIf } from './common.js';
import { chooseEngine } from '../engine/choose-engine.js';

export interface ScanCommandOptions extends OutputOptions, WhatIf {
  selection: Selection;
  threads: number;
  progress: boolean;
  /** --interval / --samples: read the pages again to find the volatile ones. */
  sampling?: SamplingFlags | null;
}

/** samepage scan: live processes, analysed now. */
export async function scanCommand(opts: ScanCommandOptions, io: Io): Promise<number> {
  if (!hasSelection(opts.selection)) throw new UserError('nothing to scan: give --pid PID, --name REGEX, --tree PID, --chromium or --all');
  checkReportOutput(opts, io);
  const engine = chooseEngine();
  const live = liveOpeners(opts.selection, opts.threads, engine, io);
  try {
    const settings = effectiveSettings(null, opts, io);
    const progress = await progressFor(opts.progress, io);
    const began = await live.readRegionsAhead();
    const scanOptions = { pageSize: live.pageSize, settings, progress, began, notScanned: live.notScanned, engine };
    const sampling = opts.sampling ?? null;
    if (sampling === null) return await printReport(runScan(live.openers, scanOptions), live.root, opts, io);
    const collected = collect(live.openers, { ...scanOptions, keepPageOffsets: true });
    const sample = await sampleVolatility(collected, { ...sampling, threads: opts.threads });
    const scan = analyse(collected, settings, sample);
    if (scan.volatility !== undefined) scan.volatility.pace = readKsmPace();
    return await printReport(scan, live.root, opts, io);
  } finally {
    live.close();
  }
}
