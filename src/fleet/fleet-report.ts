import type { Skipped } from '../source/skipped.js';

// The fleet report: one serialisable object (docs/fleet.md, "The JSON"), rendered by the
// fleet reporters in src/reporters/. Every figure is content only: pages are compared by their
// content hash, never by frame (frames differ between machines), so a page shared by fork counts
// as often as it is mapped, as in the report's naive duplicate count.

export interface FleetHost {
  host: string;
  /** The hostname the snapshot recorded (host is it, made unique). */
  hostname: string | null;
  /** The snapshot or Parquet it came from. */
  file: string;
  kernel: string | null;
  createdAt: string | null;
  pageSize: number;
  residentPages: number;
  distinctContents: number;
  zeroFilledPages: number;
  eligiblePages: number;
  /** residentPages - distinctContents: every copy of a content beyond its first in this host. */
  duplicatePages: number;
  dupWithinSource: number;
  dupAcrossSources: number;
  guests: number;
}

export interface FleetPair {
  a: string;
  b: string;
  sharedPages: number;
}

export interface FleetGuest {
  guest: string;
  host: string;
  residentPages: number;
  distinctContents: number;
}

export interface PlacementMove {
  guest: string;
  from: string;
  to: string;
}

export interface Placement {
  /** The capacity of each host, in resident pages of guests. */
  capacityPages: Record<string, number>;
  /** Where the capacities come from: `flags` (--capacity) or `largest-today` (every host as loaded as the fullest is today). */
  capacitySource: 'flags' | 'largest-today';
  /** Pages saved by merging content within hosts, among guests: guest pages less distinct contents, summed over hosts. */
  todaySharedPages: number;
  planSharedPages: number;
  /** Where the plan puts each guest. */
  plan: Array<{ guest: string; host: string }>;
  moves: PlacementMove[];
  /** Guests no host had room for: placed where most room was left. */
  overCapacity: string[];
}

export interface FleetInput {
  path: string;
  kind: 'snapshot' | 'parquet' | 'export';
}

export interface FleetReport {
  schemaVersion: 1;
  kind: 'fleet';
  tool: { name: 'samepage'; version: string };
  createdAt: string;
  pageSize: number;
  inputs: FleetInput[];
  hosts: FleetHost[];
  residentPages: number;
  /** Distinct contents in the whole fleet. */
  distinctContents: number;
  /** Copies of a content beyond the first within each host, summed (what KSM on each host could merge at most, by content). */
  intraHostDuplicatePages: number;
  /** Contents a host holds that another host holds too, counted once per further host: residentPages = distinctContents + intra + inter. */
  interHostDuplicatePages: number;
  /** Host x host: distinct contents (zero-filled excluded) both hold. Pairs that share nothing are left out. */
  pairs: FleetPair[];
  guests: FleetGuest[];
  guestPairs: FleetPair[];
  /** A co-location plan for the guests (greedy), null when there are fewer than two guests. */
  placement: Placement | null;
  engine: { name: 'duckdb'; version: string; memoryLimit: string; threads: number; elapsedMs: number };
  skipped: Skipped[];
  warnings: string[];
  caveats: string[];
}
