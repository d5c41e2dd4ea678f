import { existsSync } from 'node:fs';
import type { ScanResult } from '../scan/scan.js';
import type { Estimate, GroupPair, GroupRow, GroupTotals, GuestFigures, Recommendation, GroupByName } from './report.js';
import { estimateOf } from './estimate.js';
import { isServiceUnit } from '../grouping/unit-name.js';
import { plural } from '../util/plural.js';

/** 64 MiB: below it, KSM's scanning (about 20 MB/s at its defaults, a CPU's share) buys too little (--min-saving). */
export const DEFAULT_MIN_SAVING_BYTES = 64 * 1024 * 1024;

export interface GroupSection {
  groupBy: GroupByName | null;
  groups: GroupRow[];
  groupPairs: GroupPair[];
  groupTotals: GroupTotals | null;
  recommendations: Recommendation[];
  caveats: string[];
}

/** The report's --group-by fields from the scan's group models (src/analysis/group-model.ts). */
export function groupSection(scan: ScanResult, together: Estimate, minSaving = DEFAULT_MIN_SAVING_BYTES): GroupSection {
  const g = scan.groups;
  if (g === undefined) return { groupBy: null, groups: [], groupPairs: [], groupTotals: null, recommendations: [], caveats: [] };
  const { pageSize, settings } = scan;
  const { grouping, model } = g;
  const kind = grouping.by;
  const members: number[][] = grouping.keys.map(() => []);
  scan.sources.forEach((_, p) => members[grouping.groupOf[p] as number]?.push(p));

  const groups: GroupRow[] = grouping.keys.map((key, i) => {
    const alone = model.alone[i];
    if (alone === undefined) throw new Error('a group without a model');
    return {
      key,
      kind,
      pids: (members[i] ?? []).map((p) => scan.sources[p]?.info.pid ?? 0),
      alone: estimateOf(alone.scope, alone.naiveDuplicatePages * pageSize, pageSize, settings),
      vm: guestFigures(scan, members[i] ?? []),
    };
  });
  const groupPairs: GroupPair[] = model.pairs
    .filter((p) => p.crossRamFreedPages !== 0)
    .map((p) => ({ a: grouping.keys[p.a] as string, b: grouping.keys[p.b] as string, crossRamFreedBytes: p.crossRamFreedPages * pageSize }))
    .sort((x, y) => y.crossRamFreedBytes - x.crossRamFreedBytes);
  const aloneRamFreedBytes = sum(groups.map((r) => r.alone.ramFreedBytes));
  const groupTotals: GroupTotals = {
    groups: groups.length,
    aloneRamFreedBytes,
    aloneNetSavingBytes: sum(groups.map((r) => r.alone.netSavingBytes)),
    togetherRamFreedBytes: together.ramFreedBytes,
    togetherNetSavingBytes: together.netSavingBytes,
    acrossGroupsRamFreedBytes: together.ramFreedBytes - aloneRamFreedBytes,
    pairsCrossRamFreedBytes: sum(groupPairs.map((p) => p.crossRamFreedBytes)),
    elapsedMs: Math.round(g.elapsedMs),
    minSavingBytes: minSaving,
  };

  const recommendations: Recommendation[] = groups
    .filter((r) => r.alone.netSavingBytes >= minSaving && r.alone.netSavingBytes > 0)
    .sort((x, y) => y.alone.netSavingBytes - x.alone.netSavingBytes)
    .map((r) => recommendationFor(r, minSaving));

  const caveats: string[] = [];
  if (kind === 'unit') {
    const live = scan.sources.some((s) => s.origin === 'live');
    caveats.push(
      `${live && !systemdRuns() ? 'no systemd runs on this host: ' : ''}unit names are taken from each process's cgroup v2 path, not asked of systemd: ` +
        'its first service or scope component, else its innermost slice (the root cgroup is -.slice), else the path itself',
    );
  }
  const crossOwner = groupPairs.filter((p) => p.crossRamFreedBytes > 0 && crossesOwners(scan, members, grouping.keys.indexOf(p.a), grouping.keys.indexOf(p.b)));
  if (crossOwner.length > 0) {
    caveats.push(
      `${plural(crossOwner.length, 'pair', 'pairs')} of groups with different owners would share pages if KSM were enabled for both: a merged page lets one ` +
        "tenant observe the other's memory by timing (a side channel). KSM merges across every process it is enabled for, so enable it within one security domain only",
    );
  }
  if (recommendations.length > 1) {
    caveats.push('KSM has one merge domain per host: enabling it for several recommended groups also merges across them (the pairs above)');
  }
  const unknown = groups.filter((r) => r.key === '(unknown)');
  if (unknown.length > 0) caveats.push('some processes have no grouping facts (core dumps, or snapshots taken before samepage kept them): they are grouped as (unknown)');
  return { groupBy: kind, groups, groupPairs, groupTotals, recommendations, caveats };
}

/** How to enable KSM for one group: a systemd drop-in for a service, the prctl otherwise. */
export function recommendationFor(r: GroupRow, minSaving: number): Recommendation {
  const base = { key: r.key, kind: r.kind, netSavingBytes: r.alone.netSavingBytes, minSavingBytes: minSaving };
  if (r.kind === 'unit' && isServiceUnit(r.key)) {
    const path = `/etc/systemd/system/${r.key}.d/ksm.conf`;
    return {
      ...base,
      how: `systemd 254 or later: write ${path} with [Service] MemoryKSM=yes, then systemctl daemon-reload and systemctl restart ${r.key} (it takes effect when the service starts)`,
      dropIn: { path, contents: '[Service]\nMemoryKSM=yes\n' },
    };
  }
  if (r.kind === 'vm') {
    return {
      ...base,
      how:
        'QEMU marks guest RAM mergeable already (-machine mem-merge=on, the default): KSM merges it once KSM runs (echo 1 > /sys/kernel/mm/ksm/run). ' +
        'To keep this guest to itself, start the other guests with -machine mem-merge=off',
      dropIn: null,
    };
  }
  return {
    ...base,
    how:
      'prctl(PR_SET_MEMORY_MERGE, 1) (Linux 6.4 or later) in each of its processes, or in the one that starts them: forked children inherit it and it is kept across exec. ' +
      'util-linux has no command for it; systemd-run -p MemoryKSM=yes starts a new command with it, or a small wrapper can call the prctl and exec the program',
    dropIn: null,
  };
}

function guestFigures(scan: ScanResult, procs: readonly number[]): GuestFigures | null {
  let vm = null;
  let mapped = 0;
  let resident = 0;
  let zero = 0;
  let own = 0;
  for (const p of procs) {
    const s = scan.sources[p];
    const facts = s?.info.grouping?.vm;
    // Guest figures for a group of guests only: in a group with other processes they would read as the group's.
    if (s === undefined || facts === null || facts === undefined || s.guestRam === null) return null;
    vm ??= facts;
    mapped += s.guestRam.mappedBytes;
    resident += s.guestRam.residentPages;
    zero += s.guestRam.zeroFilledPages;
    own += (scan.model.content.byProcess.resident[p] ?? 0) - s.guestRam.residentPages;
  }
  if (vm === null) return null;
  const ps = scan.pageSize;
  return {
    nameFrom: vm.nameFrom,
    uuid: vm.uuid,
    ramBytes: vm.ramBytes,
    guestRamMappedBytes: mapped,
    guestRamResidentBytes: resident * ps,
    qemuOwnResidentBytes: own * ps,
    zeroFilledGuestRamBytes: zero * ps,
  };
}

/** The two groups' processes do not all have one owner (uid). */
function crossesOwners(scan: ScanResult, members: readonly number[][], a: number, b: number): boolean {
  const uids = new Set<number | null>();
  for (const p of [...(members[a] ?? []), ...(members[b] ?? [])]) uids.add(scan.sources[p]?.info.grouping?.uid ?? null);
  return uids.size > 1;
}

/** sd_booted(3): systemd is the init system when /run/systemd/system exists. */
function systemdRuns(): boolean {
  return existsSync('/run/systemd/system');
}

function sum(values: readonly number[]): number {
  let t = 0;
  for (const v of values) t += v;
  return t;
}
