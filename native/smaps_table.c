/*
 * /proc/PID/smaps into a table of VMAs: per VMA its header (addresses, permissions, offset,
 * inode, path), its Rss and its VmFlags, and nothing else of the twenty-odd lines the kernel
 * writes. Parsed where the file is read, on the reader's threads, so that a Chromium process's
 * megabytes of smaps never become JavaScript strings. The same reading as parseSmaps in
 * src/live/smaps.ts, line for line; test/unit/smaps.test.ts and test/system/smaps.test.ts hold the two equal.
 */
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "smaps_table.h"
#include "napi_args.h"

static int is_lower_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
static int hex_value(unsigned char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
/* White space as a regular expression's \s sees it in Latin-1 text. */
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0; }

void smaps_table_init(smaps_table_t *t) {
  memset(t, 0, sizeof *t);
  t->current = -1;
}

void smaps_table_free(smaps_table_t *t) {
  free(t->vmas);
  free(t->paths);
  smaps_table_init(t);
}

/*
 * A run of hexadecimal or decimal digits as the nearest double, as parseInt(s, 16) and
 * Number(s) give it: read exactly, then rounded once (a file offset or an NFS inode can pass
 * 2^53). Returns the number of digits, or 0 for a run no smaps line has (none, or wider than
 * 64 bits), which makes the line not a header.
 */
static size_t parse_hex(const unsigned char *s, size_t len, double *out) {
  uint64_t v = 0;
  size_t n = 0;
  while (n < len && is_lower_hex(s[n])) n++;
  if (n == 0 || n > 16) return 0; /* more than 64 bits: not a line smaps writes */
  for (size_t k = 0; k < n; k++) v = v * 16 + (uint64_t)hex_value(s[k]);
  *out = (double)v;
  return n;
}

static size_t parse_dec(const unsigned char *s, size_t len, double *out) {
  uint64_t v = 0;
  size_t n = 0;
  while (n < len && is_digit(s[n])) n++;
  if (n == 0 || n > 20) return 0; /* an inode is 64 bits: at most 20 digits */
  if (n == 20) {                   /* may not fit in 64 bits: let strtod round it */
    char digits[21];
    memcpy(digits, s, 20);
    digits[20] = 0;
    *out = strtod(digits, NULL);
    return n;
  }
  for (size_t k = 0; k < n; k++) v = v * 10 + (uint64_t)(s[k] - '0');
  *out = (double)v;
  return n;
}

/* A header line: 1 with *v filled, 0 when the line is not a header. */
static int parse_header(const unsigned char *s, size_t len, smaps_vma_t *v) {
  size_t i = 0, digits;
  double start = 0, stop = 0, offset = 0, inode = 0;
  digits = parse_hex(s, len, &start);
  i += digits;
  if (digits == 0 || i >= len || s[i++] != '-') return 0;
  digits = parse_hex(s + i, len - i, &stop);
  i += digits;
  if (digits == 0 || i >= len || s[i++] != ' ') return 0;
  uint32_t perms = 0;
  for (int k = 0; k < 4; k++, i++) {
    if (i >= len || is_space(s[i])) return 0;
    perms = perms << 8 | s[i];
  }
  if (i >= len || s[i++] != ' ') return 0;
  digits = parse_hex(s + i, len - i, &offset);
  i += digits;
  if (digits == 0 || i >= len || s[i++] != ' ') return 0;
  size_t dev = i;
  while (i < len && !is_space(s[i])) i++;
  if (i == dev || i >= len || s[i++] != ' ') return 0;
  digits = parse_dec(s + i, len - i, &inode);
  i += digits;
  if (digits == 0) return 0;
  while (i < len && is_space(s[i])) i++;
  v->start = start;
  v->end = stop;
  v->offset = offset;
  v->inode = inode;
  v->perms = perms;
  v->path_at = i; /* relative to the line until the caller stores the path */
  v->path_len = len - i;
  v->rss_kb = -1;
  v->vm_flags = -1;
  return 1;
}

/* The first number followed by "kB" (as /(\d+)\s*kB/ on "Rss: N kB"), or 0. */
static double parse_kb(const unsigned char *s, size_t len) {
  size_t i = 0, digits = 0;
  double kb = 0;
  while (i < len && !is_digit(s[i])) i++;
  for (; i < len && is_digit(s[i]); i++, digits++) kb = kb * 10 + (s[i] - '0');
  while (i < len && is_space(s[i])) i++;
  return digits > 0 && i + 2 <= len && s[i] == 'k' && s[i + 1] == 'B' ? kb : 0;
}

#define FLAG(a, b) ((unsigned)(a) << 8 | (unsigned)(b))

static int32_t parse_vm_flags(const unsigned char *s, size_t len) {
  int32_t bits = 0;
  size_t i = 0;
  for (;;) {
    while (i < len && is_space(s[i])) i++;
    if (i >= len) break;
    size_t word = i;
    while (i < len && !is_space(s[i])) i++;
    if (i - word != 2) continue;
    switch (FLAG(s[word], s[word + 1])) {
      case FLAG('s', 'h'):
      case FLAG('m', 's'):
        bits |= SMAPS_KSM_INCOMPATIBLE | SMAPS_SHARED;
        break;
      case FLAG('p', 'f'):
      case FLAG('i', 'o'):
      case FLAG('m', 'm'):
        bits |= SMAPS_KSM_INCOMPATIBLE | SMAPS_SPECIAL;
        break;
      case FLAG('d', 'e'):
      case FLAG('h', 't'):
      case FLAG('d', 'p'):
        bits |= SMAPS_KSM_INCOMPATIBLE;
        break;
      case FLAG('m', 'g'):
        bits |= SMAPS_MERGEABLE;
        break;
      default:
        break;
    }
  }
  return bits;
}

static int add_vma(smaps_table_t *t, const smaps_vma_t *v, const unsigned char *path) {
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    smaps_vma_t *more = realloc(t->vmas, cap * sizeof *more);
    if (more == NULL) return -1;
    t->vmas = more;
    t->cap = cap;
  }
  if (t->paths_len + v->path_len > t->paths_cap) {
    size_t cap = t->paths_cap ? t->paths_cap : 4096;
    while (cap < t->paths_len + v->path_len) cap *= 2;
    char *more = realloc(t->paths, cap);
    if (more == NULL) return -1;
    t->paths = more;
    t->paths_cap = cap;
  }
  smaps_vma_t *into = &t->vmas[t->count];
  *into = *v;
  into->path_at = t->paths_len;
  if (v->path_len > 0) memcpy(t->paths + t->paths_len, path, v->path_len);
  t->paths_len += v->path_len;
  t->current = (long)t->count++;
  return 0;
}

void smaps_table_line(smaps_table_t *t, const char *line, size_t len) {
  const unsigned char *s = (const unsigned char *)line;
  if (len == 0 || t->failed) return;
  smaps_vma_t v;
  if (is_lower_hex(s[0]) && parse_header(s, len, &v)) {
    t->current = -1;
    if (v.end > SMAPS_MAX_ADDRESS) return; /* skipped, with the lines that follow it ([vsyscall]) */
    if (add_vma(t, &v, s + v.path_at) != 0) t->failed = 1;
    return;
  }
  if (t->current < 0) return;
  smaps_vma_t *cur = &t->vmas[t->current];
  if (len >= 4 && memcmp(s, "Rss:", 4) == 0) {
    cur->rss_kb = parse_kb(s + 4, len - 4);
  } else if (len >= 8 && memcmp(s, "VmFlags:", 8) == 0) {
    cur->vm_flags = parse_vm_flags(s + 8, len - 8);
  }
}

void smaps_table_text(smaps_table_t *t, const char *text, size_t len) {
  size_t at = 0;
  while (at < len) {
    const char *nl = memchr(text + at, '\n', len - at);
    size_t end = nl != NULL ? (size_t)(nl - text) : len;
    smaps_table_line(t, text + at, end - at);
    at = end + 1;
  }
}

/* A typed array of `count` elements of `size` bytes, copied from `data`. */
static napi_value typed_copy(napi_env env, napi_typedarray_type type, size_t size, const void *data, size_t count) {
  void *into;
  napi_value ab, out;
  if (napi_create_arraybuffer(env, count * size, &into, &ab) != napi_ok) return NULL;
  if (count > 0) memcpy(into, data, count * size);
  if (napi_create_typedarray(env, type, count, ab, 0, &out) != napi_ok) return NULL;
  return out;
}

napi_value smaps_table_to_js(napi_env env, const smaps_table_t *t) {
  if (t->failed) {
    napi_throw_error(env, NULL, "smaps: out of memory");
    return NULL;
  }
  size_t n = t->count;
  double *numbers = malloc((n ? n : 1) * SMAPS_NUMBERS_PER_VMA * sizeof *numbers);
  int32_t *flags = malloc((n ? n : 1) * sizeof *flags);
  uint32_t *perms = malloc((n ? n : 1) * sizeof *perms);
  napi_value result = NULL, paths = NULL;
  if (numbers != NULL && flags != NULL && perms != NULL && napi_create_object(env, &result) == napi_ok &&
      napi_create_array_with_length(env, n, &paths) == napi_ok) {
    napi_value empty;
    if (napi_create_string_latin1(env, "", 0, &empty) != napi_ok) result = NULL;
    for (size_t i = 0; i < n && result != NULL; i++) {
      const smaps_vma_t *v = &t->vmas[i];
      double *row = numbers + SMAPS_NUMBERS_PER_VMA * i;
      row[0] = v->start;
      row[1] = v->end;
      row[2] = v->offset;
      row[3] = v->inode;
      row[4] = v->rss_kb;
      flags[i] = v->vm_flags;
      perms[i] = v->perms;
      napi_value path = empty;
      if (v->path_len > 0 && napi_create_string_latin1(env, t->paths + v->path_at, v->path_len, &path) != napi_ok) result = NULL;
      if (result != NULL && napi_set_element(env, paths, (uint32_t)i, path) != napi_ok) result = NULL;
    }
    napi_value a = NULL, b = NULL, c = NULL;
    if (result != NULL) {
      a = typed_copy(env, napi_float64_array, sizeof *numbers, numbers, SMAPS_NUMBERS_PER_VMA * n);
      b = typed_copy(env, napi_int32_array, sizeof *flags, flags, n);
      c = typed_copy(env, napi_uint32_array, sizeof *perms, perms, n);
    }
    if (a == NULL || b == NULL || c == NULL || napi_set_named_property(env, result, "numbers", a) != napi_ok ||
        napi_set_named_property(env, result, "vmFlags", b) != napi_ok || napi_set_named_property(env, result, "perms", c) != napi_ok ||
        napi_set_named_property(env, result, "paths", paths) != napi_ok) {
      result = NULL;
    }
  }
  free(numbers);
  free(flags);
  free(perms);
  if (result == NULL) napi_throw_error(env, NULL, "smaps: could not build the table");
  return result;
}

napi_value parse_smaps_table(napi_env env, napi_callback_info info) {
  size_t len = 0;
  napi_value argv[1];
  if (!args_of(env, info, 1, argv, "parseSmapsTable: (text)")) return NULL;
  if (napi_get_value_string_latin1(env, argv[0], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "parseSmapsTable: (text)");
    return NULL;
  }
  char *text = malloc(len + 1);
  if (text == NULL) {
    napi_throw_error(env, NULL, "parseSmapsTable: out of memory");
    return NULL;
  }
  napi_get_value_string_latin1(env, argv[0], text, len + 1, &len);
  smaps_table_t t;
  smaps_table_init(&t);
  smaps_table_text(&t, text, len);
  free(text);
  napi_value out = smaps_table_to_js(env, &t);
  smaps_table_free(&t);
  return out;
}
