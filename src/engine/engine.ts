import type { PageHasher } from '../hash/page-hasher.js';
import type { PageIndex } from '../index/page-index.js';
import type { ModelOptions, ModelResult } from '../analysis/model-result.js';
import type { ContentSharing } from '../analysis/content-sharing.js';
import type { LiveRegionReader } from '../live/live-process.js';
import type { SourceRegion } from '../source/memory-source.js';

/**
 * Where samepage's per-page work runs: in native code (native/, built by `npm ci`) or in
 * JavaScript, which does the same work slower and is the reference the native code is held
 * equal to. Chosen once (chooseEngine) and passed to the scan; every place that had asked
 * "is the addon there?" asks the engine instead.
 */
export interface Engine {
  readonly name: 'native' | 'javascript';
  /** XXH3-64 of pages, in batches. */
  readonly hasher: PageHasher;
  /** Reads a live process's regions, page by page, into the index writer. */
  readonly liveRegions: LiveRegionReader;
  /** Every process's /proc/PID/smaps, read and parsed before the scan (several at a time). */
  readRegionsAhead(pids: readonly number[], pageSize: number, threads: number): Promise<Map<number, SourceRegion[]>>;
  /** Sorts the index in place by (hash, frame): src/index/radix-sort.ts. */
  sortIndex(index: PageIndex): void;
  /** The KSM model over the sorted index: src/analysis/js-model.ts, the reference. */
  runModel(index: PageIndex, opts: ModelOptions): ModelResult;
  /** How widely contents are shared (histogram, overlap): src/analysis/content-sharing.ts, the reference. */
  measureSharing(index: PageIndex, zeroHash: { hi: number; lo: number }, processCount: number): ContentSharing;
}
