// ELF core dumps of real processes as a memory source: cores of processes of known content
// (gdb's gcore, the kernel's own through core_pattern, zstd-compressed as systemd-coredump stores
// them, a QEMU guest's RAM) read page by page and compared with a live scan of the same process.
// The format's details and bad input, on cores built byte by byte: test/unit/core.test.ts.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCore } from '../../src/core/core-source.js';
import { runScan, type ScanResult } from '../../src/scan/scan.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import type { PageHasher } from '../../src/hash/page-hasher.js';
import { chooseEngine } from '../../src/engine/choose-engine.js';
import { LiveSource } from '../../src/live/live-source.js';
import { readProcessInfo } from '../../src/live/process-info.js';
import { KIND_INDEX } from '../../src/source/mapping-kind.js';
import { PAGE_ANON, PAGE_NO_PHYS, createPageBatch, type MemorySource, type PageSink } from '../../src/source/memory-source.js';
import { SourceError } from '../../src/util/errors.js';
import { systemPageSize } from '../../src/util/system.js';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import { hashKey, hashOf, record, scanCore, zstd, type Page } from '../support/core-pages.js';
import { pagesOf } from '../fixtures/elf-core-builder.js';

const execFileAsync = promisify(execFile);
const ps = systemPageSize();
const tmp = mkdtempSync(join(tmpdir(), 'samepage-core-'));

afterAll(async () => {
  await stopAllFixtures();
  rmSync(tmp, { recursive: true, force: true });
});

const zeroHash = hashOf(Buffer.alloc(ps));

/** Count per content of the anonymous pages (PAGE_ANON), zero pages left out. */
function anonContents(pages: Map<number, Page>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of pages.values()) {
    if ((p.flags & PAGE_ANON) === 0 || p.hash === zeroHash) continue;
    counts.set(p.hash, (counts.get(p.hash) ?? 0) + 1);
  }
  return counts;
}

function duplicated(counts: Map<string, number>): Map<string, number> {
  return new Map([...counts].filter(([, n]) => n >= 2));
}

function liveSource(pid: number): MemorySource {
  const info = readProcessInfo(pid);
  if (info === null) throw new Error(`pid ${pid} is gone`);
  return new LiveSource(info, ps, true, null);
}

async function gcore(pid: number, prefix: string): Promise<string> {
  await execFileAsync('gcore', ['-o', prefix, String(pid)]);
  return `${prefix}.${pid}`;
}

/** A hasher that also counts every content hashed: what the pipeline saw, as a multiset. */
function countingHasher(): { hasher: PageHasher; counts: Map<string, number> } {
  const counts = new Map<string, number>();
  const inner = chooseEngine().hasher;
  return {
    counts,
    hasher: {
      hashPages(data, count, pageSize, hi, lo, out) {
        inner.hashPages(data, count, pageSize, hi, lo, out);
        for (let i = 0; i < count; i++) {
          const k = hashKey(hi[out + i] as number, lo[out + i] as number);
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
      },
    },
  };
}

const sum = (a: Float64Array): number => a.reduce((s, x) => s + x, 0);

/** Pages identical to another page, zero-filled ones left out (those a core cannot judge). */
function nonZeroDuplicates(r: ScanResult): number {
  const zero = sum(r.model.content.byKind.zero);
  return sum(r.model.content.byKind.dupWithin) - Math.max(0, zero - 1);
}

describe('a gcore core of a process of known content', () => {
  const ops = ['anon:200:seq=1', 'anon:100:byte=7', 'anon:50:zero', 'anon:40:uniq'];
  let pid = 0;
  let core = '';
  let live = new Map<number, Page>();
  let fromCore = new Map<number, Page>();
  const liveCount = countingHasher();
  let liveScan: ScanResult | null = null;

  beforeAll(async () => {
    const fill = await startPagefill(ops);
    pid = fill.pid;
    // pagefill pauses once its pages are written: the live scans and the core see one state
    // (gdb's attach and detach may touch the stack, so the live scans come first).
    live = record(liveSource(pid));
    liveScan = runScan([{ label: `pid ${pid}`, pid, named: true, open: () => liveSource(pid) }], { pageSize: ps, settings: DEFAULT_KSM_SETTINGS, hasher: liveCount.hasher });
    core = await gcore(pid, join(tmp, 'gcore'));
    fromCore = record(openCore(core, ps));
  });

  it('holds every anonymous page of the live process, at the same address with the same content', () => {
    const source = openCore(core, ps);
    expect(source.info).toMatchObject({ pid, ppid: null, command: 'pagefill', chromiumType: null });
    expect(source.info.cmdline).toMatch(/pagefill/);
    expect(source.dumpKind).toBe('process');
    expect(source.hasPhysicalInfo).toBe(false);
    expect(source.label).toBe(core);
    source.close();

    let compared = 0;
    const differ: string[] = [];
    for (const [vaddr, p] of live) {
      if ((p.flags & PAGE_ANON) === 0) continue;
      const c = fromCore.get(vaddr);
      if (c === undefined) {
        differ.push(`${vaddr.toString(16)} missing`);
        continue;
      }
      compared++;
      if (c.hash !== p.hash) differ.push(`${vaddr.toString(16)} (${p.path || 'anonymous'})`);
      expect(c.flags & PAGE_NO_PHYS).toBe(PAGE_NO_PHYS);
    }
    // 390 pages written by pagefill, plus heap, stack, libc's data...
    expect(compared).toBeGreaterThanOrEqual(390);
    expect(differ).toEqual([]);
  });

  it('sees the same duplicate contents as the live scan, bar zero-filled pages', () => {
    // A core cannot tell a page never touched (or mapping the zero page) from a page of
    // zeros: in the core every zero-filled page is "the zero page" and none is merged, while
    // the live scan merges the 50 zero-filled pages pagefill wrote. Zero content is left out.
    const liveDup = duplicated(anonContents(live));
    const coreDup = duplicated(anonContents(fromCore));
    expect(coreDup).toEqual(liveDup);
    expect(coreDup.get(hashOf(Buffer.alloc(ps, 7)))).toBe(100);

    if (liveScan === null) throw new Error('no live scan');
    const coreCount = countingHasher();
    const coreScan = scanCore(core, ps, coreCount.hasher);
    expect(coreScan.skipped).toEqual([]);
    expect(coreScan.warnings).toEqual([]);
    expect(coreScan.sources).toHaveLength(1);
    expect(coreScan.sources[0]?.hasPhysicalInfo).toBe(false);

    // The pagefill's contents, as seen through the whole pipeline: the same counts.
    const written = [...anonContents(live).keys()];
    for (const h of written) expect(coreCount.counts.get(h), `content ${h}`).toBe(liveCount.counts.get(h));
    // The same number of non-zero duplicates (live: heap, stack and anonymous; core: anonymous).
    // (Shares of a page are fractions: equal up to their last bits.)
    expect(nonZeroDuplicates(coreScan)).toBeCloseTo(nonZeroDuplicates(liveScan), 6);
    const anon = KIND_INDEX.anon;
    expect(coreScan.model.content.byKind.dupWithin[anon]).toBeGreaterThanOrEqual(99 + 49);
    // KSM frees 99 of the 100 identical pages in both; the live scan also merges the 50
    // zero-filled pages (49 more), which the core takes for the zero page.
    const freed = (r: ScanResult): number => r.model.scopes[0]?.ramFreedPages ?? -1;
    expect(freed(coreScan)).toBe(99);
    expect(freed(liveScan)).toBeGreaterThanOrEqual(99 + 49);
    // Mergeable today is unknown in a core: nothing is counted there.
    expect(coreScan.model.scopes[1]?.ramFreedPages).toBe(0);
  });

  it('names file-backed regions from NT_FILE and flags them as the pipeline expects', () => {
    const source = openCore(core, ps);
    const regions = source.regions();
    source.close();
    const offsets = regions.map((r) => r.start);
    expect(regions.length).toBeGreaterThan(5);
    const libc = regions.filter((r) => /libc[.-]/.test(r.path));
    expect(libc.length).toBeGreaterThan(0);
    for (const r of libc) {
      if (r.perms[1] === 'w') expect(r).toMatchObject({ kind: 'file-private-copy', ksmCompatible: true });
      else expect(r).toMatchObject({ kind: 'file', ksmCompatible: false });
      expect(r.mergeableNow).toBeNull();
    }
    for (const r of regions.filter((r) => r.path === '')) expect(r).toMatchObject({ kind: 'anon', ksmCompatible: true, mergeableNow: null });
    expect(regions.find((r) => r.path === '[vdso]')).toMatchObject({ kind: 'special', ksmCompatible: false });
    // gcore keeps [vsyscall] (0xffffffffff600000), beyond what a JS number holds: skipped.
    expect(offsets.every((a) => a < 2 ** 53)).toBe(true);
    for (const p of fromCore.values()) {
      if (p.kind === 'file') expect(p.flags).toBe(PAGE_NO_PHYS);
      if (p.kind === 'anon' || p.kind === 'file-private-copy') expect(p.flags).toBe(PAGE_NO_PHYS | PAGE_ANON);
    }
  });

  it('gives exactly the same result compressed with zstd: one frame, many frames, level 19', async () => {
    const plain = scanCore(core);
    const one = join(tmp, 'gcore-one.zst');
    await zstd([core, '-o', one]);
    const strong = join(tmp, 'gcore-19.zst');
    await zstd(['-19', '--no-check', core, '-o', strong]);
    // Several frames, cut at places that are not page or block boundaries; the middle one
    // compressed from a pipe, so that its header does not give its content size.
    const data = readFileSync(core);
    const cuts = [0, 123457, Math.floor(data.length / 2) + 1001, data.length];
    const frames: Buffer[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const part = join(tmp, `part${i}`);
      writeFileSync(part, data.subarray(cuts[i], cuts[i + 1]));
      if (i === 1) {
        await new Promise<void>((resolve, reject) => {
          const z = spawn('sh', ['-c', `zstd -q -c < '${part}' > '${part}.zst'`]);
          z.once('error', reject);
          z.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
        });
      } else {
        await zstd([part, '-o', `${part}.zst`]);
      }
      frames.push(readFileSync(`${part}.zst`));
    }
    const multi = join(tmp, 'gcore-multi.zst');
    writeFileSync(multi, Buffer.concat(frames));

    for (const file of [one, strong, multi]) {
      expect(statSync(file).size).toBeLessThan(data.length);
      const source = openCore(file, ps);
      expect(source.format).toBe('zstd');
      expect(source.info).toEqual(openCore(core, ps).info);
      source.close();
      expect(record(openCore(file, ps))).toEqual(fromCore);
      const z = scanCore(file);
      expect(z.warnings).toEqual([]);
      expect(z.model).toEqual(plain.model);
      expect(z.sources.map((s) => [s.info, s.virtualPagesByKind, s.regions.map((r) => r.indexedPages)])).toEqual(
        plain.sources.map((s) => [s.info, s.virtualPagesByKind, s.regions.map((r) => r.indexedPages)]),
      );
    }
  });

  it('reads a compressed core forward only, and says so when asked to go back', async () => {
    const file = join(tmp, 'gcore-order.zst');
    await zstd([core, '-o', file]);
    const source = openCore(file, ps);
    const withData = source.regions().filter((r) => (r.residentPages ?? 0) > 0);
    const first = withData[0];
    const later = withData[withData.length - 1];
    if (first === undefined || later === undefined) throw new Error('no regions');
    const batch = createPageBatch(ps, 4096, 256);
    const sink: PageSink = { pages: () => undefined };
    source.scanRegion(later, sink, batch);
    expect(() => source.scanRegion(first, sink, batch)).toThrow(SourceError);
    expect(() => source.scanRegion(first, sink, batch)).toThrow(/forward only/);
    source.close();
  });
});

describe('a core written by the kernel (core_pattern)', () => {
  it('holds the same anonymous pages as the live process', async () => {
    const fill = await startPagefill(['anon:64:seq=3', 'anon:32:byte=9', 'untouched:16', 'anon:8:uniq']);
    const pid = fill.pid;
    const live = record(liveSource(pid));
    const dir = mkdtempSync(join(tmp, 'kernel-'));
    const patternFile = '/proc/sys/kernel/core_pattern';
    const old = readFileSync(patternFile, 'utf8');
    const file = join(dir, `core.${pid}`);
    try {
      writeFileSync(patternFile, join(dir, 'core.%p'));
      await execFileAsync('prlimit', ['--core=unlimited', '--pid', String(pid)]);
      process.kill(pid, 'SIGSEGV');
      // The kernel writes the whole core before the process becomes a zombie.
      const deadline = Date.now() + 20_000;
      while (!(gone(pid) && existsSync(file)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      writeFileSync(patternFile, old);
    }
    expect(readFileSync(patternFile, 'utf8')).toBe(old);
    expect(existsSync(file)).toBe(true);
    await fill.stop();

    const source = openCore(file, ps);
    expect(source.info).toMatchObject({ pid, command: 'pagefill' });
    expect(source.info.cmdline).toContain('anon:64:seq=3');
    // The kernel's NT_FILE gives the page size.
    expect(source.pageSize).toBe(ps);
    const regions = source.regions();
    source.close();
    expect(regions.find((r) => r.path === '[vdso]')?.kind).toBe('special');
    // Read-only file mappings are not dumped (coredump_filter): no pages, but their size counts.
    expect(regions.some((r) => r.kind === 'file' && r.residentPages === 0 && r.end > r.start)).toBe(true);

    const fromCore = record(openCore(file, ps));
    let compared = 0;
    for (const [vaddr, p] of live) {
      if ((p.flags & PAGE_ANON) === 0) continue;
      expect(fromCore.get(vaddr)?.hash, `page ${vaddr.toString(16)}`).toBe(p.hash);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(104);
    expect(duplicated(anonContents(fromCore))).toEqual(duplicated(anonContents(live)));
    // The 16 untouched pages are holes in the core: they read back as zeros.
    const scan = scanCore(file);
    expect(scan.warnings).toEqual([]);
    expect(scan.model.scopes[0]?.ramFreedPages).toBe(31);
    expect(sum(scan.model.content.byKind.zero)).toBeGreaterThanOrEqual(16);
  });
});

function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

const hasQemu = ['/usr/bin/qemu-system-x86_64', '/usr/local/bin/qemu-system-x86_64'].some((p) => existsSync(p));

describe('a QEMU guest memory dump (dump-guest-memory)', () => {
  it.skipIf(!hasQemu)('is one source of guest-physical regions with the guest RAM content', async () => {
    // Guest RAM with known pages loaded at 2 MiB: 50 identical, 20 random, the 20 again.
    const blob = Buffer.concat([pagesOf(ps, Array<number>(50).fill(7)), randomPages(20)]);
    const content = Buffer.concat([blob, blob.subarray(50 * ps)]);
    const blobFile = join(tmp, 'guest.bin');
    writeFileSync(blobFile, content);
    const sock = join(tmp, 'qmp.sock');
    const dump = join(tmp, 'guest.core');
    const qemu = spawn(
      'qemu-system-x86_64',
      ['-machine', 'q35,accel=tcg', '-m', '32', '-nographic', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${sock},server=on,wait=off`,
        '-device', `loader,file=${blobFile},addr=0x200000,force-raw=on`],
      { stdio: 'ignore' },
    );
    try {
      await qmp(sock, [{ execute: 'qmp_capabilities' }, { execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${dump}` } }]);
    } finally {
      qemu.kill('SIGKILL');
    }
    const source = openCore(dump, ps);
    expect(source.dumpKind).toBe('machine');
    expect(source.label).toBe(dump);
    expect(source.info).toMatchObject({ pid: 0, command: 'guest.core', chromiumType: null });
    const regions = source.regions();
    source.close();
    expect(regions.every((r) => r.kind === 'anon' && r.path === '')).toBe(true);
    // Guest-physical addresses: RAM from 0, and the BIOS just below 4 GiB.
    expect(regions.some((r) => r.start <= 0x200000 && r.end >= 0x200000 + content.length)).toBe(true);
    expect(regions.some((r) => r.end === 2 ** 32)).toBe(true);

    const pages = record(openCore(dump, ps));
    for (let i = 0; i < content.length / ps; i++) {
      expect(pages.get(0x200000 + i * ps)?.hash).toBe(hashOf(content.subarray(i * ps, (i + 1) * ps)));
    }
    const scan = scanCore(dump);
    expect(scan.warnings).toEqual([]);
    // 49 of the 50 identical pages, the 20 repeated ones, and whatever the firmware repeats.
    expect(scan.model.scopes[0]?.ramFreedPages).toBeGreaterThanOrEqual(69);
  });
});

function randomPages(n: number): Buffer {
  const b = Buffer.alloc(n * ps);
  let x = 0x9e3779b9;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Sends QMP commands one after another over a unix socket; resolves after the last answer. */
function qmp(sock: string, commands: object[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const attempt = (): void => {
      const conn = createConnection(sock);
      let buffered = '';
      let next = 0;
      conn.setEncoding('utf8');
      conn.once('error', (err) => {
        conn.destroy();
        if (Date.now() > deadline) reject(err);
        else setTimeout(attempt, 100);
      });
      conn.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buffered.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
          buffered = buffered.slice(nl + 1);
          if (msg.error) {
            conn.destroy();
            reject(new Error(`QMP: ${msg.error.desc}`));
            return;
          }
          if (msg.QMP !== undefined || msg.return !== undefined) {
            const cmd = commands[next++];
            if (cmd === undefined) {
              conn.destroy();
              resolve();
              return;
            }
            conn.write(`${JSON.stringify(cmd)}\n`);
          }
        }
      });
    };
    attempt();
  });
}
