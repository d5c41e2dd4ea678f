import type { Selection } from '../live/select.js';
import { runScan } from '../scan/scan.js';
import { UserError } from '../util/errors.js';
import { checkReportOutput, effectiveSettings, hasSelection, liveOpeners, printReport, progressFor, type Io, type OutputOptions, type WhatIf } from './common.js';
import { chooseEngine } from '../engine/choose-engine.js';

export interface ScanCommandOptions extends OutputOptions, WhatIf {
  selection: Selection;
  threads: number;
  progress: boolean;
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
    const scan = runScan(live.openers, { pageSize: live.pageSize, settings, progress, began, notScanned: live.notScanned, engine, ...(opts.groupBy === undefined ? {} : { groupBy: opts.groupBy }) });
    return await printReport(scan, live.root, opts, io);
  } finally {
    live.close();
  }
}
