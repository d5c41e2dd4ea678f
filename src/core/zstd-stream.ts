import { closeSync } from 'node:fs';
import { Decompress } from 'fzstd';
import { SourceError, UserError } from '../util/errors.js';
import type { ByteSource } from './byte-source.js';
import { ZSTD_MAGIC } from '../source/input-kind.js';
import { preadFully } from './pread.js';

// Zstandard frames (RFC 8878), decompressed forward only and synchronously with fzstd (pure
// JavaScript). The frame and block headers are walked here, so that fzstd is handed one whole
// block at a time: at most one block (128 KiB) of output is held, whatever the compression ratio.

const MAX_BLOCK = 128 * 1024;
/** zstd's own decoder refuses windows over 2^27 unless told otherwise (ZSTD_WINDOWLOG_LIMIT_DEFAULT). */
export const MAX_WINDOW = 1 << 27;
/** Compressed bytes read per call while streaming. */
const STREAM_READ = 1 << 20;
/** Compressed bytes read per call while walking headers (mostly to jump from block to block). */
const SURVEY_READ = 4096;

interface FrameHeader {
  /** Bytes of magic and header. */
  size: number;
  window: number;
  singleSegment: boolean;
  contentSize: number | null;
  checksum: boolean;
  dictId: number;
}

/** A read window over the compressed file: small reads near each other cost one readSync. */
class FileWindow {
  private readonly buf: Buffer;
  private start = 0;
  private length = 0;

  constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    private readonly path: string,
    bufSize: number,
  ) {
    this.buf = Buffer.alloc(bufSize);
  }

  /** The bytes [pos, pos + len), valid until the next call; null when the file ends before. */
  view(pos: number, len: number): Buffer | null {
    if (pos + len > this.fileSize) return null;
    if (pos < this.start || pos + len > this.start + this.length) {
      if (len > this.buf.length) throw new Error(`unreachable: view of ${len} bytes`);
      const want = Math.min(this.buf.length, this.fileSize - pos);
      this.length = preadFully(this.fd, this.buf, 0, want, pos, this.path);
      this.start = pos;
      if (this.length < len) throw new SourceError(`${this.path}: the file shrank while it was read`);
    }
    return this.buf.subarray(pos - this.start, pos - this.start + len);
  }

  forget(): void {
    this.start = 0;
    this.length = 0;
  }
}

/** Opens a zstd-compressed core: walks every frame's headers first to check them and bound the content. */
export function openZstdByteSource(fd: number, path: string, fileSize: number): ByteSource {
  const survey = new FileWindow(fd, fileSize, path, SURVEY_READ);
  let maxSize = 0;
  let pos = 0;
  try {
    while (pos < fileSize) {
      const frame = walkFrame(survey, pos, fileSize, path);
      maxSize += frame.bound;
      pos = frame.end;
    }
  } catch (err) {
    if (err instanceof SourceError) throw new UserError(err.message);
    throw err;
  }
  return new ZstdByteSource(fd, path, fileSize, maxSize);
}

interface FrameWalk {
  end: number;
  /** Most content bytes the frame can decompress to. */
  bound: number;
  header: FrameHeader | null;
  /** The window to give the decoder: the declared one, or less when the frame cannot fill it. */
  window: number;
}

/** Reads one frame's headers (all its block headers too): where it ends and what it can hold. */
function walkFrame(win: FileWindow, pos: number, fileSize: number, path: string): FrameWalk {
  const magicView = win.view(pos, 4);
  if (magicView === null) throw corrupt(path, pos, 'truncated zstd stream (a frame is cut short)');
  const magic = magicView.readUInt32LE(0);
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    const sizeView = win.view(pos + 4, 4);
    if (sizeView === null) throw corrupt(path, pos, 'truncated zstd stream (a skippable frame is cut short)');
    const end = pos + 8 + sizeView.readUInt32LE(0);
    if (end > fileSize) throw corrupt(path, pos, 'truncated zstd stream (a skippable frame is cut short)');
    return { end, bound: 0, header: null, window: 0 };
  }
  if (magic !== ZSTD_MAGIC) throw corrupt(path, pos, 'not zstd data (bad frame magic)');
  const header = parseFrameHeader(win, pos, path);
  const blockMax = Math.min(header.window, MAX_BLOCK);
  let at = pos + header.size;
  let bound = 0;
  for (;;) {
    const bh = win.view(at, 3);
    if (bh === null) throw corrupt(path, at, 'truncated zstd stream (a block is cut short)');
    const b = bh.readUIntLE(0, 3);
    const last = (b & 1) !== 0;
    const type = (b >>> 1) & 3;
    const size = b >>> 3;
    if (type === 3) throw corrupt(path, at, 'corrupt zstd data (reserved block type)');
    if (size > blockMax) throw corrupt(path, at, `corrupt zstd data (block of ${size} bytes, over the ${blockMax}-byte maximum)`);
    const blockStart = at;
    at += 3 + (type === 1 ? 1 : size);
    bound += type === 2 ? blockMax : size;
    if (at > fileSize) throw corrupt(path, blockStart, `truncated zstd stream (a block is cut short: the file ends at ${fileSize} bytes)`);
    if (last) break;
  }
  if (header.checksum) at += 4;
  if (at > fileSize) throw corrupt(path, at, 'truncated zstd stream (the checksum is cut short)');
  if (header.contentSize !== null) {
    if (header.contentSize > bound) throw corrupt(path, pos, 'corrupt zstd data (frame content size larger than its blocks can hold)');
    bound = header.contentSize;
  }
  // The decoder allocates the declared window: never more than the frame can use.
  let window = header.window;
  if (!header.singleSegment && window > bound) window = smallestWindowAtLeast(bound);
  if (window > MAX_WINDOW) {
    throw new SourceError(`${path}: the zstd stream needs a ${Math.round(window / 1048576)} MiB decompression window (at most ${MAX_WINDOW / 1048576} MiB); decompress it first (zstd -d --memory=${Math.ceil(window / 1048576)}MB)`);
  }
  return { end: at, bound, header, window };
}

function parseFrameHeader(win: FileWindow, pos: number, path: string): FrameHeader {
  const d = win.view(pos + 4, 1);
  if (d === null) throw corrupt(path, pos, 'truncated zstd stream (a frame header is cut short)');
  const fhd = d[0] as number;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  const checksum = (fhd & 0x04) !== 0;
  const dictFlag = fhd & 3;
  if ((fhd & 0x08) !== 0) throw corrupt(path, pos, 'corrupt zstd data (reserved frame header bit set)');
  const dictBytes = [0, 1, 2, 4][dictFlag] as number;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
  const size = 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
  const h = win.view(pos, size);
  if (h === null) throw corrupt(path, pos, 'truncated zstd stream (a frame header is cut short)');
  let at = 5;
  let window = 0;
  if (!singleSegment) {
    const wd = h[at++] as number;
    const base = 2 ** (10 + (wd >>> 3));
    window = base + (base / 8) * (wd & 7);
  }
  const dictId = dictBytes === 0 ? 0 : h.readUIntLE(at, dictBytes);
  at += dictBytes;
  let contentSize: number | null = null;
  if (fcsBytes > 0) {
    contentSize = fcsBytes === 8 ? h.readUInt32LE(at) + h.readUInt32LE(at + 4) * 2 ** 32 : h.readUIntLE(at, fcsBytes);
    if (fcsBytes === 2) contentSize += 256;
  }
  if (singleSegment) window = contentSize ?? 0;
  if (dictId !== 0) throw new SourceError(`${path}: the zstd stream needs dictionary ${dictId}: decompress it with that dictionary first`);
  return { size, window, singleSegment, contentSize, checksum, dictId };
}

/** The smallest window a Window_Descriptor can say that is at least `n` bytes (1 KiB at least). */
function smallestWindowAtLeast(n: number): number {
  for (let e = 0; e < 32; e++) {
    const base = 2 ** (10 + e);
    for (let m = 0; m < 8; m++) {
      const w = base + (base / 8) * m;
      if (w >= n) return w;
    }
  }
  return 2 ** 41 + 2 ** 38 * 7;
}

function windowDescriptor(window: number): number {
  for (let e = 0; e < 32; e++) {
    const base = 2 ** (10 + e);
    for (let m = 0; m < 8; m++) {
      if (base + (base / 8) * m === window) return (e << 3) | m;
    }
  }
  throw new Error(`unreachable: window ${window} has no descriptor`);
}

function corrupt(path: string, at: number, what: string): SourceError {
  return new SourceError(`${path}: ${what} at compressed offset ${at}`);
}

interface BlockHeader {
  last: boolean;
  /** Compressed bytes after the 3-byte header. */
  payload: number;
}

/** Forward-only content of a zstd file: one block at a time through fzstd. */
class ZstdByteSource implements ByteSource {
  readonly format = 'zstd' as const;
  readonly sizeExact = false;
  readonly forwardOnly = true;
  private readonly win: FileWindow;
  private readonly survey: FileWindow;
  /** Content position of the first byte not yet handed out. */
  private pos = 0;
  /** Compressed position of the next unread byte. */
  private inPos = 0;
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private decoder: Decompress | null = null;
  /** The block whose header was pushed last: its payload starts at inPos. */
  private block: BlockHeader | null = null;
  private frameChecksum = false;
  private blockMax = MAX_BLOCK;
  /** Set once the stream turned out corrupt: every later read says the same. */
  private failed: SourceError | null = null;

  constructor(
    private readonly fd: number,
    readonly path: string,
    private readonly fileSize: number,
    readonly maxSize: number,
  ) {
    this.win = new FileWindow(fd, fileSize, path, STREAM_READ);
    this.survey = new FileWindow(fd, fileSize, path, SURVEY_READ);
  }

  get position(): number {
    return this.pos;
  }

  read(buf: Uint8Array, offset: number, length: number, at: number): number {
    if (at < this.pos) {
      throw new SourceError(`${this.path}: a compressed core is read forward only: asked for offset ${at} after offset ${this.pos} was passed`);
    }
    while (this.pos < at) {
      const chunk = this.head();
      if (chunk === null) return 0;
      const take = Math.min(chunk.length - this.queueHead, at - this.pos);
      this.consume(take);
    }
    let done = 0;
    while (done < length) {
      const chunk = this.head();
      if (chunk === null) break;
      const take = Math.min(chunk.length - this.queueHead, length - done);
      buf.set(chunk.subarray(this.queueHead, this.queueHead + take), offset + done);
      this.consume(take);
      done += take;
    }
    return done;
  }

  rewind(): void {
    this.pos = 0;
    this.inPos = 0;
    this.queue = [];
    this.queueHead = 0;
    this.decoder = null;
    this.block = null;
    this.failed = null;
    this.win.forget();
  }

  close(): void {
    this.rewind();
    closeSync(this.fd);
  }

  private consume(n: number): void {
    this.queueHead += n;
    this.pos += n;
    const first = this.queue[0];
    if (first !== undefined && this.queueHead >= first.length) {
      this.queue.shift();
      this.queueHead = 0;
    }
  }

  /** The chunk holding the next content byte, decompressing more when needed; null at the end. */
  private head(): Uint8Array | null {
    for (;;) {
      const first = this.queue[0];
      if (first !== undefined) return first;
      if (!this.decodeNext()) return null;
    }
  }

  /**
   * Feeds the decoder one block (starting a frame when needed); false at the end of the file.
   *
   * Each push is the block's payload followed by the next block's 3-byte header, so that a
   * push never ends on a block boundary: fzstd 0.1.1 keeps a reference to every chunk whose
   * push ends exactly there (an empty remainder it never clears), which would hold on to all
   * the compressed input. The header left over is copied into its next push by fzstd itself.
   */
  private decodeNext(): boolean {
    if (this.failed !== null) throw this.failed;
    try {
      return this.decodeBlock();
    } catch (err) {
      if (err instanceof SourceError) this.failed = err;
      throw err;
    }
  }

  private decodeBlock(): boolean {
    let prefix: Uint8Array | null = null;
    if (this.decoder === null) {
      if (this.inPos >= this.fileSize) return false;
      const frame = walkFrame(this.survey, this.inPos, this.fileSize, this.path);
      if (frame.header === null) {
        this.inPos = frame.end;
        return true;
      }
      const h = this.win.view(this.inPos, frame.header.size + 3);
      if (h === null) throw corrupt(this.path, this.inPos, 'truncated zstd stream');
      prefix = Uint8Array.from(h);
      // The decoder allocates the window the header declares: never more than the frame can fill.
      if (!frame.header.singleSegment && frame.window !== frame.header.window) prefix[5] = windowDescriptor(frame.window);
      this.frameChecksum = frame.header.checksum;
      this.blockMax = Math.min(frame.window, MAX_BLOCK);
      this.block = this.blockHeader(h, frame.header.size, this.inPos + frame.header.size);
      this.inPos += frame.header.size + 3;
      this.decoder = new Decompress((chunk) => {
        if (chunk.length > 0) this.queue.push(chunk);
      });
    }
    const block = this.block;
    if (block === null) throw new Error('unreachable: no block header');
    const payload = block.payload + (block.last && this.frameChecksum ? 4 : 0);
    const prefixLength = prefix === null ? 0 : prefix.length;
    let next: BlockHeader | null = null;
    if (!block.last) {
      const nh = this.win.view(this.inPos + payload, 3);
      if (nh === null) throw corrupt(this.path, this.inPos + payload, 'truncated zstd stream (a block is cut short)');
      next = this.blockHeader(nh, 0, this.inPos + payload);
    }
    const input = new Uint8Array(prefixLength + payload + (next === null ? 0 : 3));
    if (prefix !== null) input.set(prefix, 0);
    const body = this.win.view(this.inPos, payload + (next === null ? 0 : 3));
    if (body === null) throw corrupt(this.path, this.inPos, 'truncated zstd stream (a block is cut short)');
    input.set(body, prefixLength);
    this.inPos += payload + (next === null ? 0 : 3);
    this.block = next;
    const decoder = this.decoder;
    if (decoder === null) throw new Error('unreachable: no decoder');
    if (block.last) this.decoder = null;
    try {
      decoder.push(input, block.last);
    } catch (err) {
      this.decoder = null;
      throw new SourceError(`${this.path}: corrupt zstd data near compressed offset ${this.inPos - payload}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return true;
  }

  private blockHeader(view: Buffer, at: number, pos: number): BlockHeader {
    const b = view.readUIntLE(at, 3);
    const type = (b >>> 1) & 3;
    const size = b >>> 3;
    if (type === 3 || size > this.blockMax) throw corrupt(this.path, pos, 'corrupt zstd data (bad block header)');
    return { last: (b & 1) !== 0, payload: type === 1 ? 1 : size };
  }
}
