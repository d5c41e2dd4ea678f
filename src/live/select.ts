import type { ProcessInfo } from '../source/memory-source.js';
import { groupedReasons, type Skipped } from '../source/skipped.js';
import { listPids, ownLineage, readProcessStatus, type ProcessStatus } from './process-info.js';
import { UserError } from '../util/errors.js';
import { isQemu } from '../grouping/qemu-args.js';

export interface Selection {
  pids: number[];
  names: string[];
  trees: number[];
  chromium: boolean;
  chromiumAll: boolean;
  all: boolean;
  /** --qemu: every QEMU guest (qemu-system-*). */
  qemu?: boolean;
}

export interface SelectedProcess {
  info: ProcessInfo;
  /** The user named it (--pid, --name, --tree, --chromium) rather than taking every process (--all). */
  named: boolean;
}

/** What a selection resolves to: processes to scan, and those it matched but that have no memory to read. */
export interface ProcessSelection {
  processes: SelectedProcess[];
  notScanned: Skipped[];
}

/**
 * Resolves the selection flags into processes. Kernel threads and zombies have no memory to
 * read, and samepage's own process chain (itself, and the shell, sudo or timeout that runs it,
 * whose command lines hold the pattern the user typed) is never a target: all are listed as not
 * scanned. An explicit --pid of an ancestor is still scanned: the user asked for it by number.
 * A pid named explicitly that does not exist is an error when it is the only thing asked for,
 * a note among others; a process that vanishes while being listed is simply not selected.
 */
export function selectProcesses(sel: Selection, selfPid: number): ProcessSelection {
  // How each candidate was chosen: a pattern (--name, --chromium) matches samepage's own chain
  // only because the command line that runs it holds the pattern, so that match is no match.
  const candidates = new Map<number, { status: ProcessStatus; how: 'pid' | 'all' | 'tree' | 'pattern' }>();
  const notScanned: Skipped[] = [];
  const needList = sel.all || sel.names.length > 0 || sel.trees.length > 0 || sel.chromium || sel.chromiumAll || sel.qemu === true;
  const everyone = needList ? listStatuses() : [];

  const missing: number[] = [];
  for (const pid of sel.pids) {
    const status = readProcessStatus(pid);
    if (status === null) missing.push(pid);
    else candidates.set(pid, { status, how: 'pid' });
  }
  const add = (status: ProcessStatus, how: 'all' | 'tree' | 'pattern'): void => {
    if (!candidates.has(status.info.pid)) candidates.set(status.info.pid, { status, how });
  };
  if (sel.all) for (const p of everyone) if (!p.kernelThread) add(p, 'all');

  for (const source of sel.names) {
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch (err) {
      throw new UserError(`--name: not a valid regular expression: ${source} (${(err as Error).message})`);
    }
    for (const p of everyone) if (re.test(p.info.command) || re.test(p.info.cmdline)) add(p, 'pattern');
  }

  for (const root of sel.trees) {
    if (!everyone.some((p) => p.info.pid === root)) throw new UserError(`--tree: no process with pid ${root}`);
    for (const p of descendants(everyone, root)) add(p, 'tree');
  }

  if (sel.chromium || sel.chromiumAll) {
    for (const p of everyone) {
      if (p.info.chromiumType === null) continue;
      if (sel.chromiumAll || p.info.chromiumType === 'renderer') add(p, 'pattern');
    }
  }

  if (sel.qemu === true) {
    for (const p of everyone) if (isQemu(p.info.command, p.info.cmdline.split(' ').slice(0, 1))) add(p, 'pattern');
  }

  const lineage = ownLineage(selfPid);
  const processes: SelectedProcess[] = [];
  const note = (p: ProcessStatus, kind: Skipped['kind'], reason: string): void => {
    notScanned.push({ pid: p.info.pid, source: `pid ${p.info.pid} (${p.info.command})`, reason, permissionDenied: false, kind, affectsExit: false });
  };
  for (const { status, how } of [...candidates.values()].sort((a, b) => a.status.info.pid - b.status.info.pid)) {
    const pid = status.info.pid;
    if (lineage.has(pid) && how === 'pattern') continue;
    if (pid === selfPid) note(status, 'self', 'samepage itself');
    else if (lineage.has(pid) && how !== 'pid') note(status, 'self', 'it runs samepage (an ancestor of this samepage process)');
    else if (status.kernelThread) note(status, 'kernel-thread', 'a kernel thread: it has no user memory');
    else if (status.state === 'Z' || status.state === 'X') note(status, 'zombie', 'a zombie: it has exited and holds no memory');
    else processes.push({ info: status.info, named: !sel.all });
  }

  if (missing.length > 0) {
    const what = `no process with pid ${missing.join(', ')}`;
    // Asked for by number and nothing else to scan: that is the whole answer.
    if (processes.length === 0 && notScanned.length === 0) throw new UserError(what);
    for (const pid of missing) notScanned.push({ pid, source: `pid ${pid}`, reason: 'no such process (it exited, or never was)', permissionDenied: false, kind: 'exited', affectsExit: false });
  }
  if (processes.length === 0) {
    if (notScanned.length === 0) throw new UserError('no process matches the selection');
    throw new UserError(`nothing to scan: ${groupedReasons(notScanned).join('; ')}`);
  }
  return { processes, notScanned };
}

function listStatuses(): ProcessStatus[] {
  const statuses: ProcessStatus[] = [];
  for (const pid of listPids()) {
    const status = readProcessStatus(pid);
    if (status !== null) statuses.push(status);
  }
  return statuses;
}

/** The process and everything below it, by ppid. */
export function descendants<T extends { info: ProcessInfo }>(all: readonly T[], root: number): T[] {
  const children = new Map<number, T[]>();
  for (const p of all) {
    if (p.info.ppid === null) continue;
    const list = children.get(p.info.ppid) ?? [];
    list.push(p);
    children.set(p.info.ppid, list);
  }
  const out: T[] = [];
  const self = all.find((p) => p.info.pid === root);
  if (self) out.push(self);
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child.info.pid);
    }
  }
  return out;
}
