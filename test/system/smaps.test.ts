// The two smaps parsers: parseSmaps walks the text by character codes (no string or match per
// line), and the native reader parses as it reads (native/smaps_table.c). The reference here is
// the plain reading of the format with regular expressions: all three must give the same regions
// for every process on this machine and for the odd lines the kernel can write.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSmaps, regionsFromTable } from '../src/live/smaps.js';
import { nativeAddon } from '../src/native/native-addon.js';
import { classifyRegion } from '../src/source/mapping-kind.js';
import type { SourceRegion } from '../src/source/memory-source.js';
import { systemPageSize } from '../src/util/system.js';
import { startPagefill, stopAllFixtures } from './support/fixtures.js';

afterAll(stopAllFixtures);

// The path is the rest of the line, whatever it holds: the kernel escapes only newlines in it.
const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*([\s\S]*)$/;
const INCOMPATIBLE = new Set(['sh', 'ms', 'pf', 'io', 'de', 'ht', 'mm', 'dp']);
const SPECIAL = new Set(['pf', 'io', 'mm']);

function referenceParse(text: string, pageSize: number): SourceRegion[] {
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
function nativeParse(text: string, pageSize: number): SourceRegion[] {
  const native = nativeAddon();
  return native === null ? parseSmaps(text, pageSize) : regionsFromTable(native.parseSmapsTable(text), pageSize);
}

describe('parseSmaps and the native smaps parser', () => {
  const pageSize = systemPageSize();

  it('reads every process on this machine as the regular expressions do', async () => {
    // A process with shared, private, read-only, untouched and file-backed VMAs of its own.
    const fixture = await startPagefill(['anon:3:uniq', 'shared:2:byte=1', 'readonly:2', 'untouched:4', 'filepriv:3:seq=2']);
    let processes = 0;
    let regions = 0;
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let text: string;
      try {
        text = readFileSync(`/proc/${name}/smaps`, 'latin1');
      } catch {
        continue; // gone, or a kernel thread
      }
      const parsed = parseSmaps(text, pageSize);
      expect(parsed, `pid ${name}`).toEqual(referenceParse(text, pageSize));
      expect(nativeParse(text, pageSize), `pid ${name}, native`).toEqual(parsed);
      processes++;
      regions += parsed.length;
      if (Number(name) === fixture.pid) expect(parsed.some((r) => r.kind === 'shmem')).toBe(true);
    }
    expect(processes).toBeGreaterThan(3);
    expect(regions).toBeGreaterThan(100);
  });

  it('reads the odd lines the kernel can write', () => {
    const text = [
      // A path with spaces and " (deleted)", then its fields.
      '7f0000000000-7f0000003000 rw-p 00001000 fd:01 123456                     /tmp/a b (deleted)',
      'Size:                 12 kB',
      'Rss:                   8 kB',
      'VmFlags: rd wr mr mw me ac mg',
      // An offset and an inode beyond 2^53 (a device's mapping, an NFS file id), a \r in a path.
      '7f0000002000-7f0000003000 r--p 1300babc09842889 00:2f 1152921504606846977 /mnt/nfs/a\rb',
      'Rss:                   4 kB',
      // Shared memory: not for KSM.
      '7f0000003000-7f0000004000 rw-s 00000000 00:01 42                         /dev/zero (deleted)',
      'Rss:                   4 kB',
      'VmFlags: rd wr sh mr mw me ms sd',
      // No path at all, and no Rss or VmFlags lines (an older kernel): unknown stays null.
      '7f0000004000-7f0000005000 ---p 00000000 00:00 0 ',
      // A line that starts like a header but is not one leaves the VMA before it as it was.
      'abc not a header',
      'Rss:                   0 kB',
      // PFN mappings, then [vsyscall] above 2^53: skipped, and its fields with it.
      '7f0000005000-7f0000006000 rw-s 00000000 00:06 7                          /dev/mem',
      'VmFlags: rd wr sh mr mw me ms pf io de dd',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      'Rss:                   4 kB',
      'VmFlags: ex',
      '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
      'Rss:                 132 kB',
      'VmFlags: rd wr mr mw me gd ac',
    ].join('\n');
    const parsed = parseSmaps(text, 4096);
    expect(parsed).toEqual(referenceParse(text, 4096));
    expect(nativeParse(text, 4096)).toEqual(parsed);
    expect([parsed[1]?.offset, parsed[1]?.inode]).toEqual([parseInt('1300babc09842889', 16), Number('1152921504606846977')]);
    expect(parsed.map((r) => [r.path, r.residentPages, r.ksmCompatible, r.mergeableNow])).toEqual([
      ['/tmp/a b (deleted)', 2, true, true],
      ['/mnt/nfs/a\rb', 1, null, null],
      ['/dev/zero (deleted)', 1, false, false],
      ['', 0, null, null],
      ['/dev/mem', null, false, false],
      ['[stack]', 33, true, false],
    ]);
  });
});
