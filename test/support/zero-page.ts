// What a read fault on untouched private anonymous memory maps on this kernel. Most kernels map
// their shared zero page there: one frame behind every such page, which KSM neither merges nor
// tracks. Some have none to map (s390 forbids it; so does a kernel booted with
// pvm_no_zero_page=1): each read fault then gets a zero-filled page of its own, which samepage
// counts as zero-filled content and KSM merges like any other page. Tests that read untouched
// memory (pagefill's readonly:N) ask here rather than assume, and assert each branch exactly.
//
// The answer comes from the kernel itself: a pagefill reads one byte of each of its pages, and
// /proc/PID/pagemap and /proc/kpageflags say which frames are then mapped. /proc/cmdline only
// explains the answer in the log.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { arch } from 'node:os';
import { systemPageSize } from '../../src/util/system.js';
import { startPagefill } from './fixtures.js';

export interface ZeroPageProbe {
  /** A read fault on private anonymous memory maps the kernel's shared zero page. */
  readFaultMapsZeroPage: boolean;
  /** What the probe saw, in words (for the log and for failure messages). */
  how: string;
}

// Few enough pages that no huge page fits in their VMA even without `nothp`; enough that one
// frame mapped N times cannot be anything but the zero page.
const PROBE_PAGES = 64;
const PRESENT = 1n << 63n;
const PFN_MASK = (1n << 55n) - 1n;
const KPF_ZERO_PAGE = 24n;

let cached: Promise<ZeroPageProbe> | undefined;

/** Probes once per test file (each file has its own module instance) and logs the branch taken. */
export function zeroPageProbe(): Promise<ZeroPageProbe> {
  cached ??= probe().then((result) => {
    console.log(`[kernel] a read fault maps the shared zero page: ${result.readFaultMapsZeroPage ? 'yes' : 'no'} (${explain(result.readFaultMapsZeroPage)}); ${result.how}`);
    return result;
  });
  return cached;
}

async function probe(): Promise<ZeroPageProbe> {
  // nothp: the question is about small pages; a huge page, or the huge zero page, is THP's business.
  const fixture = await startPagefill(['nothp', `readonly:${PROBE_PAGES}`]);
  try {
    return judge(privateAnonFrames(fixture.pid));
  } finally {
    await fixture.stop();
  }
}

/** Reads the answer from the frames behind the fixture's pages (while it still maps them). */
function judge(frames: bigint[]): ZeroPageProbe {
  const seen = `pagefill readonly:${PROBE_PAGES} has ${frames.length} present pages in its private anonymous VMAs`;
  if (frames.length > 0 && frames.every((f) => f === 0n)) {
    throw new Error(`zero-page probe: ${seen}, all with PFN 0: frame numbers are hidden (run the tests as root)`);
  }
  const perFrame = new Map<bigint, number>();
  for (const f of frames) perFrame.set(f, (perFrame.get(f) ?? 0) + 1);
  let [busiest, busiestCount] = [0n, 0];
  for (const [f, n] of perFrame) if (n > busiestCount) [busiest, busiestCount] = [f, n];
  const zeroFrames = zeroPageFrames([...perFrame.keys()]);
  const zeroMappings = zeroFrames.reduce((s, f) => s + (perFrame.get(f) ?? 0), 0);

  // With the zero page, the read pages all map one frame, and kpageflags says which.
  if (busiestCount >= PROBE_PAGES && zeroFrames.includes(busiest)) {
    return {
      readFaultMapsZeroPage: true,
      how: `${seen}; ${busiestCount} of them map one frame (PFN 0x${busiest.toString(16)}), which /proc/kpageflags calls the zero page`,
    };
  }
  // Without it, no frame is mapped twice in a process that neither forked nor merged.
  if (frames.length >= PROBE_PAGES && zeroMappings === 0 && busiestCount === 1) {
    return {
      readFaultMapsZeroPage: false,
      how: `${seen}, ${perFrame.size} distinct frames, none of them the zero page: each read fault got a page of its own`,
    };
  }
  throw new Error(
    `zero-page probe inconclusive: ${seen}, ${perFrame.size} distinct frames, ${zeroMappings} mappings of the zero page, at most ${busiestCount} mappings of one frame`,
  );
}

/** The PFN of every present page in the process's private anonymous VMAs (no path in maps). */
function privateAnonFrames(pid: number): bigint[] {
  const pageSize = systemPageSize();
  const frames: bigint[] = [];
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*$/.exec(line);
      if (m === null || !(m[3] as string).endsWith('p')) continue;
      const first = parseInt(m[1] as string, 16) / pageSize;
      const pages = parseInt(m[2] as string, 16) / pageSize - first;
      const entries = Buffer.alloc(pages * 8);
      readSync(fd, entries, 0, entries.length, first * 8);
      for (let i = 0; i < pages; i++) {
        const e = entries.readBigUInt64LE(i * 8);
        if ((e & PRESENT) !== 0n) frames.push(e & PFN_MASK);
      }
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}

/** Those of the frames /proc/kpageflags marks KPF_ZERO_PAGE. */
function zeroPageFrames(frames: bigint[]): bigint[] {
  const fd = openSync('/proc/kpageflags', 'r');
  try {
    const entry = Buffer.alloc(8);
    return frames.filter((pfn) => readSync(fd, entry, 0, 8, Number(pfn) * 8) === 8 && ((entry.readBigUInt64LE(0) >> KPF_ZERO_PAGE) & 1n) === 1n);
  } finally {
    closeSync(fd);
  }
}

/** Why, as far as the command line and the architecture tell: for the log only. */
function explain(zeroPage: boolean): string {
  let cmdline = '';
  try {
    cmdline = readFileSync('/proc/cmdline', 'latin1');
  } catch {
    // No explanation then.
  }
  const flag = /(?:^|\s)(pvm_no_zero_page=\S+)/.exec(cmdline)?.[1];
  if (flag !== undefined) return `${flag} on the command line`;
  if (zeroPage) return 'as on most kernels';
  if (arch() === 's390x') return 's390 forbids the zero page';
  return 'no reason found on the command line';
}
