import { closeSync, openSync, readSync } from 'node:fs';

let cachedPageSize: number | null = null;

/** The machine's base page size: KernelPageSize of this process's first VMA (4 KiB, 16 KiB, 64 KiB...). */
export function systemPageSize(): number {
  if (cachedPageSize !== null) return cachedPageSize;
  const fd = openSync('/proc/self/smaps', 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, null);
    const m = /KernelPageSize:\s+(\d+) kB/.exec(buf.toString('latin1', 0, n));
    cachedPageSize = m ? Number(m[1]) * 1024 : 4096;
  } finally {
    closeSync(fd);
  }
  return cachedPageSize;
}

export function isRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}
