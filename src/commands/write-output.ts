import { closeSync, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError, errnoCode } from '../util/errors.js';
import type { Io } from './common.js';

/**
 * Where a report goes: stdout, or the file of --output. The one place samepage writes a report,
 * so that a stricter writer can take its place. A file is only ever a regular file (never a
 * device, a FIFO or through a symlink), written whole to a temporary file beside it and
 * renamed over it: a reader never sees half a report.
 */
export function writeOutput(file: string | null, data: string, io: Io): void {
  if (file === null) {
    io.stdout.write(data);
    return;
  }
  try {
    const st = lstatSync(file);
    if (!st.isFile()) throw new UserError(`${file}: not a regular file (${st.isSymbolicLink() ? 'a symbolic link' : 'a device, FIFO, socket or folder'}): samepage writes reports to regular files only`);
  } catch (err) {
    if (err instanceof UserError) throw err;
    if (errnoCode(err) !== 'ENOENT') throw new UserError(`${file}: cannot write: ${errnoCode(err) ?? (err as Error).message}`);
  }
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(temp, 'wx', 0o644);
    writeFileSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, file);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // Never created, or already renamed.
    }
    throw new UserError(`${file}: cannot write: ${errnoCode(err) ?? (err as Error).message}`);
  }
}
