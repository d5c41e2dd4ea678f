// Volatility sampling: the model with volatile pages left out (src/scan/volatile-model.ts) is
// exact and the same on both engines, and the re-read (src/scan/volatility.ts) finds the pages
// of a running process that change, and only those, through either engine's live reader.
import { afterAll, describe, expect, it } from 'vitest';
import { META_ANON, META_COMPATIBLE, META_EXCLUSIVE, META_MERGEABLE_NOW, META_ZERO_PFN, PageIndex, packMeta } from '../../src/index/page-index.js';
import type { ModelOptions, ScopeResult } from '../../src/analysis/model-result.js';
import { runVolatileModel } from '../../src/scan/volatile-model.js';
import { sampleVolatility, type VolatilitySample } from '../../src/scan/volatility.js';
import { collect } from '../../src/scan/scan.js';
import { LiveSource } from '../../src/live/live-source.js';
import { readProcessInfo } from '../../src/live/process-info.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import { systemPageSize } from '../../src/util/system.js';
import { ENGINES, REFERENCE_ENGINE } from '../support/engines.js';
import { seededUint32 } from '../support/rng.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { runSamepage } from '../support/samepage.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Report } from '../../src/report/report.js';

afterAll(stopAllFixtures);

const ZERO = { hi: 0x1234, lo: 0x5678 };

/** Contents seen once to many times, across 5 processes, some zero-filled, both scopes, no physical info. */
function randomIndex(seed: number, contents: number): PageIndex {
  const next = seededUint32(seed);
  const index = new PageIndex(contents * 3);
  for (let c = 0; c < contents; c++) {
    const roll = next() % 100;
    const copies = roll < 50 ? 1 : roll < 95 ? 2 + (next() % 6) : 30 + (next() % 300);
    const zero = roll % 17 === 0;
    const hi = zero ? ZERO.hi : next() | 1;
    const lo = zero ? ZERO.lo : next();
    for (let k = 0; k < copies; k++) {
      index.reserve(1);
      const i = index.length++;
      const flags = (next() % 10 < 8 ? META_ANON : 0) | (next() % 4 < 3 ? META_COMPATIBLE : 0) | (next() % 2 ? META_MERGEABLE_NOW : 0) | (next() % 3 === 0 ? META_EXCLUSIVE : 0) | (zero && next() % 5 === 0 ? META_ZERO_PFN : 0);
      index.hashHi[i] = hi;
      index.hashLo[i] = lo;
      index.pfnLo[i] = 0;
      index.meta[i] = packMeta(next() % 5, next() % 4, flags | (1 << 25), 0);
    }
  }
  // Scan order is not content order.
  for (let i = index.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    for (const a of [index.hashHi, index.hashLo, index.pfnLo, index.meta]) {
      const t = a[i] as number;
      a[i] = a[j] as number;
      a[j] = t;
    }
  }
  return index;
}

function copyOf(index: PageIndex): PageIndex {
  const out = new PageIndex(index.length);
  out.hashHi.set(index.hashHi.subarray(0, index.length));
  out.hashLo.set(index.hashLo.subarray(0, index.length));
  out.pfnLo.set(index.pfnLo.subarray(0, index.length));
  out.meta.set(index.meta.subarray(0, index.length));
  out.length = index.length;
  return out;
}

function sampleOf(n: number, seed: number, share: number): VolatilitySample {
  const next = seededUint32(seed);
  const volatile = new Uint8Array(Math.ceil(n / 8));
  const reread = new Uint8Array(Math.ceil(n / 8)).fill(0xff);
  for (let r = 0; r < n; r++) if (next() % 1000 < share * 1000) volatile[r >>> 3] = (volatile[r >>> 3] as number) | (1 << (r & 7));
  return { intervalSeconds: 1, samples: 2, volatile, reread, rereadPages: n, changedPages: 0, gonePages: 0, rereadMs: 0, exited: [] };
}

function plain(s: ScopeResult): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s, (_k, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v))) as Record<string, unknown>;
}

describe('the model without volatile pages', () => {
  it.each(ENGINES)('%s: equals the reference model run on the index with each volatile page given a content of its own', (_name, engine) => {
    for (const seed of [1, 2, 3]) {
      const original = randomIndex(seed, 3000);
      const sample = sampleOf(original.length, seed + 100, 0.3);
      const opts: ModelOptions = { processCount: 5, useZeroPages: seed === 2, maxPageSharing: seed === 3 ? 4 : 256, zeroHash: ZERO, physical: null };

      // The reference: the JavaScript model on the index with each volatile page given a content
      // no other page has, in two ways. The sort is in place and not stable, so which mapping of
      // a content comes first (and takes the freed frame's attribution) depends on every hash
      // in the index: with the contents samepage gives them (0xffffffff, k-th volatile page),
      // every figure is equal; with other unique contents, every figure that does not depend on
      // that order.
      const uniqueWith = (hi: (r: number, k: number) => number, lo: (r: number, k: number) => number): PageIndex => {
        const u = copyOf(original);
        let k = 0;
        for (let r = 0; r < u.length; r++) {
          if (((sample.volatile[r >>> 3] as number) & (1 << (r & 7))) === 0) continue;
          u.hashHi[r] = hi(r, k);
          u.hashLo[r] = lo(r, k++);
        }
        REFERENCE_ENGINE.sortIndex(u);
        return u;
      };
      let volatileEligible = 0;
      for (let r = 0; r < original.length; r++) {
        if (((sample.volatile[r >>> 3] as number) & (1 << (r & 7))) === 0) continue;
        const m = original.meta[r] as number;
        if ((m & (META_ANON | META_COMPATIBLE)) === (META_ANON | META_COMPATIBLE) && (m & META_ZERO_PFN) === 0) volatileEligible++;
      }
      const expectedStill = REFERENCE_ENGINE.runModel(uniqueWith(() => 0xffffffff, (_r, k) => k), opts);
      const otherwise = REFERENCE_ENGINE.runModel(uniqueWith((r) => 0xabc00000 + (r >>> 12), (r) => 0x5000_0000 + r), opts);
      const sortedOriginal = copyOf(original);
      REFERENCE_ENGINE.sortIndex(sortedOriginal);
      const expectedInstant = REFERENCE_ENGINE.runModel(sortedOriginal, opts);

      const index = copyOf(original);
      const got = runVolatileModel(engine, index, sample, opts, () => 0);
      expect(got.pagesVolatile[0]).toBe(volatileEligible);
      expect(volatileEligible).toBeGreaterThan(0);
      got.model.scopes.forEach((scope, s) => {
        const want = plain(expectedStill.scopes[s] as ScopeResult);
        want['pagesUnshared'] = (want['pagesUnshared'] as number) - (got.pagesVolatile[s] as number);
        expect(plain(scope)).toEqual(want);
        const other = otherwise.scopes[s] as ScopeResult;
        for (const key of ['ramFreedPages', 'pagesShared', 'pagesSharing', 'ksmZeroPages', 'rmapItems'] as const) expect(scope[key]).toBe(other[key]);
        expect(scope.pagesUnshared).toBe(other.pagesUnshared - (got.pagesVolatile[s] as number));
        expect(Array.from(scope.perProcess.rmapItems)).toEqual(Array.from(other.perProcess.rmapItems));
      });
      // One instant: the index is sorted from another order than a scan's, so again only the
      // figures that do not depend on which mapping of a content comes first are equal.
      got.oneInstantScopes.forEach((scope, s) => {
        const want = expectedInstant.scopes[s] as ScopeResult;
        for (const key of ['ramFreedPages', 'pagesShared', 'pagesSharing', 'ksmZeroPages', 'pagesUnshared', 'rmapItems'] as const) expect(scope[key]).toBe(want[key]);
        expect(Array.from(scope.perProcess.rmapItems)).toEqual(Array.from(want.perProcess.rmapItems));
      });
      const content = got.model.content;
      expect(content.naiveDuplicatePages).toBe(expectedInstant.content.naiveDuplicatePages);
      expect(content.distinctContents).toBe(expectedInstant.content.distinctContents);
      expect(Array.from(content.byProcess.resident)).toEqual(Array.from(expectedInstant.content.byProcess.resident));
      expect(Array.from(content.byKind.zero)).toEqual(Array.from(expectedInstant.content.byKind.zero));
      // The index is left as a scan without sampling leaves it: sorted, first-pass contents.
      expect(Array.from(index.hashHi.subarray(0, index.length))).toEqual(Array.from(sortedOriginal.hashHi.subarray(0, index.length)));
      expect(Array.from(index.hashLo.subarray(0, index.length))).toEqual(Array.from(sortedOriginal.hashLo.subarray(0, index.length)));
      // Fewer pages merge once the volatile ones are out.
      expect(got.model.scopes[0]?.ramFreedPages).toBeLessThan(got.oneInstantScopes[0]?.ramFreedPages ?? 0);
    }
  });
});

describe('the re-read of a running process', () => {
  it.each(ENGINES)('%s: pages rewritten between two reads are volatile, still ones are not; stopped, none is', async (_name, engine) => {
    const fixture = await startPagefill(['merge:any', 'nothp', 'anon:3000:seq=1', 'churn:2000:2:100', 'anon:500:uniq']);
    const info = readProcessInfo(fixture.pid);
    if (info === null) throw new Error('fixture gone');
    const pageSize = systemPageSize();
    const read = async (): Promise<VolatilitySample> => {
      const opener = { label: 'fixture', pid: fixture.pid, named: true, open: () => new LiveSource(info, pageSize, false, null, engine.liveRegions, 2) };
      const c = collect([opener], { pageSize, settings: DEFAULT_KSM_SETTINGS, engine, keepPageOffsets: true });
      expect(c.index.pageOffset).not.toBeNull();
      return sampleVolatility(c, { intervalSeconds: 1, samples: 2, threads: 2 });
    };
    const running = await read();
    expect(running.rereadPages).toBeGreaterThanOrEqual(5500);
    // The 2,000 churning pages, and at most a few of the process's own (its stack).
    expect(running.changedPages).toBeGreaterThanOrEqual(2000);
    expect(running.changedPages).toBeLessThanOrEqual(2010);
    process.kill(fixture.pid, 'SIGSTOP');
    try {
      const stopped = await read();
      expect(stopped.changedPages + stopped.gonePages).toBe(0);
    } finally {
      process.kill(fixture.pid, 'SIGCONT');
      await fixture.stop();
    }
  });

  it('both engines line the records up by the same page offsets', async () => {
    if (ENGINES.length < 2) return;
    const fixture = await startPagefill(['anon:5000:uniq', 'untouched:300', 'anon:3000:cycle=5,7', 'untouched:100', 'anon:700:seq=9']);
    const info = readProcessInfo(fixture.pid);
    if (info === null) throw new Error('fixture gone');
    const pageSize = systemPageSize();
    process.kill(fixture.pid, 'SIGSTOP');
    try {
      const offsets = ENGINES.map(([, engine]) => {
        const opener = { label: 'fixture', pid: fixture.pid, named: true, open: () => new LiveSource(info, pageSize, false, null, engine.liveRegions, 2) };
        const c = collect([opener], { pageSize, settings: DEFAULT_KSM_SETTINGS, engine, keepPageOffsets: true });
        return Array.from((c.index.pageOffset as Uint32Array).subarray(0, c.index.length));
      });
      expect(offsets[0]?.length).toBeGreaterThan(8000);
      expect(offsets[1]).toEqual(offsets[0]);
    } finally {
      process.kill(fixture.pid, 'SIGCONT');
      await fixture.stop();
    }
  });
});

describe('a sampled snapshot', () => {
  it('records the volatile pages (flag 16, header volatility), and report of it leaves them out as scan does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'samepage-volatile-snap-'));
    const fixtures = [await startPagefill(['merge:any', 'nothp', 'anon:1500:seq=1', 'churn:1000:2:100']), await startPagefill(['merge:any', 'nothp', 'anon:1500:seq=1', 'churn:1000:2:100'])];
    try {
      const pids = fixtures.flatMap((f) => ['--pid', String(f.pid)]);
      const file = join(dir, 'sampled.snap');
      const snap = await runSamepage(['snapshot', '--no-progress', '--interval', '1', '-o', file, ...pids]);
      expect(snap.code, snap.stderr).toBe(0);
      const run = await runSamepage(['report', file, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as Report;
      const v = report.volatility;
      expect(v?.sampled).toBe(true);
      expect(v?.intervalSeconds).toBe(1);
      for (const row of v?.byProcess ?? []) expect(row.volatilePages).toBeGreaterThanOrEqual(1000);
      // The still half merges (1,500 pages freed, give or take the processes' own few), the churning half does not.
      expect(report.estimate.ramFreedPages).toBeGreaterThanOrEqual(1500);
      expect(report.estimate.ramFreedPages).toBeLessThan(1600);
      // How many churning pages match at one instant depends on both processes being read within
      // one 100 ms epoch, which a loaded machine does not promise: only the order is certain.
      expect(v?.oneInstant?.estimate.ramFreedPages).toBeGreaterThanOrEqual(report.estimate.ramFreedPages);
    } finally {
      await Promise.all(fixtures.map((f) => f.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
