import type { FleetGuest, FleetPair, PlacementMove } from './fleet-report.js';

export interface PlacementInput {
  guests: readonly FleetGuest[];
  /** Guest x guest shared contents, guests named by guestId. */
  guestPairs: readonly FleetPair[];
  /** Every host a guest may go to, and its capacity in resident pages of guests. */
  capacity: ReadonlyMap<string, number>;
}

export interface PlannedPlacement {
  plan: Array<{ guest: string; host: string }>;
  moves: PlacementMove[];
  overCapacity: string[];
}

/**
 * A greedy co-location plan: guests with the most content in common with others go first, the
 * larger first among equals; each goes to the host, among those with room left, where the guests
 * already placed share the most content with it (ties: the host it is on today, then the one
 * with most room). A guest no host has room for goes where most room is left, and is named.
 * Pairwise sharing is the heuristic's measure; the plan's real saving is counted afterwards
 * over the contents themselves (fleet_sql PLACEMENT_SHARING).
 */
export function planPlacement(input: PlacementInput): PlannedPlacement {
  const shared = new Map<string, Map<string, number>>();
  const link = (a: string, b: string, n: number): void => {
    let m = shared.get(a);
    if (m === undefined) shared.set(a, (m = new Map()));
    m.set(b, (m.get(b) ?? 0) + n);
  };
  for (const p of input.guestPairs) {
    link(p.a, p.b, p.sharedPages);
    link(p.b, p.a, p.sharedPages);
  }
  const total = (g: string): number => [...(shared.get(g)?.values() ?? [])].reduce((s, n) => s + n, 0);
  const order = [...input.guests].sort((x, y) => total(y.guest) - total(x.guest) || y.residentPages - x.residentPages || (x.guest < y.guest ? -1 : 1));
  const room = new Map(input.capacity);
  const placed = new Map<string, string[]>();
  for (const host of room.keys()) placed.set(host, []);
  const plan: Array<{ guest: string; host: string }> = [];
  const overCapacity: string[] = [];
  for (const g of order) {
    let best: string | null = null;
    let bestScore = -1;
    for (const [host, left] of room) {
      if (left < g.residentPages) continue;
      const score = (placed.get(host) ?? []).reduce((s, other) => s + (shared.get(g.guest)?.get(other) ?? 0), 0);
      if (best === null || score > bestScore || (score === bestScore && preferOnTie(host, best, g.host, room))) {
        best = host;
        bestScore = score;
      }
    }
    if (best === null) {
      overCapacity.push(g.guest);
      best = [...room.entries()].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    }
    room.set(best, (room.get(best) ?? 0) - g.residentPages);
    placed.get(best)?.push(g.guest);
    plan.push({ guest: g.guest, host: best });
  }
  const today = new Map(input.guests.map((g) => [g.guest, g.host]));
  const moves = plan.filter((p) => today.get(p.guest) !== p.host).map((p) => ({ guest: p.guest, from: today.get(p.guest) as string, to: p.host }));
  plan.sort((a, b) => (a.guest < b.guest ? -1 : a.guest > b.guest ? 1 : 0));
  return { plan, moves, overCapacity };
}

/** Among hosts where a guest shares as much: the one it is on today, then the one with most room. */
function preferOnTie(host: string, best: string, today: string, room: ReadonlyMap<string, number>): boolean {
  if (host === today) return true;
  if (best === today) return false;
  return (room.get(host) ?? 0) > (room.get(best) ?? 0);
}
