// The plain reading of /proc/PID/smaps with regular expressions: the reference that parseSmaps
// (src/live/smaps.ts, by character codes) and the native parser (native/smaps_table.c) must
// equal, on hand-made texts (test/unit/smaps.test.ts) and on every process of the machine
// (test/system/smaps.test.ts).
import { parseSmaps, regionsFromTable } from '../../src/live/smaps.js';
import { nativeAddon } from '../../src/native/native-addon.js';
import { classifyRegion } from '../../src/source/mapping-kind.js';
import type { SourceRegion } from '../../src/source/memory-source.js';

// The path is the rest of the line, whatever it holds: the kernel escapes only newlines in it.
const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*([\s\S]*)$/;
const INCOMPATIBLE = new Set(['sh', 'ms', 'pf', 'io', 'de', 'ht', 'mm', 'dp']);
const SPECIAL = new Set(['pf', 'io', 'mm']);

export function referenceParse(text: string, pageSize: number): SourceRegion[] {
  const regions: SourceRegion[] = [];
  let current: SourceRegion | null = null;
  for (const line of text.split('\n')) {
    const m = HEADER.exec(line);
    if (m) {
      current = null;
      const end = parseInt(m[2] ?? '', 16);
      if (end > Number.MAX_SAFE_INTEGER) continue;
      const perms = m[3] ?? '';
      const path = m[7] ?? '';
      current = {
        start: parseInt(m[1] ?? '', 16),
        end,
        perms,
        offset: parseInt(m[4] ?? '', 16),
        inode: Number(m[6]),
        path,
        kind: classifyRegion(path, perms[3] === 's', false),
        ksmCompatible: null,
        mergeableNow: null,
        residentPages: null,
      };
      regions.push(current);
    } else if (current !== null && line.startsWith('Rss:')) {
      current.residentPages = Math.ceil((Number(/(\d+)\s*kB/.exec(line)?.[1] ?? 0) * 1024) / pageSize);
    } else if (current !== null && line.startsWith('VmFlags:')) {
      const flags = line.slice(8).trim().split(/\s+/);
      const shared = flags.some((f) => f === 'sh' || f === 'ms');
      current.kind = classifyRegion(current.path, shared, flags.some((f) => SPECIAL.has(f)));
      const compatible = current.kind !== 'special' && !flags.some((f) => INCOMPATIBLE.has(f));
      current.ksmCompatible = compatible;
      current.mergeableNow = compatible && flags.includes('mg');
    }
  }
  return regions;
}

/** The native parser's regions of the same text, or the JavaScript parser's where it is not built. */
export function nativeParse(text: string, pageSize: number): SourceRegion[] {
  const native = nativeAddon();
  return native === null ? parseSmaps(text, pageSize) : regionsFromTable(native.parseSmapsTable(text), pageSize);
}
