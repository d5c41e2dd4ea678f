// --group-by on real processes placed in cgroups this test makes (and removes) under the cgroup
// v2 mount, some run as another user (setpriv): every group's estimate alone equals a scan of
// that group's processes alone, and every pair's cross figure equals scan(a and b) - scan(a) -
// scan(b), exactly, by unit and by user, live and from a snapshot. A frame shared by fork
// between two groups (a parent in one cgroup, its child moved to another) is in the mix, and
// zero pages from read faults (the kernel's zero page where it has one, real pages where not).
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Estimate, Report } from '../../src/report/report.js';
import { buildFixture, startPagefill, stopAllFixtures, type Fixture } from '../support/fixtures.js';
import { cgroup2Mount, testCgroups, type TestCgroups } from '../support/cgroups.js';
import { pidArgs, runSamepage, scanJson } from '../support/samepage.js';
import { passwdEntries } from '../../src/live/grouping-facts.js';

const root = process.getuid?.() === 0;
const mount = cgroup2Mount();
const setpriv = (() => {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const why = !root ? 'needs root (cgroups, setpriv)' : mount === null ? 'no cgroup2 mount' : !setpriv ? 'no setpriv' : null;

const tag = `samepage-test-${process.pid}`;
/** uid 65534's name here (nobody on Debian), as samepage shows it. */
const NOBODY = passwdEntries(readFileSync('/etc/passwd', 'utf8')).find(([, uid]) => uid === 65534)?.[0] ?? 'uid 65534';
const CG = {
  a: `/system.slice/${tag}-a.service`,
  b: `/system.slice/${tag}-b.scope`,
  c: `/${tag}.slice/plain`,
};

describe.skipIf(why !== null)(`--group-by on processes in cgroups${why === null ? '' : ` (skipped: ${why})`}`, () => {
  let cgroups: TestCgroups;
  let dir: string;
  const fixtures: Fixture[] = [];
  const pids = { a: [] as number[], b: [] as number[], c: [] as number[] };

  beforeAll(async () => {
    cgroups = testCgroups(mount as string);
    for (const path of Object.values(CG)) cgroups.make(path);
    // A copy of pagefill another user may run.
    dir = mkdtempSync(join(tmpdir(), 'samepage-groups-'));
    chmodSync(dir, 0o755);
    const binary = join(dir, 'pagefill');
    copyFileSync(await buildFixture('pagefill'), binary);
    chmodSync(binary, 0o755);
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];

    // a (root): seq=1 shared with b and c, seq=2 within a, a forked child moved to b (frames shared across groups).
    const a1 = await startPagefill(['nothp', 'anon:64:seq=1', 'anon:32:seq=2', 'anon:16:uniq', 'readonly:8', 'anon:8:zero', 'fork:1'], { binary });
    const a2 = await startPagefill(['nothp', 'anon:48:seq=2', 'anon:24:seq=1', 'anon:8:zero'], { binary });
    // b (nobody): seq=1 with a, seq=3 within b; plus a1's child.
    const b1 = await startPagefill(['nothp', 'anon:40:seq=1', 'anon:40:seq=3', 'anon:4:zero'], { binary, prefix: nobody });
    const b2 = await startPagefill(['nothp', 'anon:40:seq=3', 'anon:8:cycle=5,2'], { binary, prefix: nobody });
    // c (root): a little of everything, and seq=3 with b.
    const c1 = await startPagefill(['nothp', 'anon:20:seq=1', 'anon:20:seq=3', 'anon:20:uniq'], { binary });
    fixtures.push(a1, a2, b1, b2, c1);
    const child = a1.childPids[0] as number;
    for (const p of [a1.pid, a2.pid]) cgroups.move(p, CG.a);
    for (const p of [b1.pid, b2.pid, child]) cgroups.move(p, CG.b);
    cgroups.move(c1.pid, CG.c);
    pids.a = [a1.pid, a2.pid];
    pids.b = [b1.pid, b2.pid, child];
    pids.c = [c1.pid];
  });

  afterAll(async () => {
    await Promise.all(fixtures.map((f) => f.stop()));
    await stopAllFixtures();
    cgroups?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const every = (): number[] => [...pids.a, ...pids.b, ...pids.c];
  const scanOf = async (ps: number[]): Promise<Estimate> => (await scanJson(pidArgs(ps))).report.estimate;

  /** alone = scan of the group alone; cross = scan(a+b) - scan(a) - scan(b), for every pair. */
  async function expectExact(report: Report, members: Record<string, number[]>): Promise<void> {
    const keys = Object.keys(members);
    expect(report.groups.map((g) => g.key).sort()).toEqual([...keys].sort());
    const alone = new Map<string, Estimate>();
    for (const key of keys) {
      const group = report.groups.find((g) => g.key === key);
      expect(group?.pids.sort()).toEqual([...(members[key] as number[])].sort());
      const apart = await scanOf(members[key] as number[]);
      alone.set(key, apart);
      expect(group?.alone, `group ${key}`).toEqual(apart);
    }
    let positive = 0;
    for (let i = 0; i < keys.length; i++) {
      for (let j = i + 1; j < keys.length; j++) {
        const [a, b] = [keys[i] as string, keys[j] as string];
        const together = await scanOf([...(members[a] as number[]), ...(members[b] as number[])]);
        const expected = together.ramFreedBytes - (alone.get(a) as Estimate).ramFreedBytes - (alone.get(b) as Estimate).ramFreedBytes;
        const pair = report.groupPairs.find((p) => (p.a === a && p.b === b) || (p.a === b && p.b === a));
        expect(pair?.crossRamFreedBytes ?? 0, `pair ${a} x ${b}`).toBe(expected);
        if (expected > 0) positive++;
      }
    }
    expect(positive).toBeGreaterThan(0);
    const t = report.groupTotals;
    expect(t?.togetherRamFreedBytes).toBe(report.estimate.ramFreedBytes);
    expect(t?.aloneRamFreedBytes).toBe(keys.reduce((s, k) => s + (alone.get(k) as Estimate).ramFreedBytes, 0));
  }

  it('by unit: service, scope and a plain path; alone and cross exact', async () => {
    const { report } = await scanJson(['--group-by', 'unit', ...pidArgs(every())]);
    expect(report.groupBy).toBe('unit');
    await expectExact(report, { [`${tag}-a.service`]: pids.a, [`${tag}-b.scope`]: pids.b, [CG.c]: pids.c });
    // Each process row says what it was grouped by.
    const b1 = report.processes.find((p) => p.pid === pids.b[0]);
    expect(b1?.grouping).toEqual({ cgroup: CG.b, unit: `${tag}-b.scope`, uid: 65534, user: NOBODY === 'uid 65534' ? null : NOBODY, vm: null });
    // a (root) and b (nobody) share seq=1: merging across them is across owners.
    expect(report.caveats.some((c) => c.includes('side channel'))).toBe(true);
  });

  it('by cgroup and by user: the same exactness', async () => {
    const byCgroup = (await scanJson(['--group-by', 'cgroup', ...pidArgs(every())])).report;
    await expectExact(byCgroup, { [CG.a]: pids.a, [CG.b]: pids.b, [CG.c]: pids.c });
    const byUser = (await scanJson(['--group-by', 'user', ...pidArgs(every())])).report;
    // a1's child stays root's: only b1 and b2 run as nobody.
    const child = pids.b[2] as number;
    await expectExact(byUser, { root: [...pids.a, child, ...pids.c], [NOBODY]: pids.b.slice(0, 2) });
  });

  it('a snapshot keeps the grouping facts: report --group-by gives the live figures', async () => {
    const snap = join(dir, 'groups.snap');
    const taken = await runSamepage(['snapshot', '--no-progress', '-o', snap, ...pidArgs(every())]);
    expect(taken.code, taken.stderr).toBe(0);
    const live = (await scanJson(['--group-by', 'unit', ...pidArgs(every())])).report;
    const run = await runSamepage(['report', snap, '--group-by', 'unit', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const fromSnapshot = JSON.parse(run.stdout) as Report;
    expect(fromSnapshot.groups.map((g) => [g.key, g.pids, g.alone])).toEqual(live.groups.map((g) => [g.key, g.pids, g.alone]));
    expect(fromSnapshot.groupPairs).toEqual(live.groupPairs);
  });

  it('every format shows the groups; the table names the units and recommends none below --min-saving', async () => {
    const args = ['scan', '--no-progress', '--group-by', 'unit', ...pidArgs(every())];
    const table = await runSamepage([...args, '--format', 'table'], {});
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain(`${tag}-a.service`);
    const low = (await scanJson(['--group-by', 'unit', '--min-saving', '4K', ...pidArgs(every())])).report;
    const service = low.recommendations.find((r) => r.key === `${tag}-a.service`);
    expect(service?.dropIn).toEqual({ path: `/etc/systemd/system/${tag}-a.service.d/ksm.conf`, contents: '[Service]\nMemoryKSM=yes\n' });
    const high = (await scanJson(['--group-by', 'unit', ...pidArgs(every())])).report;
    expect(high.recommendations).toEqual([]);
    for (const format of ['plain', 'csv', 'markdown', 'html']) {
      const run = await runSamepage([...args, '--format', format]);
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(run.stdout, format).toContain(`${tag}-b.scope`);
    }
  });
});
