// QEMU guests with no operating system, for tests that need real QEMU processes: the generic
// loader device (-device loader,file=F,addr=A) copies a file into guest RAM at reset, so a
// guest started paused (-S, TCG, no devices) holds pages of known content in its RAM block
// and runs nothing that changes them. (test/support/qemu-guests.ts boots a real kernel.)
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** Why a QEMU test cannot run here, or null. */
export function qemuMissing(): string | null {
  try {
    execFileSync(QEMU_BINARY, ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${QEMU_BINARY} is not installed`;
  }
}

export interface LoaderGuest {
  pid: number;
  /** SIGKILLs QEMU and waits for it to exit. */
  stop(): Promise<void>;
}

export interface LoaderGuestOptions {
  /** -name's value as written (e.g. "guest=vm1,debug-threads=on" or "vm2"); none when absent. */
  name?: string;
  uuid?: string;
  memMiB: number;
  /** Files copied into guest RAM at these guest-physical addresses. */
  blobs: Array<{ file: string; addr: number }>;
  /** Bytes of them that must be resident in QEMU's RAM block before the guest counts as started. */
  residentBytes: number;
}

const running = new Set<ChildProcess>();

/** Starts a paused guest and resolves once its RAM block holds at least `residentBytes`. */
export async function startLoaderGuest(o: LoaderGuestOptions): Promise<LoaderGuest> {
  const args = ['-machine', 'q35,accel=tcg', '-m', String(o.memMiB), '-display', 'none', '-nodefaults', '-S', '-monitor', 'none', '-serial', 'none'];
  if (o.name !== undefined) args.push('-name', o.name);
  if (o.uuid !== undefined) args.push('-uuid', o.uuid);
  for (const b of o.blobs) args.push('-device', `loader,file=${b.file},addr=0x${b.addr.toString(16)},force-raw=on`);
  const child = spawn(QEMU_BINARY, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${QEMU_BINARY} did not start: ${stderr}`);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${QEMU_BINARY} exited: ${stderr}`);
    if (mergeableResidentBytes(pid) >= o.residentBytes) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`guest RAM of ${QEMU_BINARY} (pid ${pid}) never held ${o.residentBytes} bytes: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid,
    async stop() {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Rss of the private anonymous mappings marked mergeable (VmFlags mg): QEMU's RAM blocks. */
export function mergeableResidentBytes(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'latin1');
  } catch {
    return 0;
  }
  let total = 0;
  let rss = 0;
  let anonPrivate = false;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head !== null) {
      anonPrivate = (head[1] ?? '').endsWith('p') && head[2] === '0' && (head[3] ?? '') === '';
      rss = 0;
    } else if (line.startsWith('Rss:')) {
      rss = Number(line.split(/\s+/)[1]) * 1024;
    } else if (line.startsWith('VmFlags:') && anonPrivate && / mg( |$)/.test(line)) {
      total += rss;
    }
  }
  return total;
}

/** Kills every guest still running (afterAll). */
export function stopAllLoaderGuests(): void {
  for (const c of running) c.kill('SIGKILL');
}

process.once('exit', stopAllLoaderGuests);
