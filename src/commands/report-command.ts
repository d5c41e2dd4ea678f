import { performance } from 'node:perf_hooks';
import type { Selection } from '../live/select.js';
import { analyse, collect, runScan } from '../scan/scan.js';
import { recordedSample } from '../scan/volatility.js';
import type { SnapshotVolatility } from '../snapshot/snapshot-format.js';
import type { SourceOpener } from '../source/source-opener.js';
import { SnapshotFile } from '../snapshot/snapshot-source.js';
import { sniffInput } from '../source/input-kind.js';
import type { SnapshotProcess } from '../snapshot/snapshot-format.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { ProcessInfo } from '../source/memory-source.js';
import type { Skipped } from '../source/skipped.js';
import type { ReportInput } from '../report/report.js';
import type { ReportScan } from '../report/build-report.js';
import { systemPageSize } from '../util/system.js';
import { UserError } from '../util/errors.js';
import { STDIN_PATH, openInputFile, type InputFile } from '../util/input-file.js';
import { checkReportOutput, effectiveSettings, hasSelection, liveOpeners, printReport, progressFor, type Io, type OutputOptions, type WhatIf } from './common.js';
import { openCoreFile } from './core-files.js';
import { chooseEngine } from '../engine/choose-engine.js';
import { thpBehaviourOf, type ThpBehaviour } from '../analysis/thp-behaviour.js';

export interface ReportCommandOptions extends OutputOptions, WhatIf {
  /** Snapshot and core files; "-" is standard input. */
  files: string[];
  selection: Selection;
  threads: number;
  progress: boolean;
}

/**
 * samepage report: snapshots and core dumps (and live processes, when selected) analysed
 * together with the same model and the same output as a live scan. What a snapshot's scan
 * could not read is reported again, with the exit status it gave.
 */
export async function reportCommand(opts: ReportCommandOptions, io: Io): Promise<number> {
  if (opts.files.length === 0) throw new UserError('report needs at least one snapshot or core file');
  if (opts.files.filter((f) => f === STDIN_PATH).length > 1) throw new UserError("'-' (standard input) can be read only once");
  checkReportOutput(opts, io);
  const openers: SourceOpener[] = [];
  const snapshots: SnapshotFile[] = [];
  const files: InputFile[] = [];
  const inputs: ReportInput[] = [];
  const recordedSkipped: Skipped[] = [];
  const recordedWarnings: string[] = [];
  const recordedProcesses = new Map<ProcessInfo, SnapshotProcess>();
  let pageSize: number | null = null;
  let settings: KsmSettings | null = null;
  let root = false;
  // How a snapshot's kernel splits huge pages, when a snapshot alone is analysed.
  let thp: ThpBehaviour | undefined;
  let hugePagesRecorded = false;
  const engine = chooseEngine();
  const live = hasSelection(opts.selection) ? liveOpeners(opts.selection, opts.threads, engine, io) : null;
  try {
    if (live !== null) {
      pageSize = live.pageSize;
      root = live.root;
      openers.push(...live.openers);
    }
    for (const given of opts.files) {
      const input = await openInputFile(given, process.stdin);
      files.push(input);
      if (sniffInput(input.head) === 'snapshot') {
        const snap = new SnapshotFile(input.path, input.name, engine.hasher);
        snapshots.push(snap);
        const h = snap.header;
        const ps = h.host.pageSize;
        if (pageSize !== null && ps !== pageSize) throw new UserError(`${input.name}: page size ${ps} differs from the other sources' ${pageSize}`);
        pageSize = ps;
        // A snapshot alone is analysed with the settings it was taken with.
        if (live === null && settings === null) {
          settings = h.ksm;
          root = h.host.root;
          thp ??= h.thp ?? thpBehaviourOf(h.host.kernel, null);
        }
        if (h.thp?.hugePagesKnown === true) hugePagesRecorded = true;
        openers.push(...snap.openers());
        inputs.push({ file: input.given, kind: 'snapshot', createdAt: h.createdAt, hostname: h.host.hostname, kernel: h.host.kernel });
        for (const k of h.skipped) recordedSkipped.push({ ...k, source: snap.labelOf(k.source) });
        for (const w of h.warnings) recordedWarnings.push(`${input.name}: ${w}`);
        for (const p of snap.processes) recordedProcesses.set(p.info, p);
      } else {
        const core = openCoreFile(input.path, input.head, pageSize, input.name);
        pageSize ??= core.pageSize;
        openers.push(core.opener);
        inputs.push({ file: input.given, kind: 'core', createdAt: null, hostname: null, kernel: null });
      }
    }
    const chosen = effectiveSettings(settings, opts, io);
    const progress = await progressFor(opts.progress, io);
    const began = (await live?.readRegionsAhead()) ?? performance.now();
    const notScanned = [...(live?.notScanned ?? []), ...recordedSkipped];
    const scanOptions = {
      pageSize: pageSize ?? systemPageSize(), settings: chosen, progress, began, notScanned, engine, hugePagesRecorded, ...(thp === undefined ? {} : { thp }),
      ...(opts.groupBy === undefined ? {} : { groupBy: opts.groupBy }),
    };
    // Snapshots taken with --interval recorded which pages changed: their estimate leaves them out.
    const sampledSnapshots = snapshots.filter((s) => s.header.volatility !== undefined);
    let scan: ReportScan;
    if (sampledSnapshots.length === 0) scan = runScan(openers, scanOptions);
    else {
      const collected = collect(openers, scanOptions);
      const sampled = new Set(sampledSnapshots.flatMap((s) => s.processes.map((p) => p.info)));
      const recorded = sampledSnapshots.map((s) => s.header.volatility as SnapshotVolatility);
      scan = analyse(collected, chosen, { groupBy: opts.groupBy, sample: recordedSample(collected, sampled, recorded) });
      if (scan.volatility !== undefined) scan.volatility.pace = recorded[0]?.pace ?? null;
      if (snapshots.length < opts.files.length || live !== null || sampledSnapshots.length < snapshots.length) {
        scan.warnings.push('only the snapshots taken with --interval say which pages changed: the other sources are taken as still');
      }
    }
    // A snapshot's regions that its scan could not read count as they did then: they decide
    // the exit status as they did.
    for (const s of scan.sources) {
      const recorded = recordedProcesses.get(s.info);
      if (recorded === undefined) continue;
      s.regionsSkipped += recorded.regionsSkipped;
      s.regionsFailed += recorded.regionsFailed;
    }
    scan.warnings.push(...recordedWarnings);
    scan.inputs = inputs;
    return await printReport(scan, root, opts, io);
  } finally {
    for (const s of snapshots) s.release();
    for (const f of files) f.close();
    live?.close();
  }
}
