import { createRequire } from 'node:module';
import type { SmapsTable } from '../live/smaps.js';

/**
 * The version of the interface to native/samepage_native.c (SAMEPAGE_NATIVE_ABI there): an
 * addon built from other sources (a pull without `npm ci`) is not used.
 */
export const NATIVE_ABI = 2;

/** The optional native hot path (native/samepage_native.c), built by `npm ci` with node-gyp. */
export interface NativeAddon {
  readonly abi: number;
  /** XXH3-64 of `count` pages of `data`, into hi[out + i] / lo[out + i]. */
  hashPages(data: Uint8Array, count: number, pageSize: number, hi: Uint32Array, lo: Uint32Array, out: number): void;
  /**
   * The whole live path of a region in one call (native/samepage_native.c): pagemap, index
   * records and read+hash, from region page `first` until the region ends or `capacity`
   * records are written. Returns [next page, records written, swapped pages, errno, records
   * that may map the kernel's zero page: zero-filled content (zeroHi, zeroLo), anonymous, not
   * exclusive].
   */
  scanRange(
    pagemapFd: number,
    memFd: number,
    regionStart: number,
    regionPages: number,
    first: number,
    pageSize: number,
    metaAnon: number,
    metaFile: number,
    noPhys: number,
    domain: number,
    hashHi: Uint32Array,
    hashLo: Uint32Array,
    pfnLo: Uint32Array,
    meta: Uint32Array,
    out: number,
    capacity: number,
    threads: number,
    /** The process: its page-cache and shared-memory pages are read with process_vm_readv. */
    pid: number,
    zeroHi: number,
    zeroLo: number,
  ): [number, number, number, number, number];
  /** The index's first n records sorted in place by (hash, frame): see src/index/radix-sort.ts. */
  sortIndex(hashHi: Uint32Array, hashLo: Uint32Array, pfnLo: Uint32Array, meta: Uint32Array, n: number): void;
  /**
   * The KSM model over sorted records [from, n), counted into `counters` (layout: see
   * src/analysis/native-model.ts). Contents that need physical answers are answered from the
   * kernel-shaped files of `domainFiles` (PhysicalDomains.domainFiles()) or, where a domain has
   * none, left as [a, b) pairs in `deferred`. Returns [next record, deferred pairs].
   */
  modelPass(
    hashHi: Uint32Array,
    hashLo: Uint32Array,
    pfnLo: Uint32Array,
    meta: Uint32Array,
    from: number,
    n: number,
    kinds: number,
    processes: number,
    zeroHi: number,
    zeroLo: number,
    useZeroPages: number,
    maxPageSharing: number,
    physical: number,
    counters: Float64Array,
    deferred: Uint32Array,
    domainFiles: Int32Array,
  ): [number, number];
  /**
   * Each /proc/PID/smaps read and parsed on the reader's threads into a table of its VMAs
   * (src/live/smaps.ts, regionsFromTable); a number is the errno of one that failed.
   */
  readRegions(paths: string[], threads: number): Array<SmapsTable | number>;
  /** The table of a smaps text already read: the native parser on its own (tests). */
  parseSmapsTable(text: string): SmapsTable;
}

let loaded: NativeAddon | null | undefined;
let problem: string | null = null;

/**
 * The addon, or null where it was not built or is out of date (the JavaScript path then does
 * the same work, slower).
 */
export function nativeAddon(): NativeAddon | null {
  if (loaded === undefined) {
    loaded = null;
    if (!process.env['SAMEPAGE_NO_NATIVE']) {
      let addon: NativeAddon | null = null;
      try {
        addon = createRequire(import.meta.url)('../../build/Release/samepage_native.node') as NativeAddon;
      } catch {
        // Not built: `npm ci` said so when it could not build it.
      }
      if (addon !== null && addon.abi === NATIVE_ABI) loaded = addon;
      else if (addon !== null) problem = "the native reader in build/ is out of date (run 'npm ci'); the slower JavaScript reader is used";
    }
  }
  return loaded;
}

/** Why an addon that is there is not used, or null. */
export function nativeAddonProblem(): string | null {
  nativeAddon();
  return problem;
}
