import Table from 'cli-table3';
import type { Estimate, Report } from '../report/report.js';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { skipLines } from './skip-lines.js';

export interface TableOptions {
  /** Rows of the process table; the rest are summed into one line. */
  maxProcesses?: number;
}

/** The report for a person: a summary, then tables by mapping type and by process. */
export function renderTable(report: Report, opts: TableOptions = {}): string {
  const ps = report.host.pageSize;
  const out: string[] = [];
  const t = report.totals;
  out.push(
    `samepage: ${formatCount(t.processes)} process${t.processes === 1 ? '' : 'es'}, ${formatBytes(t.residentPages * ps)} resident ` +
      `(${formatBytes(t.anonPages * ps)} anonymous) scanned in ${(t.elapsedMs / 1000).toFixed(1)} s`,
  );
  for (const i of report.inputs) {
    const file = i.file === '-' ? 'stdin' : i.file;
    out.push(i.kind === 'snapshot' ? `snapshot ${file}: taken ${i.createdAt ?? '?'} on host ${i.hostname ?? '?'} (Linux ${i.kernel ?? '?'})` : `core ${file}`);
  }
  out.push('');
  const e = report.estimate;
  out.push(`If KSM were enabled for these processes (prctl PR_SET_MEMORY_MERGE / systemd MemoryKSM=yes):`);
  out.push(...estimateLines(e, t.anonPages * ps, ps));
  const today = report.scopes.find((s) => s.scope === 'mergeable-now');
  if (today !== undefined) {
    out.push('');
    out.push(
      `What KSM merges today (VMAs already marked mergeable): RAM freed ${formatBytes(today.ramFreedBytes)}, ` +
        `pages_sharing ${formatCount(today.counters.pages_sharing)}, net ${formatBytes(today.netSavingBytes)}`,
    );
  }
  out.push('');
  out.push(
    `KSM settings used: use_zero_pages ${report.ksm.useZeroPages ? 1 : 0}, max_page_sharing ${report.ksm.maxPageSharing} (${report.ksm.settingsSource})`,
  );
  out.push('');

  const kinds = new Table({
    head: ['mapping type', 'virtual', 'resident', 'zero-filled', 'dup within process', 'dup across processes', 'KSM frees'],
    colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [] },
  });
  for (const k of report.byKind) {
    if (k.virtualPages === 0 && k.residentPages === 0) continue;
    kinds.push([k.label, bytes(k.virtualPages, ps), bytes(k.residentPages, ps), bytes(k.zeroPages, ps), bytes(k.dupWithinProcess, ps), bytes(k.dupAcrossProcesses, ps), bytes(k.ksmSaveablePages, ps)]);
  }
  out.push('By mapping type');
  out.push(kinds.toString());
  out.push('');

  const procs = new Table({
    head: ['pid', 'command', 'type', 'resident', 'anonymous', 'dup within', 'dup across', 'KSM frees', 'ksm_merging_pages'],
    colAligns: ['right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [] },
  });
  const limit = opts.maxProcesses ?? 40;
  const sorted = [...report.processes].sort((a, b) => b.ramFreedBytes - a.ramFreedBytes || b.residentPages - a.residentPages);
  for (const p of sorted.slice(0, limit)) {
    procs.push([
      String(p.pid),
      truncate(p.command, 20),
      p.chromiumType ?? '',
      bytes(p.residentPages, ps),
      bytes(p.anonPages, ps),
      bytes(p.dupWithinProcess, ps),
      bytes(p.dupAcrossProcesses, ps),
      formatBytes(p.ramFreedBytes),
      formatCount(p.ksm_merging_pages),
    ]);
  }
  if (sorted.length > limit) {
    const rest = sorted.slice(limit);
    procs.push(['', `(${rest.length} more)`, '', bytes(sumOf(rest, (p) => p.residentPages), ps), bytes(sumOf(rest, (p) => p.anonPages), ps), '', '', formatBytes(sumOf(rest, (p) => p.ramFreedBytes)), formatCount(sumOf(rest, (p) => p.ksm_merging_pages))]);
  }
  out.push('By process');
  out.push(procs.toString());

  out.push(...skipLines(report.skipped, report.warnings));
  for (const c of report.caveats) out.push(`note: ${c}`);
  return `${out.join('\n')}\n`;
}

function estimateLines(e: Estimate, anonBytes: number, ps: number): string[] {
  const c = e.counters;
  return [
    `  RAM freed          ${pad(formatBytes(e.ramFreedBytes))}  ${formatPercent(e.ramFreedBytes, anonBytes)} of resident anonymous memory`,
    `  KSM metadata       ${pad(formatBytes(e.metadataBytes))}  ${formatCount(e.rmapItems)} rmap_items x 64 B`,
    `  Net saving         ${pad(formatBytes(e.netSavingBytes))}`,
    `  KSM counters then  pages_shared ${formatCount(c.pages_shared)}, pages_sharing ${formatCount(c.pages_sharing)}, ksm_zero_pages ${formatCount(c.ksm_zero_pages)}, general_profit ${formatBytes(e.generalProfitBytes)}`,
    `  Identical pages    ${pad(formatBytes(e.naiveDuplicateBytes))}  naive count of identical contents, whatever KSM can merge (not the saving)`,
    ...(c.pages_sharing * ps > e.ramFreedBytes + ps
      ? [`  (pages_sharing counts pages already shared by fork too, so it shows more than the RAM freed)`]
      : []),
  ];
}

function pad(s: string): string {
  return s.padStart(10);
}

function bytes(pages: number, ps: number): string {
  return pages === 0 ? '-' : formatBytes(pages * ps);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function sumOf<T>(items: readonly T[], f: (t: T) => number): number {
  let t = 0;
  for (const i of items) t += f(i);
  return t;
}
