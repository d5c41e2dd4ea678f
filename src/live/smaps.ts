import type { SourceRegion } from '../source/memory-source.js';
import { classifyRegion } from '../source/mapping-kind.js';

/** A VmFlags mnemonic as one number: its two characters' codes. */
const flag = (name: string): number => (name.charCodeAt(0) << 8) | name.charCodeAt(1);

/** VmFlags that make KSM ignore a VMA (mm/ksm.c ksm_compatible(): shared, PFN/IO/mixed maps, hugetlb, ...). */
const KSM_INCOMPATIBLE_FLAGS = new Set(['sh', 'ms', 'pf', 'io', 'de', 'ht', 'mm', 'dp'].map(flag));
/** VmFlags of mappings that hold no ordinary pages. */
const SPECIAL_FLAGS = new Set(['pf', 'io', 'mm'].map(flag));
const SHARED_FLAGS = new Set(['sh', 'ms'].map(flag));
const MERGEABLE_FLAG = flag('mg');

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

/** Largest address a JS number holds exactly; [vsyscall] lies above it and is skipped. */
const MAX_ADDRESS = Number.MAX_SAFE_INTEGER;

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
        applyVmFlags(current, text, line + 8, end);
      }
    }
    line = end + 1;
  }
  return regions;
}

/**
 * "start-end perms offset dev inode   path" (the regular expression
 * /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/): the region, null when
 * the VMA lies above MAX_ADDRESS, undefined when the line is not a header.
 */
function parseHeader(text: string, from: number, end: number): SourceRegion | null | undefined {
  let i = from;
  let start = 0;
  let startDigits = 0;
  for (; i < end && isLowerHex(text.charCodeAt(i)); i++, startDigits++) start = start * 16 + hexValue(text.charCodeAt(i));
  if (startDigits === 0 || text.charCodeAt(i++) !== 0x2d /* - */) return undefined;
  let stop = 0;
  let stopDigits = 0;
  for (; i < end && isLowerHex(text.charCodeAt(i)); i++, stopDigits++) stop = stop * 16 + hexValue(text.charCodeAt(i));
  if (stopDigits === 0 || text.charCodeAt(i++) !== SPACE) return undefined;
  // Permissions: exactly four characters that are not white space.
  const permsFrom = i;
  let permsCode = 0;
  for (let k = 0; k < 4; k++, i++) {
    const p = text.charCodeAt(i);
    if (i >= end || isSpace(p)) return undefined;
    permsCode = permsCode * 256 + p;
  }
  if (text.charCodeAt(i++) !== SPACE) return undefined;
  let offset = 0;
  let offsetDigits = 0;
  for (; i < end && isLowerHex(text.charCodeAt(i)); i++, offsetDigits++) offset = offset * 16 + hexValue(text.charCodeAt(i));
  if (offsetDigits === 0 || text.charCodeAt(i++) !== SPACE) return undefined;
  const devFrom = i;
  while (i < end && !isSpace(text.charCodeAt(i))) i++;
  if (i === devFrom || text.charCodeAt(i++) !== SPACE) return undefined;
  let inode = 0;
  let inodeDigits = 0;
  for (; i < end && isDigit(text.charCodeAt(i)); i++, inodeDigits++) inode = inode * 10 + (text.charCodeAt(i) - 0x30);
  if (inodeDigits === 0) return undefined;
  if (stop > MAX_ADDRESS) return null;
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  const path = i < end ? ownPath(text.slice(i, end)) : '';
  let perms = permsByCode.get(permsCode);
  if (perms === undefined) {
    perms = Buffer.from(text.slice(permsFrom, permsFrom + 4), 'latin1').toString('latin1');
    permsByCode.set(permsCode, perms);
  }
  return {
    start,
    end: stop,
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

/** The two-letter mnemonics after "VmFlags:", judged without making a string of any. */
function applyVmFlags(region: SourceRegion, text: string, from: number, end: number): void {
  let compatible = true;
  let special = false;
  let shared = false;
  let mergeable = false;
  let i = from;
  for (;;) {
    while (i < end && isSpace(text.charCodeAt(i))) i++;
    if (i >= end) break;
    const wordFrom = i;
    while (i < end && !isSpace(text.charCodeAt(i))) i++;
    if (i - wordFrom !== 2) continue;
    const f = (text.charCodeAt(wordFrom) << 8) | text.charCodeAt(wordFrom + 1);
    if (KSM_INCOMPATIBLE_FLAGS.has(f)) compatible = false;
    if (SPECIAL_FLAGS.has(f)) special = true;
    if (SHARED_FLAGS.has(f)) shared = true;
    if (f === MERGEABLE_FLAG) mergeable = true;
  }
  region.kind = classifyRegion(region.path, shared, special);
  if (region.kind === 'special') compatible = false;
  region.ksmCompatible = compatible;
  region.mergeableNow = mergeable && compatible;
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
