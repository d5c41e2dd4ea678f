// The snapshot format as docs/estimate.md and src/snapshot/snapshot-format.ts describe it, on
// files written from that description (test/support/snapshot-file.ts), not by samepage: what
// `samepage report` finds in the page and frame records, every 1 MiB block checked, and a
// header checked even when every checksum holds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSamepage } from '../support/samepage.js';
import {
  MiB,
  PAGE_ANON,
  PAGE_EXCLUSIVE,
  PAGE_HUGE,
  PAGE_NO_PHYS,
  ZERO_CONTENT,
  blockOf,
  flipped,
  layoutOf,
  syntheticSnapshot,
  type SyntheticPage,
  type SyntheticSnapshot,
} from '../support/snapshot-file.js';
import { SnapshotFile } from '../../src/snapshot/snapshot-source.js';
import { chooseEngine } from '../../src/engine/choose-engine.js';
import { UserError } from '../../src/util/errors.js';
import { systemPageSize } from '../../src/util/system.js';
import type { Report } from '../../src/report/report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-snapshot-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pageSize = systemPageSize();
const X = 7;

/**
 * Two processes. alpha: 10000 pages of content X, each in its own frame, and 59000 unique pages.
 * beta: 1000 mappings of X, all of one frame (shared by fork), which a frame record says is
 * mapped `mapCount` times. 70000 page records: more than one 1 MiB checksum block.
 */
function twoProcesses(opts: { pfnsVisible: boolean; mapCount?: number }): SyntheticSnapshot {
  const own = (pfn: number): Pick<SyntheticPage, 'pfn' | 'flags'> => (opts.pfnsVisible ? { pfn, flags: PAGE_ANON | PAGE_EXCLUSIVE } : { pfn: 0, flags: PAGE_ANON | PAGE_NO_PHYS });
  const alpha: SyntheticPage[] = [];
  for (let i = 0; i < 10000; i++) alpha.push({ content: X, ...own(0x10000 + i) });
  for (let i = 0; i < 59000; i++) alpha.push({ content: 1000 + i, ...own(0x40000 + i) });
  const shared = 0x90000;
  const beta: SyntheticPage[] = Array.from({ length: 1000 }, () => (opts.pfnsVisible ? { content: X, pfn: shared, flags: PAGE_ANON } : { content: X, pfn: 0, flags: PAGE_ANON | PAGE_NO_PHYS }));
  return {
    pageSize,
    pfnsVisible: opts.pfnsVisible,
    processes: [
      { pid: 101, command: 'alpha', pages: alpha },
      { pid: 102, command: 'beta', pages: beta },
    ],
    frames: opts.pfnsVisible ? [{ pfn: shared, mapCount: opts.mapCount ?? 1000, flags: 0 }] : [],
  };
}

/** Each process's share of the RAM freed, in pages: the report gives it to the byte. */
function expectFreedShares(r: Report, pages: number[]): void {
  expect(r.processes.map((p) => p.pid)).toEqual([101, 102]);
  r.processes.forEach((p, i) => expect(Math.abs(p.ramFreedBytes - (pages[i] ?? NaN) * pageSize)).toBeLessThanOrEqual(0.5));
}

let n = 0;
function write(bytes: Buffer): string {
  const file = join(dir, `s${n++}.snap`);
  writeFileSync(file, bytes);
  return file;
}

async function report(file: string, ...args: string[]): Promise<Report> {
  const r = await runSamepage(['report', file, '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** The UserError's message when `samepage report` opens the file (as report-command.ts opens it). */
function openError(file: string): string {
  try {
    new SnapshotFile(file, file, chooseEngine().hasher).release();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error(`${file} was opened`);
}

const UNLIMITED = ['--max-page-sharing', '2147483647'];

describe('a snapshot written from the format description', () => {
  it('is read whole: processes, regions, the layout of records, frames, table and trailer', async () => {
    const bytes = syntheticSnapshot(twoProcesses({ pfnsVisible: true }));
    const l = layoutOf(bytes);
    expect(l.header).toMatchObject({ pageRecords: 70000, frameRecords: 1 });
    expect(l.table).toBeGreaterThan(MiB); // two checksum blocks
    const r = await report(write(bytes), ...UNLIMITED);
    expect(r.processes.map((p) => [p.pid, p.command, p.origin, p.residentPages, p.anonPages])).toEqual([
      [101, 'alpha', 'snapshot', 69000, 69000],
      [102, 'beta', 'snapshot', 1000, 1000],
    ]);
    expect(r.totals).toMatchObject({ processes: 2, regions: 2, residentPages: 70000, distinctContents: 59001 });
    expect(r.inputs).toEqual([expect.objectContaining({ kind: 'snapshot', createdAt: '2026-01-02T03:04:05.678Z', kernel: '6.1.0-synthetic' })]);
  });

  it("frames decide what KSM frees: 10001 frames hold X, so 10000 are freed; beta's one frame, once", async () => {
    const r = await report(write(syntheticSnapshot(twoProcesses({ pfnsVisible: true }))), ...UNLIMITED);
    expect(r.host.pfnsVisible).toBe(true);
    expect(r.estimate.ramFreedPages).toBe(10000);
    expect(r.estimate.counters).toMatchObject({ pages_shared: 1, pages_sharing: 10999, pages_unshared: 59000 });
    expect(r.processes.map((p) => [p.pid, p.ksm_merging_pages])).toEqual([
      [101, 10000],
      [102, 1000],
    ]);
    // The 10000 frames freed are split equally among the 11000 mappings that merge.
    expectFreedShares(r, [(10000 * 10000) / 11000, (1000 * 10000) / 11000]);
  });

  it("a frame mapped outside the snapshot too (mapcount above the mappings seen) is never freed: it stays, as the KSM page", async () => {
    const r = await report(write(syntheticSnapshot(twoProcesses({ pfnsVisible: true, mapCount: 1001 }))), ...UNLIMITED);
    expect(r.estimate.ramFreedPages).toBe(10000);
    expectFreedShares(r, [(10000 * 10000) / 11000, (1000 * 10000) / 11000]);
  });

  it('without frame numbers every mapping counts as a frame of its own: the upper bound', async () => {
    const r = await report(write(syntheticSnapshot(twoProcesses({ pfnsVisible: false }))), ...UNLIMITED);
    expect(r.host.pfnsVisible).toBe(false);
    expect(r.estimate.ramFreedPages).toBe(10999);
    expectFreedShares(r, [(10000 * 10999) / 11000, (1000 * 10999) / 11000]);
  });

  it("max_page_sharing, from the header's KSM settings or the flag: 11000 mappings need 43 KSM pages of 256", async () => {
    const file = write(syntheticSnapshot(twoProcesses({ pfnsVisible: true })));
    const r = await report(file);
    expect(r.ksm.maxPageSharing).toBe(256);
    expect(r.estimate.counters).toMatchObject({ pages_shared: 43, pages_sharing: 11000 - 43 });
    expect(r.estimate.ramFreedPages).toBe(10001 - 43);
    expect((await report(file, '--max-page-sharing', '1000')).estimate.counters.pages_shared).toBe(11);
  });
});

describe('every byte is checked, before anything in the file is believed', () => {
  const bytes = syntheticSnapshot(twoProcesses({ pfnsVisible: true }));
  const l = layoutOf(bytes);
  const cases: Array<[string, Buffer, string | RegExp]> = [
    ['a page record in the first block', flipped(bytes, l.records + 16 * 100 + 2), `corrupt: checksum mismatch in ${blockOf(0, l.table)}`],
    ['a page record in the second block', flipped(bytes, MiB + 5), `corrupt: checksum mismatch in ${blockOf(MiB + 5, l.table)}`],
    ['the frame record', flipped(bytes, l.frames + 9), `corrupt: checksum mismatch in ${blockOf(l.frames + 9, l.table)}`],
    ['the header', flipped(bytes, 20), `corrupt: checksum mismatch in ${blockOf(0, l.table)}`],
    ['the checksum table', flipped(bytes, l.table + 8), /^corrupt: checksum mismatch in the checksum table/],
    ["the trailer's table offset", flipped(bytes, l.trailer), /^corrupt: the trailer puts the checksum table at byte \d+, which does not fit the file's \d+ bytes/],
    ["the trailer's checksum", flipped(bytes, l.trailer + 8), /^corrupt: checksum mismatch in the checksum table/],
    ["the trailer's magic", flipped(bytes, bytes.length - 1), /^corrupt or truncated: it does not end with a snapshot trailer/],
    ['a checksum left out of the table', Buffer.concat([bytes.subarray(0, l.trailer - 8), bytes.subarray(l.trailer)]), /^corrupt: the trailer puts the checksum table/],
  ];
  it.each(cases)('%s', (_what, content, message) => {
    const file = write(content);
    const problem = openError(file);
    expect(problem.startsWith(`${file}: `), problem).toBe(true);
    if (typeof message === 'string') expect(problem).toContain(message);
    else expect(problem.slice(file.length + 2)).toMatch(message);
  });

  it('and the command says so: exit 2, one line naming the file, nothing on standard output', async () => {
    const file = write(flipped(bytes, MiB + 5));
    const r = await runSamepage(['report', file, '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`samepage: ${file}: corrupt: checksum mismatch in ${blockOf(MiB + 5, l.table)}\n`);
  });
});

describe('a header is checked even when every checksum holds', () => {
  const cases: Array<[string, (h: Record<string, unknown>) => void, RegExp]> = [
    ['more frame records than the file holds', (h) => (h['frameRecords'] = 2), /^corrupt header: its records would end at byte \d+, the checksum table starts at \d+$/],
    ['a page record count other than the regions say', (h) => (h['pageRecords'] = 69999), /^corrupt header \(page counts do not add up\)$/],
    ['regions whose pages do not add up to the records', (h) => ((h['processes'] as Array<{ regions: Array<{ pages: number }> }>)[1]!.regions[0]!.pages = 999), /^corrupt header \(page counts do not add up\)$/],
    ['a page size that is no power of two', (h) => ((h['host'] as { pageSize: number }).pageSize = 3000), /^corrupt header \(page size\)$/],
    ['a region of a kind samepage does not know', (h) => ((h['processes'] as Array<{ regions: Array<{ kind: string }> }>)[0]!.regions[0]!.kind = 'gpu'), /^corrupt header \(a region\)$/],
    ['more failed regions than skipped ones', (h) => ((h['processes'] as Array<{ regionsFailed: number }>)[0]!.regionsFailed = 1), /^corrupt header \(a process\)$/],
    ['a skip of a kind samepage does not know', (h) => (h['skipped'] = [{ pid: 5, source: 'pid 5', reason: 'x', permissionDenied: false, kind: 'vanished', affectsExit: false }]), /^corrupt header \(a skipped source\)$/],
    ['KSM settings out of range', (h) => ((h['ksm'] as { maxPageSharing: number }).maxPageSharing = 1), /^corrupt header \(KSM settings\)$/],
    ['a format in the header other than the magic says', (h) => (h['format'] = 3), /^snapshot format 3 is not supported/],
    ['a creation time that is no time', (h) => (h['createdAt'] = 'yesterday'), /^corrupt header \(creation time\)$/],
  ];
  it.each(cases)('%s', (_what, lie, message) => {
    const file = write(syntheticSnapshot({ ...twoProcesses({ pfnsVisible: false }), headerOverride: lie }));
    const problem = openError(file);
    expect(problem.startsWith(`${file}: `), problem).toBe(true);
    expect(problem.slice(file.length + 2)).toMatch(message);
  });
});

describe('huge pages in a snapshot', () => {
  /**
   * One process: a huge page (frames 0x200-0x3ff, PAGE_HUGE) of 128 contents a second process
   * holds too, 256 unique contents and 128 zero-filled subpages.
   */
  function withHugePage(thp: Record<string, unknown> | undefined): string {
    const huge: SyntheticPage[] = [];
    for (let i = 0; i < 512; i++) {
      const content = i < 128 ? 10 + i : i < 384 ? 5000 + i : ZERO_CONTENT;
      huge.push({ content, pfn: 0x200 + i, flags: PAGE_ANON | PAGE_EXCLUSIVE | PAGE_HUGE });
    }
    const small: SyntheticPage[] = Array.from({ length: 128 }, (_, i) => ({ content: 10 + i, pfn: 0x10000 + i, flags: PAGE_ANON | PAGE_EXCLUSIVE }));
    return write(
      syntheticSnapshot({
        pageSize,
        pfnsVisible: true,
        processes: [
          { pid: 201, command: 'huge', pages: huge },
          { pid: 202, command: 'small', pages: small },
        ],
        headerOverride: (h) => {
          if (thp !== undefined) h['thp'] = thp;
        },
      }),
    );
  }

  it('recorded huge pages and a 6.12+ kernel: the split frees the zero-filled subpages, uncounted', async () => {
    const r = await report(withHugePage({ split: 'zero-subpages-freed', basis: 'probe', kernel: '6.18.1', verified: true, hugePagesKnown: true }));
    expect(r.thp).toMatchObject({ splitBehaviour: 'zero-subpages-freed', hugePagesKnown: true, residentPages: 512, verified: true });
    expect(r.thp.scopes[0]).toEqual({ scope: 'enable-all', hugePagesSplit: 1, ramFreedInHugePagesBytes: 128 * pageSize, zeroSubpagesFreedBySplit: 128 });
    expect(r.estimate.counters.pages_sharing).toBe(128);
    expect(r.estimate.ramFreedPages).toBe(128 + 128);
  });

  it('a snapshot from before huge pages were recorded: not known, the behaviour by its kernel release, and a caveat', async () => {
    const r = await report(withHugePage(undefined));
    // Its kernel, 6.1, kept zero-filled subpages; PAGE_HUGE alone (a record from elsewhere) still marks the pages.
    expect(r.thp).toMatchObject({ splitBehaviour: 'zero-subpages-kept', basis: 'kernel-version', kernel: '6.1.0-synthetic', hugePagesKnown: false, verified: false });
    expect(r.caveats.join(' ')).toMatch(/transparent huge pages was not known/);
    expect(r.estimate.counters.pages_sharing).toBe(128 + 127);
  });

  it('a thp header field of the wrong shape is refused', () => {
    expect(openError(withHugePage({ split: 'sometimes', basis: 'probe', kernel: null, verified: true, hugePagesKnown: true }))).toMatch(/corrupt header \(huge pages\)/);
  });
});
