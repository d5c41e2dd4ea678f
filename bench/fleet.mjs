#!/usr/bin/env node
// The fleet benchmark (docs/performance.md, "Fleet"): a synthetic, seeded fleet of hosts of
// QEMU guests, written as export writes it, then `samepage fleet DIR --json` timed on it with
// DuckDB's memory limit set; and the two layouts export could have used, compared on a smaller
// fleet by size and by the time the same queries take.
//
//   node bench/fleet.mjs [--hosts 64] [--pages 1048576] [--guests 8] [--compare-hosts 8]
//                        [--memory-limit 8GB] [--threads 2] [--runs 3] [--keep DIR]
//                        [--data DIR]
//
// --compare-hosts 0 skips the layout comparison; --data DIR times samepage fleet on a fleet an
// earlier run left with --keep (DIR/fleet), or on any export directory, without writing one.
//
// Needs a built samepage (`npm ci` or `npm run build`). No root. Disk: about 7 bytes per page.
//
// Each guest's pages (seeded by host, guest and page number through DuckDB's hash()):
// 10% zero-filled, 25% from its image's pool (4 images, 64 Ki contents each, shared by every
// guest of that image on any host), 10% from a pool all guests share (16 Ki contents), 5%
// repeated within the guest (1 Ki contents), 50% its own. Every 10th page is not eligible,
// every 10th mergeable today.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { FleetDb } = await import(join(ROOT, 'dist/fleet/fleet-db.js'));
const { FLEET_QUERIES } = await import(join(ROOT, 'dist/fleet/fleet-sql.js'));

if (process.argv.includes('--help')) {
  console.log('node bench/fleet.mjs [--hosts 64] [--pages 1048576] [--guests 8] [--compare-hosts 8] [--memory-limit 8GB] [--threads 2] [--runs 3] [--keep DIR] [--data DIR]');
  process.exit(0);
}
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const HOSTS = Number(args.hosts ?? 64);
const PAGES = Number(args.pages ?? 1 << 20);
const GUESTS = Number(args.guests ?? 8);
const COMPARE_HOSTS = Number(args['compare-hosts'] ?? 8);
const MEMORY_LIMIT = args['memory-limit'] ?? '8GB';
const THREADS = Number(args.threads ?? 2);
const RUNS = Number(args.runs ?? 3);
const work = args.keep ?? mkdtempSync(join(tmpdir(), 'samepage-fleet-bench-'));

/** One row per page, the pages table's columns (host as a column: COPY partitions by it). */
function generated(hosts) {
  const perGuest = Math.floor(PAGES / GUESTS);
  return `SELECT 'host' || lpad(CAST(h AS VARCHAR), 3, '0') AS host, CAST(g AS INTEGER) AS source, 'vm' || CAST(h * ${GUESTS} + g AS VARCHAR) AS guest,
  CASE WHEN r < 10 THEN 0
       WHEN r < 35 THEN CAST(hash(1, (h * ${GUESTS} + g) % 4, i % 65536) >> 1 AS BIGINT)
       WHEN r < 45 THEN CAST(hash(2, i % 16384) >> 1 AS BIGINT)
       WHEN r < 50 THEN CAST(hash(3, h, g, i % 1024) >> 1 AS BIGINT)
       ELSE CAST(hash(4, h, g, i) >> 1 AS BIGINT) END AS content,
  r < 10 AS zero, r % 10 <> 3 AS eligible, r % 10 = 1 AS mergeable_now
FROM (SELECT x // ${PAGES} AS h, (x % ${PAGES}) // ${perGuest} AS g, x % ${PAGES} AS i, hash(0, x) % 100 AS r FROM range(${hosts} * ${PAGES}) t(x))`;
}

async function write(dir, hosts, layout) {
  mkdirSync(dir, { recursive: true });
  const db = await FleetDb.open({ memoryLimit: MEMORY_LIMIT, threads: THREADS });
  try {
    const rows = layout === 'pages' ? generated(hosts) : `SELECT host, source, guest, content, zero, eligible, mergeable_now, COUNT(*) AS pages FROM (${generated(hosts)}) GROUP BY ALL`;
    const began = performance.now();
    await db.run(`COPY (${rows}) TO '${join(dir, 'pages')}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (host), OVERWRITE_OR_IGNORE)`);
    const count = await db.rows(`SELECT COUNT(*) AS n FROM read_parquet('${join(dir, 'pages')}/*/*.parquet')`);
    return { seconds: (performance.now() - began) / 1000, rows: count[0].n, bytes: du(join(dir, 'pages')) };
  } finally {
    db.close();
  }
}

function du(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) total += e.isDirectory() ? du(join(dir, e.name)) : statSync(join(dir, e.name)).size;
  return total;
}

/** The fleet's queries (but the plan) on one layout, timed one by one. */
async function queries(dir, layout) {
  const db = await FleetDb.open({ memoryLimit: MEMORY_LIMIT, threads: THREADS });
  try {
    const count = layout === 'pages' ? '1' : 'pages';
    await db.run(`CREATE VIEW pages AS SELECT host, source, guest, content, zero, eligible, mergeable_now, CAST(${count} AS BIGINT) AS pages FROM read_parquet('${join(dir, 'pages')}/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)`);
    await db.run('CREATE TABLE host_keys AS SELECT host, CAST(hash(host) >> 16 AS BIGINT) AS host_key FROM (SELECT DISTINCT host FROM pages)');
    await db.run('CREATE TABLE guest_keys AS SELECT host, guest, CAST(hash(host, guest) >> 16 AS BIGINT) AS guest_key FROM (SELECT DISTINCT host, guest FROM pages WHERE guest IS NOT NULL)');
    const times = {};
    for (const name of ['host_figures', 'fleet_contents', 'host_pairs', 'guests', 'guest_pairs']) {
      const began = performance.now();
      await db.rows(FLEET_QUERIES[name]);
      times[name] = (performance.now() - began) / 1000;
    }
    return times;
  } finally {
    db.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (s) => s.toFixed(1);

try {
  console.log(`fleet bench: DuckDB memory limit ${MEMORY_LIMIT}, ${THREADS} threads, ${PAGES} pages per host, ${GUESTS} guests per host, in ${work}`);
  // 1. The layouts, on a smaller fleet.
  for (const layout of COMPARE_HOSTS > 0 && args.data === undefined ? ['pages', 'counts'] : []) {
    const dir = join(work, `compare-${layout}`);
    const w = await write(dir, COMPARE_HOSTS, layout);
    const runs = [];
    for (let r = 0; r < RUNS; r++) runs.push(await queries(dir, layout));
    const total = median(runs.map((t) => Object.values(t).reduce((a, b) => a + b, 0)));
    const per = Object.fromEntries(Object.keys(runs[0]).map((k) => [k, fmt(median(runs.map((t) => t[k])))]));
    console.log(`layout ${layout}: ${COMPARE_HOSTS} hosts, ${w.rows} rows, ${(w.bytes / 2 ** 20).toFixed(1)} MiB (${(w.bytes / (COMPARE_HOSTS * PAGES)).toFixed(2)} B/page), written in ${fmt(w.seconds)} s; queries ${fmt(total)} s (median of ${RUNS}) ${JSON.stringify(per)}`);
    rmSync(dir, { recursive: true, force: true });
  }
  // 2. The fleet at scale, in the layout export writes, through samepage fleet as a user runs it.
  const dir = args.data ?? join(work, 'fleet');
  if (args.data === undefined) {
    const w = await write(dir, HOSTS, 'counts');
    console.log(`fleet: ${HOSTS} hosts, ${HOSTS * PAGES} pages in ${w.rows} rows, ${(w.bytes / 2 ** 30).toFixed(2)} GiB, written in ${fmt(w.seconds)} s`);
  } else {
    console.log(`fleet: ${dir} (${readdirSync(join(dir, 'pages')).length} hosts, ${(du(join(dir, 'pages')) / 2 ** 30).toFixed(2)} GiB)`);
  }
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const began = performance.now();
    const run = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, join(ROOT, 'bin/samepage.js'), 'fleet', dir, '--json', '--memory-limit', MEMORY_LIMIT, '--threads', String(THREADS)], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const seconds = (performance.now() - began) / 1000;
    if (run.status !== 0) throw new Error(`samepage fleet exited ${run.status}: ${run.stderr}`);
    const report = JSON.parse(run.stdout);
    const peakKiB = Number(run.stderr.trim().split('\n').pop());
    times.push(seconds);
    console.log(`samepage fleet run ${r + 1}: ${fmt(seconds)} s, peak RSS ${(peakKiB / 1024).toFixed(0)} MiB; intra ${report.intraHostDuplicatePages}, inter ${report.interHostDuplicatePages}, ${report.pairs.length} host pairs, ${report.guestPairs.length} guest pairs, plan ${report.placement?.todaySharedPages} -> ${report.placement?.planSharedPages} pages shared by guests, ${report.placement?.moves.length} moves`);
  }
  console.log(`samepage fleet: median ${fmt(median(times))} s over ${RUNS} runs`);
} finally {
  if (args.keep === undefined) rmSync(work, { recursive: true, force: true });
}
