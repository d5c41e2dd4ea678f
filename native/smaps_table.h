/*
 * /proc/PID/smaps parsed into a table of VMAs (native/smaps_table.c): the same reading as
 * parseSmaps in src/live/smaps.ts, which stays the reference (test/unit/smaps.test.ts, test/system/smaps.test.ts).
 */
#ifndef SAMEPAGE_SMAPS_TABLE_H
#define SAMEPAGE_SMAPS_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#include "shared_constants.h"

typedef struct {
  double start, end, offset, inode;
  double rss_kb;    /* -1: no Rss line */
  int32_t vm_flags; /* SMAPS_* bits (native/shared_constants.h); -1: no VmFlags line */
  uint32_t perms;   /* the four permission characters, the first in the high byte */
  size_t path_at, path_len;
} smaps_vma_t;

typedef struct {
  smaps_vma_t *vmas;
  size_t count, cap;
  char *paths;
  size_t paths_len, paths_cap;
  /* The VMA that the next Rss and VmFlags lines belong to: an index, or -1 for none. */
  long current;
  int failed; /* out of memory: the table is incomplete */
} smaps_table_t;

void smaps_table_init(smaps_table_t *t);
/* One line of smaps, without its newline. */
void smaps_table_line(smaps_table_t *t, const char *line, size_t len);
/* Every line of text[0, len). */
void smaps_table_text(smaps_table_t *t, const char *text, size_t len);
void smaps_table_free(smaps_table_t *t);
/* { numbers: Float64Array [start, end, offset, inode, rssKb] per VMA, vmFlags: Int32Array,
 *   perms: Uint32Array, paths: string[] }, or NULL with a JavaScript error. */
napi_value smaps_table_to_js(napi_env env, const smaps_table_t *t);

#endif
