import { existsSync, readFileSync } from 'node:fs';

/**
 * What the kernel's split of a transparent huge page does with its zero-filled subpages when KSM
 * merges one of its subpages (mm/ksm.c try_to_merge_one_page splits the huge page first):
 *
 * - 'zero-subpages-freed' (Linux 6.12 and later): the split maps every zero-filled subpage to the
 *   shared zero page (mm/huge_memory.c remap_page with RMP_USE_SHARED_ZEROPAGE, mm/migrate.c
 *   try_to_map_unused_to_zeropage). They are freed, but never become KSM pages: no
 *   pages_sharing, ksm_zero_pages, ksm_merging_pages, general_profit, nor rmap_item.
 * - 'zero-subpages-kept' (before 6.12): the split leaves them as ordinary 4 KiB pages, which KSM
 *   then merges like any other.
 */
export type ThpSplitBehaviour = 'zero-subpages-freed' | 'zero-subpages-kept';

export interface ThpBehaviour {
  split: ThpSplitBehaviour;
  /** How it was chosen: a sign of the running kernel, the kernel's version, or neither known. */
  basis: 'probe' | 'kernel-version' | 'default';
  /** The kernel release it was chosen for, null when unknown. */
  kernel: string | null;
  /** Whether this kernel series' THP handling was checked against the real kernel (docs/estimate.md). */
  verified: boolean;
}

/** What a scan knows of transparent huge pages, and how their split is modelled. */
export interface ThpKnowledge extends ThpBehaviour {
  /** Some source could tell pages in huge pages apart (kpageflags, or a snapshot that recorded it). */
  hugePagesKnown: boolean;
}

/** Kernel series whose THP handling under KSM was measured against the estimate (docs/estimate.md). */
export const VERIFIED_THP_KERNELS: readonly string[] = ['6.18'];

/** Major and minor of a release string ("6.18.44-fc" -> [6, 18]), null when it has none. */
export function kernelSeries(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m === null ? null : [Number(m[1]), Number(m[2])];
}

/**
 * The behaviour for a kernel release. `underusedShrinker`: whether the running kernel has the
 * THP underused shrinker (/sys/kernel/mm/transparent_hugepage/shrink_underused), which came
 * with the zero-page remapping on split in 6.12; null when not asked (a snapshot's kernel).
 */
export function thpBehaviourOf(release: string | null, underusedShrinker: boolean | null): ThpBehaviour {
  const series = release === null ? null : kernelSeries(release);
  const verified = series !== null && VERIFIED_THP_KERNELS.includes(`${series[0]}.${series[1]}`);
  if (underusedShrinker !== null) {
    return { split: underusedShrinker ? 'zero-subpages-freed' : 'zero-subpages-kept', basis: 'probe', kernel: release, verified };
  }
  if (series === null) return { split: 'zero-subpages-freed', basis: 'default', kernel: release, verified: false };
  const atLeast612 = series[0] > 6 || (series[0] === 6 && series[1] >= 12);
  return { split: atLeast612 ? 'zero-subpages-freed' : 'zero-subpages-kept', basis: 'kernel-version', kernel: release, verified };
}

/** The running kernel's behaviour: its release, and whether it has the underused shrinker. */
export function readThpBehaviour(): ThpBehaviour {
  let release: string | null = null;
  try {
    release = readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim();
  } catch {
    // No /proc: the version is unknown.
  }
  const thpDir = '/sys/kernel/mm/transparent_hugepage';
  const probe = existsSync(thpDir) ? existsSync(`${thpDir}/shrink_underused`) : null;
  return thpBehaviourOf(release, probe);
}
