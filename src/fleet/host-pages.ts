import duckdb from '@duckdb/node-bindings';
import { DuckDBAppender, DuckDBDataChunk, BIGINT, INTEGER, UTINYINT } from '@duckdb/node-api';
import type { SourceOpener } from '../source/source-opener.js';
import type { MemorySource, PageBatch, PageSink, SourceRegion } from '../source/memory-source.js';
import { createPageBatch } from '../source/memory-source.js';
import type { Skipped } from '../source/skipped.js';
import type { PageHasher } from '../hash/page-hasher.js';
import { zeroPageHash } from '../hash/page-hasher.js';
import { IndexWriter } from '../index/index-writer.js';
import { META_ANON, META_COMPATIBLE, META_MERGEABLE_NOW, META_ZERO_PFN, MAX_PROCESSES, PageIndex, metaProcess } from '../index/page-index.js';
import { PhysicalDomains } from '../physical/physical-domains.js';
import { EXIT_NO_PERMISSION, SourceError, UserError } from '../util/errors.js';
import { guestOf } from './guest.js';
import type { FleetDb } from './fleet-db.js';

/** Flags of a staged page (the `flags` column before it becomes the Parquet booleans). */
export const STAGED_ZERO = 1;
export const STAGED_ELIGIBLE = 2;
export const STAGED_MERGEABLE_NOW = 4;

/** Records a source may hand over before they go to DuckDB: 64 Ki pages, 1 MiB of index. */
const WINDOW = 65536;
/** DuckDB's vector size: rows per appended chunk. */
const CHUNK_ROWS = 2048;

/** One source (process, core) of a host, as staged: its number in the `source` column. */
export interface StagedSource {
  source: number;
  pid: number;
  command: string;
  label: string;
  /** The virtual machine it runs (src/fleet/guest.ts), null when it is not one. */
  guest: string | null;
  residentPages: number;
}

export interface StagedHost {
  sources: StagedSource[];
  skipped: Skipped[];
  warnings: string[];
  residentPages: number;
}

/**
 * Reads every page of one host's sources into the DuckDB table `table` (source INTEGER, content
 * BIGINT, flags UTINYINT), through the same index writer a scan uses, a window at a time: no more
 * than 64 Ki records (or one live region) are held in JavaScript, then they are appended to
 * DuckDB as chunks of typed arrays. A region that fails is a warning; a source that cannot be
 * opened is skipped, as in a scan.
 */
export async function stageHostPages(db: FleetDb, table: string, openers: readonly SourceOpener[], pageSize: number, hasher: PageHasher): Promise<StagedHost> {
  if (openers.length > MAX_PROCESSES) throw new UserError(`too many processes in one host (${openers.length}; at most ${MAX_PROCESSES})`);
  await db.run(`CREATE OR REPLACE TABLE ${table} (source INTEGER, content BIGINT, flags UTINYINT)`);
  const appender = await db.connection.createAppender(table);
  const zeroHash = zeroPageHash(hasher, pageSize);
  const index = new PageIndex(WINDOW + 4096);
  const writer = new IndexWriter(index, hasher, pageSize, zeroHash);
  const out = new ChunkAppender(appender, zeroHash);
  const sink: PageSink = {
    records: writer,
    pages(region: SourceRegion, batch: PageBatch): void {
      writer.pages(region, batch);
      if (index.length >= WINDOW) out.drain(index);
    },
  };
  const batch = createPageBatch(pageSize, 4096, Math.max(1, Math.floor(1048576 / pageSize)));
  const domains = new PhysicalDomains();
  const staged: StagedHost = { sources: [], skipped: [], warnings: [], residentPages: 0 };
  const removed: number[] = [];
  try {
    // Every source is opened first, as a scan does: a snapshot's file stays open while any is.
    const opened: Array<{ source: MemorySource; regions: SourceRegion[] }> = [];
    for (const opener of openers) {
      try {
        const source = opener.open();
        try {
          opened.push({ source, regions: source.regions() });
        } catch (err) {
          source.close();
          throw err;
        }
      } catch (err) {
        staged.skipped.push(skipOf(opener, err));
      }
    }
    for (const { source, regions } of opened) {
      const number = staged.sources.length;
      const domain = source.physical === null ? null : domains.domainOf(source.physical);
      writer.startSource(number, domain, source.physical);
      const before = out.rows;
      let gone: SourceError | null = null;
      for (const region of regions) {
        const from = index.length;
        try {
          source.scanRegion(region, sink, batch);
        } catch (err) {
          if (!(err instanceof SourceError)) throw err;
          index.length = from;
          if (err.processGone) {
            gone = err;
            break;
          }
          staged.warnings.push(`${source.label}: ${err.message}; region skipped`);
        }
        // A live region is written into the index whole: it goes to DuckDB before the next.
        if (index.length > 0) out.drain(index);
      }
      source.close();
      if (gone !== null) {
        index.length = 0;
        if (out.rows > before) removed.push(number);
        staged.skipped.push({ pid: source.info.pid, source: source.label, reason: gone.message, permissionDenied: false, kind: 'exited', affectsExit: false });
        // The number stays taken (its rows are deleted below): the source column stays dense for the rest.
      }
      staged.sources.push({ source: number, pid: source.info.pid, command: source.info.command, label: source.label, guest: guestOf(source.info), residentPages: gone === null ? out.rows - before : 0 });
      staged.residentPages += gone === null ? out.rows - before : 0;
    }
    out.drain(index);
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
  if (removed.length > 0) await db.run(`DELETE FROM ${table} WHERE source IN (${removed.join(', ')})`);
  staged.sources = staged.sources.filter((s) => !removed.includes(s.source));
  return staged;
}

/** Index records to DuckDB: the content as one 64-bit word, the process, the flags the Parquet keeps. */
class ChunkAppender {
  rows = 0;
  private readonly chunk = DuckDBDataChunk.create([INTEGER, BIGINT, UTINYINT]);
  private readonly source = new Int32Array(CHUNK_ROWS);
  /** Little-endian 64-bit words: low half, high half. */
  private readonly content = new Uint32Array(CHUNK_ROWS * 2);
  private readonly flags = new Uint8Array(CHUNK_ROWS);

  constructor(
    private readonly appender: DuckDBAppender,
    private readonly zeroHash: { hi: number; lo: number },
  ) {}

  /** Appends records [0, index.length) and empties the index. */
  drain(index: PageIndex): void {
    const { hi: zHi, lo: zLo } = this.zeroHash;
    const needAll = META_ANON | META_COMPATIBLE;
    const needNow = META_ANON | META_MERGEABLE_NOW;
    for (let at = 0; at < index.length; at += CHUNK_ROWS) {
      const m = Math.min(CHUNK_ROWS, index.length - at);
      for (let i = 0; i < m; i++) {
        const r = at + i;
        const meta = index.meta[r] as number;
        const hi = index.hashHi[r] as number;
        const lo = index.hashLo[r] as number;
        this.source[i] = metaProcess(meta);
        this.content[i * 2] = lo;
        this.content[i * 2 + 1] = hi;
        const tracked = (meta & META_ZERO_PFN) === 0;
        this.flags[i] =
          (hi === zHi && lo === zLo ? STAGED_ZERO : 0) | (tracked && (meta & needAll) === needAll ? STAGED_ELIGIBLE : 0) | (tracked && (meta & needNow) === needNow ? STAGED_MERGEABLE_NOW : 0);
      }
      const c = this.chunk.chunk;
      this.chunk.reset();
      duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 0), 0, this.source.buffer, 0, m * 4);
      duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 1), 0, this.content.buffer, 0, m * 8);
      duckdb.copy_data_to_vector(duckdb.data_chunk_get_vector(c, 2), 0, this.flags.buffer, 0, m);
      duckdb.data_chunk_set_size(c, m);
      this.appender.appendDataChunk(this.chunk);
      this.rows += m;
    }
    index.length = 0;
  }
}

function skipOf(opener: SourceOpener, err: unknown): Skipped {
  const base = { pid: opener.pid, source: opener.label, permissionDenied: false };
  if (err instanceof UserError && err.exitCode === EXIT_NO_PERMISSION) return { ...base, reason: err.message, permissionDenied: true, kind: 'denied', affectsExit: opener.named };
  if (err instanceof SourceError && err.kind === 'exited') return { ...base, reason: err.message, kind: 'exited', affectsExit: false };
  if (err instanceof UserError || err instanceof SourceError) return { ...base, reason: err.message, kind: 'failed', affectsExit: opener.named };
  throw err;
}
