// ELF core dumps as a memory source, on small cores built byte by byte
// (test/fixtures/elf-core-builder.ts): the layouts the kernel, gdb and QEMU write, the format's
// details, and bad input. Cores of real processes are in test/system/core.test.ts.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coreOpener, openCore } from '../../src/core/core-source.js';
import { runScan } from '../../src/scan/scan.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import { KIND_INDEX } from '../../src/source/mapping-kind.js';
import { PAGE_ANON, PAGE_NO_PHYS } from '../../src/source/memory-source.js';
import { UserError } from '../../src/util/errors.js';
import { systemPageSize } from '../../src/util/system.js';
import { buildFixture } from '../support/fixtures.js';
import { hashOf, record, scanCore, zstd } from '../support/core-pages.js';
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
} from '../fixtures/elf-core-builder.js';

const ps = systemPageSize();
const tmp = mkdtempSync(join(tmpdir(), 'samepage-core-'));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

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

  it('passes over zstd skippable frames (pzstd and the seekable format write them): the same pages as the plain core', async () => {
    const plainFile = write(buildCore(base()), 'skip.core');
    await zstd([plainFile, '-o', `${plainFile}.zst`]);
    const z = readFileSync(`${plainFile}.zst`);
    const skippable = (magic: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(magic, 0);
      head.writeUInt32LE(payload.length, 4);
      return Buffer.concat([head, payload]);
    };
    // The first and the last of the 16 skippable magics, before and after the core's frame.
    const file = write(Buffer.concat([skippable(0x184d2a50, Buffer.from('pzstd')), z, skippable(0x184d2a5f, Buffer.alloc(100, 1))]), 'skip.core.zst');
    const source = openCore(file, ps);
    expect(source.format).toBe('zstd');
    source.close();
    expect(record(openCore(file, ps))).toEqual(record(openCore(plainFile, ps)));
    const cut = write(Buffer.concat([z, skippable(0x184d2a53, Buffer.alloc(100)).subarray(0, 50)]), 'skip-cut.core.zst');
    expect(() => openCore(cut, ps)).toThrow(/skip-cut\.core\.zst: truncated zstd stream \(a skippable frame is cut short\)/);
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
      ['a gzip-compressed core', () => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(60)]), /gzip-compressed cores are not supported: decompress it first \(gzip -dk /],
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
