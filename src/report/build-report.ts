import { slowMovers } from '../analysis/slow-movers.js';
import { release } from 'node:os';
import type { ScanResult } from '../scan/scan.js';
import { RMAP_ITEM_BYTES, type ScopeResult } from '../analysis/model-result.js';
import { KIND_LABEL, MAPPING_KINDS } from '../source/mapping-kind.js';
import { groupSection } from './group-report.js';
import { estimateOf } from './estimate.js';
import { unitOfCgroup } from '../grouping/unit-name.js';
import type { GroupingFacts } from '../source/memory-source.js';
import type { ProcessGrouping } from './report.js';
import { isPartial } from '../source/skipped.js';
import { plural } from '../util/plural.js';
import type { ContentSharing } from '../analysis/content-sharing.js';
import { fullScanSeconds } from '../analysis/ksm-pace.js';
import { predictKsmTiming } from '../analysis/ksm-timing.js';
import { SCHEMA_VERSION, type TimingReport, type VolatilityReport, type Estimate, type KindRow, type Overlap, type ProcessRow, type Report, type ReportInput, type Sharing, type SharingBucket } from './report.js';

/** A scan's result, with the files it read when it read some (samepage report). */
export interface ReportScan extends ScanResult {
  inputs?: ReportInput[];
}

export function buildReport(scan: ReportScan, meta: { version: string; root: boolean; now?: Date; minSaving?: number }): Report {
  const { model, pageSize, settings } = scan;
  const content = model.content;
  const naiveDuplicateBytes = content.naiveDuplicatePages * pageSize;
  const pfnsVisible = scan.sources.length > 0 && scan.sources.every((s) => s.hasPhysicalInfo);

  const estimatesOf = (scopes: readonly ScopeResult[]): Estimate[] => scopes.map((s) => estimateOf(s, naiveDuplicateBytes, pageSize, settings));
  const estimates = estimatesOf(model.scopes);
  const main = model.scopes.find((s) => s.scope === 'enable-all');
  const today = model.scopes.find((s) => s.scope === 'mergeable-now');
  const estimate = estimates[0];
  if (main === undefined || today === undefined || estimate === undefined) throw new Error('the model returned no scope');

  const byKind: KindRow[] = MAPPING_KINDS.map((kind, k) => ({
    kind,
    label: KIND_LABEL[kind],
    virtualPages: sum(scan.sources.map((s) => s.virtualPagesByKind[k] ?? 0)),
    residentPages: at(content.byKind.resident, k),
    zeroPages: at(content.byKind.zero, k),
    dupWithinProcess: share(at(content.byKind.dupWithin, k)),
    dupAcrossProcesses: share(at(content.byKind.dupAcross, k)),
    ksmSaveablePages: share(at(main.ramFreedByKind, k)),
    alreadySharedPages: share(at(content.byKind.alreadyShared, k)),
  }));

  const processes: ProcessRow[] = scan.sources.map((s, p) => {
    const merging = at(main.perProcess.mergingPages, p);
    const zero = at(main.perProcess.zeroPages, p);
    const rmap = at(main.perProcess.rmapItems, p);
    return {
      pid: s.info.pid,
      command: s.info.command,
      chromiumType: s.info.chromiumType,
      source: s.label,
      file: s.file,
      origin: s.origin,
      virtualPages: sum(Array.from(s.virtualPagesByKind)),
      residentPages: at(content.byProcess.resident, p),
      swappedPages: s.swappedPages,
      anonPages: at(content.byProcess.anon, p),
      zeroPages: at(content.byProcess.zero, p),
      dupWithinProcess: share(at(content.byProcess.dupWithin, p)),
      dupAcrossProcesses: share(at(content.byProcess.dupAcross, p)),
      ramFreedBytes: Math.round(at(main.perProcess.ramFreedPages, p) * pageSize),
      ksm_merging_pages: merging,
      ksm_zero_pages: zero,
      ksm_rmap_items: rmap,
      ksm_process_profit: (merging + zero) * pageSize - rmap * RMAP_ITEM_BYTES,
      mergeableNowScope: {
        ramFreedBytes: Math.round(at(today.perProcess.ramFreedPages, p) * pageSize),
        ksm_merging_pages: at(today.perProcess.mergingPages, p),
        ksm_zero_pages: at(today.perProcess.zeroPages, p),
        ksm_rmap_items: at(today.perProcess.rmapItems, p),
      },
      mergeableNow: s.mergeableNow,
      regionsSkipped: s.regionsSkipped,
      regionsFailed: s.regionsFailed,
      alreadySharedPages: share(at(content.byProcess.alreadyShared, p)),
      grouping: groupingOf(s.info.grouping),
    };
  });

  const caveats: string[] = [];
  // A snapshot taken without root hid them the same way: its figures are the same upper bound.
  const liveWithoutPfns = scan.sources.some((s) => (s.origin === 'live' || s.origin === 'snapshot') && !s.hasPhysicalInfo);
  const dumps = scan.sources.filter((s) => s.origin === 'core' || s.origin === 'vm-image');
  if (liveWithoutPfns) {
    caveats.push(
      'physical frame numbers were hidden (they need CAP_SYS_ADMIN: run as root): pages already shared by fork cannot be told apart, so RAM freed is an upper bound',
    );
  }
  if (dumps.length > 0) {
    caveats.push(
      `${dumps.length === scan.sources.length ? 'every source is' : `${plural(dumps.length, 'source is', 'sources are')}`} a core or VM memory dump: contents only, so figures from them are a content-only upper bound ` +
        '(no physical sharing, no VMA flags: every anonymous or private writable region is taken as mergeable); ' +
        'a dump cannot tell a never-touched page from a zero-filled one, so zero pages are shown apart and never counted as a saving',
    );
  }
  if (scan.sources.some((s) => s.origin === 'snapshot')) caveats.push('snapshot figures are those of the moment the snapshot was taken');
  if (settings.source === 'defaults') caveats.push('KSM is not available on this kernel: the kernel defaults (use_zero_pages 0, max_page_sharing 256) were assumed');
  const volatility = volatilityOf(scan, main, estimatesOf);
  const timing = timingOf(scan, main);
  if (volatility.sampled && volatility.intervalSeconds !== null && timing !== null) {
    volatility.slowMovers = slowMovers(volatility.intervalSeconds, volatility.samples, timing.savingReachedSeconds);
  }
  caveats.push(
    volatility.sampled
      ? 'KSM needs time to get there: at least two full scans (a page must be seen unchanged before it merges)'
      : 'a static picture: pages that change between two KSM scans (volatile) will not merge, and KSM needs time to get there (scan --interval finds the volatile pages)',
  );
  const thp = scan.thp;
  if (!thp.hugePagesKnown && scan.sources.some((s) => s.origin === 'live' || s.origin === 'snapshot')) {
    caveats.push(
      'which pages sit in transparent huge pages was not known (it needs /proc/kpageflags: run as root): where they do, KSM splits them, and ' +
        (thp.split === 'zero-subpages-freed' ? 'the zero-filled subpages the split frees are not counted in pages_sharing, ksm_zero_pages or general_profit' : 'the split may fail and leave them unmerged'),
    );
  }
  if (thp.hugePagesKnown && content.hugeResidentPages > 0 && !thp.verified) {
    caveats.push(
      `${content.hugeResidentPages} resident pages sit in transparent huge pages, and how this kernel (${thp.kernel ?? 'unknown'}) splits them under KSM was not checked against the real kernel ` +
        `(modelled: ${thp.split === 'zero-subpages-freed' ? 'zero-filled subpages freed by the split, uncounted' : 'zero-filled subpages kept and merged'}, chosen by ${thp.basis}): counters for them may differ`,
    );
  }

  const residentPages = sum(Array.from(content.byProcess.resident));
  const groups = groupSection(scan, estimate, meta.minSaving);
  caveats.push(...groups.caveats);
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'samepage', version: meta.version },
    createdAt: (meta.now ?? new Date()).toISOString(),
    host: { kernel: release(), pageSize, root: meta.root, pfnsVisible },
    ksm: { useZeroPages: settings.useZeroPages, maxPageSharing: settings.maxPageSharing, settingsSource: settings.source, runNow: settings.run },
    inputs: scan.inputs ?? [],
    estimate,
    scopes: estimates,
    totals: {
      processes: scan.sources.length,
      regions: sum(scan.sources.map((s) => s.regions.length)),
      regionsSkipped: sum(scan.sources.map((s) => s.regionsSkipped)),
      regionsFailed: sum(scan.sources.map((s) => s.regionsFailed)),
      virtualPages: sum(byKind.map((k) => k.virtualPages)),
      residentPages,
      swappedPages: sum(scan.sources.map((s) => s.swappedPages)),
      anonPages: sum(Array.from(content.byProcess.anon)),
      zeroContentPages: sum(Array.from(content.byProcess.zero)),
      zeroPageMappings: sum(Array.from(content.byKind.zeroPageMapped)),
      distinctContents: content.distinctContents,
      eligiblePages: main.rmapItems + main.ksmZeroPages,
      scannedBytes: scan.scannedBytes,
      elapsedMs: Math.round(scan.elapsedMs),
      stagesMs: {
        regions: Math.round(scan.stagesMs.regions),
        read: Math.round(scan.stagesMs.read),
        sort: Math.round(scan.stagesMs.sort),
        model: Math.round(scan.stagesMs.model),
      },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      indexBytes: scan.indexBytes,
    },
    byKind,
    processes,
    sharing: sharingOf(scan.sharing),
    overlap: overlapOf(scan.sharing),
    partial: isPartial(scan.skipped, scan.sources),
    skipped: scan.skipped,
    warnings: scan.warnings,
    caveats,
    thp: {
      splitBehaviour: thp.split,
      basis: thp.basis,
      kernel: thp.kernel,
      verified: thp.verified,
      hugePagesKnown: thp.hugePagesKnown,
      residentPages: content.hugeResidentPages,
      scopes: model.scopes.map((s) => ({
        scope: s.scope,
        hugePagesSplit: s.hugePagesSplit,
        ramFreedInHugePagesBytes: s.ramFreedHugePages * pageSize,
        zeroSubpagesFreedBySplit: s.zeroSubpagesFreedBySplit,
      })),
    },
    groupBy: groups.groupBy,
    groups: groups.groups,
    groupPairs: groups.groupPairs,
    groupTotals: groups.groupTotals,
    recommendations: groups.recommendations,
    volatility,
    timing,
  };
}

/** KSM's timing over the eligible pages at the pace the command chose; null without one. */
function timingOf(scan: ReportScan, main: ScopeResult): TimingReport | null {
  const t = scan.timing;
  if (t === undefined) return null;
  const eligible = main.rmapItems + main.ksmZeroPages;
  const p = predictKsmTiming({ eligiblePages: eligible, pace: t.pace, hz: t.hz, pageCostUs: t.pageCostUs, advisor: t.advisor });
  const minutes = (s: number): string => (s < 120 ? `${Number(s.toPrecision(2))} s` : `${Math.round(s / 6) / 10} min`);
  const note =
    `one full scan of ${eligible.toLocaleString('en-US')} pages takes about ${minutes(p.fullScanSeconds)} (${p.batchesPerScan} batches of ${p.pagesToScan} pages, ${p.sleepMs} ms apart); ` +
    `the estimate is reached after two full scans, about ${minutes(p.savingReachedSeconds)} after KSM starts (a page is merged only once a scan found it unchanged since the one before); ` +
    `ksmd then uses about ${Math.round(p.ksmdCpuShare * 1000) / 10}% of a CPU (${p.pageCostUs} us a page${t.pageCostSource === 'default' ? ", as measured on samepage's test machine: --page-cost-us for another" : ''})` +
    (t.pace.smartScan === 1 ? '; with smart_scan on, later scans skip pages that did not merge, so they go faster than the first two' : '') +
    ' (other processes KSM already scans lengthen each scan)';
  return {
    pace: { pagesToScan: t.pace.pagesToScan, sleepMillisecs: t.pace.sleepMillisecs, advisorMode: t.pace.advisorMode, advisorTargetScanTime: t.pace.advisorTargetScanTime, smartScan: t.pace.smartScan, source: t.paceSource },
    eligiblePages: eligible,
    pagesToScan: p.pagesToScan,
    sleepMs: p.sleepMs,
    hz: t.hz,
    fullScanSeconds: p.fullScanSeconds,
    savingReachedSeconds: p.savingReachedSeconds,
    ksmdCpuSecondsPerScan: p.ksmdCpuSecondsPerScan,
    ksmdCpuShare: p.ksmdCpuShare,
    pageCostUs: p.pageCostUs,
    pageCostSource: t.pageCostSource,
    note,
    fullScansAtScan: t.fullScansAtScan,
  };
}

/** The report's volatility section: what sampling found, or that the estimate assumes a still workload. */
function volatilityOf(scan: ReportScan, main: ScopeResult, estimatesOf: (s: readonly ScopeResult[]) => Estimate[]): VolatilityReport {
  const v = scan.volatility;
  if (v === undefined) {
    return {
      sampled: false,
      note: 'one instant: the estimate assumes a still workload (pages that change between two KSM scans never merge); scan --interval SECONDS reads them again to find those',
      intervalSeconds: null,
      samples: 1,
      ksmPace: null,
      ksmFullScanSeconds: null,
      intervalTooShort: null,
      rereadPages: 0,
      volatilePages: 0,
      changedPages: 0,
      gonePages: 0,
      byKind: [],
      byProcess: [],
      counters: null,
      oneInstant: null,
      rereadMs: null,
      firstPassReadMs: null,
    };
  }
  const s = v.sample;
  const pace = v.pace ?? null;
  // Every page KSM would track, volatile ones too: ksmd goes through them all.
  const eligible = main.rmapItems + main.ksmZeroPages;
  const fullScan = pace === null ? null : fullScanSeconds(pace, eligible);
  const tooShort = fullScan === null ? null : s.intervalSeconds < fullScan;
  const oneInstant = estimatesOf(v.oneInstantScopes);
  const share = (volatile: number, reread: number): number => (reread > 0 ? volatile / reread : 0);
  const volatilePages = s.changedPages + s.gonePages;
  let note = `pages read ${plural(s.samples, 'time', 'times')}, ${s.intervalSeconds} s apart: ${volatilePages} of ${s.rereadPages} changed or went away (volatile) and are left out of the estimate`;
  if (fullScan === null) note += "; KSM's pace is unknown here (no /sys/kernel/mm/ksm), so whether the interval is long enough cannot be told";
  else if (tooShort === true) {
    note += `; the interval is shorter than one full KSM scan at the current settings (${round(fullScan)} s): pages that change less often than every ${s.intervalSeconds} s but more often than every ${round(fullScan)} s were not caught, so the estimate may still be too high: use --interval ${Math.ceil(fullScan)} or more`;
  } else note += `; the interval is at least one full KSM scan at the current settings (${round(fullScan)} s)`;
  return {
    sampled: true,
    note,
    intervalSeconds: s.intervalSeconds,
    samples: s.samples,
    ksmPace: pace === null ? null : { pagesToScan: pace.pagesToScan, sleepMillisecs: pace.sleepMillisecs, advisorMode: pace.advisorMode, smartScan: pace.smartScan },
    ksmFullScanSeconds: fullScan,
    intervalTooShort: tooShort,
    rereadPages: s.rereadPages,
    volatilePages,
    changedPages: s.changedPages,
    gonePages: s.gonePages,
    byKind: MAPPING_KINDS.map((kind, k) => {
      const reread = at(v.byKind.reread, k);
      const vol = at(v.byKind.volatile, k);
      return { kind, label: KIND_LABEL[kind], rereadPages: reread, volatilePages: vol, share: share(vol, reread) };
    }).filter((row) => row.rereadPages > 0),
    byProcess: scan.sources.map((src, p) => {
      const reread = at(v.byProcess.reread, p);
      const vol = at(v.byProcess.volatile, p);
      return { pid: src.info.pid, source: src.label, rereadPages: reread, volatilePages: vol, share: share(vol, reread) };
    }),
    counters: { pages_volatile: v.pagesVolatile[0] ?? 0, pages_unshared: main.pagesUnshared },
    oneInstant: { estimate: oneInstant[0] as Estimate, scopes: oneInstant },
    rereadMs: Math.round(s.rereadMs),
    firstPassReadMs: Math.round(v.firstPassMs),
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

function sharingOf(s: ContentSharing): Sharing {
  const byMappings: SharingBucket[] = [];
  s.contents.forEach((contents, i) => {
    if (contents > 0) byMappings.push({ mappings: i + 2, orMore: i === s.contents.length - 1, contents, pages: at(s.mappings, i) });
  });
  return { byMappings, zeroFilledPages: s.zeroFilledMappings };
}

function overlapOf(s: ContentSharing): Overlap {
  const n = s.overlapProcesses.length;
  const contents = s.overlapProcesses.map((_, i) => Array.from(s.overlap.subarray(i * n, (i + 1) * n)));
  return { processes: [...s.overlapProcesses], contents };
}

/** A figure shared out among mappings, to a thousandth of a page: no floating-point dust in the JSON. */
function share(pages: number): number {
  return Math.round(pages * 1000) / 1000;
}

function at(a: Float64Array, i: number): number {
  return a[i] ?? 0;
}

function sum(values: readonly number[]): number {
  let t = 0;
  for (const v of values) t += v;
  return t;
}

function groupingOf(f: GroupingFacts | undefined): ProcessGrouping | null {
  if (f === undefined) return null;
  return { cgroup: f.cgroup, unit: f.cgroup === null ? null : unitOfCgroup(f.cgroup), uid: f.uid, user: f.user, vm: f.vm?.name ?? null };
}
