import type { SourceOpener } from '../source/source-opener.js';
import { coreOpener, openCore } from '../core/core-source.js';
import { systemPageSize } from '../util/system.js';
import { UserError } from '../util/errors.js';
import { sniffInput } from '../source/input-kind.js';


/**
 * An ELF core, plain or zstd-compressed as systemd-coredump stores it, as a source. The first
 * source of a report decides the page size: a core says its own (NT_FILE), so it is opened
 * once here to learn it; later ones must match. `file` is opened; `name` is what messages say.
 */
export function openCoreFile(file: string, head: Buffer, pageSize: number | null, name: string = file): { opener: SourceOpener; pageSize: number } {
  const kind = sniffInput(head);
  if (kind === 'empty') throw new UserError(`${name}: empty: neither a samepage snapshot nor an ELF core dump`);
  // Other compressions get their own advice when the core is opened (core/open-byte-source.ts).
  if (kind === 'unknown' || kind === 'snapshot') throw new UserError(`${name}: neither a samepage snapshot nor an ELF core dump (plain or .zst)`);
  if (pageSize !== null) return { opener: coreOpener(file, pageSize, name), pageSize };
  const first = openCore(file, systemPageSize(), name);
  const ownPageSize = first.pageSize;
  let unused: typeof first | null = first;
  const opener = coreOpener(file, ownPageSize, name);
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
