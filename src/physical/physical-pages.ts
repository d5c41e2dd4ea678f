import { closeSync, openSync, readSync } from 'node:fs';

/** What the kernel says about one physical page: who else maps it, and what it is. */
export interface PhysicalPages {
  /** How many page tables map the frame, all processes counted. */
  mapCount(pfn: number): number;
  isZeroPage(pfn: number): boolean;
  isKsmPage(pfn: number): boolean;
  close(): void;
}

const KPF_KSM = 21;
const KPF_ZERO_PAGE = 24;

/**
 * /proc/kpagecount and /proc/kpageflags (root only), 8 bytes per PFN. Used after the scan and
 * for the few zero-content shared pages, never per page on the hot path.
 */
export class KernelPhysicalPages implements PhysicalPages {
  private readonly countFd: number;
  private readonly flagsFd: number;
  private readonly word = new Uint32Array(2);
  private readonly bytes = Buffer.from(this.word.buffer);

  constructor() {
    this.countFd = openSync('/proc/kpagecount', 'r');
    try {
      this.flagsFd = openSync('/proc/kpageflags', 'r');
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
