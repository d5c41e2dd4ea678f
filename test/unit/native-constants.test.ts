// The numbers the native addon shares with TypeScript (native/shared_constants.h), which the
// addon exports as `constants`: each must equal its TypeScript twin, every one must have a twin,
// and the layouts they describe (the meta word, the model's counters, a smaps table's rows)
// must be read the same on both sides.
import { describe, expect, it } from 'vitest';
import { NATIVE_ABI, nativeAddon, nativeAddonProblem, type NativeAddon } from '../../src/native/native-addon.js';
import {
  HUGE_PAGE_FRAMES,
  MAX_PROCESSES,
  META_ANON,
  META_COMPATIBLE,
  META_EXCLUSIVE,
  META_HUGE,
  META_MERGEABLE_NOW,
  META_NO_PHYS,
  META_ZERO_PFN,
  PFN_HI_LIMIT,
  PFN_HI_SHIFT,
  PageIndex,
  metaKind,
  metaPfn,
  metaProcess,
  packMeta,
} from '../../src/index/page-index.js';
import { DOMAIN_FILES_ELSEWHERE, DOMAIN_FILES_NONE, FRAMES_PER_DOMAIN, MAX_DOMAINS, PhysicalDomains } from '../../src/physical/physical-domains.js';
import { KPF_KSM } from '../../src/physical/physical-pages.js';
import { PM_EXCLUSIVE_HI, PM_FILE_HI, PM_PFN_HI_MASK, PM_PRESENT_HI, PM_SWAPPED_HI } from '../../src/live/pagemap.js';
import * as layout from '../../src/analysis/native-model.js';
import { SHARING_OR_MORE } from '../../src/analysis/content-sharing.js';
import { SCOPES } from '../../src/analysis/model-result.js';
import { runKsmModelInJs } from '../../src/analysis/js-model.js';
import { KSM_INCOMPATIBLE, MAX_ADDRESS, MERGEABLE, NUMBERS_PER_VMA, SHARED, SPECIAL } from '../../src/live/smaps.js';
import { MAPPING_KINDS } from '../../src/source/mapping-kind.js';

/**
 * The TypeScript twin of each constant the addon exports. The meta word's process and kind
 * fields have no constant of their own in TypeScript: their twins are what metaProcess,
 * metaKind and packMeta take and give.
 */
const TWINS: Record<string, number> = {
  NATIVE_ABI,
  META_PROCESS_MASK: metaProcess(0xffff_ffff),
  META_KIND_SHIFT: Math.log2(packMeta(0, 1, 0, 0)),
  META_KIND_MASK: metaKind(0xffff_ffff),
  META_HUGE,
  META_ANON,
  META_EXCLUSIVE,
  META_COMPATIBLE,
  META_MERGEABLE_NOW,
  META_ZERO_PFN,
  META_NO_PHYS,
  META_DOMAIN_SHIFT: PFN_HI_SHIFT,
  MAX_PROCESSES,
  MAX_KINDS: metaKind(0xffff_ffff) + 1,
  MAX_DOMAINS,
  FRAMES_PER_DOMAIN,
  DOMAIN_FILES_ELSEWHERE,
  DOMAIN_FILES_NONE,
  KPF_KSM,
  HUGE_PAGE_FRAMES,
  PM_PRESENT_HI,
  PM_SWAPPED_HI,
  PM_FILE_HI,
  PM_EXCLUSIVE_HI,
  PM_PFN_HI_MASK,
  COUNTERS_HEAD: layout.COUNTERS_HEAD,
  COUNTERS_PER_KIND: layout.COUNTERS_PER_KIND,
  COUNTERS_PER_PROCESS: layout.COUNTERS_PER_PROCESS,
  COUNTER_SCOPES: layout.COUNTER_SCOPES,
  SCOPE_RAM_FREED: layout.SCOPE_RAM_FREED,
  SCOPE_PAGES_SHARED: layout.SCOPE_PAGES_SHARED,
  SCOPE_PAGES_SHARING: layout.SCOPE_PAGES_SHARING,
  SCOPE_KSM_ZERO_PAGES: layout.SCOPE_KSM_ZERO_PAGES,
  SCOPE_PAGES_UNSHARED: layout.SCOPE_PAGES_UNSHARED,
  SCOPE_RMAP_ITEMS: layout.SCOPE_RMAP_ITEMS,
  SCOPE_RAM_FREED_HUGE: layout.SCOPE_RAM_FREED_HUGE,
  SCOPE_SCALARS: layout.SCOPE_SCALARS,
  SCOPE_COUNTERS_PER_PROCESS: layout.SCOPE_COUNTERS_PER_PROCESS,
  SCOPE_COUNTERS_PER_KIND: layout.SCOPE_COUNTERS_PER_KIND,
  SMAPS_KSM_INCOMPATIBLE: KSM_INCOMPATIBLE,
  SMAPS_SPECIAL: SPECIAL,
  SMAPS_SHARED: SHARED,
  SMAPS_MERGEABLE: MERGEABLE,
  SMAPS_NUMBERS_PER_VMA: NUMBERS_PER_VMA,
  SMAPS_MAX_ADDRESS: MAX_ADDRESS,
  SHARING_OR_MORE,
};

const native = nativeAddon();
const problem = nativeAddonProblem();

it('the addon in build/ is built from these sources (or not built at all)', () => {
  expect(problem).toBeNull();
});

describe.skipIf(native === null)(
  native === null ? "the native addon's constants: skipped, the native addon is not built (npm ci builds it)" : "the native addon's constants",
  () => {
    const addon = native as NativeAddon;
    const c = native?.constants ?? {};

    it.each(Object.keys(TWINS))('%s equals its TypeScript twin', (name) => {
      expect(c[name]).toBe(TWINS[name]);
    });

    it('exports no constant without a TypeScript twin, and its abi as NATIVE_ABI', () => {
      expect(Object.keys(c).sort()).toEqual(Object.keys(TWINS).sort());
      expect(addon.abi).toBe(NATIVE_ABI);
      expect(Object.isFrozen(c)).toBe(true);
    });

    it('lays out the meta word as page-index.ts does', () => {
      const flags = META_ANON | META_EXCLUSIVE | META_COMPATIBLE | META_MERGEABLE_NOW | META_ZERO_PFN | META_NO_PHYS;
      const domain = (c['MAX_DOMAINS'] as number) - 1;
      const frame = domain * (c['FRAMES_PER_DOMAIN'] as number) + 0x1234_5678;
      const kind = MAPPING_KINDS.length - 1;
      const process = (c['MAX_PROCESSES'] as number) - 1;
      const meta = packMeta(process, kind, flags, frame);
      const expected = (process | (kind << (c['META_KIND_SHIFT'] as number)) | flags | (domain << (c['META_DOMAIN_SHIFT'] as number))) >>> 0;
      expect(meta).toBe(expected);
      expect(metaProcess(meta)).toBe(meta & (c['META_PROCESS_MASK'] as number));
      expect(metaKind(meta)).toBe((meta >>> (c['META_KIND_SHIFT'] as number)) & (c['META_KIND_MASK'] as number));
      expect(metaPfn(meta, 0x1234_5678)).toBe(frame);
      expect(MAPPING_KINDS.length).toBeLessThanOrEqual(c['MAX_KINDS'] as number);
      expect(PFN_HI_LIMIT).toBe(c['MAX_DOMAINS']);
      expect(() => packMeta(0, 0, 0, (c['MAX_DOMAINS'] as number) * (c['FRAMES_PER_DOMAIN'] as number))).toThrow(RangeError);
    });

    it('counts the model into a Float64Array of nativeCounterLength, which addNativeCounters reads whole', () => {
      expect(SCOPES.length).toBe(c['COUNTER_SCOPES']);
      const index = new PageIndex(16);
      const empty = new PhysicalDomains().domainFiles();
      expect(Array.from(new Set(empty))).toEqual([DOMAIN_FILES_NONE]);
      for (const [kinds, procs] of [
        [MAPPING_KINDS.length, 1],
        [1, 3],
        [8, 1000],
        [MAPPING_KINDS.length, 1000],
      ] as const) {
        const length = layout.nativeCounterLength(kinds, procs);
        const pass = (counters: Float64Array) => () =>
          addon.modelPass({
            index,
            from: 0,
            n: 0,
            kinds,
            processes: procs,
            zeroHash: { hi: 0, lo: 0 },
            useZeroPages: false,
            maxPageSharing: 256,
            physical: false,
            counters,
            deferred: new Uint32Array(2),
            domainFiles: empty,
            deferZero: false,
          });
        expect(pass(new Float64Array(length))).not.toThrow();
        expect(pass(new Float64Array(length - 1))).toThrow(RangeError);
        // Every counter lands somewhere in the result, once (the result has a counter per kind there is).
        if (kinds !== MAPPING_KINDS.length) continue;
        const result = runKsmModelInJs(index, { processCount: procs, useZeroPages: false, maxPageSharing: 256, zeroHash: { hi: 0, lo: 0 }, physical: null });
        const content = result.content;
        layout.addNativeCounters(new Float64Array(length).fill(1), kinds, procs, content, result.scopes);
        let total = content.distinctContents + content.naiveDuplicatePages + content.hugeResidentPages;
        for (const a of [...Object.values(content.byKind), ...Object.values(content.byProcess)]) total += a.reduce((x, y) => x + y, 0);
        for (const s of result.scopes) {
          total += s.ramFreedPages + s.pagesShared + s.pagesSharing + s.ksmZeroPages + s.pagesUnshared + s.rmapItems + s.ramFreedHugePages;
          for (const a of [...Object.values(s.perProcess), s.ramFreedByKind]) total += a.reduce((x, y) => x + y, 0);
        }
        expect(total).toBe(length);
      }
    });

    it('gives a smaps table SMAPS_NUMBERS_PER_VMA numbers per VMA', () => {
      const text = '7f0000000000-7f0000002000 rw-p 00000000 00:00 0 \nRss:                   8 kB\nVmFlags: rd wr mr mw me ac sd mg\n';
      const table = addon.parseSmapsTable(text);
      expect(table.vmFlags.length).toBe(1);
      expect(table.numbers.length).toBe((c['SMAPS_NUMBERS_PER_VMA'] as number) * table.vmFlags.length);
      expect(Array.from(table.numbers)).toEqual([0x7f00_0000_0000, 0x7f00_0000_2000, 0, 0, 8]);
      expect(table.vmFlags[0]).toBe(c['SMAPS_MERGEABLE']);
    });

    it('names the property of an options object that is missing or of the wrong type', () => {
      const index = new PageIndex(16);
      const options = {
        index,
        from: 0,
        n: 0,
        kinds: 1,
        processes: 1,
        zeroHash: { hi: 0, lo: 0 },
        useZeroPages: false,
        maxPageSharing: 256,
        physical: false,
        counters: new Float64Array(layout.nativeCounterLength(1, 1)),
        deferred: new Uint32Array(2),
        domainFiles: new PhysicalDomains().domainFiles(),
        deferZero: false,
      };
      expect(addon.modelPass(options)).toEqual([0, 0]);
      const bad = (over: object) => () => addon.modelPass({ ...options, ...over } as Parameters<NativeAddon['modelPass']>[0]);
      expect(bad({ counters: new Uint32Array(100) })).toThrow(/modelPass: options\.counters must be a Float64Array/);
      expect(bad({ useZeroPages: 0 })).toThrow(/options\.useZeroPages must be a boolean/);
      expect(bad({ zeroHash: { hi: 0 } })).toThrow(/options\.zeroHash\.lo must be a number/);
      expect(bad({ index: { ...index, meta: undefined } })).toThrow(/options\.index\.meta must be a Uint32Array/);
      expect(() => addon.scanRange(undefined as unknown as Parameters<NativeAddon['scanRange']>[0])).toThrow(/scanRange: \(options\)/);
      expect(() => addon.scanRange({} as Parameters<NativeAddon['scanRange']>[0])).toThrow(/scanRange: options\.pagemapFd must be a number/);
    });
  },
);
