import type { ProcessInfo } from '../source/memory-source.js';

// Which sources are guests (virtual machines), and their names. Today a guest is a QEMU process
// recognised by its command line; when snapshots record grouping facts (cgroup, systemd unit,
// VM name) this is the one place that reads them instead.

const QEMU = /(^|\/)qemu-system-[\w.-]+$/;

/** The guest this process runs, by name, or null when it is not a virtual machine. */
export function guestOf(info: ProcessInfo): string | null {
  const args = info.cmdline.split(' ').filter((a) => a !== '');
  const exe = args[0] ?? '';
  if (!QEMU.test(exe) && !info.command.startsWith('qemu-system')) return null;
  return nameArgument(args) ?? `pid ${info.pid}`;
}

/** QEMU's -name: "vm1", "vm1,debug-threads=on" or libvirt's "guest=vm1,debug-threads=on". */
function nameArgument(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    let value: string | undefined;
    if (a === '-name' || a === '--name') value = args[i + 1];
    else if (a.startsWith('-name=') || a.startsWith('--name=')) value = a.slice(a.indexOf('=') + 1);
    if (value === undefined || value === '') continue;
    const parts = value.split(',');
    const named = parts.find((p) => p.startsWith('guest='));
    const name = named !== undefined ? named.slice('guest='.length) : (parts[0] as string);
    if (name !== '') return name;
  }
  return null;
}
