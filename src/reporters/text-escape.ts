/**
 * Text from processes (names, command lines, labels) on its way to a terminal or a document.
 * A comm may hold an escape sequence or a newline: as ps does, every character that does not
 * print is shown as '?', so a name can neither drive the terminal nor break a line or a table.
 * JSON and CSV keep the data exact; this is for text people read.
 */

/** C0 and C1 controls (tab, newline, ESC, CSI), format characters (bidi overrides, zero-width), line and paragraph separators, lone surrogates. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const NON_ASCII_OR_CONTROL = /[^\x20-\x7e]/gu;

/** One line of text, safe to print: '?' for each character that does not print (and, in ASCII, for each non-ASCII one, as ps does in the C locale). */
export function escapeLine(text: string, ascii = false): string {
  return text.replace(ascii ? NON_ASCII_OR_CONTROL : NON_PRINTABLE, '?');
}

const COMBINING = /[\p{Mn}\p{Me}]/u;

/** Terminal columns a code point takes: 0 for combining marks, 2 for East Asian wide ones and emoji. */
function charWidth(cp: number, ch: string): number {
  if (COMBINING.test(ch)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Columns an escaped line takes on a terminal. */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text) w += charWidth(ch.codePointAt(0) ?? 0, ch);
  return w;
}

/**
 * At most `width` columns: cut, with a mark that says so ('…', or '+' in ASCII as top does).
 * From the end for a name; from the start for a path, whose end says most.
 */
export function truncateTo(text: string, width: number, ascii: boolean, from: 'end' | 'start' = 'end'): string {
  if (displayWidth(text) <= width) return text;
  const mark = ascii ? '+' : '…';
  const chars = [...text];
  if (from === 'start') chars.reverse();
  let kept = '';
  let w = 0;
  for (const ch of chars) {
    const cw = charWidth(ch.codePointAt(0) ?? 0, ch);
    if (w + cw > width - 1) break;
    kept = from === 'start' ? ch + kept : kept + ch;
    w += cw;
  }
  return from === 'start' ? `${mark}${kept}` : `${kept}${mark}`;
}
