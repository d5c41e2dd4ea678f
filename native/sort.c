/*
 * sortIndex: the index sorted in place by (hash, frame), the same order as
 * src/index/radix-sort.ts: MSD radix sort one byte a level (American flag sort), insertion sort
 * for small buckets, no memory per page.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

#include "exports.h"
#include "napi_args.h"
#include "shared_constants.h"

typedef struct {
  uint32_t *hh, *hl, *pl, *mt;
} idx_t;

static inline uint32_t key_byte(const idx_t *x, size_t i, int level) {
  switch (level) {
    case 0: return x->hh[i] >> 24;
    case 1: return (x->hh[i] >> 16) & 255;
    case 2: return (x->hh[i] >> 8) & 255;
    case 3: return x->hh[i] & 255;
    case 4: return x->hl[i] >> 24;
    case 5: return (x->hl[i] >> 16) & 255;
    case 6: return (x->hl[i] >> 8) & 255;
    case 7: return x->hl[i] & 255;
    case 8: return x->mt[i] >> META_DOMAIN_SHIFT;
    case 9: return x->pl[i] >> 24;
    case 10: return (x->pl[i] >> 16) & 255;
    case 11: return (x->pl[i] >> 8) & 255;
    default: return x->pl[i] & 255;
  }
}

static inline void swap_rec(const idx_t *x, size_t i, size_t j) {
  uint32_t t;
  t = x->hh[i]; x->hh[i] = x->hh[j]; x->hh[j] = t;
  t = x->hl[i]; x->hl[i] = x->hl[j]; x->hl[j] = t;
  t = x->pl[i]; x->pl[i] = x->pl[j]; x->pl[j] = t;
  t = x->mt[i]; x->mt[i] = x->mt[j]; x->mt[j] = t;
}

static inline int less_rec(const idx_t *x, size_t i, size_t j) {
  if (x->hh[i] != x->hh[j]) return x->hh[i] < x->hh[j];
  if (x->hl[i] != x->hl[j]) return x->hl[i] < x->hl[j];
  if ((x->mt[i] >> META_DOMAIN_SHIFT) != (x->mt[j] >> META_DOMAIN_SHIFT)) return (x->mt[i] >> META_DOMAIN_SHIFT) < (x->mt[j] >> META_DOMAIN_SHIFT);
  return x->pl[i] < x->pl[j];
}

static void sort_range(const idx_t *x, size_t lo, size_t hi, int level) {
  while (hi - lo >= 2 && level < 13) {
    if (hi - lo <= 24) {
      for (size_t i = lo + 1; i < hi; i++)
        for (size_t j = i; j > lo && less_rec(x, j, j - 1); j--) swap_rec(x, j, j - 1);
      return;
    }
    size_t count[256] = {0}, next[256], end[256];
    for (size_t i = lo; i < hi; i++) count[key_byte(x, i, level)]++;
    if (count[key_byte(x, lo, level)] == hi - lo) { /* one bucket: next byte */
      level++;
      continue;
    }
    size_t pos = lo;
    for (int b = 0; b < 256; b++) {
      next[b] = pos;
      pos += count[b];
      end[b] = pos;
    }
    for (int b = 0; b < 256; b++) {
      while (next[b] < end[b]) {
        uint32_t d = key_byte(x, next[b], level);
        if ((int)d == b) next[b]++;
        else swap_rec(x, next[b], next[d]++);
      }
    }
    size_t start = lo;
    for (int b = 0; b < 256; b++) {
      if (end[b] - start > 1) sort_range(x, start, end[b], level + 1);
      start = end[b];
    }
    return;
  }
}

/* The second thread of a parallel sort: the buckets [from, to) of the first level. */
typedef struct {
  const idx_t *x;
  const size_t *bounds; /* 257 bucket boundaries */
  int from, to;
} bucket_work_t;

static void *sort_buckets(void *arg) {
  bucket_work_t *w = (bucket_work_t *)arg;
  for (int b = w->from; b < w->to; b++)
    if (w->bounds[b + 1] - w->bounds[b] > 1) sort_range(w->x, w->bounds[b], w->bounds[b + 1], 1);
  return NULL;
}

/*
 * Partitions by the first key byte on this thread, then sorts the 256 buckets on two threads,
 * each taking about half of the records.
 */
static void sort_parallel(const idx_t *x, size_t n) {
  if (n < (1u << 16)) {
    sort_range(x, 0, n, 0);
    return;
  }
  size_t count[256] = {0}, next[256], bounds[257];
  for (size_t i = 0; i < n; i++) count[key_byte(x, i, 0)]++;
  size_t pos = 0;
  for (int b = 0; b < 256; b++) {
    bounds[b] = next[b] = pos;
    pos += count[b];
  }
  bounds[256] = n;
  for (int b = 0; b < 256; b++) {
    while (next[b] < bounds[b + 1]) {
      uint32_t d = key_byte(x, next[b], 0);
      if ((int)d == b) next[b]++;
      else swap_rec(x, next[b], next[d]++);
    }
  }
  int split = 0;
  while (split < 256 && bounds[split + 1] <= n / 2) split++;
  bucket_work_t second = {x, bounds, split, 256}, first = {x, bounds, 0, split};
  pthread_t t;
  if (pthread_create(&t, NULL, sort_buckets, &second) != 0) {
    sort_buckets(&second);
    sort_buckets(&first);
    return;
  }
  sort_buckets(&first);
  pthread_join(t, NULL);
}

napi_value sort_index(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!args_of(env, info, 5, argv, "sortIndex: 5 arguments")) return NULL;
  size_t l1 = 0, l2 = 0, l3 = 0, l4 = 0;
  int ok1, ok2, ok3, ok4;
  idx_t x;
  x.hh = typed_data(env, argv[0], napi_uint32_array, &l1, &ok1);
  x.hl = typed_data(env, argv[1], napi_uint32_array, &l2, &ok2);
  x.pl = typed_data(env, argv[2], napi_uint32_array, &l3, &ok3);
  x.mt = typed_data(env, argv[3], napi_uint32_array, &l4, &ok4);
  uint32_t n;
  CHECK(napi_get_value_uint32(env, argv[4], &n));
  if (!ok1 || !ok2 || !ok3 || !ok4 || n > l1 || n > l2 || n > l3 || n > l4) {
    napi_throw_range_error(env, NULL, "sortIndex: arguments out of range");
    return NULL;
  }
  sort_parallel(&x, n);
  return NULL;
}
