// The committed sample cores (samples/, made by samples/make-samples.sh with gcore) give the
// committed expected report: what a user without a process to scan sees first.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runSamepage } from '../support/samepage.js';
import type { Report } from '../../src/report/report.js';

const samples = (name: string) => fileURLToPath(new URL(`../../samples/${name}`, import.meta.url));

/** Without what depends on the machine and the moment: time, memory, kernel (and its THP behaviour), KSM's run state. */
function stable(r: Report): unknown {
  return {
    ...r,
    createdAt: null,
    host: { ...r.host, kernel: null, root: null },
    ksm: { ...r.ksm, runNow: null },
    thp: { ...r.thp, splitBehaviour: null, basis: null, kernel: null, verified: null },
    totals: { ...r.totals, elapsedMs: null, stagesMs: null, peakRssBytes: null, indexBytes: null },
    tool: null,
    processes: r.processes.map((p) => ({ ...p, source: p.source.replace(/^.*samples\//, 'samples/'), file: p.file?.replace(/^.*samples\//, 'samples/') })),
    inputs: r.inputs.map((i) => ({ ...i, file: i.file.replace(/^.*samples\//, 'samples/') })),
  };
}

describe('samples', () => {
  it('samepage report on the sample cores gives the expected report', async () => {
    const run = await runSamepage(['report', samples('service-a.core.zst'), samples('service-b.core.zst'), '--use-zero-pages', '0', '--max-page-sharing', '256', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const actual = JSON.parse(run.stdout) as Report;
    const expected = JSON.parse(readFileSync(samples('expected-report.json'), 'utf8')) as Report;
    expect(stable(actual)).toEqual(stable(expected));
    // What the samples were made to show: two copies of a service sharing 16 contents x 4
    // and 32 identical pages each; zero pages in a core are never counted as a saving.
    expect(actual.processes).toHaveLength(2);
    expect(actual.processes.every((p) => p.origin === 'core')).toBe(true);
    expect(actual.estimate.ramFreedPages).toBeGreaterThanOrEqual(2 * 64 - 16 + 2 * 32 - 1);
    expect(actual.caveats.join(' ')).toMatch(/content-only upper bound/);
    // 16 contents in 4 pages of each core, 32 identical pages in each, held by both: the
    // histogram's 8 and 64 mappings, and 16 + 1 contents that each core holds twice or more.
    expect(actual.sharing.byMappings).toEqual(expect.arrayContaining([{ mappings: 8, orMore: false, contents: 16, pages: 128 }, { mappings: 64, orMore: false, contents: 1, pages: 64 }]));
    expect(actual.sharing.zeroFilledPages).toBeGreaterThanOrEqual(32);
    expect(actual.overlap.processes).toHaveLength(2);
    expect(actual.overlap.contents[0]?.[0]).toBe(17);
    expect(actual.overlap.contents[0]?.[1]).toBe(actual.overlap.contents[1]?.[0]);
  });
});
