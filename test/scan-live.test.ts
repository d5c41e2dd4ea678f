// The live scan on real processes of known content: selection, the report object, and the
// rendered table (the object first, the text second).
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from './support/fixtures.js';
import { pidArgs, runSamepage, scanJson } from './support/samepage.js';
import { renderTable } from '../src/reporters/table.js';
import { systemPageSize } from '../src/util/system.js';

afterAll(stopAllFixtures);

describe('samepage scan on live processes', () => {
  it('finds duplicates within and across processes, by mapping type', async () => {
    const a = await startPagefill(['anon:100:seq=11', 'anon:50:byte=7', 'untouched:1000', 'readonly:30', 'shared:20:seq=11']);
    const b = await startPagefill(['anon:100:seq=11', 'anon:10:uniq']);
    const { report } = await scanJson([...pidArgs([a.pid, b.pid]), '--use-zero-pages', '0']);

    expect(report.schemaVersion).toBe(1);
    expect(report.processes.map((p) => p.pid).sort()).toEqual([a.pid, b.pid].sort());
    const anon = report.byKind.find((k) => k.kind === 'anon');
    const shmem = report.byKind.find((k) => k.kind === 'shmem');
    // 100 seq pages in b repeat a's (across); 49 of a's 50 identical pages repeat within a.
    // The first 20 seq pages also sit in a's shared memory: which copy counts as the original
    // depends on frame order, so those 20 may be counted under either type.
    expect(anon?.dupAcrossProcesses).toBeGreaterThanOrEqual(80);
    expect(anon?.dupWithinProcess).toBeGreaterThanOrEqual(49);
    const dups = (k: typeof anon) => (k?.dupAcrossProcesses ?? 0) + (k?.dupWithinProcess ?? 0);
    expect(dups(anon) + dups(shmem)).toBeGreaterThanOrEqual(100 + 49 + 20);
    // Never-touched pages are not resident; read-only ones map the zero page and are not merged.
    expect(report.totals.zeroPageMappings).toBeGreaterThanOrEqual(30);
    expect(anon?.virtualPages).toBeGreaterThanOrEqual(1000 + 30 + 150);
    // MAP_SHARED memory equal to anonymous pages: identical content, but KSM never touches it.
    expect(shmem?.residentPages).toBe(20);
    expect(shmem?.ksmSaveablePages).toBe(0);
    // 100 cross-process pairs and 50 identical pages (one KSM page left of them).
    expect(report.estimate.ramFreedPages).toBeGreaterThanOrEqual(100 + 49);
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
    const parent = await startPagefill(['anon:2000:seq=3', 'fork:2']);
    // Pages mapped once, and page-cache pages (which the native reader reads with process_vm_readv).
    const single = await startPagefill(['anon:2000:uniq', 'readonly:100', 'filepriv:300:seq=5']);
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
    // One frame mapped three times: KSM would not merge it with itself, so nothing is freed.
    expect(first.report.estimate.ramFreedPages).toBeLessThan(100);
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
