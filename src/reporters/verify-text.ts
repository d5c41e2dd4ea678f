import type { VerifyResult } from '../verify/verify.js';
import { formatCount } from './format.js';
import { escapeLine } from './text-escape.js';
import { renderColumns, type Column } from './text-table.js';
import { wrapLine } from './wrap.js';

/** `samepage verify` for a person: predicted vs actual per process and in total, and why they differ. */
export function renderVerify(v: VerifyResult, opts: { width: number; ascii: boolean }): string {
  const out: string[] = [];
  const say = (line: string, indent = 2): void => {
    out.push(...wrapLine(escapeLine(line, opts.ascii), opts.width, indent));
  };
  const pct = (x: number | null): string => (x === null ? '-' : `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`);
  say(
    `samepage verify: the prediction of ${v.prediction.createdAt} (${v.prediction.scope}${v.prediction.sampled ? ', volatile pages left out' : ', one instant'}) against KSM now: ` +
      `run ${v.ksm.run}, ${formatCount(v.ksm.fullScans)} full scans${v.ksm.fullScansSince === null ? '' : ` (${formatCount(v.ksm.fullScansSince)} since the prediction)`}`,
  );
  say(
    `KSM now: pages_shared ${formatCount(v.ksm.pages_shared)}, pages_sharing ${formatCount(v.ksm.pages_sharing)} (predicted ${formatCount(v.total.predictedPagesSharing)}), ` +
      `pages_unshared ${formatCount(v.ksm.pages_unshared)}, pages_volatile ${formatCount(v.ksm.pages_volatile)}, ksm_zero_pages ${formatCount(v.ksm.ksm_zero_pages)}`,
  );
  out.push('');
  const columns: Column[] = [
    { header: 'pid', align: 'right' },
    { header: 'command', align: 'left', shrink: { min: 6, from: 'end' } },
    { header: 'predicted', align: 'right' },
    { header: 'actual', align: 'right' },
    { header: 'error', align: 'right' },
    { header: 'Pss_Anon kB', align: 'right', drop: 1 },
    { header: 'KSM kB', align: 'right', drop: 2 },
  ];
  const rows = v.processes.map((r) => [
    String(r.pid),
    r.command,
    formatCount(r.predictedMergingPages),
    r.actualMergingPages === null ? 'gone' : formatCount(r.actualMergingPages),
    r.errorShare === null ? (r.errorPages === null ? '-' : formatCount(r.errorPages)) : pct(r.errorShare),
    r.pssAnonKb === null ? '-' : formatCount(r.pssAnonKb),
    r.ksmKb === null ? '-' : formatCount(r.ksmKb),
  ]);
  rows.push(['', 'total', formatCount(v.total.predictedMergingPages), formatCount(v.total.actualMergingPages), pct(v.total.errorShare), '', '']);
  say('ksm_merging_pages, predicted and actual:', 0);
  out.push(...renderColumns(columns, rows, opts).lines);
  out.push('');
  for (const r of v.processes) if (!r.agrees) say(`pid ${r.pid} (${r.command}): ${r.reasons.join('; ')}`);
  for (const reason of v.reasons) say(reason);
  say(
    v.agrees
      ? `agrees: every process within ${(v.tolerance * 100).toFixed(0)}% of the prediction`
      : `differs: ${v.converged ? 'KSM has converged and' : 'KSM has not converged yet, and'} the actual figures are not within ${(v.tolerance * 100).toFixed(0)}% of the prediction`,
  );
  return `${out.join('\n')}\n`;
}
