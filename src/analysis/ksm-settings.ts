import { readFileSync } from 'node:fs';

export interface KsmSettings {
  useZeroPages: boolean;
  maxPageSharing: number;
  /** Where the values came from: the running kernel, the command line, or defaults when KSM is absent. */
  source: 'sysfs' | 'flags' | 'defaults';
  /** KSM's run state now: 0 off, 1 running, 2 unmerging; null when KSM is absent. */
  run: number | null;
}

const KSM_DIR = '/sys/kernel/mm/ksm';

/** Reads the settings that shape the estimate. Read-only: samepage never changes KSM. */
export function readKsmSettings(): KsmSettings | null {
  try {
    return {
      useZeroPages: readNumber('use_zero_pages') === 1,
      maxPageSharing: readNumber('max_page_sharing'),
      source: 'sysfs',
      run: readNumber('run'),
    };
  } catch {
    return null;
  }
}

/** The kernel's defaults, for machines without KSM and for cores analysed elsewhere. */
export const DEFAULT_KSM_SETTINGS: KsmSettings = { useZeroPages: false, maxPageSharing: 256, source: 'defaults', run: null };

function readNumber(name: string): number {
  const value = Number(readFileSync(`${KSM_DIR}/${name}`, 'latin1').trim());
  if (!Number.isFinite(value)) throw new Error(`${KSM_DIR}/${name}: not a number`);
  return value;
}
