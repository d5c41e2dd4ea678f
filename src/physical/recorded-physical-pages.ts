import type { KernelFiles, PhysicalPages } from './physical-pages.js';

export const RECORDED_ZERO = 1;
export const RECORDED_KSM = 2;

/**
 * The kernel's answers about physical frames as a snapshot recorded them, replayed when the
 * snapshot is analysed, so that it gives the numbers the live scan gave.
 */
export class RecordedPhysicalPages implements PhysicalPages {
  constructor(private readonly frames: ReadonlyMap<number, { mapCount: number; flags: number }>) {}

  mapCount(pfn: number): number {
    return this.frames.get(pfn)?.mapCount ?? 1;
  }

  isZeroPage(pfn: number): boolean {
    return ((this.frames.get(pfn)?.flags ?? 0) & RECORDED_ZERO) !== 0;
  }

  isKsmPage(pfn: number): boolean {
    return ((this.frames.get(pfn)?.flags ?? 0) & RECORDED_KSM) !== 0;
  }

  kernelFiles(): KernelFiles | null {
    return null;
  }

  close(): void {}
}
