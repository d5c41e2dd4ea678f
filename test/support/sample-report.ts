// A report object for the exporters' tests: the sample cores' real report, with processes
// added whose names are hostile (escape sequences, a newline, CSV and Markdown syntax), from
// two files and a live scan, with the same pid twice.
import { readFileSync } from 'node:fs';
import type { ProcessRow, Report } from '../../src/report/report.js';

export const HOSTILE = {
  /** Colours the terminal red, then a newline and a tab. */
  escape: 'evil\u001b[31mred\nline\ttab',
  /** C1 CSI (U+009B) and a right-to-left override. */
  c1: 'x\u009b2Jy\u202ez',
  csv: 'a,"b"\r\nc',
  markdown: 'pipe|<b>*bold*</b>`',
  long: 'a-very-long-command-name-that-never-fits-in-a-narrow-terminal',
};

export function sampleReport(): Report {
  const base = JSON.parse(readFileSync(new URL('../../samples/expected-report.json', import.meta.url), 'utf8')) as Report;
  const model = base.processes[0] as ProcessRow;
  const row = (pid: number, command: string, file: string | null, pages: number, chromiumType: string | null = null): ProcessRow => ({
    ...model,
    pid,
    command,
    chromiumType,
    file,
    source: file === null ? `pid ${pid} (${command})` : `pid ${pid} (${command}) in ${file}`,
    origin: file === null ? 'live' : 'snapshot',
    residentPages: pages,
    anonPages: Math.floor(pages / 2),
    dupWithinProcess: Math.floor(pages / 4),
    dupAcrossProcesses: Math.floor(pages / 8),
    ramFreedBytes: pages * 1024,
    ksm_merging_pages: Math.floor(pages / 3),
  });
  const extra = [
    row(4242, HOSTILE.escape, 'hosts/a.snap', 5000),
    row(4242, HOSTILE.c1, 'hosts/b.snap', 4000, 'renderer'),
    row(77, HOSTILE.csv, null, 3000),
    row(78, HOSTILE.markdown, null, 2000),
    row(79, HOSTILE.long, null, 1000),
  ];
  const processes = [...base.processes, ...extra];
  return {
    ...base,
    processes,
    totals: { ...base.totals, processes: processes.length },
    overlap: { processes: [2, 3, 0], contents: [[5, 3, 1], [3, 0, 2], [1, 2, 17]] },
    skipped: [{ pid: 99, source: `pid 99 (${HOSTILE.escape})`, reason: 'pid 99 exited during the scan', permissionDenied: false, kind: 'exited', affectsExit: false }],
  };
}
