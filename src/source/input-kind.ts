/**
 * What an input file is, from its first bytes (never its name): the one place that knows the
 * magic numbers of the files samepage reads and of the compressions it recognises.
 */
export type InputKind = 'snapshot' | 'elf' | 'zstd' | 'xz' | 'lz4' | 'gzip' | 'empty' | 'unknown';

/** "SPSNAP" and two digits, the format: snapshot-format.ts says which formats it reads. */
export const SNAPSHOT_MAGIC_PREFIX = Buffer.from('SPSNAP', 'latin1');
export const ELF_MAGIC = 0x7f454c46; // "\x7fELF", big-endian
/** A zstd frame, little-endian (RFC 8878). */
export const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: 0x184D2A50 to 0x184D2A5F, little-endian. */
export const ZSTD_SKIPPABLE_MASK = 0xfffffff0;
export const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const LZ4_MAGIC = 0x184d2204;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Bytes sniffInput needs to tell every kind apart. */
export const SNIFF_BYTES = 8;

export function sniffInput(head: Buffer): InputKind {
  const n = head.length;
  if (n === 0) return 'empty';
  if (n >= SNAPSHOT_MAGIC_PREFIX.length && head.subarray(0, SNAPSHOT_MAGIC_PREFIX.length).equals(SNAPSHOT_MAGIC_PREFIX)) return 'snapshot';
  if (n >= 4 && head.readUInt32BE(0) === ELF_MAGIC) return 'elf';
  if (n >= 4 && (head.readUInt32LE(0) === ZSTD_MAGIC || (head.readUInt32LE(0) & ZSTD_SKIPPABLE_MASK) >>> 0 === ZSTD_SKIPPABLE_MAGIC)) return 'zstd';
  if (n >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (n >= 4 && head.readUInt32LE(0) === LZ4_MAGIC) return 'lz4';
  if (n >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  return 'unknown';
}
