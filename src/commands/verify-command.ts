import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { sniffInput } from '../source/input-kind.js';
import { SnapshotFile } from '../snapshot/snapshot-source.js';
import { chooseEngine } from '../engine/choose-engine.js';
import { analyse, collect, runScan } from '../scan/scan.js';
import { recordedSample } from '../scan/volatility.js';
import { buildReport } from '../report/build-report.js';
import { UserError } from '../util/errors.js';
import { SCHEMA_VERSION, type Report } from '../report/report.js';
import { verifyPrediction, type VerifyResult } from '../verify/verify.js';
import { renderVerify } from '../reporters/verify-text.js';
import { localeIsUtf8, outputWidth } from '../reporters/terminal.js';
import { describeError } from '../util/errors.js';
import { EXIT_OK, readVersion, type Io } from './common.js';

export interface VerifyCommandOptions {
  /** A report saved with `scan --json` (or `--format json -o FILE`), or a snapshot. */
  file: string;
  json: boolean;
}

/** samepage verify: a saved prediction against what KSM did since. Read-only. */
export async function verifyCommand(opts: VerifyCommandOptions, io: Io): Promise<number> {
  const head = Buffer.alloc(8);
  try {
    const fd = openSync(opts.file, 'r');
    try {
      readSync(fd, head, 0, 8, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new UserError(`cannot read ${opts.file}: ${describeError(err)}`);
  }
  if (sniffInput(head) === 'snapshot') {
    const { report, fullScans } = snapshotPrediction(opts.file);
    return print(verifyOrSay(report, fullScans), opts, io);
  }
  let text: string;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${opts.file}: ${describeError(err)}`);
  }
  let report: Report;
  try {
    report = JSON.parse(text) as Report;
  } catch {
    throw new UserError(`${opts.file} is not a samepage report (JSON from scan --json)`);
  }
  if (typeof report !== 'object' || report === null || report.schemaVersion !== SCHEMA_VERSION || !Array.isArray(report.processes) || typeof report.estimate?.counters?.pages_sharing !== 'number') {
    throw new UserError(`${opts.file} is not a samepage report of schema version ${SCHEMA_VERSION}`);
  }
  return print(verifyOrSay(report, report.timing?.fullScansAtScan ?? null), opts, io);
}

function verifyOrSay(report: Report, fullScans: number | null): VerifyResult {
  try {
    return verifyPrediction(report, fullScans);
  } catch (err) {
    throw new UserError(describeError(err));
  }
}

function print(result: VerifyResult, opts: VerifyCommandOptions, io: Io): number {
  io.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : renderVerify(result, { width: outputWidth(process.env, io.stdout), ascii: !localeIsUtf8(process.env) }));
  return EXIT_OK;
}

/** A snapshot's prediction: the report `samepage report FILE` gives, and full_scans when it was taken. */
function snapshotPrediction(file: string): { report: Report; fullScans: number | null } {
  const engine = chooseEngine();
  const snap = new SnapshotFile(file, file, engine.hasher);
  try {
    const h = snap.header;
    const options = { pageSize: h.host.pageSize, settings: h.ksm, engine };
    let scan;
    if (h.volatility === undefined) scan = runScan(snap.openers(), options);
    else {
      const collected = collect(snap.openers(), options);
      scan = analyse(collected, h.ksm, { sample: recordedSample(collected, new Set(snap.processes.map((p) => p.info)), [h.volatility]) });
    }
    const report = buildReport(scan, { version: readVersion(), root: h.host.root, now: new Date(h.createdAt) });
    return { report, fullScans: h.ksmFullScans ?? null };
  } finally {
    snap.release();
  }
}
