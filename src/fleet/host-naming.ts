import { basename } from 'node:path';

/** Characters a host's name keeps in a Parquet partition's directory (host=NAME) and in Spark. */
const UNSAFE = /[^A-Za-z0-9._-]/g;

/**
 * One name per input: the hostname it recorded, made unique by its file's name when two inputs
 * recorded the same hostname (snapshots taken on one machine are still different hosts), and
 * by a number when even that collides. Names are safe as directory names: other characters
 * become '_'.
 */
export function uniqueHostNames(inputs: ReadonlyArray<{ hostname: string; file: string }>): string[] {
  const safe = (s: string): string => s.replace(UNSAFE, '_') || 'host';
  const counts = new Map<string, number>();
  for (const i of inputs) counts.set(safe(i.hostname), (counts.get(safe(i.hostname)) ?? 0) + 1);
  const taken = new Set<string>();
  return inputs.map((i) => {
    const host = safe(i.hostname);
    let name = (counts.get(host) ?? 0) > 1 ? `${host}-${safe(basename(i.file).replace(/\.[^.]*$/, ''))}` : host;
    const base = name;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}
