import { SourceError, UserError } from '../util/errors.js';
import type { ByteSource } from './byte-source.js';

// The layout of an ELF64 little-endian core (x86_64, aarch64): its PT_LOAD segments and what its
// notes say about the process. Every count and size is checked against the content's size and
// fixed limits before anything is allocated for it.

/** QEMU's dump-guest-memory says EM_386 in an ELF64 dump of an x86 guest not in long mode. */
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
const ET_CORE = 4;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PN_XNUM = 0xffff;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

const NT_PRSTATUS = 1;
const NT_PRPSINFO = 3;
const NT_AUXV = 6;
const NT_FILE = 0x46494c45;
const AT_SYSINFO_EHDR = 33;

const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
/** Far beyond any real process (vm.max_map_count is 65530 by default) or VM. */
export const MAX_SEGMENTS = 1 << 22;
/** The kernel caps NT_FILE at a few MiB (core_file_note_size_limit). */
const MAX_FILE_NOTE = 64 << 20;
const MAX_AUXV_NOTE = 1 << 16;
const MAX_NOTE_NAME = 4096;
/** A thread has a handful of notes; even 65536 threads stay far below this. */
const MAX_NOTES = 1 << 22;
/** struct elf_prstatus: pr_pid follows pr_info (12), pr_cursig (2+2), pr_sigpend (8), pr_sighold (8). */
const PRSTATUS_PID = 32;
/** struct elf_prpsinfo (64-bit): pr_pid at 24, pr_fname[16] at 40, pr_psargs[80] at 56. */
const PRPSINFO_PID = 24;
const PRPSINFO_FNAME = 40;
const PRPSINFO_PSARGS = 56;
const PRPSINFO_SIZE = 136;

export interface CoreSegment {
  /** Index in the program header table. */
  index: number;
  vaddr: number;
  paddr: number;
  memsz: number;
  offset: number;
  filesz: number;
  flags: number;
  align: number;
}

export interface MappedFiles {
  starts: Float64Array;
  ends: Float64Array;
  /** File offsets in bytes. */
  offsets: Float64Array;
  names: string[];
  /** NT_FILE's page_size when it is a page size (gdb writes 1: offsets in bytes). */
  pageSize: number | null;
}

export interface CoreLayout {
  machine: number;
  segments: CoreSegment[];
  /** NT_PRPSINFO, null when absent (a VM dump). */
  psinfo: { pid: number; fname: string; psargs: string } | null;
  /** pr_pid of the first NT_PRSTATUS (the thread that dumped), null when absent. */
  prstatusPid: number | null;
  files: MappedFiles | null;
  /** The vDSO's address from NT_AUXV (AT_SYSINFO_EHDR), null when absent. */
  vdso: number | null;
}

/** Reads the ELF header, the program headers and the notes. Throws UserError naming the file. */
export function parseCore(src: ByteSource): CoreLayout {
  try {
    return parse(src);
  } catch (err) {
    // Corrupt compressed data met while reading the headers: the file cannot be opened.
    if (err instanceof SourceError) throw new UserError(err.message);
    throw err;
  }
}

function parse(src: ByteSource): CoreLayout {
  const path = src.path;
  const bad = (what: string): UserError => new UserError(`${path}: ${what}`);
  const limit = src.maxSize;
  const endWord = src.sizeExact ? `the end of the file (${limit} bytes)` : `the end of the decompressed content (at most ${limit} bytes)`;

  const eh = Buffer.alloc(EHDR_SIZE);
  const got = readAt(src, eh, EHDR_SIZE, 0);
  if (got < 4 || eh.readUInt32BE(0) !== 0x7f454c46) throw bad(got === 0 ? 'not an ELF file (it is empty)' : 'not an ELF file (no ELF magic number)');
  if (got < 6) throw bad('truncated in the ELF header');
  const cls = eh[4] as number;
  if (cls === 1) throw bad('a 32-bit ELF file (ELFCLASS32): only 64-bit cores are supported');
  if (cls !== 2) throw bad(`not a valid ELF file (class ${cls})`);
  const data = eh[5] as number;
  if (data === 2) throw bad('a big-endian ELF file: only little-endian cores (x86_64, aarch64) are supported');
  if (data !== 1) throw bad(`not a valid ELF file (data encoding ${data})`);
  if (got < EHDR_SIZE) throw bad(`truncated in the ELF header (${got} of ${EHDR_SIZE} bytes)`);
  const type = eh.readUInt16LE(16);
  if (type !== ET_CORE) throw bad(`not a core dump (ELF type ${type}: ${ELF_TYPES[type] ?? 'unknown'})`);
  const machine = eh.readUInt16LE(18);
  if (machine !== EM_X86_64 && machine !== EM_AARCH64 && machine !== EM_386) throw bad(`unsupported machine ${machine} (only x86_64 and aarch64 cores are supported)`);
  const phoff = u64(eh, 32);
  const shoff = u64(eh, 40);
  const phentsize = eh.readUInt16LE(54);
  let phnum = eh.readUInt16LE(56);
  const shentsize = eh.readUInt16LE(58);

  if (phnum === PN_XNUM) {
    // More than 65534 segments: the real count is sh_info of section header 0.
    if (shentsize < 64) throw bad(`program header count in section header 0, but the section header size is ${shentsize}`);
    if (shoff < EHDR_SIZE || shoff + 64 > limit) throw bad(`section header 0 at offset ${u64Text(eh, 40)} lies past ${endWord}`);
    const sh = Buffer.alloc(64);
    if (readAt(src, sh, 64, shoff) < 64) throw bad('truncated in section header 0');
    phnum = sh.readUInt32LE(44);
  }
  if (phnum > 0) {
    if (phentsize !== PHDR_SIZE) throw bad(`program header size ${phentsize} (ELF64 has ${PHDR_SIZE})`);
    if (phnum > MAX_SEGMENTS) throw bad(`absurd program header count ${phnum} (at most ${MAX_SEGMENTS})`);
    if (phoff < EHDR_SIZE) throw bad(`program headers at offset ${u64Text(eh, 32)} overlap the ELF header`);
    if (phoff + phnum * PHDR_SIZE > limit) throw bad(`truncated in the program headers: ${phnum} headers at offset ${u64Text(eh, 32)} run past ${endWord}`);
  }

  // Program headers, read in chunks through one small buffer.
  const segments: CoreSegment[] = [];
  const notes: CoreSegment[] = [];
  const perChunk = 1024;
  const ph = Buffer.alloc(perChunk * PHDR_SIZE);
  for (let first = 0; first < phnum; first += perChunk) {
    const n = Math.min(perChunk, phnum - first);
    const at = phoff + first * PHDR_SIZE;
    if (readAt(src, ph, n * PHDR_SIZE, at) < n * PHDR_SIZE) throw bad(`truncated in the program headers (the file ends inside header ${first} to ${first + n - 1})`);
    for (let k = 0; k < n; k++) {
      const o = k * PHDR_SIZE;
      const pType = ph.readUInt32LE(o);
      if (pType !== PT_LOAD && pType !== PT_NOTE) continue;
      const seg: CoreSegment = {
        index: first + k,
        flags: ph.readUInt32LE(o + 4),
        offset: u64(ph, o + 8),
        vaddr: u64(ph, o + 16),
        paddr: u64(ph, o + 24),
        filesz: u64(ph, o + 32),
        memsz: u64(ph, o + 40),
        align: u64(ph, o + 48),
      };
      const what = `${pType === PT_NOTE ? 'note segment' : 'segment'} ${seg.index}`;
      if (seg.filesz > 0 && (seg.offset > limit || seg.filesz > limit || seg.offset + seg.filesz > limit)) {
        throw bad(`${what}: ${u64Text(ph, o + 32)} bytes at offset ${u64Text(ph, o + 8)} run past ${endWord}: the core is truncated or corrupt`);
      }
      if (pType === PT_NOTE) notes.push(seg);
      else {
        if (seg.filesz > seg.memsz) throw bad(`${what}: ${u64Text(ph, o + 32)} bytes in the file but only ${u64Text(ph, o + 40)} in memory`);
        segments.push(seg);
      }
    }
  }

  // Data ranges must not overlap: the content is then read once, forward, segment by segment.
  const byOffset = segments.filter((s) => s.filesz > 0).sort((a, b) => a.offset - b.offset || a.index - b.index);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1] as CoreSegment;
    const cur = byOffset[i] as CoreSegment;
    if (cur.offset < prev.offset + prev.filesz) throw bad(`segments ${prev.index} and ${cur.index} overlap in the file (offsets ${prev.offset} and ${cur.offset})`);
  }

  const layout: CoreLayout = { machine, segments, psinfo: null, prstatusPid: null, files: null, vdso: null };
  notes.sort((a, b) => a.offset - b.offset || a.index - b.index);
  for (const seg of notes) readNotes(src, seg, layout, bad);
  if (machine === EM_386 && (layout.psinfo !== null || layout.files !== null)) {
    throw bad('unsupported machine 3 (i386) in a process core: only x86_64 and aarch64 cores are supported');
  }
  return layout;
}

/** Reads one PT_NOTE segment's notes; only NT_PRSTATUS, NT_PRPSINFO, NT_FILE and NT_AUXV are kept. */
function readNotes(src: ByteSource, seg: CoreSegment, layout: CoreLayout, bad: (what: string) => UserError): void {
  // Linux writes 4-byte aligned notes in 64-bit cores; 8 only where the segment says so.
  const align = seg.align === 8 ? 8 : 4;
  const end = seg.offset + seg.filesz;
  const nh = Buffer.alloc(12);
  const name = Buffer.alloc(MAX_NOTE_NAME);
  const cached = new CachedReader(src);
  let at = seg.offset;
  let count = 0;
  while (at + 12 <= end) {
    if (count >= MAX_NOTES) throw bad(`note segment ${seg.index}: absurd number of notes (over ${MAX_NOTES})`);
    if (cached.read(nh, 12, at) < 12) throw bad(`truncated in a note (note segment ${seg.index}, offset ${at})`);
    const namesz = nh.readUInt32LE(0);
    const descsz = nh.readUInt32LE(4);
    const type = nh.readUInt32LE(8);
    const where = `note ${count} of note segment ${seg.index} (offset ${at})`;
    if (namesz > MAX_NOTE_NAME) throw bad(`${where}: absurd name size ${namesz}`);
    const nameAt = at + 12;
    const descAt = nameAt + roundUp(namesz, align);
    const next = descAt + roundUp(descsz, align);
    if (descAt + descsz > end) throw bad(`${where}: its ${descsz}-byte contents run past the end of the note segment: absurd note size or truncated core`);
    if (cached.read(name, namesz, nameAt) < namesz) throw bad(`truncated in a note (${where})`);
    const owner = name.toString('latin1', 0, namesz).replace(/\0+$/, '');
    if (owner === 'CORE') {
      if (type === NT_PRSTATUS && layout.prstatusPid === null && descsz >= PRSTATUS_PID + 4) {
        const d = readDesc(cached, descAt, PRSTATUS_PID + 4, where, bad);
        layout.prstatusPid = d.readInt32LE(PRSTATUS_PID);
      } else if (type === NT_PRPSINFO && layout.psinfo === null) {
        if (descsz < PRPSINFO_SIZE) throw bad(`${where}: NT_PRPSINFO of ${descsz} bytes (a 64-bit one has ${PRPSINFO_SIZE})`);
        const d = readDesc(cached, descAt, PRPSINFO_SIZE, where, bad);
        layout.psinfo = {
          pid: d.readInt32LE(PRPSINFO_PID),
          fname: cString(d, PRPSINFO_FNAME, 16),
          psargs: cString(d, PRPSINFO_PSARGS, 80).trimEnd(),
        };
      } else if (type === NT_FILE && layout.files === null) {
        if (descsz > MAX_FILE_NOTE) throw bad(`${where}: absurd NT_FILE size ${descsz} (at most ${MAX_FILE_NOTE})`);
        layout.files = parseFileNote(readDesc(cached, descAt, descsz, where, bad), where, bad);
      } else if (type === NT_AUXV && layout.vdso === null && descsz <= MAX_AUXV_NOTE) {
        const d = readDesc(cached, descAt, descsz, where, bad);
        for (let o = 0; o + 16 <= descsz; o += 16) {
          if (u64(d, o) === AT_SYSINFO_EHDR) {
            layout.vdso = u64(d, o + 8);
            break;
          }
        }
      }
    }
    count++;
    if (next <= at) break;
    at = next;
  }
}

/** NT_FILE: count, page_size, count x {start, end, file_ofs (in page_size units)}, then count names. */
function parseFileNote(d: Buffer, where: string, bad: (what: string) => UserError): MappedFiles {
  if (d.length < 16) throw bad(`${where}: NT_FILE of ${d.length} bytes is too short`);
  const count = u64(d, 0);
  const unit = u64(d, 8);
  const room = Math.floor((d.length - 16) / 24);
  if (count > room) throw bad(`${where}: absurd NT_FILE count ${count} (its ${d.length} bytes hold at most ${room})`);
  let pageSize: number | null = null;
  if (unit !== 1) {
    if (!isPageSize(unit)) throw bad(`${where}: absurd NT_FILE page size ${unit}`);
    pageSize = unit;
  }
  const starts = new Float64Array(count);
  const ends = new Float64Array(count);
  const offsets = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const o = 16 + i * 24;
    starts[i] = u64(d, o);
    ends[i] = u64(d, o + 8);
    offsets[i] = u64(d, o + 16) * unit;
  }
  const names: string[] = [];
  let at = 16 + count * 24;
  for (let i = 0; i < count; i++) {
    const nul = d.indexOf(0, at);
    if (nul < 0) throw bad(`${where}: NT_FILE names cut short (${i} of ${count})`);
    names.push(d.toString('utf8', at, nul));
    at = nul + 1;
  }
  return { starts, ends, offsets, names, pageSize };
}

/** Page sizes a Linux core can have been written with (4 KiB to 256 KiB). */
export function isPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= 4096 && n <= 262144 && (n & (n - 1)) === 0;
}

function readDesc(src: CachedReader, at: number, len: number, where: string, bad: (what: string) => UserError): Buffer {
  const d = Buffer.alloc(len);
  if (src.read(d, len, at) < len) throw bad(`truncated in a note (${where})`);
  return d;
}

/** Small reads near each other served from one 64 KiB read: note headers come 12 bytes at a time. */
class CachedReader {
  private readonly buf = Buffer.alloc(65536);
  private start = 0;
  private length = 0;

  constructor(private readonly src: ByteSource) {}

  read(out: Buffer, len: number, at: number): number {
    let n = 0;
    if (at >= this.start && at < this.start + this.length) {
      n = Math.min(len, this.start + this.length - at);
      this.buf.copy(out, 0, at - this.start, at - this.start + n);
    }
    if (n === len) return n;
    if (len - n > this.buf.length) return n + readAt(this.src, out.subarray(n), len - n, at + n);
    this.start = at + n;
    this.length = readAt(this.src, this.buf, this.buf.length, this.start);
    const more = Math.min(len - n, this.length);
    this.buf.copy(out, n, 0, more);
    return n + more;
  }
}

/** Reads at `at`, going back to the start of a forward-only stream when the headers ask for it. */
function readAt(src: ByteSource, buf: Buffer, len: number, at: number): number {
  if (len === 0) return 0;
  if (src.forwardOnly && at < src.position) src.rewind();
  return src.read(buf, 0, len, at);
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** A u64 exactly, for messages: a number past 2^53 would print rounded (18446744073709552000). */
function u64Text(b: Buffer, off: number): string {
  return b.readBigUInt64LE(off).toString();
}

/** A u64 as a number: exact up to 2^53, above that only good for "too large" comparisons. */
export function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000;
}

function cString(b: Buffer, off: number, len: number): string {
  const slice = b.subarray(off, off + len);
  const nul = slice.indexOf(0);
  return slice.toString('utf8', 0, nul < 0 ? len : nul);
}

const ELF_TYPES: Record<number, string> = { 0: 'none', 1: 'relocatable object', 2: 'executable', 3: 'shared object or PIE executable', 4: 'core' };
