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
import type { ModelOptions, ScopeResult } from '../../src/analysis/model-result.js';
import { ENGINES, REFERENCE_ENGINE } from '../support/engines.js';
import { KernelPhysicalPages, type PhysicalPages } from '../../src/physical/physical-pages.js';
import { PhysicalDomains } from '../../src/physical/physical-domains.js';
import { MAPPING_KINDS } from '../../src/source/mapping-kind.js';
import { seededUint32 } from '../support/rng.js';
import { expectSameModel } from '../support/same-model.js';

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
      expectSameModel(engine.runModel(index, opts), reference);
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
          expectSameModel(engine.runModel(index, opts), reference);
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

/** An index of the given pages, sorted as a scan sorts it. */
function indexOf(pages: ReadonlyArray<{ content: number; process: number; kind: number; flags: number; pfn: number }>): PageIndex {
  const index = new PageIndex(pages.length + 1);
  for (const p of pages) {
    const i = index.length++;
    index.hashHi[i] = 0x7000_0000 + p.content;
    index.hashLo[i] = p.content;
    index.pfnLo[i] = p.pfn;
    index.meta[i] = packMeta(p.process, p.kind, p.flags, p.pfn);
  }
  REFERENCE_ENGINE.sortIndex(index);
  return index;
}

const ANON_KIND = MAPPING_KINDS.indexOf('anon');
const FILE_KIND = MAPPING_KINDS.indexOf('file');
const ELIGIBLE = META_ANON | META_COMPATIBLE | META_EXCLUSIVE;

describe.each(ENGINES)('the %s engine\'s attribution', (_engineName, engine) => {
  const opts = (processCount: number): ModelOptions => ({ processCount, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: null });

  it('gives three identical processes identical figures, whatever the order of their frames', () => {
    // 100 contents in each of three processes, each page its own frame; the frames of one
    // content come in a different process order from one content to the next, as a real
    // allocator's would, so that "whichever comes first" would favour no one evenly.
    const pages = [];
    const next = seededUint32(7);
    for (let c = 0; c < 100; c++) {
      const turn = next() % 3;
      for (let p = 0; p < 3; p++) pages.push({ content: c, process: p, kind: ANON_KIND, flags: ELIGIBLE, pfn: 5000 + 3 * c + ((p + turn) % 3) });
    }
    // Process 1 holds content 0 twice more: duplicates within it.
    pages.push({ content: 0, process: 1, kind: ANON_KIND, flags: ELIGIBLE, pfn: 9001 }, { content: 0, process: 1, kind: ANON_KIND, flags: ELIGIBLE, pfn: 9002 });
    const result = engine.runModel(indexOf(pages), opts(3));
    const all = result.scopes[0] as ScopeResult;
    const across = Array.from(result.content.byProcess.dupAcross);
    const freed = Array.from(all.perProcess.ramFreedPages);
    // Totals: 100 contents in 3 processes (+2 copies): 202 duplicates; KSM keeps one frame of each.
    expect(all.ramFreedPages).toBe(202);
    expect(sum(freed)).toBeCloseTo(202, 9);
    expect(sum(across) + sum(Array.from(result.content.byProcess.dupWithin))).toBeCloseTo(202, 9);
    expect(Array.from(result.content.byProcess.dupWithin)).toEqual([0, 2, 0]);
    // Each process holds each content at least once: the 200 across are split three ways.
    expect(across[0]).toBeCloseTo(200 / 3, 9);
    expect(across[1]).toBe(across[0]);
    expect(across[2]).toBe(across[0]);
    // Content 0: its 5 frames less the KSM page, split among its 5 mappings, 3 of them process 1's.
    expect(freed[0]).toBe(freed[2]);
    expect(freed[0]).toBeCloseTo(99 * (2 / 3) + 4 / 5, 9);
    expect(freed[1]).toBeCloseTo(99 * (2 / 3) + (3 * 4) / 5, 9);
    expect(sum(Array.from(all.ramFreedByKind))).toBeCloseTo(202, 9);
  });

  it('counts a frame mapped by several processes (fork) as already shared, not as a duplicate', () => {
    // Content 1: one frame mapped by processes 0 and 1 (fork). Content 2: a file page mapped
    // by all three, and process 2's own copy in another frame.
    const shared = META_ANON | META_COMPATIBLE;
    const pages = [
      { content: 1, process: 0, kind: ANON_KIND, flags: shared, pfn: 700 },
      { content: 1, process: 1, kind: ANON_KIND, flags: shared, pfn: 700 },
      { content: 2, process: 0, kind: FILE_KIND, flags: 0, pfn: 800 },
      { content: 2, process: 1, kind: FILE_KIND, flags: 0, pfn: 800 },
      { content: 2, process: 2, kind: FILE_KIND, flags: 0, pfn: 800 },
      { content: 2, process: 2, kind: ANON_KIND, flags: ELIGIBLE, pfn: 801 },
    ];
    const result = engine.runModel(indexOf(pages), opts(3));
    const { byProcess, byKind } = result.content;
    // Content 1: one frame, no duplicate; each mapping half of the frame, half already shared.
    // Content 2: two frames, one duplicate, across processes: process 2 holds one whole frame
    // (a third of the file page and its own copy), the others a third each.
    expect(byProcess.dupWithin[0]).toBe(0);
    expect(byProcess.dupWithin[1]).toBe(0);
    expect(byProcess.dupWithin[2]).toBeCloseTo(1 / 3, 9);
    expect(sum(Array.from(byProcess.dupAcross))).toBeCloseTo(2 / 3, 9);
    expect(byProcess.dupAcross[0]).toBeCloseTo((2 / 3) * (1 / 3) / (5 / 3), 9);
    expect(byProcess.dupAcross[1]).toBe(byProcess.dupAcross[0]);
    expect(Array.from(byProcess.alreadyShared).map((x) => Math.round(x * 1e9) / 1e9)).toEqual([0.5 + 2 / 3, 0.5 + 2 / 3, 2 / 3].map((x) => Math.round(x * 1e9) / 1e9));
    expect(byKind.alreadyShared[ANON_KIND]).toBe(1);
    expect(byKind.alreadyShared[FILE_KIND]).toBe(2);
    expect(sum(Array.from(byKind.dupWithin)) + sum(Array.from(byKind.dupAcross))).toBeCloseTo(1, 9);
    // KSM never merges a page with itself: the fork-shared frame frees nothing.
    expect(result.scopes[0]?.ramFreedPages).toBe(0);
  });

  it('without frame numbers counts every mapping as its own frame: nothing already shared', () => {
    const noPhys = META_ANON | META_COMPATIBLE | META_NO_PHYS;
    const pages = [0, 1, 2].map((process) => ({ content: 1, process, kind: ANON_KIND, flags: noPhys, pfn: 0 }));
    const result = engine.runModel(indexOf(pages), opts(3));
    expect(sum(Array.from(result.content.byProcess.alreadyShared))).toBe(0);
    expect(sum(Array.from(result.content.byProcess.dupAcross))).toBeCloseTo(2, 9);
    expect(result.content.byProcess.dupAcross[0]).toBe(result.content.byProcess.dupAcross[2]);
  });
});

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
