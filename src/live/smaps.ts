import type { SourceRegion } from '../source/memory-source.js';
import { classifyRegion } from '../source/mapping-kind.js';
import type { SmapsTable } from '../native/native-addon.js';

/** VmFlags as bits (native/shared_constants.h has the same). */
export const KSM_INCOMPATIBLE = 1; // sh ms pf io de ht mm dp: mm/ksm.c ksm_compatible() refuses the VMA
export const SPECIAL = 2; // pf io mm: mappings that hold no ordinary pages
export const SHARED = 4; // sh ms
export const MERGEABLE = 8; // mg: marked mergeable today

/** A VmFlags mnemonic as one number: its two characters' codes. */
const flag = (name: string): number => (name.charCodeAt(0) << 8) | name.charCodeAt(1);
const FLAG_BITS = new Map<number, number>([
  ...['sh', 'ms'].map((f): [number, number] => [flag(f), KSM_INCOMPATIBLE | SHARED]),
  ...['pf', 'io', 'mm'].map((f): [number, number] => [flag(f), KSM_INCOMPATIBLE | SPECIAL]),
  ...['de', 'ht', 'dp'].map((f): [number, number] => [flag(f), KSM_INCOMPATIBLE]),
  [flag('mg'), MERGEABLE],
]);

/**
 * Strings of their own for paths and permissions, shared by every region (and process) that
 * has the same one. A substring of the smaps text would keep the whole text alive (V8 slices
 * share their parent), which for Chromium is megabytes per process.
 */
const paths = new Map<string, string>();
function ownPath(path: string): string {
  let own = paths.get(path);
  if (own === undefined) {
    if (paths.size >= 50_000) paths.clear();
    own = Buffer.from(path, 'latin1').toString('latin1');
    paths.set(own, own);
  }
  return own;
}
const permsByCode = new Map<number, string>();
function permsOf(code: number): string {
  let perms = permsByCode.get(code);
  if (perms === undefined) {
    perms = String.fromCharCode(code >>> 24, (code >>> 16) & 255, (code >>> 8) & 255, code & 255);
    permsByCode.set(code, perms);
  }
  return perms;
}

/** A table's numbers per VMA. */
export const NUMBERS_PER_VMA = 5;

/** The regions of a table from the native reader: the same as parseSmaps of the text. */
export function regionsFromTable(table: SmapsTable, pageSize: number): SourceRegion[] {
  const regions: SourceRegion[] = [];
  const { numbers, vmFlags, perms, paths: names } = table;
  for (let i = 0; i < vmFlags.length; i++) {
    const path = names[i] ?? '';
    const at = NUMBERS_PER_VMA * i;
    const region = newRegion(numbers[at] as number, numbers[at + 1] as number, permsOf(perms[i] as number), numbers[at + 2] as number, numbers[at + 3] as number, path.length > 0 ? ownPath(path) : '');
    const rss = numbers[at + 4] as number;
    if (rss >= 0) region.residentPages = Math.ceil((rss * 1024) / pageSize);
    const bits = vmFlags[i] as number;
    if (bits >= 0) applyVmFlags(region, bits);
    regions.push(region);
  }
  return regions;
}

function newRegion(start: number, end: number, perms: string, offset: number, inode: number, path: string): SourceRegion {
  return {
    start,
    end,
    perms,
    offset,
    inode,
    path,
    kind: classifyRegion(path, perms.charCodeAt(3) === 0x73 /* s */, false),
    ksmCompatible: null,
    mergeableNow: null,
    residentPages: null,
  };
}

function applyVmFlags(region: SourceRegion, bits: number): void {
  region.kind = classifyRegion(region.path, (bits & SHARED) !== 0, (bits & SPECIAL) !== 0);
  const compatible = (bits & KSM_INCOMPATIBLE) === 0 && region.kind !== 'special';
  region.ksmCompatible = compatible;
  region.mergeableNow = (bits & MERGEABLE) !== 0 && compatible;
}

/** Largest address a JS number holds exactly; [vsyscall] lies above it and is skipped. */
export const MAX_ADDRESS = Number.MAX_SAFE_INTEGER;

const SPACE = 0x20;
const TAB = 0x09;

/**
 * Parses /proc/PID/smaps: one region per VMA with its resident size and VmFlags. Reads only a
 * VMA's header line, its Rss and its VmFlags; robust to spaces and " (deleted)" in names (the
 * path is everything after the inode column). It walks the text by character codes: Chromium's
 * smaps have tens of thousands of lines, and a string or regular-expression match per line
 * would be megabytes of garbage in a process that counts its memory.
 */
export function parseSmaps(text: string, pageSize: number): SourceRegion[] {
  const regions: SourceRegion[] = [];
  let current: SourceRegion | null = null;
  let line = 0;
  while (line < text.length) {
    let end = text.indexOf('\n', line);
    if (end === -1) end = text.length;
    const c = text.charCodeAt(line);
    const header = isLowerHex(c) ? parseHeader(text, line, end) : undefined;
    if (header !== undefined) {
      current = header;
      if (current !== null) regions.push(current);
    } else if (current !== null) {
      if (text.startsWith('Rss:', line)) {
        current.residentPages = Math.ceil((parseKb(text, line + 4, end) * 1024) / pageSize);
      } else if (text.startsWith('VmFlags:', line)) {
        applyVmFlags(current, vmFlagBits(text, line + 8, end));
      }
    }
    line = end + 1;
  }
  return regions;
}

/**
 * "start-end perms offset dev inode   path" (the regular expression
 * /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*([^\n]*)$/, with no number wider
 * than 64 bits, and the path the rest of the line: the kernel escapes only newlines in it):
 * the region, null when the VMA lies above MAX_ADDRESS, undefined when the line is not one.
 */
function parseHeader(text: string, from: number, end: number): SourceRegion | null | undefined {
  let i = from;
  const startTo = hexRunEnd(text, i, end);
  if (startTo === i || text.charCodeAt(startTo) !== 0x2d /* - */) return undefined;
  const start = hexValueOf(text, i, startTo);
  i = startTo + 1;
  const stopTo = hexRunEnd(text, i, end);
  if (stopTo === i || text.charCodeAt(stopTo) !== SPACE) return undefined;
  const stop = hexValueOf(text, i, stopTo);
  i = stopTo + 1;
  // Permissions: exactly four characters that are not white space.
  let permsCode = 0;
  for (let k = 0; k < 4; k++, i++) {
    const p = text.charCodeAt(i);
    if (i >= end || isSpace(p)) return undefined;
    permsCode = permsCode * 256 + p; // stays below 2^32: Latin-1 codes
  }
  if (text.charCodeAt(i++) !== SPACE) return undefined;
  const offsetTo = hexRunEnd(text, i, end);
  if (offsetTo === i || text.charCodeAt(offsetTo) !== SPACE) return undefined;
  const offset = hexValueOf(text, i, offsetTo);
  i = offsetTo + 1;
  const devFrom = i;
  while (i < end && !isSpace(text.charCodeAt(i))) i++;
  if (i === devFrom || text.charCodeAt(i++) !== SPACE) return undefined;
  const inodeFrom = i;
  while (i < end && isDigit(text.charCodeAt(i))) i++;
  if (i === inodeFrom || i - inodeFrom > 20) return undefined; // an inode is 64 bits
  const inode = decimalValueOf(text, inodeFrom, i);
  if (stop > MAX_ADDRESS) return null;
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  const path = i < end ? ownPath(text.slice(i, end)) : '';
  return newRegion(start, stop, permsOf(permsCode), offset, inode, path);
}

/** Where a run of hexadecimal digits from `from` ends; `from` for none or more than 16 (64 bits). */
function hexRunEnd(text: string, from: number, end: number): number {
  let i = from;
  while (i < end && isLowerHex(text.charCodeAt(i))) i++;
  return i - from > 16 ? from : i;
}

/**
 * Digits as the nearest double, as parseInt and Number give it: summed exactly while below
 * 2^53, else converted by them (a file offset or an NFS inode can pass 2^53).
 */
function hexValueOf(text: string, from: number, to: number): number {
  if (to - from > 13) return parseInt(text.slice(from, to), 16);
  let v = 0;
  for (let i = from; i < to; i++) v = v * 16 + hexValue(text.charCodeAt(i));
  return v;
}

function decimalValueOf(text: string, from: number, to: number): number {
  if (to - from > 15) return Number(text.slice(from, to));
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (text.charCodeAt(i) - 0x30);
  return v;
}

/** The bits of the two-letter mnemonics after "VmFlags:", judged without making a string of any. */
function vmFlagBits(text: string, from: number, end: number): number {
  let bits = 0;
  let i = from;
  for (;;) {
    while (i < end && isSpace(text.charCodeAt(i))) i++;
    if (i >= end) break;
    const wordFrom = i;
    while (i < end && !isSpace(text.charCodeAt(i))) i++;
    if (i - wordFrom !== 2) continue;
    bits |= FLAG_BITS.get((text.charCodeAt(wordFrom) << 8) | text.charCodeAt(wordFrom + 1)) ?? 0;
  }
  return bits;
}

/** The first number followed by "kB" (as /(\d+)\s*kB/), or 0. */
function parseKb(text: string, from: number, end: number): number {
  let i = from;
  while (i < end && !isDigit(text.charCodeAt(i))) i++;
  let kb = 0;
  let digits = 0;
  for (; i < end && isDigit(text.charCodeAt(i)); i++, digits++) kb = kb * 10 + (text.charCodeAt(i) - 0x30);
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  return digits > 0 && text.startsWith('kB', i) && i + 2 <= end ? kb : 0;
}

function isLowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** White space as a regular expression's \s sees it in Latin-1 text. */
function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= 0x0d) || c === 0xa0;
}
