// Each output format, on a report object: what it holds, and that names from processes can
// neither drive a terminal nor break a table, a CSV or a Markdown document.
import { describe, expect, it } from 'vitest';
import { renderTable } from '../src/reporters/table.js';
import { displayWidth } from '../src/reporters/text-escape.js';
import { formatBytes } from '../src/reporters/format.js';
import type { Report } from '../src/report/report.js';
import { HOSTILE, sampleReport } from './support/sample-report.js';

/** Any C0 or C1 control but the newline, or a bidi override: what must never reach a terminal. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

function single(): Report {
  const r = sampleReport();
  const first = r.processes[0];
  if (first === undefined) throw new Error('no process in the sample');
  return { ...r, processes: [first], totals: { ...r.totals, processes: 1 }, skipped: [] };
}

describe('table', () => {
  it('is compact: a rule under each header and none between rows', () => {
    const text = renderTable(sampleReport(), { width: 200 });
    const rules = text.split('\n').filter((l) => /^[─ ]+$/.test(l));
    expect(rules).toHaveLength(2);
    expect(text).toMatch(/\nBy process\n/);
  });

  it('fits COLUMNS: every line within the width, names shortened, numbers whole', () => {
    const report = sampleReport();
    for (const width of [60, 80, 100, 140]) {
      const text = renderTable(report, { width });
      for (const line of text.split('\n')) expect(displayWidth(line), `${width}: ${line}`).toBeLessThanOrEqual(width);
      // Every process row keeps its pid and RAM freed whole.
      for (const p of report.processes) expect(text).toMatch(new RegExp(`\\b${p.pid}\\b.*${formatBytes(p.ramFreedBytes).replace('.', '\\.')}`));
    }
    const narrow = renderTable(report, { width: 60 });
    expect(narrow).toContain('a-very-');
    expect(narrow).not.toContain(HOSTILE.long);
    expect(narrow).toMatch(/left out to fit 60 columns: [\s\S]*ksm_merging_pages/);
    expect(renderTable(report, { width: 200 })).toContain(HOSTILE.long);
  });

  it('escapes names as ps does: no escape sequence, newline or bidi override gets through', () => {
    const text = renderTable(sampleReport(), { width: 200 });
    expect(text).not.toMatch(CONTROL);
    expect(text).toContain('evil?[31mred?line?tab');
    expect(text).toContain('x?2Jy?z');
    // The skipped process's name, in the lines after the tables, too.
    expect(text).toMatch(/not scanned: pid 99 \(evil\?\[31mred\?line\?tab\)/);
  });

  it('is ASCII when the locale is not UTF-8', () => {
    const report = sampleReport();
    report.processes.push({ ...(report.processes[0] as Report['processes'][number]), pid: 5, command: 'naïve-名前' });
    const text = renderTable(report, { width: 60, ascii: true });
    expect(text).toMatch(/^[\x20-\x7e\n]*$/);
    expect(text).toMatch(/^-+ {2}/m);
    expect(text).toContain('na?ve-??');
    expect(renderTable(report, { width: 60 })).toContain('naïve-名前');
  });

  it('has a source column when there is more than one source, and only then', () => {
    const text = renderTable(sampleReport(), { width: 200 });
    expect(text).toMatch(/^source +pid +command/m);
    // The same pid from two snapshots: two rows told apart by their source.
    expect(text).toMatch(/^a\.snap +4242 /m);
    expect(text).toMatch(/^b\.snap +4242 /m);
    expect(text).toMatch(/^live +77 /m);
    expect(renderTable(single(), { width: 200 })).toMatch(/^ +pid +command/m);
  });

  it('sorts by --sort, keeps --top rows and sums the rest', () => {
    const report = sampleReport();
    const pidsIn = (text: string): number[] => [...text.matchAll(/^\S*\s+(\d+)\s/gm)].map((m) => Number(m[1]));
    const byPid = pidsIn(renderTable(report, { width: 200, sort: 'pid' }).split('By process')[1] ?? '');
    expect(byPid).toEqual([...byPid].sort((a, b) => a - b));
    expect(byPid).toHaveLength(report.processes.length);
    const top = renderTable(report, { width: 200, maxProcesses: 2 });
    expect(top).toMatch(/\(5 more\)/);
    // Largest RAM freed first by default: the a.snap row (5000 KiB).
    expect(pidsIn(top.split('By process')[1] ?? '')[0]).toBe(4242);
  });

  it('says "1 process", not "1 processes"', () => {
    expect(renderTable(single())).toMatch(/^samepage: 1 process, /);
    expect(renderTable(sampleReport())).toMatch(/^samepage: 7 processes, /);
  });
});
