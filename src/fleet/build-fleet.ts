import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Skipped } from '../source/skipped.js';
import type { FleetDb, Row } from './fleet-db.js';
import { sqlString } from './fleet-db.js';
import type { FleetGuest, FleetHost, FleetInput, FleetPair, FleetReport, Placement } from './fleet-report.js';
import { FLEET_QUERIES } from './fleet-sql.js';
import { planPlacement } from './placement.js';

/** What is known of each host beyond its pages (the hosts table, or the snapshot's header). */
export interface HostFacts {
  host: string;
  hostname: string | null;
  file: string;
  kernel: string | null;
  createdAt: string | null;
  pageSize: number;
}

export interface BuildFleetOptions {
  version: string;
  inputs: FleetInput[];
  hosts: HostFacts[];
  /** Capacities by host in pages; a host not named gets `defaultCapacity`; null: as loaded as the fullest host is today. */
  capacity: ReadonlyMap<string, number>;
  defaultCapacity: number | null;
  skipped: Skipped[];
  warnings: string[];
  began: number;
  now?: Date;
}

const num = (v: Row[string] | undefined): number => (typeof v === 'number' ? v : Number(v ?? 0));
const str = (v: Row[string] | undefined): string => String(v ?? '');

/**
 * Runs the fleet's queries (fleet-sql.ts) on `db`, where the view or table `pages` holds every
 * host's pages, and makes the fleet report: figures per host, within and across hosts, the
 * host x host and guest x guest matrices, and a co-location plan compared with today's.
 */
export async function buildFleetReport(db: FleetDb, opts: BuildFleetOptions): Promise<FleetReport> {
  const facts = new Map(opts.hosts.map((h) => [h.host, h]));
  const pageSizes = new Set(opts.hosts.map((h) => h.pageSize));
  await db.run('CREATE OR REPLACE TABLE host_keys (host VARCHAR, host_key BIGINT)');
  if (opts.hosts.length > 0) await db.run(`INSERT INTO host_keys VALUES ${opts.hosts.map((h) => `(${sqlString(h.host)}, ${keyOf(h.host)})`).join(', ')}`);

  const hostRows = await db.rows(FLEET_QUERIES.host_figures);
  const guestRows = await db.rows(FLEET_QUERIES.guests);
  const guestCount = new Map<string, number>();
  for (const g of guestRows) guestCount.set(str(g['host']), (guestCount.get(str(g['host'])) ?? 0) + 1);
  const hosts: FleetHost[] = hostRows.map((r) => {
    const host = str(r['host']);
    const f = facts.get(host);
    return {
      host,
      hostname: f?.hostname ?? null,
      file: f?.file ?? '',
      kernel: f?.kernel ?? null,
      createdAt: f?.createdAt ?? null,
      pageSize: f?.pageSize ?? 0,
      residentPages: num(r['resident_pages']),
      distinctContents: num(r['distinct_contents']),
      zeroFilledPages: num(r['zero_filled_pages']),
      eligiblePages: num(r['eligible_pages']),
      duplicatePages: num(r['duplicate_pages']),
      dupWithinSource: num(r['dup_within_source']),
      dupAcrossSources: num(r['dup_across_sources']),
      guests: guestCount.get(host) ?? 0,
    };
  });
  const contents = (await db.rows(FLEET_QUERIES.fleet_contents))[0] ?? {};
  const hostContents = num(contents['host_contents']);
  const fleetDistinct = num(contents['fleet_distinct_contents']);
  const pairs: FleetPair[] = (await db.rows(FLEET_QUERIES.host_pairs)).map((r) => ({ a: str(r['a']), b: str(r['b']), sharedPages: num(r['shared_pages']) }));

  // Guests by name; a name two hosts both use is told apart by its host.
  const names = new Map<string, number>();
  for (const g of guestRows) names.set(str(g['guest']), (names.get(str(g['guest'])) ?? 0) + 1);
  const idOf = (host: string, guest: string): string => ((names.get(guest) ?? 0) > 1 ? `${guest}@${host}` : guest);
  const guests: FleetGuest[] = guestRows.map((g) => ({
    guest: idOf(str(g['host']), str(g['guest'])),
    host: str(g['host']),
    residentPages: num(g['resident_pages']),
    distinctContents: num(g['distinct_contents']),
  }));
  await db.run('CREATE OR REPLACE TABLE guest_keys (host VARCHAR, guest VARCHAR, guest_key BIGINT)');
  if (guestRows.length > 0) {
    await db.run(`INSERT INTO guest_keys VALUES ${guestRows.map((g) => `(${sqlString(str(g['host']))}, ${sqlString(str(g['guest']))}, ${keyOf(`${str(g['host'])}\0${str(g['guest'])}`)})`).join(', ')}`);
  }
  const guestPairs: FleetPair[] =
    guestRows.length < 2
      ? []
      : (await db.rows(FLEET_QUERIES.guest_pairs)).map((r) => ({
          a: idOf(str(r['a_host']), str(r['a_guest'])),
          b: idOf(str(r['b_host']), str(r['b_guest'])),
          sharedPages: num(r['shared_pages']),
        }));
  const placement = guests.length < 2 ? null : await placeGuests(db, guests, guestRows, guestPairs, hosts, opts);

  const residentPages = hosts.reduce((s, h) => s + h.residentPages, 0);
  const caveats = [
    'Figures across hosts are by content only: frames differ between machines, so a page shared by fork counts as often as it is mapped (as the report\'s naive duplicates); KSM merges only within one host.',
  ];
  if (pageSizes.size > 1) caveats.push(`hosts have different page sizes (${[...pageSizes].join(', ')} bytes): their contents never match across those hosts`);
  return {
    schemaVersion: 1,
    kind: 'fleet',
    tool: { name: 'samepage', version: opts.version },
    createdAt: (opts.now ?? new Date()).toISOString(),
    pageSize: opts.hosts[0]?.pageSize ?? 0,
    inputs: opts.inputs,
    hosts,
    residentPages,
    distinctContents: fleetDistinct,
    intraHostDuplicatePages: residentPages - hostContents,
    interHostDuplicatePages: hostContents - fleetDistinct,
    pairs,
    guests,
    guestPairs,
    placement,
    engine: { name: 'duckdb', version: db.version, memoryLimit: db.memoryLimit, threads: db.threads, elapsedMs: performance.now() - opts.began },
    skipped: opts.skipped,
    warnings: opts.warnings,
    caveats,
  };
}

async function placeGuests(db: FleetDb, guests: FleetGuest[], rows: Row[], guestPairs: FleetPair[], hosts: FleetHost[], opts: BuildFleetOptions): Promise<Placement> {
  const load = new Map<string, number>();
  for (const g of guests) load.set(g.host, (load.get(g.host) ?? 0) + g.residentPages);
  const largest = Math.max(0, ...load.values());
  const given = opts.capacity.size > 0 || opts.defaultCapacity !== null;
  const capacity = new Map<string, number>();
  for (const h of hosts) capacity.set(h.host, opts.capacity.get(h.host) ?? opts.defaultCapacity ?? largest);
  const planned = planPlacement({ guests, guestPairs, capacity });
  const plannedHost = new Map(planned.plan.map((p) => [p.guest, p.host]));
  const sharedUnder = async (target: (g: FleetGuest) => string): Promise<number> => {
    await db.run('CREATE OR REPLACE TABLE placement (host VARCHAR, guest VARCHAR, planned_host VARCHAR)');
    const values = guests.map((g, i) => `(${sqlString(g.host)}, ${sqlString(str(rows[i]?.['guest']))}, ${sqlString(target(g))})`);
    await db.run(`INSERT INTO placement VALUES ${values.join(', ')}`);
    const r = await db.rows(FLEET_QUERIES.placement_sharing);
    return r.reduce((s, x) => s + num(x['guest_pages']) - num(x['distinct_contents']), 0);
  };
  const todaySharedPages = await sharedUnder((g) => g.host);
  const planSharedPages = await sharedUnder((g) => plannedHost.get(g.guest) ?? g.host);
  return {
    capacityPages: Object.fromEntries(capacity),
    capacitySource: given ? 'flags' : 'largest-today',
    todaySharedPages,
    planSharedPages,
    plan: planned.plan,
    moves: planned.moves,
    overCapacity: planned.overCapacity,
  };
}

/** A host's (or guest's) key: 48 bits of SHA-256 of its name; a set of hosts is named by the sum of its keys. */
function keyOf(name: string): number {
  return createHash('sha256').update(name).digest().readUIntBE(0, 6);
}
