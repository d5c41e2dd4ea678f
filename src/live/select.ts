import type { ProcessInfo } from '../source/memory-source.js';
import { listPids, readProcessInfo } from './process-info.js';
import { UserError } from '../util/errors.js';

export interface Selection {
  pids: number[];
  names: string[];
  trees: number[];
  chromium: boolean;
  chromiumAll: boolean;
  all: boolean;
}

/**
 * Resolves the selection flags into processes. A pid named explicitly that does not exist is an
 * error; a process that vanishes while being listed is simply not selected.
 */
export function selectProcesses(sel: Selection, selfPid: number): ProcessInfo[] {
  const chosen = new Map<number, ProcessInfo>();
  const needList = sel.all || sel.names.length > 0 || sel.trees.length > 0 || sel.chromium || sel.chromiumAll;
  const everyone = needList ? listInfos(selfPid) : [];

  for (const pid of sel.pids) {
    const info = readProcessInfo(pid);
    if (info === null) throw new UserError(`no process with pid ${pid}`);
    chosen.set(pid, info);
  }
  if (sel.all) for (const p of everyone) chosen.set(p.pid, p);

  for (const source of sel.names) {
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch (err) {
      throw new UserError(`--name: not a valid regular expression: ${source} (${(err as Error).message})`);
    }
    for (const p of everyone) if (re.test(p.command) || re.test(p.cmdline)) chosen.set(p.pid, p);
  }

  for (const root of sel.trees) {
    if (!everyone.some((p) => p.pid === root)) throw new UserError(`--tree: no process with pid ${root}`);
    for (const p of descendants(everyone, root)) chosen.set(p.pid, p);
  }

  if (sel.chromium || sel.chromiumAll) {
    for (const p of everyone) {
      if (p.chromiumType === null) continue;
      if (sel.chromiumAll || p.chromiumType === 'renderer') chosen.set(p.pid, p);
    }
  }
  chosen.delete(selfPid);
  return [...chosen.values()].sort((a, b) => a.pid - b.pid);
}

function listInfos(selfPid: number): ProcessInfo[] {
  const infos: ProcessInfo[] = [];
  for (const pid of listPids()) {
    if (pid === selfPid) continue;
    const info = readProcessInfo(pid);
    // Kernel threads (children of kthreadd, pid 2) have no user memory to scan.
    if (info !== null && info.pid !== 2 && info.ppid !== 2) infos.push(info);
  }
  return infos;
}

/** The process and everything below it, by ppid. */
export function descendants(all: readonly ProcessInfo[], root: number): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const p of all) {
    if (p.ppid === null) continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const out: ProcessInfo[] = [];
  const self = all.find((p) => p.pid === root);
  if (self) out.push(self);
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}
