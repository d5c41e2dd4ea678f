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

/** A region or process that could not be read: reported as a warning, the scan goes on. */
export class SourceError extends Error {
  constructor(
    message: string,
    /** The whole process is gone (it exited), as opposed to one region failing. */
    readonly processGone = false,
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
