import { groupedReasons, isBenignSkip, type Skipped } from '../source/skipped.js';

/** What was not scanned and why, failures apart from sources that had nothing to read, then the warnings. */
export function skipLines(skipped: readonly Skipped[], warnings: readonly string[]): string[] {
  const lines: string[] = [];
  for (const line of groupedReasons(skipped.filter((k) => !isBenignSkip(k.kind)))) lines.push(`skipped ${line}`);
  for (const line of groupedReasons(skipped.filter((k) => isBenignSkip(k.kind)))) lines.push(`not scanned: ${line}`);
  for (const w of warnings) lines.push(`warning: ${w}`);
  return lines;
}
