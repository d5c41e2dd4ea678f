import type { ContentResult, ScopeResult } from './ksm-model.js';

/**
 * The layout of the one Float64Array the native model pass (native/ksm_model.c) counts into,
 * and how it is added to the model's result. In order: distinct contents, naive duplicates;
 * per kind: resident, zero, zero page mapped, within, across; per process: resident, anon,
 * zero, within, across; then per scope: RAM freed, pages_shared, pages_sharing, ksm_zero_pages,
 * pages_unshared, rmap_items, and per process merging, zero pages, rmap items, RAM freed, then
 * RAM freed per kind. The numbers of that layout are native/shared_constants.h's too.
 */
export const COUNTERS_HEAD = 2;
export const COUNTERS_PER_KIND = 5;
export const COUNTERS_PER_PROCESS = 5;
export const COUNTER_SCOPES = 2;
export const SCOPE_RAM_FREED = 0;
export const SCOPE_PAGES_SHARED = 1;
export const SCOPE_PAGES_SHARING = 2;
export const SCOPE_KSM_ZERO_PAGES = 3;
export const SCOPE_PAGES_UNSHARED = 4;
export const SCOPE_RMAP_ITEMS = 5;
export const SCOPE_SCALARS = 6;
export const SCOPE_COUNTERS_PER_PROCESS = 4;
export const SCOPE_COUNTERS_PER_KIND = 1;

export function nativeCounterLength(kinds: number, procs: number): number {
  return (
    COUNTERS_HEAD + COUNTERS_PER_KIND * kinds + COUNTERS_PER_PROCESS * procs +
    COUNTER_SCOPES * (SCOPE_SCALARS + SCOPE_COUNTERS_PER_PROCESS * procs + SCOPE_COUNTERS_PER_KIND * kinds)
  );
}

export function addNativeCounters(c: Float64Array, kinds: number, procs: number, content: ContentResult, scopes: readonly ScopeResult[]): void {
  let at = 0;
  const take = (into: Float64Array, length: number): void => {
    for (let i = 0; i < length; i++) into[i] = (into[i] as number) + (c[at + i] as number);
    at += length;
  };
  content.distinctContents += c[at++] as number;
  content.naiveDuplicatePages += c[at++] as number;
  const k = content.byKind;
  for (const a of [k.resident, k.zero, k.zeroPageMapped, k.dupWithin, k.dupAcross]) take(a, kinds);
  const p = content.byProcess;
  for (const a of [p.resident, p.anon, p.zero, p.dupWithin, p.dupAcross]) take(a, procs);
  for (const s of scopes) {
    s.ramFreedPages += c[at + SCOPE_RAM_FREED] as number;
    s.pagesShared += c[at + SCOPE_PAGES_SHARED] as number;
    s.pagesSharing += c[at + SCOPE_PAGES_SHARING] as number;
    s.ksmZeroPages += c[at + SCOPE_KSM_ZERO_PAGES] as number;
    s.pagesUnshared += c[at + SCOPE_PAGES_UNSHARED] as number;
    s.rmapItems += c[at + SCOPE_RMAP_ITEMS] as number;
    at += SCOPE_SCALARS;
    const pp = s.perProcess;
    for (const a of [pp.mergingPages, pp.zeroPages, pp.rmapItems, pp.ramFreedPages]) take(a, procs);
    take(s.ramFreedByKind, kinds);
  }
}
