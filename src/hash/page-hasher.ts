import { createRequire } from 'node:module';

/**
 * Hashes pages with XXH3-64. The one place that knows the hash library: a faster batch hasher
 * can replace it without touching the rest of the pipeline.
 */
export interface PageHasher {
  /**
   * Hashes `count` pages of `pageSize` bytes from `data`, writing the high and low 32 bits of
   * each hash to hi[out + i] and lo[out + i].
   */
  hashPages(data: Buffer, count: number, pageSize: number, hi: Uint32Array, lo: Uint32Array, out: number): void;
}

/** XXH3-64 through xxhash-addon, one call per page: the reference the native hasher must equal. */
export function createXxhashAddonHasher(): PageHasher {
  // Loaded only when needed: with the native hasher it would be memory spent for nothing.
  const { XXHash3 } = createRequire(import.meta.url)('xxhash-addon') as typeof import('xxhash-addon');
  return {
    hashPages(data, count, pageSize, hi, lo, out) {
      for (let i = 0; i < count; i++) {
        const digest = XXHash3.hash(data.subarray(i * pageSize, (i + 1) * pageSize));
        hi[out + i] = digest.readUInt32BE(0);
        lo[out + i] = digest.readUInt32BE(4);
      }
    },
  };
}

/** The hash of a page of zeros, to recognise zero-filled pages without reading them twice. */
export function zeroPageHash(hasher: PageHasher, pageSize: number): { hi: number; lo: number } {
  const hi = new Uint32Array(1);
  const lo = new Uint32Array(1);
  hasher.hashPages(Buffer.alloc(pageSize), 1, pageSize, hi, lo, 0);
  return { hi: hi[0] as number, lo: lo[0] as number };
}
