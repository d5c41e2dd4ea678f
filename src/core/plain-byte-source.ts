import { closeSync } from 'node:fs';
import type { ByteSource } from './byte-source.js';
import { preadFully } from './pread.js';

/** A plain file: positional reads straight into the caller's buffer. */
export class PlainByteSource implements ByteSource {
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
