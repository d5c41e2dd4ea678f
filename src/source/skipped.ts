/**
 * What a scan did not read, and why. Kernel threads, zombies, samepage's own process chain and
 * processes that exited during the scan are not failures: there was no memory to read.
 * 'denied' and 'failed' are memory that exists and could not be read.
 */
export type SkipKind = 'exited' | 'kernel-thread' | 'zombie' | 'self' | 'denied' | 'failed';

export interface Skipped {
  pid: number | null;
  source: string;
  reason: string;
  /** The reason is a lack of permission (ptrace rights), not a vanished or broken source. */
  permissionDenied: boolean;
  kind: SkipKind;
  /**
   * Makes the exit status 1: memory that exists could not be read in a source the user named
   * (--pid, --tree, --name, --chromium, a file). Under --all a process that even root may not
   * read is listed but does not count.
   */
  affectsExit: boolean;
}

/** Not a failure: nothing was there to read. */
export function isBenignSkip(kind: SkipKind): boolean {
  return kind === 'exited' || kind === 'kernel-thread' || kind === 'zombie' || kind === 'self';
}

/** Memory that exists could not be read in a source the user named: the result is partial (exit status 1). */
export function isPartial(skipped: readonly Skipped[], sources: ReadonlyArray<{ named: boolean; regionsFailed: number }>): boolean {
  return skipped.some((k) => k.affectsExit) || sources.some((s) => s.named && s.regionsFailed > 0);
}

/** Stands for the processes' names in a grouped permission message. */
const PROCESSES = '\u0000processes\u0000';

/**
 * One line per distinct reason: eighteen processes denied for the same reason are one line that
 * names them, not eighteen copies of the advice.
 */
export function groupedReasons(skipped: readonly Skipped[]): string[] {
  const groups = new Map<string, Skipped[]>();
  for (const k of skipped) {
    // A permission message names its process first; the rest of it is the shared reason.
    const reason = k.permissionDenied ? k.reason.replace(/^no permission to read the memory of pid \d+(?: \([^)]*\))? \(\/proc\/\d+\/\w+\)/, `no permission to read the memory of ${PROCESSES}`) : k.reason;
    const list = groups.get(reason) ?? [];
    list.push(k);
    groups.set(reason, list);
  }
  const lines: string[] = [];
  for (const [reason, list] of groups) {
    const first = list[0] as Skipped;
    if (list.length === 1) {
      lines.push(first.permissionDenied ? first.reason : `${first.source}: ${reason}`);
      continue;
    }
    const names = list.slice(0, 8).map((k) => k.source).join(', ') + (list.length > 8 ? `, and ${list.length - 8} more` : '');
    const what = `${list.length} ${list.every((k) => k.pid !== null) ? 'processes' : 'sources'} (${names})`;
    lines.push(reason.includes(PROCESSES) ? reason.replace(PROCESSES, what) : `${what}: ${reason}`);
  }
  return lines;
}
