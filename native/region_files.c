/*
 * readRegions: each /proc/PID/smaps read and parsed on the worker pool into a table of its
 * VMAs (native/smaps_table.c); a number is the errno of a file that could not be read. The
 * kernel writes smaps by walking every resident page (a tenth of a scan's time, spread over the
 * CPUs here), and a Chromium process's text is megabytes, of which samepage needs three lines
 * per VMA: the text is parsed as it is read and never kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>

#include "exports.h"
#include "napi_args.h"
#include "pool.h"
#include "smaps_table.h"

typedef struct {
  const char *path;
  smaps_table_t table;
  int err;
} file_job_t;

static file_job_t *file_jobs;
static unsigned file_count;
static atomic_uint next_file;

static void read_one(file_job_t *f) {
  smaps_table_init(&f->table);
  int fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f->err = errno;
    return;
  }
  /* Whole lines are parsed as they arrive; an unfinished last line waits for the next read. */
  size_t cap = 64 << 10, have = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (buf == NULL) {
      f->err = ENOMEM;
      break;
    }
    if (have == cap) { /* one line longer than the buffer: a path can be 4 KiB, a line more */
      char *more = realloc(buf, cap * 2);
      if (more == NULL) {
        free(buf);
        buf = NULL;
        continue;
      }
      buf = more;
      cap *= 2;
    }
    ssize_t rc = read(fd, buf + have, cap - have);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      f->err = errno;
      break;
    }
    have += (size_t)rc;
    size_t done = 0;
    for (;;) {
      char *nl = memchr(buf + done, '\n', have - done);
      if (nl == NULL) break;
      smaps_table_line(&f->table, buf + done, (size_t)(nl - buf) - done);
      done = (size_t)(nl - buf) + 1;
    }
    if (rc == 0) {
      smaps_table_line(&f->table, buf + done, have - done);
      break;
    }
    memmove(buf, buf + done, have - done);
    have -= done;
  }
  free(buf);
  close(fd);
  if (f->table.failed && f->err == 0) f->err = ENOMEM;
}

static void take_files(unsigned char *buf) {
  (void)buf;
  for (;;) {
    unsigned i = atomic_fetch_add(&next_file, 1);
    if (i >= file_count) return;
    read_one(&file_jobs[i]);
  }
}

napi_value read_regions(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!args_of(env, info, 2, argv, "readRegions: (paths, threads)")) return NULL;
  uint32_t n = 0, threads = 1;
  bool is_array = false;
  if (napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "readRegions: (paths, threads)");
    return NULL;
  }
  CHECK(napi_get_array_length(env, argv[0], &n));
  CHECK(napi_get_value_uint32(env, argv[1], &threads));
  file_job_t *jobs = calloc(n ? n : 1, sizeof *jobs);
  if (jobs == NULL) {
    napi_throw_error(env, NULL, "readRegions: out of memory");
    return NULL;
  }
  int bad = 0;
  for (uint32_t i = 0; i < n && !bad; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      bad = 1;
      break;
    }
    char *path = malloc(len + 1);
    if (path == NULL || napi_get_value_string_utf8(env, v, path, len + 1, &len) != napi_ok) {
      free(path);
      bad = 1;
      break;
    }
    jobs[i].path = path;
  }
  if (!bad) {
    int can = ensure_pool(threads < 1 ? 1 : (int)threads);
    file_jobs = jobs;
    file_count = n;
    atomic_store(&next_file, 0);
    run_round(take_files, can < 1 ? 1 : (n > 1 ? can : 1));
  }
  napi_value result = NULL;
  if (!bad && napi_create_array_with_length(env, n, &result) == napi_ok) {
    for (uint32_t i = 0; i < n; i++) {
      napi_value v;
      if (jobs[i].err) {
        if (napi_create_int32(env, jobs[i].err, &v) != napi_ok) v = NULL;
      } else {
        v = smaps_table_to_js(env, &jobs[i].table);
      }
      if (v == NULL || napi_set_element(env, result, i, v) != napi_ok) {
        result = NULL;
        break;
      }
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    free((void *)jobs[i].path);
    smaps_table_free(&jobs[i].table);
  }
  free(jobs);
  if (result == NULL) napi_throw_error(env, NULL, "readRegions: bad arguments");
  return result;
}
