import type { Report } from '../report/report.js';
import { sortProcesses, type SortKey } from './process-order.js';
import { PROCESS_FIELDS } from './process-fields.js';
import { GROUP_FIELDS, groupRows } from './group-fields.js';

/**
 * The report as one CSV table (RFC 4180): a header row, then one row per process, every
 * process, exact bytes (with --group-by: one row per group, then per pair). Names are kept exact: a field with a comma, a quote or a line break is
 * quoted, its quotes doubled.
 */
export function renderCsv(report: Report, opts: { sort?: SortKey } = {}): string {
  // --group-by: one row per group, then one per pair (src/reporters/group-fields.ts).
  if (report.groupBy !== null) {
    const rows = groupRows(report).map((r) => r.map(csvField).join(','));
    return `${[GROUP_FIELDS.map((f) => f.name).join(','), ...rows].join('\r\n')}\r\n`;
  }
  const ps = report.host.pageSize;
  const lines = [PROCESS_FIELDS.map((f) => f.name).join(',')];
  for (const p of sortProcesses(report.processes, opts.sort ?? 'freed')) lines.push(PROCESS_FIELDS.map((f) => csvField(f.value(p, ps))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
