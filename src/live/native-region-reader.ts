import type { PageBatch, PageSink, RegionTally, SourceRegion } from '../source/memory-source.js';
import type { NativeAddon } from '../native/native-addon.js';
import { errnoNumberWords } from '../util/errors.js';
import { jsLiveRegionReader } from './js-region-reader.js';
import type { LiveProcess, LiveRegionReader } from './live-process.js';

const ERRNO_NAMES: Record<number, string> = { 3: 'ESRCH', 5: 'EIO', 14: 'EFAULT' };

/** The few errno values LiveProcess.readFailed tells apart by name; any other is said in words. */
function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? errnoNumberWords(errno);
}

/**
 * The region reader in native code (native/tile_reader.c): pagemap, index records and
 * read+hash on the addon's threads, written straight into the index through the sink's record
 * target. A region that fails is dropped whole: its last records have no hashes yet. A sink
 * without a record target (a test's) gets the JavaScript reader.
 */
export function nativeLiveRegionReader(native: NativeAddon): LiveRegionReader {
  return {
    read(proc: LiveProcess, region: SourceRegion, sink: PageSink, batch: PageBatch, tally: RegionTally): RegionTally {
      const target = sink.records;
      if (target === undefined) return jsLiveRegionReader.read(proc, region, sink, batch, tally);
      const index = target.index;
      const from = index.length;
      const { anon, file } = target.regionMeta(region);
      const noPhys = !proc.hasPhysicalInfo || target.domain === null;
      let page = 0;
      let zeroCandidates = 0;
      // Room for what smaps says is resident, and more if the region grew meanwhile.
      index.reserve(Math.max(256, region.residentPages ?? 0));
      for (;;) {
        const capacity = index.capacity - index.length;
        const [next, written, swapped, errno, zeros] = native.scanRange({
          pagemapFd: proc.pagemapFd, memFd: proc.memFd, pid: proc.info.pid, regionStart: region.start, regionPages: tally.virtualPages,
          first: page, pageSize: proc.pageSize, metaAnon: anon, metaFile: file, noPhys, domain: target.domain ?? 0,
          index, out: index.length, capacity, threads: proc.threads, zeroHash: target.zeroHash,
        });
        index.length += written;
        zeroCandidates += zeros;
        tally.swappedPages += swapped;
        if (errno !== 0) {
          index.length = from;
          proc.readFailed(region, errnoName(errno));
        }
        if (next >= tally.virtualPages || written < capacity) break;
        page = next;
        index.reserve(Math.max(4096, Math.ceil(index.capacity / 2)));
      }
      // Most regions have no zero-filled page that may be the kernel's zero page: no pass over them.
      if (zeroCandidates > 0) target.finish(from);
      return tally;
    },
  };
}
