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
  open(): MemorySource;
}
