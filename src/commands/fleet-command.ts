import { performance } from 'node:perf_hooks';
import { statSync } from 'node:fs';
import { SnapshotFile } from '../snapshot/snapshot-source.js';
import { sniffInput } from '../source/input-kind.js';
import type { Skipped } from '../source/skipped.js';
import { UserError, describeError } from '../util/errors.js';
import { STDIN_PATH, openInputFile, type InputFile } from '../util/input-file.js';
import { checkOutputPath, writeOutputFile } from '../util/output-file.js';
import { localeIsUtf8, outputWidth } from '../reporters/terminal.js';
import { escapeLine } from '../reporters/text-escape.js';
import { chooseEngine } from '../engine/choose-engine.js';
import { FleetDb } from '../fleet/fleet-db.js';
import { stageHostPages } from '../fleet/host-pages.js';
import { pagesOfStaged, writeStagedSources } from '../fleet/host-tables.js';
import { uniqueHostNames } from '../fleet/host-naming.js';
import { PAGES_COLUMNS, exportDirFiles, pagesFileHost, parquetPagesSelect, readHostFacts } from '../fleet/fleet-inputs.js';
import { buildFleetReport, type HostFacts } from '../fleet/build-fleet.js';
import type { FleetInput } from '../fleet/fleet-report.js';
import { renderFleet, type FleetFormat } from '../reporters/fleet-render.js';
import { EXIT_OK, readVersion, type Io } from './common.js';

export interface FleetCommandOptions {
  /** Snapshots, Parquet pages files, export directories. */
  paths: string[];
  format: FleetFormat;
  output: string | null;
  top: number;
  /** --capacity: by host, and for every other host (null: as loaded as the fullest host is today); bytes. */
  capacityBytes: ReadonlyMap<string, number>;
  defaultCapacityBytes: number | null;
  threads: number;
  memoryLimit: string | null;
}

/** samepage fleet: what many hosts share, within and across, and where their guests would best go (docs/fleet.md). */
export async function fleetCommand(opts: FleetCommandOptions, io: Io): Promise<number> {
  if (opts.paths.length === 0) throw new UserError('fleet needs snapshots, Parquet files or directories that samepage export wrote');
  if (opts.paths.filter((f) => f === STDIN_PATH).length > 1) throw new UserError("'-' (standard input) can be read only once");
  const file = opts.output === null || opts.output === '-' ? null : opts.output;
  if (file !== null) checkOutputPath(file, io.stdout);
  const began = performance.now();
  const engine = chooseEngine();
  const inputs: FleetInput[] = [];
  const pagesFiles: string[] = [];
  const parquetHosts = new Map<string, string>();
  const hostsFiles: string[] = [];
  const snapshots: Array<{ snap: SnapshotFile; given: string }> = [];
  const files: InputFile[] = [];
  const skipped: Skipped[] = [];
  const warnings: string[] = [];
  let db: FleetDb | null = null;
  try {
    for (const given of opts.paths) {
      const isDir = given !== STDIN_PATH && statOrNull(given)?.isDirectory() === true;
      if (isDir) {
        const found = exportDirFiles(given);
        if (found === null) throw new UserError(`${given}: not a directory samepage export wrote (it has no pages/ directory)`);
        if (found.pagesFiles.length === 0) throw new UserError(`${given}: no Parquet pages in it`);
        for (const f of found.pagesFiles) addParquet(f, pagesFileHost(f)?.host ?? '', given);
        hostsFiles.push(...found.hostsFiles);
        inputs.push({ path: given, kind: 'export' });
        continue;
      }
      const input = await openInputFile(given, process.stdin);
      files.push(input);
      if (sniffInput(input.head) === 'snapshot') {
        snapshots.push({ snap: new SnapshotFile(input.path, input.name, engine.hasher), given });
        inputs.push({ path: given, kind: 'snapshot' });
      } else if (input.head.subarray(0, 4).toString('latin1') === 'PAR1') {
        const where = pagesFileHost(given);
        if (where === null) throw new UserError(`${given}: a Parquet file, but not one of an export's pages (…/pages/host=NAME/FILE.parquet)`);
        addParquet(given, where.host, given);
        if (where.hostsFile !== null) hostsFiles.push(where.hostsFile);
        inputs.push({ path: given, kind: 'parquet' });
      } else {
        throw new UserError(`${input.name}: neither a samepage snapshot nor a Parquet file`);
      }
    }
    const names = uniqueHostNames(snapshots.map(({ snap }) => ({ hostname: snap.header.host.hostname, file: snap.name }))).map((n) => {
      let name = n;
      for (let i = 2; parquetHosts.has(name); i++) name = `${n}-${i}`;
      return name;
    });

    db = await FleetDb.open({ memoryLimit: opts.memoryLimit, threads: opts.threads });
    const facts: HostFacts[] = await readHostFacts(db, [...new Set(hostsFiles)]);
    await db.run('CREATE TABLE snapshot_pages (host VARCHAR, source INTEGER, guest VARCHAR, content BIGINT, zero BOOLEAN, eligible BOOLEAN, mergeable_now BOOLEAN, pages BIGINT)');
    for (const [i, { snap }] of snapshots.entries()) {
      const name = names[i] as string;
      const h = snap.header;
      const staged = await stageHostPages(db, 'staged', snap.openers(), h.host.pageSize, engine.hasher);
      await writeStagedSources(db, staged);
      await db.run(`INSERT INTO snapshot_pages ${pagesOfStaged(name)}`);
      await db.run('DROP TABLE staged');
      snap.release();
      skipped.push(...h.skipped.map((k) => ({ ...k, source: snap.labelOf(k.source) })), ...staged.skipped);
      warnings.push(...h.warnings.map((w) => `${snap.name}: ${w}`), ...staged.warnings);
      facts.push({ host: name, hostname: h.host.hostname, file: snap.name, kernel: h.host.kernel, createdAt: h.createdAt, pageSize: h.host.pageSize });
    }
    for (const host of parquetHosts.keys()) if (!facts.some((f) => f.host === host)) {
      warnings.push(`host ${host}: no hosts table beside its pages; its page size is taken to be the others'`);
      facts.push({ host, hostname: null, file: parquetHosts.get(host) ?? '', kernel: null, createdAt: null, pageSize: facts[0]?.pageSize ?? 4096 });
    }
    const sources = [...(pagesFiles.length > 0 ? [parquetPagesSelect(pagesFiles)] : []), `SELECT ${PAGES_COLUMNS} FROM snapshot_pages`];
    await db.run(`CREATE VIEW pages AS ${sources.join(' UNION ALL ')}`);
    const pageSize = facts[0]?.pageSize ?? 4096;
    const toPages = (bytes: number): number => Math.floor(bytes / pageSize);
    const report = await buildFleetReport(db, {
      version: readVersion(),
      inputs,
      hosts: facts,
      capacity: new Map([...opts.capacityBytes].map(([h, b]) => [h, toPages(b)])),
      defaultCapacity: opts.defaultCapacityBytes === null ? null : toPages(opts.defaultCapacityBytes),
      skipped,
      warnings,
      began,
    });
    const ascii = !localeIsUtf8(process.env);
    const text = await renderFleet(report, { format: opts.format, top: opts.top, width: outputWidth(process.env, file === null ? io.stdout : null), ascii });
    if (file === null) io.stdout.write(text);
    else await writeOutputFile(file, io.stdout, (sink) => sink.write(Buffer.from(text, 'utf8')));
    if (opts.format !== 'table') for (const w of warnings) io.stderr.write(`samepage: warning: ${escapeLine(w, ascii)}\n`);
    if (file !== null) io.stdout.write(`samepage: wrote ${escapeLine(file, ascii)} (${opts.format})\n`);
    return EXIT_OK;
  } finally {
    for (const { snap } of snapshots) snap.release();
    for (const f of files) f.close();
    db?.close();
  }

  function addParquet(f: string, host: string, given: string): void {
    if (host === '') throw new UserError(`${f}: not in a host=NAME directory of an export`);
    const other = parquetHosts.get(host);
    if (other !== undefined && other !== given) throw new UserError(`host ${host} is in both ${other} and ${given}`);
    parquetHosts.set(host, given);
    pagesFiles.push(f);
  }
}

function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch (err) {
    if (describeError(err) === '') return null;
    return null;
  }
}
