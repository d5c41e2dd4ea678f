import type { ProgressReporter } from '../scan/scan.js';

/** What the bar writes to: a terminal (stderr). */
export interface BarStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const UP = '\u001b[1A';
const CLEAR_LINE = '\r\u001b[2K';

/**
 * A progress bar on stderr, in MiB read; only for a terminal, so pipes and CI logs stay clean.
 *
 * The bar is drawn on the line above the cursor, and every drawing ends with a newline: the
 * line is always finished. The read runs synchronously, so no signal handler could run before
 * Ctrl-C ends the process; this way the shell's prompt still starts on a line of its own,
 * whatever ends samepage. When the scan is done the bar is erased.
 */
export function terminalProgress(stream: BarStream, ascii = false): ProgressReporter | undefined {
  if (stream.isTTY !== true) return undefined;
  let total = 1;
  let done = 0;
  let drawn = false;
  let lastDraw = 0;
  let began = 0;
  const draw = (): void => {
    const mib = (n: number): number => Math.floor(n / 1048576);
    const fraction = Math.min(1, done / total);
    const elapsed = (Date.now() - began) / 1000;
    const eta = fraction > 0 && fraction < 1 ? ` ${Math.round((elapsed * (1 - fraction)) / fraction)}s left` : '';
    const text = ` ${mib(done)}/${mib(total)} MiB ${Math.floor(fraction * 100)}%${eta}`;
    const columns = Math.max(20, (stream.columns || 80) - 1);
    const width = Math.max(5, Math.min(30, columns - 'scanning []'.length - text.length));
    const filled = Math.round(fraction * width);
    const line = `scanning [${(ascii ? '=' : '█').repeat(filled)}${(ascii ? ' ' : '░').repeat(width - filled)}]${text}`;
    // A line wider than the terminal would wrap, and the cursor would no longer be below the bar.
    stream.write(`${drawn ? UP : ''}${CLEAR_LINE}${line.slice(0, columns)}\n`);
    drawn = true;
    lastDraw = Date.now();
  };
  return {
    start(totalBytes) {
      total = Math.max(1, totalBytes);
      began = Date.now();
      draw();
    },
    advance(bytes) {
      done += bytes;
      if (Date.now() - lastDraw >= 100) draw();
    },
    finish() {
      if (drawn) stream.write(`${UP}${CLEAR_LINE}`);
      drawn = false;
    },
  };
}
