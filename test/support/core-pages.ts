// What the core tests look at: every page a memory source hands over, by address and hashed as
// the pipeline hashes it, and a core file scanned through the whole pipeline. Shared by
// test/unit/core.test.ts (cores built byte by byte) and test/system/core.test.ts (cores of real
// processes and of a QEMU guest).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { coreOpener } from '../../src/core/core-source.js';
import { runScan, type ScanResult } from '../../src/scan/scan.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import type { PageHasher } from '../../src/hash/page-hasher.js';
import { chooseEngine } from '../../src/engine/choose-engine.js';
import type { MappingKind } from '../../src/source/mapping-kind.js';
import { createPageBatch, type MemorySource, type PageSink } from '../../src/source/memory-source.js';
import { systemPageSize } from '../../src/util/system.js';

const execFileAsync = promisify(execFile);
const ps = systemPageSize();

export interface Page {
  hash: string;
  flags: number;
  kind: MappingKind;
  path: string;
}

export const hasher = chooseEngine().hasher;

/** Every page a source hands over, by address, hashed the way the pipeline hashes. */
export function record(source: MemorySource, pageSize = ps): Map<number, Page> {
  const pages = new Map<number, Page>();
  const hi = new Uint32Array(4096);
  const lo = new Uint32Array(4096);
  const sink: PageSink = {
    pages(region, batch) {
      if (batch.hashed) {
        hi.set(batch.hashHi.subarray(0, batch.count));
        lo.set(batch.hashLo.subarray(0, batch.count));
      } else {
        hasher.hashPages(batch.data, batch.count, pageSize, hi, lo, 0);
      }
      for (let i = 0; i < batch.count; i++) {
        pages.set(batch.vaddr[i] as number, { hash: hashKey(hi[i] as number, lo[i] as number), flags: batch.flags[i] as number, kind: region.kind, path: region.path });
      }
    },
  };
  const batch = createPageBatch(pageSize, 4096, Math.max(1, Math.floor(1048576 / pageSize)));
  try {
    for (const region of source.regions()) source.scanRegion(region, sink, batch);
  } finally {
    source.close();
  }
  return pages;
}

export function hashKey(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export function hashOf(page: Buffer): string {
  const hi = new Uint32Array(1);
  const lo = new Uint32Array(1);
  hasher.hashPages(page, 1, page.length, hi, lo, 0);
  return hashKey(hi[0] as number, lo[0] as number);
}

/** The zstd command (-q -f and the given arguments). */
export async function zstd(args: string[]): Promise<void> {
  await execFileAsync('zstd', ['-q', '-f', ...args]);
}

export function scanCore(file: string, pageSize = ps, hasherOverride?: PageHasher): ScanResult {
  return runScan([coreOpener(file, pageSize)], { pageSize, settings: DEFAULT_KSM_SETTINGS, ...(hasherOverride ? { hasher: hasherOverride } : {}) });
}
