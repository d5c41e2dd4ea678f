import type { FleetDb } from './fleet-db.js';
import { sqlString } from './fleet-db.js';
import type { StagedHost } from './host-pages.js';
import { STAGED_ELIGIBLE, STAGED_MERGEABLE_NOW, STAGED_ZERO } from './host-pages.js';

/** What an export's hosts table holds of one host (and the fleet reads back). */
export interface HostRow {
  hostname: string;
  file: string;
  kernel: string;
  pageSize: number;
  root: boolean;
  pfnsVisible: boolean;
  createdAt: string;
  toolVersion: string;
  ksm: { useZeroPages: boolean; maxPageSharing: number; source: string; run: number | null };
}

/**
 * The pages of a staged host (`staged`, `staged_sources`) in the layout an export writes: one row
 * per source, content and flags, with the count of pages (docs/fleet.md says why not one row per
 * page). `host` adds the host's name as a column (the fleet's own table); null leaves it to the
 * Parquet partition's directory.
 */
export function pagesOfStaged(host: string | null): string {
  return `SELECT ${host === null ? '' : `${sqlString(host)} AS host, `}st.source AS source, s.guest AS guest, st.content AS content,
       (st.flags & ${STAGED_ZERO}) <> 0 AS zero, (st.flags & ${STAGED_ELIGIBLE}) <> 0 AS eligible,
       (st.flags & ${STAGED_MERGEABLE_NOW}) <> 0 AS mergeable_now, COUNT(*) AS pages
FROM staged st JOIN staged_sources s ON st.source = s.source
GROUP BY st.source, s.guest, st.content, st.flags`;
}

/** The staged host's sources as the table `staged_sources` (source, pid, command, label, guest, resident_pages). */
export async function writeStagedSources(db: FleetDb, staged: StagedHost): Promise<void> {
  await db.run('CREATE OR REPLACE TABLE staged_sources (source INTEGER, pid INTEGER, command VARCHAR, label VARCHAR, guest VARCHAR, resident_pages BIGINT)');
  if (staged.sources.length === 0) return;
  const appender = await db.connection.createAppender('staged_sources');
  try {
    for (const s of staged.sources) {
      appender.appendInteger(s.source);
      appender.appendInteger(s.pid);
      appender.appendVarchar(s.command);
      appender.appendVarchar(s.label);
      if (s.guest === null) appender.appendNull();
      else appender.appendVarchar(s.guest);
      appender.appendBigInt(BigInt(s.residentPages));
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/** One host's row of the hosts table, as a SELECT. */
export function hostRowSelect(h: HostRow, residentPages: number, sources: number): string {
  const b = (v: boolean): string => (v ? 'TRUE' : 'FALSE');
  return `SELECT ${sqlString(h.hostname)} AS hostname, ${sqlString(h.file)} AS file, ${sqlString(h.kernel)} AS kernel, ${h.pageSize} AS page_size,
       ${b(h.root)} AS root, ${b(h.pfnsVisible)} AS pfns_visible, ${sqlString(h.createdAt)} AS created_at, ${sqlString(h.toolVersion)} AS tool_version,
       ${b(h.ksm.useZeroPages)} AS ksm_use_zero_pages, ${h.ksm.maxPageSharing} AS ksm_max_page_sharing, ${sqlString(h.ksm.source)} AS ksm_settings_source,
       ${h.ksm.run === null ? 'CAST(NULL AS INTEGER)' : h.ksm.run} AS ksm_run, CAST(${residentPages} AS BIGINT) AS resident_pages, ${sources} AS sources`;
}
