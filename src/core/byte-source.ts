import { closeSync, fstatSync, openSync } from 'node:fs';
import { UserError, describeError } from '../util/errors.js';
import { preadFully } from './pread.js';
import { openZstdByteSource } from './zstd-stream.js';

/**
 * The bytes of a core file, read by position. A plain file can be read anywhere; a compressed
 * one only forward (each read at or after the end of the previous one), since it can only be
 * decompressed from its start. Memory stays bounded either way: nothing is read whole.
 */
export interface ByteSource {
  /** The path as the user gave it, for messages. */
  readonly path: string;
  /** 'plain', or the compression the file was found to use. */
  readonly format: 'plain' | 'zstd';
  /**
   * The content's size when known without reading it all (a plain file), else an upper bound
   * that real content can reach (a compressed stream's frame and block headers give it).
   */
  readonly maxSize: number;
  /** Whether the size is exact (plain files). */
  readonly sizeExact: boolean;
  /** True when reads must go forward: a read before `position` throws SourceError. */
  readonly forwardOnly: boolean;
  /** Where the next read may start at the earliest (forward-only), 0 for a positional source. */
  readonly position: number;
  /**
   * Reads up to `length` bytes of content at `at` into `buf[offset...]`; returns how many, fewer
   * only at the end of the content. Throws SourceError for a backwards read on a forward-only
   * source, corrupt compressed data or an I/O error.
   */
  read(buf: Uint8Array, offset: number, length: number, at: number): number;
  /** Starts again from the beginning of the content, and releases what decompression held. */
  rewind(): void;
  close(): void;
}

/** Magic numbers of the compressions a core may come in. */
const ZSTD_MAGIC = 0xfd2fb528;
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const LZ4_MAGIC = 0x184d2204;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Opens a core file, plain or zstd-compressed, recognised by its first bytes (not its name); `path` is what messages call it. */
export function openByteSource(file: string, path: string = file): ByteSource {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UserError(`${path}: cannot open: ${describeError(err)}`);
  }
  try {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new UserError(`${path}: is a directory, not a core file`);
      size = st.size;
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`${path}: cannot read: ${describeError(err)}`);
    }
    const head = Buffer.alloc(8);
    let n: number;
    try {
      n = preadFully(fd, head, 0, head.length, 0, path);
    } catch (err) {
      throw new UserError(err instanceof Error ? err.message : String(err));
    }
    if (n >= 4 && head.readUInt32LE(0) === ZSTD_MAGIC) return openZstdByteSource(fd, path, size);
    if (n >= 4 && (head.readUInt32LE(0) & 0xfffffff0) === 0x184d2a50) return openZstdByteSource(fd, path, size); // skippable frame first
    if (n >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) {
      throw new UserError(`${path}: xz-compressed cores are not supported: decompress it first (xz -dk ${path})`);
    }
    if (n >= 4 && head.readUInt32LE(0) === LZ4_MAGIC) {
      throw new UserError(`${path}: lz4-compressed cores are not supported: decompress it first (lz4 -d ${path})`);
    }
    if (n >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) {
      throw new UserError(`${path}: gzip-compressed cores are not supported: decompress it first (gzip -dk ${path})`);
    }
    return new PlainByteSource(fd, path, size);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** A plain file: positional reads straight into the caller's buffer. */
class PlainByteSource implements ByteSource {
  readonly format = 'plain' as const;
  readonly sizeExact = true;
  readonly forwardOnly = false;
  readonly position = 0;

  constructor(
    private readonly fd: number,
    readonly path: string,
    readonly maxSize: number,
  ) {}

  read(buf: Uint8Array, offset: number, length: number, at: number): number {
    return preadFully(this.fd, buf, offset, length, at, this.path);
  }

  rewind(): void {
    // Positional: nothing to start again.
  }

  close(): void {
    closeSync(this.fd);
  }
}
