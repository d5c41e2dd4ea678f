import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createXxhashAddonHasher } from '../../src/hash/page-hasher.js';
import { ENGINES } from '../support/engines.js';
import { nativeAddon } from '../../src/native/native-addon.js';

describe('page hashing', () => {
  it('the native addon was built by the set-up command (CI must not fall back silently)', () => {
    expect(nativeAddon()).not.toBeNull();
  });

  it.each(ENGINES)("the %s engine's batch hasher gives exactly the XXH3-64 of xxhash-addon", (_name, engine) => {
    const pageSize = 4096;
    const count = 64;
    const data = randomBytes(pageSize * count);
    data.fill(0, 0, pageSize); // a zero page among them
    const a = { hi: new Uint32Array(count), lo: new Uint32Array(count) };
    const b = { hi: new Uint32Array(count + 3), lo: new Uint32Array(count + 3) };
    createXxhashAddonHasher().hashPages(data, count, pageSize, a.hi, a.lo, 0);
    engine.hasher.hashPages(data, count, pageSize, b.hi, b.lo, 3);
    expect(Array.from(b.hi.subarray(3))).toEqual(Array.from(a.hi));
    expect(Array.from(b.lo.subarray(3))).toEqual(Array.from(a.lo));
    // XXH3-64 of 4096 zero bytes, seed 0.
    expect(((a.hi[0] ?? 0) >>> 0).toString(16).padStart(8, '0') + ((a.lo[0] ?? 0) >>> 0).toString(16).padStart(8, '0')).toBe('93d76fe148c689ba');
  });

  it('rejects out-of-range arguments instead of reading past a buffer', () => {
    const native = nativeAddon();
    if (native === null) return;
    const hi = new Uint32Array(1);
    const lo = new Uint32Array(1);
    expect(() => native.hashPages(new Uint8Array(4096), 2, 4096, hi, lo, 0)).toThrow(RangeError);
  });
});
