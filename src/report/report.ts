import type { SlowMovers } from '../analysis/slow-movers.js';
import type { Skipped } from '../source/skipped.js';

/**
 * The one serialisable result of a scan. Reporters (table, JSON) only render it; tests assert on
 * it first. docs/report-schema.md documents every field; bump SCHEMA_VERSION on any change
 * that is not a pure addition.
 */
export const SCHEMA_VERSION = 2;

export interface Report {
  schemaVersion: number;
  tool: { name: 'samepage'; version: string };
  createdAt: string;
  host: { kernel: string; pageSize: number; root: boolean; pfnsVisible: boolean };
  ksm: { useZeroPages: boolean; maxPageSharing: number; settingsSource: 'sysfs' | 'flags' | 'defaults'; runNow: number | null };
  /** The snapshot and core files read, in the order given; empty for a live scan. */
  inputs: ReportInput[];
  /** The default scope: "if KSM were enabled for these processes" (PR_SET_MEMORY_MERGE / MemoryKSM=yes). */
  estimate: Estimate;
  /** Both scopes, the default one first. */
  scopes: Estimate[];
  totals: Totals;
  byKind: KindRow[];
  processes: ProcessRow[];
  /** How many contents are held by 2, 3, ... 256 or more mappings; zero-filled content apart. */
  sharing: Sharing;
  /** Content that processes hold in common, for those with the most shared content: the heatmap. */
  overlap: Overlap;
  /**
   * Memory that exists could not be read in a source the user named (exit status 1). Processes
   * that exited, kernel threads and, under --all, processes even root may not read do not count.
   */
  partial: boolean;
  /** Sources not scanned, with the reason: failures and those with nothing to read (see SkipKind). */
  skipped: Skipped[];
  warnings: string[];
  /** Limits of what this scan could know (no PFNs, cores...), in words. */
  caveats: string[];
  /** Transparent huge pages: how much of the memory and of the estimate sits in them, and how their split is modelled. */
  thp: ThpReport;
  /** --group-by: what it groups by, null without it. docs/report-schema.md, "Groups". */
  groupBy: GroupByName | null;
  /** --group-by: one row per group, each with its estimate alone; empty without it. */
  groups: GroupRow[];
  /** --group-by: pairs of groups whose merging together frees more than each alone (cross > 0 or < 0); the others' cross figure is 0. */
  groupPairs: GroupPair[];
  /** --group-by: every group alone against all together; null without it. */
  groupTotals: GroupTotals | null;
  /** --group-by: the groups where enabling KSM pays (net saving at least minSavingBytes), and how. */
  recommendations: Recommendation[];
  /**
   * Whether pages were read again to find those that keep changing (volatile; scan --interval),
   * and what they take from the estimate. Always set by buildReport; optional for readers of
   * reports written before it.
   */
  volatility?: VolatilityReport;
  /** How long KSM takes to reach the estimate and what ksmd costs (docs/report-schema.md "timing"); null without KSM's pace. */
  timing?: TimingReport | null;
}

export type GroupByName = 'process' | 'cgroup' | 'unit' | 'user' | 'vm';

export interface GroupRow {
  /** The cgroup path, unit name, user name, VM name, or process label. */
  key: string;
  /** What the key is: the --group-by dimension. */
  kind: GroupByName;
  pids: number[];
  /** The estimate if KSM were enabled for this group's processes alone (scope enable-all). */
  alone: Estimate;
  /** A QEMU guest (or several under one name): its RAM told from QEMU's own memory; null for other groups. */
  vm: GuestFigures | null;
}

export interface GuestFigures {
  /** -name, else -uuid, else "pid N". */
  nameFrom: 'name' | 'uuid' | 'pid';
  uuid: string | null;
  /** Guest RAM as -m gave it; null when not given. */
  ramBytes: number | null;
  /** QEMU's RAM blocks (private anonymous, marked mergeable): address space, and resident. */
  guestRamMappedBytes: number;
  guestRamResidentBytes: number;
  /** Everything else QEMU holds resident (its heap, TCG buffers, libraries). */
  qemuOwnResidentBytes: number;
  /** Resident guest RAM that is all zeros: what a balloon or free page reporting could hand back, not a KSM saving. */
  zeroFilledGuestRamBytes: number;
}

export interface GroupPair {
  a: string;
  b: string;
  /** RAM freed(a and b together) - alone(a) - alone(b), default scope. */
  crossRamFreedBytes: number;
}

export interface GroupTotals {
  groups: number;
  /** The sum of every group's RAM freed alone, and of its net saving. */
  aloneRamFreedBytes: number;
  aloneNetSavingBytes: number;
  /** All groups together: the top-level estimate. */
  togetherRamFreedBytes: number;
  togetherNetSavingBytes: number;
  /** together - every group alone: what merging across groups adds (and exposes). */
  acrossGroupsRamFreedBytes: number;
  /** The sum of groupPairs' cross figures (equal to the above when no content spans three groups or more). */
  pairsCrossRamFreedBytes: number;
  /** Milliseconds the group models took. */
  elapsedMs: number;
  /** --min-saving: the net saving alone a group needs to be recommended. */
  minSavingBytes: number;
}

export interface Recommendation {
  key: string;
  kind: GroupByName;
  netSavingBytes: number;
  /** The floor it cleared: --min-saving. */
  minSavingBytes: number;
  /** How to enable KSM for it, in words (a systemd drop-in, a prctl). */
  how: string;
  /** For a systemd service: the drop-in file and its contents. */
  dropIn: { path: string; contents: string } | null;
}

/** What KSM does with transparent huge pages, as modelled (docs/estimate.md, "Transparent huge pages"). */
export interface ThpReport {
  /** What the split KSM makes of a huge page does with its zero-filled subpages: freed uncounted (6.12+) or kept as pages KSM merges. */
  splitBehaviour: 'zero-subpages-freed' | 'zero-subpages-kept';
  /** How the behaviour was chosen: a sign of the running kernel (probe), the kernel's version, or neither known (default). */
  basis: 'probe' | 'kernel-version' | 'default';
  /** The kernel it was chosen for. */
  kernel: string | null;
  /** The kernel series' THP handling was checked against the real kernel. */
  verified: boolean;
  /** Whether the scan could tell pages in huge pages apart (root: /proc/kpageflags; or a snapshot that recorded it). */
  hugePagesKnown: boolean;
  /** Resident pages that sit in transparent huge pages. */
  residentPages: number;
  /** Per scope, in the order of `scopes`. */
  scopes: ThpScope[];
}

export interface ThpScope {
  scope: 'enable-all' | 'mergeable-now';
  /** Huge pages KSM would split (it splits one before merging any of its subpages). */
  hugePagesSplit: number;
  /** Of ramFreedBytes: memory freed from frames that sat in huge pages. */
  ramFreedInHugePagesBytes: number;
  /** Zero-filled subpages the splits free without KSM counting them (in RAM freed, in no counter, no general_profit). */
  zeroSubpagesFreedBySplit: number;
}

/** KSM's timing at a pace: docs/report-schema.md, "timing". */
export interface TimingReport {
  /** The pace assumed: the kernel's, or the "what if" flags'. */
  pace: { pagesToScan: number; sleepMillisecs: number; advisorMode: string | null; advisorTargetScanTime: number | null; smartScan: number | null; source: 'sysfs' | 'flags' };
  /** Pages one full scan goes through: totals.eligiblePages. */
  eligiblePages: number;
  /** pages_to_scan in use (the advisor's steady choice with advisor_mode scan-time). */
  pagesToScan: number;
  /** One sleep, ms, rounded up to whole jiffies (HZ below; null: not known, taken as given). */
  sleepMs: number;
  hz: number | null;
  fullScanSeconds: number;
  savingReachedSeconds: number;
  ksmdCpuSecondsPerScan: number;
  /** ksmd's CPU while it runs, as a share of one CPU (0..1). */
  ksmdCpuShare: number;
  pageCostUs: number;
  pageCostSource: 'default' | 'flag';
  note: string;
  /** /sys/kernel/mm/ksm/full_scans when the scan ran (null without KSM): `verify` counts the scans since. */
  fullScansAtScan: number | null;
}

/** Volatility sampling: docs/report-schema.md, "volatility". */
export interface VolatilityReport {
  /** Pages were read again after --interval: estimate and scopes leave the volatile ones out. */
  sampled: boolean;
  /** In words: what the estimate assumes, and whether the interval could tell. */
  note: string;
  intervalSeconds: number | null;
  /** Reads of each page, the first pass included (1 without sampling). */
  samples: number;
  /** KSM's pace now, and how long one full scan of the eligible pages takes at it (sleeps only). */
  ksmPace: { pagesToScan: number; sleepMillisecs: number; advisorMode: string | null; smartScan: number | null } | null;
  ksmFullScanSeconds: number | null;
  /** The interval is shorter than KSM's full scan: pages that change less often than the one and more often than the other were missed. */
  intervalTooShort: boolean | null;
  /** Pages read again (every resident page of the regions KSM could track), and of them: */
  rereadPages: number;
  volatilePages: number;
  /** ... content changed, or no longer there (unmapped, swapped out, process exited). */
  changedPages: number;
  gonePages: number;
  byKind: VolatileShare[];
  byProcess: Array<VolatileShare & { pid: number; source: string }>;
  /** What /sys/kernel/mm/ksm would read once converged (default scope), volatile pages apart. */
  counters: { pages_volatile: number; pages_unshared: number } | null;
  /** The figures of one instant, every page taken as still: what estimate and scopes were without sampling. */
  oneInstant: { estimate: Estimate; scopes: Estimate[] } | null;
  /** Time spent re-reading (all samples, waits excluded), and the first pass's reading time. */
  rereadMs: number | null;
  firstPassReadMs: number | null;
  /** Sampled reports with KSM's timing: what pages that change more slowly than the sampling window cost (docs/report-schema.md, "volatility.slowMovers"). */
  slowMovers?: SlowMovers | null;
}

export interface VolatileShare {
  /** A mapping kind (byKind); absent in byProcess. */
  kind?: string;
  label?: string;
  rereadPages: number;
  volatilePages: number;
  /** volatilePages / rereadPages, 0 when nothing was read again. */
  share: number;
}

/** A file a report read: when and where a snapshot was taken (a core does not say). */
export interface ReportInput {
  /** As given on the command line; "-" for standard input. */
  file: string;
  kind: 'snapshot' | 'core';
  /** When the snapshot was taken (ISO 8601); null for a core. */
  createdAt: string | null;
  hostname: string | null;
  /** The kernel release of the host it was taken on. */
  kernel: string | null;
}

export interface Estimate {
  scope: 'enable-all' | 'mergeable-now';
  description: string;
  /** Physical memory KSM would free compared with now: distinct frames released. */
  ramFreedBytes: number;
  ramFreedPages: number;
  /** Identical contents among all resident pages, ignoring what KSM can merge: never the saving. */
  naiveDuplicateBytes: number;
  /** What /sys/kernel/mm/ksm would read once KSM has converged on these processes alone. */
  counters: { pages_shared: number; pages_sharing: number; ksm_zero_pages: number; pages_unshared: number; use_zero_pages: number; max_page_sharing: number };
  /** rmap_items KSM would keep, one per page it tracks. */
  rmapItems: number;
  /** KSM's metadata: rmap_items x 64 bytes. */
  metadataBytes: number;
  /** general_profit as the kernel computes it: (pages_sharing + ksm_zero_pages) x page size - metadata. */
  generalProfitBytes: number;
  /** RAM freed less KSM's metadata. */
  netSavingBytes: number;
}

export interface Totals {
  processes: number;
  regions: number;
  regionsSkipped: number;
  /** Of regionsSkipped: regions that exist and could not be read (not those unmapped during the scan). */
  regionsFailed: number;
  virtualPages: number;
  residentPages: number;
  swappedPages: number;
  anonPages: number;
  zeroContentPages: number;
  /** PTEs that map the kernel's shared zero page (read but never written). */
  zeroPageMappings: number;
  distinctContents: number;
  /** Resident pages KSM could track in the default scope. */
  eligiblePages: number;
  scannedBytes: number;
  elapsedMs: number;
  /** Of elapsedMs: finding the regions (smaps), reading and hashing pages, sorting, the KSM model. */
  stagesMs: { regions: number; read: number; sort: number; model: number };
  /** samepage's own peak resident memory, and what its page index took of it. */
  peakRssBytes: number;
  indexBytes: number;
}

export interface KindRow {
  kind: string;
  label: string;
  /** Virtual size counted under the kind its pages are counted under: never less than residentPages. */
  virtualPages: number;
  residentPages: number;
  zeroPages: number;
  /** Among distinct frames, shared out among mappings (fractional): docs/estimate.md. */
  dupWithinProcess: number;
  dupAcrossProcesses: number;
  /** RAM KSM would free (default scope), split equally among the mappings that merge, by their kind. */
  ksmSaveablePages: number;
  /** Mappings of a frame that is mapped more than once (a shared library, a page shared by fork): memory already shared, not duplicates. */
  alreadySharedPages: number;
}

export interface ProcessRow {
  pid: number;
  command: string;
  chromiumType: string | null;
  source: string;
  /** The snapshot or core file the row comes from, as given; null for a live process. */
  file: string | null;
  /** live, core, vm-image or snapshot. */
  origin: 'live' | 'core' | 'vm-image' | 'snapshot';
  virtualPages: number;
  residentPages: number;
  swappedPages: number;
  anonPages: number;
  zeroPages: number;
  /** Among distinct frames, shared out among mappings (fractional): docs/estimate.md. */
  dupWithinProcess: number;
  dupAcrossProcesses: number;
  /** Its equal share of each content's freed frames, per mapping that merges, to the byte. */
  ramFreedBytes: number;
  /** /proc/PID/ksm_stat as it would read after convergence (default scope). */
  ksm_merging_pages: number;
  ksm_zero_pages: number;
  ksm_rmap_items: number;
  ksm_process_profit: number;
  /** The same four figures in the "what KSM merges today" scope. */
  mergeableNowScope: { ramFreedBytes: number; ksm_merging_pages: number; ksm_zero_pages: number; ksm_rmap_items: number };
  /** KSM merges in this process today (VmFlags "mg" on some VMA). */
  mergeableNow: boolean;
  regionsSkipped: number;
  regionsFailed: number;
  /** Its mappings of frames mapped more than once, each frame's other mappings shared out equally (fractional). */
  alreadySharedPages: number;
  /** What --group-by groups it by, as read when it was scanned; null for a core (or an older snapshot). */
  grouping: ProcessGrouping | null;
}

export interface ProcessGrouping {
  cgroup: string | null;
  /** The unit named by the cgroup path (src/grouping/unit-name.ts); null without a path. */
  unit: string | null;
  uid: number | null;
  user: string | null;
  /** The QEMU guest's name (-name, else -uuid, else "pid N"); null for other processes. */
  vm: string | null;
}

/**
 * Content statistics like dupWithin and dupAcross: every resident page, whatever KSM may merge.
 * A mapping is a resident page of a scanned process; a frame shared by fork is one mapping in
 * each process (and each place) that maps it.
 */
export interface Sharing {
  /** Contents by the number of mappings that hold them, from 2 up, ascending; only numbers some content has. The last bucket, `orMore`, is 256 mappings or more. */
  byMappings: SharingBucket[];
  /** Mappings of zero-filled content, zero-page mappings included: one content, kept apart. */
  zeroFilledPages: number;
}

export interface SharingBucket {
  mappings: number;
  /** This bucket holds contents with `mappings` mappings or more. */
  orMore: boolean;
  /** Distinct contents. */
  contents: number;
  /** Their mappings (resident pages). */
  pages: number;
}

export interface Overlap {
  /** Indexes into `processes`, most pages of shared content first: at most 20, none without any. */
  processes: number[];
  /**
   * contents[i][j]: distinct contents (zero-filled excluded) that processes i and j both hold, one
   * page of memory each; contents[i][i]: those process i holds at least twice.
   */
  contents: number[][];
}

export type { Skipped, SkipKind } from '../source/skipped.js';
