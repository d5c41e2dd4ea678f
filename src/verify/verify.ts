import { readdirSync, readFileSync } from 'node:fs';
import type { Report } from '../report/report.js';
import { readKsmPace } from '../analysis/ksm-pace.js';
import { kernelHz, predictKsmTiming, DEFAULT_PAGE_COST_US } from '../analysis/ksm-timing.js';

// samepage verify: a saved prediction (a report) against what KSM did since. Read-only: every
// file is read, none written, no KSM setting touched (docs/estimate.md section 15).

/** A gap within this share of the prediction (or a few pages) counts as agreement. */
export const VERIFY_TOLERANCE = 0.02;
const FEW_PAGES = 8;

export interface VerifyRow {
  pid: number;
  command: string;
  predictedMergingPages: number;
  actualMergingPages: number | null;
  predictedZeroPages: number;
  actualZeroPages: number | null;
  /** actual - predicted, and that over predicted (null when nothing was predicted or read). */
  errorPages: number | null;
  errorShare: number | null;
  /** From smaps_rollup now, kB; null when the process is gone. */
  pssAnonKb: number | null;
  ksmKb: number | null;
  agrees: boolean;
  reasons: string[];
}

export interface VerifyResult {
  prediction: { createdAt: string; scope: string; sampled: boolean };
  ksm: {
    run: number;
    fullScans: number;
    /** Full scans since the prediction was made (null when the report did not say how many there were then). */
    fullScansSince: number | null;
    pages_shared: number;
    pages_sharing: number;
    pages_unshared: number;
    pages_volatile: number;
    ksm_zero_pages: number;
    pagesToScan: number;
    sleepMillisecs: number;
  };
  converged: boolean;
  /** At the current pace, seconds until two full scans have passed since the prediction; 0 once they have. */
  timeLeftSeconds: number | null;
  processes: VerifyRow[];
  total: { predictedMergingPages: number; actualMergingPages: number; errorPages: number; errorShare: number | null; predictedPagesSharing: number; actualPagesSharing: number };
  /** Processes outside the prediction that KSM merges in too. */
  others: Array<{ pid: number; command: string; ksm_merging_pages: number }>;
  agrees: boolean;
  tolerance: number;
  reasons: string[];
}

const KSM_DIR = '/sys/kernel/mm/ksm';

function ksmNumber(name: string): number {
  return Number(readFileSync(`${KSM_DIR}/${name}`, 'latin1').trim());
}

function readProc(pid: number, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch {
    return null;
  }
}

function field(text: string | null, re: RegExp): number | null {
  const m = text === null ? null : re.exec(text);
  return m?.[1] === undefined ? null : Number(m[1]);
}

function commandOf(pid: number): string | null {
  const comm = readProc(pid, 'comm');
  return comm === null ? null : comm.trim();
}

/** Compares the report's default-scope prediction with what KSM shows now. */
export function verifyPrediction(report: Report, fullScansAtPrediction: number | null = report.timing?.fullScansAtScan ?? null): VerifyResult {
  let run: number;
  try {
    run = ksmNumber('run');
  } catch {
    throw new Error('KSM is not available here (/sys/kernel/mm/ksm): there is nothing to verify against');
  }
  const pace = readKsmPace();
  const fullScans = ksmNumber('full_scans');
  const atScan = fullScansAtPrediction;
  const since = atScan === null ? null : fullScans - atScan;
  const ksm = {
    run,
    fullScans,
    fullScansSince: since,
    pages_shared: ksmNumber('pages_shared'),
    pages_sharing: ksmNumber('pages_sharing'),
    pages_unshared: ksmNumber('pages_unshared'),
    pages_volatile: ksmNumber('pages_volatile'),
    ksm_zero_pages: safeKsmNumber('ksm_zero_pages'),
    pagesToScan: pace?.pagesToScan ?? 0,
    sleepMillisecs: pace?.sleepMillisecs ?? 0,
  };
  // Converged: two full scans since the prediction (or since KSM began, when the report does
  // not say), which is what a still page needs (docs/estimate.md section 14).
  const scansSeen = since ?? fullScans;
  const converged = scansSeen >= 2;
  let timeLeft: number | null = converged ? 0 : null;
  if (!converged && pace !== null) {
    const t = predictKsmTiming({ eligiblePages: report.totals.eligiblePages, pace, hz: kernelHz(report.host.kernel), pageCostUs: report.timing?.pageCostUs ?? DEFAULT_PAGE_COST_US, advisor: null });
    timeLeft = (2 - scansSeen) * t.fullScanSeconds;
  }

  const globalReasons: string[] = [];
  if (run !== 1) globalReasons.push(`KSM is not running now (run = ${run})`);
  if (!converged) {
    globalReasons.push(
      `not converged yet: ${scansSeen} full ${scansSeen === 1 ? 'scan' : 'scans'} ${since === null ? 'so far' : 'since the prediction'}, 2 needed` +
        (timeLeft === null ? '' : `; about ${Number(timeLeft.toPrecision(2))} s left at pages_to_scan ${ksm.pagesToScan}, sleep_millisecs ${ksm.sleepMillisecs}`),
    );
  }

  const ours = new Set(report.processes.map((p) => p.pid));
  const ps = report.host.pageSize;
  const rows: VerifyRow[] = report.processes.map((p) => {
    const reasons: string[] = [];
    const command = commandOf(p.pid);
    // comm is at most 15 characters: another program on the same pid is another process.
    const gone = command === null || command.slice(0, 15) !== p.command.slice(0, 15);
    const stat = gone ? null : readProc(p.pid, 'ksm_stat');
    const rollup = gone ? null : readProc(p.pid, 'smaps_rollup');
    const merging = gone ? null : (field(stat, /^ksm_merging_pages\s+(\d+)/m) ?? field(readProc(p.pid, 'ksm_merging_pages'), /^(\d+)/));
    const zero = gone ? null : field(stat, /^ksm_zero_pages\s+(\d+)/m);
    const anonKb = field(rollup, /^Anonymous:\s+(\d+) kB/m);
    const row: VerifyRow = {
      pid: p.pid,
      command: p.command,
      predictedMergingPages: p.ksm_merging_pages,
      actualMergingPages: merging,
      predictedZeroPages: p.ksm_zero_pages,
      actualZeroPages: zero,
      errorPages: merging === null ? null : merging - p.ksm_merging_pages,
      errorShare: merging === null || p.ksm_merging_pages === 0 ? null : (merging - p.ksm_merging_pages) / p.ksm_merging_pages,
      pssAnonKb: field(rollup, /^Pss_Anon:\s+(\d+) kB/m),
      ksmKb: field(rollup, /^KSM:\s+(\d+) kB/m),
      agrees: false,
      reasons,
    };
    row.agrees = merging !== null && Math.abs(merging - p.ksm_merging_pages) <= Math.max(FEW_PAGES, VERIFY_TOLERANCE * p.ksm_merging_pages);
    if (gone) reasons.push('the process exited (or its pid now belongs to another program)');
    else if (!row.agrees) {
      if (!converged) reasons.push('not converged yet');
      if (anonKb !== null) {
        const anonNow = (anonKb * 1024) / ps;
        if (anonNow > p.anonPages * 1.1) reasons.push(`it grew: ${Math.round(anonNow)} anonymous pages now, ${p.anonPages} at the prediction`);
        else if (anonNow < p.anonPages * 0.9) reasons.push(`it shrank: ${Math.round(anonNow)} anonymous pages now, ${p.anonPages} at the prediction`);
      }
      if (merging !== null && merging < p.ksm_merging_pages && ksm.pages_volatile > 0 && converged) {
        reasons.push(`KSM finds pages that change between its scans (pages_volatile ${ksm.pages_volatile})${report.volatility?.sampled === true ? '' : ': the prediction took the workload as still (scan --interval samples it)'}`);
      }
      if (merging !== null && merging > p.ksm_merging_pages) reasons.push('more merged than predicted: it shares content with processes outside the prediction, or its memory changed');
      if (reasons.length === 0) reasons.push('no reason samepage can tell');
    }
    return row;
  });

  const others: VerifyResult['others'] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || ours.has(Number(name))) continue;
    const merging = field(readProc(Number(name), 'ksm_merging_pages'), /^(\d+)/);
    if (merging !== null && merging > 0) others.push({ pid: Number(name), command: commandOf(Number(name)) ?? '?', ksm_merging_pages: merging });
  }
  if (others.length > 0) globalReasons.push(`other processes merge too (${others.length}, ${others.reduce((t, o) => t + o.ksm_merging_pages, 0)} pages): the global counters include them`);

  const predicted = rows.reduce((t, r) => t + r.predictedMergingPages, 0);
  const actual = rows.reduce((t, r) => t + (r.actualMergingPages ?? 0), 0);
  const agrees = rows.every((r) => r.agrees) && Math.abs(actual - predicted) <= Math.max(FEW_PAGES, VERIFY_TOLERANCE * predicted);
  return {
    prediction: { createdAt: report.createdAt, scope: report.estimate.scope, sampled: report.volatility?.sampled === true },
    ksm,
    converged,
    timeLeftSeconds: timeLeft,
    processes: rows,
    total: {
      predictedMergingPages: predicted,
      actualMergingPages: actual,
      errorPages: actual - predicted,
      errorShare: predicted === 0 ? null : (actual - predicted) / predicted,
      predictedPagesSharing: report.estimate.counters.pages_sharing,
      actualPagesSharing: ksm.pages_sharing,
    },
    others,
    agrees,
    tolerance: VERIFY_TOLERANCE,
    reasons: globalReasons,
  };
}

function safeKsmNumber(name: string): number {
  try {
    return ksmNumber(name);
  } catch {
    return 0;
  }
}
