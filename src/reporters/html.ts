import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Estimate, ProcessRow, Report, ThpScope } from '../report/report.js';
import { plural } from '../util/plural.js';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { PAGE_SCRIPT } from './html-page-script.js';
import { PAGE_STYLE } from './html-style.js';
import { hasSeveralSources, sortProcesses, sourceLabels, type SortKey } from './process-order.js';
import { skipLines } from './skip-lines.js';
import { escapeLine } from './text-escape.js';

/*
 * Charts: Chart.js 4 (205 KiB minified, 70 KiB gzipped) and its matrix controller for the
 * heatmap (4 KiB). Weighed against uPlot (50 KiB): uPlot draws time series; bars on categories,
 * a log axis and a heatmap would all have been drawing code of our own, where Chart.js has them
 * with tooltips and legends, maintained and widely used. Plain SVG would have been smaller still
 * but is also ours to write and test. Both files are read from node_modules and inlined: the
 * page opens offline, and its Content-Security-Policy allows no fetch at all.
 */
const require = createRequire(import.meta.url);

function libraryFile(pkg: string, file: string): string {
  // The packages' entry points sit in dist/ beside their minified browser builds.
  const text = readFileSync(join(dirname(require.resolve(pkg)), file), 'utf8');
  // A source map comment would only make a browser's developer tools ask for a missing file.
  return text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}

export interface HtmlOptions {
  /** Process rows shown in the chart and the table; the rest are summed in one row. */
  maxProcesses?: number;
  sort?: SortKey;
}

/**
 * The report as one self-contained HTML page to open offline or send on: the answer in one
 * sentence, then savings by mapping type, by process, the processes' shared content as a
 * heatmap, how widely contents are shared, and KSM's counters, cost and caveats. Figures in the
 * text carry their JSON path (data-path), and the whole report is embedded as JSON: the page's
 * numbers can be checked against it, and read back out of it.
 */
export function renderHtml(report: Report, opts: HtmlOptions = {}): string {
  const ps = report.host.pageSize;
  const labels = processLabels(report.processes);
  const sorted = sortProcesses(report.processes, opts.sort ?? 'freed');
  const shown = sorted.slice(0, opts.maxProcesses ?? 40);
  const rest = sorted.slice(shown.length);
  const index = new Map(report.processes.map((p, i) => [p, i]));
  const kinds = report.byKind.map((k, i) => [k, i] as const).filter(([k]) => k.residentPages > 0 || k.virtualPages > 0);
  const view = { processes: shown.map((p) => index.get(p) as number), labels, kinds: kinds.map(([, i]) => i) };
  const e = report.estimate;
  const t = report.totals;
  const today = report.scopes.find((s) => s.scope === 'mergeable-now');
  const withSource = hasSeveralSources(report.processes);
  const sourceLabel = sourceLabels(report.processes);

  const scripts = [libraryFile('chart.js', 'chart.umd.min.js'), libraryFile('chartjs-chart-matrix', 'chartjs-chart-matrix.min.js'), PAGE_SCRIPT];
  const policy = (style: string): string => [
    "default-src 'none'",
    `script-src ${scripts.map((s) => `'sha256-${sha256(s)}'`).join(' ')}`,
    `style-src 'sha256-${sha256(style)}'`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');

  const answer =
    `KSM would free ${fig('estimate.ramFreedBytes', e.ramFreedBytes, 'bytes', ps, true)} of RAM ` +
    `(${fig('', 0, 'text', ps, false, formatPercent(e.ramFreedBytes, t.anonPages * ps))} of the resident anonymous memory) in ${t.processes === 1 ? 'this process' : `these ${formatCount(t.processes)} processes`} ` +
    `if it were enabled for them: ${fig('estimate.netSavingBytes', e.netSavingBytes, 'bytes', ps)} once its own metadata is paid for.`;

  const body = [
    `<header>`,
    `<h1>samepage report</h1>`,
    `<p class="answer" id="answer">${answer}</p>`,
    `<p class="meta">${fig('totals.processes', t.processes, 'count', ps)} ${t.processes === 1 ? 'process' : 'processes'}, ${fig('totals.residentPages', t.residentPages, 'pages', ps)} resident ` +
      `(${fig('totals.anonPages', t.anonPages, 'pages', ps)} anonymous), scanned in ${(t.elapsedMs / 1000).toFixed(1)} s on Linux ${html(report.host.kernel)} ` +
      `(${formatBytes(ps)} pages${report.host.root ? ', as root' : ''}) at ${html(report.createdAt)}. KSM settings assumed: use_zero_pages ${report.ksm.useZeroPages ? 1 : 0}, ` +
      `max_page_sharing ${report.ksm.maxPageSharing} (${html(report.ksm.settingsSource)}).</p>`,
    `</header>`,
    `<section class="cards" id="figures">`,
    card('RAM freed', fig('estimate.ramFreedBytes', e.ramFreedBytes, 'bytes', ps), 'physical memory released, compared with now'),
    card('KSM metadata', fig('estimate.metadataBytes', e.metadataBytes, 'bytes', ps), `${fig('estimate.rmapItems', e.rmapItems, 'count', ps)} rmap_items x 64 B`),
    card('Net saving', fig('estimate.netSavingBytes', e.netSavingBytes, 'bytes', ps), 'RAM freed less the metadata'),
    card('general_profit', fig('estimate.generalProfitBytes', e.generalProfitBytes, 'bytes', ps), 'as the kernel would report it'),
    card('Identical pages', fig('estimate.naiveDuplicateBytes', e.naiveDuplicateBytes, 'bytes', ps), 'naive count, whatever KSM can merge: not the saving'),
    `</section>`,
    today === undefined
      ? ''
      : `<p class="lead">What KSM merges today (VMAs already marked mergeable): RAM freed ${fig('scopes.1.ramFreedBytes', today.ramFreedBytes, 'bytes', ps)}, net ${fig('scopes.1.netSavingBytes', today.netSavingBytes, 'bytes', ps)}.</p>`,

    `<section id="kinds">`,
    `<h2>Savings by mapping type</h2>`,
    `<p class="lead">KSM merges anonymous pages only; the other types are here for what they hold. Duplicates are counted among distinct frames: a frame mapped by several processes (a shared library, a page shared by fork) is already shared, not a duplicate. RAM freed is split equally among the mappings that merge, under their type.</p>`,
    `<div class="chart" data-height="${90 + 34 * kinds.length}"><canvas id="chart-kinds" role="img" aria-label="Resident memory and RAM KSM would free, by mapping type"></canvas></div>`,
    table(
      ['mapping type', 'virtual', 'resident', 'zero-filled', 'dup within', 'dup across', 'already shared', 'KSM frees'],
      kinds.map(([k, i]) => [
        html(k.label),
        fig(`byKind.${i}.virtualPages`, k.virtualPages, 'pages', ps),
        fig(`byKind.${i}.residentPages`, k.residentPages, 'pages', ps),
        fig(`byKind.${i}.zeroPages`, k.zeroPages, 'pages', ps),
        fig(`byKind.${i}.dupWithinProcess`, k.dupWithinProcess, 'pages', ps),
        fig(`byKind.${i}.dupAcrossProcesses`, k.dupAcrossProcesses, 'pages', ps),
        fig(`byKind.${i}.alreadySharedPages`, k.alreadySharedPages, 'pages', ps),
        fig(`byKind.${i}.ksmSaveablePages`, k.ksmSaveablePages, 'pages', ps),
      ]),
    ),
    `</section>`,

    `<section id="processes">`,
    `<h2>By process</h2>`,
    `<p class="lead">${shown.length < sorted.length ? `The ${shown.length} of ${formatCount(sorted.length)} processes` : 'The processes'} with ${opts.sort === undefined || opts.sort === 'freed' ? 'the most RAM KSM would free' : `the largest ${html(opts.sort)}`}: what KSM frees of each one's anonymous memory.</p>`,
    `<div class="chart" data-height="${80 + 26 * shown.length}"><canvas id="chart-processes" role="img" aria-label="RAM KSM would free in each process"></canvas></div>`,
    table(
      [...(withSource ? ['source'] : []), 'pid', 'command', 'resident', 'anonymous', 'dup within', 'dup across', 'already shared', 'KSM frees', 'ksm_merging_pages'],
      [
        ...shown.map((p) => processCells(p, index.get(p) as number, ps, withSource ? html(escapeLine(sourceLabel(p))) : null)),
        ...(rest.length === 0
          ? []
          : [[...(withSource ? [''] : []), '', `(${formatCount(rest.length)} more)`, sizeText(sumOf(rest, (p) => p.residentPages) * ps), sizeText(sumOf(rest, (p) => p.anonPages) * ps), '', '', sizeText(sumOf(rest, (p) => p.alreadySharedPages) * ps), formatBytes(sumOf(rest, (p) => p.ramFreedBytes)), formatCount(sumOf(rest, (p) => p.ksm_merging_pages))]]),
      ],
      rest.length > 0,
    ),
    `</section>`,

    `<section id="overlap">`,
    `<h2>Duplicate content shared between processes</h2>`,
    report.overlap.processes.length === 0
      ? `<p class="lead">No process holds content that another holds, or that it holds twice.</p>`
      : `<p class="lead">For the ${plural(report.overlap.processes.length, 'process', 'processes', formatCount)} with the most pages of shared content: the content each pair both hold (one page each, however many copies), and on the diagonal the content a process holds twice or more. Zero-filled pages are left out.</p>` +
        `<div class="chart" data-height="${Math.min(1000, 260 + 36 * report.overlap.processes.length)}"><canvas id="chart-overlap" role="img" aria-label="Heatmap of content held in common by each pair of processes"></canvas></div>`,
    `</section>`,

    `<section id="sharing">`,
    `<h2>How widely contents are shared</h2>`,
    `<p class="lead">Distinct contents by the number of mappings (resident pages of the scanned processes) that hold them: 2, 3, ... 256 and more, on a log scale. One KSM page serves at most max_page_sharing (${report.ksm.maxPageSharing}) mappings. ` +
      `Zero-filled content is apart: ${fig('sharing.zeroFilledPages', report.sharing.zeroFilledPages, 'pages', ps)} in ${fig('sharing.zeroFilledPages', report.sharing.zeroFilledPages, 'count', ps)} mappings.</p>`,
    `<div class="chart" data-height="320"><canvas id="chart-sharing" role="img" aria-label="Number of contents by how many mappings hold them"></canvas></div>`,
    `</section>`,

    ...groupSectionHtml(report, ps),
    `<section id="ksm">`,
    `<h2>KSM's counters, cost and caveats</h2>`,
    `<p class="lead">What /sys/kernel/mm/ksm would read once KSM has converged on these processes alone, in each scope.</p>`,
    table(
      ['', ...report.scopes.map((s) => (s.scope === 'enable-all' ? 'if KSM were enabled for these processes' : 'what KSM merges today'))],
      counterRows(report.scopes, report.thp.scopes, ps),
    ),
    `<ul class="notes">`,
    ...report.caveats.map((c) => `<li>${html(c)}</li>`),
    ...skipLines(report.skipped, report.warnings).map((l) => `<li>${html(escapeLine(l))}</li>`),
    `</ul>`,
    `</section>`,
    `<footer>samepage ${html(report.tool.version)}, report schema ${report.schemaVersion}. The report as JSON is inside this page (script#report); samepage --format json gives the same.</footer>`,
  ].join('\n');

  // Chart.js draws in a box of the height its container has. The policy allows no style
  // attribute, so each height is a rule of the stylesheet, matched by data-height.
  const heights = [...new Set([...body.matchAll(/data-height="(\d+)"/g)].map((m) => m[1] as string))];
  const style = `${PAGE_STYLE}${heights.map((h) => `.chart[data-height="${h}"] { height: ${h}px; }`).join('\n')}\n`;

  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${html(policy(style))}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>samepage: KSM would free ${html(formatBytes(e.ramFreedBytes))}</title>`,
    `<style>${style}</style>`,
    '</head>',
    '<body>',
    body,
    `<script type="application/json" id="report">${jsonForScript(report)}</script>`,
    `<script type="application/json" id="view">${jsonForScript(view)}</script>`,
    ...scripts.map((s) => `<script>${s}</script>`),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

type FigKind = 'bytes' | 'pages' | 'count' | 'text';

/**
 * A figure of the report: its text, and where it comes from (data-path, data-value) so that a
 * test, or a reader, can check it against the JSON.
 */
function fig(path: string, value: number, kind: FigKind, ps: number, strong = false, text?: string): string {
  const shown = text ?? (kind === 'bytes' ? formatBytes(value) : kind === 'pages' ? sizeText(value * ps) : formatCount(value));
  const tag = strong ? 'strong' : 'span';
  return path === '' ? `<${tag}>${html(shown)}</${tag}>` : `<${tag} class="fig" data-path="${path}" data-value="${value}" data-kind="${kind}">${html(shown)}</${tag}>`;
}

function sizeText(bytes: number): string {
  return formatBytes(bytes);
}

function card(label: string, value: string, note: string): string {
  return `<div class="card"><div class="label">${html(label)}</div><div class="big">${value}</div><div class="label">${note}</div></div>`;
}

const TEXT_COLUMNS = new Set(['', 'mapping type', 'source', 'command']);

function table(head: string[], rows: string[][], lastIsMore = false): string {
  const numeric = head.map((h) => !TEXT_COLUMNS.has(h));
  const th = head.map((h, i) => `<th${numeric[i] === true ? ' class="num"' : ''}>${html(h)}</th>`).join('');
  const tr = rows.map((r, k) => `<tr${lastIsMore && k === rows.length - 1 ? ' class="more"' : ''}>${r.map((c, i) => `<td${numeric[i] === true ? ' class="num"' : i > 0 ? ' class="name"' : ''}>${c}</td>`).join('')}</tr>`);
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${tr.join('\n')}\n</tbody>\n</table>`;
}

function processCells(p: ProcessRow, i: number, ps: number, source: string | null): string[] {
  return [
    ...(source === null ? [] : [source]),
    fig(`processes.${i}.pid`, p.pid, 'text', ps, false, String(p.pid)),
    html(escapeLine(p.command)) + (p.chromiumType === null ? '' : ` <small>(${html(escapeLine(p.chromiumType))})</small>`),
    fig(`processes.${i}.residentPages`, p.residentPages, 'pages', ps),
    fig(`processes.${i}.anonPages`, p.anonPages, 'pages', ps),
    fig(`processes.${i}.dupWithinProcess`, p.dupWithinProcess, 'pages', ps),
    fig(`processes.${i}.dupAcrossProcesses`, p.dupAcrossProcesses, 'pages', ps),
    fig(`processes.${i}.alreadySharedPages`, p.alreadySharedPages, 'pages', ps),
    fig(`processes.${i}.ramFreedBytes`, p.ramFreedBytes, 'bytes', ps),
    fig(`processes.${i}.ksm_merging_pages`, p.ksm_merging_pages, 'count', ps),
  ];
}

function counterRows(scopes: readonly Estimate[], thp: readonly ThpScope[], ps: number): string[][] {
  const row = (label: string, key: string, value: (e: Estimate) => number, kind: FigKind): string[] => [
    html(label),
    ...scopes.map((s, i) => fig(`scopes.${i}.${key}`, value(s), kind, ps)),
  ];
  return [
    row('RAM freed', 'ramFreedBytes', (e) => e.ramFreedBytes, 'bytes'),
    // Huge pages are the report's own section (thp.scopes, in the order of scopes).
    ...(thp.some((t) => t.ramFreedInHugePagesBytes > 0)
      ? [[html('of which in huge pages'), ...thp.map((t, i) => fig(`thp.scopes.${i}.ramFreedInHugePagesBytes`, t.ramFreedInHugePagesBytes, 'bytes', ps))]]
      : []),
    row('pages_shared', 'counters.pages_shared', (e) => e.counters.pages_shared, 'count'),
    row('pages_sharing', 'counters.pages_sharing', (e) => e.counters.pages_sharing, 'count'),
    row('ksm_zero_pages', 'counters.ksm_zero_pages', (e) => e.counters.ksm_zero_pages, 'count'),
    row('pages_unshared', 'counters.pages_unshared', (e) => e.counters.pages_unshared, 'count'),
    row('rmap_items (pages KSM tracks)', 'rmapItems', (e) => e.rmapItems, 'count'),
    row('KSM metadata (64 B each)', 'metadataBytes', (e) => e.metadataBytes, 'bytes'),
    row('general_profit', 'generalProfitBytes', (e) => e.generalProfitBytes, 'bytes'),
    row('net saving', 'netSavingBytes', (e) => e.netSavingBytes, 'bytes'),
  ];
}

/** One label per process for the charts and the heatmap: pid and command, and the source when there are several; unique. */
function processLabels(rows: readonly ProcessRow[]): string[] {
  const several = hasSeveralSources(rows);
  const source = sourceLabels(rows);
  const seen = new Map<string, number>();
  return rows.map((p) => {
    const base = `${p.pid} ${escapeLine(p.command)}${several ? ` (${escapeLine(source(p))})` : ''}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base} #${n}`;
  });
}

/** Text for HTML: the five characters that could open markup or end an attribute. */
function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON inside a script element: nothing that could close the element or start a comment. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

function sumOf<T>(items: readonly T[], f: (t: T) => number): number {
  let t = 0;
  for (const i of items) t += f(i);
  return t;
}

/** --group-by: each group alone, the totals, the pairs, the recommendation; every figure tagged with its JSON path. */
function groupSectionHtml(report: Report, ps: number): string[] {
  const t = report.groupTotals;
  if (report.groupBy === null || t === null) return [];
  const vm = report.groups.some((g) => g.vm !== null);
  const rows = report.groups.map((g, i) => [
    html(g.key),
    fig(`groups.${i}.pids.length`, g.pids.length, 'count', ps),
    ...(vm
      ? g.vm === null
        ? ['', '', '']
        : [fig(`groups.${i}.vm.guestRamResidentBytes`, g.vm.guestRamResidentBytes, 'bytes', ps), fig(`groups.${i}.vm.qemuOwnResidentBytes`, g.vm.qemuOwnResidentBytes, 'bytes', ps), fig(`groups.${i}.vm.zeroFilledGuestRamBytes`, g.vm.zeroFilledGuestRamBytes, 'bytes', ps)]
      : []),
    fig(`groups.${i}.alone.ramFreedBytes`, g.alone.ramFreedBytes, 'bytes', ps),
    fig(`groups.${i}.alone.metadataBytes`, g.alone.metadataBytes, 'bytes', ps),
    fig(`groups.${i}.alone.netSavingBytes`, g.alone.netSavingBytes, 'bytes', ps),
  ]);
  const pairs = report.groupPairs.map((p, i) => [p, i] as const).filter(([p]) => p.crossRamFreedBytes > 0);
  return [
    `<section id="groups">`,
    `<h2>By ${html(report.groupBy)}: KSM for each group alone, and across groups</h2>`,
    `<p class="lead">Every group alone frees ${fig('groupTotals.aloneRamFreedBytes', t.aloneRamFreedBytes, 'bytes', ps)}; all together ${fig('groupTotals.togetherRamFreedBytes', t.togetherRamFreedBytes, 'bytes', ps)}: ` +
      `merging across groups adds ${fig('groupTotals.acrossGroupsRamFreedBytes', t.acrossGroupsRamFreedBytes, 'bytes', ps)}, and lets each group observe the others' memory by timing.</p>`,
    table(['', 'processes', ...(vm ? ['guest RAM', 'QEMU own', 'zero-filled guest RAM'] : []), 'KSM frees alone', 'metadata', 'net saving'], rows),
    ...(pairs.length === 0 ? [] : [table(['', 'with', 'frees across'], pairs.map(([p, i]) => [html(p.a), html(p.b), fig(`groupPairs.${i}.crossRamFreedBytes`, p.crossRamFreedBytes, 'bytes', ps)]))]),
    `<ul class="notes">`,
    ...(report.recommendations.length === 0
      ? ['<li>No group saves enough alone to recommend KSM for it (--min-saving).</li>']
      : report.recommendations.map((r) => `<li>Enable KSM for ${html(r.key)} (net ${html(formatBytes(r.netSavingBytes))}): ${html(r.how)}${r.dropIn === null ? '' : ` <code>${html(r.dropIn.path)}</code>: <code>${html(r.dropIn.contents)}</code>`}</li>`)),
    `</ul>`,
    `</section>`,
  ];
}
