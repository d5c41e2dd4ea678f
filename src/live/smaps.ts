import type { SourceRegion } from '../source/memory-source.js';
import { classifyRegion } from '../source/mapping-kind.js';

/** VmFlags that make KSM ignore a VMA (mm/ksm.c ksm_compatible(): shared, PFN/IO/mixed maps, hugetlb, ...). */
const KSM_INCOMPATIBLE_FLAGS = new Set(['sh', 'ms', 'pf', 'io', 'de', 'ht', 'mm', 'dp']);
/** VmFlags of mappings that hold no ordinary pages. */
const SPECIAL_FLAGS = new Set(['pf', 'io', 'mm']);

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/;

/**
 * Paths as strings of their own. A substring of the smaps text keeps the whole text alive
 * (V8 slices share their parent), which for Chromium is megabytes per process; the copies are
 * shared between regions, and across processes, that map the same file.
 */
const paths = new Map<string, string>();
function ownPath(path: string): string {
  if (path.length === 0) return '';
  let own = paths.get(path);
  if (own === undefined) {
    if (paths.size >= 50_000) paths.clear();
    own = Buffer.from(path, 'latin1').toString('latin1');
    paths.set(own, own);
  }
  return own;
}

/** Largest address a JS number holds exactly; [vsyscall] lies above it and is skipped. */
const MAX_ADDRESS = Number.MAX_SAFE_INTEGER;

/**
 * Parses /proc/PID/smaps: one region per VMA with its resident size and VmFlags.
 * Robust to spaces and " (deleted)" in names: the path is everything after the inode column.
 */
export function parseSmaps(text: string, pageSize: number): SourceRegion[] {
  const regions: SourceRegion[] = [];
  let current: SourceRegion | null = null;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const line = nl === -1 ? text.slice(start) : text.slice(start, nl);
    start = nl + 1;
    if (line.length > 0) {
      const m = HEADER.exec(line);
      if (m) {
        const lo = parseInt(m[1] ?? '', 16);
        const hi = parseInt(m[2] ?? '', 16);
        current = null;
        if (hi <= MAX_ADDRESS) {
          const perms = m[3] ?? '----';
          const path = ownPath(m[7] ?? '');
          current = {
            start: lo,
            end: hi,
            perms,
            offset: parseInt(m[4] ?? '0', 16),
            inode: Number(m[6] ?? 0),
            path,
            kind: classifyRegion(path, perms[3] === 's', false),
            ksmCompatible: null,
            mergeableNow: null,
            residentPages: null,
          };
          regions.push(current);
        }
      } else if (current !== null) {
        if (line.startsWith('Rss:')) {
          current.residentPages = Math.ceil((parseKb(line) * 1024) / pageSize);
        } else if (line.startsWith('VmFlags:')) {
          applyVmFlags(current, line.slice(8).trim().split(/\s+/));
        }
      }
    }
    if (nl === -1) break;
  }
  return regions;
}

function applyVmFlags(region: SourceRegion, flags: string[]): void {
  let compatible = true;
  let special = false;
  let shared = false;
  let mergeable = false;
  for (const f of flags) {
    if (KSM_INCOMPATIBLE_FLAGS.has(f)) compatible = false;
    if (SPECIAL_FLAGS.has(f)) special = true;
    if (f === 'sh' || f === 'ms') shared = true;
    if (f === 'mg') mergeable = true;
  }
  region.kind = classifyRegion(region.path, shared, special);
  if (region.kind === 'special') compatible = false;
  region.ksmCompatible = compatible;
  region.mergeableNow = mergeable && compatible;
}

function parseKb(line: string): number {
  const m = /(\d+)\s*kB/.exec(line);
  return m ? Number(m[1]) : 0;
}
