import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { ProcessInfo, SourceRegion } from '../source/memory-source.js';

/**
 * A samepage snapshot: what a live scan learned, to be analysed later and elsewhere.
 *
 *   magic "SPSNAP01" | u32 header length | header (JSON, UTF-8) | zero padding to 8 bytes
 *   | page records, 16 bytes each, in scan order (process by process, region by region)
 *   | frame records, 16 bytes each
 *
 * A page record: u32 hash high, u32 hash low, u32 PFN low, u32 (PAGE_* flags in bits 0-7,
 * PFN bits 32-55 in bits 8-31). A frame record, for each frame mapped more than once: f64 PFN,
 * u32 mapcount, u32 RECORDED_* flags. All little-endian.
 */
export const SNAPSHOT_MAGIC = Buffer.from('SPSNAP01', 'latin1');
export const SNAPSHOT_FORMAT = 1;
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
  hasPhysicalInfo: boolean;
  regions: SnapshotRegion[];
}

export interface SnapshotHeader {
  format: number;
  tool: { name: 'samepage'; version: string };
  createdAt: string;
  host: { kernel: string; pageSize: number; root: boolean; pfnsVisible: boolean };
  ksm: KsmSettings;
  processes: SnapshotProcess[];
  pageRecords: number;
  frameRecords: number;
}

export function dataOffset(headerBytes: number): number {
  const end = SNAPSHOT_MAGIC.length + 4 + headerBytes;
  return Math.ceil(end / 8) * 8;
}
