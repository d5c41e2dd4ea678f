#!/usr/bin/env node
// The cost of volatility sampling (scan --interval): the re-read of the pages KSM could track
// against the first pass that read everything, in the same run of samepage, on the same
// processes. Each run is one `samepage scan --json --interval 0.1 --pid ...`; the report gives
// both times (volatility.firstPassReadMs, volatility.rereadMs). Figures: medians of --runs.
//
//   node bench/reread.mjs [--mib 1024] [--procs 4] [--runs 5] [--json FILE]
//
// Needs root (reading other processes), cc, and a built samepage (`npm ci` or `npm run build`).
// memhold (bench/memhold.c) never asks for KSM and never changes a page once ready: nothing is
// volatile, which is the worst case for the re-read (no page is dropped from the comparison).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const SAMEPAGE = resolve(BENCH, '..', 'bin', 'samepage.js');

const opts = { mib: 1024, procs: 4, runs: 5, json: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = process.argv[++i];
  if (v === undefined) throw new Error(`${a} needs a value`);
  if (a === '--mib') opts.mib = Number(v);
  else if (a === '--procs') opts.procs = Number(v);
  else if (a === '--runs') opts.runs = Number(v);
  else if (a === '--json') opts.json = v;
  else throw new Error(`unknown option ${a}`);
}

const work = mkdtempSync(join(tmpdir(), 'samepage-reread-'));
const children = [];
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const cc = spawnSync(process.env.CC ?? 'cc', ['-O2', '-o', join(work, 'memhold'), join(BENCH, 'memhold.c')], { encoding: 'utf8' });
if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);

const pids = await Promise.all(
  Array.from({ length: opts.procs }, (_, i) => new Promise((res, rej) => {
    const child = spawn(join(work, 'memhold'), [String(Math.round(opts.mib / opts.procs)), String(i), '7'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) res(Number(m[1]));
    });
    child.on('exit', (code) => rej(new Error(`memhold exited ${code}`)));
  })),
);

const rows = [];
for (let r = 0; r < opts.runs; r++) {
  const args = [SAMEPAGE, 'scan', '--json', '--no-progress', '--interval', '0.1', ...pids.flatMap((p) => ['--pid', String(p)])];
  const run = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`samepage exited ${run.status}: ${run.stderr}`);
  const v = JSON.parse(run.stdout).volatility;
  rows.push({ firstPassReadMs: v.firstPassReadMs, rereadMs: v.rereadMs, rereadPages: v.rereadPages, ratio: v.rereadMs / v.firstPassReadMs });
  console.log(`run ${r + 1}: first pass ${v.firstPassReadMs} ms, re-read ${v.rereadMs} ms of ${v.rereadPages} pages, ratio ${(v.rereadMs / v.firstPassReadMs).toFixed(2)}`);
}
const result = {
  mib: opts.mib,
  procs: opts.procs,
  runs: opts.runs,
  firstPassReadMs: median(rows.map((x) => x.firstPassReadMs)),
  rereadMs: median(rows.map((x) => x.rereadMs)),
  ratio: median(rows.map((x) => x.ratio)),
};
console.log(`median: first pass ${result.firstPassReadMs} ms, re-read ${result.rereadMs} ms, re-read / first pass ${result.ratio.toFixed(2)}`);
if (opts.json !== null) writeFileSync(opts.json, JSON.stringify({ result, rows }, null, 2));
