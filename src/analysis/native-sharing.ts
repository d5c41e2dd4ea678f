import type { NativeAddon } from '../native/native-addon.js';
import type { PageIndex } from '../index/page-index.js';
import { OVERLAP_PROCESSES, SHARING_OR_MORE, overlapProcessesOf, type ContentSharing } from './content-sharing.js';

/**
 * measureSharing (src/analysis/content-sharing.ts, the reference) in native code
 * (native/content_sharing.c): the same two passes, in C, for the engine that has the addon.
 */
export function measureSharingNative(native: NativeAddon, index: PageIndex, zeroHash: { hi: number; lo: number }, processCount: number, limit = OVERLAP_PROCESSES): ContentSharing {
  const buckets = SHARING_OR_MORE - 1;
  const contents = new Float64Array(buckets);
  const mappings = new Float64Array(buckets);
  const processes = Math.max(1, processCount);
  const sharedPages = new Float64Array(processes);
  const n = index.length;
  const zeroFilledMappings = native.measureSharing({ index, n, processes, zeroHash, pass: 1, contents, mappings, sharedPages });
  const overlapProcesses = overlapProcessesOf(sharedPages, processCount, limit);
  const k = overlapProcesses.length;
  const overlap = new Float64Array(k * k);
  if (k > 0) {
    const slot = new Int32Array(processes).fill(-1);
    overlapProcesses.forEach((p, i) => (slot[p] = i));
    native.measureSharing({ index, n, processes, zeroHash, pass: 2, slot, overlap });
  }
  return { contents, mappings, zeroFilledMappings, overlapProcesses, overlap };
}
