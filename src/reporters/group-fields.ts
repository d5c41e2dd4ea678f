import type { GroupPair, GroupRow, Report } from '../report/report.js';

// --group-by's rows for the formats scripts read (plain, csv): one row per group, then one per
// pair of groups whose merging together frees more (or less) than each alone, every figure exact.

export interface GroupField {
  name: string;
  group(g: GroupRow): string | number;
  pair(p: GroupPair): string | number;
}

const none = (): string => '';

export const GROUP_FIELDS: readonly GroupField[] = [
  { name: 'row', group: () => 'group', pair: () => 'pair' },
  { name: 'kind', group: (g) => g.kind, pair: none },
  { name: 'key', group: (g) => g.key, pair: (p) => p.a },
  { name: 'with', group: none, pair: (p) => p.b },
  { name: 'pids', group: (g) => g.pids.join(' '), pair: none },
  { name: 'ramFreedBytes', group: (g) => g.alone.ramFreedBytes, pair: none },
  { name: 'metadataBytes', group: (g) => g.alone.metadataBytes, pair: none },
  { name: 'netSavingBytes', group: (g) => g.alone.netSavingBytes, pair: none },
  { name: 'pages_shared', group: (g) => g.alone.counters.pages_shared, pair: none },
  { name: 'pages_sharing', group: (g) => g.alone.counters.pages_sharing, pair: none },
  { name: 'ksm_zero_pages', group: (g) => g.alone.counters.ksm_zero_pages, pair: none },
  { name: 'rmapItems', group: (g) => g.alone.rmapItems, pair: none },
  { name: 'crossRamFreedBytes', group: none, pair: (p) => p.crossRamFreedBytes },
  { name: 'guestRamResidentBytes', group: (g) => g.vm?.guestRamResidentBytes ?? '', pair: none },
  { name: 'qemuOwnResidentBytes', group: (g) => g.vm?.qemuOwnResidentBytes ?? '', pair: none },
  { name: 'zeroFilledGuestRamBytes', group: (g) => g.vm?.zeroFilledGuestRamBytes ?? '', pair: none },
];

/** Every row's cells, groups first (as the report orders them), then pairs (largest cross first). */
export function groupRows(report: Report): Array<Array<string | number>> {
  return [...report.groups.map((g) => GROUP_FIELDS.map((f) => f.group(g))), ...report.groupPairs.map((p) => GROUP_FIELDS.map((f) => f.pair(p)))];
}
