// samepage export and samepage fleet on snapshots written from the format's description
// (test/support/snapshot-file.ts): the fleet's figures against a reference computed here from
// the pages themselves, the same answer from snapshots and from the Parquet export wrote, and,
// for one host, the content-only figures `samepage report` gives for the same snapshot.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSamepage } from '../support/samepage.js';
import { PAGE_ANON, PAGE_NO_PHYS, syntheticSnapshot, type SyntheticProcess } from '../support/snapshot-file.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { systemPageSize } from '../../src/util/system.js';
import type { FleetReport } from '../../src/fleet/fleet-report.js';
import type { Report } from '../../src/report/report.js';
import { planPlacement } from '../../src/fleet/placement.js';
import { guestOf } from '../../src/fleet/guest.js';
import { uniqueHostNames } from '../../src/fleet/host-naming.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-fleet-'));
afterAll(async () => {
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});
const pageSize = systemPageSize();

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
function proc(pid: number, command: string, contents: number[]): SyntheticProcess {
  return { pid, command, pages: contents.map((content) => ({ content, pfn: 0, flags: PAGE_ANON | PAGE_NO_PHYS })) };
}

/** Three hosts, two of them recorded as "alpha": guests share an image's contents across hosts. */
const HOSTS: Array<{ file: string; hostname: string; processes: SyntheticProcess[] }> = [
  {
    file: 'one.snap',
    hostname: 'alpha',
    processes: [
      proc(100, 'qemu-system-x86_64 -name guest=web1,debug-threads=on', [...range(1, 100), ...range(1000, 10), ...range(1000, 10)]),
      proc(101, 'qemu-system-x86_64 -name db1', [...range(500, 80), ...range(2000, 30)]),
      proc(102, 'bash', range(1, 10)),
    ],
  },
  {
    file: 'two.snap',
    hostname: 'beta',
    processes: [
      proc(200, 'qemu-system-x86_64 -name guest=web2', [...range(1, 100), ...range(3000, 40)]),
      proc(201, 'qemu-system-x86_64 -name guest=db2', [...range(500, 80), ...range(4000, 25)]),
    ],
  },
  {
    file: 'three.snap',
    hostname: 'alpha',
    processes: [proc(300, 'qemu-system-aarch64 -name web3', [...range(1, 60), ...range(5000, 50), ...range(5000, 5)])],
  },
];

/** The fleet's figures from the pages themselves. */
function reference(names: string[]): { intra: number; inter: number; distinct: number; pairs: Map<string, number>; guestPairs: Map<string, number> } {
  const hostSets = HOSTS.map((h) => new Set(h.processes.flatMap((p) => p.pages.map((x) => x.content))));
  const resident = HOSTS.reduce((s, h) => s + h.processes.reduce((t, p) => t + p.pages.length, 0), 0);
  const hostContents = hostSets.reduce((s, set) => s + set.size, 0);
  const all = new Set(hostSets.flatMap((s) => [...s]));
  const pairs = new Map<string, number>();
  for (let i = 0; i < HOSTS.length; i++)
    for (let j = i + 1; j < HOSTS.length; j++) {
      const n = [...(hostSets[i] as Set<number>)].filter((c) => (hostSets[j] as Set<number>).has(c)).length;
      const [a, b] = [names[i] as string, names[j] as string].sort();
      if (n > 0) pairs.set(`${a}|${b}`, n);
    }
  const guests = HOSTS.flatMap((h) => h.processes.filter((p) => p.command.startsWith('qemu')).map((p) => ({ name: /-name (?:guest=)?([^, ]+)/.exec(p.command)?.[1] as string, set: new Set(p.pages.map((x) => x.content)) })));
  const guestPairs = new Map<string, number>();
  for (let i = 0; i < guests.length; i++)
    for (let j = i + 1; j < guests.length; j++) {
      const n = [...(guests[i] as { set: Set<number> }).set].filter((c) => (guests[j] as { set: Set<number> }).set.has(c)).length;
      const [a, b] = [(guests[i] as { name: string }).name, (guests[j] as { name: string }).name].sort();
      if (n > 0) guestPairs.set(`${a}|${b}`, n);
    }
  return { intra: resident - hostContents, inter: hostContents - all.size, distinct: all.size, pairs, guestPairs };
}

function writeHosts(): string[] {
  return HOSTS.map((h) => {
    const file = join(dir, h.file);
    writeFileSync(file, syntheticSnapshot({ processes: h.processes, pfnsVisible: false, pageSize, headerOverride: (header) => ((header['host'] as { hostname: string }).hostname = h.hostname) }));
    return file;
  });
}

async function fleetJson(args: string[]): Promise<FleetReport> {
  const run = await runSamepage(['fleet', '--json', '--memory-limit', '1GB', ...args]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as FleetReport;
}

/** What does not depend on where the pages were read from. */
function figures(r: FleetReport): unknown {
  return {
    hosts: r.hosts.map(({ file: _f, ...h }) => h),
    residentPages: r.residentPages,
    distinctContents: r.distinctContents,
    intra: r.intraHostDuplicatePages,
    inter: r.interHostDuplicatePages,
    pairs: r.pairs,
    guests: r.guests,
    guestPairs: r.guestPairs,
    placement: r.placement,
  };
}

describe('samepage fleet', () => {
  it('counts duplicates within and across hosts, host and guest pairs, as the pages say; snapshots and their export agree', async () => {
    const files = writeHosts();
    const names = ['alpha-one', 'beta', 'alpha-three'];
    const fromSnapshots = await fleetJson(files);
    const ref = reference(names);
    expect(fromSnapshots.hosts.map((h) => h.host)).toEqual([...names].sort());
    expect(fromSnapshots.intraHostDuplicatePages).toBe(ref.intra);
    expect(fromSnapshots.interHostDuplicatePages).toBe(ref.inter);
    expect(fromSnapshots.distinctContents).toBe(ref.distinct);
    expect(fromSnapshots.residentPages).toBe(fromSnapshots.distinctContents + ref.intra + ref.inter);
    expect(new Map(fromSnapshots.pairs.map((p) => [`${p.a}|${p.b}`, p.sharedPages]))).toEqual(ref.pairs);
    // Pairs come ordered by host, then guest: the reference orders by name.
    expect(new Map(fromSnapshots.guestPairs.map((p) => [[p.a, p.b].sort().join('|'), p.sharedPages]))).toEqual(ref.guestPairs);
    expect(fromSnapshots.guests.map((g) => g.guest).sort()).toEqual(['db1', 'db2', 'web1', 'web2', 'web3']);

    // The plan may only do better than today by the pairwise measure's lights, never lose a guest.
    const p = fromSnapshots.placement;
    expect(p).not.toBeNull();
    expect(p?.plan.map((x) => x.guest).sort()).toEqual(['db1', 'db2', 'web1', 'web2', 'web3']);
    expect(p?.planSharedPages).toBeGreaterThanOrEqual(p?.todaySharedPages ?? 0);

    const out = join(dir, 'export');
    const exported = await runSamepage(['export', ...files, '-o', out, '--memory-limit', '1GB']);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/wrote .*export: 3 hosts/);
    for (const n of names) for (const t of ['pages', 'sources', 'hosts']) expect(existsSync(join(out, t, `host=${n}`, 'data.parquet'))).toBe(true);
    expect(figures(await fleetJson([out]))).toEqual(figures(fromSnapshots));
    // One host's Parquet file, with the other two as snapshots: the same fleet (three.snap's
    // hostname is unique among the snapshots now: it is plain "alpha").
    const mixed = await fleetJson([join(out, 'pages', 'host=alpha-one', 'data.parquet'), files[1] as string, files[2] as string]);
    expect(mixed.hosts.map((h) => h.host)).toEqual(['alpha', 'alpha-one', 'beta']);
    expect([mixed.residentPages, mixed.distinctContents, mixed.intraHostDuplicatePages, mixed.interHostDuplicatePages]).toEqual([fromSnapshots.residentPages, ref.distinct, ref.intra, ref.inter]);

    // A host already exported is not overwritten.
    const again = await runSamepage(['export', files[1] as string, '-o', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/host beta is there already/);

    const table = await runSamepage(['fleet', out]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/3 hosts, .* resident: .* duplicates content within its own/);
    const page = await runSamepage(['fleet', out, '--format', 'html']);
    expect(page.stdout).toMatch(/^<!DOCTYPE html>/);
    const embedded = /<script type="application\/json" id="fleet-report">(.*)<\/script>/.exec(page.stdout)?.[1] ?? '';
    expect((JSON.parse(embedded) as FleetReport).interHostDuplicatePages).toBe(ref.inter);
  });

  it('for one host, the content-only figures are those samepage report gives for the snapshot', async () => {
    const a = await startPagefill(['anon:600:seq=1', 'anon:200:zero', 'readonly:50', 'shared:30:seq=1']);
    const b = await startPagefill(['anon:600:seq=1', 'anon:100:cycle=4,7', 'filepriv:20:seq=2']);
    const file = join(dir, 'own.snap');
    const snap = await runSamepage(['snapshot', '--pid', String(a.pid), '--pid', String(b.pid), '-o', file, '--no-progress']);
    expect(snap.code, snap.stderr).toBe(0);
    const run = await runSamepage(['report', file, '--json']);
    const report = JSON.parse(run.stdout) as Report;
    const fleet = await fleetJson([file]);
    const h = fleet.hosts[0];
    expect(fleet.hosts).toHaveLength(1);
    expect(h?.residentPages).toBe(report.totals.residentPages);
    expect(h?.distinctContents).toBe(report.totals.distinctContents);
    expect(h?.zeroFilledPages).toBe(report.totals.zeroContentPages);
    expect(h?.eligiblePages).toBe(report.totals.eligiblePages);
    expect((h?.duplicatePages ?? 0) * pageSize).toBe(report.estimate.naiveDuplicateBytes);
    // The report knows frames and splits duplicates three ways (within, across, already shared:
    // docs/estimate.md section 9); by content, the fleet splits the same total two ways.
    const reportDuplicates = report.processes.reduce((s, p) => s + p.dupWithinProcess + p.dupAcrossProcesses + p.alreadySharedPages, 0);
    expect((h?.dupWithinSource ?? 0) + (h?.dupAcrossSources ?? 0)).toBeCloseTo(reportDuplicates, 1);
    expect(fleet.intraHostDuplicatePages * pageSize).toBe(report.estimate.naiveDuplicateBytes);
    expect(fleet.interHostDuplicatePages).toBe(0);
  });

  it('bad input: a clear message and exit status 2', async () => {
    const notSnap = join(dir, 'text.txt');
    writeFileSync(notSnap, 'hello');
    const r = await runSamepage(['fleet', notSnap]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/neither a samepage snapshot nor a Parquet file/);
    const e = await runSamepage(['export', notSnap, '-o', join(dir, 'x')]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/not a samepage snapshot/);
    const m = await runSamepage(['fleet', dir, '--memory-limit', 'lots']);
    expect(m.code).toBe(2);
  });
});

describe('fleet parts', () => {
  it('names guests by QEMU -name, libvirt guest=, else pid; nothing else is a guest', () => {
    const info = (command: string, cmdline = command) => ({ pid: 7, ppid: 1, command, cmdline, chromiumType: null });
    expect(guestOf(info('qemu-system-x86', '/usr/bin/qemu-system-x86_64 -name guest=vm1,debug-threads=on -m 1024'))).toBe('vm1');
    expect(guestOf(info('qemu-system-x86', 'qemu-system-x86_64 -m 1024 -name vm2'))).toBe('vm2');
    expect(guestOf(info('qemu-system-x86', 'qemu-system-x86_64 -m 1024'))).toBe('pid 7');
    expect(guestOf(info('bash', 'bash -c qemu-system-x86_64'))).toBeNull();
  });

  it('makes host names unique by file name, then by number', () => {
    expect(uniqueHostNames([{ hostname: 'a', file: 'x/one.snap' }, { hostname: 'a', file: 'two.snap' }, { hostname: 'b c', file: 'b.snap' }])).toEqual(['a-one', 'a-two', 'b_c']);
    expect(uniqueHostNames([{ hostname: 'a', file: 'one.snap' }, { hostname: 'a', file: 'd/one.snap' }])).toEqual(['a-one', 'a-one-2']);
  });

  it('places guests that share content together, within capacity', () => {
    const guests = [
      { guest: 'w1', host: 'h1', residentPages: 10, distinctContents: 10 },
      { guest: 'd1', host: 'h1', residentPages: 10, distinctContents: 10 },
      { guest: 'w2', host: 'h2', residentPages: 10, distinctContents: 10 },
      { guest: 'd2', host: 'h2', residentPages: 10, distinctContents: 10 },
    ];
    const pairs = [
      { a: 'w1', b: 'w2', sharedPages: 8 },
      { a: 'd1', b: 'd2', sharedPages: 6 },
      { a: 'w1', b: 'd1', sharedPages: 1 },
    ];
    const planned = planPlacement({ guests, guestPairs: pairs, capacity: new Map([['h1', 20], ['h2', 20]]) });
    const where = new Map(planned.plan.map((p) => [p.guest, p.host]));
    expect(where.get('w1')).toBe(where.get('w2'));
    expect(where.get('d1')).toBe(where.get('d2'));
    expect(where.get('w1')).not.toBe(where.get('d1'));
    expect(planned.moves).toHaveLength(2);
    expect(planned.overCapacity).toEqual([]);
    const tight = planPlacement({ guests, guestPairs: pairs, capacity: new Map([['h1', 10], ['h2', 10]]) });
    expect(tight.overCapacity).toHaveLength(2);
  });
});
