// docs/fleet.md's SQL is what samepage fleet runs, and it runs: every `-- query: NAME` block of
// the page is the text of src/fleet/fleet-sql.ts, and the page's DuckDB setup and queries, run
// on DuckDB over an export, give the figures `samepage fleet --json` gives.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSamepage } from '../support/samepage.js';
import { PAGE_ANON, PAGE_NO_PHYS, syntheticSnapshot, type SyntheticProcess } from '../support/snapshot-file.js';
import { systemPageSize } from '../../src/util/system.js';
import { FLEET_QUERIES } from '../../src/fleet/fleet-sql.js';
import { FleetDb } from '../../src/fleet/fleet-db.js';
import type { FleetReport } from '../../src/fleet/fleet-report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-fleet-doc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const page = readFileSync(new URL('../../docs/fleet.md', import.meta.url), 'utf8');
/** The page's SQL blocks by their first line: "-- query: NAME" or "-- setup: ENGINE". */
const blocks = new Map([...page.matchAll(/```sql\n-- (query|setup): (\w+)\n([\s\S]*?)```/g)].map((m) => [`${m[1]}:${m[2]}`, (m[3] as string).trim()]));

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);
const proc = (pid: number, command: string, contents: number[]): SyntheticProcess => ({ pid, command, pages: contents.map((content) => ({ content, pfn: 0, flags: PAGE_ANON | PAGE_NO_PHYS })) });

describe('docs/fleet.md', () => {
  it('quotes every query samepage fleet runs, word for word', () => {
    for (const [name, sql] of Object.entries(FLEET_QUERIES)) expect(blocks.get(`query:${name}`), name).toBe(`${sql};`);
    expect(blocks.has('setup:duckdb')).toBe(true);
    expect(blocks.has('setup:spark')).toBe(true);
  });

  it("its DuckDB setup and queries, run on an export, give samepage fleet's figures", async () => {
    const hosts: Array<[string, SyntheticProcess[]]> = [
      ['red', [proc(10, 'qemu-system-x86_64 -name a', [...range(1, 50), ...range(100, 20), ...range(100, 20)]), proc(11, 'sshd', range(1, 5))]],
      ['green', [proc(20, 'qemu-system-x86_64 -name b', [...range(1, 40), ...range(300, 30)]), proc(21, 'qemu-system-x86_64 -name c', [...range(100, 20), ...range(400, 9)])]],
      ['blue', [proc(30, 'qemu-system-x86_64 -name d', [...range(1, 50), ...range(500, 7)])]],
    ];
    const files = hosts.map(([name, processes]) => {
      const file = join(dir, `${name}.snap`);
      writeFileSync(file, syntheticSnapshot({ processes, pfnsVisible: false, pageSize: systemPageSize(), headerOverride: (h) => ((h['host'] as { hostname: string }).hostname = name) }));
      return file;
    });
    const out = join(dir, 'export');
    const exported = await runSamepage(['export', ...files, '-o', out]);
    expect(exported.code, exported.stderr).toBe(0);
    const run = await runSamepage(['fleet', out, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const fleet = JSON.parse(run.stdout) as FleetReport;

    const db = await FleetDb.open({ memoryLimit: '512MB', threads: 1 });
    try {
      for (const statement of (blocks.get('setup:duckdb') ?? '').replaceAll('DIR', out).split(';\n')) await db.run(statement);
      const query = (name: string) => db.rows((blocks.get(`query:${name}`) ?? '').replace(/;$/, ''));
      const perHost = await query('host_figures');
      expect(perHost.map((r) => [r['host'], r['resident_pages'], r['distinct_contents'], r['duplicate_pages'], r['dup_within_source'], r['dup_across_sources']])).toEqual(
        fleet.hosts.map((h) => [h.host, h.residentPages, h.distinctContents, h.duplicatePages, h.dupWithinSource, h.dupAcrossSources]),
      );
      const [contents] = await query('fleet_contents');
      expect(Number(contents?.['host_contents']) - Number(contents?.['fleet_distinct_contents'])).toBe(fleet.interHostDuplicatePages);
      expect(fleet.interHostDuplicatePages).toBeGreaterThan(0);
      expect((await query('host_pairs')).map((r) => ({ a: r['a'], b: r['b'], sharedPages: r['shared_pages'] }))).toEqual(fleet.pairs);
      expect((await query('guests')).map((r) => r['guest'])).toEqual(fleet.guests.map((g) => g.guest));
      expect((await query('guest_pairs')).map((r) => ({ a: r['a_guest'], b: r['b_guest'], sharedPages: r['shared_pages'] }))).toEqual(fleet.guestPairs);
      await db.run('CREATE TABLE placement AS SELECT host, guest, host AS planned_host FROM (SELECT DISTINCT host, guest FROM pages WHERE guest IS NOT NULL)');
      const today = (await query('placement_sharing')).reduce((s, r) => s + Number(r['guest_pages']) - Number(r['distinct_contents']), 0);
      expect(today).toBe(fleet.placement?.todaySharedPages);
    } finally {
      db.close();
    }
  });
});
