// --qemu and --group-by vm on real QEMU guests (TCG, paused, no OS): the generic loader puts
// pages of known content into each guest's RAM (shared by every guest, unique to one, zero-
// filled). Each guest is named as QEMU's options say (-name guest=..., a plain -name, -uuid);
// its RAM is told from QEMU's own memory; the zero-filled guest RAM a balloon could hand back
// is counted; and each guest alone, and each guest x guest cross figure, equal separate scans
// exactly (the guests are stopped while they are scanned, so QEMU's own threads change nothing).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Estimate } from '../../src/report/report.js';
import { qemuMissing, startLoaderGuest, stopAllLoaderGuests, type LoaderGuest } from '../support/qemu-loader.js';
import { pidArgs, scanJson } from '../support/samepage.js';
import { holdKsmLock } from '../support/ksm.js';

const PAGE = 4096;
const SHARED_PAGES = 64;
const UNIQUE_PAGES = 32;
const ZERO_PAGES = 32;
const UUID = '5a3e0b1c-1234-4000-8000-00000000c0de';
const missing = qemuMissing();

describe.skipIf(missing !== null)(`QEMU guests${missing === null ? '' : ` (skipped: ${missing})`}`, () => {
  let dir: string;
  const guests: LoaderGuest[] = [];
  const names = [`samepage-${process.pid}-a`, `samepage-${process.pid}-b`, UUID];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'samepage-qemu-'));
    // Shared: 64 distinct pages, the same in every guest. Unique: random per guest. Zeros.
    const shared = Buffer.alloc(SHARED_PAGES * PAGE);
    for (let i = 0; i < SHARED_PAGES; i++) shared.fill(`shared page ${i} `, i * PAGE, (i + 1) * PAGE);
    writeFileSync(join(dir, 'shared.bin'), shared);
    writeFileSync(join(dir, 'zeros.bin'), Buffer.alloc(ZERO_PAGES * PAGE));
    const blobs = (k: number) => {
      const unique = join(dir, `unique-${k}.bin`);
      writeFileSync(unique, randomBytes(UNIQUE_PAGES * PAGE));
      return [
        { file: join(dir, 'shared.bin'), addr: 0x100000 },
        { file: unique, addr: 0x400000 },
        { file: join(dir, 'zeros.bin'), addr: 0x800000 },
      ];
    };
    const residentBytes = (SHARED_PAGES + UNIQUE_PAGES + ZERO_PAGES) * PAGE;
    guests.push(await startLoaderGuest({ name: `guest=${names[0]},debug-threads=on`, memMiB: 64, blobs: blobs(0), residentBytes }));
    guests.push(await startLoaderGuest({ name: names[1], memMiB: 64, blobs: blobs(1), residentBytes }));
    guests.push(await startLoaderGuest({ uuid: UUID, memMiB: 64, blobs: blobs(2), residentBytes }));
    // Stopped, QEMU's own threads (RCU, timers) cannot change a page between two scans.
    for (const g of guests) process.kill(g.pid, 'SIGSTOP');
  });

  afterAll(async () => {
    await Promise.all(guests.map((g) => g.stop()));
    stopAllLoaderGuests();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--qemu selects the guests and groups them by VM: names, guest RAM apart from QEMU, zero-filled RAM', async () => {
    const { report } = await scanJson(['--qemu']);
    expect(report.groupBy).toBe('vm');
    for (const [i, name] of names.entries()) {
      const g = report.groups.find((r) => r.key === name);
      expect(g?.pids, name).toEqual([guests[i]?.pid]);
      expect(g?.vm?.nameFrom).toBe(i < 2 ? 'name' : 'uuid');
      expect(g?.vm?.ramBytes).toBe(64 << 20);
      // The RAM block (at least the 64 MiB asked for) is mapped; what the loader wrote is resident in it.
      expect(g?.vm?.guestRamMappedBytes).toBeGreaterThanOrEqual(64 << 20);
      expect(g?.vm?.guestRamResidentBytes).toBeGreaterThanOrEqual((SHARED_PAGES + UNIQUE_PAGES + ZERO_PAGES) * PAGE);
      expect(g?.vm?.zeroFilledGuestRamBytes).toBeGreaterThanOrEqual(ZERO_PAGES * PAGE);
      expect(g?.vm?.qemuOwnResidentBytes).toBeGreaterThan(0);
    }
  });

  it('each guest alone and each guest x guest cross figure equal separate scans, exactly', async () => {
    // Guest RAM is mergeable: no other test's KSM session may merge it between two scans.
    const release = await holdKsmLock();
    try {
      await compareWithSeparateScans();
    } finally {
      await release();
    }
  });

  async function compareWithSeparateScans(): Promise<void> {
    const pids = guests.map((g) => g.pid);
    const { report } = await scanJson(['--group-by', 'vm', ...pidArgs(pids)]);
    const alone = new Map<number, Estimate>();
    for (const [i, name] of names.entries()) {
      const apart = (await scanJson(pidArgs([pids[i] as number]))).report.estimate;
      alone.set(i, apart);
      expect(report.groups.find((g) => g.key === name)?.alone, name).toEqual(apart);
    }
    for (let i = 0; i < 3; i++) {
      for (let j = i + 1; j < 3; j++) {
        const together = (await scanJson(pidArgs([pids[i] as number, pids[j] as number]))).report.estimate;
        const expected = together.ramFreedBytes - (alone.get(i) as Estimate).ramFreedBytes - (alone.get(j) as Estimate).ramFreedBytes;
        const pair = report.groupPairs.find((p) => [p.a, p.b].sort().join() === [names[i], names[j]].sort().join());
        expect(pair?.crossRamFreedBytes, `${names[i]} x ${names[j]}`).toBe(expected);
        // At least the 64 shared pages, one copy of each freed per pair.
        expect(expected).toBeGreaterThanOrEqual(SHARED_PAGES * PAGE);
      }
    }
  }
});
