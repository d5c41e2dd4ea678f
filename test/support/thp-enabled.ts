// Sets transparent huge pages' system-wide `enabled` mode for a test and puts it back.
//
// Like KSM's knobs it is system-wide, so call withThpEnabled only inside withKsm
// (test/support/ksm.ts): the KSM lock is what keeps two test runs from changing it at once.
import { writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

export const THP_ENABLED_FILE = '/sys/kernel/mm/transparent_hugepage/enabled';

export type ThpMode = 'always' | 'madvise' | 'never';

/** The selected mode ("always [madvise] never" reads as madvise), or undefined without THP. */
export async function readThpEnabled(): Promise<ThpMode | undefined> {
  let text: string;
  try {
    text = await readFile(THP_ENABLED_FILE, 'utf8');
  } catch {
    return undefined;
  }
  return /\[(\w+)\]/.exec(text)?.[1] as ThpMode | undefined;
}

let pendingRestore: ThpMode | undefined;

/**
 * Runs fn with THP `enabled` set to mode, and restores the mode found, even when fn throws
 * (and, synchronously, when the process exits first). Throws when the kernel has no THP.
 */
export async function withThpEnabled<T>(mode: ThpMode, fn: () => Promise<T>): Promise<T> {
  const found = await readThpEnabled();
  if (found === undefined) throw new Error(`no transparent huge pages here (${THP_ENABLED_FILE})`);
  if (pendingRestore !== undefined) throw new Error('withThpEnabled: already inside withThpEnabled');
  pendingRestore = found;
  try {
    await writeFile(THP_ENABLED_FILE, mode);
    return await fn();
  } finally {
    pendingRestore = undefined;
    await writeFile(THP_ENABLED_FILE, found);
    const now = await readThpEnabled();
    if (now !== found) throw new Error(`THP enabled not restored: was ${found}, now ${now ?? 'unreadable'}`);
  }
}

function restoreSync(): void {
  const mode = pendingRestore;
  if (mode === undefined) return;
  pendingRestore = undefined;
  try {
    // Still under the KSM lock: it is released only when this process is gone.
    writeFileSync(THP_ENABLED_FILE, mode);
  } catch {
    // Best effort.
  }
}

process.once('exit', restoreSync);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    restoreSync();
    // Die of the signal, unless another listener (test/support/ksm.ts) does that already.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}
