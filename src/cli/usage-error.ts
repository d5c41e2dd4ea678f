/** Bad command-line input: one line, then "Try 'samepage --help'.", exit status 2. */
export class UsageError extends Error {}

/**
 * yargs' own messages in samepage's words: lower case, the flag as the user typed it, one line.
 * `args` tells an unknown option (--bogus) from an unexpected word.
 */
export function usageErrorOf(message: string, args: readonly string[]): UsageError {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown?.[1] !== undefined) {
    const first = unknown[1].split(', ')[0] ?? '';
    const typed = args.find((a) => a === `--${first}` || a.startsWith(`--${first}=`) || a === `-${first}`);
    return new UsageError(typed === undefined ? `unexpected argument '${first}'` : `unknown option '${typed.split('=')[0] ?? typed}'`);
  }
  const missing = /^Not enough arguments following: (.*)$/.exec(message);
  if (missing?.[1] !== undefined) return new UsageError(`${missing[1].length === 1 ? '-' : '--'}${missing[1]} needs a value`);
  return new UsageError((message.split('\n')[0] ?? message).replace(/^./, (c) => c.toLowerCase()));
}
