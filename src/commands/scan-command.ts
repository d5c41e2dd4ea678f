import type { Selection } from '../live/select.js';
import { analyse, collect, runScan } from '../scan/scan.js';
import { sampleVolatility } from '../scan/volatility.js';
import { readKsmPace } from '../analysis/ksm-pace.js';
import type { SamplingFlags, TimingFlags } from '../cli/options.js';
import { timingSetting } from '../analysis/ksm-timing.js';
import { release } from 'node:os';
import type { ScanResult } from '../scan/scan.js';
import { UserError } from '../util/errors.js';
import { checkReportOutput, effectiveSettings, hasSelection, liveOpeners, printReport, progressFor, type Io, type OutputOptions, type WhatIf } from './common.js';
import { chooseEngine } from '../engine/choose-engine.js';

export interface ScanCommandOptions extends OutputOptions, WhatIf {
  selection: Selection;
  threads: number;
  progress: boolean;
  /** --interval / --samples: read the pages again to find the volatile ones. */
  sampling?: SamplingFlags | null;
  /** --pages-to-scan, --sleep-ms, --advisor, --page-cost-us. */
  timing?: TimingFlags;
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
    const scanOptions = { pageSize: live.pageSize, settings, progress, began, notScanned: live.notScanned, engine, ...(opts.groupBy === undefined ? {} : { groupBy: opts.groupBy }) };
    const sampling = opts.sampling ?? null;
    const timing = timingSetting(opts.timing ?? { pagesToScan: undefined, sleepMs: undefined, advisor: undefined, pageCostUs: undefined }, readKsmPace(), release());
    const withTiming = (scan: ScanResult): ScanResult => (timing === null ? scan : { ...scan, timing });
    if (sampling === null) return await printReport(withTiming(runScan(live.openers, scanOptions)), live.root, opts, io);
    const collected = collect(live.openers, { ...scanOptions, keepPageOffsets: true });
    const sample = await sampleVolatility(collected, { ...sampling, threads: opts.threads });
    const scan = analyse(collected, settings, { groupBy: opts.groupBy, sample });
    if (scan.volatility !== undefined) scan.volatility.pace = readKsmPace();
    return await printReport(withTiming(scan), live.root, opts, io);
  } finally {
    live.close();
  }
}
