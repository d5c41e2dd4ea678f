import type { FleetReport } from '../fleet/fleet-report.js';
import { formatBytes, formatCount, formatPercent } from './format.js';
import { renderColumns, type Column } from './text-table.js';
import { escapeLine } from './text-escape.js';
import { wrapLine } from './wrap.js';

export interface FleetTableOptions {
  top: number;
  width: number;
  ascii: boolean;
}

/** The fleet report for a terminal: the answer, then hosts, the most sharing pairs, guests and the plan. */
export function renderFleetTable(r: FleetReport, o: FleetTableOptions): string {
  const ps = r.pageSize;
  const bytes = (pages: number): string => formatBytes(pages * ps);
  const e = (s: string): string => escapeLine(s, o.ascii);
  const out: string[] = [];
  const say = (line: string): void => {
    out.push(...wrapLine(line, o.width));
  };
  say(
    `${formatCount(r.hosts.length)} hosts, ${bytes(r.residentPages)} resident: ${bytes(r.intraHostDuplicatePages)} (${formatPercent(r.intraHostDuplicatePages, r.residentPages)}) duplicates content within its own host, ${bytes(r.interHostDuplicatePages)} (${formatPercent(r.interHostDuplicatePages, r.residentPages)}) only across hosts.`,
  );
  out.push('');
  const table = (columns: Column[], rows: string[][]): void => {
    out.push(...renderColumns(columns, rows, { width: o.width, ascii: o.ascii }).lines, '');
  };
  const right = (header: string, drop?: number): Column => ({ header, align: 'right', ...(drop === undefined ? {} : { drop }) });
  table(
    [{ header: 'host', align: 'left', shrink: { min: 8, from: 'end' } }, right('resident'), right('distinct'), right('dup within host'), right('zero-filled', 2), right('eligible', 1), right('guests', 3)],
    r.hosts.map((h) => [e(h.host), bytes(h.residentPages), bytes(h.distinctContents), bytes(h.duplicatePages), bytes(h.zeroFilledPages), bytes(h.eligiblePages), formatCount(h.guests)]),
  );
  if (r.pairs.length > 0) {
    out.push('Hosts that share the most content:');
    table([{ header: 'host', align: 'left', shrink: { min: 8, from: 'end' } }, { header: 'host', align: 'left', shrink: { min: 8, from: 'end' } }, right('shared')], r.pairs.slice(0, o.top).map((p) => [e(p.a), e(p.b), bytes(p.sharedPages)]));
  }
  if (r.guestPairs.length > 0) {
    out.push('Guests that share the most content:');
    table([{ header: 'guest', align: 'left', shrink: { min: 8, from: 'end' } }, { header: 'guest', align: 'left', shrink: { min: 8, from: 'end' } }, right('shared')], r.guestPairs.slice(0, o.top).map((p) => [e(p.a), e(p.b), bytes(p.sharedPages)]));
  }
  const p = r.placement;
  if (p !== null) {
    say(
      `Placement (greedy, capacities ${p.capacitySource === 'flags' ? 'as given' : 'as the fullest host today'}): guests share ${bytes(p.todaySharedPages)} within their hosts today, ${bytes(p.planSharedPages)} as planned, with ${formatCount(p.moves.length)} moves.`,
    );
    if (p.moves.length > 0) table([{ header: 'guest', align: 'left', shrink: { min: 8, from: 'end' } }, { header: 'from', align: 'left' }, { header: 'to', align: 'left' }], p.moves.slice(0, o.top).map((m) => [e(m.guest), e(m.from), e(m.to)]));
    if (p.overCapacity.length > 0) say(`No host had room for: ${p.overCapacity.map(e).join(', ')}.`);
  } else {
    say('No guests (QEMU processes) found: no placement to plan.');
  }
  for (const c of r.caveats) say(c);
  for (const w of r.warnings) say(`warning: ${e(w)}`);
  return `${out.join('\n')}\n`;
}
