import type { ProcessRow, Report } from '../report/report.js';
import { plural } from '../util/plural.js';
import { formatBytes, formatCount } from './format.js';
import { hasSeveralSources, sortProcesses, sourceLabels, type SortKey } from './process-order.js';
import { escapeLine } from './text-escape.js';

interface MdColumn {
  header: string;
  right: boolean;
  cell(p: ProcessRow): string;
  /** The cell of the rows summed: the "N more" row and the total. */
  sum?(rows: readonly ProcessRow[]): string;
}

/**
 * The report as one GitHub-flavoured Markdown table to paste into an issue or a chat: one row
 * per process (the first --top, the rest summed in one row), then the total, which is the RAM
 * KSM would free. Every line starts and ends with '|'; names are escaped as ps does, and
 * Markdown's own characters are escaped so a name renders as the text it is.
 */
export function renderMarkdown(report: Report, opts: { maxProcesses?: number; sort?: SortKey } = {}): string {
  const ps = report.host.pageSize;
  const size = (pages: number): string => (pages === 0 ? '-' : formatBytes(pages * ps));
  const total = (f: (p: ProcessRow) => number) => (rows: readonly ProcessRow[]) => rows.reduce((n, p) => n + f(p), 0);
  const label = sourceLabels(report.processes);
  const columns: MdColumn[] = [
    ...(hasSeveralSources(report.processes) ? [{ header: 'source', right: false, cell: (p: ProcessRow) => text(label(p)) }] : []),
    { header: 'pid', right: true, cell: (p) => String(p.pid) },
    { header: 'command', right: false, cell: (p) => text(p.command) },
    ...(report.processes.some((p) => p.chromiumType !== null) ? [{ header: 'type', right: false, cell: (p: ProcessRow) => text(p.chromiumType ?? '') }] : []),
    { header: 'resident', right: true, cell: (p) => size(p.residentPages), sum: (r) => size(total((p) => p.residentPages)(r)) },
    { header: 'anonymous', right: true, cell: (p) => size(p.anonPages), sum: (r) => size(total((p) => p.anonPages)(r)) },
    { header: 'dup within', right: true, cell: (p) => size(p.dupWithinProcess) },
    { header: 'dup across', right: true, cell: (p) => size(p.dupAcrossProcesses) },
    { header: 'already shared', right: true, cell: (p) => size(p.alreadySharedPages), sum: (r) => size(total((p) => p.alreadySharedPages)(r)) },
    { header: 'KSM frees', right: true, cell: (p) => formatBytes(p.ramFreedBytes), sum: (r) => formatBytes(total((p) => p.ramFreedBytes)(r)) },
    { header: 'ksm_merging_pages', right: true, cell: (p) => formatCount(p.ksm_merging_pages), sum: (r) => formatCount(total((p) => p.ksm_merging_pages)(r)) },
  ];
  const sorted = sortProcesses(report.processes, opts.sort ?? 'freed');
  const limit = opts.maxProcesses ?? 40;
  const rest = sorted.slice(limit);
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const summed = (name: string, rows: readonly ProcessRow[]): string =>
    row(columns.map((c) => (c.header === 'command' ? name : (c.sum?.(rows) ?? ''))));
  const lines = [row(columns.map((c) => c.header)), row(columns.map((c) => (c.right ? '---:' : '---'))), ...sorted.slice(0, limit).map((p) => row(columns.map((c) => c.cell(p))))];
  if (rest.length > 0) lines.push(summed(`(${formatCount(rest.length)} more)`, rest));
  lines.push(summed(`**all ${plural(sorted.length, 'process', 'processes', formatCount)}**`, sorted));
  if (report.groupBy !== null && report.groupTotals !== null) lines.push('', ...groupMarkdown(report, row));
  return `${lines.join('\n')}\n`;
}

/**
 * A name as Markdown text: '?' for what does not print (as ps shows it), then escaped what
 * means something inline in a GFM cell: the cell bar, code, emphasis, strikethrough, links, HTML
 * and entities.
 */
function text(s: string): string {
  return escapeLine(s).replace(/[\\`*_[\]<>|~&]/g, (c) => `\\${c}`);
}

/** --group-by: a second table, one row per group alone, the totals, and the pairs that free more together. */
function groupMarkdown(report: Report, row: (cells: string[]) => string): string[] {
  const t = report.groupTotals;
  if (t === null) return [];
  const vm = report.groups.some((g) => g.vm !== null);
  const head = [report.groupBy ?? 'group', 'processes', ...(vm ? ['guest RAM', 'QEMU own', 'zero-filled guest RAM'] : []), 'KSM frees alone', 'metadata', 'net saving'];
  const lines = [row(head), row(head.map((_, i) => (i === 0 ? '---' : '---:')))];
  for (const g of [...report.groups].sort((a, b) => b.alone.ramFreedBytes - a.alone.ramFreedBytes)) {
    const guest = g.vm === null ? ['', '', ''] : [formatBytes(g.vm.guestRamResidentBytes), formatBytes(g.vm.qemuOwnResidentBytes), formatBytes(g.vm.zeroFilledGuestRamBytes)];
    lines.push(row([text(g.key), formatCount(g.pids.length), ...(vm ? guest : []), formatBytes(g.alone.ramFreedBytes), formatBytes(g.alone.metadataBytes), formatBytes(g.alone.netSavingBytes)]));
  }
  const blank = vm ? ['', '', ''] : [];
  lines.push(row(['**every group alone**', '', ...blank, formatBytes(t.aloneRamFreedBytes), '', formatBytes(t.aloneNetSavingBytes)]));
  lines.push(row(['**all together**', '', ...blank, formatBytes(t.togetherRamFreedBytes), '', formatBytes(t.togetherNetSavingBytes)]));
  const pairs = report.groupPairs.filter((p) => p.crossRamFreedBytes > 0);
  if (pairs.length > 0) {
    lines.push('', row(['group', 'with', 'frees across']), row(['---', '---', '---:']));
    for (const p of pairs) lines.push(row([text(p.a), text(p.b), formatBytes(p.crossRamFreedBytes)]));
  }
  return lines;
}
