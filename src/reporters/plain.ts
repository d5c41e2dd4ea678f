import type { Report } from '../report/report.js';
import { sortProcesses, type SortKey } from './process-order.js';
import { PROCESS_FIELDS } from './process-fields.js';
import { escapeLine } from './text-escape.js';
import { GROUP_FIELDS, groupRows } from './group-fields.js';

/**
 * The report for scripts, as smem and ps_mem give it: tab-separated columns, a header line, then
 * one line per process, every process, exact bytes (cut -f, awk -F'\t', sort -t$'\t'). A name's
 * tabs, newlines and other controls are '?' as ps shows them: one line is one process.
 */
export function renderPlain(report: Report, opts: { sort?: SortKey; ascii?: boolean } = {}): string {
  // --group-by: one line per group, then one per pair (src/reporters/group-fields.ts).
  if (report.groupBy !== null) {
    const rows = groupRows(report).map((r) => r.map((v) => escapeLine(String(v), opts.ascii ?? false)).join('\t'));
    return `${[GROUP_FIELDS.map((f) => f.name).join('\t'), ...rows].join('\n')}\n`;
  }
  const ps = report.host.pageSize;
  const lines = [PROCESS_FIELDS.map((f) => f.name).join('\t')];
  for (const p of sortProcesses(report.processes, opts.sort ?? 'freed')) {
    lines.push(PROCESS_FIELDS.map((f) => escapeLine(String(f.value(p, ps)), opts.ascii ?? false)).join('\t'));
  }
  return `${lines.join('\n')}\n`;
}
