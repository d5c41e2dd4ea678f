// Each output format, on a report object: what it holds, and that names from processes can
// neither drive a terminal nor break a table, a CSV or a Markdown document.
import { describe, expect, it } from 'vitest';
import { renderTable } from '../../src/reporters/table.js';
import { renderCsv } from '../../src/reporters/csv.js';
import { renderPlain } from '../../src/reporters/plain.js';
import { renderMarkdown } from '../../src/reporters/markdown.js';
import { renderJson } from '../../src/reporters/json.js';
import { renderHtml } from '../../src/reporters/html.js';
import { createHash } from 'node:crypto';
import { displayWidth } from '../../src/reporters/text-escape.js';
import { formatBytes, formatCount } from '../../src/reporters/format.js';
import type { Report } from '../../src/report/report.js';
import { HOSTILE, sampleReport } from '../support/sample-report.js';

/** Any C0 or C1 control but the newline, or a bidi override: what must never reach a terminal. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

function single(): Report {
  const r = sampleReport();
  const first = r.processes[0];
  if (first === undefined) throw new Error('no process in the sample');
  return { ...r, processes: [first], totals: { ...r.totals, processes: 1 }, skipped: [] };
}

describe('numbers', () => {
  it('counts are written with thousands separators, as en-US does, without loading ICU', () => {
    for (const n of [0, 7, 999, 1000, 65536, 1234567, -1234567, 2 ** 53 - 1, 12.5, -1.6]) expect(formatCount(n), String(n)).toBe(Math.round(n).toLocaleString('en-US'));
    expect(formatCount(-0.4)).toBe('0');
  });
});

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

/** RFC 4180: fields, quoted fields with doubled quotes and line breaks, CRLF between records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' && field === '') {
      for (i++; i < text.length; i++) {
        if (text[i] === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (text[i] === '"') break;
        else field += text[i];
      }
    } else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  return records;
}

describe('csv', () => {
  it('is one table: a header row, one row per process with exact bytes, names exact and quoted', () => {
    const report = sampleReport();
    const rows = parseCsv(renderCsv(report));
    const [header, ...body] = rows;
    expect(header?.slice(0, 3)).toEqual(['source', 'pid', 'command']);
    expect(body).toHaveLength(report.processes.length);
    for (const row of body) expect(row).toHaveLength(header?.length ?? -1);
    const column = (name: string): number => header?.indexOf(name) ?? -1;
    // Every name comes back exactly as the report holds it: commas, quotes, CR LF, escapes.
    expect(body.map((r) => r[column('command')]).sort()).toEqual(report.processes.map((p) => p.command).sort());
    const a = body.find((r) => r[column('command')] === HOSTILE.escape);
    expect(a?.[column('source')]).toBe('hosts/a.snap');
    expect(Number(a?.[column('ram_freed_bytes')])).toBe(5000 * 1024);
    expect(Number(a?.[column('resident_bytes')])).toBe(5000 * report.host.pageSize);
  });
});

describe('plain', () => {
  it('is tab-separated: a header line, one line per process, exact bytes, names escaped to one line', () => {
    const report = sampleReport();
    const text = renderPlain(report, { sort: 'pid' });
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(report.processes.length + 1);
    const header = (lines[0] as string).split('\t');
    expect(header).toContain('ram_freed_bytes');
    for (const line of lines) expect(line.split('\t')).toHaveLength(header.length);
    expect(text.replace(/[\t\n]/g, '')).not.toMatch(CONTROL);
    expect(text).toContain('\tevil?[31mred?line?tab\t');
    const pids = lines.slice(1).map((l) => Number(l.split('\t')[header.indexOf('pid')]));
    expect(pids).toEqual([...pids].sort((x, y) => x - y));
  });
});

describe('markdown', () => {
  it('is a GFM table: every line starts and ends with |, the same cells on each, names escaped', () => {
    const report = sampleReport();
    const text = renderMarkdown(report, { maxProcesses: 5 });
    const lines = text.trimEnd().split('\n');
    // Cells: the bars that are not escaped.
    const cells = (line: string): number => line.replace(/\\\\/g, '').replace(/\\\|/g, '').split('|').length;
    for (const line of lines) {
      expect(line).toMatch(/^\|.*\|$/);
      expect(cells(line), line).toBe(cells(lines[0] as string));
    }
    expect(lines[1]).toMatch(/^\| --- \| ---: \|/);
    expect(text).not.toMatch(CONTROL);
    expect(text).toContain('pipe\\|\\<b\\>\\*bold\\*\\</b\\>\\`');
    expect(text).not.toContain('<b>');
    // The first 5, the other 2 summed, then the total: all the RAM KSM frees.
    expect(text).toMatch(/\| \(2 more\) \|/);
    const freed = report.processes.reduce((n, p) => n + p.ramFreedBytes, 0);
    expect(lines[lines.length - 1]).toContain(`| **all 7 processes** |`);
    expect(lines[lines.length - 1]).toContain(`| ${formatBytes(freed)} |`);
  });
});

describe('json', () => {
  it('is the report object itself, names exact', () => {
    const report = sampleReport();
    expect(JSON.parse(renderJson(report))).toEqual(report);
  });
});

describe('html', () => {
  const page = renderHtml(sampleReport(), { maxProcesses: 5 });
  const scripts = [...page.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] as string);
  const sha = (t: string): string => `'sha256-${createHash('sha256').update(t).digest('base64')}'`;

  it('is one file: no source or link to fetch, the chart library inlined, and a policy that allows nothing else', () => {
    expect(page).not.toMatch(/<(script|link|img|iframe|object|embed)\b[^>]*\b(src|href|data)=/i);
    expect(page).not.toMatch(/sourceMappingURL/);
    expect(scripts).toHaveLength(3);
    expect(scripts[0]).toMatch(/Chart\.js v4/);
    const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(page)?.[1]?.replace(/&#39;/g, "'") ?? '';
    expect(policy).toMatch(/^default-src 'none'; /);
    // Each inline script and the stylesheet run because the policy names their hashes, and nothing else would.
    for (const s of scripts) expect(policy).toContain(sha(s));
    const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] ?? '';
    expect(policy).toContain(`style-src ${sha(style)}`);
    expect(page).not.toMatch(/ style="/);
  });

  it('embeds the report exactly, and shows names escaped', () => {
    const embedded = /<script type="application\/json" id="report">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
    expect(JSON.parse(embedded)).toEqual(sampleReport());
    expect(embedded).not.toMatch(/<\/|<!--/);
    // Outside the JSON, names are text: no markup of theirs, no control character.
    const visible = page.replace(/<script[\s\S]*?<\/script>/g, '');
    expect(visible).not.toContain('<b>');
    expect(visible).toContain('pipe|&#60;b&#62;*bold*&#60;/b&#62;`');
    expect(visible).not.toMatch(CONTROL);
    expect(visible).toContain('evil?[31mred?line?tab');
  });

  it('puts the answer first, and every figure with its JSON path', () => {
    const report = sampleReport();
    const answer = /<p class="answer" id="answer">([\s\S]*?)<\/p>/.exec(page)?.[1]?.replace(/<[^>]+>/g, '') ?? '';
    expect(answer).toMatch(new RegExp(`^KSM would free ${formatBytes(report.estimate.ramFreedBytes)} of RAM`));
    expect(page.indexOf('id="answer"')).toBeLessThan(page.indexOf('<section'));
    const figures = [...page.matchAll(/data-path="([^"]+)" data-value="([^"]+)"/g)];
    expect(figures.length).toBeGreaterThan(50);
    for (const [, path, value] of figures) {
      const actual = (path as string).split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], report);
      expect(actual, path).toBe(Number(value));
    }
    // --top 5: five rows, then the other two summed.
    expect(page).toMatch(/<tr class="more">.*\(2 more\)/);
    for (const id of ['chart-kinds', 'chart-processes', 'chart-overlap', 'chart-sharing']) expect(page).toContain(`<canvas id="${id}"`);
  });
});
