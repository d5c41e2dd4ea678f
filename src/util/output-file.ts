import { accessSync, closeSync, constants, fsyncSync, lstatSync, openSync, readlinkSync, unlinkSync, type Stats } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError, describeError, errnoCode } from './errors.js';

/**
 * Output files: written whole or not at all. A file is written into a hidden temp file beside
 * it, flushed, and renamed over it; only a regular file or a new path is ever replaced, never
 * a device, a FIFO, a socket or what a symbolic link points to. "-" is standard output.
 */

/** The path that means standard output. */
export const STDOUT_PATH = '-';

/** What an output is written through: each chunk may be reused once its promise resolves. */
export interface OutputSink {
  write(chunk: Uint8Array): Promise<void>;
}

/** Standard output as the commands hold it. */
export type OutputStream = Pick<NodeJS.WriteStream, 'isTTY' | 'write' | 'on' | 'off'>;

/** The three signals a user or a terminal sends to stop a command; the temp file goes with it. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * open(2) flags for an unnamed file in a directory (O_TMPFILE, Linux 3.11): a probe or a spool
 * that leaves nothing behind even when the process is killed. Node does not export the flag;
 * its value is the same on x86 and arm. A kernel or file system without it fails the open with
 * EISDIR or EOPNOTSUPP, and the caller falls back.
 */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/** "a character device", "a FIFO"...: what a file that is not a regular file is, in words. */
export function fileTypeWords(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return st.isFile() ? 'a regular file' : 'not a regular file';
}

/**
 * Opens an unnamed file in `dir` for reading and writing (O_TMPFILE); null when the file system
 * cannot make one. Errors of the directory itself (missing, read-only, no permission) throw.
 */
export function openUnnamedFile(dir: string): number | null {
  try {
    return openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EISDIR' || code === 'EOPNOTSUPP' || code === 'EINVAL') return null;
    throw err;
  }
}

/**
 * Checks, before any work, that `path` can be written: standard output that is not a terminal,
 * or a regular file or a new path in a directory this process may create files in. Throws a
 * one-line UserError otherwise.
 */
export function checkOutputPath(path: string, stdout: OutputStream): void {
  if (path === STDOUT_PATH) {
    if (stdout.isTTY === true) throw new UserError("cannot write to standard output: it is a terminal; redirect it to a file or a pipe, or give a file name instead of '-'");
    return;
  }
  existingMode(path);
  // The temp file's name is longer than the file's, and must fit the 255-byte limit too.
  const extra = Buffer.byteLength(basename(tempPathOf(path))) - Buffer.byteLength(basename(path));
  if (Buffer.byteLength(basename(path)) + extra > 255) throw new UserError(`cannot write ${path}: the file name is too long (at most ${255 - extra} bytes here)`);
  const dir = dirname(path);
  try {
    const fd = openUnnamedFile(dir);
    if (fd !== null) closeSync(fd);
    // Without O_TMPFILE, ask: a probe file with a name could be left behind by a kill.
    else accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new UserError(`cannot write ${path}: ${dir}: ${describeError(err)}`);
  }
}

/**
 * Writes the output `produce` makes to `path` (or standard output for "-") and returns the
 * bytes written. A file is written into `.NAME.tmp-PID` beside it, with the mode of the file it
 * replaces (0600 for a new one: outputs describe memory), flushed, then renamed over it. The
 * temp file is removed on every error and on SIGINT, SIGTERM and SIGHUP, after which the
 * process dies of the signal as it would have. Writes are asynchronous so that a signal is
 * handled between two chunks, not after the whole file.
 */
export async function writeOutputFile(path: string, stdout: OutputStream, produce: (sink: OutputSink) => Promise<void>): Promise<number> {
  if (path === STDOUT_PATH) return writeToStream(stdout, produce);
  // Checked again: a scan takes a while, and what is at the path may have changed.
  const mode = existingMode(path) ?? 0o600;
  const temp = tempPathOf(path);
  const removeTemp = (): void => {
    try {
      unlinkSync(temp);
    } catch {
      // Not there (yet, or any more).
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    removeTemp();
    stopListening();
    process.kill(process.pid, signal); // Die of the signal, as without this listener.
  };
  const stopListening = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  // Listening before the temp file exists: a signal can come between open and anything after.
  for (const s of SIGNALS) process.on(s, onSignal);
  let handle: FileHandle | null = null;
  try {
    handle = await createTemp(temp, mode);
    const file = handle;
    let written = 0;
    await produce({
      async write(chunk) {
        for (let done = 0; done < chunk.length; ) done += (await file.write(chunk, done, chunk.length - done)).bytesWritten;
        written += chunk.length;
      },
    });
    await file.sync();
    handle = null;
    await file.close();
    existingMode(path);
    await rename(temp, path);
    syncDirectory(dirname(path));
    return written;
  } catch (err) {
    if (handle !== null) await handle.close().catch(() => undefined);
    removeTemp();
    if (err instanceof UserError) throw err;
    if (errnoCode(err) !== undefined) throw new UserError(`cannot write ${path}: ${describeError(err)}`);
    throw err;
  } finally {
    stopListening();
  }
}

/** The hidden file beside `path` that is written and then renamed over it. */
function tempPathOf(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
}

/** The mode of the regular file at `path`, null when there is none; anything else is refused. */
function existingMode(path: string): number | null {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw new UserError(`cannot write ${path}: ${describeError(err)}`);
  }
  if (st.isFile()) return st.mode & 0o777;
  let what = fileTypeWords(st);
  if (st.isSymbolicLink()) {
    try {
      what += ` to ${readlinkSync(path)}`;
    } catch {
      // Its target is not needed to refuse it.
    }
  }
  throw new UserError(`cannot write ${path}: it is ${what}; samepage writes only a regular file or a new path ('-' for standard output)`);
}

/**
 * Creates the temp file. One left by a killed run with the same pid (or put there by someone
 * else) is removed and the file made anew: O_EXCL never follows a link planted in its place.
 */
async function createTemp(temp: string, mode: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    unlinkSync(temp);
    handle = await open(temp, 'wx', 0o600);
  }
  // The umask applied at creation; the replaced file's mode is what the user chose.
  await handle.chmod(mode);
  return handle;
}

/** The rename is durable only once the directory is on disk; failing that is not an error. */
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot fsync a directory: the file itself is flushed.
  }
}

async function writeToStream(stream: OutputStream, produce: (sink: OutputSink) => Promise<void>): Promise<number> {
  let failure: Error | null = null;
  // Kept after a failure: a late 'error' event (EPIPE) would otherwise end the process.
  const onError = (err: Error): void => {
    failure ??= err;
  };
  stream.on('error', onError);
  let written = 0;
  try {
    await produce({
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (failure !== null) return reject(failure);
          stream.write(chunk, (err) => {
            if (err) reject(err);
            else {
              written += chunk.length;
              resolve();
            }
          });
        }),
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (errnoCode(err) !== undefined) throw new UserError(`cannot write to standard output: ${describeError(err)}`);
    throw err;
  }
  if (failure === null) stream.off('error', onError);
  return written;
}
