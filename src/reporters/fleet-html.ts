import { createHash } from 'node:crypto';
import type { FleetPair, FleetReport } from '../fleet/fleet-report.js';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { PAGE_STYLE } from './html-style.js';

const FLEET_STYLE = `${PAGE_STYLE}
table.matrix td { text-align: right; font-variant-numeric: tabular-nums; }
table.matrix th { font-weight: 500; }
`;

/**
 * The fleet report as one self-contained page (no script runs: the report is embedded as JSON
 * data only): the answer, hosts, the host x host matrix as a shaded table, guests that share
 * most, and the placement plan.
 */
export function renderFleetHtml(r: FleetReport, o: { top: number }): string {
  const ps = r.pageSize;
  const bytes = (pages: number): string => html(formatBytes(pages * ps));
  const policy = ["default-src 'none'", `style-src 'sha256-${sha256(FLEET_STYLE)}'`, "img-src 'none'", "base-uri 'none'", "form-action 'none'"].join('; ');
  const row = (cells: string[], head = false): string => `<tr>${cells.map((c) => (head ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`;
  const tableOf = (headers: string[], rows: string[][], cls = ''): string =>
    `<table${cls === '' ? '' : ` class="${cls}"`}><thead>${row(headers.map(html), true)}</thead><tbody>${rows.map((x) => row(x)).join('')}</tbody></table>`;
  const p = r.placement;
  const body = [
    '<header><h1>samepage fleet</h1>',
    `<p class="answer">${formatCount(r.hosts.length)} hosts hold ${bytes(r.residentPages)}: <span data-path="intraHostDuplicatePages">${bytes(r.intraHostDuplicatePages)}</span> (${formatPercent(r.intraHostDuplicatePages, r.residentPages)}) duplicates content within its own host, <span data-path="interHostDuplicatePages">${bytes(r.interHostDuplicatePages)}</span> (${formatPercent(r.interHostDuplicatePages, r.residentPages)}) duplicates only content on other hosts.</p>`,
    `<p class="meta">DuckDB ${html(r.engine.version)}, memory limit ${html(r.engine.memoryLimit)}, ${(r.engine.elapsedMs / 1000).toFixed(1)} s, at ${html(r.createdAt)}.</p></header>`,
    '<section><h2>Hosts</h2>',
    tableOf(
      ['host', 'kernel', 'resident', 'distinct', 'dup within host', 'zero-filled', 'eligible', 'guests'],
      r.hosts.map((h) => [html(h.host), html(h.kernel ?? ''), bytes(h.residentPages), bytes(h.distinctContents), bytes(h.duplicatePages), bytes(h.zeroFilledPages), bytes(h.eligiblePages), formatCount(h.guests)]),
    ),
    '</section>',
    r.pairs.length === 0 ? '' : `<section><h2>Content hosts share</h2>${matrix(r.hosts.map((h) => h.host).slice(0, o.top), r.pairs, bytes)}</section>`,
    r.guestPairs.length === 0 ? '' : `<section><h2>Guests that share the most</h2>${tableOf(['guest', 'guest', 'shared'], r.guestPairs.slice(0, o.top).map((x) => [html(x.a), html(x.b), bytes(x.sharedPages)]))}</section>`,
    p === null
      ? '<section><h2>Placement</h2><p>No guests (QEMU processes) found: no placement to plan.</p></section>'
      : `<section><h2>Placement</h2><p>Greedy plan, capacities ${p.capacitySource === 'flags' ? 'as given' : 'as the fullest host today'}: guests share <span data-path="placement.todaySharedPages">${bytes(p.todaySharedPages)}</span> within their hosts today, <span data-path="placement.planSharedPages">${bytes(p.planSharedPages)}</span> as planned, with ${formatCount(p.moves.length)} moves.</p>${
          p.moves.length === 0 ? '' : tableOf(['guest', 'from', 'to'], p.moves.slice(0, o.top).map((m) => [html(m.guest), html(m.from), html(m.to)]))
        }</section>`,
    `<section><h2>Caveats</h2><ul>${[...r.caveats, ...r.warnings].map((c) => `<li>${html(c)}</li>`).join('')}</ul></section>`,
    `<script type="application/json" id="fleet-report">${jsonForScript(r)}</script>`,
  ];
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${policy}"><title>samepage fleet</title><style>${FLEET_STYLE}</style></head>
<body>${body.join('\n')}</body></html>
`;
}

/** Host x host as a table, every figure in its cell. */
function matrix(hosts: readonly string[], pairs: readonly FleetPair[], bytes: (pages: number) => string): string {
  const shared = new Map<string, number>();
  for (const p of pairs) {
    shared.set(`${p.a}\0${p.b}`, p.sharedPages);
    shared.set(`${p.b}\0${p.a}`, p.sharedPages);
  }
  const head = `<tr><th></th>${hosts.map((h) => `<th>${html(h)}</th>`).join('')}</tr>`;
  const rows = hosts.map((a) => {
    const cells = hosts.map((b) => {
      if (a === b) return '<td>-</td>';
      const n = shared.get(`${a}\0${b}`) ?? 0;
      return `<td title="${html(a)} and ${html(b)}">${n === 0 ? '' : bytes(n)}</td>`;
    });
    return `<tr><th>${html(a)}</th>${cells.join('')}</tr>`;
  });
  return `<table class="matrix"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}
