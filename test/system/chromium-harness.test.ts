// Smoke test of the Chromium harness (test/support/chromium.ts); samepage is not involved.
// Starts 4 tabs with every process KSM-mergeable, checks the process set, freezes the
// browser and reads each process's memory, then checks that close() leaves nothing behind.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM_PATH,
  chromiumProcessType,
  hasChromium,
  launchChromium,
  readCmdline,
} from '../support/chromium.js';
import type { ChromiumSession } from '../support/chromium.js';

const TABS = 4;
const available = hasChromium();
if (!available) {
  console.warn(
    `chromium-harness: SKIPPED, ${CHROMIUM_PATH} is not installed (CI: .ci/install-chromium)`,
  );
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A field of /proc/PID/smaps_rollup in KiB, undefined if the process is gone. */
function rollupKiB(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function procState(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

const mib = (kib: number | undefined): string =>
  kib === undefined ? '?' : (kib / 1024).toFixed(1);

describe.skipIf(!available)(
  `chromium harness (skipped when ${CHROMIUM_PATH} is absent)`,
  () => {
    let session: ChromiumSession | undefined;
    let launchMs = 0;

    beforeAll(async () => {
      const t0 = Date.now();
      session = await launchChromium({ tabs: TABS, mergeAny: true });
      launchMs = Date.now() - t0;
      console.log(
        `launched in ${launchMs} ms (start ${session.timings.startMs} ms, tabs loaded ` +
          `${session.timings.loadMs} ms, settle ${session.timings.settleMs} ms); ` +
          `page: ${JSON.stringify(session.pages[0])}`,
      );
    });

    afterAll(async () => {
      await session?.close();
    });

    it(`opens ${TABS} tabs, each in its own renderer process`, () => {
      const s = session!;
      expect(s.pages).toHaveLength(TABS);
      for (const page of s.pages) {
        expect(page.records).toBeGreaterThan(0);
        expect(page.nodes).toBeGreaterThan(2000);
      }
      const renderers = s.rendererPids();
      expect(renderers).toHaveLength(TABS);
      const pids = s.pids();
      expect(pids).toContain(s.browserPid);
      for (const pid of renderers) expect(pids).toContain(pid);
      console.log(
        'processes: ' + pids.map((pid) => `${pid} ${chromiumProcessType(pid)}`).join(', '),
      );
    });

    it('makes every process KSM-mergeable (ksm_merge_any yes)', () => {
      const s = session!;
      let checked = 0;
      for (const pid of s.pids()) {
        const ksmStat = readText(`/proc/${pid}/ksm_stat`);
        if (ksmStat === undefined) continue; // exited meanwhile
        expect(ksmStat, `${pid} ${chromiumProcessType(pid)}`).toMatch(/^ksm_merge_any:? +yes$/m);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(TABS + 1);
    });

    it('freezes every process, reads its memory, thaws', () => {
      const s = session!;
      s.freeze();
      const rows: {
        pid: number;
        type: string;
        pssAnon: number | undefined;
        anon: number | undefined;
        rss: number | undefined;
        ksm: number | undefined;
        vmas: number;
      }[] = [];
      let states: (string | undefined)[];
      try {
        const pids = s.pids();
        states = pids.map(procState);
        for (const pid of pids) {
          const rollup = readText(`/proc/${pid}/smaps_rollup`);
          const maps = readText(`/proc/${pid}/maps`) ?? '';
          rows.push({
            pid,
            type: chromiumProcessType(pid),
            pssAnon: rollupKiB(rollup, 'Pss_Anon'),
            anon: rollupKiB(rollup, 'Anonymous'),
            rss: rollupKiB(rollup, 'Rss'),
            ksm: rollupKiB(rollup, 'KSM'),
            vmas: maps.split('\n').filter((l) => l !== '').length,
          });
        }
      } finally {
        s.thaw();
      }
      const ksmRun = readText('/sys/kernel/mm/ksm/run')?.trim() ?? '?';
      const ksmSharing = readText('/sys/kernel/mm/ksm/pages_sharing')?.trim() ?? '?';
      console.log(
        `frozen memory (MiB; KSM run=${ksmRun} pages_sharing=${ksmSharing}):\n` +
          rows
            .map(
              (r) =>
                `  ${String(r.pid).padStart(7)} ${r.type.padEnd(44)} Pss_Anon ${mib(r.pssAnon).padStart(6)}` +
                `  Anonymous ${mib(r.anon).padStart(6)}  Rss ${mib(r.rss).padStart(6)}` +
                `  KSM ${mib(r.ksm).padStart(5)}  VMAs ${String(r.vmas).padStart(5)}`,
            )
            .join('\n'),
      );

      expect(states.every((st) => st === 'T'), `states while frozen: ${states.join(',')}`).toBe(
        true,
      );
      const renderers = rows.filter((r) => r.type === 'renderer');
      expect(renderers).toHaveLength(TABS);
      for (const r of renderers) {
        expect(r.pssAnon).toBeGreaterThan(10 * 1024);
        expect(r.anon).toBeGreaterThan(30 * 1024);
        expect(r.vmas).toBeGreaterThan(500);
      }
      // Thawed: nothing is left stopped.
      for (const pid of s.pids()) expect(procState(pid), `${pid}`).not.toBe('T');
    });

    it('close() kills every process of the session and removes its temp folder', async () => {
      const s = session!;
      const pids = s.pids();
      const tempDir = s.tempDir;
      expect(pids.length).toBeGreaterThan(TABS);
      await s.close();
      session = undefined;

      expect(s.pids()).toEqual([]);
      for (const pid of pids) {
        const st = procState(pid);
        const cmd = readCmdline(pid);
        // Gone, a zombie not yet reaped, or the pid reused by an unrelated process.
        const alive = st !== undefined && st !== 'Z' && cmd.includes(tempDir);
        expect(alive, `${pid} ${st} ${cmd.slice(0, 80)}`).toBe(false);
      }
      // Nothing on the machine still refers to the session's folder.
      const stray = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => procState(Number(d)) !== 'Z' && readCmdline(Number(d)).includes(tempDir));
      expect(stray).toEqual([]);
      expect(existsSync(tempDir)).toBe(false);
    });

    it('without mergeAny, no process is KSM-mergeable (the flag comes from merge-exec)', async () => {
      const s = await launchChromium({ tabs: 1, mergeAny: false, settleMs: 0 });
      try {
        const stats = s.pids().map((pid) => readText(`/proc/${pid}/ksm_stat`) ?? '');
        expect(stats.length).toBeGreaterThan(1);
        for (const st of stats) expect(st).not.toMatch(/^ksm_merge_any:? +yes$/m);
      } finally {
        await s.close();
      }
    });
  },
);
