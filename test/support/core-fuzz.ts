// The core fuzzer: mutations of a seed core (byte flips, extreme field values, cuts, copied
// blocks) aimed at its structure, each case written to a file and scanned through the whole
// pipeline. The only outcomes allowed are a result or a UserError/SourceError: no other
// exception, no hang, no huge allocation. Seeds built byte by byte are fuzzed in
// test/unit/core-fuzz.test.ts, gdb's gcore of a real process in test/system/core-fuzz.test.ts.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { coreOpener } from '../../src/core/core-source.js';
import { runScan } from '../../src/scan/scan.js';
import { DEFAULT_KSM_SETTINGS } from '../../src/analysis/ksm-settings.js';
import { chooseEngine } from '../../src/engine/choose-engine.js';
import { SourceError, UserError } from '../../src/util/errors.js';
import { systemPageSize } from '../../src/util/system.js';
import { seededUint32 } from './rng.js';
import { auxv, buildCore, ntFile, pagesOf, prpsinfo, prstatus, PF_R, PF_W, PF_X, type SynthCore } from '../fixtures/elf-core-builder.js';

const ps = systemPageSize();

/** A case that takes longer than this is a hang. */
export const CASE_LIMIT_MS = 2000;
/** Peak RSS of the whole test process: far below what a size taken from a corrupt field would ask for. */
export const RSS_LIMIT = 1536 * 1048576;

/** A value in [0, 1), the same sequence on every run. */
export function prng(seed: number): () => number {
  const next = seededUint32(seed);
  return () => next() / 4294967296;
}

/** Where a core's structure is: the mutations aim there more than at page contents. */
export interface Structure {
  /** Byte ranges of the ELF header, program headers and notes. */
  ranges: Array<[number, number]>;
  /** Offsets of fields worth setting to extreme values, with their width in bytes. */
  fields: Array<[number, number]>;
}

export function structureOf(core: Buffer): Structure {
  const ranges: Array<[number, number]> = [[0, 64]];
  const fields: Array<[number, number]> = [[16, 2], [18, 2], [32, 8], [40, 8], [54, 2], [56, 2], [58, 2], [60, 2]];
  const phoff = Number(core.readBigUInt64LE(32));
  let phnum = core.readUInt16LE(56);
  if (phnum === 0xffff) {
    const shoff = Number(core.readBigUInt64LE(40));
    phnum = core.readUInt32LE(shoff + 44);
    ranges.push([shoff, shoff + 64]);
    fields.push([shoff + 44, 4]);
  }
  ranges.push([phoff, phoff + phnum * 56]);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * 56;
    fields.push([ph, 4], [ph + 4, 4], [ph + 8, 8], [ph + 16, 8], [ph + 24, 8], [ph + 32, 8], [ph + 40, 8], [ph + 48, 8]);
    if (core.readUInt32LE(ph) !== 4) continue;
    const off = Number(core.readBigUInt64LE(ph + 8));
    const size = Number(core.readBigUInt64LE(ph + 32));
    ranges.push([off, off + size]);
    for (let at = off; at + 12 <= off + size; ) {
      fields.push([at, 4], [at + 4, 4], [at + 8, 4]);
      const namesz = core.readUInt32LE(at);
      const descsz = core.readUInt32LE(at + 4);
      const type = core.readUInt32LE(at + 8);
      const desc = at + 12 + Math.ceil(namesz / 4) * 4;
      if (type === 0x46494c45) {
        // NT_FILE: count, page size, the first entries.
        fields.push([desc, 8], [desc + 8, 8]);
        for (let k = 0; k < 4; k++) fields.push([desc + 16 + k * 24, 8], [desc + 24 + k * 24, 8], [desc + 32 + k * 24, 8]);
      } else if (type === 3) {
        fields.push([desc + 24, 4]);
      } else if (type === 6) {
        for (let k = 0; k < 8; k++) fields.push([desc + k * 8, 8]);
      }
      at = desc + Math.ceil(descsz / 4) * 4;
    }
  }
  return { ranges, fields };
}

const EXTREMES: bigint[] = [0n, 1n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

export function mutate(seed: Buffer, s: Structure, rand: () => number): Buffer {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)] as T;
  let buf: Buffer = Buffer.from(seed);
  const inStructure = (): number => {
    const [a, b] = pick(s.ranges);
    return Math.max(0, Math.min(buf.length - 1, a + Math.floor(rand() * Math.max(1, b - a))));
  };
  const steps = 1 + Math.floor(rand() * 3);
  for (let step = 0; step < steps; step++) {
    const what = rand();
    if (what < 0.35) {
      // Byte flips, mostly in the headers and notes.
      const flips = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < flips && buf.length > 0; i++) {
        const at = rand() < 0.8 ? inStructure() : Math.floor(rand() * buf.length);
        if (at < buf.length) buf[at] = (buf[at] as number) ^ (1 << Math.floor(rand() * 8));
      }
    } else if (what < 0.75) {
      // A field set to an extreme value (or one near the file's size).
      const [at, width] = pick(s.fields);
      if (at + width > buf.length) continue;
      const choices = [...EXTREMES, BigInt(buf.length), BigInt(buf.length + 1), BigInt(Math.max(0, buf.length - 1)), BigInt(Math.floor(rand() * buf.length))];
      const mask = width >= 8 ? 2n ** 64n - 1n : (1n << BigInt(width * 8)) - 1n;
      let v = pick(choices) & mask;
      if (rand() < 0.2) v = BigInt(Math.floor(rand() * 2 ** 32)) & mask;
      if (width === 8) buf.writeBigUInt64LE(v, at);
      else buf.writeUIntLE(Number(v), at, width);
    } else if (what < 0.9) {
      // Truncation: in the structure, or anywhere.
      const at = rand() < 0.5 ? inStructure() : Math.floor(rand() * buf.length);
      buf = buf.subarray(0, at);
    } else {
      // A block copied over another place (repeated headers, notes where data was).
      if (buf.length < 2) continue;
      const len = 1 + Math.floor(rand() * 256);
      const from = inStructure();
      const to = rand() < 0.5 ? inStructure() : Math.floor(rand() * buf.length);
      buf.copy(buf, to, from, Math.min(buf.length, from + len));
    }
  }
  return buf;
}

export interface Figures {
  cases: number;
  ok: number;
  okWithWarnings: number;
  errors: Map<string, number>;
  crashes: string[];
  hangs: string[];
  slowestMs: number;
}

/** "core.123: segment 4: 8192 bytes at offset 12288 ..." -> "segment N: N bytes at offset N ...". */
function kindOf(message: string, file: string): string {
  return message.split(file).join('FILE').replace(/0x[0-9a-f]+/gi, 'N').replace(/\b[0-9a-f]{6,}\b/g, 'N').replace(/\d+/g, 'N').replace(/^FILE: /, '').slice(0, 90);
}

const hasher = chooseEngine().hasher;

export function runCase(file: string, data: Buffer, label: string, f: Figures): void {
  writeFileSync(file, data);
  f.cases++;
  const began = performance.now();
  try {
    const result = runScan([coreOpener(file, ps)], { pageSize: ps, settings: DEFAULT_KSM_SETTINGS, hasher });
    const skipped = result.skipped[0];
    if (skipped !== undefined) count(f.errors, `open: ${kindOf(skipped.reason, file)}`);
    else if (result.warnings.length > 0) {
      f.okWithWarnings++;
      for (const w of result.warnings) count(f.errors, `region: ${kindOf(w, file)}`);
    } else f.ok++;
  } catch (err) {
    if (err instanceof UserError || err instanceof SourceError) count(f.errors, `scan: ${kindOf(err.message, file)}`);
    else f.crashes.push(`${label}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  const ms = performance.now() - began;
  f.slowestMs = Math.max(f.slowestMs, ms);
  if (ms > CASE_LIMIT_MS) f.hangs.push(`${label}: ${ms.toFixed(0)} ms`);
}

function count(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export function report(name: string, f: Figures): string {
  const lines = [
    `${name}: ${f.cases} cases, ${f.ok} scanned cleanly, ${f.okWithWarnings} scanned with region warnings, ${f.crashes.length} crashes, ${f.hangs.length} hangs, slowest ${f.slowestMs.toFixed(0)} ms`,
    ...[...f.errors].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`),
  ];
  return lines.join('\n');
}

export function newFigures(): Figures {
  return { cases: 0, ok: 0, okWithWarnings: 0, errors: new Map(), crashes: [], hangs: [], slowestMs: 0 };
}

export function zstdCompress(data: Buffer, level = 1): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', `-${level}`], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Each seed scans cleanly before it is mutated. */
export function expectSeedsScanCleanly(file: string, seeds: ReadonlyArray<readonly [string, Buffer]>): void {
  for (const [name, seed] of seeds) {
    const f = newFigures();
    runCase(file, seed, `${name} seed`, f);
    expect(f.ok, `${name} seed: ${[...f.errors.keys()].join('; ')}`).toBe(1);
  }
}

/** `cases` mutations of `seed`, each scanned from `file`. */
export function fuzzPlain(file: string, seed: Buffer, cases: number, rand: () => number, name: string): Figures {
  const f = newFigures();
  const s = structureOf(seed);
  for (let i = 0; i < cases; i++) runCase(file, mutate(seed, s, rand), `${name} #${i}`, f);
  return f;
}

/** Broken zstd streams of a compressed core: flipped bits (mostly in the frame header), cuts, a second stream cut short. */
export function fuzzZstdStream(file: string, zseed: Buffer, cases: number, rand: () => number, f: Figures): void {
  for (let i = 0; i < cases; i++) {
    let z: Buffer = Buffer.from(zseed);
    const what = rand();
    if (what < 0.5) {
      for (let k = 0, n = 1 + Math.floor(rand() * 4); k < n; k++) {
        // The frame header and the first blocks are where the structure is.
        const at = rand() < 0.5 ? Math.floor(rand() * Math.min(64, z.length)) : Math.floor(rand() * z.length);
        z[at] = (z[at] as number) ^ (1 << Math.floor(rand() * 8));
      }
    } else if (what < 0.8) {
      z = z.subarray(0, Math.floor(rand() * z.length));
    } else {
      // Two streams back to back, the second cut.
      z = Buffer.concat([z, z.subarray(0, Math.floor(rand() * z.length))]);
    }
    runCase(file, z, `zstd stream #${i}`, f);
  }
}

/** Broken cores compressed whole: the zstd stream is sound, what it holds is not. */
export function fuzzCompressedCores(file: string, seed: Buffer, cases: number, rand: () => number, name: string, f: Figures): void {
  const s = structureOf(seed);
  for (let i = 0; i < cases; i++) runCase(file, zstdCompress(mutate(seed, s, rand)), `compressed ${name} #${i}`, f);
}

/** Logs the figures, then: no crash, no hang, no wild allocation, and at least `minimumCases` cases. */
export function expectOnlyResultsOrUserErrors(all: ReadonlyArray<readonly [string, Figures]>, began: number, minimumCases: number): void {
  const elapsed = performance.now() - began;
  const peak = process.resourceUsage().maxRSS * 1024;
  const total = all.reduce((n, [, f]) => n + f.cases, 0);
  const crashes = all.flatMap(([, f]) => f.crashes);
  const hangs = all.flatMap(([, f]) => f.hangs);
  console.log(
    [
      `core fuzz: ${total} cases in ${(elapsed / 1000).toFixed(1)} s, crashes ${crashes.length}, hangs ${hangs.length} (over ${CASE_LIMIT_MS} ms), peak RSS ${Math.round(peak / 1048576)} MiB`,
      ...all.map(([name, f]) => report(name, f)),
    ].join('\n'),
  );
  expect(crashes.slice(0, 5)).toEqual([]);
  expect(hangs).toEqual([]);
  expect(peak).toBeLessThan(RSS_LIMIT);
  expect(total).toBeGreaterThanOrEqual(minimumCases);
}

/** Seeds built byte by byte: a kernel-style core (notes first), and the same with PN_XNUM. */
export function builtSeeds(): { kernelSeed: Buffer; xnumSeed: Buffer } {
  const spec: SynthCore = {
    notes: [
      prstatus(99),
      prpsinfo(99, 'seed', 'seed --a'),
      ntFile(ps, [
        { start: 0x500000, end: 0x500000 + 2 * ps, fileOfs: 0, name: '/usr/lib/libseed.so' },
        { start: 0x600000, end: 0x600000 + ps, fileOfs: 2, name: '/usr/lib/libseed.so' },
      ]),
      auxv(0x7f0000),
    ],
    segments: [
      { vaddr: 0x400000, memsz: 6 * ps, data: pagesOf(ps, [1, 1, 2, 0]) },
      { vaddr: 0x500000, flags: PF_R | PF_X, data: pagesOf(ps, [1, 3]) },
      { vaddr: 0x600000, flags: PF_R | PF_W, data: pagesOf(ps, [1]) },
      { vaddr: 0x7f0000, flags: PF_R | PF_X, data: pagesOf(ps, [5]) },
    ],
  };
  const kernelSeed = buildCore(spec);
  // The program header count in section header 0 (PN_XNUM), as the kernel writes past 65534.
  const xnumSeed = buildCore({ ...spec, xnum: true, dataAlign: 1 });
  return { kernelSeed, xnumSeed };
}
