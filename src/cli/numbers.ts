import { readFileSync } from 'node:fs';
import { UsageError } from './usage-error.js';

/** max_page_sharing_store() takes a C int (kstrtoint) of at least 2. */
export const INT_MAX = 2147483647;

/** A whole number within [min, max], or a usage error that says which flag wants what. */
export function wholeNumber(value: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER, why = ''): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} takes a whole number${max === Number.MAX_SAFE_INTEGER ? ` of at least ${min}` : ` from ${min} to ${max}`}${why}, not '${value}'`);
  }
  return n;
}

/** A pid this kernel could hand out, for --pid and --tree. */
export function pidNumber(value: string, flag: string): number {
  const max = maxPid();
  return wholeNumber(value, flag, 1, max, ` (this kernel's pid_max is ${max + 1})`);
}

/** The largest pid this kernel hands out: pid_max - 1 (PID_MAX_LIMIT on 64-bit when unreadable). */
function maxPid(): number {
  try {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1').trim());
    if (Number.isSafeInteger(pidMax) && pidMax > 1) return pidMax - 1;
  } catch {
    // No procfs here: the kernel's own ceiling.
  }
  return 4194303;
}
