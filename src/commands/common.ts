import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { selectProcesses, type Selection } from '../live/select.js';
import { LiveSource } from '../live/live-source.js';
import type { SourceRegion } from '../source/memory-source.js';
import { MAX_PROCESSES } from '../index/page-index.js';
import { KernelPhysicalPages } from '../physical/physical-pages.js';
import { DEFAULT_KSM_SETTINGS, readKsmSettings, type KsmSettings } from '../analysis/ksm-settings.js';
import type { ProgressReporter, ScanResult } from '../scan/scan.js';
import type { SourceOpener } from '../source/source-opener.js';
import { buildReport } from '../report/build-report.js';
import { render } from '../reporters/render.js';
import type { Format } from '../reporters/formats.js';
import type { SortKey } from '../reporters/process-order.js';
import { skipLines } from '../reporters/skip-lines.js';
import { checkOutputPath, writeOutputFile } from '../util/output-file.js';
import { localeIsUtf8, outputWidth } from '../reporters/terminal.js';
import { escapeLine } from '../reporters/text-escape.js';
import type { Engine } from '../engine/engine.js';
import { isRoot, systemPageSize } from '../util/system.js';
import { EXIT_NO_PERMISSION, UserError } from '../util/errors.js';
import { groupedReasons, isBenignSkip, type Skipped } from '../source/skipped.js';
import { UserNames, readGroupingFacts } from '../live/grouping-facts.js';
import type { GroupBy } from '../grouping/group-keys.js';

export const EXIT_OK = 0;
export const EXIT_PARTIAL = 1;
export const EXIT_ERROR = 2;

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** A progress bar on stderr when it is a terminal; its module is loaded only then. */
export async function progressFor(enabled: boolean, io: Io): Promise<ProgressReporter | undefined> {
  if (!enabled || !io.stderr.isTTY) return undefined;
  return (await import('../reporters/progress-bar.js')).terminalProgress(io.stderr, !localeIsUtf8(process.env));
}

export interface OutputOptions {
  format: Format;
  /** The file to write the report to; null for stdout. */
  output: string | null;
  top: number;
  sort: SortKey;
  /** --group-by and --min-saving (the recommendation's floor). */
  groupBy?: GroupBy | undefined;
  minSaving?: number;
}

export interface WhatIf {
  useZeroPages: number | undefined;
  maxPageSharing: number | undefined;
}

export function hasSelection(s: Selection): boolean {
  return s.pids.length + s.names.length + s.trees.length > 0 || s.chromium || s.chromiumAll || s.all || s.qemu === true;
}

/** Live processes as sources, sharing the kernel's physical information when root. */
export interface LiveOpeners {
  openers: SourceOpener[];
  root: boolean;
  pageSize: number;
  /** The kernel's physical page information, when root. */
  physical: KernelPhysicalPages | null;
  /** What the selection matched but will not read (kernel threads, zombies, samepage's own chain). */
  notScanned: Skipped[];
  /** Reads every process's smaps now, several at a time, for the scan to use; returns when it began: the scan's start. */
  readRegionsAhead(): Promise<number>;
  close(): void;
}

export function liveOpeners(selection: Selection, threads: number, engine: Engine, io: Io): LiveOpeners {
  const { processes, notScanned } = selectProcesses(selection, process.pid);
  // What --group-by groups by, read once per selected process (kept in snapshots too).
  const users = new UserNames();
  for (const p of processes) p.info = { ...p.info, grouping: readGroupingFacts(p.info.pid, users) };
  const infos = processes.map((p) => p.info);
  const root = isRoot();
  const pageSize = systemPageSize();
  const physical = root ? KernelPhysicalPages.tryOpen() : null;
  const pfnsVisible = physical !== null;
  if (!pfnsVisible) {
    io.stderr.write(
      'samepage: warning: not root, so the kernel hides physical frame numbers: pages already shared by fork cannot be recognised and the estimate is an upper bound\n',
    );
  }
  let ahead = new Map<number, SourceRegion[]>();
  return {
    openers: processes.map(({ info, named }) => ({
      label: `pid ${info.pid} (${info.command})`,
      pid: info.pid,
      named,
      open: () => {
        const regions = ahead.get(info.pid) ?? null;
        ahead.delete(info.pid);
        return new LiveSource(info, pageSize, pfnsVisible, physical, engine.liveRegions, threads, regions);
      },
    })),
    root,
    pageSize,
    physical,
    notScanned,
    readRegionsAhead: async () => {
      const began = performance.now();
      // More processes than a scan takes: the scan says so before anything is read.
      if (infos.length <= MAX_PROCESSES) ahead = await engine.readRegionsAhead(infos.map((i) => i.pid), pageSize, threads);
      return began;
    },
    close: () => physical?.close(),
  };
}

/** The kernel's KSM settings, or KSM's defaults, with the command line's "what if" on top. */
export function effectiveSettings(base: KsmSettings | null, whatIf: WhatIf, io: Io): KsmSettings {
  let settings = base;
  if (settings === null) {
    settings = readKsmSettings();
    if (settings === null) io.stderr.write('samepage: warning: KSM is not available here (/sys/kernel/mm/ksm): assuming its defaults\n');
  }
  const chosen = settings ?? DEFAULT_KSM_SETTINGS;
  if (whatIf.useZeroPages === undefined && whatIf.maxPageSharing === undefined) return chosen;
  return {
    ...chosen,
    useZeroPages: whatIf.useZeroPages === undefined ? chosen.useZeroPages : whatIf.useZeroPages === 1,
    maxPageSharing: whatIf.maxPageSharing ?? chosen.maxPageSharing,
    source: 'flags',
  };
}

/** Nothing could be read at all: the reasons, grouped, as one error. */
export function nothingScanned(skipped: readonly Skipped[]): UserError {
  const failures = skipped.filter((k) => !isBenignSkip(k.kind));
  const code = failures.length > 0 && failures.every((k) => k.permissionDenied) ? EXIT_NO_PERMISSION : EXIT_ERROR;
  const lines = groupedReasons(failures.length > 0 ? failures : skipped);
  return new UserError(lines.length === 1 ? (lines[0] as string) : `nothing could be scanned:\n  ${lines.join('\n  ')}`, code);
}

/** The file of --output, or null for standard output ('-' or no --output). */
function reportFile(out: OutputOptions): string | null {
  return out.output === null || out.output === '-' ? null : out.output;
}

/** Before any work: the file of --output can be written (src/util/output-file.ts says what may be). */
export function checkReportOutput(out: OutputOptions, io: Io): void {
  const file = reportFile(out);
  if (file !== null) checkOutputPath(file, io.stdout);
}

/** Prints the report and returns the exit status: partial when memory a user named could not be read. */
export async function printReport(scan: ScanResult, root: boolean, out: OutputOptions, io: Io): Promise<number> {
  if (scan.sources.length === 0) throw nothingScanned(scan.skipped);
  const report = buildReport(scan, { version: readVersion(), root, ...(out.minSaving === undefined ? {} : { minSaving: out.minSaving }) });
  const ascii = !localeIsUtf8(process.env);
  // A table is fitted to the terminal it is printed on; one written to a file, to COLUMNS or 80.
  const file = reportFile(out);
  const width = outputWidth(process.env, file === null ? io.stdout : null);
  const text = await render(report, { format: out.format, top: out.top, sort: out.sort, width, ascii });
  if (file === null) io.stdout.write(text);
  else await writeOutputFile(file, io.stdout, (sink) => sink.write(Buffer.from(text, 'utf8')));
  // The table says what was not scanned; with the other formats it goes to stderr.
  if (out.format !== 'table') for (const line of skipLines(report.skipped, report.warnings)) io.stderr.write(`samepage: ${escapeLine(line, ascii)}\n`);
  if (file !== null) io.stdout.write(`samepage: wrote ${escapeLine(file, ascii)} (${out.format})\n`);
  return report.partial ? EXIT_PARTIAL : EXIT_OK;
}

let cachedVersion: string | null = null;

export function readVersion(): string {
  if (cachedVersion === null) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    cachedVersion = pkg.version ?? '0.0.0';
  }
  return cachedVersion;
}
