import { closeSync, openSync, readFileSync } from 'node:fs';
import type { PageBatch, PageSink, ProcessInfo, RegionTally, SourceRegion } from '../source/memory-source.js';
import { EXIT_NO_PERMISSION, SourceError, UserError, describeError, errnoCode } from '../util/errors.js';
import { permissionMessage } from './ptrace-denial.js';

/**
 * One live process opened for reading: its pagemap and mem files, read-only, and what a reader
 * says when a read fails. Both region readers (JavaScript and native) read through it.
 */
export class LiveProcess {
  readonly pagemapFd: number;
  readonly memFd: number;

  constructor(
    readonly info: ProcessInfo,
    readonly pageSize: number,
    /** PFNs are only shown to CAP_SYS_ADMIN: without them fork-shared pages cannot be told apart. */
    readonly hasPhysicalInfo: boolean,
    /** Threads a reader may use for this process's pages. */
    readonly threads: number,
  ) {
    this.pagemapFd = openProc(info.pid, 'pagemap');
    try {
      this.memFd = openProc(info.pid, 'mem');
    } catch (err) {
      closeSync(this.pagemapFd);
      throw err;
    }
  }

  /**
   * A read of the region failed: why, as an error the scan understands. ESRCH or a zombie: the
   * process exited; EOF, EFAULT, EIO: the region went away; anything else: it could not be read.
   */
  readFailed(region: SourceRegion, why: string): never {
    if (why === 'ESRCH' || this.exited()) throw new SourceError(`pid ${this.info.pid} exited during the scan`, 'exited');
    if (why === 'EOF' || why === 'EFAULT' || why === 'EIO') throw new SourceError(`${describeRegion(region)} was unmapped during the scan`, 'unmapped');
    throw new SourceError(`cannot read ${describeRegion(region)}: ${why}`);
  }

  /** Whether the process has exited (a zombie has no memory left to read). */
  exited(): boolean {
    try {
      const stat = readFileSync(`/proc/${this.info.pid}/stat`, 'latin1');
      const state = stat.charAt(stat.lastIndexOf(')') + 2);
      return state === 'Z' || state === 'X';
    } catch {
      return true;
    }
  }

  close(): void {
    closeSync(this.memFd);
    closeSync(this.pagemapFd);
  }
}

/**
 * Reads the present pages of one region of a live process into the sink: in JavaScript
 * (src/live/js-region-reader.ts) or in native code (src/live/native-region-reader.ts). The
 * engine (src/engine/) chooses which.
 */
export interface LiveRegionReader {
  read(process: LiveProcess, region: SourceRegion, sink: PageSink, batch: PageBatch, tally: RegionTally): RegionTally;
}

export function describeRegion(region: SourceRegion): string {
  const name = region.path === '' ? 'anonymous' : region.path;
  return `region ${region.start.toString(16)}-${region.end.toString(16)} (${name})`;
}

/** A read of a /proc file of the process failed: it exited, or the read itself failed. */
export function processGone(pid: number, err: unknown): SourceError {
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ESRCH') return new SourceError(`pid ${pid} exited during the scan`, 'exited');
  return new SourceError(`pid ${pid}: ${describeError(err)}`);
}

function openProc(pid: number, file: 'pagemap' | 'mem'): number {
  try {
    return openSync(`/proc/${pid}/${file}`, 'r');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ESRCH') throw new SourceError(`pid ${pid} exited before it could be read`, 'exited');
    if (code === 'EACCES' || code === 'EPERM') throw new UserError(permissionMessage(pid, file), EXIT_NO_PERMISSION);
    throw new SourceError(`pid ${pid}: cannot open /proc/${pid}/${file}: ${describeError(err)}`);
  }
}
