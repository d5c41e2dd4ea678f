import { closeSync, openSync, readSync } from 'node:fs';
import type { KernelFiles, PhysicalPages } from '../source/physical-pages.js';

export type { KernelFiles, PhysicalPages } from '../source/physical-pages.js';

export const KPF_KSM = 21;
const KPF_ZERO_PAGE = 24;
export const KPF_COMPOUND_HEAD = 15;
export const KPF_THP = 22;

/**
 * /proc/kpagecount and /proc/kpageflags (root only), 8 bytes per PFN. Used after the scan and
 * for the few zero-content shared pages, never per page on the hot path. Files of the same
 * shape elsewhere can stand in for them (tests).
 */
export class KernelPhysicalPages implements PhysicalPages {
  private readonly countFd: number;
  private readonly flagsFd: number;
  private readonly word = new Uint32Array(2);
  private readonly bytes = Buffer.from(this.word.buffer);

  constructor(countPath = '/proc/kpagecount', flagsPath = '/proc/kpageflags') {
    this.countFd = openSync(countPath, 'r');
    try {
      this.flagsFd = openSync(flagsPath, 'r');
    } catch (err) {
      closeSync(this.countFd);
      throw err;
    }
  }

  /** Null when the files cannot be read (not root, or a kernel without them). */
  static tryOpen(): KernelPhysicalPages | null {
    try {
      return new KernelPhysicalPages();
    } catch {
      return null;
    }
  }

  mapCount(pfn: number): number {
    return this.read(this.countFd, pfn) ? (this.word[0] as number) : 0;
  }

  isZeroPage(pfn: number): boolean {
    return this.read(this.flagsFd, pfn) && this.bit(KPF_ZERO_PAGE);
  }

  isKsmPage(pfn: number): boolean {
    return this.read(this.flagsFd, pfn) && this.bit(KPF_KSM);
  }

  isThpHead(pfn: number): boolean {
    return this.read(this.flagsFd, pfn) && this.bit(KPF_THP) && this.bit(KPF_COMPOUND_HEAD);
  }

  kernelFiles(): KernelFiles {
    return { countFd: this.countFd, flagsFd: this.flagsFd };
  }

  private bit(n: number): boolean {
    return n < 32 ? ((this.word[0] as number) & (1 << n)) !== 0 : ((this.word[1] as number) & (1 << (n - 32))) !== 0;
  }

  private read(fd: number, pfn: number): boolean {
    try {
      return readSync(fd, this.bytes, 0, 8, pfn * 8) === 8;
    } catch {
      return false;
    }
  }

  close(): void {
    closeSync(this.countFd);
    closeSync(this.flagsFd);
  }
}
