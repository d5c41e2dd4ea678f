// The live scan on real processes of known content: selection, the report object, and the
// rendered table (the object first, the text second).
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { pidArgs, runSamepage, scanJson } from '../support/samepage.js';
import { zeroPageProbe } from '../support/zero-page.js';
import { renderTable } from '../../src/reporters/table.js';
import { systemPageSize } from '../../src/util/system.js';

afterAll(stopAllFixtures);

describe('samepage scan on live processes', () => {
  it('finds duplicates within and across processes, by mapping type', async () => {
    const { readFaultMapsZeroPage: zeroPage } = await zeroPageProbe();
    // nothp: the 30 read pages share one VMA with the 1000 untouched ones, and with THP
    // enabled=always a read there could fill a whole 2 MiB page (or map the huge zero page),
    // depending on where the region landed. b reads no memory, and has the pages every
    // pagefill has (libc, stack, heap) as a does: the control for them.
    const a = await startPagefill(['nothp', 'anon:100:seq=11', 'anon:50:byte=7', 'untouched:1000', 'readonly:30', 'shared:20:seq=11']);
    const b = await startPagefill(['nothp', 'anon:100:seq=11', 'anon:10:uniq']);
    const { report } = await scanJson([...pidArgs([a.pid, b.pid]), '--use-zero-pages', '0']);

    expect(report.schemaVersion).toBe(2);
    expect(report.processes.map((p) => p.pid).sort()).toEqual([a.pid, b.pid].sort());
    const anon = report.byKind.find((k) => k.kind === 'anon');
    const shmem = report.byKind.find((k) => k.kind === 'shmem');
    const rowA = report.processes.find((p) => p.pid === a.pid);
    const rowB = report.processes.find((p) => p.pid === b.pid);
    if (rowA === undefined || rowB === undefined) throw new Error('a fixture is missing from the report');
    // 100 seq pages in b repeat a's (across); 49 of a's 50 identical pages repeat within a.
    // The first 20 seq pages also sit in a's shared memory: a holds two frames of each, one
    // within and half of one across, shared between its anonymous and shared mappings
    // (docs/estimate.md, section 9): 80 + 20 x 3/4 across in anonymous memory.
    expect(anon?.dupAcrossProcesses).toBeGreaterThanOrEqual(80);
    expect(anon?.dupWithinProcess).toBeGreaterThanOrEqual(49);
    const dups = (k: typeof anon) => (k?.dupAcrossProcesses ?? 0) + (k?.dupWithinProcess ?? 0);
    expect(dups(anon) + dups(shmem)).toBeGreaterThanOrEqual(100 + 49 + 20);
    // Never-touched pages are not resident; the 30 read ones are, with zero-filled content, and
    // only they tell a from b. With the zero page they map it and KSM leaves them alone; without
    // it (test/support/zero-page.ts) they are 30 zero-filled frames, which KSM would merge into
    // one KSM page: 29 more frames freed, 30 more pages tracked.
    expect(rowA.zeroPages - rowB.zeroPages).toBe(30);
    if (zeroPage) expect(report.totals.zeroPageMappings).toBeGreaterThanOrEqual(30);
    else expect(report.totals.zeroPageMappings).toBe(0);
    // Every anonymous page here lies in a VMA KSM accepts: it tracks all but the zero page's.
    expect(report.totals.anonPages - report.totals.eligiblePages).toBe(report.totals.zeroPageMappings);
    expect(anon?.virtualPages).toBeGreaterThanOrEqual(1000 + 30 + 150);
    // MAP_SHARED memory equal to anonymous pages: identical content, but KSM never touches it.
    expect(shmem?.residentPages).toBe(20);
    expect(shmem?.ksmSaveablePages).toBe(0);
    // 100 cross-process pairs and 50 identical pages (one KSM page left of them), and the read
    // pages when they are frames of their own. The pages every pagefill has may add a few: at
    // most one frame each.
    const readOnlyFreed = zeroPage ? 0 : 30 - 1;
    const fixtureEligible = 100 + 50 + (zeroPage ? 0 : 30) + 100 + 10;
    const otherEligible = report.totals.eligiblePages - fixtureEligible;
    expect(otherEligible).toBeGreaterThanOrEqual(0);
    expect(report.estimate.ramFreedPages).toBeGreaterThanOrEqual(100 + 49 + readOnlyFreed);
    expect(report.estimate.ramFreedPages).toBeLessThanOrEqual(100 + 49 + readOnlyFreed + otherEligible);
    expect(rowA.ksm_merging_pages).toBeGreaterThanOrEqual(100 + 50 + (zeroPage ? 0 : 30));
    expect(report.estimate.naiveDuplicateBytes).toBeGreaterThan(report.estimate.ramFreedBytes);

    const text = renderTable(report);
    expect(text).toMatch(/If KSM were enabled for these processes/);
    expect(text).toMatch(/RAM freed/);
    expect(text).toMatch(/pages_sharing/);
    expect(text).toMatch(/By mapping type/);
    expect(text).toMatch(/shared memory/);
    expect(text).toContain(String(a.pid));
  });

  it('leaves the target as it was: pages shared by fork stay shared, no page moves', async () => {
    const { readFaultMapsZeroPage: zeroPage } = await zeroPageProbe();
    const parent = await startPagefill(['anon:2000:seq=3', 'fork:2']);
    // Pages mapped once, and page-cache pages (which the native reader reads with process_vm_readv).
    // nothp: with THP enabled=always, khugepaged could collapse the read pages and their
    // neighbours into a huge page between two looks, and every one of those pages would move.
    const single = await startPagefill(['nothp', 'anon:2000:uniq', 'readonly:100', 'filepriv:300:seq=5']);
    // Huge pages shared with a child that wrote one page of the first: pagemap calls every page
    // of it "mapped once" in the parent, yet a pin would split it and copy 511 pages.
    const huge = await startPagefill(['huge:2:seq=11', 'fork:1', 'childpoke']);
    const pids = [parent.pid, ...parent.childPids, single.pid, huge.pid, ...huge.childPids];
    const rollup = (field: string) => pids.map((p) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${p}/smaps_rollup`, 'latin1'))?.[1]));
    const memory = () => [...rollup('Pss_Anon'), ...rollup('AnonHugePages')];
    const before = memory();
    const framesBefore = pids.map(residentFrames);
    const first = await scanJson(pidArgs(pids));
    const second = await scanJson(pidArgs(pids));
    expect(memory()).toEqual(before);
    expect(pids.map(residentFrames)).toEqual(framesBefore);
    // One frame mapped three times: KSM would not merge it with itself, so nothing is freed
    // there (nor in the huge pages, shared or written). The 100 read pages free nothing with the
    // zero page; without it they are 100 zero-filled frames of single's, which KSM would merge
    // into one KSM page: 99 frames freed, single's and anonymous. The rest is the pages every
    // pagefill has, a few of them alike across processes: fewer than 100.
    const readOnlyFreed = zeroPage ? 0 : 100 - 1;
    const { estimate } = first.report;
    expect(estimate.ramFreedPages).toBeGreaterThanOrEqual(readOnlyFreed);
    expect(estimate.ramFreedPages - readOnlyFreed).toBeLessThan(100);
    const pageSize = first.report.host.pageSize;
    expect((first.report.processes.find((p) => p.pid === single.pid)?.ramFreedBytes ?? -1) / pageSize).toBeGreaterThanOrEqual(readOnlyFreed);
    expect(first.report.byKind.find((k) => k.kind === 'anon')?.ksmSaveablePages).toBeGreaterThanOrEqual(readOnlyFreed);
    if (zeroPage) expect(first.report.totals.zeroPageMappings).toBeGreaterThanOrEqual(100);
    else expect(first.report.totals.zeroPageMappings).toBe(0);
    expect(second.report.estimate).toEqual(first.report.estimate);
  });

  it('selects by --name and by --tree', async () => {
    const parent = await startPagefill(['anon:4:seq=1', 'fork:2']);
    const tree = await scanJson(['--tree', String(parent.pid)]);
    expect(tree.report.processes.map((p) => p.pid).sort()).toEqual([parent.pid, ...parent.childPids].sort());
    const byName = await scanJson(['--name', '^pagefill$']);
    for (const pid of [parent.pid, ...parent.childPids]) expect(byName.report.processes.map((p) => p.pid)).toContain(pid);
  });

  it('prints a table by default, with no progress bar when stderr is not a terminal', async () => {
    const a = await startPagefill(['anon:8:seq=1']);
    const run = await runSamepage(['scan', '--pid', String(a.pid)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^samepage: 1 process, /);
    expect(run.stderr).toBe('');
  });
});

/** Every present page of the process as "address:PFN", from /proc/PID/maps and pagemap. */
function residentFrames(pid: number): string[] {
  const pageSize = systemPageSize();
  const out: string[] = [];
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(line);
      if (m === null || line.endsWith('[vsyscall]')) continue;
      const first = parseInt(m[1] as string, 16) / pageSize;
      const pages = parseInt(m[2] as string, 16) / pageSize - first;
      const entries = Buffer.alloc(pages * 8);
      readSync(fd, entries, 0, entries.length, first * 8);
      for (let i = 0; i < pages; i++) {
        const e = entries.readBigUInt64LE(i * 8);
        if (e >> 63n) out.push(`${(first + i).toString(16)}:${e & ((1n << 55n) - 1n)}`);
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
