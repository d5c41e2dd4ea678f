import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collected, ScannedRegion } from './scan.js';
import { createPageBatch, type ProcessInfo, type SourceRegion } from '../source/memory-source.js';
import type { SnapshotVolatility } from '../snapshot/snapshot-format.js';
import { META_ANON, PageIndex } from '../index/page-index.js';
import { IndexWriter } from '../index/index-writer.js';
import { LiveProcess } from '../live/live-process.js';
import { SourceError, UserError } from '../util/errors.js';

// Volatility sampling (docs/estimate.md, "Volatile pages"): KSM merges a page only when its
// checksum was the same at two of its scans in a row, so a page that keeps changing is never
// merged. After the first pass, the pages KSM could track are read again after each interval
// and compared with what the first pass saw; a page whose content changed, or that is no longer
// there, is volatile.

export interface SamplingOptions {
  /** Seconds between two reads of the same page. */
  intervalSeconds: number;
  /** Reads of each page in all, the first pass included (2: one re-read). */
  samples: number;
  /** Threads the re-read may use per process, as the first pass. */
  threads: number;
}

/** What the re-reads found, record by record of the first pass (scan order). */
export interface VolatilitySample {
  intervalSeconds: number;
  samples: number;
  /** Bit r set: record r of the first pass is volatile. */
  volatile: Uint8Array;
  /** Bit r set: record r of the first pass was compared again. */
  reread: Uint8Array;
  /** First-pass records compared again (those of regions KSM could track). */
  rereadPages: number;
  /** Of those: content changed since the first pass. */
  changedPages: number;
  /** Of those: no longer present (unmapped, swapped out, or the process exited). */
  gonePages: number;
  /** Time spent re-reading and comparing, all samples, without the waits. */
  rereadMs: number;
  /** Sources that exited before a re-read: every page of theirs counts as gone. */
  exited: string[];
}

export function isVolatile(sample: VolatilitySample, record: number): boolean {
  return ((sample.volatile[record >>> 3] as number) & (1 << (record & 7))) !== 0;
}

/** The region could be tracked by KSM, in either scope: only those are worth a re-read. */
function ksmCouldTrack(region: SourceRegion): boolean {
  return region.ksmCompatible === true || region.mergeableNow === true;
}

/**
 * Waits `intervalSeconds`, reads every page the first pass indexed in regions KSM could track
 * again, and marks those whose content changed or that went away; `samples - 1` times. The
 * first pass must have kept each record's page within its region (ScanOptions.keepPageOffsets).
 * Memory: one bit per record, and one scratch index of the largest region re-read; no
 * allocation per page.
 */
export async function sampleVolatility(c: Collected, opts: SamplingOptions): Promise<VolatilitySample> {
  const offsets = c.index.pageOffset;
  if (offsets === null) throw new Error('sampleVolatility: the first pass kept no page offsets');
  const n = c.index.length;
  const sample: VolatilitySample = {
    intervalSeconds: opts.intervalSeconds,
    samples: opts.samples,
    volatile: new Uint8Array(Math.ceil(n / 8)),
    reread: new Uint8Array(Math.ceil(n / 8)),
    rereadPages: 0,
    changedPages: 0,
    gonePages: 0,
    rereadMs: 0,
    exited: [],
  };
  const scratch = new PageIndex(4096);
  scratch.trackPageOffsets();
  const sink = new IndexWriter(scratch, c.hasher, c.pageSize, c.zeroHash);
  sink.startSource(0, null, null);
  const batch = createPageBatch(c.pageSize, 4096, Math.max(1, Math.floor(1048576 / c.pageSize)));
  const counted = sample.reread;

  for (let s = 1; s < opts.samples; s++) {
    await sleep(opts.intervalSeconds * 1000);
    const from = performance.now();
    for (const source of c.sources) {
      if (source.origin !== 'live') continue;
      let proc: LiveProcess | null = null;
      try {
        proc = new LiveProcess(source.info, c.pageSize, source.hasPhysicalInfo, opts.threads);
      } catch (err) {
        if (!(err instanceof SourceError) && !(err instanceof UserError)) throw err;
      }
      let start = source.indexStart;
      for (const scanned of source.regions) {
        const first = start;
        start += scanned.indexedPages;
        if (scanned.indexedPages === 0 || !ksmCouldTrack(scanned.region)) continue;
        if (proc === null) {
          markRange(c, sample, counted, first, scanned.indexedPages, 'gone');
          continue;
        }
        try {
          scratch.length = 0;
          c.engine.liveRegions.read(proc, scanned.region, sink, batch, { virtualPages: scanned.virtualPages, swappedPages: 0 });
        } catch (err) {
          if (!(err instanceof SourceError)) throw err;
          // Unmapped, or the process exited: nothing of the region is left to merge.
          markRange(c, sample, counted, first, scanned.indexedPages, 'gone');
          continue;
        }
        compareRegion(c, scanned, first, scratch, sample, counted);
      }
      if (proc === null) sample.exited.push(source.label);
      else proc.close();
    }
    sample.rereadMs += performance.now() - from;
  }
  // The first pass's offsets are of no further use: the index is about to be sorted.
  c.index.pageOffset = null;
  return sample;
}

/** Lines up the region's first-pass records with its re-read, by page within the region. */
function compareRegion(c: Collected, scanned: ScannedRegion, first: number, scratch: PageIndex, sample: VolatilitySample, counted: Uint8Array): void {
  const index = c.index;
  const before = index.pageOffset as Uint32Array;
  const after = scratch.pageOffset as Uint32Array;
  const m = scratch.length;
  let j = 0;
  for (let r = first; r < first + scanned.indexedPages; r++) {
    // Only anonymous pages are KSM's: a page-cache page needs no second look.
    if (((index.meta[r] as number) & META_ANON) === 0) continue;
    const page = before[r] as number;
    while (j < m && (after[j] as number) < page) j++;
    const bit = 1 << (r & 7);
    const byte = r >>> 3;
    const firstTime = ((counted[byte] as number) & bit) === 0;
    if (firstTime) {
      counted[byte] = (counted[byte] as number) | bit;
      sample.rereadPages++;
    }
    if (((sample.volatile[byte] as number) & bit) !== 0) continue;
    if (j < m && after[j] === page) {
      if (scratch.hashHi[j] === index.hashHi[r] && scratch.hashLo[j] === index.hashLo[r]) continue;
      sample.changedPages++;
    } else {
      sample.gonePages++;
    }
    sample.volatile[byte] = (sample.volatile[byte] as number) | bit;
  }
}

function markRange(c: Collected, sample: VolatilitySample, counted: Uint8Array, first: number, count: number, why: 'gone'): void {
  for (let r = first; r < first + count; r++) {
    if (((c.index.meta[r] as number) & META_ANON) === 0) continue;
    const bit = 1 << (r & 7);
    const byte = r >>> 3;
    if (((counted[byte] as number) & bit) === 0) {
      counted[byte] = (counted[byte] as number) | bit;
      sample.rereadPages++;
    }
    if (((sample.volatile[byte] as number) & bit) !== 0) continue;
    if (why === 'gone') sample.gonePages++;
    sample.volatile[byte] = (sample.volatile[byte] as number) | bit;
  }
}

/**
 * The sample a snapshot recorded (PAGE_VOLATILE records, header "volatility"), for the
 * sources of those snapshots: what was compared is what a live sample compares (anonymous pages
 * of regions KSM could track).
 */
export function recordedSample(c: Collected, sampled: ReadonlySet<ProcessInfo>, recorded: readonly SnapshotVolatility[]): VolatilitySample {
  const n = c.index.length;
  const volatile = new Uint8Array(Math.ceil(n / 8));
  const reread = new Uint8Array(Math.ceil(n / 8));
  const bits = c.recordedVolatile;
  const sample: VolatilitySample = {
    intervalSeconds: Math.min(...recorded.map((r) => r.intervalSeconds)),
    samples: Math.min(...recorded.map((r) => r.samples)),
    volatile,
    reread,
    rereadPages: 0,
    changedPages: recorded.reduce((t, r) => t + r.changedPages, 0),
    gonePages: recorded.reduce((t, r) => t + r.gonePages, 0),
    rereadMs: recorded.reduce((t, r) => t + r.rereadMs, 0),
    exited: [],
  };
  for (const source of c.sources) {
    if (!sampled.has(source.info)) continue;
    let r = source.indexStart;
    for (const scanned of source.regions) {
      const tracked = ksmCouldTrack(scanned.region);
      for (const end = r + scanned.indexedPages; r < end; r++) {
        if (!tracked || ((c.index.meta[r] as number) & META_ANON) === 0) continue;
        const bit = 1 << (r & 7);
        reread[r >>> 3] = (reread[r >>> 3] as number) | bit;
        sample.rereadPages++;
        if (bits !== null && ((bits[r >>> 3] ?? 0) & bit) !== 0) volatile[r >>> 3] = (volatile[r >>> 3] as number) | bit;
      }
    }
  }
  return sample;
}
