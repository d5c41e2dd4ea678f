import type { SourceOpener } from '../scan/scan.js';
import { UserError } from '../util/errors.js';

/** An ELF core (plain or compressed) as a source; the core reader lives in src/core/. */
export async function openCoreFile(file: string, head: Buffer, pageSize: number): Promise<SourceOpener> {
  void head;
  void pageSize;
  throw new UserError(`${file}: not a samepage snapshot (core dumps are not supported yet)`);
}
