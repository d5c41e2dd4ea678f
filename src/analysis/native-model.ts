import type { NativeAddon } from '../native/native-addon.js';
import type { PageIndex } from '../index/page-index.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import { DOMAIN_FILES_ELSEWHERE, MAX_DOMAINS, PhysicalDomains } from '../physical/physical-domains.js';
import { ContentGroups } from './js-model.js';
import { findHugePageSplits } from './huge-page-splits.js';
import { emptyResult, type ContentResult, type ModelOptions, type ModelResult, type ScopeResult } from './model-result.js';

/**
 * The layout of the one Float64Array the native model pass (native/ksm_model.c) counts into,
 * and how it is added to the model's result. In order: distinct contents, naive duplicates,
 * resident pages in huge pages;
 * per kind: resident, zero, zero page mapped, within, across, already shared; per process:
 * resident, anon, zero, within, across, already shared; then per scope: RAM freed,
 * pages_shared, pages_sharing, ksm_zero_pages, pages_unshared, rmap_items, RAM freed in huge
 * pages, and per process merging, zero pages, rmap items, RAM freed, then RAM freed per kind.
 * The numbers of that layout are native/shared_constants.h's too.
 */
export const COUNTERS_HEAD = 3;
export const COUNTERS_PER_KIND = 6;
export const COUNTERS_PER_PROCESS = 6;
export const COUNTER_SCOPES = 2;
export const SCOPE_RAM_FREED = 0;
export const SCOPE_PAGES_SHARED = 1;
export const SCOPE_PAGES_SHARING = 2;
export const SCOPE_KSM_ZERO_PAGES = 3;
export const SCOPE_PAGES_UNSHARED = 4;
export const SCOPE_RMAP_ITEMS = 5;
export const SCOPE_RAM_FREED_HUGE = 6;
export const SCOPE_SCALARS = 7;
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
  content.hugeResidentPages += c[at++] as number;
  const k = content.byKind;
  for (const a of [k.resident, k.zero, k.zeroPageMapped, k.dupWithin, k.dupAcross, k.alreadyShared]) take(a, kinds);
  const p = content.byProcess;
  for (const a of [p.resident, p.anon, p.zero, p.dupWithin, p.dupAcross, p.alreadyShared]) take(a, procs);
  for (const s of scopes) {
    s.ramFreedPages += c[at + SCOPE_RAM_FREED] as number;
    s.pagesShared += c[at + SCOPE_PAGES_SHARED] as number;
    s.pagesSharing += c[at + SCOPE_PAGES_SHARING] as number;
    s.ksmZeroPages += c[at + SCOPE_KSM_ZERO_PAGES] as number;
    s.pagesUnshared += c[at + SCOPE_PAGES_UNSHARED] as number;
    s.rmapItems += c[at + SCOPE_RMAP_ITEMS] as number;
    s.ramFreedHugePages += c[at + SCOPE_RAM_FREED_HUGE] as number;
    at += SCOPE_SCALARS;
    const pp = s.perProcess;
    for (const a of [pp.mergingPages, pp.zeroPages, pp.rmapItems, pp.ramFreedPages]) take(a, procs);
    take(s.ramFreedByKind, kinds);
  }
}

/**
 * The KSM model over an index sorted by (hash, PFN), in native code (native/ksm_model.c): the
 * same arithmetic as the JavaScript model (src/analysis/js-model.ts), which asks the kernel's
 * files itself. It leaves to the JavaScript model's ContentGroups the contents whose answer
 * needs physical information from anywhere else (a snapshot's recorded answers).
 */
export function runKsmModelNative(native: NativeAddon, index: PageIndex, opts: ModelOptions): ModelResult {
  const result = emptyResult(opts.processCount);
  const kinds = MAPPING_KINDS.length;
  const procs = Math.max(1, opts.processCount);
  const counters = new Float64Array(nativeCounterLength(kinds, procs));
  const deferred = new Uint32Array(2 * 4096);
  // Which domains' questions the native pass answers itself; the others come back deferred.
  const domainFiles = opts.physical instanceof PhysicalDomains ? opts.physical.domainFiles() : new Int32Array(2 * MAX_DOMAINS).fill(DOMAIN_FILES_ELSEWHERE);
  const splits = findHugePageSplits(index, opts);
  const groups = new ContentGroups(index, opts, result.content, result.scopes, splits);
  // The zero-filled content is the one whose split subpages go uncounted: the JavaScript model
  // takes it whole when huge pages split that way.
  const deferZero = splits.any && opts.thpSplit === 'zero-subpages-freed';
  // The native pass takes 32 bits; no content has 2^32 mappings, so a larger limit is the same.
  const maxPageSharing = Math.min(opts.maxPageSharing, 0xffff_ffff);
  const n = index.length;
  for (let from = 0; from < n; ) {
    const [next, pairs] = native.modelPass({
      index, from, n, kinds, processes: procs, zeroHash: opts.zeroHash, useZeroPages: opts.useZeroPages, maxPageSharing,
      physical: opts.physical !== null, counters, deferred, domainFiles, deferZero,
    });
    for (let i = 0; i < pairs; i++) {
      const a = deferred[2 * i] as number;
      const b = deferred[2 * i + 1] as number;
      const h1 = index.hashHi[a] as number;
      const h2 = index.hashLo[a] as number;
      groups.add(a, b, h1 === opts.zeroHash.hi && h2 === opts.zeroHash.lo);
    }
    from = next;
  }
  addNativeCounters(counters, kinds, procs, result.content, result.scopes);
  result.content.naiveDuplicatePages += groups.naiveDuplicates;
  result.scopes.forEach((scope, s) => (scope.hugePagesSplit = (splits.byScope[s] as Set<number>).size));
  return result;
}
