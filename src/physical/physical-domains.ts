import type { KernelFiles, PhysicalPages } from './physical-pages.js';

/**
 * Frame numbers are only comparable within one machine at one time: a live host, or one
 * snapshot. Each such "domain" gets its own range of frame ids, domain x 2^32 + PFN, so that
 * pages from two snapshots never look like one physical frame.
 */
export const FRAMES_PER_DOMAIN = 0x1_0000_0000;
export const MAX_DOMAINS = 64;
/** In domainFiles(): a domain that answers, but not from files. */
export const DOMAIN_FILES_ELSEWHERE = -1;
/** In domainFiles(): a domain no provider answers for. */
export const DOMAIN_FILES_NONE = -2;

/** Routes a frame id to the physical information of its domain. */
export class PhysicalDomains implements PhysicalPages {
  private readonly providers: PhysicalPages[] = [];

  /** The domain id of a provider, added on first sight; null when there are too many domains. */
  domainOf(provider: PhysicalPages): number | null {
    let id = this.providers.indexOf(provider);
    if (id < 0) {
      if (this.providers.length >= MAX_DOMAINS) return null;
      id = this.providers.push(provider) - 1;
    }
    return id;
  }

  get size(): number {
    return this.providers.length;
  }

  mapCount(frame: number): number {
    return this.route(frame)?.mapCount(frame % FRAMES_PER_DOMAIN) ?? 0;
  }

  isZeroPage(frame: number): boolean {
    return this.route(frame)?.isZeroPage(frame % FRAMES_PER_DOMAIN) ?? false;
  }

  isKsmPage(frame: number): boolean {
    return this.route(frame)?.isKsmPage(frame % FRAMES_PER_DOMAIN) ?? false;
  }

  /** Frame ids span domains: no single pair of files answers for them. */
  kernelFiles(): KernelFiles | null {
    return null;
  }

  /**
   * For the native model: per domain d, [2d] and [2d + 1] the kpagecount and kpageflags fds
   * that answer for it; DOMAIN_FILES_ELSEWHERE when it answers otherwise, DOMAIN_FILES_NONE
   * when no provider does.
   */
  domainFiles(): Int32Array {
    const fds = new Int32Array(2 * MAX_DOMAINS).fill(DOMAIN_FILES_NONE);
    this.providers.forEach((provider, d) => {
      const files = provider.kernelFiles();
      fds[2 * d] = files?.countFd ?? DOMAIN_FILES_ELSEWHERE;
      fds[2 * d + 1] = files?.flagsFd ?? DOMAIN_FILES_ELSEWHERE;
    });
    return fds;
  }

  private route(frame: number): PhysicalPages | undefined {
    return this.providers[Math.floor(frame / FRAMES_PER_DOMAIN)];
  }

  close(): void {
    // The providers belong to their sources.
  }
}
