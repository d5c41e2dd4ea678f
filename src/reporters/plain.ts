import type { Report } from '../report/report.js';
import { sortProcesses, type SortKey } from './process-order.js';
import { PROCESS_FIELDS } from './process-fields.js';
import { escapeLine } from './text-escape.js';

/**
 * The report for scripts, as smem and ps_mem give it: tab-separated columns, a header line, then
 * one line per process, every process, exact bytes (cut -f, awk -F'\t', sort -t$'\t'). A name's
 * tabs, newlines and other controls are '?' as ps shows them: one line is one process.
 */
export function renderPlain(report: Report, opts: { sort?: SortKey; ascii?: boolean } = {}): string {
  const ps = report.host.pageSize;
  const lines = [PROCESS_FIELDS.map((f) => f.name).join('\t')];
  for (const p of sortProcesses(report.processes, opts.sort ?? 'freed')) {
    lines.push(PROCESS_FIELDS.map((f) => escapeLine(String(f.value(p, ps)), opts.ascii ?? false)).join('\t'));
  }
  return `${lines.join('\n')}\n`;
}
