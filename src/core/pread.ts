import { readSync } from 'node:fs';
import { SourceError, describeError } from '../util/errors.js';

/** readSync until `length` bytes or the end of the file; I/O errors become SourceError. */
export function preadFully(fd: number, buf: Uint8Array, offset: number, length: number, at: number, path: string): number {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, buf, offset + done, length - done, at + done);
    } catch (err) {
      throw new SourceError(`${path}: read error at offset ${at + done}: ${describeError(err)}`);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}
