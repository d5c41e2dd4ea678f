import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { RecordedPhysicalPages } from '../physical/recorded-physical-pages.js';
import type { SourceOpener } from '../scan/scan.js';
import { FRAME_RECORD_BYTES, MAX_HEADER_BYTES, PAGE_RECORD_BYTES, SNAPSHOT_FORMAT, SNAPSHOT_MAGIC, dataOffset, type SnapshotHeader, type SnapshotRegion } from './snapshot-format.js';
import { UserError, errnoCode } from '../util/errors.js';

/** True when the first bytes are a snapshot's magic. */
export function isSnapshot(head: Buffer): boolean {
  return head.length >= SNAPSHOT_MAGIC.length && head.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC);
}

/**
 * An opened snapshot file: its header, its recorded physical information, and one source per
 * process, reading page records by position.
 */
export class SnapshotFile {
  readonly header: SnapshotHeader;
  readonly physical: PhysicalPages | null;
  private readonly fd: number;
  private readonly recordsAt: number;
  private users = 0;
  private closed = false;

  constructor(readonly path: string) {
    const name = basename(path);
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new UserError(`${path}: cannot open: ${errnoCode(err) ?? (err as Error).message}`);
    }
    try {
      const size = fstatSync(this.fd).size;
      const prefix = Buffer.alloc(SNAPSHOT_MAGIC.length + 4);
      if (readSync(this.fd, prefix, 0, prefix.length, 0) < prefix.length || !isSnapshot(prefix)) throw bad(name, 'not a samepage snapshot');
      const headerBytes = prefix.readUInt32LE(SNAPSHOT_MAGIC.length);
      if (headerBytes > MAX_HEADER_BYTES || prefix.length + headerBytes > size) throw bad(name, 'truncated (header)');
      const text = Buffer.alloc(headerBytes);
      readSync(this.fd, text, 0, headerBytes, prefix.length);
      let header: SnapshotHeader;
      try {
        header = JSON.parse(text.toString('utf8')) as SnapshotHeader;
      } catch {
        throw bad(name, 'corrupt header');
      }
      validateHeader(name, header);
      this.recordsAt = dataOffset(headerBytes);
      const expected = this.recordsAt + header.pageRecords * PAGE_RECORD_BYTES + header.frameRecords * FRAME_RECORD_BYTES;
      if (size < expected) throw bad(name, `truncated: ${size} bytes, ${expected} expected`);
      if (size > expected) throw bad(name, `${size - expected} bytes of trailing data`);
      this.header = header;
      this.physical = header.host.pfnsVisible ? this.readFrames() : null;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** One opener per process in the snapshot; the file closes when the last source does. */
  openers(): SourceOpener[] {
    let first = 0;
    return this.header.processes.map((p) => {
      const start = first;
      first += p.regions.reduce((n, r) => n + r.pages, 0);
      const label = `${p.label} in ${basename(this.path)}`;
      return { label, pid: p.info.pid, named: true, file: this.path, open: () => this.source(p.info, label, p.hasPhysicalInfo, p.regions, start) };
    });
  }

  private source(info: ProcessInfo, label: string, hasPhysicalInfo: boolean, regions: SnapshotRegion[], firstRecord: number): MemorySource {
    this.users++;
    const file = this;
    const starts = new Map<SourceRegion, number>();
    let at = firstRecord;
    for (const r of regions) {
      starts.set(r, at);
      at += r.pages;
    }
    const words = new Uint32Array(4096 * 4);
    const bytes = Buffer.from(words.buffer);
    let closed = false;
    return {
      info,
      label,
      origin: 'snapshot',
      hasPhysicalInfo,
      physical: file.physical,
      regions: () => regions,
      scanRegion(region: SourceRegion, sink: PageSink, batch: PageBatch): RegionTally {
        const r = region as SnapshotRegion;
        const first = starts.get(region);
        if (first === undefined) throw new Error('scanRegion: not a region of this snapshot');
        const capacity = Math.min(batch.vaddr.length, 4096);
        for (let done = 0; done < r.pages; ) {
          const m = Math.min(capacity, r.pages - done);
          file.readRecords(first + done, m, bytes);
          for (let i = 0; i < m; i++) {
            const w = words[i * 4 + 3] as number;
            batch.hashHi[i] = words[i * 4] as number;
            batch.hashLo[i] = words[i * 4 + 1] as number;
            batch.pfn[i] = (w >>> 8) * 0x1_0000_0000 + (words[i * 4 + 2] as number);
            batch.flags[i] = w & 0xff;
            batch.vaddr[i] = 0;
          }
          batch.count = m;
          batch.hashed = true;
          sink.pages(region, batch);
          done += m;
        }
        batch.count = 0;
        return { virtualPages: r.virtualPages, swappedPages: r.swappedPages };
      },
      close() {
        if (closed) return;
        closed = true;
        if (--file.users === 0) file.closeFile();
      },
    };
  }

  private readRecords(first: number, count: number, into: Buffer): void {
    const want = count * PAGE_RECORD_BYTES;
    const n = readSync(this.fd, into, 0, want, this.recordsAt + first * PAGE_RECORD_BYTES);
    if (n < want) throw new UserError(`${basename(this.path)}: truncated page records`);
  }

  private readFrames(): RecordedPhysicalPages {
    const frames = new Map<number, { mapCount: number; flags: number }>();
    const at = this.recordsAt + this.header.pageRecords * PAGE_RECORD_BYTES;
    const chunk = Buffer.alloc(65536 * FRAME_RECORD_BYTES);
    for (let done = 0; done < this.header.frameRecords; ) {
      const m = Math.min(65536, this.header.frameRecords - done);
      readSync(this.fd, chunk, 0, m * FRAME_RECORD_BYTES, at + done * FRAME_RECORD_BYTES);
      for (let i = 0; i < m; i++) {
        const o = i * FRAME_RECORD_BYTES;
        frames.set(chunk.readDoubleLE(o), { mapCount: chunk.readUInt32LE(o + 8), flags: chunk.readUInt32LE(o + 12) });
      }
      done += m;
    }
    return new RecordedPhysicalPages(frames);
  }

  /** Closes the file unless a source still reads it (the last source closes it then). */
  release(): void {
    if (this.users === 0) this.closeFile();
  }

  private closeFile(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

function bad(name: string, problem: string): UserError {
  return new UserError(`${name}: ${problem}`);
}

/** The header is untrusted input: check every field the reader relies on before using it. */
function validateHeader(name: string, h: SnapshotHeader): void {
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const isBoolOrNull = (v: unknown): boolean => v === null || typeof v === 'boolean';
  if (typeof h !== 'object' || h === null) throw bad(name, 'corrupt header');
  if (h.format !== SNAPSHOT_FORMAT) throw bad(name, `snapshot format ${String(h.format)} is not supported (this samepage reads format ${SNAPSHOT_FORMAT})`);
  if (!isCount(h.pageRecords) || !isCount(h.frameRecords)) throw bad(name, 'corrupt header (record counts)');
  if (typeof h.host !== 'object' || h.host === null || !isCount(h.host.pageSize) || h.host.pageSize < 512 || (h.host.pageSize & (h.host.pageSize - 1)) !== 0) {
    throw bad(name, 'corrupt header (page size)');
  }
  if (
    typeof h.ksm !== 'object' || h.ksm === null || typeof h.ksm.useZeroPages !== 'boolean' || !isCount(h.ksm.maxPageSharing) || h.ksm.maxPageSharing < 2 ||
    !['sysfs', 'flags', 'defaults'].includes(h.ksm.source) || !(h.ksm.run === null || isCount(h.ksm.run))
  ) {
    throw bad(name, 'corrupt header (KSM settings)');
  }
  if (typeof h.host.root !== 'boolean' || typeof h.host.pfnsVisible !== 'boolean') throw bad(name, 'corrupt header (host)');
  if (!Array.isArray(h.processes)) throw bad(name, 'corrupt header (processes)');
  let pages = 0;
  for (const p of h.processes) {
    if (
      typeof p !== 'object' || p === null || typeof p.info !== 'object' || p.info === null || !isCount(p.info.pid) || typeof p.info.command !== 'string' ||
      typeof p.info.cmdline !== 'string' || !(p.info.chromiumType === null || typeof p.info.chromiumType === 'string') ||
      !(p.info.ppid === null || isCount(p.info.ppid)) || typeof p.label !== 'string' || typeof p.hasPhysicalInfo !== 'boolean' || !Array.isArray(p.regions)
    ) {
      throw bad(name, 'corrupt header (a process)');
    }
    for (const r of p.regions) {
      if (
        typeof r !== 'object' || r === null || !isCount(r.pages) || !isCount(r.virtualPages) || !isCount(r.swappedPages) || !(MAPPING_KINDS as readonly string[]).includes(r.kind) ||
        !isCount(r.start) || !isCount(r.end) || typeof r.perms !== 'string' || typeof r.path !== 'string' || !isBoolOrNull(r.ksmCompatible) || !isBoolOrNull(r.mergeableNow)
      ) {
        throw bad(name, 'corrupt header (a region)');
      }
      // The records are what is resident: sizes derive from them, never from a stored estimate.
      r.residentPages = r.pages;
      pages += r.pages;
    }
  }
  if (pages !== h.pageRecords) throw bad(name, 'corrupt header (page counts do not add up)');
}
