import { readSync } from 'node:fs';
import type { PageBatch, PageSink, RegionTally, SourceRegion } from '../source/memory-source.js';
import { PAGE_ANON, PAGE_EXCLUSIVE, PAGE_NO_PHYS } from '../source/memory-source.js';
import { PM_EXCLUSIVE_HI, PM_FILE_HI, PM_PRESENT_HI, PM_SWAPPED_HI, pfnOf } from './pagemap.js';
import { SourceError, describeError, errnoCode } from '../util/errors.js';
import { processGone, type LiveProcess, type LiveRegionReader } from './live-process.js';

/** Pagemap entries read per call: 512 KiB of entries covers 256 MiB of address space. */
const PAGEMAP_CHUNK = 65536;
/** The largest batch a scan may hand a live source. */
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
  /** Runs of the batch being filled: contiguous present pages, read with one pread each. */
  runs: number;
}
let sharedScratch: Scratch | null = null;

function scratch(): Scratch {
  if (sharedScratch === null) {
    const pmWords = new Uint32Array(PAGEMAP_CHUNK * 2);
    sharedScratch = { pmWords, pmBytes: Buffer.from(pmWords.buffer), runStart: new Float64Array(MAX_BATCH_PAGES), runPages: new Uint32Array(MAX_BATCH_PAGES), runs: 0 };
  }
  return sharedScratch;
}

/**
 * The region reader in JavaScript: pagemap for what is present and where it lives physically,
 * positional reads of /proc/PID/mem for the contents of present pages only, hashed by the sink.
 */
export const jsLiveRegionReader: LiveRegionReader = {
  read(proc: LiveProcess, region: SourceRegion, sink: PageSink, batch: PageBatch, tally: RegionTally): RegionTally {
    const pageSize = proc.pageSize;
    const virtualPages = tally.virtualPages;
    const s = scratch();
    const limit = Math.min(batch.vaddr.length, batch.dataPages);
    const noPhys = proc.hasPhysicalInfo ? 0 : PAGE_NO_PHYS;
    const words = s.pmWords;
    const firstPage = region.start / pageSize;
    s.runs = 0;
    batch.count = 0;
    for (let done = 0; done < virtualPages; ) {
      const n = Math.min(PAGEMAP_CHUNK, virtualPages - done);
      const got = readPagemap(proc, s, firstPage + done, n);
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
        const r = s.runs;
        if (r > 0 && (s.runStart[r - 1] as number) + (s.runPages[r - 1] as number) * pageSize === vaddr) {
          s.runPages[r - 1] = (s.runPages[r - 1] as number) + 1;
        } else {
          s.runStart[r] = vaddr;
          s.runPages[r] = 1;
          s.runs = r + 1;
        }
        if (batch.count === limit) flush(proc, s, region, sink, batch);
      }
      done += got;
      if (got < n) break;
    }
    if (batch.count > 0) flush(proc, s, region, sink, batch);
    return tally;
  },
};

/** Reads the batch's runs from /proc/PID/mem, then hands the batch over to be hashed. */
function flush(proc: LiveProcess, s: Scratch, region: SourceRegion, sink: PageSink, batch: PageBatch): void {
  let at = 0;
  for (let r = 0; r < s.runs; r++) {
    const pages = s.runPages[r] as number;
    readInto(proc, region, batch.data, at * proc.pageSize, pages * proc.pageSize, s.runStart[r] as number);
    at += pages;
  }
  batch.hashed = false;
  sink.pages(region, batch);
  batch.count = 0;
  s.runs = 0;
}

function readInto(proc: LiveProcess, region: SourceRegion, buf: Buffer, offset: number, length: number, vaddr: number): void {
  let filled = 0;
  while (filled < length) {
    let n: number;
    try {
      n = readSync(proc.memFd, buf, offset + filled, length - filled, vaddr + filled);
    } catch (err) {
      const code = errnoCode(err);
      proc.readFailed(region, code === 'ESRCH' || code === 'EIO' || code === 'EFAULT' ? code : describeError(err));
    }
    if (n === 0) proc.readFailed(region, 'EOF');
    filled += n;
  }
}

/** Reads up to `count` pagemap entries from virtual page `page`; returns how many were read. */
function readPagemap(proc: LiveProcess, s: Scratch, page: number, count: number): number {
  let filled = 0;
  const want = count * 8;
  while (filled < want) {
    let n: number;
    try {
      n = readSync(proc.pagemapFd, s.pmBytes, filled, want - filled, page * 8 + filled);
    } catch (err) {
      throw processGone(proc.info.pid, err);
    }
    if (n === 0) {
      // A short pagemap means the end of the address space, or a process that has exited.
      if (proc.exited()) throw new SourceError(`pid ${proc.info.pid} exited during the scan`, 'exited');
      break;
    }
    filled += n;
  }
  return Math.floor(filled / 8);
}
