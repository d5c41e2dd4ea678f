import { type PageIndex, metaProcess } from '../index/page-index.js';

/** The histogram's last bucket: contents in this many mappings or more (max_page_sharing's default). */
export const SHARING_OR_MORE = 256;

/** Processes in the overlap matrix: a heatmap past this many cells is no longer read. */
export const OVERLAP_PROCESSES = 20;

/**
 * How widely contents are shared, beside the KSM model: contents by the number of mappings that
 * hold them, and which processes hold the same contents. Content statistics over every resident
 * page, like dupWithin and dupAcross, whatever KSM may merge.
 */
export interface ContentSharing {
  /** contents[m - 2]: contents found in exactly m mappings (m = 2..255); the last entry, 256 or more. */
  contents: Float64Array;
  /** The mappings (resident pages) of those contents, in the same buckets. */
  mappings: Float64Array;
  /** Mappings of zero-filled content (the zero page included): one content, kept apart. */
  zeroFilledMappings: number;
  /** The processes of the matrix, as indexes of the scan's sources: those with the most pages of shared content. */
  overlapProcesses: number[];
  /**
   * overlap[i * n + j]: distinct contents (not zero-filled) that processes i and j both hold;
   * overlap[i * n + i]: those process i holds at least twice.
   */
  overlap: Float64Array;
}

/**
 * Two passes over the runs of identical content of an index sorted by hash, with no allocation
 * per page or content: the first counts the histogram and each process's pages of shared
 * content, which picks the matrix's processes (an order-free measure: the first copy of a
 * content counts as much as the others); the second fills the matrix.
 */
export function measureSharing(index: PageIndex, zeroHash: { hi: number; lo: number }, processCount: number, limit = OVERLAP_PROCESSES): ContentSharing {
  const buckets = SHARING_OR_MORE - 1;
  const contents = new Float64Array(buckets);
  const mappings = new Float64Array(buckets);
  const sharedPages = new Float64Array(Math.max(1, processCount));
  const hh = index.hashHi;
  const hl = index.hashLo;
  const mt = index.meta;
  const total = index.length;
  let zeroFilledMappings = 0;

  for (let a = 0; a < total; ) {
    const b = runEnd(index, a);
    const m = b - a;
    if (hh[a] === zeroHash.hi && hl[a] === zeroHash.lo) {
      zeroFilledMappings += m;
    } else if (m > 1) {
      const bucket = Math.min(m, SHARING_OR_MORE) - 2;
      contents[bucket] = (contents[bucket] as number) + 1;
      mappings[bucket] = (mappings[bucket] as number) + m;
      for (let r = a; r < b; r++) {
        const p = metaProcess(mt[r] as number);
        sharedPages[p] = (sharedPages[p] as number) + 1;
      }
    }
    a = b;
  }

  const overlapProcesses = overlapProcessesOf(sharedPages, processCount, limit);
  return { contents, mappings, zeroFilledMappings, overlapProcesses, overlap: overlapMatrix(index, zeroHash, processCount, overlapProcesses) };
}

/** The matrix's processes: those with the most pages of shared content, at most `limit`. */
export function overlapProcessesOf(sharedPages: Float64Array, processCount: number, limit: number): number[] {
  const chosen: number[] = [];
  for (let p = 0; p < processCount; p++) if ((sharedPages[p] as number) > 0) chosen.push(p);
  chosen.sort((x, y) => (sharedPages[y] as number) - (sharedPages[x] as number) || x - y);
  return chosen.slice(0, limit);
}

function runEnd(index: PageIndex, a: number): number {
  const h1 = index.hashHi[a] as number;
  const h2 = index.hashLo[a] as number;
  let b = a + 1;
  while (b < index.length && index.hashHi[b] === h1 && index.hashLo[b] === h2) b++;
  return b;
}

/** Distinct non-zero contents held by each pair of the chosen processes (diagonal: held twice or more by one). */
function overlapMatrix(index: PageIndex, zeroHash: { hi: number; lo: number }, processCount: number, processes: readonly number[]): Float64Array {
  const n = processes.length;
  const overlap = new Float64Array(n * n);
  if (n === 0) return overlap;
  // The matrix slot of each process, -1 when it has none.
  const slot = new Int32Array(Math.max(1, processCount)).fill(-1);
  processes.forEach((p, k) => (slot[p] = k));
  // Per slot: the last content that touched it, and its mappings in that content.
  const lastContent = new Float64Array(n).fill(-1);
  const count = new Int32Array(n);
  const members = new Int32Array(n);
  const mt = index.meta;
  for (let a = 0, content = 0; a < index.length; content++) {
    const b = runEnd(index, a);
    if (b - a > 1 && !(index.hashHi[a] === zeroHash.hi && index.hashLo[a] === zeroHash.lo)) {
      let k = 0;
      for (let r = a; r < b; r++) {
        const s = slot[metaProcess(mt[r] as number)] as number;
        if (s < 0) continue;
        if (lastContent[s] !== content) {
          lastContent[s] = content;
          count[s] = 0;
          members[k++] = s;
        }
        count[s] = (count[s] as number) + 1;
      }
      for (let i = 0; i < k; i++) {
        const si = members[i] as number;
        if ((count[si] as number) > 1) overlap[si * n + si] = (overlap[si * n + si] as number) + 1;
        for (let j = i + 1; j < k; j++) {
          const sj = members[j] as number;
          overlap[si * n + sj] = (overlap[si * n + sj] as number) + 1;
          overlap[sj * n + si] = (overlap[sj * n + si] as number) + 1;
        }
      }
    }
    a = b;
  }
  return overlap;
}
