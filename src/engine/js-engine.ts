import { createXxhashAddonHasher } from '../hash/page-hasher.js';
import { sortIndexInJs } from '../index/radix-sort.js';
import { runKsmModelInJs } from '../analysis/js-model.js';
import { measureSharing } from '../analysis/content-sharing.js';
import { jsLiveRegionReader } from '../live/js-region-reader.js';
import { readRegionsAhead } from '../live/regions-ahead.js';
import type { Engine } from './engine.js';

let engine: Engine | null = null;

/** Everything in JavaScript (hashing through xxhash-addon): the reference, and the fallback. */
export function javascriptEngine(): Engine {
  engine ??= {
    name: 'javascript',
    hasher: createXxhashAddonHasher(),
    liveRegions: jsLiveRegionReader,
    readRegionsAhead: (pids, pageSize, threads) => readRegionsAhead(pids, pageSize, null, threads),
    sortIndex: sortIndexInJs,
    runModel: runKsmModelInJs,
    measureSharing: (index, zeroHash, processCount) => measureSharing(index, zeroHash, processCount),
  };
  return engine;
}
