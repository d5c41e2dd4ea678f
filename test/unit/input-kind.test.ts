// What an input file is, from its first bytes alone (src/source/input-kind.ts): each magic number
// samepage reads or recognises, and the heads too short or too different to be any of them.
import { describe, expect, it } from 'vitest';
import { SNIFF_BYTES, sniffInput, type InputKind } from '../../src/source/input-kind.js';
import { snapshotFormatOf } from '../../src/snapshot/snapshot-format.js';

const bytes = (...b: number[]): Buffer => Buffer.from(b);
const text = (t: string): Buffer => Buffer.from(t, 'latin1');

describe('sniffInput', () => {
  const cases: Array<[string, Buffer, InputKind]> = [
    ['a snapshot, format 2', text('SPSNAP02'), 'snapshot'],
    ['a snapshot of a format not yet written', text('SPSNAP99'), 'snapshot'],
    ['an ELF file', bytes(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0), 'elf'],
    ['a zstd frame', bytes(0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00, 0x00, 0x00), 'zstd'],
    ['a zstd skippable frame (0x184D2A50)', bytes(0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0), 'zstd'],
    ['the last skippable frame magic (0x184D2A5F)', bytes(0x5f, 0x2a, 0x4d, 0x18, 4, 0, 0, 0), 'zstd'],
    ['xz', bytes(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04), 'xz'],
    ['lz4', bytes(0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x00), 'lz4'],
    ['gzip', bytes(0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0), 'gzip'],
    ['nothing', Buffer.alloc(0), 'empty'],
    ['text', text('#!/bin/sh\n'), 'unknown'],
    ['zeros', Buffer.alloc(SNIFF_BYTES), 'unknown'],
    // Too short to hold the whole magic: not taken for what it begins like.
    ['"SPSNA"', text('SPSNA'), 'unknown'],
    ['three bytes of ELF', bytes(0x7f, 0x45, 0x4c), 'unknown'],
    ['three bytes of a zstd frame', bytes(0x28, 0xb5, 0x2f), 'unknown'],
    ['five bytes of xz', bytes(0xfd, 0x37, 0x7a, 0x58, 0x5a), 'unknown'],
    ['one byte of gzip', bytes(0x1f), 'unknown'],
    // Near misses.
    ['a skippable frame magic past 0x184D2A5F', bytes(0x60, 0x2a, 0x4d, 0x18, 0, 0, 0, 0), 'unknown'],
    ['the zstd magic big-endian', bytes(0xfd, 0x2f, 0xb5, 0x28, 0, 0, 0, 0), 'unknown'],
    ['"spsnap02" in lower case', text('spsnap02'), 'unknown'],
  ];
  it.each(cases)('%s', (_name, head, kind) => {
    expect(sniffInput(head)).toBe(kind);
  });

  it('decides from the first SNIFF_BYTES bytes: what follows them changes nothing', () => {
    expect(SNIFF_BYTES).toBe(8);
    for (const [name, head, kind] of cases) {
      if (head.length < SNIFF_BYTES) continue;
      expect(sniffInput(Buffer.concat([head, text('SPSNAP02'), bytes(0x7f, 0x45, 0x4c, 0x46)])), name).toBe(kind);
    }
  });
});

describe('snapshotFormatOf', () => {
  it('reads the two digits after "SPSNAP" as the format', () => {
    expect(snapshotFormatOf(text('SPSNAP02'))).toBe(2);
    expect(snapshotFormatOf(text('SPSNAP01and more'))).toBe(1);
    expect(snapshotFormatOf(text('SPSNAP17'))).toBe(17);
  });

  it('is null for what is not a snapshot, or whose format is not two digits', () => {
    for (const head of ['SPSNAP2', 'SPSNAP', 'SPSNAPxy', 'SPSNAP 2', 'SPSNAP-1', '\x7fELF\x02\x01\x01\x00', '']) expect(snapshotFormatOf(text(head)), head).toBeNull();
  });
});
