import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { DirectIndexTarget, MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_NO_PHYS } from '../source/memory-source.js';
import { PM_EXCLUSIVE_HI, PM_FILE_HI, PM_PRESENT_HI, PM_SWAPPED_HI, pfnOf } from './pagemap.js';
import { parseSmaps } from './smaps.js';
import type { NativeAddon } from '../native/native-addon.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { EXIT_NO_PERMISSION, SourceError, UserError, describeError, errnoCode, errnoNumberWords } from '../util/errors.js';
import { permissionMessage } from './ptrace-denial.js';

/** Pagemap entries read per call: 512 KiB of entries covers 256 MiB of address space. */
const PAGEMAP_CHUNK = 65536;
/** The largest batch a scan may hand this source. */
export const MAX_BATCH_PAGES = 8192;

/**
 * Buffers of the JavaScript reading path, shared by every live source (sources are read one
 * after the other) and allocated only if that path runs: with hundreds of processes, buffers
 * per source would cost more than the index.
 */
interface Scratch {
  pmWords: Uint32Array;
  pmBytes: Buffer;
  runStart: Float64Array;
  runPages: Uint32Array;
}
let sharedScratch: Scratch | null = null;

function scratch(): Scratch {
  if (sharedScratch === null) {
    const pmWords = new Uint32Array(PAGEMAP_CHUNK * 2);
    sharedScratch = { pmWords, pmBytes: Buffer.from(pmWords.buffer), runStart: new Float64Array(MAX_BATCH_PAGES), runPages: new Uint32Array(MAX_BATCH_PAGES) };
  }
  return sharedScratch;
}

/**
 * A live process read through /proc: smaps for the regions, pagemap for what is present and
 * where it lives physically, mem for the contents of present pages only.
 * Never writes to the process: every file is opened read-only.
 */
export class LiveSource implements MemorySource {
  readonly label: string;
  readonly origin = 'live' as const;
  readonly hasPhysicalInfo: boolean;
  private readonly pagemapFd: number;
  private readonly memFd: number;

  private cachedRegions: SourceRegion[] | null = null;
  /** The present runs of the batch being filled: start address and page count. */
  private get runStart(): Float64Array {
    return scratch().runStart;
  }
  private get runPages(): Uint32Array {
    return scratch().runPages;
  }
  private runs = 0;

  constructor(
    readonly info: ProcessInfo,
    private readonly pageSize: number,
    /** PFNs are only shown to CAP_SYS_ADMIN: without them fork-shared pages cannot be told apart. */
    pfnsVisible: boolean,
    /** The kernel's physical page information (root only), shared by every live source. */
    readonly physical: PhysicalPages | null,
    /** The native read+hash, or null for positional reads of /proc/PID/mem hashed in JS. */
    private readonly native: NativeAddon | null = null,
    private readonly threads = 1,
    /** The regions, when smaps was already read (readRegionsAhead). */
    regions: SourceRegion[] | null = null,
  ) {
    this.cachedRegions = regions;
    this.label = `pid ${info.pid} (${info.command})`;
    this.hasPhysicalInfo = pfnsVisible;
    this.pagemapFd = openProc(info.pid, 'pagemap');
    try {
      this.memFd = openProc(info.pid, 'mem');
    } catch (err) {
      closeSync(this.pagemapFd);
      throw err;
    }
  }

  regions(): SourceRegion[] {
    if (this.cachedRegions === null) {
      let text: string;
      try {
        text = readFileSync(`/proc/${this.info.pid}/smaps`, 'latin1');
      } catch (err) {
        throw gone(this.info.pid, err);
      }
      this.cachedRegions = parseSmaps(text, this.pageSize);
    }
    return this.cachedRegions;
  }

  scanRegion(region: SourceRegion, sink: PageSink, batch: PageBatch): RegionTally {
    const pageSize = this.pageSize;
    const virtualPages = Math.floor((region.end - region.start) / pageSize);
    const tally: RegionTally = { virtualPages, swappedPages: 0 };
    // Nothing resident (V8 and PartitionAlloc reserve terabytes like this): no reads at all.
    if (region.residentPages === 0) return tally;
    if (this.native !== null && sink.direct !== undefined) return this.scanDirect(region, sink.direct, tally);

    // Without the native reader (or a sink to write into): contents through the batch.
    const limit = Math.min(batch.vaddr.length, batch.dataPages);
    const noPhys = this.hasPhysicalInfo ? 0 : PAGE_NO_PHYS;
    const words = scratch().pmWords;
    const firstPage = region.start / pageSize;
    this.runs = 0;
    batch.count = 0;
    for (let done = 0; done < virtualPages; ) {
      const n = Math.min(PAGEMAP_CHUNK, virtualPages - done);
      const got = this.readPagemap(firstPage + done, n);
      for (let i = 0; i < got; i++) {
        const hi = words[i * 2 + 1] as number;
        if ((hi & PM_PRESENT_HI) === 0) {
          if ((hi & PM_SWAPPED_HI) !== 0) tally.swappedPages++;
          continue;
        }
        const lo = words[i * 2] as number;
        const slot = batch.count++;
        const vaddr = region.start + (done + i) * pageSize;
        batch.vaddr[slot] = vaddr;
        batch.pfn[slot] = pfnOf(lo, hi);
        batch.flags[slot] = ((hi & PM_FILE_HI) === 0 ? PAGE_ANON : 0) | ((hi & PM_EXCLUSIVE_HI) !== 0 ? PAGE_EXCLUSIVE : 0) | noPhys;
        // Contiguous present pages form one run: one read for all of them.
        const r = this.runs;
        if (r > 0 && (this.runStart[r - 1] as number) + (this.runPages[r - 1] as number) * pageSize === vaddr) {
          this.runPages[r - 1] = (this.runPages[r - 1] as number) + 1;
        } else {
          this.runStart[r] = vaddr;
          this.runPages[r] = 1;
          this.runs = r + 1;
        }
        if (batch.count === limit) this.flush(region, sink, batch);
      }
      done += got;
      if (got < n) break;
    }
    if (batch.count > 0) this.flush(region, sink, batch);
    return tally;
  }

  /**
   * The native path: pagemap, records and hashes in native code, written straight into the
   * index. A region that fails is dropped whole: its last records have no hashes yet.
   */
  private scanDirect(region: SourceRegion, target: DirectIndexTarget, tally: RegionTally): RegionTally {
    const native = this.native as NativeAddon;
    const index = target.index;
    const from = index.length;
    const { anon, file } = target.regionMeta(region);
    const noPhys = this.hasPhysicalInfo && target.domain !== null ? 0 : 1;
    let page = 0;
    let zeroCandidates = 0;
    // Room for what smaps says is resident, and more if the region grew meanwhile.
    index.reserve(Math.max(256, region.residentPages ?? 0));
    for (;;) {
      const capacity = index.capacity - index.length;
      const [next, written, swapped, errno, zeros] = native.scanRange({
        pagemapFd: this.pagemapFd, memFd: this.memFd, pid: this.info.pid, regionStart: region.start, regionPages: tally.virtualPages,
        first: page, pageSize: this.pageSize, metaAnon: anon, metaFile: file, noPhys: noPhys !== 0, domain: target.domain ?? 0,
        index, out: index.length, capacity, threads: this.threads, zeroHash: target.zeroHash,
      });
      index.length += written;
      zeroCandidates += zeros;
      tally.swappedPages += swapped;
      if (errno !== 0) {
        index.length = from;
        this.readFailed(region, errnoName(errno));
      }
      if (next >= tally.virtualPages || written < capacity) break;
      page = next;
      index.reserve(Math.max(4096, Math.ceil(index.capacity / 2)));
    }
    // Most regions have no zero-filled page that may be the kernel's zero page: no pass over them.
    if (zeroCandidates > 0) target.finish(from);
    return tally;
  }

  /** Reads the batch's runs from /proc/PID/mem, then hands the batch over to be hashed. */
  private flush(region: SourceRegion, sink: PageSink, batch: PageBatch): void {
    let at = 0;
    for (let r = 0; r < this.runs; r++) {
      const pages = this.runPages[r] as number;
      this.readInto(region, batch.data, at * this.pageSize, pages * this.pageSize, this.runStart[r] as number);
      at += pages;
    }
    batch.hashed = false;
    sink.pages(region, batch);
    batch.count = 0;
    this.runs = 0;
  }

  private readInto(region: SourceRegion, buf: Buffer, offset: number, length: number, vaddr: number): void {
    let filled = 0;
    while (filled < length) {
      let n: number;
      try {
        n = readSync(this.memFd, buf, offset + filled, length - filled, vaddr + filled);
      } catch (err) {
        const code = errnoCode(err);
        this.readFailed(region, code === 'ESRCH' || code === 'EIO' || code === 'EFAULT' ? code : describeError(err));
      }
      if (n === 0) this.readFailed(region, 'EOF');
      filled += n;
    }
  }

  private readFailed(region: SourceRegion, why: string): never {
    if (why === 'ESRCH' || this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, 'exited');
    if (why === 'EOF' || why === 'EFAULT' || why === 'EIO') throw new SourceError(`${describe(region)} was unmapped during the scan`, 'unmapped');
    throw new SourceError(`cannot read ${describe(region)}: ${why}`);
  }

  /** Whether the process has exited (a zombie has no memory left to read). */
  private exited(): boolean {
    try {
      const stat = readFileSync(`/proc/${this.info.pid}/stat`, 'latin1');
      const state = stat.charAt(stat.lastIndexOf(')') + 2);
      return state === 'Z' || state === 'X';
    } catch {
      return true;
    }
  }

  /** Reads up to `count` pagemap entries from virtual page `page`; returns how many were read. */
  private readPagemap(page: number, count: number): number {
    let filled = 0;
    const want = count * 8;
    while (filled < want) {
      let n: number;
      try {
        n = readSync(this.pagemapFd, scratch().pmBytes, filled, want - filled, page * 8 + filled);
      } catch (err) {
        throw gone(this.info.pid, err);
      }
      if (n === 0) {
        // A short pagemap means the end of the address space, or a process that has exited.
        if (this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, 'exited');
        break;
      }
      filled += n;
    }
    return Math.floor(filled / 8);
  }

  close(): void {
    closeSync(this.memFd);
    closeSync(this.pagemapFd);
  }
}

function describe(region: SourceRegion): string {
  const name = region.path === '' ? 'anonymous' : region.path;
  return `region ${region.start.toString(16)}-${region.end.toString(16)} (${name})`;
}

function gone(pid: number, err: unknown): SourceError {
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ESRCH') return new SourceError(`pid ${pid} exited during the scan`, 'exited');
  return new SourceError(`pid ${pid}: ${describeError(err)}`);
}

function openProc(pid: number, file: 'pagemap' | 'mem'): number {
  try {
    return openSync(`/proc/${pid}/${file}`, 'r');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ESRCH') throw new SourceError(`pid ${pid} exited before it could be read`, 'exited');
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(permissionMessage(pid, file), EXIT_NO_PERMISSION);
    throw new SourceError(`pid ${pid}: cannot open /proc/${pid}/${file}: ${describeError(err)}`);
  }
}

const ERRNO_NAMES: Record<number, string> = { 3: 'ESRCH', 5: 'EIO', 14: 'EFAULT' };

/** The few errno values readFailed tells apart by name; any other is said in words. */
function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? errnoNumberWords(errno);
}
