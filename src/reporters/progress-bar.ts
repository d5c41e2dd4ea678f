import ProgressBar from 'progress';
import type { ProgressReporter } from '../scan/scan.js';

/** A progress bar on stderr, in MiB read; only for a terminal, so pipes and CI logs stay clean. */
export function terminalProgress(stream: NodeJS.WriteStream): ProgressReporter | undefined {
  if (!stream.isTTY) return undefined;
  let bar: ProgressBar | null = null;
  let pending = 0;
  return {
    start(totalBytes) {
      const total = Math.max(1, Math.round(totalBytes / 1048576));
      bar = new ProgressBar('scanning [:bar] :current/:total MiB :percent :etas', { total, width: 30, stream, clear: true, renderThrottle: 100 });
    },
    advance(bytes) {
      pending += bytes;
      const mib = Math.floor(pending / 1048576);
      if (mib > 0 && bar !== null && !bar.complete) {
        pending -= mib * 1048576;
        bar.tick(Math.min(mib, bar.total - bar.curr));
      }
    },
    finish() {
      if (bar !== null && !bar.complete) bar.terminate();
    },
  };
}
