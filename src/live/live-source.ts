import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_NO_PHYS } from '../source/memory-source.js';
import { PM_EXCLUSIVE_HI, PM_FILE_HI, PM_PRESENT_HI, PM_SWAPPED_HI, pfnOf } from './pagemap.js';
import { parseSmaps } from './smaps.js';
import { EXIT_NO_PERMISSION, SourceError, UserError, errnoCode } from '../util/errors.js';

/** Pagemap entries read per call: 512 KiB of entries covers 256 MiB of address space. */
const PAGEMAP_CHUNK = 65536;

/**
 * A live process read through /proc: smaps for the regions, pagemap for what is present and
 * where it lives physically, mem for the contents of present pages only.
 * Never writes to the process: every file is opened read-only.
 */
export class LiveSource implements MemorySource {
  readonly label: string;
  readonly hasPhysicalInfo: boolean;
  private readonly pagemapFd: number;
  private readonly memFd: number;
  private readonly pmWords = new Uint32Array(PAGEMAP_CHUNK * 2);
  private readonly pmBytes = Buffer.from(this.pmWords.buffer);
  private cachedRegions: SourceRegion[] | null = null;

  constructor(
    readonly info: ProcessInfo,
    private readonly pageSize: number,
    /** PFNs are only shown to CAP_SYS_ADMIN: without them fork-shared pages cannot be told apart. */
    pfnsVisible: boolean,
  ) {
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

    const capacity = batch.vaddr.length;
    const noPhys = this.hasPhysicalInfo ? 0 : PAGE_NO_PHYS;
    const words = this.pmWords;
    batch.count = 0;
    const firstPage = region.start / pageSize;
    for (let done = 0; done < virtualPages; ) {
      const n = Math.min(PAGEMAP_CHUNK, virtualPages - done);
      const got = this.readPagemap(firstPage + done, n);
      let runStart = -1;
      for (let i = 0; i <= got; i++) {
        const hi = i < got ? (words[i * 2 + 1] as number) : 0;
        const present = (hi & PM_PRESENT_HI) !== 0;
        if (present) {
          if (runStart < 0) runStart = i;
          if (batch.count + (i - runStart) >= capacity) {
            // The batch is full: read what the run has so far and hand it over.
            this.readRun(region, batch, done + runStart, i - runStart, runStart, noPhys);
            sink.pages(region, batch);
            batch.count = 0;
            runStart = i;
          }
        } else {
          if ((hi & PM_SWAPPED_HI) !== 0) tally.swappedPages++;
          if (runStart >= 0) {
            this.readRun(region, batch, done + runStart, i - runStart, runStart, noPhys);
            runStart = -1;
          }
        }
      }
      if (runStart >= 0) throw new Error('unreachable: run left open');
      done += got;
      if (got < n) break;
    }
    if (batch.count > 0) sink.pages(region, batch);
    batch.count = 0;
    return tally;
  }

  /** Appends `count` present pages starting at region page `pageIndex` to the batch. */
  private readRun(region: SourceRegion, batch: PageBatch, pageIndex: number, count: number, wordIndex: number, noPhys: number): void {
    const pageSize = this.pageSize;
    const words = this.pmWords;
    const at = batch.count;
    const vaddr = region.start + pageIndex * pageSize;
    const want = count * pageSize;
    let filled = 0;
    while (filled < want) {
      let n: number;
      try {
        n = readSync(this.memFd, batch.data, at * pageSize + filled, want - filled, vaddr + filled);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ESRCH' || this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, true);
        throw new SourceError(`cannot read ${describe(region)}: ${code ?? (err as Error).message}`);
      }
      if (n === 0) {
        if (this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, true);
        throw new SourceError(`${describe(region)} was unmapped during the scan`);
      }
      filled += n;
    }
    for (let k = 0; k < count; k++) {
      const lo = words[(wordIndex + k) * 2] as number;
      const hi = words[(wordIndex + k) * 2 + 1] as number;
      const slot = at + k;
      batch.vaddr[slot] = vaddr + k * pageSize;
      batch.pfn[slot] = pfnOf(lo, hi);
      batch.flags[slot] = ((hi & PM_FILE_HI) === 0 ? PAGE_ANON : 0) | ((hi & PM_EXCLUSIVE_HI) !== 0 ? PAGE_EXCLUSIVE : 0) | noPhys;
    }
    batch.count = at + count;
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
        n = readSync(this.pagemapFd, this.pmBytes, filled, want - filled, page * 8 + filled);
      } catch (err) {
        throw gone(this.info.pid, err);
      }
      if (n === 0) {
        // A short pagemap means the end of the address space, or a process that has exited.
        if (this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, true);
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
  if (code === 'ENOENT' || code === 'ESRCH') return new SourceError(`pid ${pid} exited during the scan`, true);
  return new SourceError(`pid ${pid}: ${code ?? (err as Error).message}`);
}

function openProc(pid: number, file: 'pagemap' | 'mem'): number {
  try {
    return openSync(`/proc/${pid}/${file}`, 'r');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ESRCH') throw new SourceError(`pid ${pid} exited before it could be read`, true);
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(permissionMessage(pid, file), EXIT_NO_PERMISSION);
    throw new SourceError(`pid ${pid}: cannot open /proc/${pid}/${file}: ${code ?? (err as Error).message}`);
  }
}

export function permissionMessage(pid: number, file: string): string {
  let yama = '';
  try {
    const scope = readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'latin1').trim();
    if (scope !== '0') yama = ` (Yama ptrace_scope is ${scope}: ${scope === '3' ? 'no process may read another, even as root' : 'only root or CAP_SYS_PTRACE may read another process'})`;
  } catch {
    // No Yama: ordinary ptrace rules apply.
  }
  return `no permission to read the memory of pid ${pid} (/proc/${pid}/${file}): reading another process's memory needs ptrace access${yama}; run samepage as root (sudo samepage ...) or give it CAP_SYS_PTRACE`;
}
