/**
 * Mapping types in reports. A region has one kind; a page of a private file mapping is
 * "file" while it is still the page-cache page and "file-private-copy" once written (CoW).
 */
export const MAPPING_KINDS = [
  'heap',
  'stack',
  'anon',
  'anon-named',
  'file-private-copy',
  'shmem',
  'file',
  'special',
] as const;

export type MappingKind = (typeof MAPPING_KINDS)[number];

export const KIND_INDEX: Readonly<Record<MappingKind, number>> = Object.fromEntries(
  MAPPING_KINDS.map((k, i) => [k, i]),
) as Record<MappingKind, number>;

export const KIND_LABEL: Readonly<Record<MappingKind, string>> = {
  heap: 'heap',
  stack: 'stack',
  anon: 'anonymous',
  'anon-named': 'named anonymous',
  'file-private-copy': 'private file copies',
  shmem: 'shared memory',
  file: 'file pages',
  special: 'special',
};

/** Classifies a VMA from its /proc/PID/maps pathname and flags. */
export function classifyRegion(path: string, shared: boolean, specialFlags: boolean): MappingKind {
  if (specialFlags) return 'special';
  if (path === '[heap]') return 'heap';
  if (path === '[stack]' || path.startsWith('[stack:')) return 'stack';
  if (path === '[vdso]' || path === '[vvar]' || path === '[vsyscall]' || path === '[vvar_vclock]' || path === '[uprobes]') {
    return 'special';
  }
  if (path.startsWith('[anon_shmem:') || path.startsWith('/dev/shm/') || path.startsWith('/SYSV') || path.startsWith('/memfd:') ||
    (shared && path.startsWith('/dev/zero'))) {
    return 'shmem';
  }
  if (path.startsWith('[anon:')) return shared ? 'shmem' : 'anon-named';
  if (path === '') return shared ? 'shmem' : 'anon';
  if (path.startsWith('[')) return 'special';
  return shared ? 'file' : 'file-private-copy';
}

/** The kind a page is counted under: a private file mapping's page-cache pages are file pages. */
export function pageKind(regionKind: MappingKind, anonPage: boolean): MappingKind {
  if (regionKind === 'file-private-copy' && !anonPage) return 'file';
  return regionKind;
}
