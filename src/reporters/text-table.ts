import { displayWidth, truncateTo } from './text-escape.js';

/** One column of a text table. Cells arrive escaped (text-escape.ts). */
export interface Column {
  header: string;
  align: 'left' | 'right';
  /** A name that may be shortened to fit, down to `min` columns; numbers never are. */
  shrink?: { min: number; from: 'end' | 'start' };
  /** When the table is still too wide, columns with a priority are left out, lowest first. */
  drop?: number;
}

export interface FittedTable {
  lines: string[];
  /** Headers of the columns left out to fit the width. */
  dropped: string[];
}

const GAP = 2;

/**
 * A compact table: a header, a rule under it and one line per row, no rule between rows, columns
 * two spaces apart. Fitted to `width`: names are shortened first, then the least needed columns
 * left out; a number is never cut.
 */
export function renderColumns(columns: readonly Column[], rows: readonly string[][], opts: { width: number; ascii: boolean }): FittedTable {
  let kept = columns.map((_, i) => i);
  let widths = fit(columns, rows, kept, opts.width);
  const dropped: string[] = [];
  while (widths === null) {
    const candidates = kept.filter((i) => columns[i]?.drop !== undefined);
    if (candidates.length === 0) break;
    const out = candidates.reduce((a, b) => ((columns[b]?.drop ?? 0) < (columns[a]?.drop ?? 0) ? b : a));
    kept = kept.filter((i) => i !== out);
    dropped.push(columns[out]?.header ?? '');
    widths = fit(columns, rows, kept, opts.width);
  }
  // Nothing left to shorten or leave out: the narrowest it gets.
  const final = widths ?? kept.map((i) => Math.max(displayWidth(columns[i]?.header ?? ''), columns[i]?.shrink?.min ?? natural(rows, i)));
  const rule = opts.ascii ? '-' : '─';
  const line = (cells: string[]): string =>
    cells
      .map((cell, k) => {
        const column = columns[kept[k] as number] as Column;
        const w = final[k] as number;
        const text = column.shrink === undefined ? cell : truncateTo(cell, w, opts.ascii, column.shrink.from);
        const pad = ' '.repeat(Math.max(0, w - displayWidth(text)));
        return column.align === 'right' ? pad + text : text + pad;
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  const lines = [
    line(kept.map((i) => columns[i]?.header ?? '')),
    line(final.map((w) => rule.repeat(w))),
    ...rows.map((row) => line(kept.map((i) => row[i] ?? ''))),
  ];
  return { lines, dropped };
}

function natural(rows: readonly string[][], i: number): number {
  let w = 0;
  for (const row of rows) w = Math.max(w, displayWidth(row[i] ?? ''));
  return w;
}

/** Widths of the kept columns that fit `width` by shortening names, or null when they cannot. */
function fit(columns: readonly Column[], rows: readonly string[][], kept: readonly number[], width: number): number[] | null {
  const widths = kept.map((i) => Math.max(displayWidth(columns[i]?.header ?? ''), natural(rows, i)));
  let excess = widths.reduce((a, b) => a + b, 0) + GAP * (kept.length - 1) - width;
  // Shorten the widest name first, a column at a time, never below its minimum or its header.
  while (excess > 0) {
    let widest = -1;
    kept.forEach((i, k) => {
      const c = columns[i] as Column;
      if (c.shrink === undefined) return;
      const floor = Math.max(c.shrink.min, displayWidth(c.header));
      if ((widths[k] as number) > floor && (widest < 0 || (widths[k] as number) > (widths[widest] as number))) widest = k;
    });
    if (widest < 0) return null;
    widths[widest] = (widths[widest] as number) - 1;
    excess--;
  }
  return widths;
}
