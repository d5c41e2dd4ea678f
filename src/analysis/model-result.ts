import type { PhysicalPages } from '../physical/physical-pages.js';
import { META_COMPATIBLE, META_MERGEABLE_NOW } from '../index/page-index.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import type { ThpSplitBehaviour } from './thp-behaviour.js';

// What the KSM model answers: the result types both models (src/analysis/js-model.ts and the
// native pass driven by src/analysis/native-model.ts) count into, and their empty start.

/** sizeof(struct ksm_rmap_item) on 64-bit kernels: KSM's cost for every page it tracks. */
export const RMAP_ITEM_BYTES = 64;

export type ScopeName = 'enable-all' | 'mergeable-now';

/** "If KSM were enabled for these processes" and "what KSM merges today". */
export const SCOPES: ReadonlyArray<{ name: ScopeName; vmaFlag: number }> = [
  { name: 'enable-all', vmaFlag: META_COMPATIBLE },
  { name: 'mergeable-now', vmaFlag: META_MERGEABLE_NOW },
];

export interface ModelOptions {
  processCount: number;
  useZeroPages: boolean;
  maxPageSharing: number;
  zeroHash: { hi: number; lo: number };
  /** The kernel's view of physical frames (live and root only): mapcounts and KSM pages. */
  physical: PhysicalPages | null;
  /** What a huge page's split does with its zero-filled subpages (src/analysis/thp-behaviour.ts); absent: kept. */
  thpSplit?: ThpSplitBehaviour;
}

export interface ScopeResult {
  scope: ScopeName;
  /** Physical frames freed, compared with now. */
  ramFreedPages: number;
  pagesShared: number;
  pagesSharing: number;
  ksmZeroPages: number;
  pagesUnshared: number;
  rmapItems: number;
  /**
   * ramFreedPages is each content's freed frames split equally among the mappings that merge
   * (fractional); the others are whole mappings.
   */
  perProcess: { mergingPages: Float64Array; zeroPages: Float64Array; rmapItems: Float64Array; ramFreedPages: Float64Array };
  /** RAM freed, split as perProcess.ramFreedPages is, by mapping kind of the merging mappings. */
  ramFreedByKind: Float64Array;
  /** Of ramFreedPages: frames that sat in transparent huge pages (META_HUGE). */
  ramFreedHugePages: number;
  /** Huge pages KSM splits because it merges one of their subpages. */
  hugePagesSplit: number;
  /** Zero-filled subpages those splits free without KSM counting them ('zero-subpages-freed'): in ramFreedPages only. */
  zeroSubpagesFreedBySplit: number;
}

export interface ContentResult {
  /** Pages whose content is identical to another resident page's, ignoring eligibility and physical sharing. */
  naiveDuplicatePages: number;
  /**
   * dupWithin, dupAcross and alreadyShared count distinct frames, shared out among mappings
   * (fractional): docs/estimate.md, "Duplicates and already shared pages".
   */
  byKind: { resident: Float64Array; zero: Float64Array; zeroPageMapped: Float64Array; dupWithin: Float64Array; dupAcross: Float64Array; alreadyShared: Float64Array };
  byProcess: { resident: Float64Array; anon: Float64Array; zero: Float64Array; dupWithin: Float64Array; dupAcross: Float64Array; alreadyShared: Float64Array };
  distinctContents: number;
  /** Resident pages that sit in transparent huge pages (META_HUGE). */
  hugeResidentPages: number;
}

export interface ModelResult {
  content: ContentResult;
  scopes: ScopeResult[];
}

/** A result with every counter at zero, for a model pass to count into. */
export function emptyResult(procs: number): ModelResult {
  const kinds = MAPPING_KINDS.length;
  const content: ContentResult = {
    naiveDuplicatePages: 0,
    distinctContents: 0,
    hugeResidentPages: 0,
    byKind: { resident: f64(kinds), zero: f64(kinds), zeroPageMapped: f64(kinds), dupWithin: f64(kinds), dupAcross: f64(kinds), alreadyShared: f64(kinds) },
    byProcess: { resident: f64(procs), anon: f64(procs), zero: f64(procs), dupWithin: f64(procs), dupAcross: f64(procs), alreadyShared: f64(procs) },
  };
  const scopes: ScopeResult[] = SCOPES.map(({ name }) => ({
    scope: name,
    ramFreedPages: 0,
    pagesShared: 0,
    pagesSharing: 0,
    ksmZeroPages: 0,
    pagesUnshared: 0,
    rmapItems: 0,
    perProcess: { mergingPages: f64(procs), zeroPages: f64(procs), rmapItems: f64(procs), ramFreedPages: f64(procs) },
    ramFreedByKind: f64(kinds),
    ramFreedHugePages: 0,
    hugePagesSplit: 0,
    zeroSubpagesFreedBySplit: 0,
  }));
  return { content, scopes };
}

export function f64(n: number): Float64Array {
  return new Float64Array(Math.max(1, n));
}
