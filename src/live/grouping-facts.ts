import { readFileSync } from 'node:fs';
import type { GroupingFacts } from '../source/memory-source.js';
import { qemuFacts } from '../grouping/qemu-args.js';
import { splitCmdline } from '../source/process-naming.js';

/**
 * What a live process is grouped by (--group-by): its cgroup v2 path, its owner and, for a QEMU
 * guest, the VM's name. Read once per selected process, kept in snapshots. A fact that cannot
 * be read is null, never a guess.
 */
export function readGroupingFacts(pid: number, users: UserNames): GroupingFacts {
  const uid = effectiveUid(pid);
  let args: string[] = [];
  let comm = '';
  try {
    args = splitCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    // Gone or a kernel thread: no VM facts.
  }
  return { cgroup: cgroupV2Path(pid), uid, user: uid === null ? null : users.nameOf(uid), vm: qemuFacts(comm, args, pid) };
}

/**
 * The unified hierarchy's line of /proc/PID/cgroup ("0::/path"): on a pure cgroup v2 system the
 * only line, on a v1/v2 hybrid the one that names the v2 cgroup. null when there is none.
 */
export function cgroupV2Path(pid: number): string | null {
  try {
    return cgroupV2PathOf(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return null;
  }
}

export function cgroupV2PathOf(text: string): string | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return null;
}

/** The effective uid (the second of /proc/PID/status's Uid line): the owner ps shows. */
function effectiveUid(pid: number): number | null {
  try {
    const m = /^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** User names by uid, from /etc/passwd as this host has it (read once). No NSS: a uid not in the file keeps its number. */
export class UserNames {
  private names: Map<number, string> | null = null;

  constructor(private readonly passwdPath = '/etc/passwd') {}

  nameOf(uid: number): string | null {
    if (this.names === null) {
      this.names = new Map();
      let text = '';
      try {
        text = readFileSync(this.passwdPath, 'utf8');
      } catch {
        // No passwd file: every owner is shown by uid.
      }
      for (const [name, uidField] of passwdEntries(text)) if (!this.names.has(uidField)) this.names.set(uidField, name);
    }
    return this.names.get(uid) ?? null;
  }
}

export function passwdEntries(text: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    if (f[0] !== undefined && f[0] !== '' && Number.isInteger(uid) && uid >= 0) out.push([f[0], uid]);
  }
  return out;
}
