import type { MappingKind } from './mapping-kind.js';
import type { PhysicalPages } from './physical-pages.js';

/** One process (or one core, one VM image) whose memory is read page by page. */
export interface ProcessInfo {
  pid: number;
  ppid: number | null;
  command: string;
  cmdline: string;
  /** Chromium's --type= switch ("browser" for the process without one), null when not Chromium. */
  chromiumType: string | null;
  /** What --group-by groups by (live processes; kept in snapshots). Absent for cores and older snapshots. */
  grouping?: GroupingFacts;
}

/** A process's cgroup, owner and VM, as read when it was scanned (src/live/grouping-facts.ts). */
export interface GroupingFacts {
  /** The cgroup v2 path: the "0::" line of /proc/PID/cgroup; null when there is none. */
  cgroup: string | null;
  /** The effective uid, and its name in the scanned host's /etc/passwd (null when not there). */
  uid: number | null;
  user: string | null;
  /** A QEMU guest: its name and RAM as its command line gives them; null for other processes. */
  vm: VmFacts | null;
}

export interface VmFacts {
  /** -name (its guest= part, or the plain name), else -uuid, else "pid N". */
  name: string;
  nameFrom: 'name' | 'uuid' | 'pid';
  uuid: string | null;
  /** Guest RAM from -m (bytes); null when not given (QEMU's default applies). */
  ramBytes: number | null;
}

/** One VMA (live) or one PT_LOAD segment (core). Addresses are plain numbers: user space fits in 2^53. */
export interface SourceRegion {
  start: number;
  end: number;
  perms: string;
  offset: number;
  inode: number;
  path: string;
  kind: MappingKind;
  /** Whether KSM would accept this VMA once enabled for the process; null when unknown (cores). */
  ksmCompatible: boolean | null;
  /** Whether the VMA is marked mergeable today (VmFlags "mg"); null when unknown. */
  mergeableNow: boolean | null;
  /** Resident pages from smaps Rss; 0 lets a source skip the region without reading it. */
  residentPages: number | null;
}

/**
 * A batch of present pages of one region, filled by a source and handed to a sink.
 * Sources reuse one batch for a whole scan: a sink must copy what it keeps.
 */
export interface PageBatch {
  count: number;
  /**
   * Page contents, `count` pages back to back from offset 0, when the source reads contents
   * itself (room for `dataPages` pages); unused when the source hands over hashes instead.
   */
  data: Buffer;
  dataPages: number;
  /** True when the source filled hashHi/hashLo (native read+hash): the sink does not hash. */
  hashed: boolean;
  hashHi: Uint32Array;
  hashLo: Uint32Array;
  /** Virtual address of each page. */
  vaddr: Float64Array;
  /** Page frame number, 0 when hidden or unknown. */
  pfn: Float64Array;
  /** PAGE_* bits below. */
  flags: Uint8Array;
}

/** The page maps an anonymous page (pagemap bit 61 clear): the only kind KSM merges. */
export const PAGE_ANON = 1;
/** The page is mapped exactly once (pagemap bit 56). */
export const PAGE_EXCLUSIVE = 2;
/** The kernel gave no physical information (a core, or PFNs hidden from a non-root reader). */
export const PAGE_NO_PHYS = 4;
/** The page is a subpage of a transparent huge page (the index's META_HUGE). */
export const PAGE_HUGE = 8;
/** The page changed between two reads of a volatility sample (snapshot records; issue 12's bit). */
export const PAGE_VOLATILE = 16;

/**
 * Where a source's pages go: the index writer (src/index/index-writer.ts), through which every
 * reader writes. A reader hands it batches of pages (contents or hashes), or, when it makes
 * index records itself (the native live reader), writes them into `records`.
 */
export interface PageSink {
  /** Called synchronously with each batch of present pages of `region`. */
  pages(region: SourceRegion, batch: PageBatch): void;
  /** The index open to a reader that writes records itself; absent where there is none. */
  readonly records?: RecordTarget;
}

/** The index's four arrays as a reader that writes records sees them (src/index/page-index.ts). */
export interface RecordArrays {
  hashHi: Uint32Array;
  hashLo: Uint32Array;
  pfnLo: Uint32Array;
  meta: Uint32Array;
  /** Each record's page within its region, when the index keeps it (PageIndex.trackPageOffsets). */
  pageOffset?: Uint32Array | null;
  length: number;
  readonly capacity: number;
  /** Makes room for `extra` more records: the arrays may be replaced. */
  reserve(extra: number): void;
}

/**
 * The index, open to a reader that writes records straight into it: no batch, no copy, no
 * per-page JavaScript. The reader appends records and then calls `finish`.
 */
export interface RecordTarget {
  readonly index: RecordArrays;
  /** The meta word of an anonymous and of a page-cache page of the region, without per-page bits. */
  regionMeta(region: SourceRegion): { anon: number; file: number };
  /** The physical domain of the current source, null when it has no physical information. */
  readonly domain: number | null;
  /** The hash of a zero-filled page. */
  readonly zeroHash: { readonly hi: number; readonly lo: number };
  /** Completes records [from, index.length): marks the kernel's zero page among them. */
  finish(from: number): void;
}

/** What a region's scan found beyond the present pages handed to the sink. */
export interface RegionTally {
  /** Pages of the region in the address space. */
  virtualPages: number;
  swappedPages: number;
}

/** Where pages come from: a live process, a core dump (contents only), a snapshot. */
export type SourceOrigin = 'live' | 'core' | 'vm-image' | 'snapshot';

export interface MemorySource {
  readonly info: ProcessInfo;
  readonly origin: SourceOrigin;
  /** A label for messages: "pid 123 (cat)" or a core file's name. */
  readonly label: string;
  /** False for cores and for non-root live scans: no PFNs, so no physical sharing. */
  readonly hasPhysicalInfo: boolean;
  /**
   * The physical information behind this source's PFNs (the kernel's, or a snapshot's record
   * of it); sources sharing one provider share one physical domain. Null when there is none.
   */
  readonly physical: PhysicalPages | null;
  regions(): SourceRegion[];
  /** Reads every present page of the region into the sink; throws SourceError on failure. */
  scanRegion(region: SourceRegion, sink: PageSink, batch: PageBatch): RegionTally;
  close(): void;
}

/** A batch for up to `capacity` pages, with room for the contents of `dataPages` of them. */
export function createPageBatch(pageSize: number, capacity: number, dataPages: number): PageBatch {
  return {
    count: 0,
    // Not zero-filled: sources write every byte they hand over, and untouched memory costs no
    // RSS when the native reader never uses this buffer.
    data: Buffer.allocUnsafeSlow(pageSize * dataPages),
    dataPages,
    hashed: false,
    hashHi: new Uint32Array(capacity),
    hashLo: new Uint32Array(capacity),
    vaddr: new Float64Array(capacity),
    pfn: new Float64Array(capacity),
    flags: new Uint8Array(capacity),
  };
}
