import type { ProcessRow } from '../report/report.js';

/** What --sort takes: the column the process rows are ordered by, largest first (pid and names ascending). */
export const SORT_KEYS = ['freed', 'resident', 'anonymous', 'swapped', 'dup-within', 'dup-across', 'merging', 'pid', 'command', 'source'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

const BY: Record<SortKey, (a: ProcessRow, b: ProcessRow) => number> = {
  freed: (a, b) => b.ramFreedBytes - a.ramFreedBytes,
  resident: (a, b) => b.residentPages - a.residentPages,
  anonymous: (a, b) => b.anonPages - a.anonPages,
  swapped: (a, b) => b.swappedPages - a.swappedPages,
  'dup-within': (a, b) => b.dupWithinProcess - a.dupWithinProcess,
  'dup-across': (a, b) => b.dupAcrossProcesses - a.dupAcrossProcesses,
  merging: (a, b) => b.ksm_merging_pages - a.ksm_merging_pages,
  pid: (a, b) => a.pid - b.pid,
  command: (a, b) => compareText(a.command, b.command),
  source: (a, b) => compareText(sourceOf(a), sourceOf(b)),
};

/** The rows in the chosen order; ties by RAM freed, resident memory, then source and pid, so the order never depends on the scan's. */
export function sortProcesses(rows: readonly ProcessRow[], key: SortKey): ProcessRow[] {
  const by = BY[key];
  return [...rows].sort((a, b) => by(a, b) || BY.freed(a, b) || BY.resident(a, b) || compareText(sourceOf(a), sourceOf(b)) || a.pid - b.pid);
}

/** Where a row comes from, as its source column shows it: the file given, or "live". */
export function sourceOf(row: ProcessRow): string {
  return row.file ?? 'live';
}

/**
 * The source column as a person reads it: a file's name alone when no two files share it (the
 * folder says little and takes the room), else the file as given; "live" for a live process.
 */
export function sourceLabels(rows: readonly ProcessRow[]): (row: ProcessRow) => string {
  const files = [...new Set(rows.map((r) => r.file).filter((f): f is string => f !== null))];
  const names = files.map(baseName);
  const short = new Set(names).size === names.length && !names.includes('live');
  return (row) => (row.file === null ? 'live' : short ? baseName(row.file) : row.file);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The report holds rows of more than one source (files, or files and live processes): they need a source column. */
export function hasSeveralSources(rows: readonly ProcessRow[]): boolean {
  return new Set(rows.map(sourceOf)).size > 1;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
