// The two smaps parsers: parseSmaps walks the text by character codes (no string or match per
// line), and the native reader parses as it reads (native/smaps_table.c). The reference is the
// plain reading of the format with regular expressions (test/support/smaps-reference.ts): all
// three must give the same regions for the odd lines the kernel can write. Every process of the
// machine: test/system/smaps.test.ts.
import { describe, expect, it } from 'vitest';
import { parseSmaps } from '../../src/live/smaps.js';
import { nativeParse, referenceParse } from '../support/smaps-reference.js';

describe('parseSmaps and the native smaps parser', () => {
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
