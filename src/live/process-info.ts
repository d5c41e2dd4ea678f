import { readFileSync, readdirSync } from 'node:fs';
import type { ProcessInfo } from '../source/memory-source.js';
import { chromiumProcessType, splitCmdline } from '../source/process-naming.js';

/** Every numeric entry of /proc: the pids alive now. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

/** PF_KTHREAD in the flags field of /proc/PID/stat: a kernel thread, with no user memory. */
const PF_KTHREAD = 0x00200000;

/** A process as /proc/PID/stat describes it: who it is, and whether it has memory to read. */
export interface ProcessStatus {
  info: ProcessInfo;
  /** The state letter: R, S, D, T, Z (zombie), X (dead)... */
  state: string;
  kernelThread: boolean;
}

/** Reads comm, cmdline and ppid; null when the process is gone (or never was). */
export function readProcessInfo(pid: number): ProcessInfo | null {
  return readProcessStatus(pid)?.info ?? null;
}

/** Reads stat and cmdline; null when the process is gone (or never was). */
export function readProcessStatus(pid: number): ProcessStatus | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // comm sits in parentheses and may itself contain ") ": the fields follow the last one.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const command = stat.slice(open + 1, close);
  const rest = stat.slice(close + 2).split(' ');
  const state = rest[0] ?? '?';
  const ppid = Number(rest[1]);
  const flags = Number(rest[6]);
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // Unreadable cmdline (a kernel thread, or a process exiting): comm is enough to name it.
  }
  const args = splitCmdline(cmdline);
  return {
    info: {
      pid,
      ppid: Number.isFinite(ppid) ? ppid : null,
      command,
      cmdline: args.join(' '),
      chromiumType: chromiumProcessType(command, args),
    },
    state,
    // The kernel's own word: in a container, pid 2 and its children are ordinary processes.
    kernelThread: Number.isFinite(flags) && (flags & PF_KTHREAD) !== 0,
  };
}

/** samepage's own process and every process above it, up to pid 1: never a target of a selection. */
export function ownLineage(selfPid: number): Set<number> {
  const lineage = new Set<number>();
  let pid: number | null = selfPid;
  while (pid !== null && pid > 0 && !lineage.has(pid)) {
    lineage.add(pid);
    pid = readProcessStatus(pid)?.info.ppid ?? null;
  }
  return lineage;
}
