// The live reader's two paths on one real process: the native reader (tiles of pagemap, reads
// and hashes on worker threads, process_vm_readv for page-cache pages) and the JavaScript reader
// (pread of /proc/PID/mem, hashed in batches) must put the same records in the index, also
// when smaps understated what is resident and the index has to grow in the middle of a region.
import { afterAll, describe, expect, it } from 'vitest';
import { collect } from '../../src/scan/scan.js';
import type { SourceOpener } from '../../src/source/source-opener.js';
import { LiveSource } from '../../src/live/live-source.js';
import { readProcessInfo } from '../../src/live/process-info.js';
import { KernelPhysicalPages } from '../../src/physical/physical-pages.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import { nativeAddon, type NativeAddon } from '../../src/native/native-addon.js';
import type { Engine } from '../../src/engine/engine.js';
import { ENGINES, REFERENCE_ENGINE } from '../support/engines.js';
import type { PageIndex } from '../../src/index/page-index.js';
import { systemPageSize } from '../../src/util/system.js';
import { readFileSync } from 'node:fs';
import { parseSmaps, regionsFromTable } from '../../src/live/smaps.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';

afterAll(stopAllFixtures);

describe('the live reader', () => {
  // Each engine's reader, on one or two threads, with the index grown mid-region, against the
  // JavaScript reader on one thread: the same records.
  const readers = ENGINES.flatMap(([name, engine]) => [
    [name, 2, false, engine],
    [name, 2, true, engine],
    [name, 1, true, engine],
  ] as const);
  it.each(readers)('the %s engine (%i threads, smaps understated: %s) gives the JavaScript reader\'s index', async (_name, threads, understate, engine) => {
    // 20000 unique pages span several tiles; a cycle of 7 contents; the zero page; holes.
    const fixture = await startPagefill(['anon:20000:uniq', 'untouched:300', 'anon:3000:cycle=5,7', 'readonly:100', 'untouched:500', 'anon:4100:seq=9']);
    const info = readProcessInfo(fixture.pid);
    if (info === null) throw new Error('fixture gone');
    const pageSize = systemPageSize();
    const physical = KernelPhysicalPages.tryOpen();
    const regions = new LiveSource(info, pageSize, true, physical).regions();

    const indexOf = (e: Engine, n: number, understated: boolean): string[] => {
      // Understated: smaps says one page where there are thousands, as if the region grew.
      const given = understated ? regions.map((r) => ({ ...r, residentPages: r.residentPages === 0 ? 0 : 1 })) : regions;
      const opener: SourceOpener = { label: 'fixture', pid: fixture.pid, named: true, open: () => new LiveSource(info, pageSize, true, physical, e.liveRegions, n, given) };
      const collected = collect([opener], { pageSize, settings: DEFAULT_KSM_SETTINGS, engine: e });
      expect(collected.warnings).toEqual([]);
      REFERENCE_ENGINE.sortIndex(collected.index);
      return records(collected.index);
    };

    // Stopped while it is read twice: a paused process still changed one page of a private
    // file mapping now and then between two reads (seen under CPU load, the JavaScript reader
    // against itself too), and a stopped one cannot.
    process.kill(fixture.pid, 'SIGSTOP');
    try {
      const reference = indexOf(REFERENCE_ENGINE, 1, false);
      expect(reference.length).toBeGreaterThan(27_000);
      expect(indexOf(engine, threads, understate)).toEqual(reference);
    } finally {
      process.kill(fixture.pid, 'SIGCONT');
      physical?.close();
    }
  });

  it.skipIf(nativeAddon() === null)('reads smaps natively into the regions the JavaScript parser finds in the text', async () => {
    // 256 VMAs (private and shared pages alternate, so no two merge): a few hundred KiB of
    // smaps, read in several pieces, so lines are cut between two reads.
    const ops: string[] = [];
    for (let i = 0; i < 128; i++) ops.push('anon:1:uniq', 'shared:1:byte=7');
    const fixture = await startPagefill(ops);
    const native = nativeAddon() as NativeAddon;
    const path = `/proc/${fixture.pid}/smaps`;
    const whole = readFileSync(path, 'latin1');
    expect(whole.length).toBeGreaterThan(128 << 10);
    const [table, missing] = native.readRegions([path, '/proc/self/no-such-file'], 2);
    expect(missing).toBe(2); // ENOENT
    if (table === undefined || typeof table === 'number') throw new Error(`readRegions failed: ${table}`);
    const pageSize = systemPageSize();
    const regions = parseSmaps(whole, pageSize);
    expect(regions.length).toBeGreaterThan(256);
    expect(regionsFromTable(table, pageSize)).toEqual(regions);
  });
});

function records(index: PageIndex): string[] {
  const out: string[] = [];
  for (let i = 0; i < index.length; i++) out.push(`${index.hashHi[i]}:${index.hashLo[i]}:${index.pfnLo[i]}:${index.meta[i]}`);
  return out;
}
