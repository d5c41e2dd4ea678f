import { readFileSync } from 'node:fs';

/** How fast ksmd goes through memory: the settings that set the length of one full scan. */
export interface KsmPace {
  pagesToScan: number;
  sleepMillisecs: number;
  /** 'none' or 'scan-time' (6.8+: the advisor sets pages_to_scan itself); null before 6.8. */
  advisorMode: string | null;
  /** Seconds the advisor aims one full scan at (6.8+), null without it. */
  advisorTargetScanTime: number | null;
  /** 1: pages that did not merge are skipped for a while (6.7+); null before 6.7. */
  smartScan: number | null;
}

const KSM_DIR = '/sys/kernel/mm/ksm';

/** Reads the pace settings; null when KSM is absent. Read-only. */
export function readKsmPace(): KsmPace | null {
  try {
    return {
      pagesToScan: readNumber('pages_to_scan'),
      sleepMillisecs: readNumber('sleep_millisecs'),
      advisorMode: optional(() => /\[(\S+)\]/.exec(readText('advisor_mode'))?.[1] ?? readText('advisor_mode')),
      advisorTargetScanTime: optional(() => readNumber('advisor_target_scan_time')),
      smartScan: optional(() => readNumber('smart_scan')),
    };
  } catch {
    return null;
  }
}

/**
 * Seconds ksmd takes to go once through `pages` pages at this pace, counting the sleeps only
 * (the scanning itself adds to it): ceil(pages / pages_to_scan) x sleep_millisecs. With the
 * advisor on, it aims a full scan at advisor_target_scan_time whatever the pages.
 */
export function fullScanSeconds(pace: KsmPace, pages: number): number {
  if (pace.advisorMode === 'scan-time' && pace.advisorTargetScanTime !== null) return pace.advisorTargetScanTime;
  return (Math.ceil(Math.max(1, pages) / Math.max(1, pace.pagesToScan)) * pace.sleepMillisecs) / 1000;
}

function readText(name: string): string {
  return readFileSync(`${KSM_DIR}/${name}`, 'latin1').trim();
}

function readNumber(name: string): number {
  const value = Number(readText(name));
  if (!Number.isFinite(value)) throw new Error(`${KSM_DIR}/${name}: not a number`);
  return value;
}

function optional<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}
