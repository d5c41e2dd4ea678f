import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetDb } from './fleet-db.js';
import { sqlString } from './fleet-db.js';
import { hostRowSelect, pagesOfStaged, writeStagedSources, type HostRow } from './host-tables.js';
import type { StagedHost } from './host-pages.js';

/** The tables an export writes, each partitioned by host: DIR/TABLE/host=NAME/data.parquet. */
export const EXPORT_TABLES = ['pages', 'sources', 'hosts'] as const;

export function partitionDir(dir: string, table: string, host: string): string {
  return join(dir, table, `host=${host}`);
}

/**
 * Writes one staged host (host-pages.ts: tables `staged`) into DIR as Parquet (zstd), each file
 * first under a hidden name and then renamed: a reader never sees half a file. Returns the bytes
 * of its pages file and its rows.
 */
export async function writeHostParquet(db: FleetDb, dir: string, host: string, staged: StagedHost, row: HostRow): Promise<{ pagesBytes: number; pagesRows: number }> {
  await writeStagedSources(db, staged);
  const copy = async (table: string, select: string): Promise<string> => {
    const partition = partitionDir(dir, table, host);
    mkdirSync(partition, { recursive: true });
    const final = join(partition, 'data.parquet');
    const hidden = join(partition, '.data.parquet.tmp');
    await db.run(`COPY (${select}) TO ${sqlString(hidden)} (FORMAT parquet, COMPRESSION zstd)`);
    renameSync(hidden, final);
    return final;
  };
  const pagesFile = await copy('pages', pagesOfStaged(null));
  await copy('sources', 'SELECT * FROM staged_sources ORDER BY source');
  await copy('hosts', hostRowSelect(row, staged.residentPages, staged.sources.length));
  const rows = await db.rows(`SELECT COUNT(*) AS n FROM read_parquet(${sqlString(pagesFile)})`);
  return { pagesBytes: statSync(pagesFile).size, pagesRows: Number(rows[0]?.['n'] ?? 0) };
}

/** A host already exported into DIR: its partition would be overwritten. */
export function exportedAlready(dir: string, host: string): boolean {
  return EXPORT_TABLES.some((t) => existsSync(partitionDir(dir, t, host)));
}
