import { readFile } from 'node:fs/promises';
import type { SourceRegion } from '../source/memory-source.js';
import type { NativeAddon } from '../native/native-addon.js';
import { parseSmaps } from './smaps.js';


/**
 * Reads /proc/PID/smaps of many processes before their pages are read. The kernel walks every
 * resident page of a process to write its smaps, so this is a tenth of a scan's time, worth
 * spreading over the CPUs: on the native reader's threads where it is built, else several
 * reads at once through Node's thread pool (four measured best on two cores: fs reads a /proc
 * file in pieces, with a trip through the event loop between them). The native reader keeps
 * only the lines parseSmaps reads (a sixth of the text). Each text is parsed as it
 * arrives and dropped, so only the parsed regions are kept. A process that cannot be read is
 * left out: reading it again at open gives the error its scan reports.
 */
export async function readRegionsAhead(pids: readonly number[], pageSize: number, native: NativeAddon | null, threads: number): Promise<Map<number, SourceRegion[]>> {
  const regions = new Map<number, SourceRegion[]>();
  const keep = (pid: number, text: string): void => {
    try {
      regions.set(pid, parseSmaps(text, pageSize));
    } catch {
      // Left to the scan, which says why.
    }
  };
  if (native !== null) {
    // One file per thread per call, so that only that many texts are alive at once.
    const perCall = Math.max(1, threads);
    for (let from = 0; from < pids.length; from += perCall) {
      const batch = pids.slice(from, from + perCall);
      const texts = native.readSmaps(batch.map((pid) => `/proc/${pid}/smaps`), threads);
      batch.forEach((pid, i) => {
        const text = texts[i];
        if (typeof text === 'string') keep(pid, text);
      });
    }
    return regions;
  }
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
