import type { ProcessRow } from '../report/report.js';
import { sourceOf } from './process-order.js';

/**
 * One process row as exact values, for formats read by programs (CSV, plain): bytes rather than
 * rounded sizes, snake_case names, the same columns whatever the report holds.
 */
export interface Field {
  name: string;
  value(p: ProcessRow, pageSize: number): string | number | boolean;
}

export const PROCESS_FIELDS: readonly Field[] = [
  { name: 'source', value: (p) => sourceOf(p) },
  { name: 'pid', value: (p) => p.pid },
  { name: 'command', value: (p) => p.command },
  { name: 'chromium_type', value: (p) => p.chromiumType ?? '' },
  { name: 'origin', value: (p) => p.origin },
  { name: 'virtual_bytes', value: (p, ps) => p.virtualPages * ps },
  { name: 'resident_bytes', value: (p, ps) => p.residentPages * ps },
  { name: 'swapped_bytes', value: (p, ps) => p.swappedPages * ps },
  { name: 'anonymous_bytes', value: (p, ps) => p.anonPages * ps },
  { name: 'zero_filled_bytes', value: (p, ps) => p.zeroPages * ps },
  // Duplicates are shared out among mappings, in fractions of a page: to the byte here.
  { name: 'dup_within_bytes', value: (p, ps) => Math.round(p.dupWithinProcess * ps) },
  { name: 'dup_across_bytes', value: (p, ps) => Math.round(p.dupAcrossProcesses * ps) },
  { name: 'ram_freed_bytes', value: (p) => p.ramFreedBytes },
  { name: 'ksm_merging_pages', value: (p) => p.ksm_merging_pages },
  { name: 'ksm_zero_pages', value: (p) => p.ksm_zero_pages },
  { name: 'ksm_rmap_items', value: (p) => p.ksm_rmap_items },
  { name: 'ksm_process_profit', value: (p) => p.ksm_process_profit },
  { name: 'mergeable_now', value: (p) => p.mergeableNow },
  { name: 'ram_freed_today_bytes', value: (p) => p.mergeableNowScope.ramFreedBytes },
  { name: 'already_shared_bytes', value: (p, ps) => Math.round(p.alreadySharedPages * ps) },
];
