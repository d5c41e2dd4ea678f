import type { SourceRegion } from '../source/memory-source.js';

/**
 * A QEMU process's guest RAM: QEMU allocates each RAM block (the guest's memory, its firmware
 * and option ROMs) as a private anonymous mapping and marks it mergeable (VmFlags `mg`: QEMU's
 * mem-merge, on by default), which none of its own memory is. So in a QEMU process, a
 * private anonymous region marked mergeable is guest RAM; everything else is QEMU's own (its
 * heap, the TCG translation buffer, libraries). With `-machine mem-merge=off`, or when the
 * whole process was made mergeable (prctl PR_SET_MEMORY_MERGE), this test no longer holds,
 * and the report says guest RAM was not told apart (nothing matched, or everything did).
 */
export function isGuestRam(region: SourceRegion): boolean {
  return region.kind === 'anon' && region.mergeableNow === true;
}
