import { getSystemErrorMap } from 'node:util';

/** Exit status for "not allowed to read that process's memory". */
export const EXIT_NO_PERMISSION = 3;

/** An error whose message is meant for the user as it is: the CLI prints it without a stack. */
export class UserError extends Error {
  constructor(
    message: string,
    /** Exit status the CLI uses for it. */
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * Why a source or region could not be read. Only 'failed' is a failure in itself: memory that
 * exists could not be read. 'exited' and 'unmapped' describe memory that is gone.
 */
export type SourceErrorKind = 'exited' | 'unmapped' | 'failed';

/** A region or process that could not be read: reported as a warning, the scan goes on. */
export class SourceError extends Error {
  constructor(
    message: string,
    /** 'exited': the whole process is gone; 'unmapped': the region went away under the scan. */
    readonly kind: SourceErrorKind = 'failed',
  ) {
    super(message);
    this.name = 'SourceError';
  }

  /** The whole process is gone (it exited), as opposed to one region failing. */
  get processGone(): boolean {
    return this.kind === 'exited';
  }
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

let errnoWords: Map<string, string> | null = null;
let errnoNames: Map<number, string> | null = null;

function loadErrnoTables(): void {
  if (errnoWords !== null) return;
  errnoWords = new Map();
  errnoNames = new Map();
  for (const [negative, [name, words]] of getSystemErrorMap()) {
    errnoWords.set(name, words);
    errnoNames.set(-negative, name);
  }
}

/** Where libuv's words read oddly to a user, strerror's. */
const PLAINER_WORDS: Record<string, string> = { EISDIR: 'is a directory', EIO: 'input/output error' };

/** An errno name (ENOSPC) in words with the code in brackets: "no space left on device (ENOSPC)". */
export function errnoWordsOf(code: string): string {
  loadErrnoTables();
  const words = PLAINER_WORDS[code] ?? errnoWords?.get(code);
  return words === undefined ? code : `${words} (${code})`;
}

/** A positive errno number from native code, as errnoWordsOf says it. */
export function errnoNumberWords(errno: number): string {
  loadErrnoTables();
  const name = errnoNames?.get(errno);
  return name === undefined ? `error ${errno}` : errnoWordsOf(name);
}

/** What went wrong with a system call, for a user: "permission denied (EACCES)", or the message. */
export function describeError(err: unknown): string {
  const code = errnoCode(err);
  if (code !== undefined && /^E[A-Z0-9]+$/.test(code)) return errnoWordsOf(code);
  return err instanceof Error ? err.message : String(err);
}
