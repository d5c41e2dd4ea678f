// How the report shares figures out among processes and mapping types, on real processes:
// identical processes get identical figures, a frame shared by fork is already shared and not a
// duplicate, and each mapping type's virtual size holds its resident pages. (The rules:
// docs/estimate.md, "Who gets what".)
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { pidArgs, scanJson } from '../support/samepage.js';

afterAll(stopAllFixtures);

describe('attribution', () => {
  it('gives three identical processes identical figures, and puts virtual and resident sizes under the same type', async () => {
    // Three separate processes (not forked: no frame in common but their libraries' pages), each
    // with 2000 pages that the others hold too, 10 contents 30 times each, and 200 private
    // copies of a file's pages.
    const ops = ['nothp', 'anon:2000:seq=31', 'anon:300:cycle=32,10', 'filepriv:200:seq=33'];
    const fills = [await startPagefill(ops), await startPagefill(ops), await startPagefill(ops)];
    const { report } = await scanJson([...pidArgs(fills.map((f) => f.pid)), '--use-zero-pages', '0', '--max-page-sharing', '256']);
    expect(report.host.pfnsVisible).toBe(true);
    const rows = report.processes;
    expect(rows).toHaveLength(3);
    const ps = report.host.pageSize;
    // Each content the three hold once each (2000 + 200 of them): 2 duplicates, 2/3 of a page
    // each; each of the 10 held 30 times by each: 29 within each, and 2/3 across.
    for (const p of rows) {
      expect(p.dupAcrossProcesses).toBeGreaterThanOrEqual(((2000 + 200 + 10) * 2) / 3 - 0.01);
      expect(p.dupWithinProcess).toBeGreaterThanOrEqual(10 * 29);
      expect(p.ramFreedBytes).toBeGreaterThanOrEqual((((2000 + 200) * 2) / 3 + (10 * (90 - 1)) / 3) * ps - 1);
    }
    // The pages every pagefill has (stack, heap, libc's data) may differ by a few between the
    // three; with "whichever frame comes first" they differed by hundreds (issue 15).
    const spread = (f: (p: (typeof rows)[number]) => number) => Math.max(...rows.map(f)) - Math.min(...rows.map(f));
    expect(spread((p) => p.dupAcrossProcesses)).toBeLessThanOrEqual(8);
    expect(spread((p) => p.ramFreedBytes / ps)).toBeLessThanOrEqual(8);
    expect(spread((p) => p.ksm_merging_pages)).toBeLessThanOrEqual(8);
    // Totals are distinct frames, whatever the split: the shares add up to them.
    const sum = (f: (p: (typeof rows)[number]) => number) => rows.reduce((n, p) => n + f(p), 0);
    expect(Math.abs(sum((p) => p.ramFreedBytes) - report.estimate.ramFreedBytes)).toBeLessThanOrEqual(rows.length);
    expect(sum((p) => p.dupAcrossProcesses + p.dupWithinProcess)).toBeCloseTo(
      report.byKind.reduce((n, k) => n + k.dupAcrossProcesses + k.dupWithinProcess, 0),
      1,
    );
    // Virtual and resident under the same type: a private file mapping (the program's and libc's
    // data, the filepriv file) has page-cache pages (file) and written copies (file-private-copy).
    for (const k of report.byKind) expect(k.virtualPages, k.kind).toBeGreaterThanOrEqual(k.residentPages);
    const file = report.byKind.find((k) => k.kind === 'file');
    const copies = report.byKind.find((k) => k.kind === 'file-private-copy');
    expect(file?.residentPages).toBeGreaterThan(0);
    expect(copies?.residentPages).toBeGreaterThanOrEqual(3 * 200);
    expect(copies?.ksmSaveablePages).toBeGreaterThanOrEqual(2 * 200);
    // Library pages mapped by all three are one frame each: already shared, not duplicates.
    expect(file?.alreadySharedPages).toBeGreaterThan(0);
    expect((file?.dupAcrossProcesses ?? 0) + (file?.dupWithinProcess ?? 0)).toBeLessThan(file?.alreadySharedPages ?? 0);
    expect(report.totals.virtualPages).toBe(sum((p) => p.virtualPages));
  });

  it('counts frames shared by fork as already shared, never as duplicates', async () => {
    // 1000 pages of the parent, mapped by it and its two children: 1000 frames, 3000 mappings.
    const parent = await startPagefill(['nothp', 'anon:1000:seq=41', 'fork:2']);
    const pids = [parent.pid, ...parent.childPids];
    const { report } = await scanJson([...pidArgs(pids), '--use-zero-pages', '0']);
    expect(report.host.pfnsVisible).toBe(true);
    const anon = report.byKind.find((k) => k.kind === 'anon');
    // Each frame's three mappings: one frame, two already shared (2/3 in each process).
    expect(anon?.alreadySharedPages).toBeGreaterThanOrEqual(2 * 1000);
    for (const p of report.processes) expect(p.alreadySharedPages).toBeGreaterThanOrEqual((2 * 1000) / 3);
    // What the children wrote since the fork (their stacks) is all that may be a duplicate:
    // far fewer than the 2000 the shared pages would have made.
    const dups = report.processes.reduce((n, p) => n + p.dupAcrossProcesses + p.dupWithinProcess, 0);
    expect(dups).toBeLessThan(100);
    // KSM never merges a page with itself: the shared frames free nothing.
    expect(report.estimate.ramFreedPages).toBeLessThan(100);
  });
});
