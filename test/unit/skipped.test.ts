// What a scan did not read, and why (src/source/skipped.ts): which skips are failures, when the
// result is partial (exit status 1), and how eighteen processes denied for one reason become one
// line that names them (src/reporters/skip-lines.ts puts those lines under the report).
import { describe, expect, it } from 'vitest';
import { groupedReasons, isBenignSkip, isPartial, type SkipKind, type Skipped } from '../../src/source/skipped.js';
import { skipLines } from '../../src/reporters/skip-lines.js';

const ADVICE = "reading another process's memory needs ptrace access; run samepage as root (sudo samepage ...) or give it CAP_SYS_PTRACE";

/** A permission denial worded as src/live/ptrace-denial.ts words it. */
function denied(pid: number, command: string, file = 'pagemap', affectsExit = true): Skipped {
  return {
    pid,
    source: `pid ${pid} (${command})`,
    reason: `no permission to read the memory of pid ${pid} (${command}) (/proc/${pid}/${file}): ${ADVICE}`,
    permissionDenied: true,
    kind: 'denied',
    affectsExit,
  };
}

function skip(pid: number | null, source: string, reason: string, kind: SkipKind, affectsExit = false): Skipped {
  return { pid, source, reason, permissionDenied: false, kind, affectsExit };
}

describe('isBenignSkip', () => {
  it('nothing to read is no failure: exited, kernel threads, zombies, samepage itself; denied and failed are', () => {
    const kinds: SkipKind[] = ['exited', 'kernel-thread', 'zombie', 'self', 'denied', 'failed'];
    expect(kinds.filter(isBenignSkip)).toEqual(['exited', 'kernel-thread', 'zombie', 'self']);
  });
});

describe('isPartial', () => {
  it('is partial when a skip affects the exit status, or a named source lost regions', () => {
    const whole = [{ named: true, regionsFailed: 0 }];
    expect(isPartial([], whole)).toBe(false);
    expect(isPartial([skip(5, 'pid 5 (x)', 'no such process', 'exited')], whole)).toBe(false);
    // Under --all, a process even root may not read is listed but does not count.
    expect(isPartial([denied(7, 'init', 'pagemap', false)], whole)).toBe(false);
    expect(isPartial([denied(7, 'init')], whole)).toBe(true);
    expect(isPartial([], [{ named: true, regionsFailed: 1 }])).toBe(true);
    // A failed region in a process --all took is not the user's named source.
    expect(isPartial([], [{ named: false, regionsFailed: 3 }, { named: true, regionsFailed: 0 }])).toBe(false);
  });
});

describe('groupedReasons', () => {
  it('one denial is its own message, whole', () => {
    const one = denied(42, 'postgres');
    expect(groupedReasons([one])).toEqual([one.reason]);
  });

  it('denials for the same reason are one line naming the processes, the advice once', () => {
    const lines = groupedReasons([denied(1, 'init', 'mem'), denied(42, 'postgres'), denied(43, 'nginx', 'smaps')]);
    expect(lines).toEqual([`no permission to read the memory of 3 processes (pid 1 (init), pid 42 (postgres), pid 43 (nginx)): ${ADVICE}`]);
  });

  it('names eight processes at most, then how many more', () => {
    const many = Array.from({ length: 18 }, (_, i) => denied(100 + i, `w${i}`));
    const [line, ...rest] = groupedReasons(many);
    expect(rest).toEqual([]);
    expect(line).toContain('of 18 processes (pid 100 (w0), ');
    expect(line).toContain('pid 107 (w7), and 10 more)');
    expect(line).not.toContain('pid 108');
    expect(line?.match(/run samepage as root/g)).toHaveLength(1);
  });

  it('other reasons: "source: reason" alone, "N processes (...): reason" together, "sources" when some have no pid', () => {
    const exited = [skip(5, 'pid 5', 'no such process (it exited, or never was)', 'exited'), skip(6, 'pid 6', 'no such process (it exited, or never was)', 'exited')];
    const zombie = skip(9, 'pid 9 (sleep)', 'a zombie: it has exited and holds no memory', 'zombie');
    expect(groupedReasons([exited[0] as Skipped, zombie])).toEqual(['pid 5: no such process (it exited, or never was)', 'pid 9 (sleep): a zombie: it has exited and holds no memory']);
    expect(groupedReasons([...exited, zombie])).toEqual(['2 processes (pid 5, pid 6): no such process (it exited, or never was)', 'pid 9 (sleep): a zombie: it has exited and holds no memory']);
    const files = [skip(null, 'a.core', 'truncated', 'failed', true), skip(3, 'pid 3 in b.snap', 'truncated', 'failed', true)];
    expect(groupedReasons(files)).toEqual(['2 sources (a.core, pid 3 in b.snap): truncated']);
  });

  it('keeps the order in which reasons first appear', () => {
    const lines = groupedReasons([skip(1, 'pid 1', 'b', 'failed'), skip(2, 'pid 2', 'a', 'failed'), skip(3, 'pid 3', 'b', 'failed')]);
    expect(lines).toEqual(['2 processes (pid 1, pid 3): b', 'pid 2: a']);
  });
});

describe('skipLines', () => {
  it('failures first ("skipped"), then what had nothing to read ("not scanned"), then warnings', () => {
    const lines = skipLines([skip(9, 'pid 9 (sleep)', 'a zombie', 'zombie'), denied(42, 'postgres'), skip(7, 'pid 7 (samepage)', 'samepage itself', 'self')], ['region 7f00: gone']);
    expect(lines).toEqual([
      `skipped ${denied(42, 'postgres').reason}`,
      'not scanned: pid 9 (sleep): a zombie',
      'not scanned: pid 7 (samepage): samepage itself',
      'warning: region 7f00: gone',
    ]);
  });
});
