import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { FleetDb } from './fleet-db.js';
import { sqlString } from './fleet-db.js';
import type { HostFacts } from './build-fleet.js';

/** The columns of the pages table, in order: what every input must give. */
export const PAGES_COLUMNS = 'host, source, guest, content, zero, eligible, mergeable_now, pages';

/** An export's Parquet, as `samepage fleet` reads it: every pages file and the hosts files beside them. */
export interface ParquetInput {
  pagesFiles: string[];
  hostsFiles: string[];
}

/** An export's directory: DIR/pages/host=NAME/*.parquet (and DIR/hosts/...); null when DIR is not one. */
export function exportDirFiles(dir: string): ParquetInput | null {
  const pagesDir = join(dir, 'pages');
  if (!existsSync(pagesDir) || !statSync(pagesDir).isDirectory()) return null;
  const files = (table: string): string[] => {
    const t = join(dir, table);
    if (!existsSync(t)) return [];
    return readdirSync(t)
      .filter((d) => d.startsWith('host='))
      .sort()
      .flatMap((d) => readdirSync(join(t, d)).filter((f) => f.endsWith('.parquet') && !f.startsWith('.')).map((f) => join(t, d, f)));
  };
  return { pagesFiles: files('pages'), hostsFiles: files('hosts') };
}

/** One pages file of an export (…/pages/host=NAME/x.parquet): its host's name, and its hosts file when it is there. */
export function pagesFileHost(file: string): { host: string; hostsFile: string | null } | null {
  const partition = basename(dirname(resolve(file)));
  if (!partition.startsWith('host=') || basename(dirname(dirname(resolve(file)))) !== 'pages') return null;
  const host = partition.slice('host='.length);
  const hostsDir = join(dirname(dirname(dirname(resolve(file)))), 'hosts', partition);
  const hostsFile = existsSync(hostsDir) ? (readdirSync(hostsDir).find((f) => f.endsWith('.parquet') && !f.startsWith('.')) ?? null) : null;
  return { host, hostsFile: hostsFile === null ? null : join(hostsDir, hostsFile) };
}

function fileList(files: readonly string[]): string {
  return `[${files.map((f) => sqlString(f)).join(', ')}]`;
}

/** Parquet pages as the pages table's rows (host from the partition's directory, never guessed as a number). */
export function parquetPagesSelect(files: readonly string[]): string {
  return `SELECT ${PAGES_COLUMNS} FROM read_parquet(${fileList(files)}, hive_partitioning = true, hive_types_autocast = false)`;
}

/** The hosts files' facts. */
export async function readHostFacts(db: FleetDb, files: readonly string[]): Promise<HostFacts[]> {
  if (files.length === 0) return [];
  const rows = await db.rows(`SELECT host, hostname, file, kernel, created_at, page_size FROM read_parquet(${fileList(files)}, hive_partitioning = true, hive_types_autocast = false) ORDER BY host`);
  return rows.map((r) => ({
    host: String(r['host']),
    hostname: r['hostname'] === null ? null : String(r['hostname']),
    file: String(r['file']),
    kernel: r['kernel'] === null ? null : String(r['kernel']),
    createdAt: r['created_at'] === null ? null : String(r['created_at']),
    pageSize: Number(r['page_size']),
  }));
}
