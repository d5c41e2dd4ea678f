#!/usr/bin/env node
// The samepage benchmark: one command, one run, every figure a median and every throughput
// compared with a single-thread C reference measured in the same run on the same processes.
//
//   node bench/run.mjs [--sizes 1,4,16] [--runs 5] [--warmup 1] [--procs 8] [--quick]
//                      [--chromium-pids auto|PID,PID...] [--index-16m] [--index-pages N]
//                      [--c-methods vmreadv,pread] [--samepage DIR] [--json FILE]
//
// For each total size (GiB) it starts --procs memhold processes (bench/memhold.c) holding
// size/procs each with a known mix of contents, waits until they are resident, then runs,
// interleaved, --runs rounds of: the C reference (bench/reference.c) with process_vm_readv,
// the C reference with pread of /proc/PID/mem, and `samepage scan --json --no-progress --pid ...`
// (the rounds alternate which goes first). The C reference of the table is whichever method
// has the better median at that size. The ratio is the median of the per-round ratios
// samepage / C (each pair measured back to back).
//
// Needs root (reading other processes), cc, and a built samepage (`npm ci` or `npm run build`).
// Never changes KSM's settings: the KSM figures are extrapolated from them.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const BENCH = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PAGE = 4096;
const RSS_BASE = 64 * MiB; // the bound: 64 MiB + 16 bytes per resident page
const RSS_PER_PAGE = 16;
const HEADROOM = 4 * GiB; // never start more memhold memory than MemAvailable minus this
const KSM_DEFAULTS = { pages_to_scan: 100, sleep_millisecs: 20 };
const KSM_SCANS = 2; // a page is merged at the earliest on the second full scan that sees it

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = {
    sizes: [1, 4, 16],
    runs: 5,
    warmup: 1,
    procs: 8,
    quick: false,
    chromiumPids: null,
    index16m: false,
    indexPages: 16 * 1024 * 1024,
    samepage: resolve(BENCH, '..'),
    json: null,
    cMethods: null,
    sizesGiven: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--sizes':
        o.sizes = val().split(',').map(Number);
        o.sizesGiven = true;
        if (o.sizes.some((s) => !(s > 0))) usage('--sizes: positive numbers of GiB, comma-separated');
        break;
      case '--runs':
        o.runs = Number(val());
        break;
      case '--warmup':
        o.warmup = Number(val());
        break;
      case '--procs':
        o.procs = Number(val());
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--chromium-pids':
        o.chromiumPids = val();
        break;
      case '--index-16m':
        o.index16m = true;
        break;
      case '--index-pages':
        o.indexPages = Number(val());
        o.index16m = true;
        break;
      case '--samepage':
        o.samepage = resolve(val());
        break;
      case '--json':
        o.json = resolve(val());
        break;
      case '--c-methods':
        o.cMethods = val().split(',');
        if (o.cMethods.length === 0 || o.cMethods.some((x) => x !== 'vmreadv' && x !== 'pread')) usage('--c-methods: vmreadv, pread or both');
        break;
      case '-h':
      case '--help':
        usage(null);
        break;
      default:
        usage(`unknown option ${a}`);
    }
  }
  // With --chromium-pids or --index-16m, no test processes unless --sizes is given too.
  const other = o.chromiumPids !== null || o.index16m;
  if (other && !o.sizesGiven) o.sizes = [];
  if (o.quick) {
    if (!o.sizesGiven && !other) o.sizes = [0.25];
    o.runs = Math.min(o.runs, 3);
    o.warmup = 0;
  }
  if (!Number.isInteger(o.runs) || o.runs < 1) usage('--runs: a whole number >= 1');
  if (!Number.isInteger(o.procs) || o.procs < 1) usage('--procs: a whole number >= 1');
  return o;
}

function usage(error) {
  const text = `usage: node bench/run.mjs [--sizes 1,4,16] [--runs 5] [--warmup 1] [--procs 8] [--quick]
                         [--chromium-pids auto|PID,PID...] [--index-16m] [--index-pages N]
                         [--c-methods vmreadv,pread] [--samepage DIR] [--json FILE]
  --sizes       total GiB held by the test processes, one measurement per size (default 1,4,16)
  --runs        measured rounds per size (default 5; the figures are medians)
  --warmup      unmeasured rounds before them (default 1)
  --procs       test processes per size (default 8)
  --quick       a smoke test: 0.25 GiB, 3 runs, no warm-up (not a measurement)
  --chromium-pids auto   scan the running Chromium (samepage scan --chromium-all) --runs times
  --chromium-pids P,Q    scan these pids instead
  --index-16m   build a 16 Mi-page index with synthetic hashes (bench/index16m.mjs), --runs times
  --index-pages N        ... of N pages instead (implies --index-16m)
  --c-methods   how the C reference reads: vmreadv, pread or both (default both for the test
                processes, the faster one counts; pread only for --chromium-pids, because
                process_vm_readv pins pages and makes the kernel unshare fork-shared ones)
  --samepage DIR         the samepage checkout to measure (default: this one)
  --json FILE   also write every raw measurement to FILE`;
  if (error) {
    process.stderr.write(`run.mjs: ${error}\n${text}\n`);
    process.exit(2);
  }
  process.stdout.write(`${text}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Children: every memhold is killed on exit, Ctrl-C and errors (memhold also dies with us by
// PR_SET_PDEATHSIG).

const children = new Set();
let workDir = null;

function cleanup() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  if (workDir !== null) {
    rmSync(workDir, { recursive: true, force: true });
    workDir = null;
  }
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping`);
    cleanup();
    process.exit(130);
  });
}

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

function memAvailable() {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'latin1'));
  return m ? Number(m[1]) * 1024 : 0;
}

function vmRss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function readKsm() {
  const out = {};
  for (const k of ['run', 'pages_to_scan', 'sleep_millisecs', 'pages_scanned', 'full_scans', 'use_zero_pages', 'max_page_sharing']) {
    try {
      out[k] = Number(readFileSync(`/sys/kernel/mm/ksm/${k}`, 'latin1').trim());
    } catch {
      out[k] = null;
    }
  }
  return out;
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'latin1');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const flags = /flags\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.split(' ') ?? [];
  return {
    nproc: cpus().length,
    cpu: model,
    avx2: flags.includes('avx2'),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim(),
    memTotalGiB: Number(/MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'latin1'))?.[1] ?? 0) / 1024 / 1024,
    node: process.version,
  };
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mib = (b) => `${fmt(b / MiB, 1)} MiB`;

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(w[i])).join(' | ')} |`;
  return [line(headers), `|${w.map((n) => '-'.repeat(n + 1) + ':').join('|')}|`, ...rows.map(line)].join('\n');
}

/** Which samepage is measured: version, git commit when it is a clone, native addon or not. */
function describeSamepage(dir) {
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  const git = spawnSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--', 'src', 'native'], { encoding: 'utf8' });
  const commit = git.status === 0 ? `${git.stdout.trim()}${dirty.stdout.trim() ? ' + uncommitted changes in src/ or native/' : ''}` : null;
  const built = existsSync(join(dir, 'build', 'Release', 'samepage_native.node'));
  const native = process.env.SAMEPAGE_NO_NATIVE ? 'off (SAMEPAGE_NO_NATIVE)' : built ? 'built' : 'not built (JavaScript reader)';
  return { version, commit, native };
}

// ---------------------------------------------------------------------------------------------
// Building the C programs

function build() {
  workDir = mkdtempSync(join(tmpdir(), 'samepage-bench-'));
  const xxhDir = [join(BENCH, '..', 'node_modules', 'xxhash-addon', 'xxHash'), '/usr/include'].find((d) => existsSync(join(d, 'xxhash.h')));
  if (xxhDir === undefined) throw new Error("no xxhash.h: run 'npm ci' (xxhash-addon ships it) or install libxxhash-dev");
  const cc = process.env.CC ?? 'cc';
  const compile = (src, out, extra) => {
    const args = ['-O3', '-march=native', '-Wall', ...extra, '-o', join(workDir, out), join(BENCH, src)];
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cc} ${args.join(' ')} failed:\n${r.stderr ?? r.error}`);
  };
  compile('memhold.c', 'memhold', []);
  compile('reference.c', 'reference', ['-DXXH_INLINE_ALL', `-I${xxhDir}`]);
  return { memhold: join(workDir, 'memhold'), reference: join(workDir, 'reference'), xxhash: xxhDir };
}

// ---------------------------------------------------------------------------------------------
// Test processes

async function startHolders(bin, totalGiB, procs, seed) {
  const perMiB = Math.max(1, Math.round((totalGiB * 1024) / procs));
  const started = [];
  const ready = [];
  for (let i = 0; i < procs; i++) {
    const child = spawn(bin, [String(perMiB), String(i), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    started.push(child);
    ready.push(
      new Promise((res, rej) => {
        let out = '';
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.stdout.on('data', (d) => {
          out += d;
          const m = /ready (\d+) (\d+)/.exec(out);
          if (m) res({ pid: Number(m[1]), pages: Number(m[2]) });
        });
        child.on('exit', (code, sig) => rej(new Error(`memhold exited (${code ?? sig}) before it was ready: ${err.trim()}`)));
      }),
    );
  }
  const holders = await Promise.all(ready);
  // "ready" comes after every page was written; check the kernel agrees they are resident.
  for (const h of holders) {
    const rss = vmRss(h.pid);
    if (rss < h.pages * PAGE * 0.99) throw new Error(`memhold ${h.pid}: only ${mib(rss)} resident of ${mib(h.pages * PAGE)}`);
  }
  return { holders, children: started, perMiB };
}

/** CPU time used by anything (jiffies, all CPUs), and all time. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is quiet: less than 3% of all CPUs busy over a second, at most
 * `maxMs`. Starting the test processes, and freeing the last size's (on a virtual machine the
 * guest may hand freed memory back to the host), keeps kernel threads busy for seconds after;
 * samepage uses every CPU and the C reference one, so such work slows samepage alone.
 */
async function waitForQuiet(maxMs = 60_000) {
  const t0 = performance.now();
  const samples = [cpuTimes()];
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    samples.push(cpuTimes());
    if (samples.length > 5) samples.shift();
    const first = samples[0];
    const last = samples[samples.length - 1];
    const busyPercent = last.total > first.total ? (100 * (last.busy - first.busy)) / (last.total - first.total) : 0;
    const waitedMs = performance.now() - t0;
    if (samples.length === 5 && busyPercent < 3) return { quiet: true, waitedMs, busyPercent };
    if (waitedMs >= maxMs) return { quiet: false, waitedMs, busyPercent };
  }
}

/** Kills the test processes and waits until they are gone, so their memory is free again. */
async function stopHolders(set) {
  await Promise.all(
    set.children.map(
      (c) =>
        new Promise((res) => {
          children.delete(c);
          if (c.exitCode !== null || c.signalCode !== null) return res();
          c.once('exit', () => res());
          c.kill('SIGKILL');
        }),
    ),
  );
  // The kernel frees an exited process's pages shortly after: give MemAvailable time to recover.
  await new Promise((r) => setTimeout(r, 1000));
}

// ---------------------------------------------------------------------------------------------
// Running the two sides

function runCapture(cmd, args, env = process.env) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr, wallMs: performance.now() - t0 }));
  });
}

async function runReference(bin, method, pids) {
  const r = await runCapture(bin, ['--method', method, ...pids.map(String)]);
  const m = /pages (\d+) bytes (\d+) seconds ([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`reference (${method}) failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  const bytes = Number(m[2]);
  const seconds = Number(m[3]);
  return { method, pages: Number(m[1]), bytes, seconds, gbps: bytes / seconds / 1e9, wallMs: r.wallMs };
}

const HAS_GNU_TIME = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' }).status === 0;

async function runSamepage(dir, selection) {
  // Run as a user runs it: the file itself, which starts Node with its heap flags (they only
  // fully work on the command line), with the `node` that runs this bench first on the PATH.
  const bin = join(dir, 'bin', 'samepage.js');
  const args = ['scan', '--json', '--no-progress', ...selection];
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  let r;
  let gnuTimeKiB = null;
  if (HAS_GNU_TIME) {
    const out = join(workDir, `time-${process.pid}.txt`);
    r = await runCapture('/usr/bin/time', ['-f', '%M', '-o', out, bin, ...args], env);
    gnuTimeKiB = Number(readFileSync(out, 'latin1').trim().split('\n').pop());
  } else {
    r = await runCaptureWithHwm(bin, args, env);
    gnuTimeKiB = r.hwmKiB;
  }
  if (r.code !== 0 && r.code !== 1) throw new Error(`samepage exited ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  const report = JSON.parse(r.stdout);
  const t = report.totals;
  return {
    residentPages: t.residentPages,
    scannedBytes: t.scannedBytes,
    elapsedMs: t.elapsedMs,
    stagesMs: t.stagesMs ?? null,
    wallMs: r.wallMs,
    peakRssBytes: gnuTimeKiB * 1024,
    reportedPeakRssBytes: t.peakRssBytes ?? null,
    gbps: t.scannedBytes / (t.elapsedMs / 1000) / 1e9,
    wallGbps: t.scannedBytes / (r.wallMs / 1000) / 1e9,
    pids: report.processes.map((p) => p.pid),
    processes: report.processes.length,
    skipped: report.skipped.length,
    stderr: r.stderr.trim(),
  };
}

// Without GNU time: samples VmHWM of the child every 20 ms (a lower bound of its peak).
function runCaptureWithHwm(cmd, args, env = process.env) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let hwmKiB = 0;
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'latin1'));
        if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]));
      } catch {
        // exited
      }
    }, 20);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      res({ code, signal, stdout, stderr, wallMs: performance.now() - t0, hwmKiB });
    });
  });
}

/** Rounds of C (both methods) and samepage, interleaved; the order alternates. */
async function measure(bins, opts, pids, selection, label, methods) {
  const rounds = [];
  const total = opts.warmup + opts.runs;
  for (let k = 0; k < total; k++) {
    const warm = k < opts.warmup;
    const round = {};
    const c = async () => {
      for (const m of methods) round[m] = await runReference(bins.reference, m, pids);
    };
    const s = async () => {
      round.samepage = await runSamepage(opts.samepage, selection);
      const seen = new Set(round.samepage.pids);
      if (seen.size !== pids.length || pids.some((p) => !seen.has(p))) {
        log(`  warning: samepage scanned ${seen.size} processes, the C reference ${pids.length} (processes came or went)`);
      }
    };
    if (k % 2 === 0) {
      await c();
      await s();
    } else {
      await s();
      await c();
    }
    log(
      `  ${label} ${warm ? 'warm-up' : `run ${k - opts.warmup + 1}/${opts.runs}`}: ` +
        methods.map((m) => `C ${m} ${fmt(round[m].gbps)} GB/s, `).join('') +
        `samepage ${fmt(round.samepage.gbps)} GB/s ` +
        `(${fmt(round.samepage.elapsedMs / 1000)} s, wall ${fmt(round.samepage.wallMs / 1000)} s, peak ${mib(round.samepage.peakRssBytes)})`,
    );
    if (!warm) rounds.push(round);
  }
  return summarise(rounds, methods);
}

function summarise(rounds, methods) {
  const med = (f) => median(rounds.map(f));
  const vm = methods.includes('vmreadv') ? med((r) => r.vmreadv.gbps) : NaN;
  const pr = methods.includes('pread') ? med((r) => r.pread.gbps) : NaN;
  const method = !(pr > vm) && methods.includes('vmreadv') ? 'vmreadv' : 'pread';
  const sp = (f) => med((r) => f(r.samepage));
  const residentPages = sp((s) => s.residentPages);
  const peak = sp((s) => s.peakRssBytes);
  return {
    rounds,
    method,
    cGbps: method === 'vmreadv' ? vm : pr,
    cVmreadvGbps: vm,
    cPreadGbps: pr,
    cSeconds: med((r) => r[method].seconds),
    cPages: med((r) => r[method].pages),
    cNsPerPage: med((r) => (r[method].seconds * 1e9) / r[method].pages),
    residentPages,
    residentBytes: residentPages * PAGE,
    spGbps: sp((s) => s.gbps),
    spWallGbps: sp((s) => s.wallGbps),
    spElapsedMs: sp((s) => s.elapsedMs),
    spWallMs: sp((s) => s.wallMs),
    spNsPerPage: sp((s) => (s.elapsedMs * 1e6) / s.residentPages),
    // Median ns/page of each stage of samepage's own time (reports from before stagesMs have none).
    spStagesNsPerPage:
      rounds[0]?.samepage.stagesMs == null
        ? null
        : Object.fromEntries(['regions', 'read', 'sort', 'model'].map((k) => [k, sp((s) => (s.stagesMs[k] * 1e6) / s.residentPages)])),
    ratio: med((r) => r.samepage.gbps / r[method].gbps),
    preadRatio: methods.includes('pread') ? med((r) => r.samepage.gbps / r.pread.gbps) : NaN,
    wallRatio: med((r) => r.samepage.wallGbps / r[method].gbps),
    peakRssBytes: peak,
    reportedPeakRssBytes: rounds[0]?.samepage.reportedPeakRssBytes == null ? null : sp((s) => s.reportedPeakRssBytes),
    bound: RSS_BASE + RSS_PER_PAGE * residentPages,
    bytesPerPage: peak / residentPages,
    bytesPerPageOverBase: (peak - RSS_BASE) / residentPages,
  };
}

function ksmExtrapolation(pages, ksm) {
  const rate = (p) => (p.pages_to_scan * 1000) / p.sleep_millisecs;
  const dflt = rate(KSM_DEFAULTS);
  const out = { defaultsPagesPerSec: dflt, defaultsSeconds: (KSM_SCANS * pages) / dflt };
  if (ksm.measuredPagesPerSec > 0) out.measuredSeconds = (KSM_SCANS * pages) / ksm.measuredPagesPerSec;
  return out;
}

/** When ksmd is running (run = 1), how fast it scans now: pages_scanned sampled over a few seconds. Read-only. */
async function sampleKsmRate(ksm, seconds) {
  if (ksm.run !== 1 || ksm.pages_scanned === null) return;
  const read = () => Number(readFileSync('/sys/kernel/mm/ksm/pages_scanned', 'latin1').trim());
  const a = read();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = read();
  ksm.measuredPagesPerSec = (b - a) / ((performance.now() - t0) / 1000);
  ksm.measuredWith = { pages_to_scan: ksm.pages_to_scan, sleep_millisecs: ksm.sleep_millisecs };
}

const dur = (s) => (s >= 3600 ? `${fmt(s / 3600, 1)} h` : s >= 60 ? `${fmt(s / 60, 1)} min` : `${fmt(s, 1)} s`);

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) log('run.mjs: warning: not root: reading other processes needs root (or CAP_SYS_PTRACE)');
  if (!existsSync(join(opts.samepage, 'dist', 'cli.js'))) {
    throw new Error(`${join(opts.samepage, 'dist', 'cli.js')} is missing: run 'npm ci' or 'npm run build' first`);
  }
  const m = machine();
  const ksm = readKsm();
  await sampleKsmRate(ksm, 3);
  const bins = build();
  const sp = describeSamepage(opts.samepage);
  const result = { machine: m, ksm, samepage: sp, options: { ...opts, samepage: undefined }, sizes: [], chromium: null, index: null };
  log(`samepage ${sp.version}${sp.commit ? ` (${sp.commit})` : ''}, native reader: ${sp.native}`);
  log(`machine: ${m.nproc} CPUs, ${m.cpu}${m.avx2 ? ' (AVX2)' : ''}, Linux ${m.kernel}, ${fmt(m.memTotalGiB, 1)} GiB, Node ${m.node}`);
  log(`xxhash.h from ${bins.xxhash}; peak RSS from ${HAS_GNU_TIME ? 'GNU time (%M)' : 'sampled VmHWM'}`);
  if (opts.quick) log('--quick: a smoke test, not a measurement');

  let seed = 1;
  for (const size of opts.sizes) {
    const need = size * GiB;
    const avail = memAvailable();
    if (need > avail - HEADROOM) {
      log(`size ${size} GiB: skipped: MemAvailable is ${fmt(avail / GiB, 1)} GiB, and the bench keeps ${HEADROOM / GiB} GiB free`);
      result.sizes.push({ sizeGiB: size, skipped: `MemAvailable ${fmt(avail / GiB, 1)} GiB` });
      continue;
    }
    log(`size ${size} GiB: starting ${opts.procs} test processes`);
    const t0 = performance.now();
    const set = await startHolders(bins.memhold, size, opts.procs, seed++);
    log(`  resident after ${fmt((performance.now() - t0) / 1000, 1)} s`);
    try {
      const quiet = await waitForQuiet();
      log(`  ${quiet.quiet ? 'quiet' : 'still busy'} after ${fmt(quiet.waitedMs / 1000, 1)} s (CPU use ${fmt(quiet.busyPercent, 1)}% of all CPUs over the last second)`);
      const pids = set.holders.map((h) => h.pid);
      const s = await measure(bins, opts, pids, pids.flatMap((p) => ['--pid', String(p)]), `${size} GiB`, opts.cMethods ?? ['vmreadv', 'pread']);
      s.sizeGiB = size;
      s.perProcessMiB = set.perMiB;
      s.ksm = ksmExtrapolation(s.residentPages, ksm);
      if (Math.abs(s.cPages - s.residentPages) > 0.01 * s.residentPages) {
        log(`  warning: the C reference read ${s.cPages} pages, samepage ${s.residentPages}`);
      }
      result.sizes.push(s);
    } finally {
      await stopHolders(set);
    }
  }

  if (opts.chromiumPids !== null) {
    let selection;
    let pids;
    if (opts.chromiumPids === 'auto') {
      selection = ['--chromium-all'];
      // The C reference reads the same processes: the ones samepage's selection finds.
      const probe = await runSamepage(opts.samepage, selection);
      pids = probe.pids;
    } else {
      pids = opts.chromiumPids.split(',').map(Number);
      selection = pids.flatMap((p) => ['--pid', String(p)]);
    }
    log(`chromium: ${pids.length} processes`);
    // process_vm_readv would make the kernel unshare the zygote's fork-shared pages: pread only.
    const s = await measure(bins, opts, pids, selection, 'chromium', opts.cMethods ?? ['pread']);
    s.pids = pids;
    s.ksm = ksmExtrapolation(s.residentPages, ksm);
    result.chromium = s;
  }

  if (opts.index16m) {
    const runs = [];
    for (let k = 0; k < opts.warmup + opts.runs; k++) {
      const r = await runCapture(process.execPath, [join(BENCH, 'index16m.mjs'), '--pages', String(opts.indexPages), '--samepage', opts.samepage]);
      if (r.code !== 0) throw new Error(`index16m failed: ${r.stderr.trim()}`);
      const j = JSON.parse(r.stdout);
      log(`  index ${opts.indexPages} pages ${k < opts.warmup ? 'warm-up' : `run ${k - opts.warmup + 1}/${opts.runs}`}: fill ${fmt(j.fillMs / 1000)} s, sort ${fmt(j.sortMs / 1000)} s, model ${fmt(j.modelMs / 1000)} s, peak ${mib(j.peakRssBytes)}${j.sorted ? '' : ' NOT SORTED'}${j.modelError ? ` model error: ${j.modelError}` : ''}`);
      if (k >= opts.warmup) runs.push(j);
    }
    const med = (f) => median(runs.map(f));
    result.index = {
      runs,
      pages: opts.indexPages,
      buildMs: med((j) => j.buildMs),
      fillMs: med((j) => j.fillMs),
      sortMs: med((j) => j.sortMs),
      modelMs: med((j) => j.modelMs),
      peakRssBytes: med((j) => j.peakRssBytes),
      peakRssAfterSortBytes: med((j) => j.peakRssAfterSortBytes),
      bound: RSS_BASE + RSS_PER_PAGE * opts.indexPages,
      sorted: runs.every((j) => j.sorted),
      modelError: runs.find((j) => j.modelError)?.modelError ?? null,
    };
  }

  print(result, opts);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(result, null, 2)}\n`);
}

function print(result, opts) {
  const out = [];
  const p = (s = '') => out.push(s);
  const m = result.machine;
  p(`samepage bench: ${m.nproc} CPUs (${m.cpu}${m.avx2 ? ', AVX2' : ''}), Linux ${m.kernel}, Node ${m.node}`);
  const sp = result.samepage;
  p(`samepage ${sp.version}${sp.commit ? ` (${sp.commit})` : ''}, native reader ${sp.native}`);
  p(`medians of ${opts.runs} runs (after ${opts.warmup} warm-up)${result.sizes.length > 0 ? `, ${opts.procs} test processes per size` : ''}; GB = 10^9 bytes of resident memory scanned`);
  p();
  const sizes = result.sizes.filter((s) => !s.skipped);
  if (sizes.length > 0) {
    p(
      table(
        ['size', 'resident GiB', 'C GB/s', 'C method', 'samepage GB/s', 'ratio', 'wall GB/s', 'wall ratio', 'ratio vs C pread', 'peak RSS', 'bound', 'B/page', '(peak-64MiB)/page', 'ns/page', 'C ns/page'],
        sizes.map((s) => [
          `${s.sizeGiB} GiB`,
          fmt(s.residentBytes / GiB),
          fmt(s.cGbps),
          s.method,
          fmt(s.spGbps),
          fmt(s.ratio),
          fmt(s.spWallGbps),
          fmt(s.wallRatio),
          fmt(s.preadRatio),
          mib(s.peakRssBytes),
          mib(s.bound),
          fmt(s.bytesPerPage, 1),
          fmt(s.bytesPerPageOverBase, 1),
          fmt(s.spNsPerPage, 0),
          fmt(s.cNsPerPage, 0),
        ]),
      ),
    );
    p();
    p('samepage GB/s: scannedBytes / its own elapsedMs (the whole scan: read, hash, index, sort, model); wall: the whole command,');
    p('Node start-up and JSON output included. ratio: median over rounds of samepage / C, each pair measured back to back.');
    p(`C reference: single thread, the faster of the methods measured at each size (C GB/s, ratio); medians process_vm_readv / pread(/proc/PID/mem): ${sizes.map((s) => `${fmt(s.cVmreadvGbps)} / ${fmt(s.cPreadGbps)}`).join(', ')} GB/s.`);
    p('ratio vs C pread: samepage against the pread reference, the way samepage itself reads.');
    if (sizes.every((s) => s.spStagesNsPerPage !== null)) {
      p(
        `samepage ns/page by stage (regions = smaps, read = pagemap + read + hash, sort, model): ` +
          sizes.map((s) => `${s.sizeGiB} GiB ${['regions', 'read', 'sort', 'model'].map((k) => fmt(s.spStagesNsPerPage[k], 0)).join(' / ')}`).join('; '),
      );
    }
    if (sizes.some((s) => s.reportedPeakRssBytes != null)) {
      p(`peak RSS from samepage's own report (totals.peakRssBytes): ${sizes.map((s) => mib(s.reportedPeakRssBytes)).join(', ')}`);
    }
    p();
    p('Targets (this run):');
    const at4 = sizes.find((s) => s.sizeGiB === 4);
    if (at4) p(`  throughput >= 1.3x C at 4 GiB: ${fmt(at4.ratio)}x (wall ${fmt(at4.wallRatio)}x): ${at4.ratio >= 1.3 ? 'MET' : 'NOT MET'}`);
    else p('  throughput >= 1.3x C at 4 GiB: not measured (no 4 GiB size in this run)');
    for (const s of sizes) {
      p(`  peak RSS <= 64 MiB + 16 B/page at ${s.sizeGiB} GiB: ${mib(s.peakRssBytes)} vs ${mib(s.bound)}: ${s.peakRssBytes <= s.bound ? 'MET' : 'NOT MET'}`);
    }
    if (sizes.length >= 2) {
      const ns = sizes.map((s) => s.spNsPerPage);
      const cns = sizes.map((s) => s.cNsPerPage);
      const rel = sizes.map((s) => s.spNsPerPage / s.cNsPerPage);
      const spread = (xs) => Math.max(...xs) / Math.min(...xs) - 1;
      p(
        `  linear cost (ns/page within 15% across ${sizes.map((s) => `${s.sizeGiB}`).join(', ')} GiB): samepage ${ns.map((x) => fmt(x, 0)).join(' / ')} ns, ` +
          `spread ${fmt(spread(ns) * 100, 1)}%: ${spread(ns) <= 0.15 ? 'MET' : 'NOT MET'}` +
          ` (C ${cns.map((x) => fmt(x, 0)).join(' / ')} ns, spread ${fmt(spread(cns) * 100, 1)}%; samepage/C per page spread ${fmt(spread(rel) * 100, 1)}%)`,
      );
    } else {
      p('  linear cost: needs at least two sizes');
    }
    p();
    const k = result.ksm;
    p(`KSM (extrapolated, not measured: the bench never changes KSM's settings):`);
    p(`  at defaults (pages_to_scan ${KSM_DEFAULTS.pages_to_scan}, sleep_millisecs ${KSM_DEFAULTS.sleep_millisecs}): at most ${sizes[0].ksm.defaultsPagesPerSec} pages/s, ` +
      `${KSM_SCANS} full scans before the answer is there:`);
    for (const s of sizes) p(`    ${s.sizeGiB} GiB (${s.residentPages} pages): >= ${dur(s.ksm.defaultsSeconds)} (samepage: ${fmt(s.spWallMs / 1000)} s wall)`);
    p(`  this machine's KSM now: run ${k.run}, pages_to_scan ${k.pages_to_scan}, sleep_millisecs ${k.sleep_millisecs}`);
    if (k.measuredPagesPerSec > 0) {
      p(`  ksmd running now scanned ${fmt(k.measuredPagesPerSec, 0)} pages/s (pages_scanned over 3 s, whatever it was scanning); at that rate, ${KSM_SCANS} full scans:`);
      p(`    ${sizes.map((s) => `${s.sizeGiB} GiB ${dur(s.ksm.measuredSeconds)}`).join(', ')}`);
    }
    p();
  }
  for (const s of result.sizes.filter((x) => x.skipped)) p(`size ${s.sizeGiB} GiB skipped: ${s.skipped}`);

  if (result.chromium) {
    const c = result.chromium;
    p(`Chromium (${c.pids.length} processes, ${fmt(c.residentBytes / GiB)} GiB resident):`);
    p(
      `  samepage ${fmt(c.spElapsedMs / 1000)} s (its elapsedMs), ${fmt(c.spWallMs / 1000)} s wall: ${c.spWallMs <= 2000 ? 'MET' : 'NOT MET'} (target: answers in <= 2 s); ` +
        `${fmt(c.spGbps)} GB/s vs C ${fmt(c.cGbps)} GB/s (${c.method}), ratio ${fmt(c.ratio)}; peak RSS ${mib(c.peakRssBytes)} (bound ${mib(c.bound)})`,
    );
    p(`  KSM at defaults (extrapolated): >= ${dur(c.ksm.defaultsSeconds)}`);
    p();
  }
  if (result.index) {
    const x = result.index;
    p(`Index of ${x.pages} pages (${fmt((x.pages * PAGE) / GiB, 0)} GiB of memory), synthetic hashes, samepage's PageIndex + sortIndex + KSM model:`);
    p(
      `  build (fill + sort) ${fmt(x.buildMs / 1000)} s (sort ${fmt(x.sortMs / 1000)} s), model ${fmt(x.modelMs / 1000)} s; ` +
        `peak RSS ${mib(x.peakRssBytes)} (after the sort ${mib(x.peakRssAfterSortBytes)}) vs bound ${mib(x.bound)}: ${x.peakRssBytes <= x.bound ? 'MET' : 'NOT MET'}` +
        `${x.sorted ? '' : '; NOT SORTED'}${x.modelError ? `; model failed: ${x.modelError}` : ''}`,
    );
    p();
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().catch((err) => {
  log(`run.mjs: ${err instanceof Error ? err.message : String(err)}`);
  cleanup();
  process.exit(1);
});
