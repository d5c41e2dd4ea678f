import type { GroupRow, Report } from '../report/report.js';
import { formatBytes, formatCount } from './format.js';
import { escapeLine } from './text-escape.js';
import { renderColumns, type Column } from './text-table.js';

/** --group-by in the terminal table: one row per group alone, the totals, the pairs, and the recommendation in words; through the table's say() (text) and emit() (fitted table lines). */
export function groupTableLines(report: Report, width: number, ascii: boolean, say: (line: string, indent?: number) => void, emit: (lines: string[]) => void): void {
  if (report.groupBy === null || report.groupTotals === null) return;
  const by = report.groupBy;
  const vm = report.groups.some((g) => g.vm !== null);
  const columns: Array<Column & { cell: (g: GroupRow) => string }> = [
    { header: by, align: 'left', shrink: { min: 12, from: 'start' }, cell: (g) => escapeLine(g.key, ascii) },
    { header: 'procs', align: 'right', drop: 2, cell: (g) => formatCount(g.pids.length) },
    ...(vm
      ? [
          { header: 'guest RAM', align: 'right' as const, drop: 4, cell: (g: GroupRow) => (g.vm === null ? '' : formatBytes(g.vm.guestRamResidentBytes)) },
          { header: 'QEMU own', align: 'right' as const, drop: 3, cell: (g: GroupRow) => (g.vm === null ? '' : formatBytes(g.vm.qemuOwnResidentBytes)) },
          { header: 'zero-filled (balloon)', align: 'right' as const, drop: 5, cell: (g: GroupRow) => (g.vm === null ? '' : formatBytes(g.vm.zeroFilledGuestRamBytes)) },
        ]
      : []),
    { header: 'KSM frees alone', align: 'right', cell: (g) => formatBytes(g.alone.ramFreedBytes) },
    { header: 'metadata', align: 'right', drop: 1, cell: (g) => formatBytes(g.alone.metadataBytes) },
    { header: 'net saving', align: 'right', cell: (g) => formatBytes(g.alone.netSavingBytes) },
  ];
  const sorted = [...report.groups].sort((a, b) => b.alone.ramFreedBytes - a.alone.ramFreedBytes || (a.key < b.key ? -1 : 1));
  const t = report.groupTotals;
  say(`By ${by}: KSM enabled for each group alone`);
  const groups = renderColumns(columns, sorted.map((g) => columns.map((c) => c.cell(g))), { width, ascii });
  emit(groups.lines);
  if (groups.dropped.length > 0) say(`(left out to fit ${width} columns: ${groups.dropped.join(', ')})`, 1);
  say('');
  say(`Every group alone frees ${formatBytes(t.aloneRamFreedBytes)} (net ${formatBytes(t.aloneNetSavingBytes)}); all together ${formatBytes(t.togetherRamFreedBytes)} (net ${formatBytes(t.togetherNetSavingBytes)}): merging across groups adds ${formatBytes(t.acrossGroupsRamFreedBytes)}`, 2);
  const pairs = report.groupPairs.filter((p) => p.crossRamFreedBytes > 0);
  if (pairs.length > 0) {
    say('');
    say(`Across groups: what merging each pair together frees beyond each alone${pairs.length > 20 ? ` (the 20 largest of ${formatCount(pairs.length)})` : ''}`);
    const pairColumns: Column[] = [
      { header: 'group', align: 'left', shrink: { min: 10, from: 'start' } },
      { header: 'with', align: 'left', shrink: { min: 10, from: 'start' } },
      { header: 'frees across', align: 'right' },
    ];
    emit(renderColumns(pairColumns, pairs.slice(0, 20).map((p) => [escapeLine(p.a, ascii), escapeLine(p.b, ascii), formatBytes(p.crossRamFreedBytes)]), { width, ascii }).lines);
  }
  say('');
  const floor = formatBytes(t.minSavingBytes);
  if (report.recommendations.length === 0) {
    say(`Recommendation: no group saves enough alone to be worth KSM's scanning (a net saving of at least ${floor}, --min-saving).`, 2);
  } else {
    say(`Recommendation: enable KSM for ${report.recommendations.length === 1 ? 'this group' : 'these groups'} (net saving at least ${floor}):`, 2);
    for (const r of report.recommendations) {
      say(`  ${r.key}: net ${formatBytes(r.netSavingBytes)}. ${r.how}`, 4);
      if (r.dropIn !== null) say(`    ${r.dropIn.path}: ${r.dropIn.contents.trimEnd().replace(/\n/g, ' | ')}`, 6);
    }
  }
}
