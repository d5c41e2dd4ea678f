import { closeSync, constants, fstatSync, openSync, readSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError, describeError } from './errors.js';
import { fileTypeWords, openUnnamedFile } from './output-file.js';

/** The path that means standard input. */
export const STDIN_PATH = '-';

/** An input file checked to be a regular file, and its first bytes. */
export interface InputFile {
  /** As the user gave it: a path, or "-". */
  readonly given: string;
  /** For messages and labels: the path, or "stdin". */
  readonly name: string;
  /** What to open: the path, or /proc/self/fd/N for standard input. */
  readonly path: string;
  /** Its first bytes (up to 64), to tell a snapshot from a core. */
  readonly head: Buffer;
  /** Lets go of standard input's copy; nothing for a named file. */
  close(): void;
}

/**
 * A snapshot or core to read. A named path must be a regular file: a FIFO, socket, device or
 * directory is refused before anything could block on it (stat, then a non-blocking open).
 * "-" is standard input: a pipe is copied into an unnamed temp file first (readers seek, a pipe
 * cannot), which disappears with the process however it ends.
 */
export async function openInputFile(given: string, stdin: NodeJS.ReadStream): Promise<InputFile> {
  return given === STDIN_PATH ? standardInput(stdin) : namedInput(given);
}

function namedInput(file: string): InputFile {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (err) {
    throw new UserError(`${file}: cannot open: ${describeError(err)}`);
  }
  refuseUnlessRegular(file, st);
  let fd: number;
  try {
    // O_NONBLOCK: had a FIFO taken its place since the stat, the open does not wait for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new UserError(`${file}: cannot open: ${describeError(err)}`);
  }
  try {
    refuseUnlessRegular(file, fstatSync(fd));
    return { given: file, name: file, path: file, head: readHead(fd, file), close: () => undefined };
  } finally {
    closeSync(fd);
  }
}

function refuseUnlessRegular(name: string, st: Stats): void {
  if (st.isFile()) return;
  const pipeLike = st.isFIFO() || st.isSocket();
  throw new UserError(`${name}: is ${fileTypeWords(st)}: samepage reads snapshots and cores from regular files${pipeLike ? "; for a pipe use 'samepage report -'" : ''}`);
}

async function standardInput(stdin: NodeJS.ReadStream): Promise<InputFile> {
  const name = 'stdin';
  if (stdin.isTTY === true) {
    throw new UserError("standard input is a terminal: pipe a snapshot or a core into 'samepage report -' (e.g. ssh HOST samepage snapshot --all -o - | samepage report -)");
  }
  let st: Stats;
  try {
    st = fstatSync(0);
  } catch (err) {
    throw new UserError(`cannot read standard input: ${describeError(err)}`);
  }
  // A redirected file is read where it is.
  if (st.isFile()) return { given: STDIN_PATH, name, path: '/proc/self/fd/0', head: readHead(0, name), close: () => undefined };
  if (!st.isFIFO() && !st.isSocket()) throw new UserError(`standard input is ${fileTypeWords(st)}: pipe a snapshot or a core into 'samepage report -', or redirect one from a file`);
  const fd = await spool(stdin);
  return {
    given: STDIN_PATH,
    name,
    path: `/proc/self/fd/${fd}`,
    head: readHead(fd, name),
    close: () => closeSync(fd),
  };
}

/** Copies standard input to the end into an unnamed temp file; returns its descriptor. */
async function spool(stdin: NodeJS.ReadStream): Promise<number> {
  const dir = tmpdir();
  const where = `cannot keep a copy of standard input in ${dir}`;
  let fd: number;
  try {
    fd = openUnnamedFile(dir) ?? openAndUnlink(dir);
  } catch (err) {
    throw new UserError(`${where}: ${describeError(err)}`);
  }
  try {
    for await (const chunk of stdin as AsyncIterable<Buffer>) {
      try {
        for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
      } catch (err) {
        throw new UserError(`${where}: ${describeError(err)} (TMPDIR chooses the directory)`);
      }
    }
  } catch (err) {
    closeSync(fd);
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot read standard input: ${describeError(err)}`);
  }
  return fd;
}

/** Without O_TMPFILE: a file whose name exists only between these two calls. */
function openAndUnlink(dir: string): number {
  const path = join(dir, `.samepage-stdin-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fd = openSync(path, 'wx+', 0o600);
  unlinkSync(path);
  return fd;
}

function readHead(fd: number, name: string): Buffer {
  const head = Buffer.alloc(64);
  try {
    const n = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n);
  } catch (err) {
    throw new UserError(`${name}: cannot read: ${describeError(err)}`);
  }
}
