import type { ProcessInfo } from '../source/memory-source.js';
import { unitOfCgroup } from './unit-name.js';

export const GROUP_BY = ['process', 'cgroup', 'unit', 'user', 'vm'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** Processes whose fact is unknown (a core dump, a snapshot from before the facts were kept) share this key. */
export const UNKNOWN_KEY = '(unknown)';
/** --group-by vm: the processes that are not QEMU guests, together. */
export const NOT_A_VM_KEY = '(not a VM)';

/** One scanned process as grouping sees it. */
export interface GroupMember {
  info: ProcessInfo;
  label: string;
}

export interface Grouping {
  by: GroupBy;
  /** Group keys, in order of first appearance among the scanned processes. */
  keys: string[];
  /** groupOf[p]: the group of scanned process p. */
  groupOf: Int32Array;
}

/** Each process's key under `by`, and the groups they make. */
export function groupProcesses(members: readonly GroupMember[], by: GroupBy): Grouping {
  const keys: string[] = [];
  const byKey = new Map<string, number>();
  const groupOf = new Int32Array(Math.max(1, members.length));
  members.forEach((m, p) => {
    // Each process is its own group under `process`, even when two have the same label.
    const key = by === 'process' ? m.label : keyOf(m.info, by);
    let g = by === 'process' ? undefined : byKey.get(key);
    if (g === undefined) {
      g = keys.length;
      keys.push(key);
      byKey.set(key, g);
    }
    groupOf[p] = g;
  });
  return { by, keys, groupOf };
}

export function keyOf(info: ProcessInfo, by: Exclude<GroupBy, 'process'>): string {
  const f = info.grouping;
  if (f === undefined) return by === 'vm' ? NOT_A_VM_KEY : UNKNOWN_KEY;
  switch (by) {
    case 'cgroup':
      return f.cgroup ?? UNKNOWN_KEY;
    case 'unit':
      return f.cgroup === null ? UNKNOWN_KEY : unitOfCgroup(f.cgroup);
    case 'user':
      return f.user ?? (f.uid === null ? UNKNOWN_KEY : `uid ${f.uid}`);
    case 'vm':
      return f.vm?.name ?? NOT_A_VM_KEY;
  }
}
