import { readFileSync } from 'node:fs';
import type { MemorySource, PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { parseSmaps } from './smaps.js';
import { jsLiveRegionReader } from './js-region-reader.js';
import { LiveProcess, processGone, type LiveRegionReader } from './live-process.js';

/**
 * A live process read through /proc: smaps for the regions, then each region's present pages
 * by the region reader the engine chose (src/engine/). Never writes to the process: every file
 * is opened read-only.
 */
export class LiveSource implements MemorySource {
  readonly label: string;
  readonly origin = 'live' as const;
  readonly hasPhysicalInfo: boolean;
  private readonly process: LiveProcess;
  private cachedRegions: SourceRegion[] | null;

  constructor(
    readonly info: ProcessInfo,
    private readonly pageSize: number,
    /** PFNs are only shown to CAP_SYS_ADMIN: without them fork-shared pages cannot be told apart. */
    pfnsVisible: boolean,
    /** The kernel's physical page information (root only), shared by every live source. */
    readonly physical: PhysicalPages | null,
    /** How regions are read: the engine's reader (native or JavaScript). */
    private readonly reader: LiveRegionReader = jsLiveRegionReader,
    threads = 1,
    /** The regions, when smaps was already read (readRegionsAhead). */
    regions: SourceRegion[] | null = null,
  ) {
    this.cachedRegions = regions;
    this.label = `pid ${info.pid} (${info.command})`;
    this.hasPhysicalInfo = pfnsVisible;
    this.process = new LiveProcess(info, pageSize, pfnsVisible, threads);
  }

  regions(): SourceRegion[] {
    if (this.cachedRegions === null) {
      let text: string;
      try {
        text = readFileSync(`/proc/${this.info.pid}/smaps`, 'latin1');
      } catch (err) {
        throw processGone(this.info.pid, err);
      }
      this.cachedRegions = parseSmaps(text, this.pageSize);
    }
    return this.cachedRegions;
  }

  scanRegion(region: SourceRegion, sink: PageSink, batch: PageBatch): RegionTally {
    const tally: RegionTally = { virtualPages: Math.floor((region.end - region.start) / this.pageSize), swappedPages: 0 };
    // Nothing resident (V8 and PartitionAlloc reserve terabytes like this): no reads at all.
    if (region.residentPages === 0) return tally;
    return this.reader.read(this.process, region, sink, batch, tally);
  }

  close(): void {
    this.process.close();
  }
}
