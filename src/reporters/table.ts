import type { Estimate, ProcessRow, Report, ThpScope } from '../report/report.js';
import { plural } from '../util/plural.js';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { hasSeveralSources, sortProcesses, sourceLabels, type SortKey } from './process-order.js';
import { skipLines } from './skip-lines.js';
import { escapeLine } from './text-escape.js';
import { renderColumns, type Column } from './text-table.js';
import { wrapLine } from './wrap.js';
import { groupTableLines } from './group-table.js';

export interface TableOptions {
  /** Rows of the process table; the rest are summed into one line. */
  maxProcesses?: number;
  sort?: SortKey;
  /** Columns to fit (COLUMNS, the terminal's width). */
  width?: number;
  /** ASCII only (the locale is not UTF-8): '-' rules, '+' for a cut name, '?' for other characters. */
  ascii?: boolean;
}

/** The report for a person at a terminal: a summary, then compact tables by mapping type and by process. */
export function renderTable(report: Report, opts: TableOptions = {}): string {
  const width = Math.max(20, opts.width ?? 80);
  const ascii = opts.ascii ?? false;
  const ps = report.host.pageSize;
  const out: string[] = [];
  // Every line goes through here: escaped (it may hold a process's name), then wrapped.
  const say = (line: string, indent = 0): void => {
    out.push(...wrapLine(escapeLine(line, ascii), width, indent));
  };
  const t = report.totals;
  say(
    `samepage: ${plural(t.processes, 'process', 'processes', formatCount)}, ${formatBytes(t.residentPages * ps)} resident ` +
      `(${formatBytes(t.anonPages * ps)} anonymous) scanned in ${(t.elapsedMs / 1000).toFixed(1)} s`,
    2,
  );
  for (const i of report.inputs) {
    const file = i.file === '-' ? 'stdin' : i.file;
    say(i.kind === 'snapshot' ? `snapshot ${file}: taken ${i.createdAt ?? '?'} on host ${i.hostname ?? '?'} (Linux ${i.kernel ?? '?'})` : `core ${file}`, 2);
  }
  say('');
  say('If KSM were enabled for these processes (prctl PR_SET_MEMORY_MERGE / systemd MemoryKSM=yes):', 2);
  for (const [line, indent] of estimateLines(report.estimate, t.anonPages * ps, ps, report.thp.scopes[0])) say(line, indent);
  const today = report.scopes.find((s) => s.scope === 'mergeable-now');
  if (today !== undefined) {
    say('');
    say(
      `What KSM merges today (VMAs already marked mergeable): RAM freed ${formatBytes(today.ramFreedBytes)}, ` +
        `pages_sharing ${formatCount(today.counters.pages_sharing)}, net ${formatBytes(today.netSavingBytes)}`,
      2,
    );
  }
  const v = report.volatility;
  if (v !== undefined) {
    say('');
    for (const line of volatilityLines(v, ps)) say(line, 2);
  }
  if (report.timing != null) {
    say('');
    say(`Time and CPU (pages_to_scan ${report.timing.pagesToScan}, sleep_millisecs ${report.timing.pace.sleepMillisecs}, ${report.timing.pace.source}): ${report.timing.note}`, 2);
  }
  say('');
  say(`KSM settings used: use_zero_pages ${report.ksm.useZeroPages ? 1 : 0}, max_page_sharing ${report.ksm.maxPageSharing} (${report.ksm.settingsSource})`, 2);
  say('');

  const kindColumns: Column[] = [
    { header: 'mapping type', align: 'left' },
    { header: 'virtual', align: 'right', drop: 2 },
    { header: 'resident', align: 'right' },
    { header: 'zero-filled', align: 'right', drop: 1 },
    { header: 'dup within', align: 'right', drop: 3 },
    { header: 'dup across', align: 'right', drop: 4 },
    { header: 'already shared', align: 'right', drop: 0 },
    { header: 'KSM frees', align: 'right' },
  ];
  const kindRows = report.byKind
    .filter((k) => k.virtualPages !== 0 || k.residentPages !== 0)
    .map((k) => [k.label, bytes(k.virtualPages, ps), bytes(k.residentPages, ps), bytes(k.zeroPages, ps), bytes(k.dupWithinProcess, ps), bytes(k.dupAcrossProcesses, ps), bytes(k.alreadySharedPages, ps), bytes(k.ksmSaveablePages, ps)]);
  say('By mapping type');
  const kinds = renderColumns(kindColumns, kindRows, { width, ascii });
  out.push(...kinds.lines);
  say('');

  const limit = opts.maxProcesses ?? 40;
  const sort = opts.sort ?? 'freed';
  const sorted = sortProcesses(report.processes, sort);
  const shown = sorted.slice(0, limit);
  const rest = sorted.slice(limit);
  const withSource = hasSeveralSources(report.processes);
  const sourceLabel = sourceLabels(report.processes);
  const sourceCut: 'start' | 'end' = report.processes.some((p) => sourceLabel(p).includes('/')) ? 'start' : 'end';
  const withType = report.processes.some((p) => p.chromiumType !== null);
  const columns: Array<Column & { cell: (p: ProcessRow) => string; total?: (rows: ProcessRow[]) => string }> = [
    // A file's name is cut at its end (its start tells files apart), a path at its start.
    ...(withSource ? [{ header: 'source', align: 'left' as const, shrink: { min: 10, from: sourceCut }, cell: (p: ProcessRow) => escapeLine(sourceLabel(p), ascii) }] : []),
    { header: 'pid', align: 'right', cell: (p) => String(p.pid) },
    { header: 'command', align: 'left', shrink: { min: 8, from: 'end' }, cell: (p) => escapeLine(p.command, ascii) },
    ...(withType ? [{ header: 'type', align: 'left' as const, shrink: { min: 6, from: 'end' as const }, drop: 5, cell: (p: ProcessRow) => escapeLine(p.chromiumType ?? '', ascii) }] : []),
    { header: 'resident', align: 'right', cell: (p) => bytes(p.residentPages, ps), total: (r) => bytes(sumOf(r, (p) => p.residentPages), ps) },
    { header: 'anonymous', align: 'right', drop: 2, cell: (p) => bytes(p.anonPages, ps), total: (r) => bytes(sumOf(r, (p) => p.anonPages), ps) },
    { header: 'dup within', align: 'right', drop: 3, cell: (p) => bytes(p.dupWithinProcess, ps) },
    { header: 'dup across', align: 'right', drop: 4, cell: (p) => bytes(p.dupAcrossProcesses, ps) },
    { header: 'already shared', align: 'right', drop: 0, cell: (p) => bytes(p.alreadySharedPages, ps), total: (r) => bytes(sumOf(r, (p) => p.alreadySharedPages), ps) },
    { header: 'KSM frees', align: 'right', cell: (p) => formatBytes(p.ramFreedBytes), total: (r) => formatBytes(sumOf(r, (p) => p.ramFreedBytes)) },
    { header: 'ksm_merging_pages', align: 'right', drop: 1, cell: (p) => formatCount(p.ksm_merging_pages), total: (r) => formatCount(sumOf(r, (p) => p.ksm_merging_pages)) },
  ];
  const rows = shown.map((p) => columns.map((c) => c.cell(p)));
  if (rest.length > 0) rows.push(columns.map((c) => (c.header === 'command' ? `(${formatCount(rest.length)} more)` : (c.total?.(rest) ?? ''))));
  say(sort === 'freed' ? 'By process' : `By process, by ${sort}`);
  const procs = renderColumns(columns, rows, { width, ascii });
  out.push(...procs.lines);
  const dropped = [...new Set([...kinds.dropped, ...procs.dropped])];
  if (dropped.length > 0) say(`(left out to fit ${width} columns: ${dropped.join(', ')}; a wider COLUMNS or --format plain shows them)`, 1);

  if (report.groupBy !== null) {
    say('');
    groupTableLines(report, width, ascii, say, (lines) => out.push(...lines));
  }
  for (const line of skipLines(report.skipped, report.warnings)) say(line, 2);
  for (const c of report.caveats) say(`note: ${c}`, 6);
  return `${out.join('\n')}\n`;
}

/** The estimate's lines, each with the indent its wrapped lines take. */
function estimateLines(e: Estimate, anonBytes: number, ps: number, thp: ThpScope | undefined): Array<[string, number]> {
  const c = e.counters;
  const huge = thp === undefined || thp.ramFreedInHugePagesBytes === 0 ? [] : [
    [
      `  In huge pages      ${pad(formatBytes(thp.ramFreedInHugePagesBytes))}  of RAM freed; KSM splits ${formatCount(thp.hugePagesSplit)} huge pages` +
        (thp.zeroSubpagesFreedBySplit > 0 ? `, which frees ${formatCount(thp.zeroSubpagesFreedBySplit)} zero-filled subpages that no KSM counter shows` : ''),
      33,
    ] as [string, number],
  ];
  return [
    [`  RAM freed          ${pad(formatBytes(e.ramFreedBytes))}  ${formatPercent(e.ramFreedBytes, anonBytes)} of resident anonymous memory`, 33],
    [`  KSM metadata       ${pad(formatBytes(e.metadataBytes))}  ${formatCount(e.rmapItems)} rmap_items x 64 B`, 33],
    [`  Net saving         ${pad(formatBytes(e.netSavingBytes))}`, 33],
    [
      `  KSM counters then  pages_shared ${formatCount(c.pages_shared)}, pages_sharing ${formatCount(c.pages_sharing)}, ksm_zero_pages ${formatCount(c.ksm_zero_pages)}, general_profit ${formatBytes(e.generalProfitBytes)}`,
      21,
    ],
    ...huge,
    [`  Identical pages    ${pad(formatBytes(e.naiveDuplicateBytes))}  naive count of identical contents, whatever KSM can merge (not the saving)`, 33],
    ...(c.pages_sharing * ps > e.ramFreedBytes + ps
      ? [['  (pages_sharing counts pages already shared by fork too, so it shows more than the RAM freed)', 3] as [string, number]]
      : []),
  ];
}

function pad(s: string): string {
  return s.padStart(10);
}

function bytes(pages: number, ps: number): string {
  return pages === 0 ? '-' : formatBytes(pages * ps);
}

function sumOf<T>(items: readonly T[], f: (t: T) => number): number {
  let t = 0;
  for (const i of items) t += f(i);
  return t;
}

/** The volatility section: what sampling found (or that the estimate assumes a still workload). */
export function volatilityLines(v: NonNullable<Report['volatility']>, ps: number): string[] {
  if (!v.sampled || v.oneInstant === null) return [`Volatility: ${v.note}`];
  const lines = [
    `Volatile pages: ${formatCount(v.volatilePages)} of ${formatCount(v.rereadPages)} read again (${formatPercent(v.volatilePages, v.rereadPages)}) changed within ${v.intervalSeconds} s and are left out above; ` +
      `at one instant RAM freed would read ${formatBytes(v.oneInstant.estimate.ramFreedPages * ps)}`,
  ];
  if (v.counters !== null) lines.push(`KSM would then show pages_volatile ${formatCount(v.counters.pages_volatile)}, pages_unshared ${formatCount(v.counters.pages_unshared)}`);
  const kinds = v.byKind.filter((k) => k.volatilePages > 0).map((k) => `${k.label ?? k.kind ?? '?'} ${formatPercent(k.volatilePages, k.rereadPages)}`);
  if (kinds.length > 0) lines.push(`Volatile share by mapping type: ${kinds.join(', ')}`);
  lines.push(v.note);
  if (v.slowMovers != null) lines.push(`Slow movers: ${v.slowMovers.note}`);
  return lines;
}
