// The native model pass (native/ksm_model.c) against the JavaScript model, its reference, on
// indexes of every shape the model distinguishes: contents seen once and many times, frames
// shared by fork, pages without physical information, the kernel's zero page, zero-filled
// contents, more mappings than max_page_sharing, both scopes, and a kernel that says which
// frames are pinned or already KSM pages, given to the native pass as files shaped like
// /proc/kpagecount and /proc/kpageflags (which it reads itself) or as answers only JavaScript
// can give (which it hands back). (The kernel itself judges the model in
// estimate-vs-kernel.test.ts; this test keeps the two implementations the same.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { META_ANON, META_COMPATIBLE, META_EXCLUSIVE, META_HUGE, META_MERGEABLE_NOW, META_NO_PHYS, META_ZERO_PFN, PageIndex, packMeta } from '../../src/index/page-index.js';
import { runKsmModelInJs } from '../../src/analysis/js-model.js';
import type { ModelOptions } from '../../src/analysis/model-result.js';
import { ENGINES, REFERENCE_ENGINE } from '../support/engines.js';
import { KernelPhysicalPages, type PhysicalPages } from '../../src/physical/physical-pages.js';
import { PhysicalDomains } from '../../src/physical/physical-domains.js';
import { MAPPING_KINDS } from '../../src/source/mapping-kind.js';
import { seededUint32 } from '../support/rng.js';

const ZERO = { hi: 0x1234, lo: 0x5678 };

/** A made-up kernel: some frames mapped elsewhere too (pinned), some already KSM pages. */
const fakeKernel: PhysicalPages = {
  mapCount: (pfn) => 1 + (pfn % 5),
  isZeroPage: () => false,
  isKsmPage: (pfn) => pfn % 7 === 0,
  kernelFiles: () => null,
  close: () => {},
};

const KPF_KSM = 21;
const filesDir = mkdtempSync(join(tmpdir(), 'samepage-kpage-'));
afterAll(() => rmSync(filesDir, { recursive: true, force: true }));

/** fakeKernel's answers for frames [0, frames) as kpagecount- and kpageflags-shaped files. */
function writeKernelFiles(frames: number): { count: string; flags: string } {
  const count = new BigUint64Array(frames);
  const flags = new BigUint64Array(frames);
  for (let pfn = 0; pfn < frames; pfn++) {
    count[pfn] = BigInt(fakeKernel.mapCount(pfn));
    if (fakeKernel.isKsmPage(pfn)) flags[pfn] = 1n << BigInt(KPF_KSM);
  }
  const paths = { count: join(filesDir, 'kpagecount'), flags: join(filesDir, 'kpageflags') };
  writeFileSync(paths.count, count);
  writeFileSync(paths.flags, flags);
  return paths;
}

/** Three physical domains (the random index uses 0-2), each answered from the files or, where `fromJs` says, by JavaScript alone. */
function domainsOf(files: { count: string; flags: string }, fromJs: readonly number[]): { domains: PhysicalDomains; providers: PhysicalPages[] } {
  const domains = new PhysicalDomains();
  const providers: PhysicalPages[] = [];
  for (let d = 0; d < 3; d++) {
    const provider = fromJs.includes(d) ? { ...fakeKernel } : new KernelPhysicalPages(files.count, files.flags);
    providers.push(provider);
    domains.domainOf(provider);
  }
  return { domains, providers };
}

function randomIndex(seed: number, contents: number, processes: number): PageIndex {
  const next = seededUint32(seed);
  const index = new PageIndex(contents * 4);
  let pfn = 1000;
  const push = (hi: number, lo: number, meta: number, frame: number) => {
    index.reserve(1);
    const i = index.length++;
    index.hashHi[i] = hi;
    index.hashLo[i] = lo;
    index.pfnLo[i] = frame % 0x1_0000_0000;
    index.meta[i] = meta;
  };
  for (let c = 0; c < contents; c++) {
    const roll = next() % 1000;
    const zero = roll < 20;
    // Mostly alone; some a few times; a few more than max_page_sharing allows.
    const copies = roll < 600 ? 1 : roll < 980 ? 2 + (next() % 9) : 20 + (next() % 600);
    const hi = zero ? ZERO.hi : next();
    const lo = zero ? ZERO.lo : next();
    let frame = pfn++;
    // A third of the frames sit in huge pages (frame id / 512 names the huge page).
    let huge = frame % 3 === 0 ? META_HUGE : 0;
    for (let k = 0; k < copies; k++) {
      const shape = next() % 100;
      let flags = 0;
      if (next() % 10 !== 0) flags |= META_ANON;
      if (next() % 5 !== 0) flags |= META_COMPATIBLE;
      if (next() % 3 === 0) flags |= META_MERGEABLE_NOW;
      if (shape < 8) {
        // Another mapping of the previous frame (fork): not exclusive.
        push(hi, lo, packMeta(next() % processes, next() % MAPPING_KINDS.length, flags | huge, frame), frame);
      } else if (shape < 10) {
        // The previous frame again, yet marked exclusive (its mapcount changed between two
        // pagemap reads): the frame is met twice, so the kernel must still be asked.
        push(hi, lo, packMeta(next() % processes, next() % MAPPING_KINDS.length, flags | META_EXCLUSIVE | huge, frame), frame);
      } else if (shape < 12) {
        push(hi, lo, packMeta(next() % processes, next() % MAPPING_KINDS.length, flags | META_NO_PHYS, 0), 0);
      } else if (shape < 14) {
        push(hi, lo, packMeta(next() % processes, next() % MAPPING_KINDS.length, flags | META_ZERO_PFN, 7), 7);
      } else {
        frame = pfn++;
        huge = frame % 3 === 0 ? META_HUGE : 0;
        // A frame mapped once, or (rarely) one the kernel would call shared with nothing else seen.
        const exclusive = next() % 20 !== 0 ? META_EXCLUSIVE : 0;
        const domain = next() % 3;
        const id = domain * 0x1_0000_0000 + frame;
        push(hi, lo, packMeta(next() % processes, next() % MAPPING_KINDS.length, flags | exclusive | huge, id), id);
      }
    }
  }
  REFERENCE_ENGINE.sortIndex(index);
  return index;
}

describe.each(ENGINES)('the %s engine\'s KSM model', (_engineName, engine) => {
  const cases: Array<[string, Partial<ModelOptions>]> = [
    ['defaults', {}],
    ['use_zero_pages', { useZeroPages: true }],
    ['max_page_sharing 2', { maxPageSharing: 2 }],
    ['max_page_sharing 17', { maxPageSharing: 17 }],
    ['max_page_sharing 2^32 + 1', { maxPageSharing: 2 ** 32 + 1 }],
    ['no physical information', { physical: null }],
    ['use_zero_pages, no physical information', { useZeroPages: true, physical: null }],
    ['splits free zero-filled subpages', { thpSplit: 'zero-subpages-freed' }],
    ['splits free zero-filled subpages, use_zero_pages', { thpSplit: 'zero-subpages-freed', useZeroPages: true }],
    ['splits free zero-filled subpages, no physical information', { thpSplit: 'zero-subpages-freed', physical: null }],
  ];
  it.each(cases)('equals the JavaScript model: %s', (_name, over) => {
    for (const seed of [1, 2, 3]) {
      const processes = seed === 3 ? 1 : 12;
      const index = randomIndex(seed, 10_000, processes);
      const opts: ModelOptions = { processCount: processes, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: fakeKernel, ...over };
      const reference = runKsmModelInJs(index, opts);
      expect(reference.scopes[0]?.pagesSharing).toBeGreaterThan(0);
      expect(reference.scopes[0]?.hugePagesSplit).toBeGreaterThan(0);
      if (opts.thpSplit === 'zero-subpages-freed') expect(reference.scopes[0]?.zeroSubpagesFreedBySplit).toBeGreaterThan(0);
      expect(engine.runModel(index, opts)).toEqual(reference);
    }
  });

  // Past the highest frame the random index uses: reads beyond the files' end answer 0 / false.
  const files = writeKernelFiles(150_000);
  const fileCases: Array<[string, Partial<ModelOptions>]> = [
    ['defaults', {}],
    ['use_zero_pages', { useZeroPages: true }],
    ['max_page_sharing 2', { maxPageSharing: 2 }],
    ['splits free zero-filled subpages', { thpSplit: 'zero-subpages-freed' }],
  ];
  it.each(fileCases)('equals the JavaScript model with the kernel read from files: %s', (_name, over) => {
    for (const seed of [1, 2, 3]) {
      const processes = seed === 3 ? 1 : 12;
      const index = randomIndex(seed, 10_000, processes);
      for (const fromJs of [[], [1]]) {
        const { domains, providers } = domainsOf(files, fromJs);
        try {
          const opts: ModelOptions = { processCount: processes, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: domains, ...over };
          const reference = runKsmModelInJs(index, opts);
          expect(reference.scopes[0]?.pagesSharing).toBeGreaterThan(0);
          expect(engine.runModel(index, opts)).toEqual(reference);
        } finally {
          for (const p of providers) p.close();
        }
      }
    }
  });

  it('equals the JavaScript model on an empty index', () => {
    const opts: ModelOptions = { processCount: 0, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: null };
    expect(engine.runModel(new PageIndex(16), opts)).toEqual(runKsmModelInJs(new PageIndex(16), opts));
  });
});
