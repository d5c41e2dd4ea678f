import { createRequire } from 'node:module';

/**
 * The VMAs of one smaps as the native reader parses them (native/smaps_table.c): per VMA
 * numbers[5i ..] = start, end, offset, inode, Rss in kB (-1: no Rss line); vmFlags[i] the
 * VmFlags bits (-1: no VmFlags line); perms[i] the four permission characters; paths[i].
 */
export interface SmapsTable {
  numbers: Float64Array;
  vmFlags: Int32Array;
  perms: Uint32Array;
  paths: string[];
}

/**
 * The version of the addon's interface (SAMEPAGE_NATIVE_ABI in native/shared_constants.h): an
 * addon built from other sources (a pull without `npm ci`) is not used.
 */
export const NATIVE_ABI = 5;

/** The index's four arrays, as PageIndex has them: the records the addon reads and writes. */
export interface NativeIndexArrays {
  hashHi: Uint32Array;
  hashLo: Uint32Array;
  pfnLo: Uint32Array;
  meta: Uint32Array;
  /** When given, scanRange writes each record's page within the region here too (a later re-read lines up with it). */
  pageOffset?: Uint32Array | null;
}

/** What scanRange does: one region of a live process, from one of its pages on. */
export interface ScanRangeOptions {
  /** /proc/PID/pagemap and /proc/PID/mem of the process, open for reading. */
  pagemapFd: number;
  memFd: number;
  /**
   * The process: its page-cache and shared-memory pages are read with process_vm_readv (0:
   * never); anonymous pages always with pread of memFd, which never pins a page.
   */
  pid: number;
  /** The region's first address, its length in virtual pages, and the page to start from. */
  regionStart: number;
  regionPages: number;
  first: number;
  pageSize: number;
  /**
   * The meta word of an anonymous / page-cache page of this region (process, kind and region
   * flags) without the per-page bits, which the addon adds as src/index/page-index.ts says:
   * META_ANON, META_EXCLUSIVE, META_NO_PHYS, and the physical domain in bits 26-31.
   */
  metaAnon: number;
  metaFile: number;
  /** No physical information: every record gets META_NO_PHYS and frame 0. */
  noPhys: boolean;
  /** The physical domain of the frames (below MAX_DOMAINS). */
  domain: number;
  /** Records go to index[out ..], at most `capacity` of them. */
  index: NativeIndexArrays;
  out: number;
  capacity: number;
  /** Threads reading and hashing (at most 8). */
  threads: number;
  /** The hash of a zero-filled page, for the result's zero candidates. */
  zeroHash: { hi: number; lo: number };
}

/** What modelPass does: the KSM model over sorted records [from, n) of an index. */
export interface ModelPassOptions {
  index: NativeIndexArrays;
  from: number;
  n: number;
  /** How many mapping kinds and processes the records name (counters per kind and process). */
  kinds: number;
  processes: number;
  zeroHash: { hi: number; lo: number };
  /** KSM's use_zero_pages and max_page_sharing. */
  useZeroPages: boolean;
  maxPageSharing: number;
  /** Physical information exists (else every content is counted without it). */
  physical: boolean;
  /** Counted into, never reset: layout in src/analysis/native-model.ts. */
  counters: Float64Array;
  /** [a, b) record pairs of contents left to the JavaScript model, up to its length / 2. */
  deferred: Uint32Array;
  /**
   * Per physical domain d (2 * MAX_DOMAINS entries): [2d] its kpagecount fd and [2d + 1] its
   * kpageflags fd, which the addon reads itself; DOMAIN_FILES_ELSEWHERE: the domain answers,
   * but not from files (its contents are deferred); DOMAIN_FILES_NONE: nothing answers for it
   * (a mapcount of 0, not a KSM page, as PhysicalDomains says). PhysicalDomains.domainFiles().
   */
  domainFiles: Int32Array;
  /** Hand the zero-filled content back in `deferred` (huge page splits free part of it uncounted). */
  deferZero: boolean;
}

/** What measureSharing takes (pass 1 needs the first three arrays, pass 2 the last two). */
export interface MeasureSharingOptions {
  index: { hashHi: Uint32Array; hashLo: Uint32Array; meta: Uint32Array };
  n: number;
  processes: number;
  zeroHash: { hi: number; lo: number };
  pass: 1 | 2;
  contents?: Float64Array;
  mappings?: Float64Array;
  sharedPages?: Float64Array;
  slot?: Int32Array;
  overlap?: Float64Array;
}

/** The optional native hot path (native/: one file per function), built by `npm ci` with node-gyp. */
export interface NativeAddon {
  readonly abi: number;
  /**
   * The numbers the addon shares with TypeScript (native/shared_constants.h), each equal to its
   * TypeScript twin (test/unit/native-constants.test.ts).
   */
  readonly constants: Readonly<Record<string, number>>;
  /** XXH3-64 of `count` pages of `data`, into hi[out + i] / lo[out + i]. */
  hashPages(data: Uint8Array, count: number, pageSize: number, hi: Uint32Array, lo: Uint32Array, out: number): void;
  /**
   * The whole live path of a region in one call (native/tile_reader.c): pagemap, index records
   * and read+hash, from region page `first` until the region ends or `capacity` records are
   * written. Returns [next page, records written, swapped pages, errno, records that may map
   * the kernel's zero page: zero-filled content (zeroHash), anonymous, not exclusive; only when
   * there are any must the caller look at the records (RecordTarget.finish)].
   */
  scanRange(options: ScanRangeOptions): [number, number, number, number, number];
  /** The index's first n records sorted in place by (hash, frame): see src/index/radix-sort.ts. */
  sortIndex(hashHi: Uint32Array, hashLo: Uint32Array, pfnLo: Uint32Array, meta: Uint32Array, n: number): void;
  /**
   * The KSM model (native/ksm_model.c) over sorted records, counted into `counters`. Contents
   * that need physical answers are answered from the kernel-shaped files of `domainFiles` or,
   * where a domain has none, left as pairs in `deferred`; the pass stops early, at a content
   * boundary, when `deferred` is full. Returns [next record, deferred pairs].
   */
  modelPass(options: ModelPassOptions): [number, number];
  /**
   * Each /proc/PID/smaps read and parsed on the reader's threads into a table of its VMAs
   * (src/live/smaps.ts, regionsFromTable); a number is the errno of one that failed.
   */
  readRegions(paths: string[], threads: number): Array<SmapsTable | number>;
  /** The table of a smaps text already read: the native parser on its own (tests). */
  parseSmapsTable(text: string): SmapsTable;
  /**
   * One pass of src/analysis/content-sharing.ts over the sorted records [0, n): pass 1 adds to
   * `contents`/`mappings` (SHARING_OR_MORE - 1 buckets) and `sharedPages` (per process) and
   * returns the zero-filled mappings; pass 2 adds to `overlap` (slots x slots) for the processes
   * whose `slot` is not -1, and returns 0.
   */
  measureSharing(options: MeasureSharingOptions): number;
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
