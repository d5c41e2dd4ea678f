// Errors in a user's words (src/util/errors.ts): errno codes as strerror says them with the code
// in brackets, native errno numbers, and the two error classes the command line prints without
// a stack (UserError: bad input; SourceError: a source or region that could not be read).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT_NO_PERMISSION, SourceError, UserError, describeError, errnoCode, errnoNumberWords, errnoWordsOf } from '../../src/util/errors.js';

/** The error Node throws for this call. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('errnoWordsOf and errnoNumberWords', () => {
  it('says an errno name in words, the name in brackets', () => {
    expect(errnoWordsOf('ENOENT')).toBe('no such file or directory (ENOENT)');
    expect(errnoWordsOf('EACCES')).toBe('permission denied (EACCES)');
    expect(errnoWordsOf('ENOSPC')).toBe('no space left on device (ENOSPC)');
    expect(errnoWordsOf('EROFS')).toBe('read-only file system (EROFS)');
  });

  it("uses strerror's words where libuv's read oddly", () => {
    expect(errnoWordsOf('EISDIR')).toBe('is a directory (EISDIR)');
    expect(errnoWordsOf('EIO')).toBe('input/output error (EIO)');
  });

  it('leaves a name it does not know as it is', () => {
    expect(errnoWordsOf('ENOTACODE')).toBe('ENOTACODE');
  });

  it('names a positive errno number from native code, or says which number it was', () => {
    expect(errnoNumberWords(2)).toBe('no such file or directory (ENOENT)');
    expect(errnoNumberWords(13)).toBe('permission denied (EACCES)');
    expect(errnoNumberWords(3)).toBe('no such process (ESRCH)');
    expect(errnoNumberWords(99999)).toBe('error 99999');
  });
});

describe('describeError', () => {
  it("words a system call's error from its code", () => {
    expect(describeError(thrown(() => readFileSync('/nonexistent/samepage-test')))).toBe('no such file or directory (ENOENT)');
    expect(describeError(thrown(() => readFileSync('/')))).toBe('is a directory (EISDIR)');
    expect(errnoCode(thrown(() => readFileSync('/')))).toBe('EISDIR');
  });

  it("keeps the message of an error whose code is not an errno name (Node's ERR_*), or of none", () => {
    const err = Object.assign(new Error('the argument is invalid'), { code: 'ERR_INVALID_ARG_TYPE' });
    expect(describeError(err)).toBe('the argument is invalid');
    expect(describeError(new Error('plain'))).toBe('plain');
    expect(describeError('a string')).toBe('a string');
    expect(describeError(null)).toBe('null');
    expect(errnoCode('a string')).toBeUndefined();
  });
});

describe('UserError and SourceError', () => {
  it('a UserError exits 2 unless told otherwise (3: no permission)', () => {
    expect(new UserError('bad').exitCode).toBe(2);
    expect(new UserError('denied', EXIT_NO_PERMISSION).exitCode).toBe(3);
    expect(new UserError('bad').name).toBe('UserError');
  });

  it('a SourceError says whether the whole process is gone', () => {
    expect(new SourceError('x').kind).toBe('failed');
    expect(new SourceError('x', 'exited').processGone).toBe(true);
    expect(new SourceError('x', 'unmapped').processGone).toBe(false);
    expect(new SourceError('x', 'failed').processGone).toBe(false);
  });
});
