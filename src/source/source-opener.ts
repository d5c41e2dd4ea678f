import type { MemorySource } from './memory-source.js';

/** Opens one source lazily, so that a process that cannot be read is a skip, not a crash. */
export interface SourceOpener {
  label: string;
  pid: number | null;
  /**
   * The user named this source (a --pid, --name, --tree or --chromium match, a file): memory of
   * it that could not be read makes the result partial. False for processes taken by --all.
   */
  named: boolean;
  /** The snapshot or core file it comes from; absent for a live process. */
  file?: string;
  open(): MemorySource;
}
