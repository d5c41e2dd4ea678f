// Smoke test of the test harness against the real kernel: pagefill processes with known
// pages, merged by the real KSM. The logged counters double as evidence of how the kernel
// counts (incidental pages of a tiny C process, zero pages, fork-shared pages, chains).
//
// Other mergeable processes on the machine (a browser started with PR_SET_MEMORY_MERGE, say)
// are scanned too and show up in the global counters: exact global checks are made only when
// there are none (r.otherMergeablePids); the per-process checks hold either way.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fixture } from '../support/fixtures.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import type { KsmOptions, KsmResult, KsmSettings } from '../support/ksm.js';
import { holdKsmLock, KSM_LOCK_FILE, readGlobal, readKsmSettings, readThpEnabled, withKsm } from '../support/ksm.js';
import { zeroPageProbe } from '../support/zero-page.js';

/** Starts one pagefill per ops list inside a KSM session, merges, logs, stops them. */
async function merge(label: string, opts: KsmOptions, opsList: string[][]): Promise<{ r: KsmResult; fx: Fixture[] }> {
  return withKsm(opts, async (ksm) => {
    const fx: Fixture[] = [];
    try {
      for (const ops of opsList) fx.push(await startPagefill(ops));
      const pids = fx.flatMap((f) => [f.pid, ...f.childPids]);
      const r = await ksm.runToConvergence(pids);
      const { global: g } = r;
      if (r.otherMergeablePids.length > 0) {
        console.log(`[${label}] other mergeable processes in the global counters: ${r.otherMergeablePids.join(' ')}`);
      }
      console.log(
        `[${label}] ${r.elapsedMs} ms, ${r.fullScans} full scans | pages_shared ${g.pages_shared} ` +
          `pages_sharing ${g.pages_sharing} pages_unshared ${g.pages_unshared} pages_volatile ${g.pages_volatile} ` +
          `ksm_zero_pages ${g.ksm_zero_pages} general_profit ${g.general_profit} ` +
          `stable_node_chains ${g.stable_node_chains} stable_node_dups ${g.stable_node_dups} ` +
          `(use_zero_pages ${g.use_zero_pages}, max_page_sharing ${g.max_page_sharing}) | Pss_Anon drop ${r.pssAnonDropKb} kB`,
      );
      for (const p of r.processes) {
        console.log(
          `[${label}]   pid ${p.pid}: rmap_items ${p.ksm_rmap_items} merging_pages ${p.ksm_merging_pages} ` +
            `zero_pages ${p.ksm_zero_pages} process_profit ${p.ksm_process_profit} merge_any ${p.ksm_merge_any} ` +
            `mergeable ${p.ksm_mergeable} | Pss_Anon ${p.pssAnonBeforeKb} -> ${p.pssAnonAfterKb} kB`,
        );
      }
      return { r, fx };
    } finally {
      await Promise.all(fx.map((f) => f.stop()));
    }
  });
}

const sum = (r: KsmResult, key: 'ksm_merging_pages' | 'ksm_zero_pages'): number =>
  r.processes.reduce((s, p) => s + p[key], 0);

/** Global counters are ours alone only when KSM scanned nothing else. */
const alone = (r: KsmResult): boolean => r.otherMergeablePids.length === 0;

/** Reads the KSM settings while no session (of any test run) can be changing them. */
async function settingsAtRest(): Promise<KsmSettings> {
  const release = await holdKsmLock();
  try {
    return await readKsmSettings();
  } finally {
    await release();
  }
}

describe('KSM harness against the real kernel', () => {
  let before: KsmSettings;

  beforeAll(async () => {
    before = await settingsAtRest();
  });

  afterAll(async () => {
    await stopAllFixtures();
  });

  it('tiny process with merge:any and no data: what merges incidentally', async () => {
    const { r } = await merge('baseline', { useZeroPages: 0 }, [['merge:any'], ['merge:any']]);
    for (const p of r.processes) {
      expect(p.ksm_merge_any).toBe(true);
      expect(p.ksm_mergeable).toBe(true);
      expect(p.ksm_rmap_items).toBeGreaterThan(0);
    }
  });

  it('two processes with the same 64 seq pages merge pairwise', async () => {
    const ops = ['merge:any', 'anon:64:seq=7'];
    const { r } = await merge('seq=7 x2', { useZeroPages: 0 }, [ops, ops]);
    if (alone(r)) {
      expect(r.global.pages_shared).toBeGreaterThanOrEqual(64);
      expect(r.global.pages_sharing).toBeGreaterThanOrEqual(64);
    }
    for (const p of r.processes) expect(p.ksm_merging_pages).toBeGreaterThanOrEqual(64);
    // 64 pages of one of the two copies are freed: 256 kB of Pss_Anon, at least.
    expect(r.pssAnonDropKb).toBeGreaterThanOrEqual(64 * 4 - 8);
  });

  it('300 zero pages, use_zero_pages=0: chained KSM pages of 256 mappings', async () => {
    const { r } = await merge('zero x300, uzp=0', { useZeroPages: 0 }, [['merge:any', 'anon:300:zero']]);
    const [p] = r.processes;
    expect(r.global.use_zero_pages).toBe(0);
    expect(r.global.ksm_zero_pages).toBe(0);
    expect(p?.ksm_merging_pages).toBeGreaterThanOrEqual(300);
    if (alone(r)) {
      // ceil(300 / max_page_sharing 256) = 2 KSM pages of zeros in one chain.
      expect(r.global.pages_shared).toBeGreaterThanOrEqual(2);
      expect(r.global.pages_sharing).toBeGreaterThanOrEqual(298);
      expect(r.global.stable_node_chains).toBeGreaterThanOrEqual(1);
      expect(r.global.stable_node_dups).toBeGreaterThanOrEqual(2);
    }
  });

  it('300 zero pages, use_zero_pages=1: mapped to the zero page, counted in ksm_zero_pages', async () => {
    const { r } = await merge('zero x300, uzp=1', { useZeroPages: 1 }, [['merge:any', 'anon:300:zero']]);
    expect(r.global.use_zero_pages).toBe(1);
    expect(r.global.ksm_zero_pages).toBeGreaterThanOrEqual(300);
    expect(sum(r, 'ksm_zero_pages')).toBeGreaterThanOrEqual(300);
    expect(sum(r, 'ksm_merging_pages')).toBeLessThan(300);
    // The zero page is not counted in Pss at all: the whole 300 pages drop.
    expect(r.pssAnonDropKb).toBeGreaterThanOrEqual(300 * 4);
  });

  it('madvise only: exactly the advised region merges, nothing incidental', async () => {
    const { r } = await merge('madvise only', { useZeroPages: 0 }, [['anon:64:byte=5:madvise', 'anon:64:byte=5']]);
    const [p] = r.processes;
    expect(p?.ksm_merge_any).toBe(false);
    expect(p?.ksm_mergeable).toBe(true);
    expect(p?.ksm_merging_pages).toBe(64);
    expect(p?.ksm_rmap_items).toBe(64);
    if (alone(r)) {
      expect(r.global.pages_shared).toBe(1);
      expect(r.global.pages_sharing).toBe(63);
    }
  });

  it('what does not merge: untouched, zero-page-mapped, MAP_SHARED; what does: file CoW copies', async () => {
    const { readFaultMapsZeroPage: zeroPage } = await zeroPageProbe();
    const ops = ['merge:any', 'untouched:100', 'readonly:100', 'shared:100:byte=9:madvise', 'filepriv:50:byte=3'];
    const { r } = await merge('kinds', { useZeroPages: 0 }, [ops]);
    const [p] = r.processes;
    if (p === undefined) throw new Error('no ksm_stat for the fixture');
    // The 50 private copies of file pages merge into one KSM page. The 100 read pages: with the
    // zero page they map it, and KSM neither merges nor tracks them; without it
    // (test/support/zero-page.ts) they are 100 zero-filled pages of their own, which KSM
    // (use_zero_pages=0) merges into a second KSM page: 100 more rmap_items and merging pages,
    // 99 more pages_sharing.
    const fixture = 50 + (zeroPage ? 0 : 100);
    const ksmPages = zeroPage ? 1 : 2;
    // KSM also tracks the process's own pages (libc, stack, heap): about 26 in a tiny pagefill.
    // Untouched and MAP_SHARED pages are not even tracked: they would add 100 rmap_items each.
    const incidental = p.ksm_rmap_items - fixture;
    expect(incidental).toBeGreaterThanOrEqual(0);
    expect(incidental).toBeLessThan(100);
    // Every fixture page merges; of the others, at most all of them.
    expect(p.ksm_merging_pages).toBeGreaterThanOrEqual(fixture);
    expect(p.ksm_merging_pages - fixture).toBeLessThanOrEqual(incidental);
    expect(p.ksm_zero_pages).toBe(0);
    // Every merged fixture page frees its frame but the KSM pages kept (Pss rounds a few kB off).
    expect(r.pssAnonDropKb).toBeGreaterThanOrEqual((fixture - ksmPages) * 4 - 8);
    if (alone(r)) {
      expect(r.global.pages_shared).toBeGreaterThanOrEqual(ksmPages);
      expect(r.global.pages_sharing).toBeGreaterThanOrEqual(fixture - ksmPages);
      // One process, no fork: every merged page is a KSM page or one of its sharers.
      expect(r.global.pages_shared + r.global.pages_sharing).toBe(p.ksm_merging_pages);
      expect(r.global.ksm_zero_pages).toBe(0);
    }
  });

  it('restores the settings and releases the lock when the callback throws', async () => {
    const boom = withKsm({ useZeroPages: 1, maxPageSharing: 7 }, async () => {
      // The lock is held: nobody else can take it now.
      expect(spawnSync('flock', ['-n', KSM_LOCK_FILE, 'true']).status).toBe(1);
      const g = await readGlobal();
      expect([g.use_zero_pages, g.max_page_sharing]).toEqual([1, 7]);
      throw new Error('boom');
    });
    await expect(boom).rejects.toThrow('boom');
    expect(await settingsAtRest()).toEqual(before);
  });

  it("sets THP's enabled for the session and restores it with KSM's settings when the callback throws", async () => {
    const other = before.thp_enabled === 'always' ? 'madvise' : 'always';
    const boom = withKsm({ useZeroPages: 0, thpEnabled: other }, async () => {
      expect(await readThpEnabled()).toBe(other);
      throw new Error('boom');
    });
    await expect(boom).rejects.toThrow('boom');
    expect(await settingsAtRest()).toEqual(before);
    expect(before.thp_enabled).toBe(await readThpEnabled());
  });

  it('fork-shared pages: one frame per content, every mapping counted in pages_sharing', async () => {
    const ops = ['merge:any', 'anon:32:seq=9', 'anon:64:byte=5', 'fork:2', 'childwrite:16:seq=4'];
    const { r, fx } = await merge('fork', { useZeroPages: 0 }, [ops]);
    expect(fx[0]?.childPids).toHaveLength(2);
    // byte=5: 3 x 64 mappings of one KSM page (1 shared + 191 sharing);
    // childwrite seq=4: 16 KSM pages each mapped by the two children (16 shared + 16 sharing).
    if (alone(r)) expect(r.global.pages_sharing).toBeGreaterThanOrEqual(191 + 16);
    expect(r.processes[0]?.ksm_merging_pages).toBeGreaterThanOrEqual(64);
    for (const p of r.processes.slice(1)) expect(p.ksm_merging_pages).toBeGreaterThanOrEqual(64 + 16);
    // RAM actually freed is far less than pages_sharing says: 63 + 16 pages (+ incidental).
    expect(r.pssAnonDropKb).toBeGreaterThanOrEqual((63 + 16) * 4 - 8);
  });

  it('max_page_sharing 10: 100 identical pages need 10 KSM copies', async () => {
    const { r } = await merge('max_page_sharing 10', { useZeroPages: 0, maxPageSharing: 10 }, [
      ['anon:100:byte=1:madvise'],
    ]);
    expect(r.global.max_page_sharing).toBe(10);
    expect(r.processes[0]?.ksm_merging_pages).toBe(100);
    // 10 copies of the page freed 90 of 100: 360 kB (less a few kB of rounding in Pss).
    expect(r.pssAnonDropKb).toBeGreaterThanOrEqual(90 * 4 - 4);
    if (alone(r)) {
      expect(r.global.pages_shared).toBe(10);
      expect(r.global.pages_sharing).toBe(90);
      expect(r.global.stable_node_chains).toBe(1);
      expect(r.global.stable_node_dups).toBe(10);
    }
  });

  it('leaves every KSM setting as it found it, run included', async () => {
    const after = await settingsAtRest();
    console.log('[settings] before', JSON.stringify(before), 'after', JSON.stringify(after));
    expect(after).toEqual(before);
    expect(after.run).toBe('0');
  });
});
