import type { VmFacts } from '../source/memory-source.js';

// A QEMU guest as its command line describes it: the facts --qemu and --group-by vm use.

const QEMU_EXE = /^qemu-system-[\w.-]+$/;

/** comm or argv[0]'s file name is qemu-system-*: a QEMU guest (TCG or KVM alike). */
export function isQemu(comm: string, args: readonly string[]): boolean {
  const exe = (args[0] ?? '').split('/').pop() ?? '';
  return QEMU_EXE.test(comm) || QEMU_EXE.test(exe);
}

/** The guest's name, uuid and RAM size from QEMU's options; null when not QEMU. */
export function qemuFacts(comm: string, args: readonly string[], pid?: number): VmFacts | null {
  if (!isQemu(comm, args)) return null;
  const nameArg = optionValue(args, 'name');
  const uuid = optionValue(args, 'uuid');
  const name = nameArg === null ? null : guestName(nameArg);
  const ramBytes = ramSize(optionValue(args, 'm'));
  if (name !== null && name !== '') return { name, nameFrom: 'name', uuid, ramBytes };
  if (uuid !== null && uuid !== '') return { name: uuid, nameFrom: 'uuid', uuid, ramBytes };
  return { name: pid === undefined ? 'unnamed' : `pid ${pid}`, nameFrom: 'pid', uuid, ramBytes };
}

/** The value of -opt or --opt, as "-opt value" or "-opt=value"; the last one wins, as in QEMU. */
function optionValue(args: readonly string[], opt: string): string | null {
  let value: string | null = null;
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    if (a === `-${opt}` || a === `--${opt}`) {
      if (i + 1 < args.length) value = args[++i] as string;
    } else if (a.startsWith(`-${opt}=`) || a.startsWith(`--${opt}=`)) {
      value = a.slice(a.indexOf('=') + 1);
    }
  }
  return value;
}

/** -name takes "NAME", "guest=NAME,..." or "NAME,process=...,debug-threads=...". ",," is a literal comma. */
export function guestName(value: string): string {
  const parts = splitOptions(value);
  for (const p of parts) if (p.startsWith('guest=')) return p.slice(6);
  const first = parts[0] ?? '';
  return first.includes('=') ? '' : first;
}

/** -m takes "SIZE" or "size=SIZE,slots=...,maxmem=...": MiB unless suffixed (K, M, G, T). */
export function ramSize(value: string | null): number | null {
  if (value === null) return null;
  let size: string | null = null;
  for (const p of splitOptions(value)) {
    if (p.startsWith('size=')) size = p.slice(5);
    else if (!p.includes('=') && size === null) size = p;
  }
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)[bB]?$/.exec(size ?? '');
  if (m === null) return null;
  const unit = { '': 2 ** 20, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * unit);
}

function splitOptions(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === ',' && value[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}
