// Runs the real kernel KSM for tests, to convergence, and puts every knob back afterwards.
//
// KSM is system-wide: one ksmd, one set of counters. So a session takes an exclusive lock
// that every test run on this machine shares, unmerges everything, sets fast scanning,
// and in `finally` unmerges again and restores the settings it found.
//
// If the test process dies mid-session: on exit or SIGTERM/SIGINT/SIGHUP the settings are
// restored synchronously; on SIGKILL they cannot be, so the session also writes the settings
// it found into the lock file and the next session restores those first.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The one lock every test run on this machine takes before it touches KSM. */
export const KSM_LOCK_FILE = '/run/lock/samepage-ksm.lock';

const KSM_DIR = '/sys/kernel/mm/ksm';
const LOCK_TIMEOUT_MS = 240_000;
const UNMERGE_TIMEOUT_MS = 60_000;
const DEFAULT_CONVERGE_TIMEOUT_MS = 120_000;
const POLL_MS = 10;

// Fast scanning: small test processes are scanned in full in one batch, and ksmd naps for
// about one jiffy between batches, so a full scan takes a few milliseconds instead of seconds.
const FAST_PAGES_TO_SCAN = 20_000;
const FAST_SLEEP_MILLISECS = 1;

/** Every knob a session may change, in the order they are restored (see restorable()). */
const SAVED_SETTINGS = [
  'smart_scan',
  'sleep_millisecs',
  'pages_to_scan',
  'use_zero_pages',
  'max_page_sharing',
  'advisor_mode',
  'run',
] as const;

export type KsmSettingName = (typeof SAVED_SETTINGS)[number];
/**
 * The saved settings: KSM's knobs, and THP's `enabled` (thp_enabled), which a session may set
 * too: it is system-wide as well, so it is changed and restored under the same lock.
 */
export type KsmSettings = Partial<Record<KsmSettingName | 'thp_enabled', string>>;

const THP_ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';

export type ThpEnabled = 'always' | 'madvise' | 'never';

export interface KsmOptions {
  useZeroPages: 0 | 1;
  /** Default: leave the kernel's value (256 by default). */
  maxPageSharing?: number;
  /** Transparent huge pages' `enabled` for the session. Default: leave it as found. */
  thpEnabled?: ThpEnabled;
  /** ksmd's pace; default the fast one below. A moving workload needs a full scan longer than its changes. */
  pagesToScan?: number;
  sleepMillisecs?: number;
}

/** Global counters from /sys/kernel/mm/ksm, under the kernel's own names. */
export interface KsmGlobalStats {
  pages_shared: number;
  pages_sharing: number;
  pages_unshared: number;
  pages_volatile: number;
  ksm_zero_pages: number;
  general_profit: number;
  full_scans: number;
  stable_node_chains: number;
  stable_node_dups: number;
  use_zero_pages: number;
  max_page_sharing: number;
}

/** One process after a run: /proc/PID/ksm_stat (kernel names) plus its Pss_Anon in kB. */
export interface KsmProcessStats {
  pid: number;
  ksm_rmap_items: number;
  ksm_zero_pages: number;
  ksm_merging_pages: number;
  ksm_process_profit: number;
  ksm_merge_any: boolean;
  ksm_mergeable: boolean;
  pssAnonBeforeKb: number;
  pssAnonAfterKb: number;
}

export interface KsmResult {
  global: KsmGlobalStats;
  /** In the order of the pids given. */
  processes: KsmProcessStats[];
  /** Sum over the processes of Pss_Anon before minus after, in kB. */
  pssAnonDropKb: number;
  /** Full scans ksmd completed during this run. */
  fullScans: number;
  /** From run=1 until convergence was seen. */
  elapsedMs: number;
  /**
   * Other processes KSM was scanning too (mergeable, not among the pids given). When there
   * are any, the global counters include their pages: trust only the per-process numbers.
   */
  otherMergeablePids: number[];
}

export interface ConvergeOptions {
  timeoutMs?: number;
  /**
   * Also wait for the processes' Pss_Anon to hold still: when KSM splits huge pages, the split
   * frees zero-filled subpages that no counter shows, so the counters can stand still while
   * memory is still being freed.
   */
  watchPssAnon?: boolean;
}

export interface KsmSession {
  /** The settings found when the session began (read under the lock); restored at the end. */
  readonly settingsOnEntry: KsmSettings;
  /**
   * Sets run=1 and waits until merging has settled for these processes, then sets run=0 and
   * returns the counters. run=0 stops ksmd but keeps what it merged, so the processes stay
   * merged (and ksmd stops burning a CPU) while the test looks at them; a second call carries
   * on from that state. Call unmerge() first for a clean start.
   */
  runToConvergence(pids: number[], opts?: ConvergeOptions): Promise<KsmResult>;
  /** run=2: breaks every KSM page (other processes' too), waits until the counters say so, then run=0. */
  unmerge(): Promise<void>;
  /** run=1 and return at once, to look at KSM before it has converged (runToConvergence or the session's end stops it). */
  start(): Promise<void>;
  readGlobal(): Promise<KsmGlobalStats>;
  /** Sets use_zero_pages within the session (restored at its end); call unmerge() first for a clean start. */
  setUseZeroPages(value: 0 | 1): Promise<void>;
}

let active = false;
// The settings to put back if this process exits in the middle of a session.
let pendingRestore: KsmSettings | undefined;

/**
 * Takes the system-wide KSM lock, unmerges everything, sets fast scanning with the given
 * use_zero_pages / max_page_sharing, and runs fn. Afterwards (even if fn throws) unmerges
 * everything, restores every setting it changed (run included: 0 unless something else was
 * using KSM) and releases the lock.
 */
export async function withKsm<T>(opts: KsmOptions, fn: (ksm: KsmSession) => Promise<T>): Promise<T> {
  if (active) throw new Error('withKsm: already inside a KSM session (nesting would deadlock on the lock)');
  active = true;
  try {
    const release = await holdKsmLock();
    try {
      const saved = (await readCrashRecord()) ?? (await readKsmSettings());
      await writeFile(KSM_LOCK_FILE, JSON.stringify(saved));
      pendingRestore = saved;
      let result: T;
      try {
        await unmergeAll();
        await applyFastSettings(opts);
        result = await fn({ ...session, settingsOnEntry: saved });
      } catch (err) {
        // Restore anyway, but report fn's error rather than a follow-on one.
        await restore(saved).catch((restoreErr: unknown) =>
          console.error('withKsm: restoring KSM settings failed too:', restoreErr),
        );
        throw err;
      }
      await restore(saved);
      return result;
    } finally {
      pendingRestore = undefined;
      await release();
    }
  } finally {
    active = false;
  }
}

/** Settings a session that died unrestored left in the lock file (see the top of this file). */
async function readCrashRecord(): Promise<KsmSettings | undefined> {
  const text = (await readFile(KSM_LOCK_FILE, 'utf8')).trim();
  if (text === '') return undefined;
  try {
    const record = JSON.parse(text) as KsmSettings;
    console.warn(`withKsm: an earlier session died before restoring KSM; restoring ${text}`);
    return record;
  } catch {
    console.warn(`withKsm: ignoring unreadable ${KSM_LOCK_FILE}: ${text}`);
    return undefined;
  }
}

/** The current value of every setting a session changes (missing knobs left out). */
export async function readKsmSettings(): Promise<KsmSettings> {
  const settings: KsmSettings = {};
  for (const name of SAVED_SETTINGS) {
    let value: string;
    try {
      value = await readKsm(name);
    } catch {
      continue; // Older kernels lack smart_scan (6.7) and advisor_mode (6.8).
    }
    // advisor_mode reads like "[none] scan-time": keep the selected word, which is what a write takes.
    settings[name] = /\[(\S+)\]/.exec(value)?.[1] ?? value;
  }
  const thp = await readThpEnabled();
  if (thp !== undefined) settings.thp_enabled = thp;
  return settings;
}

/** THP's `enabled`, the selected word ("always [madvise] never" -> "madvise"); undefined without THP. */
export async function readThpEnabled(): Promise<string | undefined> {
  try {
    const text = (await readFile(THP_ENABLED, 'utf8')).trim();
    return /\[(\S+)\]/.exec(text)?.[1] ?? text;
  } catch {
    return undefined;
  }
}

const session: Omit<KsmSession, 'settingsOnEntry'> = {
  runToConvergence,
  async unmerge() {
    await unmergeAll();
    await writeKsm('run', '0');
  },
  readGlobal,
  async start() {
    await writeKsm('run', '1');
  },
  async setUseZeroPages(value) {
    await writeKsm('use_zero_pages', String(value));
  },
};

async function applyFastSettings(opts: KsmOptions): Promise<void> {
  // The advisor rewrites pages_to_scan on its own (and the kernel refuses pages_to_scan writes
  // while it is on, EINVAL), so switch it off first.
  if (await exists('advisor_mode')) await writeKsm('advisor_mode', 'none');
  await writeKsm('pages_to_scan', String(opts.pagesToScan ?? FAST_PAGES_TO_SCAN));
  await writeKsm('sleep_millisecs', String(opts.sleepMillisecs ?? FAST_SLEEP_MILLISECS));
  // smart_scan skips pages that did not merge in earlier scans: tests want every page every scan.
  if (await exists('smart_scan')) await writeKsm('smart_scan', '0');
  await writeKsm('use_zero_pages', String(opts.useZeroPages));
  // Only writable while KSM holds no pages: we are just after run=2.
  if (opts.maxPageSharing !== undefined) await writeKsm('max_page_sharing', String(opts.maxPageSharing));
  if (opts.thpEnabled !== undefined) await writeFile(THP_ENABLED, opts.thpEnabled);
}

async function restore(saved: KsmSettings): Promise<void> {
  // max_page_sharing can only change while KSM holds no pages, so unmerge first.
  await unmergeAll();
  for (const [name, value] of restorable(saved)) await writeKsm(name, value);
  await writeKsm('run', saved.run ?? '0');
  if (saved.thp_enabled !== undefined) await writeFile(THP_ENABLED, saved.thp_enabled);
  // Check while still holding the lock: afterwards another test run may change them.
  const now = await readKsmSettings();
  const differ = [...restorable(saved)].filter(([name, value]) => now[name] !== value);
  if (differ.length > 0 || now.run !== (saved.run ?? '0') || (saved.thp_enabled !== undefined && now.thp_enabled !== saved.thp_enabled)) {
    throw new Error(`KSM settings not restored: were ${JSON.stringify(saved)}, now ${JSON.stringify(now)}`);
  }
  await writeFile(KSM_LOCK_FILE, '');
}

/**
 * The saved settings to write back, in order, run excepted (it goes last). pages_to_scan goes
 * before advisor_mode, since the kernel refuses pages_to_scan while the advisor is on; and if
 * the advisor was on, pages_to_scan is its business: switching it on resets pages_to_scan.
 */
function restorable(saved: KsmSettings): Map<KsmSettingName, string> {
  const advisorOn = saved.advisor_mode !== undefined && saved.advisor_mode !== 'none';
  const out = new Map<KsmSettingName, string>();
  for (const name of SAVED_SETTINGS) {
    const value = saved[name];
    if (value === undefined || name === 'run' || (name === 'pages_to_scan' && advisorOn)) continue;
    out.set(name, value);
  }
  return out;
}

/** run=2 unmerges synchronously inside the write; then wait until the counters agree. */
async function unmergeAll(): Promise<void> {
  await writeKsm('run', '2');
  const deadline = Date.now() + UNMERGE_TIMEOUT_MS;
  for (;;) {
    const g = await readGlobal();
    if (g.pages_shared + g.pages_sharing + g.ksm_zero_pages === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`KSM did not unmerge within ${UNMERGE_TIMEOUT_MS} ms: ${JSON.stringify(g)}`);
    }
    await sleep(50);
  }
}

async function runToConvergence(pids: number[], opts?: ConvergeOptions): Promise<KsmResult> {
  const timeoutMs = opts?.timeoutMs ?? DEFAULT_CONVERGE_TIMEOUT_MS;
  const pssBefore = await Promise.all(pids.map(readPssAnonKb));
  const others = await otherMergeablePids(pids);
  const startScans = await readKsmNumber('full_scans');
  const started = Date.now();
  await writeKsm('run', '1');

  // A page merges only after two scans saw the same checksum, and the kernel counts a merge
  // the moment it happens, mid-scan. So: converged once the counters held still across at
  // least two further full scans, and at least three scans ran in all. Other mergeable
  // processes (a browser, say) may never hold still: then watch only our own processes.
  const withGlobal = others.length === 0;
  const watchPss = opts?.watchPssAnon === true;
  let previous = await progress(pids, withGlobal, watchPss);
  let scansAtChange = startScans;
  let lastScans = startScans;
  for (;;) {
    if (Date.now() - started > timeoutMs) {
      await writeKsm('run', '0');
      throw new Error(
        `KSM did not converge within ${timeoutMs} ms (${lastScans - startScans} full scans); last: ${previous}`,
      );
    }
    await sleep(POLL_MS);
    const scans = await readKsmNumber('full_scans');
    if (scans === lastScans) continue;
    lastScans = scans;
    const now = await progress(pids, withGlobal, watchPss);
    if (now !== previous) {
      previous = now;
      scansAtChange = scans;
    } else if (scans - scansAtChange >= 2 && scans - startScans >= 3) {
      break;
    }
  }
  const elapsedMs = Date.now() - started;
  await writeKsm('run', '0');

  const global = await readGlobal();
  const processes: KsmProcessStats[] = [];
  for (const [i, pid] of pids.entries()) {
    const stat = await readKsmStat(pid);
    processes.push({ ...stat, pssAnonBeforeKb: pssBefore[i] ?? 0, pssAnonAfterKb: await readPssAnonKb(pid) });
  }
  const pssAnonDropKb = processes.reduce((sum, p) => sum + p.pssAnonBeforeKb - p.pssAnonAfterKb, 0);
  return {
    global,
    processes,
    pssAnonDropKb,
    fullScans: global.full_scans - startScans,
    elapsedMs,
    otherMergeablePids: others,
  };
}

/** The counters that show merging is still going on, as one comparable string. */
async function progress(pids: number[], withGlobal: boolean, withPss = false): Promise<string> {
  const parts: string[] = [];
  if (withGlobal) {
    const g = await readGlobal();
    parts.push(`${g.pages_shared}/${g.pages_sharing}/${g.ksm_zero_pages}`);
  }
  for (const pid of pids) {
    const s = await readKsmStat(pid);
    parts.push(`${pid}:${s.ksm_merging_pages}/${s.ksm_zero_pages}${withPss ? `/${await readPssAnonKb(pid)}` : ''}`);
  }
  return parts.join(' ');
}

/** Processes other than these that KSM scans: mergeable, or already holding rmap_items. */
export async function otherMergeablePids(pids: number[]): Promise<number[]> {
  const ours = new Set(pids);
  const others: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || ours.has(Number(name))) continue;
    let text: string;
    try {
      text = await readFile(`/proc/${name}/ksm_stat`, 'utf8');
    } catch {
      continue; // Gone, or a kernel without ksm_stat.
    }
    if (/^ksm_mergeable:?\s+yes/m.test(text) || /^ksm_rmap_items\s+[1-9]/m.test(text)) others.push(Number(name));
  }
  return others;
}

export async function readGlobal(): Promise<KsmGlobalStats> {
  const names = [
    'pages_shared',
    'pages_sharing',
    'pages_unshared',
    'pages_volatile',
    'ksm_zero_pages',
    'general_profit',
    'full_scans',
    'stable_node_chains',
    'stable_node_dups',
    'use_zero_pages',
    'max_page_sharing',
  ] as const;
  const values = await Promise.all(names.map(readKsmNumber));
  const stats = {} as KsmGlobalStats;
  names.forEach((name, i) => (stats[name] = values[i] ?? NaN));
  return stats;
}

/** /proc/PID/ksm_stat: "name value" lines, except "ksm_merge_any: yes" style for the booleans. */
export async function readKsmStat(pid: number): Promise<Omit<KsmProcessStats, 'pssAnonBeforeKb' | 'pssAnonAfterKb'>> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/ksm_stat`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read /proc/${pid}/ksm_stat (process gone?): ${String(err)}`);
  }
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):?\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]) fields.set(m[1], m[2]);
  }
  const num = (name: string): number => {
    const v = fields.get(name);
    if (v === undefined) throw new Error(`/proc/${pid}/ksm_stat has no ${name}:\n${text}`);
    return Number(v);
  };
  return {
    pid,
    ksm_rmap_items: num('ksm_rmap_items'),
    ksm_zero_pages: num('ksm_zero_pages'),
    ksm_merging_pages: num('ksm_merging_pages'),
    ksm_process_profit: num('ksm_process_profit'),
    ksm_merge_any: fields.get('ksm_merge_any') === 'yes',
    ksm_mergeable: fields.get('ksm_mergeable') === 'yes',
  };
}

export async function readPssAnonKb(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Pss_Anon:\s+(\d+) kB/m.exec(text);
  if (!m?.[1]) throw new Error(`/proc/${pid}/smaps_rollup has no Pss_Anon`);
  return Number(m[1]);
}

async function readKsm(name: string): Promise<string> {
  return (await readFile(`${KSM_DIR}/${name}`, 'utf8')).trim();
}

async function readKsmNumber(name: string): Promise<number> {
  const text = await readKsm(name);
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${KSM_DIR}/${name}: not a number: ${text}`);
  return value;
}

/** Writes a knob; EBUSY/EAGAIN/EINTR (ksmd or an unmerge in the way) are retried briefly. */
async function writeKsm(name: string, value: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      await writeFile(`${KSM_DIR}/${name}`, value);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retry = code === 'EBUSY' || code === 'EAGAIN' || code === 'EINTR';
      if (!retry || Date.now() > deadline) {
        throw new Error(`cannot write ${value} to ${KSM_DIR}/${name}: ${String(err)}`);
      }
      await sleep(50);
    }
  }
}

async function exists(name: string): Promise<boolean> {
  return readKsm(name).then(
    () => true,
    () => false,
  );
}

/**
 * Takes the machine-wide KSM lock (withKsm does; use it directly only to read KSM state
 * that no session may be changing) and returns its release function.
 *
 * flock(1) holds the lock for us, since Node has no flock: it runs `cat`, which lives until
 * we end its stdin. If this process dies, the pipe closes, cat exits and the lock goes with it.
 */
export async function holdKsmLock(): Promise<() => Promise<void>> {
  await mkdir(dirname(KSM_LOCK_FILE), { recursive: true });
  const seconds = String(Math.ceil(LOCK_TIMEOUT_MS / 1000));
  const child = spawn('flock', ['-x', '-w', seconds, KSM_LOCK_FILE, '-c', 'echo locked; exec cat'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('locked')) resolve();
    });
    child.once('error', (err) => reject(new Error(`cannot run flock: ${err.message}`)));
    child.once('close', (code) =>
      reject(
        new Error(
          `could not lock ${KSM_LOCK_FILE} (flock exit ${code}; another test run holding KSM for over ${seconds} s?) ${stderr}`,
        ),
      ),
    );
  });
  return async () => {
    child.stdin.end();
    await exited;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// If the process exits mid-session (an uncaught error, process.exit, vitest ending its
// worker with SIGTERM, Ctrl-C), put KSM back synchronously: run=2 unmerges inside the write,
// after which every knob is writable. The lock is still ours until this process is gone.
function restoreSync(): void {
  const saved = pendingRestore;
  if (!saved) return;
  pendingRestore = undefined;
  let ok = true;
  const put = (name: string, value: string): void => {
    try {
      writeFileSync(`${KSM_DIR}/${name}`, value);
    } catch {
      ok = false; // Best effort; the crash record in the lock file covers the rest.
    }
  };
  put('run', '2');
  for (const [name, value] of restorable(saved)) put(name, value);
  put('run', saved.run ?? '0');
  if (saved.thp_enabled !== undefined) {
    try {
      writeFileSync(THP_ENABLED, saved.thp_enabled);
    } catch {
      ok = false;
    }
  }
  if (ok) {
    try {
      writeFileSync(KSM_LOCK_FILE, '');
    } catch {
      // The next session will restore once more: harmless.
    }
  }
}

process.once('exit', restoreSync);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    restoreSync();
    process.kill(process.pid, signal); // Die of the signal, as without this listener.
  });
}
