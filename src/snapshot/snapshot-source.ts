import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { MAPPING_KINDS } from '../source/mapping-kind.js';
import type { SkipKind } from '../source/skipped.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { RecordedPhysicalPages } from '../physical/recorded-physical-pages.js';
import type { SourceOpener } from '../source/source-opener.js';
import type { PageHasher } from '../hash/page-hasher.js';
import {
  CHECKSUM_BLOCK_BYTES,
  CHECKSUM_BYTES,
  FRAME_RECORD_BYTES,
  MAX_HEADER_BYTES,
  PAGE_RECORD_BYTES,
  SNAPSHOT_FORMAT,
  SNAPSHOT_MAGIC,
  TRAILER_BYTES,
  TRAILER_MAGIC,
  dataOffset,
  snapshotFormatOf,
  type SnapshotHeader,
  type SnapshotProcess,
  type SnapshotRegion,
} from './snapshot-format.js';
import { UserError, describeError } from '../util/errors.js';
import { fileTypeWords } from '../util/output-file.js';

/**
 * An opened snapshot file: its header, its recorded physical information, and one source per
 * process, reading page records by position. The whole file is checked against its checksums
 * when it is opened, before anything in it is believed.
 */
export class SnapshotFile {
  readonly header: SnapshotHeader;
  readonly physical: PhysicalPages | null;
  private readonly fd: number;
  private readonly recordsAt: number;
  private readonly labelSuffix: string;
  private users = 0;
  private closed = false;

  /** `path` is opened; `name` (the path as the user gave it, or "stdin") is what messages say. */
  constructor(
    readonly path: string,
    readonly name: string,
    /** XXH3-64, for the checksums: the engine's hasher. */
    hasher: PageHasher,
  ) {
    this.labelSuffix = ` in ${basename(name)}`;
    try {
      // O_NONBLOCK: never waits on a FIFO put in a file's place; it is refused below.
      this.fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw new UserError(`${name}: cannot open: ${describeError(err)}`);
    }
    try {
      const st = fstatSync(this.fd);
      if (!st.isFile()) throw bad(name, `is ${fileTypeWords(st)}, not a snapshot file`);
      const size = st.size;
      const prefix = Buffer.alloc(SNAPSHOT_MAGIC.length + 4);
      const format = snapshotFormatOf(prefix.subarray(0, this.read(prefix, 0)));
      if (format === null) throw bad(name, 'not a samepage snapshot');
      if (format === 1) throw bad(name, 'snapshot format 1 (an earlier samepage) is no longer read: take the snapshot again with this samepage');
      if (format > SNAPSHOT_FORMAT) throw bad(name, `snapshot format ${format} was written by a newer samepage (this one reads format ${SNAPSHOT_FORMAT}): read it with that samepage or a later one`);
      if (format !== SNAPSHOT_FORMAT) throw bad(name, `snapshot format ${format} is not one samepage ever wrote`);
      const tableOffset = this.verify(size, hasher);
      const headerBytes = prefix.readUInt32LE(SNAPSHOT_MAGIC.length);
      if (headerBytes > MAX_HEADER_BYTES || prefix.length + headerBytes > tableOffset) throw bad(name, 'corrupt header (length)');
      const text = Buffer.alloc(headerBytes);
      this.read(text, prefix.length);
      let header: SnapshotHeader;
      try {
        header = JSON.parse(text.toString('utf8')) as SnapshotHeader;
      } catch {
        throw bad(name, 'corrupt header');
      }
      validateHeader(name, header);
      this.recordsAt = dataOffset(headerBytes);
      const expected = this.recordsAt + header.pageRecords * PAGE_RECORD_BYTES + header.frameRecords * FRAME_RECORD_BYTES;
      if (expected !== tableOffset) throw bad(name, `corrupt header: its records would end at byte ${expected}, the checksum table starts at ${tableOffset}`);
      this.header = header;
      this.physical = header.host.pfnsVisible ? this.readFrames() : null;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /**
   * Checks every byte against the checksums (one sequential pass, 16 bytes per page: little
   * next to reading the memory it describes). Returns where the checksum table starts.
   */
  private verify(size: number, hasher: PageHasher): number {
    const name = this.name;
    const minimum = SNAPSHOT_MAGIC.length + 4 + CHECKSUM_BYTES + TRAILER_BYTES;
    if (size < minimum) throw bad(name, `truncated: ${size} bytes, a snapshot has at least ${minimum}`);
    const trailer = Buffer.alloc(TRAILER_BYTES);
    this.read(trailer, size - TRAILER_BYTES);
    if (!trailer.subarray(16).equals(TRAILER_MAGIC)) {
      throw bad(name, 'corrupt or truncated: it does not end with a snapshot trailer (the file was cut short, changed at its end, or has data appended)');
    }
    const tableOffset = trailer.readUInt32LE(0) + trailer.readUInt32LE(4) * 0x1_0000_0000;
    const blocks = Math.ceil(tableOffset / CHECKSUM_BLOCK_BYTES);
    const tableBytes = blocks * CHECKSUM_BYTES;
    if (!Number.isSafeInteger(tableOffset) || tableOffset < SNAPSHOT_MAGIC.length + 4 || tableOffset + tableBytes + TRAILER_BYTES !== size) {
      throw bad(name, `corrupt: the trailer puts the checksum table at byte ${tableOffset}, which does not fit the file's ${size} bytes`);
    }
    const hi = new Uint32Array(1);
    const lo = new Uint32Array(1);
    const table = Buffer.alloc(tableBytes);
    this.read(table, tableOffset);
    hasher.hashPages(table, 1, table.length, hi, lo, 0);
    if (lo[0] !== trailer.readUInt32LE(8) || hi[0] !== trailer.readUInt32LE(12)) {
      throw bad(name, `corrupt: checksum mismatch in the checksum table (bytes ${tableOffset}-${tableOffset + tableBytes - 1})`);
    }
    const block = Buffer.allocUnsafe(Math.min(CHECKSUM_BLOCK_BYTES, tableOffset));
    for (let b = 0; b < blocks; b++) {
      const start = b * CHECKSUM_BLOCK_BYTES;
      const length = Math.min(CHECKSUM_BLOCK_BYTES, tableOffset - start);
      const data = block.subarray(0, length);
      if (this.read(data, start) < length) throw bad(name, `truncated while it was read (at byte ${start})`);
      hasher.hashPages(data, 1, length, hi, lo, 0);
      if (lo[0] !== table.readUInt32LE(b * CHECKSUM_BYTES) || hi[0] !== table.readUInt32LE(b * CHECKSUM_BYTES + 4)) {
        throw bad(name, `corrupt: checksum mismatch in bytes ${start}-${start + length - 1}`);
      }
    }
    return tableOffset;
  }

  /** Reads into `buf` from `at` until it is full or the file ends; returns the bytes read. */
  private read(buf: Buffer, at: number): number {
    let done = 0;
    try {
      while (done < buf.length) {
        const n = readSync(this.fd, buf, done, buf.length - done, at + done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      throw bad(this.name, `cannot read: ${describeError(err)}`);
    }
    return done;
  }

  /** The processes as recorded, with what the scan could not read of each. */
  get processes(): readonly SnapshotProcess[] {
    return this.header.processes;
  }

  /** A source label as this file's openers give it: "pid 42 (cat) in host.snap". */
  labelOf(recorded: string): string {
    return `${recorded}${this.labelSuffix}`;
  }

  /** One opener per process in the snapshot; the file closes when the last source does. */
  openers(): SourceOpener[] {
    let first = 0;
    return this.header.processes.map((p) => {
      const start = first;
      first += p.regions.reduce((n, r) => n + r.pages, 0);
      const label = this.labelOf(p.label);
      return { label, pid: p.info.pid, named: p.named, file: this.name, open: () => this.source(p.info, label, p.hasPhysicalInfo, p.regions, start) };
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
    if (this.read(into.subarray(0, want), this.recordsAt + first * PAGE_RECORD_BYTES) < want) throw bad(this.name, 'truncated page records (the file changed while it was read)');
  }

  private readFrames(): RecordedPhysicalPages {
    const frames = new Map<number, { mapCount: number; flags: number }>();
    const at = this.recordsAt + this.header.pageRecords * PAGE_RECORD_BYTES;
    const chunk = Buffer.alloc(65536 * FRAME_RECORD_BYTES);
    for (let done = 0; done < this.header.frameRecords; ) {
      const m = Math.min(65536, this.header.frameRecords - done);
      if (this.read(chunk.subarray(0, m * FRAME_RECORD_BYTES), at + done * FRAME_RECORD_BYTES) < m * FRAME_RECORD_BYTES) throw bad(this.name, 'truncated frame records');
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

/** Every kind of skip: the compiler checks this against SkipKind. */
const SKIP_KINDS: Record<SkipKind, true> = { exited: true, 'kernel-thread': true, zombie: true, self: true, denied: true, failed: true };

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
  if (typeof h.host.root !== 'boolean' || typeof h.host.pfnsVisible !== 'boolean' || typeof h.host.kernel !== 'string' || typeof h.host.hostname !== 'string') {
    throw bad(name, 'corrupt header (host)');
  }
  if (typeof h.tool !== 'object' || h.tool === null || h.tool.name !== 'samepage' || typeof h.tool.version !== 'string') throw bad(name, 'corrupt header (tool)');
  if (typeof h.createdAt !== 'string' || Number.isNaN(Date.parse(h.createdAt))) throw bad(name, 'corrupt header (creation time)');
  // Optional: snapshots from before huge pages were recorded have none.
  if (
    h.thp !== undefined &&
    (typeof h.thp !== 'object' || h.thp === null || !['zero-subpages-freed', 'zero-subpages-kept'].includes(h.thp.split) ||
      !['probe', 'kernel-version', 'default'].includes(h.thp.basis) || !(h.thp.kernel === null || typeof h.thp.kernel === 'string') ||
      typeof h.thp.verified !== 'boolean' || typeof h.thp.hugePagesKnown !== 'boolean')
  ) {
    throw bad(name, 'corrupt header (huge pages)');
  }
  if (!Array.isArray(h.warnings) || !h.warnings.every((w) => typeof w === 'string')) throw bad(name, 'corrupt header (warnings)');
  if (!Array.isArray(h.skipped)) throw bad(name, 'corrupt header (skipped)');
  for (const k of h.skipped) {
    if (
      typeof k !== 'object' || k === null || !(k.pid === null || isCount(k.pid)) || typeof k.source !== 'string' || typeof k.reason !== 'string' ||
      typeof k.permissionDenied !== 'boolean' || typeof k.affectsExit !== 'boolean' || !Object.hasOwn(SKIP_KINDS, k.kind)
    ) {
      throw bad(name, 'corrupt header (a skipped source)');
    }
  }
  if (!Array.isArray(h.processes)) throw bad(name, 'corrupt header (processes)');
  let pages = 0;
  for (const p of h.processes) {
    if (
      typeof p !== 'object' || p === null || typeof p.info !== 'object' || p.info === null || !isCount(p.info.pid) || typeof p.info.command !== 'string' ||
      typeof p.info.cmdline !== 'string' || !(p.info.chromiumType === null || typeof p.info.chromiumType === 'string') ||
      !(p.info.ppid === null || isCount(p.info.ppid)) || typeof p.label !== 'string' || typeof p.hasPhysicalInfo !== 'boolean' || typeof p.named !== 'boolean' ||
      !Array.isArray(p.regions) || !isCount(p.regionsSkipped) || !isCount(p.regionsFailed) || p.regionsFailed > p.regionsSkipped || p.regionsSkipped > p.regions.length
    ) {
      throw bad(name, 'corrupt header (a process)');
    }
    // Grouping facts (--group-by) are optional: snapshots from before them have none.
    if (p.info.grouping !== undefined && !isGroupingFacts(p.info.grouping)) throw bad(name, "corrupt header (a process's grouping facts)");
    for (const r of p.regions) {
      if (
        typeof r !== 'object' || r === null || !isCount(r.pages) || !isCount(r.virtualPages) || !isCount(r.swappedPages) || !(MAPPING_KINDS as readonly string[]).includes(r.kind) ||
        !isCount(r.start) || !isCount(r.end) || typeof r.perms !== 'string' || typeof r.path !== 'string' || !isBoolOrNull(r.ksmCompatible) || !isBoolOrNull(r.mergeableNow) ||
        typeof r.offset !== 'number' || typeof r.inode !== 'number'
      ) {
        throw bad(name, 'corrupt header (a region)');
      }
      // The records are what is resident: sizes derive from them, never from a stored estimate.
      r.residentPages = r.pages;
      pages += r.pages;
    }
  }
  if (pages !== h.pageRecords) throw bad(name, 'corrupt header (page counts do not add up)');
  if (!(h.ksmFullScans === undefined || h.ksmFullScans === null || isCount(h.ksmFullScans))) throw bad(name, 'corrupt header (full scans)');
  const v = h.volatility;
  if (v !== undefined) {
    const isSeconds = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x > 0;
    const pace = v?.pace;
    if (
      typeof v !== 'object' || v === null || !isSeconds(v.intervalSeconds) || !isCount(v.samples) || v.samples < 2 || !isCount(v.rereadPages) || !isCount(v.changedPages) ||
      !isCount(v.gonePages) || !isCount(v.rereadMs) || !isCount(v.firstPassReadMs) ||
      !(
        pace === null ||
        (typeof pace === 'object' && isCount(pace.pagesToScan) && isCount(pace.sleepMillisecs) && (pace.advisorMode === null || typeof pace.advisorMode === 'string') &&
          (pace.advisorTargetScanTime === null || isCount(pace.advisorTargetScanTime)) && (pace.smartScan === null || isCount(pace.smartScan)))
      )
    ) {
      throw bad(name, 'corrupt header (volatility)');
    }
  }
}

function isGroupingFacts(g: unknown): boolean {
  const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (typeof g !== 'object' || g === null) return false;
  const f = g as Record<string, unknown>;
  const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
  if (!strOrNull(f['cgroup']) || !strOrNull(f['user']) || !(f['uid'] === null || isCount(f['uid']))) return false;
  const vm = f['vm'];
  if (vm === null) return true;
  if (typeof vm !== 'object' || vm === undefined) return false;
  const v = vm as Record<string, unknown>;
  return typeof v['name'] === 'string' && ['name', 'uuid', 'pid'].includes(v['nameFrom'] as string) && strOrNull(v['uuid']) && (v['ramBytes'] === null || isCount(v['ramBytes']));
}
