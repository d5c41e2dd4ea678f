import { readFileSync, readlinkSync } from 'node:fs';
import { isRoot } from '../util/system.js';

/** Capability numbers as the kernel's capability.h names them. */
const CAPABILITIES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace',
  'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write',
  'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
];
const CAP_SYS_PTRACE = 19;

/**
 * Why the kernel would not let samepage read a process's memory, in words and with what to do.
 * Not root: the hint to run as root. Root and still denied: what here can deny it (Yama, missing
 * capabilities, the target's capabilities, pid 1 of a sandbox, an LSM), as far as /proc shows.
 */
export function permissionMessage(pid: number, file: string): string {
  const who = `pid ${pid}${commandOf(pid)}`;
  const yama = yamaScope();
  if (!isRoot()) {
    const yamaNote = yama !== null && yama !== '0' ? ` (Yama ptrace_scope is ${yama}: ${yama === '3' ? 'no process may read another, even as root' : 'only root or CAP_SYS_PTRACE may read another process'})` : '';
    return `no permission to read the memory of ${who} (/proc/${pid}/${file}): reading another process's memory needs ptrace access${yamaNote}; run samepage as root (sudo samepage ...) or give it CAP_SYS_PTRACE`;
  }
  return `no permission to read the memory of ${who} (/proc/${pid}/${file}), even as root: ${rootDenialReasons(pid, yama).join('; ')}`;
}

function rootDenialReasons(pid: number, yama: string | null): string[] {
  const reasons: string[] = [];
  if (yama === '3') reasons.push('Yama ptrace_scope is 3, so no process may read another (it can only be lowered by a reboot)');
  const own = capabilities('self', 'CapEff');
  if (own !== null && (own & (1n << BigInt(CAP_SYS_PTRACE))) === 0n) reasons.push('samepage runs without CAP_SYS_PTRACE (its capabilities are limited, as in a container)');
  const theirs = capabilities(String(pid), 'CapPrm');
  if (own !== null && theirs !== null) {
    const lacking = capabilityNames(theirs & ~own);
    if (lacking.length > 0) reasons.push(`the process holds capabilities samepage lacks (${lacking.join(', ')})`);
  }
  if (otherUserNamespace(pid)) reasons.push('it runs in another user namespace');
  if (pid === 1) reasons.push("it is pid 1, this PID namespace's init, which a sandbox or container runtime often protects");
  const lsms = activeLsms();
  if (lsms.length > 0) reasons.push(`a security module may refuse it (${lsms.join(', ')})`);
  if (reasons.length === 0) reasons.push('the kernel refused ptrace access (a security module or the sandbox samepage runs in)');
  return reasons;
}

function commandOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return ` (${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))})`;
  } catch {
    return '';
  }
}

function yamaScope(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'latin1').trim();
  } catch {
    return null;
  }
}

function capabilities(pid: string, field: 'CapEff' | 'CapPrm'): bigint | null {
  try {
    const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? null : BigInt(`0x${m[1] as string}`);
  } catch {
    return null;
  }
}

function capabilityNames(mask: bigint): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) if ((mask & (1n << BigInt(bit))) !== 0n) names.push(`cap_${CAPABILITIES[bit] ?? String(bit)}`);
  return names;
}

function otherUserNamespace(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/user`) !== readlinkSync('/proc/self/ns/user');
  } catch {
    // Unreadable for the same reason as the memory: says nothing.
    return false;
  }
}

/** Security modules that can refuse ptrace beyond the ordinary rules (capability and Yama aside). */
function activeLsms(): string[] {
  try {
    const all = readFileSync('/sys/kernel/security/lsm', 'latin1').trim().split(',');
    return all.filter((m) => ['selinux', 'apparmor', 'smack', 'tomoyo'].includes(m));
  } catch {
    return [];
  }
}
