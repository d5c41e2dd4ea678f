// Guards what src/core/zstd-stream.ts relies on in fzstd (pinned to 0.1.1 in package.json):
// one whole block per push, content exact across blocks and frames, and no compressed input
// held after it is decoded (fzstd keeps a reference to a chunk whose push ends exactly on a
// block boundary; zstd-stream never ends a push there). An fzstd upgrade that changes either
// fails here first.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openByteSource } from '../../src/core/open-byte-source.js';
import { seededUint32 } from '../support/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'samepage-zstd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function zstd(data: Buffer, args: string[]): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Pages of random bytes, each page repeated `repeat` times: as compressible as that. */
function content(pages: number, seed: number, repeat = 4): Buffer {
  const next = seededUint32(seed);
  const out = Buffer.alloc(pages * 4096);
  for (let p = 0; p < pages; p++) {
    if (p % repeat !== 0) {
      out.copy(out, p * 4096, (p - 1) * 4096, p * 4096);
      continue;
    }
    for (let i = 0; i < 4096; i += 4) out.writeUInt32LE(next(), p * 4096 + i);
  }
  return out;
}

function readAll(file: string, chunk: number): Buffer {
  const src = openByteSource(file);
  try {
    const parts: Buffer[] = [];
    for (let at = 0; ; ) {
      const buf = Buffer.alloc(chunk);
      const n = src.read(buf, 0, chunk, at);
      parts.push(buf.subarray(0, n));
      at += n;
      if (n < chunk) break;
    }
    return Buffer.concat(parts);
  } finally {
    src.close();
  }
}

describe('zstd streams through fzstd', () => {
  it('decodes many blocks and frames exactly, read in odd-sized pieces', () => {
    const data = content(2048, 7); // 8 MiB: 64 blocks of 128 KiB per frame at least
    const one = join(dir, 'one.zst');
    writeFileSync(one, zstd(data, ['-3']));
    expect(readAll(one, 4096 * 3 + 17).equals(data)).toBe(true);
    // Two frames back to back, one of them with a checksum, as `cat a.zst b.zst` makes.
    const two = join(dir, 'two.zst');
    writeFileSync(two, Buffer.concat([zstd(data.subarray(0, 3 << 20), ['-1', '--no-check']), zstd(data.subarray(3 << 20), ['-19'])]));
    expect(readAll(two, 1 << 20).equals(data)).toBe(true);
  });

  it('holds no compressed input once decoded: memory stays flat over a long stream', () => {
    // Barely compressible: what fzstd would keep is as large as what it decodes.
    const data = content(16384, 11, 1); // 64 MiB
    const file = join(dir, 'long.zst');
    writeFileSync(file, zstd(data, ['-1']));
    const src = openByteSource(file);
    try {
      const buf = Buffer.alloc(1 << 20);
      let at = 0;
      let baseline = 0;
      let peak = 0;
      for (;;) {
        const n = src.read(buf, 0, buf.length, at);
        at += n;
        const used = process.memoryUsage().arrayBuffers;
        if (at === 8 << 20) baseline = used;
        if (at > 8 << 20) peak = Math.max(peak, used);
        if (n < buf.length) break;
      }
      expect(at).toBe(data.length);
      // After the first 8 MiB, 56 MiB more of stream: what garbage the GC has not taken yet
      // (about 9 MiB here), not the 56 MiB of input a retained chunk list holds.
      expect(peak - baseline).toBeLessThan(24 << 20);
    } finally {
      src.close();
    }
  });
});
