/**
 * Every resident page seen, 16 bytes each, in four parallel typed arrays: the 64-bit content
 * hash, the low 32 bits of the PFN and a meta word. No objects per page, so tens of millions of
 * pages fit (a JS Map stops at 2^24 entries and costs far more per entry).
 *
 * meta: bits 0-15 process index, 16-18 mapping kind, 19 META_HUGE, 20-25 META_* flags, 26-31 the physical
 * domain (src/physical/physical-domains.ts). With pfnLo that makes a frame id, domain x 2^32 +
 * PFN: a frame number of 2^32 or more (over 16 TiB of physical address space) is stored as
 * "no physical information".
 */
/**
 * The page is a subpage of a transparent huge page (/proc/kpageflags THP): KSM splits the huge
 * page before it merges any of its subpages. Unset where the kernel did not say (no root, cores).
 */
export const META_HUGE = 1 << 19;
export const META_ANON = 1 << 20;
export const META_EXCLUSIVE = 1 << 21;
/** KSM would accept the VMA once enabled for the process (PR_SET_MEMORY_MERGE). */
export const META_COMPATIBLE = 1 << 22;
/** The VMA is marked mergeable today (VmFlags "mg"). */
export const META_MERGEABLE_NOW = 1 << 23;
/** The PTE maps the kernel's shared zero page: never scanned by KSM, never a saving. */
export const META_ZERO_PFN = 1 << 24;
/** No physical information for this page: PFN unknown. */
export const META_NO_PHYS = 1 << 25;

export const MAX_PROCESSES = 1 << 16;
/** Mapping kinds fit in 3 bits (bit 19 is META_HUGE). */
export const META_KIND_MASK = 0x7;
/** Subpages per PMD-mapped huge page (2 MiB of 4 KiB pages): a huge page is frame id / this. */
export const HUGE_PAGE_FRAMES = 512;
export const PFN_HI_SHIFT = 26;
export const PFN_HI_LIMIT = 1 << 6;

export class PageIndex {
  hashHi: Uint32Array;
  hashLo: Uint32Array;
  pfnLo: Uint32Array;
  meta: Uint32Array;
  /**
   * Each record's page within its region, kept only while a scan will read the pages again
   * (volatility sampling, src/scan/volatility.ts): the re-read lines its records up by it. Not
   * sorted with the rest: only meaningful in scan order.
   */
  pageOffset: Uint32Array | null = null;
  length = 0;

  constructor(initialCapacity = 1 << 16) {
    const n = Math.max(16, initialCapacity);
    this.hashHi = new Uint32Array(n);
    this.hashLo = new Uint32Array(n);
    this.pfnLo = new Uint32Array(n);
    this.meta = new Uint32Array(n);
  }

  /** From now on, records keep their page within the region (pageOffset). */
  trackPageOffsets(): void {
    if (this.pageOffset === null) this.pageOffset = new Uint32Array(this.capacity);
  }

  get capacity(): number {
    return this.hashHi.length;
  }

  /** Makes room for `extra` more records, growing by half when needed. */
  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.capacity) return;
    const next = Math.max(need, Math.ceil(this.capacity * 1.5));
    this.hashHi = grow(this.hashHi, next, this.length);
    this.hashLo = grow(this.hashLo, next, this.length);
    this.pfnLo = grow(this.pfnLo, next, this.length);
    this.meta = grow(this.meta, next, this.length);
    if (this.pageOffset !== null) this.pageOffset = grow(this.pageOffset, next, this.length);
  }

  /** Bytes held by the index arrays. */
  get bytes(): number {
    return this.capacity * 16;
  }
}

function grow(a: Uint32Array, size: number, used: number): Uint32Array {
  const b = new Uint32Array(size);
  b.set(a.subarray(0, used));
  return b;
}

export function packMeta(processIndex: number, kindIndex: number, flags: number, pfn: number): number {
  const pfnHi = Math.floor(pfn / 0x1_0000_0000);
  if (pfnHi >= PFN_HI_LIMIT) throw new RangeError(`frame id ${pfn} is beyond what the index stores (64 physical domains of 2^32 frames)`);
  return (processIndex | (kindIndex << 16) | flags | (pfnHi << PFN_HI_SHIFT)) >>> 0;
}

export function metaProcess(meta: number): number {
  return meta & 0xffff;
}

export function metaKind(meta: number): number {
  return (meta >>> 16) & META_KIND_MASK;
}

export function metaPfn(meta: number, pfnLo: number): number {
  return (meta >>> PFN_HI_SHIFT) * 0x1_0000_0000 + pfnLo;
}
