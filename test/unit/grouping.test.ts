// --group-by's pieces that need no root: unit names from cgroup paths, QEMU's options, the
// files a live process's facts come from, the keys, the recommendation, and the group rows of
// every output format (with names that try to break them).
import { describe, expect, it } from 'vitest';
import { isServiceUnit, unitOfCgroup } from '../../src/grouping/unit-name.js';
import { guestName, isQemu, qemuFacts, ramSize } from '../../src/grouping/qemu-args.js';
import { cgroupV2PathOf, passwdEntries } from '../../src/live/grouping-facts.js';
import { groupProcesses, keyOf } from '../../src/grouping/group-keys.js';
import { recommendationFor } from '../../src/report/group-report.js';
import type { GroupRow, Report } from '../../src/report/report.js';
import type { ProcessInfo } from '../../src/source/memory-source.js';
import { renderCsv } from '../../src/reporters/csv.js';
import { renderPlain } from '../../src/reporters/plain.js';
import { renderTable } from '../../src/reporters/table.js';
import { renderMarkdown } from '../../src/reporters/markdown.js';
import { renderHtml } from '../../src/reporters/html.js';
import { HOSTILE, sampleReport } from '../support/sample-report.js';

describe('unit names from cgroup v2 paths', () => {
  it.each([
    ['/system.slice/nginx.service', 'nginx.service'],
    ['/system.slice/docker.service/sub/cgroup', 'docker.service'],
    ['/system.slice/docker-0123abcd.scope', 'docker-0123abcd.scope'],
    ['/user.slice/user-1000.slice/session-2.scope', 'session-2.scope'],
    ['/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope', 'user@1000.service'],
    ['/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator', 'machine-qemu\\x2d1\\x2dvm1.scope'],
    ['/system.slice', 'system.slice'],
    ['/user.slice/user-1000.slice', 'user-1000.slice'],
    ['/', '-.slice'],
    ['/docker/0123abcd', '/docker/0123abcd'],
    ['/kubepods/besteffort/pod1/abc', '/kubepods/besteffort/pod1/abc'],
    ['/samepage.slice/plain', '/samepage.slice/plain'],
  ])('%s -> %s', (path, unit) => {
    expect(unitOfCgroup(path)).toBe(unit);
  });

  it('only a service takes a drop-in', () => {
    expect(isServiceUnit('nginx.service')).toBe(true);
    expect(isServiceUnit('session-2.scope')).toBe(false);
    expect(isServiceUnit('/docker/x.service')).toBe(false);
  });
});

describe('QEMU command lines', () => {
  const qemu = (...args: string[]) => qemuFacts('qemu-system-x86', ['/usr/bin/qemu-system-x86_64', ...args], 42);
  it('names a guest by -name (guest=, plain, with options), else -uuid, else pid', () => {
    expect(qemu('-name', 'guest=vm1,debug-threads=on')?.name).toBe('vm1');
    expect(qemu('-name', 'vm2')).toEqual({ name: 'vm2', nameFrom: 'name', uuid: null, ramBytes: null });
    expect(qemu('-name', 'vm3,process=qemu-vm3')?.name).toBe('vm3');
    expect(guestName('a,,b,debug-threads=on')).toBe('a,b');
    expect(qemu('-uuid', '6a3e0b1c-0000-4000-8000-000000000001', '-m', '2G')).toEqual({ name: '6a3e0b1c-0000-4000-8000-000000000001', nameFrom: 'uuid', uuid: '6a3e0b1c-0000-4000-8000-000000000001', ramBytes: 2 ** 31 });
    expect(qemu('-m', '64')).toEqual({ name: 'pid 42', nameFrom: 'pid', uuid: null, ramBytes: 64 * 2 ** 20 });
  });

  it('reads -m as QEMU does: MiB by default, suffixes, size=', () => {
    expect(ramSize('512')).toBe(512 * 2 ** 20);
    expect(ramSize('1G')).toBe(2 ** 30);
    expect(ramSize('size=4G,slots=2,maxmem=8G')).toBe(4 * 2 ** 30);
    expect(ramSize('nonsense')).toBeNull();
  });

  it('knows QEMU by its comm or its program name, nothing else', () => {
    expect(isQemu('qemu-system-x86', [])).toBe(true);
    expect(isQemu('qemu-kvm', ['/usr/bin/qemu-system-aarch64'])).toBe(true);
    expect(isQemu('bash', ['bash', '-c', 'qemu-system-x86_64'])).toBe(false);
    expect(qemuFacts('bash', ['bash'])).toBeNull();
  });
});

describe('the files a process is grouped by', () => {
  it('takes the unified hierarchy line of /proc/PID/cgroup, on a hybrid too', () => {
    expect(cgroupV2PathOf('0::/system.slice/x.service\n')).toBe('/system.slice/x.service');
    expect(cgroupV2PathOf('9:name=systemd:/\n4:memory:/a\n0::/\n')).toBe('/');
    expect(cgroupV2PathOf('4:memory:/a\n')).toBeNull();
  });

  it('reads /etc/passwd as it is written (comments and bad lines skipped)', () => {
    expect(passwdEntries('root:x:0:0:root:/root:/bin/bash\n# a comment\nbad\nnobody:x:65534:65534::/:/bin/false\n')).toEqual([['root', 0], ['nobody', 65534]]);
  });
});

describe('group keys', () => {
  const info = (pid: number, grouping?: ProcessInfo['grouping']): ProcessInfo => ({ pid, ppid: 1, command: 'x', cmdline: 'x', chromiumType: null, ...(grouping === undefined ? {} : { grouping }) });
  const facts = (cgroup: string | null, uid: number | null, user: string | null) => ({ cgroup, uid, user, vm: null });
  it('groups by each dimension; unknown facts share one key', () => {
    const members = [
      { info: info(1, facts('/system.slice/a.service', 0, 'root')), label: 'pid 1 (x)' },
      { info: info(2, facts('/system.slice/a.service/sub', 1000, null)), label: 'pid 2 (x)' },
      { info: info(3), label: 'pid 3 (x) in core' },
    ];
    const byUnit = groupProcesses(members, 'unit');
    expect(byUnit.keys).toEqual(['a.service', '(unknown)']);
    expect(Array.from(byUnit.groupOf)).toEqual([0, 0, 1]);
    expect(groupProcesses(members, 'cgroup').keys).toEqual(['/system.slice/a.service', '/system.slice/a.service/sub', '(unknown)']);
    expect(groupProcesses(members, 'user').keys).toEqual(['root', 'uid 1000', '(unknown)']);
    expect(groupProcesses(members, 'vm').keys).toEqual(['(not a VM)']);
    expect(groupProcesses([...members, members[0] as (typeof members)[number]], 'process').keys).toHaveLength(4);
    expect(keyOf(info(4, { cgroup: '/', uid: 0, user: 'root', vm: { name: 'vm1', nameFrom: 'name', uuid: null, ramBytes: null } }), 'vm')).toBe('vm1');
  });
});

function groupedReport(): Report {
  const r = sampleReport();
  const alone = r.estimate;
  const row = (key: string, pids: number[], freed: number): GroupRow => ({ key, kind: 'unit', pids, alone: { ...alone, ramFreedBytes: freed, netSavingBytes: freed - alone.metadataBytes }, vm: null });
  const groups = [row('a.service', [1, 2], 200 << 20), row(HOSTILE.csv, [3], 4096), row(HOSTILE.escape, [4], 0)];
  return {
    ...r,
    groupBy: 'unit',
    groups,
    groupPairs: [{ a: 'a.service', b: HOSTILE.csv, crossRamFreedBytes: 8192 }],
    groupTotals: { groups: 3, aloneRamFreedBytes: 1, aloneNetSavingBytes: 1, togetherRamFreedBytes: 2, togetherNetSavingBytes: 2, acrossGroupsRamFreedBytes: 1, pairsCrossRamFreedBytes: 8192, elapsedMs: 1, minSavingBytes: 64 << 20 },
    recommendations: [recommendationFor(groups[0] as GroupRow, 64 << 20)],
  };
}

describe('group rows in every format', () => {
  it('plain and csv: one row per group, then per pair, exact bytes, names kept whole', () => {
    const r = groupedReport();
    const plain = renderPlain(r).trimEnd().split('\n');
    expect(plain[0]?.split('\t').slice(0, 5)).toEqual(['row', 'kind', 'key', 'with', 'pids']);
    expect(plain).toHaveLength(1 + 3 + 1);
    expect(plain[1]?.split('\t')).toContain(String(200 << 20));
    expect(plain[4]?.split('\t').slice(0, 4)).toEqual(['pair', '', 'a.service', 'a,"b"??c']);
    const csv = renderCsv(r);
    expect(csv).toContain(`"a,""b""\r\nc"`);
    expect(csv).toContain('\r\npair,,a.service,"a,""b""\r\nc",,');
  });

  it('table, markdown and html: the groups, the totals, the pairs and the drop-in; no control character gets through', () => {
    const r = groupedReport();
    const table = renderTable(r, { width: 120 });
    expect(table).toContain('By unit: KSM enabled for each group alone');
    expect(table).toContain('/etc/systemd/system/a.service.d/ksm.conf: [Service] | MemoryKSM=yes');
    expect(table).not.toMatch(/\u001b/);
    const md = renderMarkdown(r);
    expect(md).toContain('| **every group alone** |');
    expect(md).toMatch(/\| a\.service \| 2 \|/);
    const html = renderHtml(r);
    expect(html).toContain('data-path="groups.0.alone.ramFreedBytes"');
    expect(html).toContain('data-path="groupPairs.0.crossRamFreedBytes"');
    expect(html).toContain('MemoryKSM=yes');
    // Every figure of the group section is the report's own, at the path it names.
    const figures = [...html.matchAll(/data-path="(group[^"]*)" data-value="([^"]*)"/g)];
    expect(figures.length).toBeGreaterThan(10);
    for (const [, path, value] of figures) {
      const at = (path as string).split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], r);
      expect(at, path).toBe(Number(value));
    }
  });

  it('recommends a drop-in for a service and the prctl for anything else', () => {
    const r = groupedReport();
    const scope = recommendationFor({ ...(r.groups[0] as GroupRow), key: 'session-2.scope' }, 1);
    expect(scope.dropIn).toBeNull();
    expect(scope.how).toMatch(/PR_SET_MEMORY_MERGE/);
    expect(recommendationFor({ ...(r.groups[0] as GroupRow), kind: 'vm' }, 1).how).toMatch(/mem-merge/);
  });
});
