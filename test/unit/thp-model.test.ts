// Transparent huge pages in the model, by hand: which huge pages KSM splits, what a split frees
// (docs/estimate.md, "Transparent huge pages"), how the index learns which pages sit in huge
// pages, and which behaviour a kernel release selects. The real kernel judges the same in
// test/system/thp-estimate-vs-kernel.test.ts.
import { describe, expect, it } from 'vitest';
import { META_ANON, META_COMPATIBLE, META_EXCLUSIVE, META_HUGE, META_MERGEABLE_NOW, PageIndex, packMeta } from '../../src/index/page-index.js';
import { IndexWriter } from '../../src/index/index-writer.js';
import type { ModelOptions } from '../../src/analysis/model-result.js';
import { thpBehaviourOf } from '../../src/analysis/thp-behaviour.js';
import type { PhysicalPages } from '../../src/physical/physical-pages.js';
import { ENGINES, REFERENCE_ENGINE } from '../support/engines.js';
import { expectSameModel } from '../support/same-model.js';

const ZERO = { hi: 0x1234, lo: 0x5678 };
const ELIGIBLE = META_ANON | META_EXCLUSIVE | META_COMPATIBLE | META_MERGEABLE_NOW;

/**
 * Process 0: one huge page (frames 512-1023), a quarter each of contents process 1 holds too,
 * unique contents, zero-filled subpages, and one content repeated 128 times. Process 1: the
 * 128 shared contents and 10 zero-filled pages, in 4 KiB pages.
 */
function mixedIndex(): PageIndex {
  const index = new PageIndex(1024);
  const push = (hi: number, lo: number, process: number, frame: number, huge: boolean): void => {
    const i = index.length++;
    index.hashHi[i] = hi;
    index.hashLo[i] = lo;
    index.pfnLo[i] = frame;
    index.meta[i] = packMeta(process, 2, ELIGIBLE | (huge ? META_HUGE : 0), frame);
  };
  for (let i = 0; i < 512; i++) {
    const q = Math.floor(i / 128);
    if (q === 0) push(1, i, 0, 512 + i, true);
    else if (q === 1) push(2, i, 0, 512 + i, true);
    else if (q === 2) push(ZERO.hi, ZERO.lo, 0, 512 + i, true);
    else push(3, 0, 0, 512 + i, true);
  }
  for (let i = 0; i < 128; i++) push(1, i, 1, 5000 + i, false);
  for (let i = 0; i < 10; i++) push(ZERO.hi, ZERO.lo, 1, 6000 + i, false);
  REFERENCE_ENGINE.sortIndex(index);
  return index;
}

const base: ModelOptions = { processCount: 2, useZeroPages: false, maxPageSharing: 256, zeroHash: ZERO, physical: null };

describe.each(ENGINES)("the %s engine's model of huge pages", (_name, engine) => {
  it('6.12 and later: the split frees the 128 zero-filled subpages, which no counter sees', () => {
    const r = engine.runModel(mixedIndex(), { ...base, thpSplit: 'zero-subpages-freed' });
    const s = r.scopes[0];
    expect(r.content.hugeResidentPages).toBe(512);
    expect(s?.hugePagesSplit).toBe(1);
    expect(s?.zeroSubpagesFreedBySplit).toBe(128);
    // Zero-filled content left: process 1's 10 pages, one KSM page. Shared: 128 KSM pages. Repeated: one.
    expect(s?.pagesShared).toBe(1 + 128 + 1);
    expect(s?.pagesSharing).toBe(9 + 128 + 127);
    expect(s?.ksmZeroPages).toBe(0);
    expect(s?.ramFreedPages).toBe(128 + 9 + 128 + 127);
    // The huge page's frames come first, so they stay as KSM pages: its freed frames are the
    // zero-filled subpages and the repeated content's copies.
    expect(s?.ramFreedHugePages).toBe(128 + 127);
    expect(Array.from(s?.perProcess.mergingPages ?? [])).toEqual([128 + 128, 128 + 10]);
    // No rmap_item for a freed zero subpage; the unique quarter keeps one each.
    expect(s?.rmapItems).toBe(128 + 128 + 128 + 10 + 128 + 128 - 128);
    expectSameModel(engine.runModel(mixedIndex(), { ...base, thpSplit: 'zero-subpages-freed' }), REFERENCE_ENGINE.runModel(mixedIndex(), { ...base, thpSplit: 'zero-subpages-freed' }));
  });

  it('6.12 and later with use_zero_pages: the zero subpages are still freed uncounted, not in ksm_zero_pages', () => {
    const s = engine.runModel(mixedIndex(), { ...base, useZeroPages: true, thpSplit: 'zero-subpages-freed' }).scopes[0];
    expect(s?.zeroSubpagesFreedBySplit).toBe(128);
    expect(s?.ksmZeroPages).toBe(10);
    expect(Array.from(s?.perProcess.zeroPages ?? [])).toEqual([0, 10]);
  });

  it('before 6.12: the zero subpages stay pages and merge with the others', () => {
    const s = engine.runModel(mixedIndex(), { ...base, thpSplit: 'zero-subpages-kept' }).scopes[0];
    expect(s?.hugePagesSplit).toBe(1);
    expect(s?.zeroSubpagesFreedBySplit).toBe(0);
    expect(s?.pagesSharing).toBe(137 + 128 + 127);
    expect(s?.ramFreedPages).toBe(137 + 128 + 127);
  });

  it('a huge page none of whose contents has a partner does not split, and nothing in it is freed', () => {
    const index = new PageIndex(600);
    for (let i = 0; i < 512; i++) {
      index.hashHi[i] = 7;
      index.hashLo[i] = i;
      index.pfnLo[i] = 1024 + i;
      index.meta[i] = packMeta(0, 2, ELIGIBLE | META_HUGE, 1024 + i);
    }
    index.length = 512;
    REFERENCE_ENGINE.sortIndex(index);
    const s = engine.runModel(index, { ...base, processCount: 1, thpSplit: 'zero-subpages-freed' }).scopes[0];
    expect(s?.hugePagesSplit).toBe(0);
    expect(s?.ramFreedPages).toBe(0);
    expect(s?.rmapItems).toBe(512);
  });
});

describe('which pages sit in huge pages', () => {
  it('marks a run of 512 consecutive, aligned frames whose head kpageflags calls a THP head, and nothing else', () => {
    const asked: number[] = [];
    const physical: PhysicalPages = {
      mapCount: () => 1,
      isZeroPage: () => false,
      isKsmPage: () => false,
      isThpHead: (pfn) => (asked.push(pfn), pfn === 1024),
      kernelFiles: () => null,
      close: () => {},
    };
    const index = new PageIndex(4096);
    const writer = new IndexWriter(index, REFERENCE_ENGINE.hasher, 4096, ZERO);
    writer.startSource(0, 0, physical);
    const frames = [
      ...Array.from({ length: 512 }, (_, i) => 1024 + i), // a huge page
      ...Array.from({ length: 512 }, (_, i) => 4096 + i), // contiguous and aligned, but 4 KiB pages
      ...Array.from({ length: 512 }, (_, i) => 8193 + i), // contiguous, not aligned
      ...Array.from({ length: 100 }, (_, i) => 9000 + 3 * i),
    ];
    frames.forEach((frame, i) => {
      index.pfnLo[i] = frame;
      index.meta[i] = packMeta(0, 2, ELIGIBLE, frame);
    });
    index.length = frames.length;
    writer.markHugePages(0);
    const huge = Array.from(index.meta.subarray(0, index.length), (m) => (m & META_HUGE) !== 0);
    expect(huge.slice(0, 512).every(Boolean)).toBe(true);
    expect(huge.slice(512).some(Boolean)).toBe(false);
    expect(asked).toEqual([1024, 4096]);
    expect(writer.knowsHugePages).toBe(true);
  });
});

describe('which behaviour a kernel has', () => {
  it.each([
    ['6.1.119', null, 'zero-subpages-kept', 'kernel-version', false],
    ['6.6.63', null, 'zero-subpages-kept', 'kernel-version', false],
    ['6.12.10', null, 'zero-subpages-freed', 'kernel-version', false],
    ['6.18.44-fc-v1045', null, 'zero-subpages-freed', 'kernel-version', true],
    ['6.18.1', true, 'zero-subpages-freed', 'probe', true],
    ['5.15.0', false, 'zero-subpages-kept', 'probe', false],
    [null, null, 'zero-subpages-freed', 'default', false],
  ] as const)('%s (underused shrinker %s): %s by %s, verified %s', (release, probe, split, basis, verified) => {
    expect(thpBehaviourOf(release, probe)).toEqual({ split, basis, kernel: release, verified });
  });
});
