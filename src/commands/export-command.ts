import { hostname, release } from 'node:os';
import { lstatSync, mkdirSync } from 'node:fs';
import type { Selection } from '../live/select.js';
import { SnapshotFile } from '../snapshot/snapshot-source.js';
import { sniffInput } from '../source/input-kind.js';
import type { Skipped } from '../source/skipped.js';
import { isPartial } from '../source/skipped.js';
import { UserError } from '../util/errors.js';
import { STDIN_PATH, openInputFile, type InputFile } from '../util/input-file.js';
import { formatBytes, formatCount } from '../reporters/format.js';
import { escapeLine } from '../reporters/text-escape.js';
import { skipLines } from '../reporters/skip-lines.js';
import { plural } from '../util/plural.js';
import { chooseEngine } from '../engine/choose-engine.js';
import { FleetDb } from '../fleet/fleet-db.js';
import { stageHostPages } from '../fleet/host-pages.js';
import { uniqueHostNames } from '../fleet/host-naming.js';
import { exportedAlready, writeHostParquet } from '../fleet/export-host.js';
import type { HostRow } from '../fleet/host-tables.js';
import { EXIT_OK, EXIT_PARTIAL, effectiveSettings, hasSelection, liveOpeners, nothingScanned, readVersion, type Io } from './common.js';

export interface ExportCommandOptions {
  /** Snapshot files ("-": standard input), each one host. */
  files: string[];
  /** Live processes of this machine: one more host. */
  selection: Selection;
  /** The directory to write. */
  output: string;
  threads: number;
  memoryLimit: string | null;
}

/**
 * samepage export: snapshots (and live processes) as Parquet, partitioned by host, for
 * `samepage fleet` or Spark (docs/fleet.md). Each snapshot is one host.
 */
export async function exportCommand(opts: ExportCommandOptions, io: Io): Promise<number> {
  const live = hasSelection(opts.selection);
  if (opts.files.length === 0 && !live) throw new UserError('nothing to export: give snapshot files, or live processes (--pid, --name, --tree, --chromium, --all)');
  if (opts.files.filter((f) => f === STDIN_PATH).length > 1) throw new UserError("'-' (standard input) can be read only once");
  checkOutputDir(opts.output);
  const engine = chooseEngine();
  const files: InputFile[] = [];
  const snapshots: SnapshotFile[] = [];
  const skipped: Skipped[] = [];
  const warnings: string[] = [];
  let db: FleetDb | null = null;
  try {
    for (const given of opts.files) {
      const input = await openInputFile(given, process.stdin);
      files.push(input);
      if (sniffInput(input.head) !== 'snapshot') throw new UserError(`${input.name}: not a samepage snapshot (export reads snapshots; 'samepage snapshot' makes them)`);
      snapshots.push(new SnapshotFile(input.path, input.name, engine.hasher));
    }
    const names = uniqueHostNames([
      ...snapshots.map((s) => ({ hostname: s.header.host.hostname, file: s.name })),
      ...(live ? [{ hostname: hostname(), file: 'live' }] : []),
    ]);
    for (const name of names) if (exportedAlready(opts.output, name)) throw new UserError(`${opts.output}: host ${name} is there already (export into a new directory, or remove its host=${name} directories)`);
    db = await FleetDb.open({ memoryLimit: opts.memoryLimit, threads: opts.threads });
    let hosts = 0;
    let pages = 0;
    let rows = 0;
    let bytes = 0;
    for (const [i, snap] of snapshots.entries()) {
      const name = names[i] as string;
      const h = snap.header;
      const staged = await stageHostPages(db, 'staged', snap.openers(), h.host.pageSize, engine.hasher);
      for (const k of h.skipped) skipped.push({ ...k, source: snap.labelOf(k.source) });
      skipped.push(...staged.skipped);
      warnings.push(...h.warnings.map((w) => `${snap.name}: ${w}`), ...staged.warnings);
      const row: HostRow = { hostname: h.host.hostname, file: snap.name, kernel: h.host.kernel, pageSize: h.host.pageSize, root: h.host.root, pfnsVisible: h.host.pfnsVisible, createdAt: h.createdAt, toolVersion: h.tool.version, ksm: h.ksm };
      const written = await writeHostParquet(db, opts.output, name, staged, row);
      snap.release();
      hosts++;
      pages += staged.residentPages;
      rows += written.pagesRows;
      bytes += written.pagesBytes;
    }
    let liveSources: Array<{ named: boolean; regionsFailed: number }> = [];
    if (live) {
      const l = liveOpeners(opts.selection, opts.threads, engine, io);
      try {
        const settings = effectiveSettings(null, { useZeroPages: undefined, maxPageSharing: undefined }, io);
        await l.readRegionsAhead();
        const staged = await stageHostPages(db, 'staged', l.openers, l.pageSize, engine.hasher);
        skipped.push(...l.notScanned, ...staged.skipped);
        warnings.push(...staged.warnings);
        if (staged.sources.length === 0) throw nothingScanned([...l.notScanned, ...staged.skipped]);
        const named = new Set(l.openers.filter((o) => o.named).map((o) => o.pid));
        liveSources = staged.sources.map((s) => ({ named: named.has(s.pid), regionsFailed: 0 }));
        const row: HostRow = {
          hostname: hostname(),
          file: 'live',
          kernel: release(),
          pageSize: l.pageSize,
          root: l.root,
          pfnsVisible: l.physical !== null,
          createdAt: new Date().toISOString(),
          toolVersion: readVersion(),
          ksm: { useZeroPages: settings.useZeroPages, maxPageSharing: settings.maxPageSharing, source: settings.source, run: settings.run },
        };
        const written = await writeHostParquet(db, opts.output, names[names.length - 1] as string, staged, row);
        hosts++;
        pages += staged.residentPages;
        rows += written.pagesRows;
        bytes += written.pagesBytes;
      } finally {
        l.close();
      }
    }
    for (const line of skipLines(skipped, warnings)) io.stderr.write(`samepage: ${escapeLine(line)}\n`);
    io.stdout.write(
      `samepage: wrote ${escapeLine(opts.output)}: ${plural(hosts, 'host', 'hosts', formatCount)}, ${plural(pages, 'resident page', 'resident pages', formatCount)} in ${plural(rows, 'row', 'rows', formatCount)} (${formatBytes(bytes)} of pages)\n`,
    );
    return isPartial(skipped, liveSources) ? EXIT_PARTIAL : EXIT_OK;
  } finally {
    for (const s of snapshots) s.release();
    for (const f of files) f.close();
    db?.close();
  }
}

/** The output is a directory, or nothing yet (it is made). */
function checkOutputDir(dir: string): void {
  if (dir === '-') throw new UserError('export writes a directory of Parquet files: --output DIR, not standard output');
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (!st.isDirectory()) throw new UserError(`${dir}: not a directory (export writes a directory of Parquet files)`);
}
