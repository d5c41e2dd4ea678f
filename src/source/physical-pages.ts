// What a source's page frame numbers mean: the interface every provider of physical information
// serves (the kernel's files in src/physical/, a snapshot's record of them).

/** What the kernel says about one physical page: who else maps it, and what it is. */
export interface PhysicalPages {
  /** How many page tables map the frame, all processes counted. */
  mapCount(pfn: number): number;
  isZeroPage(pfn: number): boolean;
  isKsmPage(pfn: number): boolean;
  /** Whether the frame is the head of a transparent huge page (kpageflags THP and COMPOUND_HEAD); absent where nobody can say. */
  isThpHead?(pfn: number): boolean;
  /** Open files shaped like /proc/kpagecount and /proc/kpageflags that give these answers
   *  (the native model reads them itself), or null when the answers come from elsewhere. */
  kernelFiles(): KernelFiles | null;
  close(): void;
}

/** File descriptors of a kpagecount- and a kpageflags-shaped file: 8 bytes per frame. */
export interface KernelFiles {
  countFd: number;
  flagsFd: number;
}
