import { availableParallelism } from 'node:os';
import type { Argv } from 'yargs';
import type { Selection } from '../live/select.js';
import { INT_MAX, pidNumber, wholeNumber } from './numbers.js';
import { UsageError } from './usage-error.js';
import { GROUP_BY, type GroupBy } from '../grouping/group-keys.js';
import { FORMATS, type Format } from '../reporters/formats.js';
import { SORT_KEYS, type SortKey } from '../reporters/process-order.js';

/** What yargs hands a command: values already checked and converted by the options' coerce. */
export type Args = Record<string, unknown>;

const SELECTION = 'Choosing processes (repeatable, combined):';
const OUTPUT = 'Output:';

/** A flag given twice keeps its last value, as before (yargs would make an array of them). */
function last(v: unknown): string {
  return undash(String(Array.isArray(v) ? v[v.length - 1] : v));
}

/** What a lone '-' is while yargs parses (it would drop it): a word with a NUL, which argv never holds. */
export const DASH = '\u0000-';

export function undash(word: string): string {
  return word === DASH ? '-' : word;
}

const FLAGS = ['chromium', 'chromium-all', 'all', 'no-progress', 'json', 'qemu'];

/** A flag takes no value: yargs would read --all=yes as false and --all=3 as true. */
export function checkFlagsTakeNoValue(args: readonly string[]): void {
  for (const a of args) {
    if (a === '--') return;
    const name = /^--([\w-]+)=/.exec(a)?.[1];
    if (name !== undefined && FLAGS.includes(name)) throw new UsageError(`--${name} takes no value`);
  }
}

export function selectionOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('pid', { type: 'string', array: true, requiresArg: true, group: SELECTION, describe: 'a process, by PID', coerce: (v: string[]) => v.map((p) => pidNumber(p, '--pid')) })
    .option('name', { type: 'string', array: true, requiresArg: true, group: SELECTION, describe: 'processes whose command or command line matches a REGEX' })
    .option('tree', { type: 'string', array: true, requiresArg: true, group: SELECTION, describe: 'a process (PID) and all its descendants', coerce: (v: string[]) => v.map((p) => pidNumber(p, '--tree')) })
    .option('chromium', { type: 'boolean', group: SELECTION, describe: "Chromium's renderer processes (--type=renderer)" })
    .option('chromium-all', { type: 'boolean', group: SELECTION, describe: 'every Chromium process: browser, zygotes, renderers, GPU, utilities' })
    .option('all', { type: 'boolean', group: SELECTION, describe: 'every process of the machine' })
    .option('threads', { type: 'string', requiresArg: true, group: SELECTION, describe: 'threads reading and hashing pages (default: the CPUs, at most 8)', coerce: (v: unknown) => wholeNumber(last(v), '--threads', 1, 8) })
    .option('no-progress', { type: 'boolean', group: SELECTION, describe: 'no progress bar (it is only ever shown when stderr is a terminal)' });
}

export function reportOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('format', {
      type: 'string',
      requiresArg: true,
      group: OUTPUT,
      describe: `the report as ${FORMATS.join(', ')} (default table)`,
      coerce: (v: unknown) => oneOf(last(v), '--format', FORMATS),
    })
    .option('json', { type: 'boolean', group: OUTPUT, describe: 'the report as JSON (docs/report-schema.md): --format json' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, group: OUTPUT, describe: "write the report to FILE (default and '-': standard output)", coerce: last })
    .option('sort', {
      type: 'string',
      requiresArg: true,
      group: OUTPUT,
      describe: `order processes by: ${SORT_KEYS.slice(0, 5).join(', ')},\n${SORT_KEYS.slice(5).join(', ')} (default freed: RAM KSM frees)`,
      coerce: (v: unknown) => oneOf(last(v), '--sort', SORT_KEYS),
    })
    .option('use-zero-pages', { type: 'string', requiresArg: true, group: OUTPUT, describe: "assume this use_zero_pages (0 or 1) instead of the kernel's", coerce: (v: unknown) => wholeNumber(last(v), '--use-zero-pages', 0, 1) })
    .option('max-page-sharing', {
      type: 'string',
      requiresArg: true,
      group: OUTPUT,
      describe: "assume this max_page_sharing instead of the kernel's",
      coerce: (v: unknown) => wholeNumber(last(v), '--max-page-sharing', 2, INT_MAX, ' (the kernel takes a C int)'),
    })
    .option('top', { type: 'string', requiresArg: true, group: OUTPUT, describe: 'process rows of table, markdown and html (default 40)', coerce: (v: unknown) => wholeNumber(last(v), '--top', 1) });
}

export function snapshotOptions<T>(y: Argv<T>): Argv<T> {
  return y.option('output', { alias: 'o', type: 'string', requiresArg: true, describe: "the snapshot file to write ('-': standard output); a device, FIFO, socket or symbolic link is refused, an existing file keeps its mode", coerce: last });
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? (v as number[]) : [];
}

export function selectionOf(a: Args): Selection {
  const pids = numbers(a['pid']);
  const trees = numbers(a['tree']);
  const names = strings(a['name']);
  const sel = { pids, names, trees, chromium: a['chromium'] === true, chromiumAll: a['chromium-all'] === true, all: a['all'] === true, ...(a['qemu'] === true ? { qemu: true } : {}) };
  if (sel.all && (pids.length > 0 || names.length > 0 || trees.length > 0 || sel.chromium || sel.chromiumAll)) {
    throw new UsageError('--all scans every process: it does not combine with --pid, --name, --tree or --chromium');
  }
  if (sel.all && sel.qemu === true) throw new UsageError('--all scans every process: it does not combine with --qemu');
  return sel;
}

export function threadsOf(a: Args): number {
  return typeof a['threads'] === 'number' ? a['threads'] : Math.min(8, availableParallelism());
}

export function progressOf(a: Args): boolean {
  return a['no-progress'] !== true;
}

function oneOf<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value);
  if (found === undefined) throw new UsageError(`${flag} takes ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1] ?? ''}, not '${value}'`);
  return found;
}

export interface ReportFlags {
  format: Format;
  output: string | null;
  sort: SortKey;
  useZeroPages: number | undefined;
  maxPageSharing: number | undefined;
  top: number;
}

export function reportFlagsOf(a: Args): ReportFlags {
  const n = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const format = a['format'] as Format | undefined;
  if (a['json'] === true && format !== undefined && format !== 'json') throw new UsageError(`--json is --format json: it does not combine with --format ${format}`);
  const output = typeof a['output'] === 'string' ? a['output'] : null;
  if (output === '') throw new UsageError('--output needs a file name');
  return {
    format: a['json'] === true ? 'json' : (format ?? 'table'),
    output,
    sort: (a['sort'] as SortKey | undefined) ?? 'freed',
    useZeroPages: n(a['use-zero-pages']),
    maxPageSharing: n(a['max-page-sharing']),
    top: n(a['top']) ?? 40,
  };
}

// --group-by, --min-saving, --qemu (issue 14): KSM per group of processes, and QEMU guests.
const GROUPS = 'Grouping (KSM per unit, user, VM):';

export function groupingSelectionOptions<T>(y: Argv<T>): Argv<T> {
  return y.option('qemu', { type: 'boolean', group: SELECTION, describe: 'every QEMU guest (qemu-system-*): guest RAM told from QEMU\'s own' });
}

export function groupingOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('group-by', {
      type: 'string',
      requiresArg: true,
      group: GROUPS,
      describe: `the estimate per ${GROUP_BY.join(', ')}: each group alone, each pair across`,
      coerce: (v: unknown) => oneOf(last(v), '--group-by', GROUP_BY),
    })
    .option('min-saving', {
      type: 'string',
      requiresArg: true,
      group: GROUPS,
      describe: 'recommend KSM for a group whose net saving is at least this (bytes, or K, M, G, MiB, MB...; default 64M)',
      coerce: (v: unknown) => sizeInBytes(last(v), '--min-saving'),
    });
}

export interface GroupingFlags {
  groupBy: GroupBy | undefined;
  /** Undefined: the report's default (DEFAULT_MIN_SAVING_BYTES, src/report/group-report.ts). */
  minSaving: number | undefined;
}

export function groupingFlagsOf(a: Args): GroupingFlags {
  const minSaving = typeof a['min-saving'] === 'number' ? a['min-saving'] : undefined;
  const groupBy = a['group-by'] as GroupBy | undefined;
  // --qemu asks about guests: grouped by VM unless another grouping is asked for.
  return { groupBy: groupBy ?? (a['qemu'] === true ? 'vm' : undefined), minSaving };
}

// Volatility sampling (issue 12): scan and snapshot read the pages KSM could track again.
const SAMPLING = 'Volatility (pages that keep changing never merge):';

export function samplingOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('interval', {
      type: 'string',
      requiresArg: true,
      group: SAMPLING,
      describe: 'read the pages KSM could track again after SECONDS and leave those that changed (volatile) out of the estimate',
      coerce: (v: unknown) => secondsOf(last(v), '--interval'),
    })
    .option('samples', {
      type: 'string',
      requiresArg: true,
      group: SAMPLING,
      describe: 'reads of each page in all, the first included, --interval apart (default 2)',
      coerce: (v: unknown) => wholeNumber(last(v), '--samples', 2, 100),
    });
}

export interface SamplingFlags {
  intervalSeconds: number;
  samples: number;
}

/** --interval and --samples, or null when not sampling (--samples alone is an error). */
export function samplingOf(a: Args): SamplingFlags | null {
  const interval = a['interval'];
  const samples = a['samples'];
  if (typeof interval !== 'number') {
    if (samples !== undefined) throw new UsageError('--samples needs --interval SECONDS');
    return null;
  }
  return { intervalSeconds: interval, samples: typeof samples === 'number' ? samples : 2 };
}

function secondsOf(value: string, flag: string): number {
  const s = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(s) || s <= 0 || s > 86400) throw new UsageError(`${flag} takes a number of seconds above 0 and at most 86400, not '${value}'`);
  return s;
}

// KSM's timing (issue 12): "what if" flags for the pace, as --use-zero-pages is for the estimate.
const TIMING = 'KSM timing (how long to converge, what ksmd costs), what if:';

export function timingOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('pages-to-scan', { type: 'string', requiresArg: true, group: TIMING, describe: "assume this pages_to_scan instead of the kernel's", coerce: (v: unknown) => wholeNumber(last(v), '--pages-to-scan', 1, INT_MAX) })
    .option('sleep-ms', { type: 'string', requiresArg: true, group: TIMING, describe: "assume this sleep_millisecs instead of the kernel's", coerce: (v: unknown) => wholeNumber(last(v), '--sleep-ms', 1, INT_MAX) })
    .option('advisor', { type: 'string', requiresArg: true, group: TIMING, describe: "assume this advisor_mode (none or scan-time) instead of the kernel's", coerce: (v: unknown) => oneOf(last(v), '--advisor', ['none', 'scan-time'] as const) })
    .option('page-cost-us', {
      type: 'string',
      requiresArg: true,
      group: TIMING,
      describe: "ksmd's CPU time per page, microseconds (default: as measured on samepage's test machine)",
      coerce: (v: unknown) => {
        const s = last(v);
        const x = Number(s);
        if (!/^\d+(\.\d+)?$/.test(s) || !(x > 0) || x > 1e6) throw new UsageError(`--page-cost-us takes a number of microseconds above 0, not '${s}'`);
        return x;
      },
    });
}

export interface TimingFlags {
  pagesToScan: number | undefined;
  sleepMs: number | undefined;
  advisor: 'none' | 'scan-time' | undefined;
  pageCostUs: number | undefined;
}

export function timingFlagsOf(a: Args): TimingFlags {
  const n = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  const advisor = a['advisor'];
  return { pagesToScan: n(a['pages-to-scan']), sleepMs: n(a['sleep-ms']), advisor: advisor === 'none' || advisor === 'scan-time' ? advisor : undefined, pageCostUs: n(a['page-cost-us']) };
}

// export and fleet (docs/fleet.md): DuckDB's memory, the fleet's output and host capacities.

const FLEET = 'Fleet:';

/** DuckDB's memory_limit as DuckDB takes it: a number and a unit. */
function memoryLimitOf(v: unknown): string {
  const s = last(v).trim();
  if (!/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(s)) throw new UsageError(`--memory-limit takes a size such as 2GB or 512MiB, not '${s}'`);
  return s;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4 };

/** "64GiB" -> bytes. */
export function sizeInBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? '?').toLowerCase()];
  if (m === null || unit === undefined) throw new UsageError(`${flag} takes a size such as 64GiB, not '${text}'`);
  return Math.floor(Number(m[1]) * unit);
}

export function exportOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('output', { alias: 'o', type: 'string', requiresArg: true, group: FLEET, describe: 'the directory to write (made when missing): DIR/pages, DIR/sources, DIR/hosts, partitioned by host', coerce: last })
    .option('memory-limit', { type: 'string', requiresArg: true, group: FLEET, describe: "DuckDB's memory limit, e.g. 2GB (default: DuckDB's, 80% of RAM)", coerce: memoryLimitOf });
}

export function fleetOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('format', { type: 'string', requiresArg: true, group: FLEET, describe: 'table, json or html (default table)', coerce: (v: unknown) => oneOf(last(v), '--format', ['table', 'json', 'html'] as const) })
    .option('json', { type: 'boolean', group: FLEET, describe: 'the fleet report as JSON (docs/fleet.md): --format json' })
    .option('output', { alias: 'o', type: 'string', requiresArg: true, group: FLEET, describe: "write the report to FILE (default and '-': standard output)", coerce: last })
    .option('top', { type: 'string', requiresArg: true, group: FLEET, describe: 'rows of each list the table and html show (default 20)', coerce: (v: unknown) => wholeNumber(last(v), '--top', 1) })
    .option('capacity', { type: 'string', array: true, requiresArg: true, group: FLEET, describe: "a host's room for guests, SIZE for every host or HOST=SIZE (repeatable; default: as much as the fullest host holds today)" })
    .option('memory-limit', { type: 'string', requiresArg: true, group: FLEET, describe: "DuckDB's memory limit, e.g. 2GB (default: DuckDB's, 80% of RAM)", coerce: memoryLimitOf })
    .option('threads', { type: 'string', requiresArg: true, group: FLEET, describe: "DuckDB's threads (default: the CPUs, at most 8)", coerce: (v: unknown) => wholeNumber(last(v), '--threads', 1, 64) });
}

export interface FleetFlags {
  format: 'table' | 'json' | 'html';
  output: string | null;
  top: number;
  capacityBytes: Map<string, number>;
  defaultCapacityBytes: number | null;
  memoryLimit: string | null;
}

export function fleetFlagsOf(a: Args): FleetFlags {
  const format = a['format'] as FleetFlags['format'] | undefined;
  if (a['json'] === true && format !== undefined && format !== 'json') throw new UsageError(`--json is --format json: it does not combine with --format ${format}`);
  const output = typeof a['output'] === 'string' ? a['output'] : null;
  if (output === '') throw new UsageError('--output needs a file name');
  const capacityBytes = new Map<string, number>();
  let defaultCapacityBytes: number | null = null;
  for (const c of strings(a['capacity'])) {
    const eq = c.lastIndexOf('=');
    if (eq < 0) defaultCapacityBytes = sizeInBytes(c, '--capacity');
    else capacityBytes.set(c.slice(0, eq), sizeInBytes(c.slice(eq + 1), '--capacity'));
  }
  return {
    format: a['json'] === true ? 'json' : (format ?? 'table'),
    output,
    top: typeof a['top'] === 'number' ? a['top'] : 20,
    capacityBytes,
    defaultCapacityBytes,
    memoryLimit: typeof a['memory-limit'] === 'string' ? a['memory-limit'] : null,
  };
}
