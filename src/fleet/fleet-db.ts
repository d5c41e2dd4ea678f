import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** How DuckDB may use this machine: memory it may hold (then it spills to a temporary directory), threads. */
export interface FleetDbOptions {
  /** DuckDB's memory_limit, as DuckDB takes it ("2GB", "512MiB"); null leaves DuckDB's default (80% of RAM). */
  memoryLimit: string | null;
  threads: number;
}

export type Row = Record<string, number | string | boolean | null>;

/**
 * An embedded DuckDB database in memory, with a temporary directory of its own to spill to
 * (removed on close). Results come back as plain rows: BIGINT as a JavaScript number (page
 * counts stay far below 2^53), anything else as DuckDB's JSON form gives it.
 */
export class FleetDb {
  private constructor(
    readonly connection: DuckDBConnection,
    private readonly instance: DuckDBInstance,
    private readonly spillDir: string,
    readonly memoryLimit: string,
    readonly threads: number,
    readonly version: string,
  ) {}

  static async open(opts: FleetDbOptions): Promise<FleetDb> {
    const spillDir = mkdtempSync(join(tmpdir(), 'samepage-duckdb-'));
    try {
      const settings: Record<string, string> = { threads: String(opts.threads), temp_directory: spillDir, enable_external_access: 'true' };
      if (opts.memoryLimit !== null) settings['memory_limit'] = opts.memoryLimit;
      const instance = await DuckDBInstance.create(':memory:', settings);
      const connection = await instance.connect();
      const about = await connection.runAndReadAll("SELECT version() AS version, current_setting('memory_limit') AS memory_limit");
      const row = about.getRowObjectsJson()[0] ?? {};
      return new FleetDb(connection, instance, spillDir, String(row['memory_limit']), opts.threads, String(row['version']));
    } catch (err) {
      rmSync(spillDir, { recursive: true, force: true });
      throw err;
    }
  }

  async run(sql: string): Promise<void> {
    await this.connection.run(sql);
  }

  async rows(sql: string): Promise<Row[]> {
    const result = await this.connection.runAndReadAll(sql);
    return result.getRowObjectsJS().map((r) => {
      const out: Row = {};
      for (const [k, v] of Object.entries(r)) out[k] = typeof v === 'bigint' ? Number(v) : (v as Row[string]);
      return out;
    });
  }

  close(): void {
    try {
      this.connection.closeSync();
      this.instance.closeSync();
    } finally {
      rmSync(this.spillDir, { recursive: true, force: true });
    }
  }
}

/** A string as an SQL literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
