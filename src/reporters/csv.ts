import type { Report } from '../report/report.js';
import { sortProcesses, type SortKey } from './process-order.js';
import { PROCESS_FIELDS } from './process-fields.js';

/**
 * The report as one CSV table (RFC 4180): a header row, then one row per process, every
 * process, exact bytes. Names are kept exact: a field with a comma, a quote or a line break is
 * quoted, its quotes doubled.
 */
export function renderCsv(report: Report, opts: { sort?: SortKey } = {}): string {
  const ps = report.host.pageSize;
  const lines = [PROCESS_FIELDS.map((f) => f.name).join(',')];
  for (const p of sortProcesses(report.processes, opts.sort ?? 'freed')) lines.push(PROCESS_FIELDS.map((f) => csvField(f.value(p, ps))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function csvField(value: string | number | boolean): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
