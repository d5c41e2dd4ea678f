import { readFile } from 'node:fs/promises';
import type { SourceRegion } from '../source/memory-source.js';
import type { NativeAddon } from '../native/native-addon.js';
import { parseSmaps, regionsFromTable } from './smaps.js';

/**
 * Reads /proc/PID/smaps of many processes before their pages are read. The kernel walks every
 * resident page of a process to write its smaps, so this is a tenth of a scan's time, worth
 * spreading over the CPUs: on the native reader's threads where it is built, else several
 * reads at once through Node's thread pool (four measured best on two cores: fs reads a /proc
 * file in pieces, with a trip through the event loop between them). The native reader parses
 * each file as it reads it (native/smaps_table.c); without it each text is parsed as it
 * arrives and dropped. Either way only the regions are kept. A process that cannot be read is
 * left out: reading it again at open gives the error its scan reports.
 */
export async function readRegionsAhead(pids: readonly number[], pageSize: number, native: NativeAddon | null, threads: number): Promise<Map<number, SourceRegion[]>> {
  const regions = new Map<number, SourceRegion[]>();
  if (native !== null) {
    // Parsed where they are read: no text reaches JavaScript.
    const tables = native.readRegions(pids.map((pid) => `/proc/${pid}/smaps`), threads);
    pids.forEach((pid, i) => {
      const table = tables[i];
      if (table !== undefined && typeof table !== 'number') regions.set(pid, regionsFromTable(table, pageSize));
    });
    return regions;
  }
  const keep = (pid: number, text: string): void => {
    try {
      regions.set(pid, parseSmaps(text, pageSize));
    } catch {
      // Left to the scan, which says why.
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pids.length) {
      const pid = pids[next++] as number;
      try {
        keep(pid, await readFile(`/proc/${pid}/smaps`, 'latin1'));
      } catch {
        // Left to the scan, which says why.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, pids.length) }, worker));
  return regions;
}
