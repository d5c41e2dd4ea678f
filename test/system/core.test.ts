// ELF core dumps as a memory source: cores of real processes of known content (gdb's gcore, the
// kernel's own through core_pattern, zstd-compressed as systemd-coredump stores them, a QEMU
// guest's RAM) read page by page and compared with a live scan of the same process; then the
// format's details and bad input on small cores built byte by byte.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreOpener, openCore } from '../src/core/core-source.js';
import { runScan, type ScanResult } from '../src/scan/scan.js';
import { DEFAULT_KSM_SETTINGS } from '../src/analysis/ksm-settings.js';
import type { PageHasher } from '../src/hash/page-hasher.js';
import { chooseEngine } from '../src/engine/choose-engine.js';
import { LiveSource } from '../src/live/live-source.js';
import { readProcessInfo } from '../src/live/process-info.js';
import { KIND_INDEX, type MappingKind } from '../src/source/mapping-kind.js';
import { PAGE_ANON, PAGE_NO_PHYS, createPageBatch, type MemorySource, type PageSink } from '../src/source/memory-source.js';
import { SourceError, UserError } from '../src/util/errors.js';
import { systemPageSize } from '../src/util/system.js';
import { buildFixture, startPagefill, stopAllFixtures } from './support/fixtures.js';
import {
  EM_AARCH64,
  PF_R,
  PF_W,
  PF_X,
  auxv,
  buildCore,
  ntFile,
  pagesOf,
  prpsinfo,
  prstatus,
  writeU64,
  type SynthCore,
} from './fixtures/elf-core-builder.js';

const execFileAsync = promisify(execFile);
const ps = systemPageSize();
const tmp = mkdtempSync(join(tmpdir(), 'samepage-core-'));

afterAll(async () => {
  await stopAllFixtures();
  rmSync(tmp, { recursive: true, force: true });
});

interface Page {
  hash: string;
  flags: number;
  kind: MappingKind;
  path: string;
}

const hasher = chooseEngine().hasher;

/** Every page a source hands over, by address, hashed the way the pipeline hashes. */
function record(source: MemorySource, pageSize = ps): Map<number, Page> {
  const pages = new Map<number, Page>();
  const hi = new Uint32Array(4096);
  const lo = new Uint32Array(4096);
  const sink: PageSink = {
    pages(region, batch) {
      if (batch.hashed) {
        hi.set(batch.hashHi.subarray(0, batch.count));
        lo.set(batch.hashLo.subarray(0, batch.count));
      } else {
        hasher.hashPages(batch.data, batch.count, pageSize, hi, lo, 0);
      }
      for (let i = 0; i < batch.count; i++) {
        pages.set(batch.vaddr[i] as number, { hash: hashKey(hi[i] as number, lo[i] as number), flags: batch.flags[i] as number, kind: region.kind, path: region.path });
      }
    },
  };
  const batch = createPageBatch(pageSize, 4096, Math.max(1, Math.floor(1048576 / pageSize)));
  try {
    for (const region of source.regions()) source.scanRegion(region, sink, batch);
  } finally {
    source.close();
  }
  return pages;
}

function hashKey(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

function hashOf(page: Buffer): string {
  const hi = new Uint32Array(1);
  const lo = new Uint32Array(1);
  hasher.hashPages(page, 1, page.length, hi, lo, 0);
  return hashKey(hi[0] as number, lo[0] as number);
}

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

async function zstd(args: string[]): Promise<void> {
  await execFileAsync('zstd', ['-q', '-f', ...args]);
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

function scanCore(file: string, pageSize = ps, hasherOverride?: PageHasher): ScanResult {
  return runScan([coreOpener(file, pageSize)], { pageSize, settings: DEFAULT_KSM_SETTINGS, ...(hasherOverride ? { hasher: hasherOverride } : {}) });
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
    expect(nonZeroDuplicates(coreScan)).toBe(nonZeroDuplicates(liveScan));
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

describe('the core format, on cores built byte by byte', () => {
  let n = 0;
  const write = (buf: Buffer, name = `synth-${n++}.core`): string => {
    const file = join(tmp, name);
    writeFileSync(file, buf);
    return file;
  };
  const base = (over: Partial<SynthCore> = {}): SynthCore => ({
    notes: [
      prstatus(4321),
      prpsinfo(4321, 'chromium', '/usr/lib/chromium/chromium --type=renderer --lang=en'),
      ntFile(ps, [
        { start: 0x500000, end: 0x500000 + 2 * ps, fileOfs: 0, name: '/usr/lib/libfoo.so' },
        { start: 0x600000, end: 0x600000 + 2 * ps, fileOfs: 3, name: '/usr/lib/libfoo.so' },
        { start: 0x700000, end: 0x700000 + ps, fileOfs: 0, name: '/memfd:buf (deleted)' },
      ]),
      auxv(0x7f0000),
    ],
    segments: [
      { vaddr: 0x400000, memsz: 8 * ps, data: pagesOf(ps, [1, 1, 2, 0]) }, // 4 of 8 in the dump
      { vaddr: 0x500000, flags: PF_R | PF_X, data: pagesOf(ps, [1, 1]) },
      { vaddr: 0x600000, flags: PF_R | PF_W, data: pagesOf(ps, [1, 3]) },
      { vaddr: 0x700000, flags: PF_R | PF_W, data: pagesOf(ps, [1]) },
      { vaddr: 0x7f0000, flags: PF_R | PF_X, data: pagesOf(ps, [5]) },
      // Half a page beyond the last whole page: not handed over.
      { vaddr: 0x800000, memsz: 2 * ps, data: Buffer.concat([pagesOf(ps, [1]), Buffer.alloc(ps / 2, 9)]) },
    ],
    ...over,
  });

  it('reads a kernel-style core: regions, kinds, flags, process information', () => {
    const file = write(buildCore(base()));
    const source = openCore(file, ps);
    expect(source.info).toEqual({ pid: 4321, ppid: null, command: 'chromium', cmdline: '/usr/lib/chromium/chromium --type=renderer --lang=en', chromiumType: 'renderer' });
    const regions = source.regions();
    expect(regions.map((r) => [r.start, r.end, r.perms, r.kind, r.path, r.ksmCompatible, r.residentPages, r.offset])).toEqual([
      [0x400000, 0x400000 + 8 * ps, 'rw-p', 'anon', '', true, 4, 0],
      [0x500000, 0x500000 + 2 * ps, 'r-xp', 'file', '/usr/lib/libfoo.so', false, 2, 0],
      [0x600000, 0x600000 + 2 * ps, 'rw-p', 'file-private-copy', '/usr/lib/libfoo.so', true, 2, 3 * ps],
      [0x700000, 0x700000 + ps, 'rw-p', 'shmem', '/memfd:buf (deleted)', false, 1, 0],
      [0x7f0000, 0x7f0000 + ps, 'r-xp', 'special', '[vdso]', false, 1, 0],
      [0x800000, 0x800000 + 2 * ps, 'rw-p', 'anon', '', true, 1, 0],
    ]);
    source.close();
    const pages = record(openCore(file, ps));
    expect([...pages.keys()]).toEqual([0x400000, 0x400000 + ps, 0x400000 + 2 * ps, 0x400000 + 3 * ps, 0x500000, 0x500000 + ps, 0x600000, 0x600000 + ps, 0x700000, 0x7f0000, 0x800000]);
    expect(pages.get(0x400000)?.flags).toBe(PAGE_ANON | PAGE_NO_PHYS);
    expect(pages.get(0x500000)?.flags).toBe(PAGE_NO_PHYS);
    expect(pages.get(0x600000)?.flags).toBe(PAGE_ANON | PAGE_NO_PHYS);
    expect(pages.get(0x700000)?.flags).toBe(PAGE_NO_PHYS);
    expect(pages.get(0x400000)?.hash).toBe(hashOf(pagesOf(ps, [1])));

    const scan = scanCore(file);
    const s = scan.sources[0];
    expect(s?.regions.map((r) => [r.virtualPages, r.indexedPages])).toEqual([[8, 4], [2, 2], [2, 2], [1, 1], [1, 1], [2, 1]]);
    // Content 1: three anonymous copies (0x400000 x2, 0x800000) and one private file copy
    // (0x600000) merge into one KSM page; the file page and shared memory do not take part.
    expect(scan.model.scopes[0]?.ramFreedPages).toBe(3);
  });

  it('reads a gcore-style core (notes after the data, byte-aligned, NT_FILE page size 1)', () => {
    const spec = base({ notesAfterData: true, dataAlign: 1 });
    spec.notes = [
      prpsinfo(77, 'app', 'app --flag'),
      ntFile(1, [{ start: 0x600000, end: 0x600000 + 2 * ps, fileOfs: 3 * ps, name: '/usr/lib/libfoo.so' }]),
    ];
    const file = write(buildCore(spec));
    const source = openCore(file, ps);
    expect(source.pageSize).toBe(ps);
    expect(source.info).toMatchObject({ pid: 77, command: 'app', cmdline: 'app --flag', chromiumType: null });
    expect(source.regions()[2]).toMatchObject({ kind: 'file-private-copy', offset: 3 * ps });
    source.close();
    expect(record(openCore(file, ps)).size).toBe(11);
  });

  it('takes the page size from NT_FILE (an aarch64 core with 16 KiB pages)', () => {
    const big = 16384;
    const file = write(
      buildCore({
        machine: EM_AARCH64,
        notes: [prpsinfo(9, 'a64', 'a64'), ntFile(big, [])],
        segments: [{ vaddr: 0x10000000, data: pagesOf(big, [4, 4, 4]) }],
        dataAlign: big,
      }),
    );
    const source = openCore(file, ps);
    expect(source.pageSize).toBe(big);
    source.close();
    // The scan's page size must be the core's.
    if (ps !== big) {
      const wrong = scanCore(file, ps);
      expect(wrong.sources).toEqual([]);
      expect(wrong.skipped[0]?.reason).toMatch(/written with 16384-byte pages, but the scan uses/);
    }
    const scan = scanCore(file, big);
    expect(scan.model.content.byKind.resident[KIND_INDEX.anon]).toBe(3);
    expect(scan.model.scopes[0]?.ramFreedPages).toBe(2);
  });

  it('reads more than 65534 segments through PN_XNUM', () => {
    const file = write(buildCore({ ...base(), xnum: true }));
    expect(openCore(file, ps).regions()).toHaveLength(6);
  });

  it('takes a core without NT_PRPSINFO and NT_FILE for a VM dump: guest-physical addresses', () => {
    const file = write(
      buildCore({
        notes: [prstatus(1)],
        segments: [
          { vaddr: 0, paddr: 0, data: pagesOf(ps, [0, 6]) },
          { vaddr: 0, paddr: 0x100000, flags: 0, data: pagesOf(ps, [6, 6]) },
        ],
        dataAlign: 1,
      }),
      'vm-dump.elf',
    );
    const source = openCore(file, ps);
    expect(source.dumpKind).toBe('machine');
    expect(source.info).toEqual({ pid: 0, ppid: null, command: 'vm-dump.elf', cmdline: '', chromiumType: null });
    expect(source.regions().map((r) => [r.start, r.end, r.kind, r.perms])).toEqual([
      [0, 2 * ps, 'anon', 'rw-p'],
      [0x100000, 0x100000 + 2 * ps, 'anon', '---p'],
    ]);
    source.close();
    expect(scanCore(file).model.scopes[0]?.ramFreedPages).toBe(2);
  });

  it('skips segments at kernel addresses ([vsyscall]) that no JS number holds', () => {
    const spec = base();
    spec.segments.push({ vaddr: 0, data: pagesOf(ps, [1]) });
    const buf = buildCore(spec);
    // The last program header: p_vaddr = 0xffffffffff600000.
    writeU64(buf, 64 + 56 * spec.segments.length + 16, 0xffffffffff600000n);
    const source = openCore(write(buf), ps);
    expect(source.regions()).toHaveLength(6);
    source.close();
  });

  describe('bad input: a UserError naming the file and the problem', () => {
    const good = (): Buffer => buildCore(base());
    const cases: Array<[string, () => Buffer, RegExp]> = [
      ['not an ELF file', () => Buffer.from('just some text, not a core\n'), /not an ELF file/],
      ['an empty file', () => Buffer.alloc(0), /not an ELF file \(it is empty\)/],
      ['a 32-bit ELF', () => patch(good(), (b) => (b[4] = 1)), /32-bit ELF file/],
      ['a big-endian ELF', () => patch(good(), (b) => (b[5] = 2)), /big-endian/],
      ['an ELF that is not a core', () => buildCore({ ...base(), type: 2 }), /not a core dump \(ELF type 2: executable\)/],
      ['an unsupported machine', () => buildCore({ ...base(), machine: 40 }), /unsupported machine 40/],
      ['truncated in the ELF header', () => good().subarray(0, 40), /truncated in the ELF header/],
      ['truncated in the program headers', () => good().subarray(0, 64 + 56 * 3 + 10), /truncated in the program headers/],
      ['truncated in the notes', () => good().subarray(0, 64 + 56 * 7 + 100), /note segment 0: .* past the end of the file/],
      ['truncated in a segment', () => good().subarray(0, good().length - ps), /segment 6: .* past the end of the file .*truncated/],
      ['a segment offset past the end', () => patch(good(), (b) => writeU64(b, 64 + 56 * 2 + 8, 2 ** 40)), /segment 2: .* at offset 1099511627776 run past the end of the file/],
      ['a note offset past the end', () => patch(good(), (b) => writeU64(b, 64 + 8, 2 ** 40)), /note segment 0: .* past the end of the file/],
      ['an absurd note size', () => patch(good(), (b) => b.writeUInt32LE(0xfffffff0, 64 + 56 * 7 + 4)), /note 0 .*contents run past the end of the note segment: absurd note size/],
      ['an absurd note name size', () => patch(good(), (b) => b.writeUInt32LE(0x7fffffff, 64 + 56 * 7)), /absurd name size/],
      ['an absurd NT_FILE count', () => patch(good(), (b) => writeU64(b, ntFileDesc(b), 2 ** 40)), /absurd NT_FILE count 1099511627776/],
      ['an absurd NT_FILE page size', () => patch(good(), (b) => writeU64(b, ntFileDesc(b) + 8, 12345)), /absurd NT_FILE page size 12345/],
      ['an absurd program header count', () => patch(buildCore({ ...base(), xnum: true }), (b) => b.writeUInt32LE(0xffffffff, b.length - 64 + 44)), /absurd program header count 4294967295/],
      ['a wrong program header size', () => patch(good(), (b) => b.writeUInt16LE(32, 54)), /program header size 32/],
      ['overlapping segments', () => patch(good(), (b) => writeU64(b, 64 + 56 * 2 + 8, b.readUInt32LE(64 + 56 * 1 + 8))), /overlap in the file/],
      ['a segment larger in the file than in memory', () => patch(good(), (b) => writeU64(b, 64 + 56 * 2 + 40, 1)), /bytes in the file but only 1 in memory/],
      ['an xz-compressed core', () => Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(64)]), /xz-compressed cores are not supported/],
      ['an lz4-compressed core', () => Buffer.from([0x04, 0x22, 0x4d, 0x18, 0, 0, 0, 0]), /lz4-compressed cores are not supported/],
    ];
    for (const [name, make, message] of cases) {
      it(name, () => {
        const file = write(make());
        let err: unknown;
        try {
          openCore(file, ps).close();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(UserError);
        expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
        expect((err as Error).message).toMatch(message);
      });
    }

    it('a real executable, a missing file, a directory', async () => {
      const exe = await buildFixture('pagefill');
      expect(() => openCore(exe, ps)).toThrow(/not a core dump \(ELF type 3: shared object or PIE executable\)/);
      expect(() => openCore(join(tmp, 'nope'), ps)).toThrow(/nope: cannot open: no such file/);
      expect(() => openCore(tmp, ps)).toThrow(/is a directory/);
    });

    it('truncated and corrupt zstd streams', async () => {
      const plainFile = write(good());
      const z = `${plainFile}.zst`;
      await zstd([plainFile, '-o', z]);
      const zdata = readFileSync(z);
      const cut = write(zdata.subarray(0, zdata.length - 100), 'cut.zst');
      expect(() => openCore(cut, ps)).toThrow(/cut.zst: truncated zstd stream/);
      // Content cut short before it was compressed (systemd-coredump truncates big cores), with
      // no content size in the frame: the reader finds out while reading the notes or pages.
      const short = write(good().subarray(0, 64 + 56 * 7 + 200), 'short.core');
      await new Promise<void>((resolve, reject) => {
        const p = spawn('sh', ['-c', `zstd -q -c < '${short}' > '${short}.zst'`]);
        p.once('error', reject);
        p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
      });
      expect(() => openCore(`${short}.zst`, ps)).toThrow(/short.core.zst: truncated in a note/);
      const scan = runScan([coreOpener(`${short}.zst`, ps)], { pageSize: ps, settings: DEFAULT_KSM_SETTINGS });
      expect(scan.skipped[0]?.reason).toMatch(/truncated in a note/);
    });

    it('a core cut short inside its pages, compressed without its size: the lost regions are warnings', async () => {
      const cutCore = write(good().subarray(0, good().length - 3 * ps), 'cut-pages.core');
      await new Promise<void>((resolve, reject) => {
        const p = spawn('sh', ['-c', `zstd -q -c < '${cutCore}' > '${cutCore}.zst'`]);
        p.once('error', reject);
        p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`zstd exited ${code}`))));
      });
      const scan = runScan([coreOpener(`${cutCore}.zst`, ps)], { pageSize: ps, settings: DEFAULT_KSM_SETTINGS });
      expect(scan.sources).toHaveLength(1);
      expect(scan.warnings.length).toBeGreaterThan(0);
      expect(scan.warnings[0]).toMatch(/the core ends inside segment \d+ .*truncated; region skipped/);
    });
  });
});

function patch(buf: Buffer, f: (b: Buffer) => void): Buffer {
  f(buf);
  return buf;
}

/** Offset of the NT_FILE descriptor in a core built by base(): the third note. */
function ntFileDesc(b: Buffer): number {
  let at = Number(b.readBigUInt64LE(64 + 8));
  for (;;) {
    const namesz = b.readUInt32LE(at);
    const descsz = b.readUInt32LE(at + 4);
    const type = b.readUInt32LE(at + 8);
    const desc = at + 12 + Math.ceil(namesz / 4) * 4;
    if (type === 0x46494c45) return desc;
    at = desc + Math.ceil(descsz / 4) * 4;
  }
}
