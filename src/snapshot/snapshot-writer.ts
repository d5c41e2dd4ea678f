import { hostname, release } from 'node:os';
import type { Collected } from '../scan/scan.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { FRAMES_PER_DOMAIN } from '../physical/physical-domains.js';
import { RECORDED_KSM, RECORDED_ZERO } from '../physical/recorded-physical-pages.js';
import { META_ANON, META_EXCLUSIVE, META_HUGE, META_NO_PHYS, metaPfn } from '../index/page-index.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_HUGE, PAGE_NO_PHYS, PAGE_VOLATILE } from '../source/memory-source.js';
import type { VolatilitySample } from '../scan/volatility.js';
import type { KsmPace } from '../analysis/ksm-pace.js';
import type { PageHasher } from '../hash/page-hasher.js';
import type { OutputSink } from '../util/output-file.js';
import {
  CHECKSUM_BLOCK_BYTES,
  CHECKSUM_BYTES,
  FRAME_RECORD_BYTES,
  PAGE_RECORD_BYTES,
  SNAPSHOT_FORMAT,
  SNAPSHOT_MAGIC,
  TRAILER_BYTES,
  TRAILER_MAGIC,
  dataOffset,
  type SnapshotHeader,
} from './snapshot-format.js';

/** Records encoded per chunk: 1 MiB, and one await (a chance to handle a signal) per chunk. */
const CHUNK_RECORDS = 65536;

export interface SnapshotMeta {
  version: string;
  root: boolean;
  settings: KsmSettings;
  /** The kernel's physical information, asked once per frame mapped more than once. */
  physical: PhysicalPages | null;
  now?: Date;
  /** A volatility sample of the collected pages (snapshot --interval): PAGE_VOLATILE and the header's volatility. */
  volatility?: { sample: VolatilitySample; pace: KsmPace | null } | undefined;
  /** /sys/kernel/mm/ksm/full_scans now, for `verify`. */
  ksmFullScans?: number | null;
}

/** A snapshot ready to be written: its header and the kernel's answers about frames, taken. */
export interface PreparedSnapshot {
  /** Writes the snapshot into `out`; returns the bytes written. */
  write(out: OutputSink): Promise<number>;
}

/**
 * Makes a snapshot (snapshot-format.ts) of what a live scan collected (before sorting). What
 * asks the kernel is done here, before any output file exists, so that the write itself is
 * short and yields between chunks.
 */
export function prepareSnapshot(c: Collected, meta: SnapshotMeta): PreparedSnapshot {
  const frames = recordFrames(c, meta.physical);
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    tool: { name: 'samepage', version: meta.version },
    createdAt: (meta.now ?? new Date()).toISOString(),
    host: { kernel: release(), hostname: hostname(), pageSize: c.pageSize, root: meta.root, pfnsVisible: c.sources.every((s) => s.hasPhysicalInfo) },
    ksm: meta.settings,
    processes: c.sources.map((s) => ({
      info: s.info,
      label: s.label,
      named: s.named,
      hasPhysicalInfo: s.hasPhysicalInfo,
      regionsSkipped: s.regionsSkipped,
      regionsFailed: s.regionsFailed,
      regions: s.regions.map((r) => ({ ...r.region, virtualPages: r.virtualPages, swappedPages: r.swappedPages, pages: r.indexedPages })),
    })),
    skipped: c.skipped,
    warnings: c.warnings,
    pageRecords: c.index.length,
    frameRecords: frames.pfns.length,
    thp: c.thp,
  };
  if (meta.ksmFullScans !== undefined) header.ksmFullScans = meta.ksmFullScans;
  const v = meta.volatility;
  if (v !== undefined) {
    const s = v.sample;
    header.volatility = {
      intervalSeconds: s.intervalSeconds,
      samples: s.samples,
      rereadPages: s.rereadPages,
      changedPages: s.changedPages,
      gonePages: s.gonePages,
      rereadMs: Math.round(s.rereadMs),
      firstPassReadMs: Math.round(c.readAt - c.regionsAt),
      pace: v.pace,
    };
  }
  const volatile = v?.sample.volatile ?? null;
  return { write: (out) => writeSnapshot(out, c, header, frames, volatile) };
}

async function writeSnapshot(out: OutputSink, c: Collected, header: SnapshotHeader, frames: Frames, volatile: Uint8Array | null): Promise<number> {
  const index = c.index;
  const n = index.length;
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(dataOffset(headerBytes.length));
  SNAPSHOT_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(headerBytes.length, SNAPSHOT_MAGIC.length);
  headerBytes.copy(prefix, SNAPSHOT_MAGIC.length + 4);

  const blocks = new ChecksummedWriter(out, c.hasher);
  await blocks.write(prefix);
  const words = new Uint32Array(CHUNK_RECORDS * 4);
  const bytes = Buffer.from(words.buffer);
  for (let at = 0; at < n; at += CHUNK_RECORDS) {
    const m = Math.min(CHUNK_RECORDS, n - at);
    for (let i = 0; i < m; i++) {
      const r = at + i;
      const metaWord = index.meta[r] as number;
      const noPhys = (metaWord & META_NO_PHYS) !== 0;
      const pfn = noPhys ? 0 : metaPfn(metaWord, index.pfnLo[r] as number) % FRAMES_PER_DOMAIN;
      const changed = volatile !== null && ((volatile[r >>> 3] as number) & (1 << (r & 7))) !== 0;
      const flags = ((metaWord & META_ANON) !== 0 ? PAGE_ANON : 0) | ((metaWord & META_EXCLUSIVE) !== 0 ? PAGE_EXCLUSIVE : 0) | (noPhys ? PAGE_NO_PHYS : 0) | ((metaWord & META_HUGE) !== 0 ? PAGE_HUGE : 0) | (changed ? PAGE_VOLATILE : 0);
      words[i * 4] = index.hashHi[r] as number;
      words[i * 4 + 1] = index.hashLo[r] as number;
      words[i * 4 + 2] = pfn % 0x1_0000_0000;
      words[i * 4 + 3] = (flags | (Math.floor(pfn / 0x1_0000_0000) << 8)) >>> 0;
    }
    await blocks.write(bytes.subarray(0, m * PAGE_RECORD_BYTES));
  }
  for (let at = 0; at < frames.pfns.length; at += CHUNK_RECORDS) {
    const m = Math.min(CHUNK_RECORDS, frames.pfns.length - at);
    for (let i = 0; i < m; i++) {
      const o = i * FRAME_RECORD_BYTES;
      bytes.writeDoubleLE(frames.pfns[at + i] as number, o);
      bytes.writeUInt32LE(frames.mapCounts[at + i] as number, o + 8);
      bytes.writeUInt32LE(frames.flags[at + i] as number, o + 12);
    }
    await blocks.write(bytes.subarray(0, m * FRAME_RECORD_BYTES));
  }
  return blocks.finish();
}

/**
 * Cuts what is written into 1 MiB blocks at file offsets 0, 1 MiB, ..., checksums each, and
 * ends the file with the checksum table and the trailer.
 */
class ChecksummedWriter {
  private readonly block = Buffer.allocUnsafe(CHECKSUM_BLOCK_BYTES);
  private fill = 0;
  private flushed = 0;
  /** Each block's checksum, low and high 32 bits. */
  private readonly sums: number[] = [];
  private readonly hi = new Uint32Array(1);
  private readonly lo = new Uint32Array(1);

  constructor(
    private readonly out: OutputSink,
    private readonly hasher: PageHasher,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    for (let at = 0; at < data.length; ) {
      const n = Math.min(CHECKSUM_BLOCK_BYTES - this.fill, data.length - at);
      this.block.set(data.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === CHECKSUM_BLOCK_BYTES) await this.flush();
    }
  }

  /** Writes the last block, the table and the trailer; returns the file's size. */
  async finish(): Promise<number> {
    await this.flush();
    const tableOffset = this.flushed;
    const table = Buffer.alloc((this.sums.length / 2) * CHECKSUM_BYTES);
    for (let i = 0; i < this.sums.length; i++) table.writeUInt32LE(this.sums[i] as number, i * 4);
    this.checksum(table);
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeUInt32LE(tableOffset % 0x1_0000_0000, 0);
    trailer.writeUInt32LE(Math.floor(tableOffset / 0x1_0000_0000), 4);
    trailer.writeUInt32LE(this.lo[0] as number, 8);
    trailer.writeUInt32LE(this.hi[0] as number, 12);
    TRAILER_MAGIC.copy(trailer, 16);
    await this.out.write(table);
    await this.out.write(trailer);
    return tableOffset + table.length + trailer.length;
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    const data = this.block.subarray(0, this.fill);
    this.checksum(data);
    this.sums.push(this.lo[0] as number, this.hi[0] as number);
    await this.out.write(data);
    this.flushed += this.fill;
    this.fill = 0;
  }

  private checksum(data: Buffer): void {
    this.hasher.hashPages(data, 1, data.length, this.hi, this.lo, 0);
  }
}

/** The kernel's answers for every anonymous frame mapped more than once: what the model and the sink ask. */
interface Frames {
  pfns: Float64Array;
  mapCounts: Uint32Array;
  flags: Uint32Array;
}

function recordFrames(c: Collected, physical: PhysicalPages | null): Frames {
  const index = c.index;
  if (physical === null) return { pfns: new Float64Array(0), mapCounts: new Uint32Array(0), flags: new Uint32Array(0) };
  let count = 0;
  for (let r = 0; r < index.length; r++) {
    const m = index.meta[r] as number;
    if ((m & META_ANON) !== 0 && (m & (META_EXCLUSIVE | META_NO_PHYS)) === 0) count++;
  }
  const all = new Float64Array(count);
  count = 0;
  for (let r = 0; r < index.length; r++) {
    const m = index.meta[r] as number;
    if ((m & META_ANON) !== 0 && (m & (META_EXCLUSIVE | META_NO_PHYS)) === 0) all[count++] = metaPfn(m, index.pfnLo[r] as number) % FRAMES_PER_DOMAIN;
  }
  all.sort();
  let unique = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[unique++] = all[i] as number;
  const pfns = all.slice(0, unique);
  const mapCounts = new Uint32Array(unique);
  const flags = new Uint32Array(unique);
  for (let i = 0; i < unique; i++) {
    const pfn = pfns[i] as number;
    mapCounts[i] = physical.mapCount(pfn);
    flags[i] = (physical.isZeroPage(pfn) ? RECORDED_ZERO : 0) | (physical.isKsmPage(pfn) ? RECORDED_KSM : 0);
  }
  return { pfns, mapCounts, flags };
}
