// Thousands of broken cores, each opened and scanned through the whole pipeline: the only
// outcomes allowed are a result or a UserError/SourceError: no other exception, no hang, no
// huge allocation. Mutations come from a fixed-seed generator (test/support/core-fuzz.ts),
// applied here to cores built byte by byte (the kernel's layout, and PN_XNUM), to their zstd
// stream, and to broken cores compressed whole; gdb's gcore of a real process is fuzzed in
// test/system/core-fuzz.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, it } from 'vitest';
import {
  builtSeeds,
  expectOnlyResultsOrUserErrors,
  expectSeedsScanCleanly,
  fuzzCompressedCores,
  fuzzPlain,
  fuzzZstdStream,
  newFigures,
  prng,
  zstdCompress,
  type Figures,
} from '../support/core-fuzz.js';

const tmp = mkdtempSync(join(tmpdir(), 'samepage-core-fuzz-'));

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const { kernelSeed, xnumSeed } = builtSeeds();

describe('mutated cores built byte by byte', () => {
  it('never crash, hang or allocate wildly: only results, UserError or SourceError', () => {
    const rand = prng(0x5a3e9a6e);
    const file = join(tmp, 'case.core');
    const began = performance.now();
    expectSeedsScanCleanly(file, [['kernel-style', kernelSeed], ['PN_XNUM', xnumSeed]]);
    const all: Array<[string, Figures]> = [
      ['kernel-style core (notes first)', fuzzPlain(file, kernelSeed, 1000, rand, 'kernel-style core')],
      ['PN_XNUM core (count in section header 0)', fuzzPlain(file, xnumSeed, 300, rand, 'PN_XNUM core')],
    ];
    // Compressed: broken zstd streams, and broken cores compressed whole.
    const zfile = join(tmp, 'case.core.zst');
    const fz = newFigures();
    fuzzZstdStream(zfile, zstdCompress(kernelSeed, 3), 500, rand, fz);
    fuzzCompressedCores(zfile, kernelSeed, 100, rand, 'kernel-style core', fz);
    all.push(['zstd', fz]);
    expectOnlyResultsOrUserErrors(all, began, 1900);
  });
});
