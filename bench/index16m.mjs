// Builds a page index of N records (default 16 Mi: 64 GiB of 4 KiB pages) with synthetic
// hashes through samepage's own code (dist/index/page-index.js, dist/index/radix-sort.js,
// dist/analysis/ksm-model.js), and prints one JSON line with the times and the peak RSS.
// Run by bench/run.mjs --index-16m in a child process of its own, so that the peak RSS is this
// index's alone. Needs `npm run build` first.
//
//   node bench/index16m.mjs [--pages N] [--processes P] [--seed S] [--samepage DIR]
//
// The records: half of them unique hashes, the other half copies of hashes of the first
// quarter (so the sort sees runs of equal hashes and the model has work to do), every record
// an exclusive anonymous page of a distinct frame, spread over P processes.

import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? Number(args[i + 1]) : def;
};
const pages = opt('pages', 16 * 1024 * 1024);
const processes = opt('processes', 8);
let seed = opt('seed', 1) >>> 0 || 1;

const samepageAt = args.indexOf('--samepage');
const dist = samepageAt >= 0 ? pathToFileURL(`${resolve(args[samepageAt + 1])}/dist/`) : new URL('../dist/', import.meta.url);
const { PageIndex, packMeta, META_ANON, META_EXCLUSIVE, META_COMPATIBLE } = await import(new URL('index/page-index.js', dist).href);
const { sortIndex } = await import(new URL('index/radix-sort.js', dist).href);
const { KIND_INDEX } = await import(new URL('source/mapping-kind.js', dist).href);
const { runKsmModel } = await import(new URL('analysis/ksm-model.js', dist).href);

const rssBeforeKiB = process.resourceUsage().maxRSS;

// xorshift32: a fast, seeded, reproducible stream.
const next = () => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed;
};

const t0 = performance.now();
// Sized the way the scan sizes it: the resident total known up front, plus a little.
const index = new PageIndex(pages + 1024);
const hh = index.hashHi;
const hl = index.hashLo;
const pl = index.pfnLo;
const mt = index.meta;
const half = Math.floor(pages / 2);
const quarter = Math.max(1, Math.floor(pages / 4));
const flags = META_ANON | META_EXCLUSIVE | META_COMPATIBLE;
const kind = KIND_INDEX.anon;
for (let i = 0; i < pages; i++) {
  if (i < half) {
    hh[i] = next();
    hl[i] = next();
  } else {
    const j = next() % quarter;
    hh[i] = hh[j];
    hl[i] = hl[j];
  }
  const pfn = 0x100000 + i;
  pl[i] = pfn;
  mt[i] = packMeta(i % processes, kind, flags, pfn);
}
index.length = pages;
const t1 = performance.now();
sortIndex(index);
const t2 = performance.now();

// Checks that the index is sorted by hash.
let sorted = true;
for (let i = 1; i < pages && sorted; i++) {
  if (hh[i - 1] > hh[i] || (hh[i - 1] === hh[i] && hl[i - 1] > hl[i])) sorted = false;
}
const rssAfterSortKiB = process.resourceUsage().maxRSS;

const t3 = performance.now();
let model = null;
let modelError = null;
try {
  const result = runKsmModel(index, {
    processCount: processes,
    useZeroPages: false,
    maxPageSharing: 256,
    zeroHash: { hi: 0, lo: 0 },
    physical: null,
  });
  model = { distinctContents: result.content.distinctContents, ramFreedPages: result.scopes[0].ramFreedPages };
} catch (err) {
  modelError = err instanceof Error ? err.message : String(err);
}
const t4 = performance.now();

process.stdout.write(
  `${JSON.stringify({
    pages,
    indexBytes: index.bytes,
    fillMs: t1 - t0,
    sortMs: t2 - t1,
    buildMs: t2 - t0,
    modelMs: t4 - t3,
    sorted,
    model,
    modelError,
    startRssBytes: rssBeforeKiB * 1024,
    peakRssAfterSortBytes: rssAfterSortKiB * 1024,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  })}\n`,
);
