import type { ContentResult, ScopeResult } from './ksm-model.js';

/**
 * The layout of the one Float64Array the native model pass (native/ksm_model.c) counts into,
 * and how it is added to the model's result. In order: distinct contents, naive duplicates;
 * per kind: resident, zero, zero page mapped, within, across; per process: resident, anon,
 * zero, within, across; then per scope: RAM freed, pages_shared, pages_sharing, ksm_zero_pages,
 * pages_unshared, rmap_items, and per process merging, zero pages, rmap items, RAM freed, then
 * RAM freed per kind.
 */
export function nativeCounterLength(kinds: number, procs: number): number {
  return 2 + 5 * kinds + 5 * procs + 2 * (6 + 4 * procs + kinds);
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
    s.ramFreedPages += c[at++] as number;
    s.pagesShared += c[at++] as number;
    s.pagesSharing += c[at++] as number;
    s.ksmZeroPages += c[at++] as number;
    s.pagesUnshared += c[at++] as number;
    s.rmapItems += c[at++] as number;
    const pp = s.perProcess;
    for (const a of [pp.mergingPages, pp.zeroPages, pp.rmapItems, pp.ramFreedPages]) take(a, procs);
    take(s.ramFreedByKind, kinds);
  }
}
