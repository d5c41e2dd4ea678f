// A snapshot file as docs/estimate.md and src/snapshot/snapshot-format.ts describe it, read and
// written here without samepage's own code: layoutOf takes a file samepage wrote apart, and
// syntheticSnapshot writes one of chosen content (records, frames, checksums, trailer), so that
// a test can say what `samepage report` must find in it. Checksums are XXH3-64 (seed 0) from
// xxhash-addon, the reference the native hasher is held equal to.
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { expect } from 'vitest';

export const MiB = 1 << 20;
const MAGIC = 'SPSNAP02';
const TRAILER_MAGIC = 'SPSNEND2';
const RECORD_BYTES = 16;
const TRAILER_BYTES = 24;

/** PAGE_* flags of a page record (src/source/memory-source.ts). */
export const PAGE_ANON = 1;
export const PAGE_EXCLUSIVE = 2;
export const PAGE_NO_PHYS = 4;
export const PAGE_HUGE = 8;

/** A SyntheticPage content that stands for a zero-filled page (its real hash). */
export const ZERO_CONTENT = -1;

export interface Layout {
  header: { pageRecords: number; frameRecords: number; createdAt: string };
  /** Where the page records start (after the header, padded to 8). */
  records: number;
  /** Where the frame records start. */
  frames: number;
  /** Where the checksum table starts. */
  table: number;
  /** Where the 24-byte trailer starts. */
  trailer: number;
}

/**
 * A snapshot's layout, read the way docs and snapshot-format.ts describe it: magic, u32 header
 * length, header, padding to 8, page records, frame records, checksum table, 24-byte trailer.
 */
export function layoutOf(bytes: Buffer): Layout {
  expect(bytes.toString('latin1', 0, 8)).toBe(MAGIC);
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as Layout['header'];
  const records = Math.ceil((12 + headerLength) / 8) * 8;
  const frames = records + header.pageRecords * RECORD_BYTES;
  const trailer = bytes.length - TRAILER_BYTES;
  const table = bytes.readUInt32LE(trailer) + bytes.readUInt32LE(trailer + 4) * 2 ** 32;
  expect(table).toBe(frames + header.frameRecords * RECORD_BYTES);
  expect(trailer - table).toBe(Math.ceil(table / MiB) * 8);
  expect(bytes.toString('latin1', trailer + 16)).toBe(TRAILER_MAGIC);
  return { header, records, frames, table, trailer };
}

/** The checksum block that holds `offset`, as samepage's error names it. */
export function blockOf(offset: number, table: number): string {
  const start = Math.floor(offset / MiB) * MiB;
  return `bytes ${start}-${Math.min(start + MiB, table) - 1}`;
}

/** A copy with the lowest bit of each byte at `offsets` flipped. */
export function flipped(bytes: Buffer, ...offsets: number[]): Buffer {
  const copy = Buffer.from(bytes);
  for (const o of offsets) copy[o] = (copy[o] as number) ^ 0x01;
  return copy;
}

/** One page record: a content (its hash), the frame that held it and PAGE_* flags. */
export interface SyntheticPage {
  /** Stands for the page's hash: equal contents, equal numbers. */
  content: number;
  pfn: number;
  flags: number;
}

export interface SyntheticProcess {
  pid: number;
  command: string;
  /** One private anonymous region of these pages. */
  pages: SyntheticPage[];
}

export interface SyntheticSnapshot {
  processes: SyntheticProcess[];
  /** Frame records: frames mapped more than once, with the kernel's mapcount. */
  frames?: Array<{ pfn: number; mapCount: number; flags: number }>;
  pfnsVisible: boolean;
  pageSize: number;
  /** Replaces header fields after the rest is built (to write a header that lies). */
  headerOverride?: (header: Record<string, unknown>) => void;
}

/** The hash words of a content number: high word the number, low word a constant no zero page has. */
export function contentHash(content: number): [number, number] {
  return [content >>> 0, 0x5eed5eed];
}

const { XXHash3 } = createRequire(import.meta.url)('xxhash-addon') as typeof import('xxhash-addon');

/** XXH3-64 as two words, high and low. */
function xxh3(data: Buffer): [number, number] {
  const digest = XXHash3.hash(data);
  return [digest.readUInt32BE(0), digest.readUInt32BE(4)];
}

/** Writes a snapshot of these processes, whole: every byte checksummed as samepage checks it. */
export function syntheticSnapshot(spec: SyntheticSnapshot): Buffer {
  const frames = spec.frames ?? [];
  const pageRecords = spec.processes.reduce((n, p) => n + p.pages.length, 0);
  const header: Record<string, unknown> = {
    format: 2,
    tool: { name: 'samepage', version: '0.0.0-synthetic' },
    createdAt: '2026-01-02T03:04:05.678Z',
    host: { kernel: '6.1.0-synthetic', hostname: hostname(), pageSize: spec.pageSize, root: spec.pfnsVisible, pfnsVisible: spec.pfnsVisible },
    ksm: { useZeroPages: false, maxPageSharing: 256, source: 'sysfs', run: 0 },
    processes: spec.processes.map((p, i) => {
      const start = 0x7f00_0000_0000 + i * 0x1_0000_0000;
      const n = p.pages.length;
      return {
        info: { pid: p.pid, ppid: 1, command: p.command, cmdline: p.command, chromiumType: null },
        label: `pid ${p.pid} (${p.command})`,
        named: true,
        hasPhysicalInfo: spec.pfnsVisible,
        regionsSkipped: 0,
        regionsFailed: 0,
        regions: [
          { start, end: start + n * spec.pageSize, perms: 'rw-p', offset: 0, inode: 0, path: '', kind: 'anon', ksmCompatible: true, mergeableNow: false, residentPages: n, virtualPages: n, swappedPages: 0, pages: n },
        ],
      };
    }),
    skipped: [],
    warnings: [],
    pageRecords,
    frameRecords: frames.length,
  };
  spec.headerOverride?.(header);
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const recordsAt = Math.ceil((12 + headerBytes.length) / 8) * 8;
  const tableAt = recordsAt + (pageRecords + frames.length) * RECORD_BYTES;
  const blocks = Math.ceil(tableAt / MiB);
  const out = Buffer.alloc(tableAt + blocks * 8 + TRAILER_BYTES);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(out, 12);
  let at = recordsAt;
  for (const p of spec.processes) {
    for (const page of p.pages) {
      const [hi, lo] = page.content === ZERO_CONTENT ? xxh3(Buffer.alloc(spec.pageSize)) : contentHash(page.content);
      out.writeUInt32LE(hi, at);
      out.writeUInt32LE(lo, at + 4);
      out.writeUInt32LE(page.pfn % 2 ** 32, at + 8);
      out.writeUInt32LE(((page.flags & 0xff) | (Math.floor(page.pfn / 2 ** 32) << 8)) >>> 0, at + 12);
      at += RECORD_BYTES;
    }
  }
  for (const f of frames) {
    out.writeDoubleLE(f.pfn, at);
    out.writeUInt32LE(f.mapCount, at + 8);
    out.writeUInt32LE(f.flags, at + 12);
    at += RECORD_BYTES;
  }
  // The checksum table: XXH3-64 of every 1 MiB block before it (the last one shorter), as u64 LE.
  for (let b = 0; b < blocks; b++) {
    const [hi, lo] = xxh3(out.subarray(b * MiB, Math.min((b + 1) * MiB, tableAt)));
    out.writeUInt32LE(lo, tableAt + b * 8);
    out.writeUInt32LE(hi, tableAt + b * 8 + 4);
  }
  // The trailer: u64 table offset, u64 checksum of the table, magic.
  const trailer = tableAt + blocks * 8;
  const [hi, lo] = xxh3(out.subarray(tableAt, trailer));
  out.writeUInt32LE(tableAt % 2 ** 32, trailer);
  out.writeUInt32LE(Math.floor(tableAt / 2 ** 32), trailer + 4);
  out.writeUInt32LE(lo, trailer + 8);
  out.writeUInt32LE(hi, trailer + 12);
  out.write(TRAILER_MAGIC, trailer + 16, 'latin1');
  return out;
}
