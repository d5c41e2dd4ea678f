// Thousands of broken cores, each opened and scanned through the whole pipeline: the only
// outcomes allowed are a result or a UserError/SourceError: no other exception, no hang, no
// huge allocation. Mutations come from a fixed-seed generator (test/support/core-fuzz.ts),
// applied here to a small real core (gdb's gcore of a pagefill) and to its zstd stream, and,
// at length, to the cores built byte by byte that test/unit/core-fuzz.test.ts fuzzes briefly.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startPagefill, stopAllFixtures } from '../support/fixtures.js';
import {
  builtSeeds,
  expectOnlyResultsOrUserErrors,
  fuzzCompressedCores,
  expectSeedsScanCleanly,
  fuzzPlain,
  fuzzZstdStream,
  newFigures,
  prng,
  zstdCompress,
  type Figures,
} from '../support/core-fuzz.js';

const execFileAsync = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'samepage-core-fuzz-'));

afterAll(async () => {
  await stopAllFixtures();
  rmSync(tmp, { recursive: true, force: true });
});

describe('mutated cores of a real process', () => {
  let gcoreSeed: Buffer = Buffer.alloc(0);

  beforeAll(async () => {
    const fill = await startPagefill(['anon:16:seq=5', 'anon:8:byte=3', 'anon:4:zero']);
    // Anonymous private memory only (coredump_filter bit 0): a small core, quick to mutate.
    writeFileSync(`/proc/${fill.pid}/coredump_filter`, '0x1');
    await execFileAsync('gcore', ['-o', join(tmp, 'seed'), String(fill.pid)]);
    await fill.stop();
    gcoreSeed = readFileSync(join(tmp, `seed.${fill.pid}`));
  });

  it('never crash, hang or allocate wildly: only results, UserError or SourceError', () => {
    const rand = prng(0x5a3e9a6e);
    const file = join(tmp, 'case.core');
    const began = performance.now();
    expectSeedsScanCleanly(file, [['gcore', gcoreSeed]]);
    const all: Array<[string, Figures]> = [['gcore core (notes after the data)', fuzzPlain(file, gcoreSeed, 4500, rand, 'gcore core')]];
    // Broken zstd streams of the compressed core.
    const fz = newFigures();
    fuzzZstdStream(join(tmp, 'case.core.zst'), zstdCompress(gcoreSeed, 3), 1500, rand, fz);
    all.push(['zstd', fz]);
    expectOnlyResultsOrUserErrors(all, began, 6000);
  });
});

describe('mutated cores built byte by byte, at length', () => {
  it('never crash, hang or allocate wildly (other cases than test/unit/core-fuzz.test.ts tries)', () => {
    const { kernelSeed, xnumSeed } = builtSeeds();
    const rand = prng(0x0c0ffee5);
    const file = join(tmp, 'built.core');
    const began = performance.now();
    const all: Array<[string, Figures]> = [
      ['kernel-style core (notes first)', fuzzPlain(file, kernelSeed, 2500, rand, 'kernel-style core')],
      ['PN_XNUM core (count in section header 0)', fuzzPlain(file, xnumSeed, 700, rand, 'PN_XNUM core')],
    ];
    const zfile = join(tmp, 'built.core.zst');
    const fz = newFigures();
    fuzzZstdStream(zfile, zstdCompress(kernelSeed, 3), 1000, rand, fz);
    fuzzCompressedCores(zfile, kernelSeed, 200, rand, 'kernel-style core', fz);
    all.push(['zstd', fz]);
    expectOnlyResultsOrUserErrors(all, began, 4400);
  });
});
