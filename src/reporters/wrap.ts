import { displayWidth } from './text-escape.js';

/** A word, with the unit after a number ("697 KiB"): a size is never split over two lines. */
const WORD = /( *)([^ ]+(?: (?:B|KiB|MiB|GiB|TiB|PiB)(?=[ ,;:)]|$)[^ ]*)?)/g;

/**
 * Breaks a line at spaces to fit `width` columns; lines after the first start with `indent`
 * spaces. Spacing within a line (alignment) is kept. A word longer than a line stays whole: a
 * number or a path is never cut.
 */
export function wrapLine(line: string, width: number, indent = 0): string[] {
  if (displayWidth(line) <= width) return [line];
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  let current = '';
  let currentWidth = 0;
  let started = false;
  for (const [, space = '', word = ''] of line.matchAll(WORD)) {
    const w = displayWidth(word);
    if (started && currentWidth + space.length + w > width) {
      out.push(current);
      current = pad + word;
      currentWidth = indent + w;
      continue;
    }
    current += space + word;
    currentWidth += space.length + w;
    started = true;
  }
  out.push(current);
  return out;
}
