import { closeSync, fstatSync, openSync } from 'node:fs';
import { UserError, describeError } from '../util/errors.js';
import { SNIFF_BYTES, sniffInput, type InputKind } from '../source/input-kind.js';
import type { ByteSource } from './byte-source.js';
import { PlainByteSource } from './plain-byte-source.js';
import { preadFully } from './pread.js';
import { openZstdByteSource } from './zstd-stream.js';

/** Compressions recognised but not read, and the command that undoes each. */
const UNSUPPORTED: Partial<Record<InputKind, string>> = { xz: 'xz -dk', lz4: 'lz4 -d', gzip: 'gzip -dk' };

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
    const head = Buffer.alloc(SNIFF_BYTES);
    let n: number;
    try {
      n = preadFully(fd, head, 0, head.length, 0, path);
    } catch (err) {
      throw new UserError(err instanceof Error ? err.message : String(err));
    }
    const kind = sniffInput(head.subarray(0, n));
    if (kind === 'zstd') return openZstdByteSource(fd, path, size);
    const undo = UNSUPPORTED[kind];
    if (undo !== undefined) throw new UserError(`${path}: ${kind}-compressed cores are not supported: decompress it first (${undo} ${path})`);
    return new PlainByteSource(fd, path, size);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

