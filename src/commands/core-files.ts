import type { SourceOpener } from '../scan/scan.js';
import { coreOpener, openCore } from '../core/core-source.js';
import { systemPageSize } from '../util/system.js';
import { UserError } from '../util/errors.js';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * An ELF core, plain or zstd-compressed as systemd-coredump stores it, as a source. The first
 * source of a report decides the page size: a core says its own (NT_FILE), so it is opened
 * once here to learn it; later ones must match.
 */
export function openCoreFile(file: string, head: Buffer, pageSize: number | null): { opener: SourceOpener; pageSize: number } {
  const starts = (magic: Buffer) => head.length >= magic.length && head.subarray(0, magic.length).equals(magic);
  if (!starts(ELF_MAGIC) && !starts(ZSTD_MAGIC)) throw new UserError(`${file}: neither a samepage snapshot nor an ELF core dump (plain or .zst)`);
  if (pageSize !== null) return { opener: coreOpener(file, pageSize), pageSize };
  const first = openCore(file, systemPageSize());
  const ownPageSize = first.pageSize;
  let unused: typeof first | null = first;
  const opener = coreOpener(file, ownPageSize);
  return {
    pageSize: ownPageSize,
    opener: {
      label: opener.label,
      pid: opener.pid,
      named: true,
      file,
      open: () => {
        if (unused === null) return opener.open();
        const source = unused;
        unused = null;
        return source;
      },
    },
  };
}
