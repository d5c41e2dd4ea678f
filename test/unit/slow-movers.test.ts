import { describe, expect, it } from 'vitest';
import { mergedShare, slowMovers } from '../../src/analysis/slow-movers.js';

describe('slow movers: merged between rewrites, re-merged two full scans after each', () => {
  it('a page rewritten every T s is merged 1 - remerge/T of the time, never less than 0', () => {
    expect(mergedShare(6, 1.04)).toBeCloseTo(1 - 1.04 / 6, 10);
    expect(mergedShare(1, 2)).toBe(0);
    expect(mergedShare(0, 2)).toBe(0);
  });

  it('reports the sampling window, the re-merge time and the share at the window, 1 min and 10 min', () => {
    const s = slowMovers(2, 3, 1.5);
    expect(s.samplingWindowSeconds).toBe(4);
    expect(s.remergeSeconds).toBe(1.5);
    expect(s.mergedShare.map((r) => r.everySeconds)).toEqual([4, 60, 600]);
    expect(s.mergedShare[0]?.share).toBeCloseTo(1 - 1.5 / 4, 10);
    expect(s.note).toMatch(/copy-on-write/);
    expect(s.note).toMatch(/rewritten every 4 s is merged about 63%/);
  });

  it('does not list a period twice', () => {
    expect(slowMovers(60, 2, 1).mergedShare.map((r) => r.everySeconds)).toEqual([60, 600]);
  });
});
