import { performance } from 'node:perf_hooks';
import type { MemorySource, ProcessInfo, SourceOrigin, SourceRegion } from '../source/memory-source.js';
import type { SourceOpener } from '../source/source-opener.js';
import type { PhysicalPages } from '../physical/physical-pages.js';
import { createPageBatch } from '../source/memory-source.js';
import { KIND_INDEX, MAPPING_KINDS, pageKind } from '../source/mapping-kind.js';
import { zeroPageHash, type PageHasher } from '../hash/page-hasher.js';
import { PageIndex, MAX_PROCESSES, metaKind } from '../index/page-index.js';
import { IndexWriter } from '../index/index-writer.js';
import type { ModelResult } from '../analysis/model-result.js';
import { chooseEngine, type Engine } from '../engine/choose-engine.js';
import type { ContentSharing } from '../analysis/content-sharing.js';
import type { KsmSettings } from '../analysis/ksm-settings.js';
import { readThpBehaviour, type ThpBehaviour, type ThpKnowledge } from '../analysis/thp-behaviour.js';
import { PhysicalDomains } from '../physical/physical-domains.js';
import { EXIT_NO_PERMISSION, SourceError, UserError } from '../util/errors.js';
import type { Skipped } from '../source/skipped.js';
import { groupProcesses, type GroupBy, type Grouping } from '../grouping/group-keys.js';
import { modelGroups, type GroupModelResult } from '../analysis/group-model.js';
import { isGuestRam } from '../grouping/guest-ram.js';
import type { VolatilitySample } from './volatility.js';
import type { KsmPace } from '../analysis/ksm-pace.js';
import { runVolatileModel } from './volatile-model.js';

export interface ProgressReporter {
  start(totalBytes: number): void;
  advance(bytes: number): void;
  finish(): void;
}

export interface ScanOptions {
  pageSize: number;
  settings: KsmSettings;
  progress?: ProgressReporter;
  /** Where the per-page work runs: chosen once by the command (chooseEngine when not given). */
  engine?: Engine;
  /** The hasher, when not the engine's (tests count its calls). */
  hasher?: PageHasher;
  /** When the scan began (performance.now()), if work for it was done before collect(). */
  began?: number;
  /** What the selection matched but will not read (kernel threads, zombies...): reported with the skipped. */
  notScanned?: readonly Skipped[];
  /** How the kernel splits huge pages under KSM (src/analysis/thp-behaviour.ts); the running kernel's when not given. */
  thp?: ThpBehaviour;
  /** Sources read from elsewhere (snapshots) that did record which pages sat in huge pages. */
  hugePagesRecorded?: boolean;
  /** --group-by: the model per group and per pair of groups too. */
  groupBy?: GroupBy;
  /** Keep each record's page within its region, for a re-read (volatility sampling) to line up with. */
  keepPageOffsets?: boolean;
}

/** What the scan knows of transparent huge pages, and how their split is modelled. */
export type ScanThp = ThpKnowledge;

/** One region as scanned: what it is, and what the scan found in it. */
export interface ScannedRegion {
  region: SourceRegion;
  virtualPages: number;
  swappedPages: number;
  /** Records this region added to the index, in order after the previous region's. */
  indexedPages: number;
}

/** A scanned process (or core) and what the scan saw of it beyond its pages. */
export interface ScannedSource {
  info: ProcessInfo;
  label: string;
  origin: SourceOrigin;
  hasPhysicalInfo: boolean;
  physical: PhysicalPages | null;
  virtualPagesByKind: Float64Array;
  swappedPages: number;
  regions: ScannedRegion[];
  regionsSkipped: number;
  /** Of regionsSkipped: regions that exist and could not be read (not those unmapped during the scan). */
  regionsFailed: number;
  /** The user named it (SourceOpener.named). */
  named: boolean;
  /** SourceOpener.file, null for a live process. */
  file: string | null;
  mergeableNow: boolean;
  /** Where its records start in the (unsorted) index. */
  indexStart: number;
  /** A QEMU guest's RAM blocks (src/grouping/guest-ram.ts) as read; null for other processes. */
  guestRam: GuestRamTally | null;
}

/** What a QEMU guest's RAM blocks held when read. */
export interface GuestRamTally {
  /** Bytes of address space of the RAM blocks. */
  mappedBytes: number;
  residentPages: number;
  /** Resident pages whose content is all zeros: what a balloon or free page reporting could hand back. */
  zeroFilledPages: number;
}

/** Every page of every source in the index, in scan order: before sorting and the model. */
export interface Collected {
  index: PageIndex;
  sources: ScannedSource[];
  skipped: Skipped[];
  warnings: string[];
  domains: PhysicalDomains;
  zeroHash: { hi: number; lo: number };
  /** The engine that read the pages: it sorts and models them too. */
  engine: Engine;
  /** The hasher the pages were hashed with (the snapshot writer's checksums use it too). */
  hasher: PageHasher;
  pageSize: number;
  scannedBytes: number;
  began: number;
  /** When the regions of every source were known, and when the last page was read. */
  regionsAt: number;
  readAt: number;
  thp: ScanThp;
  /** Bit r: record r was recorded volatile (a snapshot taken with --interval); null when none was. */
  recordedVolatile: Uint8Array | null;
}

export interface ScanResult {
  sources: ScannedSource[];
  skipped: Skipped[];
  warnings: string[];
  model: ModelResult;
  /** How widely contents are shared (beside the model): the report's histogram and heatmap. */
  sharing: ContentSharing;
  pageSize: number;
  settings: KsmSettings;
  indexBytes: number;
  scannedBytes: number;
  elapsedMs: number;
  stagesMs: StagesMs;
  thp: ScanThp;
  /** --group-by: the groups and what the model says of each and of each pair. */
  groups?: ScanGroups;
  /** With volatility sampling: what the re-reads found, and the one-instant figures. */
  volatility?: ScanVolatility;
  /** KSM's pace for the timing (the command sets it; src/analysis/ksm-timing.ts). */
  timing?: TimingSetting;
}

export interface ScanGroups {
  grouping: Grouping;
  model: GroupModelResult;
  /** Time the group models took (ms), part of stagesMs.model. */
  elapsedMs: number;
}

/** The pace the report's timing assumes, and where each part came from. */
export interface TimingSetting {
  pace: KsmPace;
  paceSource: 'sysfs' | 'flags';
  hz: number | null;
  pageCostUs: number;
  pageCostSource: 'default' | 'flag';
  advisor: { minPagesToScan: number; maxPagesToScan: number; maxCpu: number } | null;
  fullScansAtScan: number | null;
}

/** Volatility sampling's results beside the model (src/scan/volatility.ts, volatile-model.ts). */
export interface ScanVolatility {
  sample: VolatilitySample;
  oneInstantScopes: ModelResult['scopes'];
  pagesVolatile: number[];
  byKind: { reread: Float64Array; volatile: Float64Array };
  byProcess: { reread: Float64Array; volatile: Float64Array };
  /** The first pass's reading time, to set the re-reads' against. */
  firstPassMs: number;
  /** KSM's pace at the time (the command reads it), to set the interval against. */
  pace?: KsmPace | null;
}

/** Where a scan's time went: finding the regions, reading and hashing, sorting, the model. */
export interface StagesMs {
  regions: number;
  read: number;
  sort: number;
  model: number;
}

/**
 * The pipeline: sources -> page batches -> hashing -> index -> sort -> KSM model.
 * One failed region is a warning; one failed process is skipped and its pages dropped.
 */
export function runScan(openers: readonly SourceOpener[], opts: ScanOptions): ScanResult {
  return analyse(collect(openers, opts), opts.settings, { groupBy: opts.groupBy });
}

/** Reads and hashes every present page of every source into the index. */
export function collect(openers: readonly SourceOpener[], opts: ScanOptions): Collected {
  const began = opts.began ?? performance.now();
  const { pageSize } = opts;
  if (openers.length > MAX_PROCESSES) throw new UserError(`too many processes selected (${openers.length}; at most ${MAX_PROCESSES})`);
  const engine = opts.engine ?? chooseEngine();
  const hasher = opts.hasher ?? engine.hasher;
  const zeroHash = zeroPageHash(hasher, pageSize);
  const skipped: Skipped[] = [...(opts.notScanned ?? [])];
  const warnings: string[] = [];

  // Open every source and read its regions first: the resident total sizes the index and the
  // progress bar, and a process that cannot be read is known before any work is spent on it.
  const opened: Array<{ source: MemorySource; regions: SourceRegion[]; named: boolean; file: string | null }> = [];
  let residentHint = 0;
  for (const opener of openers) {
    try {
      const source = opener.open();
      try {
        const regions = source.regions();
        for (const r of regions) residentHint += r.residentPages ?? 0;
        opened.push({ source, regions, named: opener.named, file: opener.file ?? null });
      } catch (err) {
        source.close();
        throw err;
      }
    } catch (err) {
      skipped.push(skipOf(opener, err));
    }
  }

  const regionsAt = performance.now();
  const index = new PageIndex(residentHint + 1024);
  if (opts.keepPageOffsets === true) index.trackPageOffsets();
  const sink = new IndexWriter(index, hasher, pageSize, zeroHash);
  const domains = new PhysicalDomains();
  // Up to 4096 pages per batch of hashes from the native reader; contents read in JS go
  // through a 1 MiB buffer.
  const batch = createPageBatch(pageSize, 4096, Math.max(1, Math.floor(1048576 / pageSize)));
  const scanned: ScannedSource[] = [];
  opts.progress?.start(residentHint * pageSize);
  let scannedBytes = 0;
  let hugePagesKnown = opts.hugePagesRecorded === true;

  for (const { source, regions, named, file } of opened) {
    const processIndex = scanned.length;
    const indexStart = index.length;
    const domain = source.physical === null ? null : domains.domainOf(source.physical);
    if (source.physical !== null && domain === null) warnings.push(`${source.label}: too many machines or snapshots in one run; its physical sharing is ignored`);
    sink.startSource(processIndex, domain, source.physical);
    const entry: ScannedSource = {
      info: source.info,
      label: source.label,
      origin: source.origin,
      hasPhysicalInfo: source.hasPhysicalInfo,
      physical: source.physical,
      virtualPagesByKind: new Float64Array(MAPPING_KINDS.length),
      swappedPages: 0,
      regions: [],
      regionsSkipped: 0,
      regionsFailed: 0,
      named,
      file,
      mergeableNow: regions.some((r) => r.mergeableNow === true),
      indexStart,
      guestRam: source.info.grouping?.vm ? { mappedBytes: 0, residentPages: 0, zeroFilledPages: 0 } : null,
    };
    let gone: SourceError | null = null;
    for (const region of regions) {
      const before = index.length;
      const scannedRegion: ScannedRegion = { region, virtualPages: 0, swappedPages: 0, indexedPages: 0 };
      entry.regions.push(scannedRegion);
      try {
        const tally = source.scanRegion(region, sink, batch);
        addVirtualPages(entry.virtualPagesByKind, region, tally, index, before);
        entry.swappedPages += tally.swappedPages;
        scannedRegion.virtualPages = tally.virtualPages;
        scannedRegion.swappedPages = tally.swappedPages;
      } catch (err) {
        if (err instanceof SourceError && err.processGone) {
          gone = err;
          break;
        }
        if (!(err instanceof SourceError)) throw err;
        // A region that fails is skipped whole, whichever reader read it: a part of a region
        // that changed under the scan is not a picture of anything.
        index.length = before;
        entry.regionsSkipped++;
        if (err.kind === 'failed') entry.regionsFailed++;
        warnings.push(`${source.label}: ${err.message}; region skipped`);
      }
      scannedRegion.indexedPages = index.length - before;
      if (entry.guestRam !== null && isGuestRam(region)) tallyGuestRam(entry.guestRam, region, index, before, zeroHash);
      const bytes = (index.length - before) * pageSize;
      scannedBytes += bytes;
      opts.progress?.advance(bytes);
    }
    if (gone === null) {
      sink.markHugePages(indexStart);
      if (sink.knowsHugePages) hugePagesKnown = true;
    }
    source.close();
    if (gone !== null) {
      // The process exited mid-scan: its pages describe memory that no longer exists.
      index.length = indexStart;
      skipped.push({ pid: source.info.pid, source: source.label, reason: gone.message, permissionDenied: false, kind: 'exited', affectsExit: false });
      continue;
    }
    scanned.push(entry);
  }
  opts.progress?.finish();
  const thp: ScanThp = { ...(opts.thp ?? readThpBehaviour()), hugePagesKnown };
  return { index, sources: scanned, skipped, warnings, domains, zeroHash, engine, hasher, pageSize, scannedBytes, began, regionsAt, readAt: performance.now(), thp, recordedVolatile: sink.volatileBits };
}

/**
 * A region's virtual size, counted under the kinds its pages are counted under (a page's kind,
 * src/source/mapping-kind.ts pageKind): in a private file mapping, the pages written (CoW),
 * resident or swapped, are private file copies, and the rest, in the page cache or not yet
 * read, file pages. So each kind's virtual size holds its resident pages.
 */
function addVirtualPages(into: Float64Array, region: SourceRegion, tally: { virtualPages: number; swappedPages: number }, index: PageIndex, from: number): void {
  const copyKind = KIND_INDEX[pageKind(region.kind, true)];
  const baseKind = KIND_INDEX[pageKind(region.kind, false)];
  let copies = tally.virtualPages;
  if (copyKind !== baseKind) {
    let resident = 0;
    for (let r = from; r < index.length; r++) if (metaKind(index.meta[r] as number) === copyKind) resident++;
    // Only anonymous pages are swapped: page-cache pages are dropped and read again.
    copies = Math.min(tally.virtualPages, resident + tally.swappedPages);
    into[baseKind] = (into[baseKind] as number) + tally.virtualPages - copies;
  }
  into[copyKind] = (into[copyKind] as number) + copies;
}

/** What analyse() adds to the model: the groups' models, a volatility sample. */
export interface AnalyseOptions {
  /** --group-by: the model per group and per pair of groups too. */
  groupBy?: GroupBy | undefined;
  /** Volatility sampling: the estimate leaves the volatile pages out (src/scan/volatile-model.ts). */
  sample?: VolatilitySample | undefined;
}

/**
 * Sorts the index and runs the KSM model over it (and over each group, with --group-by); with a
 * volatility sample, the estimate and the groups leave the volatile pages out and the one-instant
 * figures go beside them.
 */
export function analyse(c: Collected, settings: KsmSettings, options: AnalyseOptions = {}): ScanResult {
  const { groupBy, sample } = options;
  const modelOptions = {
    processCount: c.sources.length,
    useZeroPages: settings.useZeroPages,
    maxPageSharing: settings.maxPageSharing,
    zeroHash: c.zeroHash,
    physical: c.domains.size > 0 ? c.domains : null,
    thpSplit: c.thp.split,
  };
  let groups: ScanGroups | undefined;
  const modelGroupsOf = (index: PageIndex): void => {
    if (groupBy === undefined) return;
    const groupsFrom = performance.now();
    const grouping = groupProcesses(c.sources, groupBy);
    const groupModel = modelGroups(index, grouping.groupOf, grouping.keys.length, modelOptions, (i, o) => c.engine.runModel(i, o));
    groups = { grouping, model: groupModel, elapsedMs: performance.now() - groupsFrom };
  };
  let model: ModelResult;
  let sortMs: number;
  let modelMs: number;
  let volatility: ScanVolatility | undefined;
  const warnings = [...c.warnings];
  if (sample !== undefined) {
    // The groups are modelled while the volatile pages hold contents of their own, as the estimate is.
    const v = runVolatileModel(c.engine, c.index, sample, modelOptions, () => performance.now(), modelGroupsOf);
    model = v.model;
    sortMs = v.sortMs;
    modelMs = v.modelMs;
    volatility = { sample, oneInstantScopes: v.oneInstantScopes, pagesVolatile: v.pagesVolatile, byKind: v.byKind, byProcess: v.byProcess, firstPassMs: c.readAt - c.regionsAt };
    warnings.push(...sample.exited.map((label) => `${label} exited before a re-read: its pages count as volatile`));
  } else {
    const sortFrom = performance.now();
    c.engine.sortIndex(c.index);
    const modelFrom = performance.now();
    sortMs = modelFrom - sortFrom;
    model = c.engine.runModel(c.index, modelOptions);
    modelGroupsOf(c.index);
    modelMs = performance.now() - modelFrom;
  }
  const sharing = c.engine.measureSharing(c.index, c.zeroHash, c.sources.length);
  return {
    ...(groups === undefined ? {} : { groups }),
    ...(volatility === undefined ? {} : { volatility }),
    sources: c.sources,
    skipped: c.skipped,
    warnings,
    model,
    sharing,
    pageSize: c.pageSize,
    settings,
    indexBytes: c.index.bytes,
    scannedBytes: c.scannedBytes,
    elapsedMs: performance.now() - c.began,
    stagesMs: { regions: c.regionsAt - c.began, read: c.readAt - c.regionsAt, sort: sortMs, model: modelMs },
    thp: c.thp,
  };
}

/** A source that could not be opened, as a skip: why, and whether it makes the result partial. */
function skipOf(opener: SourceOpener, err: unknown): Skipped {
  const base = { pid: opener.pid, source: opener.label, reason: '', permissionDenied: false };
  if (err instanceof UserError && err.exitCode === EXIT_NO_PERMISSION) return { ...base, reason: err.message, permissionDenied: true, kind: 'denied', affectsExit: opener.named };
  if (err instanceof SourceError && err.kind === 'exited') return { ...base, reason: err.message, kind: 'exited', affectsExit: false };
  if (err instanceof UserError || err instanceof SourceError) return { ...base, reason: err.message, kind: 'failed', affectsExit: opener.named };
  throw err;
}

/** Adds a guest RAM region's pages (records [from, index.length) of the unsorted index) to the tally. */
function tallyGuestRam(t: GuestRamTally, region: SourceRegion, index: PageIndex, from: number, zeroHash: { hi: number; lo: number }): void {
  t.mappedBytes += region.end - region.start;
  t.residentPages += index.length - from;
  for (let r = from; r < index.length; r++) {
    if (index.hashHi[r] === zeroHash.hi && index.hashLo[r] === zeroHash.lo) t.zeroFilledPages++;
  }
}
