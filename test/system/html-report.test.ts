// The HTML report in a real headless Chromium (puppeteer-core on the system's Chromium): it
// renders with no console error and no request but the page itself, every chart has data, and
// every figure on the page, in the text and in the charts, equals the JSON report's.
// SAMEPAGE_SCREENSHOT=FILE saves a screenshot of the page (README's docs/report.png).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, describe, expect, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { CHROMIUM_PATH, hasChromium } from '../support/chromium.js';
import { pidArgs, runSamepage } from '../support/samepage.js';
import { formatBytes, formatCount } from '../../src/reporters/format.js';
import type { Report } from '../../src/report/report.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-html-'));
let browser: Browser | null = null;

afterAll(async () => {
  await browser?.close();
  await stopAllFixtures();
  rmSync(dir, { recursive: true, force: true });
});

/** What depends on the moment of a run: two renderings of one snapshot differ only there. */
function stable(r: Report): unknown {
  return { ...r, createdAt: null, totals: { ...r.totals, elapsedMs: null, stagesMs: null, peakRssBytes: null } };
}

function at(report: Report, path: string): unknown {
  return path.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], report);
}

interface ChartData {
  id: string;
  labels: string[];
  datasets: Array<{ label: string; data: unknown[] }>;
}

describe.skipIf(!hasChromium())('the HTML report', () => {
  it('opens offline in Chromium with no error, every chart drawn from the report, every figure equal to the JSON', async () => {
    // Processes whose content is shared in many ways: across all of them, by two, by fork,
    // 400 identical pages (256 mappings and more), 64 contents 10 and 20 times, zero-filled pages.
    const fixtures = await Promise.all([
      startPagefill(['nothp', 'anon:3000:seq=1', 'anon:400:byte=5', 'anon:640:cycle=3,64']),
      startPagefill(['nothp', 'anon:3000:seq=1', 'anon:600:seq=7', 'anon:640:cycle=3,64', 'anon:100:zero']),
      startPagefill(['nothp', 'anon:1500:seq=1', 'anon:600:seq=7', 'anon:128:cycle=9,4', 'fork:2']),
      startPagefill(['nothp', 'anon:800:seq=7', 'anon:300:uniq']),
    ]);
    const pids = fixtures.flatMap((f) => [f.pid, ...f.childPids]);
    // One snapshot, rendered twice: the HTML and the JSON describe the same scan.
    const snap = join(dir, 'fixtures.snap');
    const taken = await runSamepage(['snapshot', ...pidArgs(pids), '-o', snap]);
    expect(taken.code, taken.stderr).toBe(0);
    const page = join(dir, 'report.html');
    const html = await runSamepage(['report', snap, '--format', 'html', '--output', page, '--use-zero-pages', '0']);
    expect(html.code, html.stderr).toBe(0);
    const json = await runSamepage(['report', snap, '--format', 'json', '--use-zero-pages', '0']);
    const report = JSON.parse(json.stdout) as Report;

    const text = readFileSync(page, 'utf8');
    // Self-contained: no URL to fetch anything from, scripts and styles inline.
    expect(text).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(text).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-/);

    browser = await puppeteer.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const tab = await browser.newPage();
    await tab.setViewport({ width: 1200, height: 900 });
    const errors: string[] = [];
    const requests: string[] = [];
    tab.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') errors.push(`console ${m.type()}: ${m.text()}`);
    });
    tab.on('pageerror', (e) => errors.push(`page error: ${String(e)}`));
    tab.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    tab.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(page).href;
    await tab.goto(url, { waitUntil: 'load' });
    await tab.waitForSelector('html[data-charts="drawn"]', { timeout: 30_000 });
    expect(errors).toEqual([]);
    expect(requests).toEqual([url]);

    // The report embedded in the page is the JSON report.
    const embedded = JSON.parse((await tab.$eval('#report', (e) => e.textContent)) ?? 'null') as Report;
    expect(stable(embedded)).toEqual(stable(report));
    const view = JSON.parse((await tab.$eval('#view', (e) => e.textContent)) ?? 'null') as { processes: number[]; labels: string[]; kinds: number[] };

    // Every figure in the text: where it comes from, its value there, and how it is written.
    const figures = await tab.$$eval('[data-path]', (els) => els.map((e) => ({ path: e.getAttribute('data-path') ?? '', value: Number(e.getAttribute('data-value')), kind: e.getAttribute('data-kind') ?? '', text: e.textContent ?? '' })));
    expect(figures.length).toBeGreaterThan(80);
    const ps = report.host.pageSize;
    for (const f of figures) {
      expect(at(report, f.path), f.path).toBe(f.value);
      const written = f.kind === 'bytes' ? formatBytes(f.value) : f.kind === 'pages' ? formatBytes(f.value * ps) : f.kind === 'count' ? formatCount(f.value) : String(f.value);
      expect(f.text, f.path).toBe(written);
    }
    // The answer, first, in one sentence.
    const answer = await tab.$eval('#answer', (e) => e.textContent ?? '');
    expect(answer).toMatch(new RegExp(`^KSM would free ${formatBytes(report.estimate.ramFreedBytes)} of RAM .* ${formatBytes(report.estimate.netSavingBytes)} once its own metadata is paid for\\.$`));

    // Every chart: drawn, with data, and that data the report's.
    const charts = await tab.$$eval('canvas', (canvases) =>
      canvases.map((c) => {
        const chart = (globalThis as unknown as { Chart: { getChart(c: unknown): { data: ChartData } | undefined } }).Chart.getChart(c);
        return { id: c.id, labels: (chart?.data.labels ?? []).map(String), datasets: (chart?.data.datasets ?? []).map((d) => ({ label: d.label, data: d.data })) };
      }),
    );
    expect(charts.map((c) => c.id)).toEqual(['chart-kinds', 'chart-processes', 'chart-overlap', 'chart-sharing']);
    for (const c of charts) {
      expect(c.datasets.length, c.id).toBeGreaterThan(0);
      expect(c.datasets.some((d) => d.data.some((v) => v !== null && (typeof v === 'number' ? v > 0 : true))), c.id).toBe(true);
    }
    const chart = (id: string): ChartData => charts.find((c) => c.id === id) as ChartData;

    const kinds = view.kinds.map((k) => report.byKind[k]);
    expect(chart('chart-kinds').labels).toEqual(kinds.map((k) => k?.label));
    expect(chart('chart-kinds').datasets[0]?.data).toEqual(kinds.map((k) => (k?.residentPages ?? -1) * ps));
    expect(chart('chart-kinds').datasets[1]?.data).toEqual(kinds.map((k) => (k?.ksmSaveablePages ?? -1) * ps));

    const rows = view.processes.map((i) => report.processes[i]);
    expect(rows).toHaveLength(report.processes.length);
    expect(chart('chart-processes').datasets[0]?.data).toEqual(rows.map((p) => p?.ramFreedBytes));
    // Largest RAM freed first, as the table.
    const freed = rows.map((p) => p?.ramFreedBytes ?? 0);
    expect(freed).toEqual([...freed].sort((a, b) => b - a));

    const overlap = chart('chart-overlap').datasets[0]?.data as Array<{ x: string; y: string; v: number }>;
    const n = report.overlap.processes.length;
    expect(n).toBeGreaterThanOrEqual(4);
    expect(overlap).toHaveLength(n * n);
    for (const [i, p] of report.overlap.processes.entries()) {
      for (const [j, q] of report.overlap.processes.entries()) {
        const cell = overlap.find((c) => c.y === view.labels[p] && c.x === view.labels[q]);
        expect(cell?.v, `${p} x ${q}`).toBe((report.overlap.contents[i]?.[j] ?? -1) * ps);
      }
    }

    const histogram = chart('chart-sharing');
    expect(histogram.labels).toHaveLength(255);
    expect(histogram.labels[254]).toBe('256+');
    const bars = (histogram.datasets[0]?.data ?? []).flatMap((v, i) => (v === null ? [] : [{ mappings: i + 2, contents: v }]));
    expect(bars).toEqual(report.sharing.byMappings.map((b) => ({ mappings: b.mappings, contents: b.contents })));
    // The fixtures' 400 identical pages: 256 mappings and more.
    expect(report.sharing.byMappings.at(-1)).toMatchObject({ mappings: 256, orMore: true });

    if (process.env['SAMEPAGE_SCREENSHOT']) await tab.screenshot({ path: process.env['SAMEPAGE_SCREENSHOT'] as `${string}.png`, fullPage: true });
  });
});
