import { basename } from 'node:path';
import type { MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { PAGE_ANON, PAGE_NO_PHYS } from '../source/memory-source.js';
import { classifyRegion, type MappingKind } from '../source/mapping-kind.js';
import { chromiumProcessType, splitCmdline } from '../source/process-naming.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import type { SourceOpener } from '../source/source-opener.js';
import { SourceError, UserError } from '../util/errors.js';
import type { ByteSource } from './byte-source.js';
import { openByteSource } from './open-byte-source.js';
import { PF_R, PF_W, PF_X, isPageSize, parseCore, type CoreLayout, type CoreSegment, type MappedFiles } from './elf-core.js';

/** Where a region's pages are in the core, and how its pages are flagged. */
interface SegmentData {
  index: number;
  offset: number;
  filesz: number;
  memsz: number;
  pageFlags: number;
}

/**
 * An ELF core dump as a memory source: a process's core (the kernel's, gdb's gcore, a
 * systemd-coredump .zst) or a VM's RAM (QEMU dump-guest-memory). One region per PT_LOAD;
 * only the pages in the dump are read, in file order, so a compressed core streams.
 *
 * A core has no physical information: every page is PAGE_NO_PHYS, and a zero-filled page
 * cannot be told from one never touched. Anonymous regions are taken as KSM-compatible (an
 * upper bound: a core does not keep VmFlags); mergeable-now is unknown.
 */
export class CoreSource implements MemorySource {
  readonly info: ProcessInfo;
  readonly label: string;
  readonly origin: 'core' | 'vm-image';
  readonly hasPhysicalInfo = false;
  readonly physical: PhysicalPages | null = null;
  /** The page size the core was written with (NT_FILE), or the one given to openCore. */
  readonly pageSize: number;
  /** A process's core, or a VM's memory (no NT_PRPSINFO and no NT_FILE: guest-physical addresses). */
  readonly dumpKind: 'process' | 'machine';
  readonly format: 'plain' | 'zstd';
  private readonly list: SourceRegion[] = [];
  private readonly data = new Map<SourceRegion, SegmentData>();

  constructor(
    private readonly path: string,
    private readonly bytes: ByteSource,
    layout: CoreLayout,
    pageSize: number,
  ) {
    this.label = path;
    this.format = bytes.format;
    this.pageSize = layout.files?.pageSize ?? pageSize;
    const machine = layout.psinfo === null && layout.files === null;
    this.dumpKind = machine ? 'machine' : 'process';
    this.origin = machine ? 'vm-image' : 'core';
    this.info = machine ? machineInfo(path) : processInfo(path, layout);
    this.buildRegions(layout, machine);
  }

  regions(): SourceRegion[] {
    return this.list;
  }

  scanRegion(region: SourceRegion, sink: PageSink, batch: PageBatch): RegionTally {
    const seg = this.data.get(region);
    if (seg === undefined) throw new SourceError(`${this.path}: region ${hex(region.start)}-${hex(region.end)} is not one of this core's`);
    const ps = this.pageSize;
    const tally: RegionTally = { virtualPages: Math.floor(seg.memsz / ps), swappedPages: 0 };
    const pages = Math.floor(seg.filesz / ps);
    batch.count = 0;
    if (pages === 0) return tally;
    // Contents are read here: a batch holds as many pages as it has room for.
    const capacity = Math.min(batch.vaddr.length, batch.dataPages);
    if (capacity < 1 || batch.data.length !== batch.dataPages * ps) {
      throw new UserError(`${this.path}: the core has ${ps}-byte pages but the scan uses ${batch.data.length / Math.max(1, batch.dataPages)}-byte pages`);
    }
    if (this.bytes.forwardOnly && seg.offset < this.bytes.position) {
      throw new SourceError(
        `${this.path}: a compressed core is read forward only, in the order regions() gives: segment ${seg.index} at offset ${seg.offset} comes after offset ${this.bytes.position}`,
      );
    }
    for (let done = 0; done < pages; ) {
      const n = Math.min(capacity - batch.count, pages - done);
      const want = n * ps;
      const at = seg.offset + done * ps;
      const got = this.bytes.read(batch.data, batch.count * ps, want, at);
      if (got < want) {
        throw new SourceError(`${this.path}: the core ends inside segment ${seg.index} (${hex(region.start)}-${hex(region.end)}), at offset ${at + got}: it is truncated`);
      }
      const vaddr = region.start + done * ps;
      for (let k = 0; k < n; k++) {
        const slot = batch.count + k;
        batch.vaddr[slot] = vaddr + k * ps;
        batch.pfn[slot] = 0;
        batch.flags[slot] = seg.pageFlags;
      }
      batch.count += n;
      done += n;
      if (batch.count === capacity) {
        batch.hashed = false;
        sink.pages(region, batch);
        batch.count = 0;
      }
    }
    if (batch.count > 0) {
      batch.hashed = false;
      sink.pages(region, batch);
    }
    batch.count = 0;
    return tally;
  }

  close(): void {
    this.bytes.close();
  }

  private buildRegions(layout: CoreLayout, machine: boolean): void {
    // A VM dump's PT_LOADs carry guest-physical addresses in p_paddr (QEMU leaves p_vaddr 0
    // unless paging was asked for).
    const physical = machine && layout.segments.some((s) => s.paddr !== 0);
    const files = machine ? null : layout.files;
    const order = files === null ? null : sortedStarts(files);
    const segs = [...layout.segments].sort((a, b) => a.offset - b.offset || a.index - b.index);
    for (const seg of segs) {
      const start = physical ? seg.paddr : seg.vaddr;
      // Kernel addresses ([vsyscall] at 0xffffffffff600000) do not fit a JS number: skipped,
      // as the live source skips them.
      if (start > Number.MAX_SAFE_INTEGER) continue;
      const end = start + seg.memsz;
      if (end > Number.MAX_SAFE_INTEGER) throw new UserError(`${this.path}: segment ${seg.index}: absurd memory size ${seg.memsz} at address ${hex(start)}`);
      const region = this.classify(seg, start, end, files, order, layout.vdso);
      this.list.push(region);
    }
    this.markVvar();
  }

  /**
   * The kernel dumps [vvar] (and [vvar_vclock]) too: unnamed read-only pages of kernel data
   * right below the vDSO. They are special mappings, not anonymous memory.
   */
  private markVvar(): void {
    const vdso = this.list.find((r) => r.path === '[vdso]');
    if (vdso === undefined) return;
    const byEnd = new Map<number, SourceRegion>();
    for (const r of this.list) if (r.kind === 'anon' && r.perms[1] !== 'w') byEnd.set(r.end, r);
    for (let r = byEnd.get(vdso.start); r !== undefined; r = byEnd.get(r.start)) {
      byEnd.delete(r.end);
      r.path = '[vvar]';
      r.kind = 'special';
      r.ksmCompatible = false;
      const seg = this.data.get(r);
      if (seg !== undefined) seg.pageFlags = PAGE_NO_PHYS;
    }
  }

  private classify(seg: CoreSegment, start: number, end: number, files: MappedFiles | null, order: Int32Array | null, vdso: number | null): SourceRegion {
    const writable = (seg.flags & PF_W) !== 0;
    const perms = `${(seg.flags & PF_R) !== 0 ? 'r' : '-'}${writable ? 'w' : '-'}${(seg.flags & PF_X) !== 0 ? 'x' : '-'}p`;
    let path = '';
    let offset = 0;
    let kind: MappingKind = 'anon';
    let anon = true;
    let compatible = true;
    const named = files === null || order === null ? -1 : findFile(files, order, start);
    if (vdso !== null && vdso >= start && vdso < end) {
      path = '[vdso]';
      kind = 'special';
      anon = false;
      compatible = false;
    } else if (named >= 0 && files !== null) {
      path = files.names[named] ?? '';
      offset = (files.offsets[named] as number) + (start - (files.starts[named] as number));
      if (classifyRegion(path, false, false) === 'shmem') {
        // memfd, /dev/shm, SysV: shared memory KSM never merges.
        kind = 'shmem';
        anon = false;
        compatible = false;
      } else if (writable) {
        // A private file mapping that can be written: what the core holds of it are its
        // copy-on-write copies (anonymous pages). A core does not say private or shared.
        kind = 'file-private-copy';
      } else {
        kind = 'file';
        anon = false;
        compatible = false;
      }
    }
    const region: SourceRegion = {
      start,
      end,
      perms,
      offset,
      inode: 0,
      path,
      kind,
      ksmCompatible: compatible,
      mergeableNow: null,
      residentPages: Math.floor(seg.filesz / this.pageSize),
    };
    this.data.set(region, { index: seg.index, offset: seg.offset, filesz: seg.filesz, memsz: seg.memsz, pageFlags: PAGE_NO_PHYS | (anon ? PAGE_ANON : 0) });
    return region;
  }
}

/**
 * Opens an ELF core (plain or zstd-compressed, recognised by content). `pageSize` is used when
 * the core does not say its own (NT_FILE): the source's `pageSize` tells which one it took.
 * `name` is what labels and messages call it (standard input's copy is opened by another path).
 * Throws UserError naming the file and what is wrong with it.
 */
export function openCore(path: string, pageSize: number, name: string = path): CoreSource {
  if (!isPageSize(pageSize)) throw new UserError(`${name}: page size ${pageSize} is not a page size`);
  const bytes = openByteSource(path, name);
  try {
    const layout = parseCore(bytes);
    // Scanning starts again from the beginning: this also frees what decompression held.
    bytes.rewind();
    return new CoreSource(name, bytes, layout, pageSize);
  } catch (err) {
    bytes.close();
    throw err;
  }
}

/**
 * A core for runScan. The scan's page size must be the core's: a core written with other pages
 * is refused with a UserError (open it with openCore first to learn its page size).
 */
export function coreOpener(path: string, pageSize: number, name: string = path): SourceOpener {
  return {
    label: name,
    pid: null,
    named: true,
    file: name,
    open(): MemorySource {
      const source = openCore(path, pageSize, name);
      if (source.pageSize !== pageSize) {
        source.close();
        throw new UserError(`${name}: the core was written with ${source.pageSize}-byte pages, but the scan uses ${pageSize}-byte pages`);
      }
      return source;
    },
  };
}

function processInfo(path: string, layout: CoreLayout): ProcessInfo {
  const ps = layout.psinfo;
  const command = ps?.fname || basename(path);
  const cmdline = ps?.psargs ?? '';
  return {
    pid: ps?.pid ?? layout.prstatusPid ?? 0,
    ppid: null,
    command,
    cmdline,
    chromiumType: chromiumProcessType(command, splitCmdline(cmdline)),
  };
}

function machineInfo(path: string): ProcessInfo {
  return { pid: 0, ppid: null, command: basename(path), cmdline: '', chromiumType: null };
}

/** NT_FILE entry indices sorted by start address. */
function sortedStarts(files: MappedFiles): Int32Array {
  const order = new Int32Array(files.starts.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => (files.starts[a] as number) - (files.starts[b] as number));
  return order;
}

/** The NT_FILE entry whose range holds `addr`, or -1. */
function findFile(files: MappedFiles, order: Int32Array, addr: number): number {
  let lo = 0;
  let hi = order.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const i = order[mid] as number;
    if ((files.starts[i] as number) <= addr) {
      found = i;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found >= 0 && addr < (files.ends[found] as number) ? found : -1;
}

function hex(n: number): string {
  return n.toString(16);
}
