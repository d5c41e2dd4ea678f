// The two smaps parsers: parseSmaps walks the text by character codes (no string or match per
// line), and the native reader parses as it reads (native/smaps_table.c). The reference is the
// plain reading of the format with regular expressions (test/support/smaps-reference.ts): all
// three must give the same regions for every process on this machine (as root: every process's
// smaps is readable). The odd lines the kernel can write: test/unit/smaps.test.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSmaps } from '../../src/live/smaps.js';
import { systemPageSize } from '../../src/util/system.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { nativeParse, referenceParse } from '../support/smaps-reference.js';

afterAll(stopAllFixtures);

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
});
