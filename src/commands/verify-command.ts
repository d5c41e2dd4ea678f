import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import type { Report } from '../report/report.js';
import { verifyPrediction } from '../verify/verify.js';
import { renderVerify } from '../reporters/verify-text.js';
import { localeIsUtf8, outputWidth } from '../reporters/terminal.js';
import { describeError } from '../util/errors.js';
import { EXIT_OK, type Io } from './common.js';

export interface VerifyCommandOptions {
  /** A report saved with `scan --json` (or `--format json -o FILE`). */
  file: string;
  json: boolean;
}

/** samepage verify: a saved prediction against what KSM did since. Read-only. */
export async function verifyCommand(opts: VerifyCommandOptions, io: Io): Promise<number> {
  let text: string;
  try {
    text = readFileSync(opts.file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${opts.file}: ${describeError(err)}`);
  }
  if (text.startsWith('SPSNAP')) throw new UserError(`${opts.file} is a snapshot: verify takes a report saved with scan --json (samepage report ${opts.file} --json -o FILE makes one)`);
  let report: Report;
  try {
    report = JSON.parse(text) as Report;
  } catch {
    throw new UserError(`${opts.file} is not a samepage report (JSON from scan --json)`);
  }
  if (typeof report !== 'object' || report === null || report.schemaVersion !== 1 || !Array.isArray(report.processes) || typeof report.estimate?.counters?.pages_sharing !== 'number') {
    throw new UserError(`${opts.file} is not a samepage report of schema version 1`);
  }
  let result;
  try {
    result = verifyPrediction(report);
  } catch (err) {
    throw new UserError(describeError(err));
  }
  io.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : renderVerify(result, { width: outputWidth(process.env, io.stdout), ascii: !localeIsUtf8(process.env) }));
  return EXIT_OK;
}
