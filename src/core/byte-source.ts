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
