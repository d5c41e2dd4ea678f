import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { KsmPace } from '../analysis/ksm-pace.js';
import type { ProcessInfo, SourceRegion } from '../source/memory-source.js';
import type { Skipped } from '../source/skipped.js';
import { SNAPSHOT_MAGIC_PREFIX } from '../source/input-kind.js';
import type { ThpKnowledge } from '../analysis/thp-behaviour.js';

/**
 * A samepage snapshot: what a live scan learned, to be analysed later and elsewhere.
 *
 *   magic "SPSNAP02" | u32 header length | header (JSON, UTF-8) | zero padding to 8 bytes
 *   | page records, 16 bytes each, in scan order (process by process, region by region)
 *   | frame records, 16 bytes each
 *   | checksum table: one u64 per 1 MiB block of every byte before the table (the last block
 *     may be shorter)
 *   | trailer, 24 bytes: u64 offset of the table | u64 checksum of the table | "SPSNEND2"
 *
 * A page record: u32 hash high, u32 hash low, u32 PFN low, u32 (PAGE_* flags in bits 0-7,
 * PFN bits 32-55 in bits 8-31). A frame record, for each frame mapped more than once: f64 PFN,
 * u32 mapcount, u32 RECORDED_* flags. Checksums are XXH3-64 (seed 0). All little-endian.
 *
 * Every byte is covered: the blocks by the table, the table by the trailer, and the trailer by
 * its magic and by its table offset, which must put the table and trailer exactly at the end.
 * A reader checks all of it before it believes the header.
 */
export const SNAPSHOT_MAGIC = Buffer.from('SPSNAP02', 'latin1');
export const SNAPSHOT_FORMAT = 2;
/** "SPSNAP" and two digits: the format's number. */
export { SNAPSHOT_MAGIC_PREFIX };
export const TRAILER_MAGIC = Buffer.from('SPSNEND2', 'latin1');
export const TRAILER_BYTES = 24;
export const CHECKSUM_BLOCK_BYTES = 1 << 20;
export const CHECKSUM_BYTES = 8;
export const PAGE_RECORD_BYTES = 16;
export const FRAME_RECORD_BYTES = 16;
/** No header is larger: it holds per-region metadata only. */
export const MAX_HEADER_BYTES = 256 << 20;

export interface SnapshotRegion extends SourceRegion {
  virtualPages: number;
  swappedPages: number;
  /** Page records of this region, following the previous region's. */
  pages: number;
}

export interface SnapshotProcess {
  info: ProcessInfo;
  label: string;
  /** The user named it when the snapshot was taken (SourceOpener.named): it decides the exit status. */
  named: boolean;
  hasPhysicalInfo: boolean;
  /** Regions the scan skipped, and of those, regions that exist and could not be read. */
  regionsSkipped: number;
  regionsFailed: number;
  regions: SnapshotRegion[];
}

export interface SnapshotHeader {
  format: number;
  tool: { name: 'samepage'; version: string };
  createdAt: string;
  host: { kernel: string; hostname: string; pageSize: number; root: boolean; pfnsVisible: boolean };
  ksm: KsmSettings;
  processes: SnapshotProcess[];
  /** What the scan did not read, and why, as the scan reported it. */
  skipped: Skipped[];
  warnings: string[];
  pageRecords: number;
  frameRecords: number;
  /**
   * Optional (older snapshots lack it and older samepage ignores it): whether page records carry PAGE_HUGE, and how the kernel splits huge pages.
   */
  thp?: ThpKnowledge;
  /**
   * Volatility sampling (snapshot --interval): page records with PAGE_VOLATILE (16) changed
   * between reads. Absent when the snapshot was not sampled; older readers ignore it.
   */
  volatility?: SnapshotVolatility;
  /** /sys/kernel/mm/ksm/full_scans when the snapshot was taken (`verify` counts the scans since); absent or null: unknown. */
  ksmFullScans?: number | null;
}

export interface SnapshotVolatility {
  intervalSeconds: number;
  samples: number;
  rereadPages: number;
  changedPages: number;
  gonePages: number;
  rereadMs: number;
  firstPassReadMs: number;
  /** KSM's pace when the snapshot was taken (src/analysis/ksm-pace.ts), null without KSM. */
  pace: KsmPace | null;
}

export function dataOffset(headerBytes: number): number {
  const end = SNAPSHOT_MAGIC.length + 4 + headerBytes;
  return Math.ceil(end / 8) * 8;
}

/** The format number of a file that starts with "SPSNAPnn", else null (not a snapshot). */
export function snapshotFormatOf(head: Buffer): number | null {
  if (head.length < SNAPSHOT_MAGIC.length || !head.subarray(0, SNAPSHOT_MAGIC_PREFIX.length).equals(SNAPSHOT_MAGIC_PREFIX)) return null;
  const digits = head.toString('latin1', SNAPSHOT_MAGIC_PREFIX.length, SNAPSHOT_MAGIC.length);
  return /^\d\d$/.test(digits) ? Number(digits) : null;
}
