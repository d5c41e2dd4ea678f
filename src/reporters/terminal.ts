/** Where text goes and what it may use there: its width, and whether the locale takes UTF-8. */

/** The width text is fitted to: COLUMNS when set (as ps and ls honour it), else the terminal's, else 80. */
export function outputWidth(env: NodeJS.ProcessEnv, stream: { isTTY?: boolean; columns?: number } | null): number {
  const columns = Number(env['COLUMNS']);
  if (Number.isSafeInteger(columns) && columns > 0) return columns;
  if (stream?.isTTY === true && typeof stream.columns === 'number' && stream.columns > 0) return stream.columns;
  return 80;
}

/** The locale's character set is UTF-8: LC_ALL, else LC_CTYPE, else LANG, as setlocale() decides; unset is the C locale. */
export function localeIsUtf8(env: NodeJS.ProcessEnv): boolean {
  const locale = env['LC_ALL'] || env['LC_CTYPE'] || env['LANG'] || '';
  return /utf-?8/i.test(locale);
}
