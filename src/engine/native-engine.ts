import type { NativeAddon } from '../native/native-addon.js';
import { runKsmModelNative } from '../analysis/native-model.js';
import { measureSharingNative } from '../analysis/native-sharing.js';
import { nativeLiveRegionReader } from '../live/native-region-reader.js';
import { readRegionsAhead } from '../live/regions-ahead.js';
import type { Engine } from './engine.js';

/** The per-page work in the native addon: hashing, reading, sorting and the model's pass. */
export function nativeEngine(native: NativeAddon): Engine {
  return {
    name: 'native',
    hasher: { hashPages: (data, count, pageSize, hi, lo, out) => native.hashPages(data, count, pageSize, hi, lo, out) },
    liveRegions: nativeLiveRegionReader(native),
    readRegionsAhead: (pids, pageSize, threads) => readRegionsAhead(pids, pageSize, native, threads),
    sortIndex: (index) => native.sortIndex(index.hashHi, index.hashLo, index.pfnLo, index.meta, index.length),
    runModel: (index, opts) => runKsmModelNative(native, index, opts),
    measureSharing: (index, zeroHash, processCount) => measureSharingNative(native, index, zeroHash, processCount),
  };
}
