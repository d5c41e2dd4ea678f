/**
 * /proc/PID/pagemap entries, 8 bytes per virtual page, read as two 32-bit halves so that the
 * hot loop works on small integers instead of BigInts.
 */
export const PM_PRESENT_HI = 1 << 31; // bit 63
export const PM_SWAPPED_HI = 1 << 30; // bit 62
export const PM_FILE_HI = 1 << 29; // bit 61: page-cache page or shared anonymous
export const PM_EXCLUSIVE_HI = 1 << 24; // bit 56: mapped exactly once
export const PM_PFN_HI_MASK = 0x7fffff; // bits 32-54 of the PFN field (bits 0-54)

export function pfnOf(lo: number, hi: number): number {
  return (hi & PM_PFN_HI_MASK) * 0x1_0000_0000 + (lo >>> 0);
}
