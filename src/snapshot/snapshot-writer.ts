import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { release } from 'node:os';
import type { Collected } from '../scan/scan.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { FRAMES_PER_DOMAIN } from '../physical/physical-domains.js';
import { RECORDED_KSM, RECORDED_ZERO } from '../physical/recorded-physical-pages.js';
import { META_ANON, META_EXCLUSIVE, META_NO_PHYS, metaPfn } from '../index/page-index.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_NO_PHYS } from '../source/memory-source.js';
import { FRAME_RECORD_BYTES, PAGE_RECORD_BYTES, SNAPSHOT_FORMAT, SNAPSHOT_MAGIC, dataOffset, type SnapshotHeader } from './snapshot-format.js';
import { UserError, errnoCode } from '../util/errors.js';

const CHUNK_RECORDS = 65536;

export interface SnapshotMeta {
  version: string;
  root: boolean;
  settings: KsmSettings;
  /** The kernel's physical information, asked once per frame mapped more than once. */
  physical: PhysicalPages | null;
  now?: Date;
}

/**
 * Writes what a live scan collected (before sorting) to `path`, atomically: into a hidden file
 * beside it, flushed to disk, then renamed over it, so an interrupted write leaves no half file.
 * Returns the bytes written.
 */
export function writeSnapshot(path: string, c: Collected, meta: SnapshotMeta): number {
  const index = c.index;
  const n = index.length;
  const frames = recordFrames(c, meta.physical);
  const header: SnapshotHeader = {
    format: SNAPSHOT_FORMAT,
    tool: { name: 'samepage', version: meta.version },
    createdAt: (meta.now ?? new Date()).toISOString(),
    host: { kernel: release(), pageSize: c.pageSize, root: meta.root, pfnsVisible: c.sources.every((s) => s.hasPhysicalInfo) },
    ksm: meta.settings,
    processes: c.sources.map((s) => ({
      info: s.info,
      label: s.label,
      hasPhysicalInfo: s.hasPhysicalInfo,
      regions: s.regions.map((r) => ({ ...r.region, virtualPages: r.virtualPages, swappedPages: r.swappedPages, pages: r.indexedPages })),
    })),
    pageRecords: n,
    frameRecords: frames.pfns.length,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const start = dataOffset(headerBytes.length);
  const prefix = Buffer.alloc(start);
  SNAPSHOT_MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(headerBytes.length, SNAPSHOT_MAGIC.length);
  headerBytes.copy(prefix, SNAPSHOT_MAGIC.length + 4);

  const temp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  let fd: number;
  try {
    // 'w': a temp file left by a killed run with the same pid is ours to overwrite.
    fd = openSync(temp, 'w', 0o600);
  } catch (err) {
    throw new UserError(`cannot write ${path}: ${errnoCode(err) ?? (err as Error).message}`);
  }
  let written = 0;
  try {
    written += writeAll(fd, prefix);
    const words = new Uint32Array(CHUNK_RECORDS * 4);
    const bytes = Buffer.from(words.buffer);
    for (let at = 0; at < n; at += CHUNK_RECORDS) {
      const m = Math.min(CHUNK_RECORDS, n - at);
      for (let i = 0; i < m; i++) {
        const r = at + i;
        const metaWord = index.meta[r] as number;
        const noPhys = (metaWord & META_NO_PHYS) !== 0;
        const pfn = noPhys ? 0 : metaPfn(metaWord, index.pfnLo[r] as number) % FRAMES_PER_DOMAIN;
        const flags = ((metaWord & META_ANON) !== 0 ? PAGE_ANON : 0) | ((metaWord & META_EXCLUSIVE) !== 0 ? PAGE_EXCLUSIVE : 0) | (noPhys ? PAGE_NO_PHYS : 0);
        words[i * 4] = index.hashHi[r] as number;
        words[i * 4 + 1] = index.hashLo[r] as number;
        words[i * 4 + 2] = pfn % 0x1_0000_0000;
        words[i * 4 + 3] = (flags | (Math.floor(pfn / 0x1_0000_0000) << 8)) >>> 0;
      }
      written += writeAll(fd, bytes.subarray(0, m * PAGE_RECORD_BYTES));
    }
    const frameBuf = Buffer.alloc(frames.pfns.length * FRAME_RECORD_BYTES);
    for (let i = 0; i < frames.pfns.length; i++) {
      frameBuf.writeDoubleLE(frames.pfns[i] as number, i * FRAME_RECORD_BYTES);
      frameBuf.writeUInt32LE(frames.mapCounts[i] as number, i * FRAME_RECORD_BYTES + 8);
      frameBuf.writeUInt32LE(frames.flags[i] as number, i * FRAME_RECORD_BYTES + 12);
    }
    written += writeAll(fd, frameBuf);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
    try {
      unlinkSync(temp);
    } catch {
      // Nothing to remove.
    }
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot write ${path}: ${errnoCode(err) ?? (err as Error).message}`);
  }
  return written;
}

function writeAll(fd: number, buf: Buffer): number {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
  return done;
}

/** The kernel's answers for every anonymous frame mapped more than once: what the model and the sink ask. */
function recordFrames(c: Collected, physical: PhysicalPages | null): { pfns: Float64Array; mapCounts: Uint32Array; flags: Uint32Array } {
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
