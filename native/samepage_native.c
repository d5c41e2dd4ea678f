/*
 * samepage's native hot path: read pages of another process and hash each with XXH3-64, in one
 * call per batch of runs, on a small pool of threads. XXH3 comes from the xxhash-addon
 * dependency's copy of xxHash.
 *
 * Two ways to read. pread() on /proc/PID/mem never pins a page: it is used for every page that
 * is mapped more than once. process_vm_readv() copies once instead of twice (about 1.4x faster)
 * but pins the remote pages (FOLL_PIN), and pinning an anonymous page shared by fork makes the
 * kernel unshare it, giving the target a private copy; a KSM page would be unmerged. So it is
 * used only for runs of pages that pagemap shows as mapped once, and only when the caller says
 * so (src/live/pinned-reads.ts: KSM off and nothing merged). A scan must leave the target's
 * memory exactly as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>

#include "ksm_model.h"

#ifdef SAMEPAGE_XXH_DISPATCH
/* x86-64: xxHash's own run-time dispatch picks AVX2 or AVX-512 where the CPU has them. */
#include "xxh_x86dispatch.h"
#else
#define XXH_INLINE_ALL
#include "xxhash.h"
#endif

#define MAX_THREADS 8
#define READ_CHUNK (256u << 10) /* bytes read and hashed at a time per thread: small, as it stays resident */

/* One call's work: runs of contiguous present pages, and where their hashes go. */
typedef struct {
  int mem_fd; /* /proc/PID/mem, opened read-only */
  pid_t pid; /* for process_vm_readv of the runs marked pinnable; 0: never */
  const double *run_start; /* virtual address of each run */
  const uint32_t *run_pages;
  const uint8_t *run_pinnable; /* 1: every page of the run may be pinned without side effects */
  uint32_t nruns;
  uint32_t page_size;
  uint32_t *hi;
  uint32_t *lo;
  /* per-slice results */
  int err[MAX_THREADS];
  uint32_t err_run[MAX_THREADS];
} job_t;

typedef struct {
  job_t *job;
  uint64_t first_page; /* global page index range [first_page, end_page) of this slice */
  uint64_t end_page;
  int slot;
} slice_t;

static void hash_buffer(const unsigned char *buf, uint32_t count, uint32_t page_size, uint32_t *hi, uint32_t *lo) {
  for (uint32_t i = 0; i < count; i++) {
    XXH64_hash_t h = XXH3_64bits(buf + (size_t)i * page_size, page_size);
    hi[i] = (uint32_t)(h >> 32);
    lo[i] = (uint32_t)h;
  }
}

/* Reads and hashes pages [first_page, end_page) of the job, counted across runs in order. */
static void run_slice(slice_t *s, unsigned char *buf) {
  job_t *j = s->job;
  const uint32_t ps = j->page_size;
  const uint32_t chunk_pages = READ_CHUNK / ps;
  uint64_t page = 0;
  uint32_t r = 0;
  /* Find the run holding first_page. */
  while (r < j->nruns && page + j->run_pages[r] <= s->first_page) page += j->run_pages[r++];
  uint64_t at = s->first_page; /* next global page to read */
  while (at < s->end_page && r < j->nruns) {
    /* Fill the buffer with up to chunk_pages pages from consecutive runs, one pread a piece. */
    uint32_t n = 0;
    uint64_t out_at = at;
    uint64_t p = page;
    uint32_t rr = r;
    uint64_t cursor = at;
    while (n < chunk_pages && cursor < s->end_page && rr < j->nruns) {
      uint64_t off = cursor - p; /* page offset within run rr */
      uint64_t take = j->run_pages[rr] - off;
      if (take > chunk_pages - n) take = chunk_pages - n;
      if (take > s->end_page - cursor) take = s->end_page - cursor;
      uint64_t addr = (uint64_t)j->run_start[rr] + off * ps;
      size_t want = (size_t)take * ps, got = 0;
      if (j->pid > 0 && j->run_pinnable[rr]) {
        struct iovec local = {buf + (size_t)n * ps, want}, remote = {(void *)(uintptr_t)addr, want};
        ssize_t rc = process_vm_readv(j->pid, &local, 1, &remote, 1, 0);
        if (rc > 0) got = (size_t)rc - (size_t)rc % ps; /* what was not read whole: by pread below */
      }
      while (got < want) {
        ssize_t rc = pread(j->mem_fd, buf + (size_t)n * ps + got, want - got, (off_t)(addr + got));
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) {
          j->err[s->slot] = rc < 0 ? errno : EFAULT;
          j->err_run[s->slot] = rr;
          return;
        }
        got += (size_t)rc;
      }
      n += (uint32_t)take;
      cursor += take;
      if (off + take == j->run_pages[rr]) {
        p += j->run_pages[rr];
        rr++;
      }
    }
    hash_buffer(buf, n, ps, j->hi + out_at, j->lo + out_at);
    at = cursor;
    page = p;
    r = rr;
  }
}

/* A tiny pool: the caller's thread does slice 0, workers the others. */
typedef struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slice_t *work; /* non-null: a slice to run */
  int done;
  unsigned char *buf;
} worker_t;

static worker_t workers[MAX_THREADS];
static int nworkers = 0;
static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static unsigned char *main_buf = NULL;

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    while (w->work == NULL) pthread_cond_wait(&w->cv, &w->mu);
    slice_t *s = w->work;
    pthread_mutex_unlock(&w->mu);
    run_slice(s, w->buf);
    pthread_mutex_lock(&done_mu);
    pthread_mutex_lock(&w->mu);
    w->work = NULL;
    w->done = 1;
    pthread_mutex_unlock(&w->mu);
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&done_mu);
  }
  return NULL;
}

/* Set once a worker could not be started (a low process limit, say): the pool stays as it is. */
static int pool_full = 0;

static int ensure_pool(int threads) {
  if (main_buf == NULL && posix_memalign((void **)&main_buf, 4096, READ_CHUNK) != 0) return -1;
  while (!pool_full && nworkers < threads - 1 && nworkers < MAX_THREADS - 1) {
    worker_t *w = &workers[nworkers];
    if (posix_memalign((void **)&w->buf, 4096, READ_CHUNK) != 0) {
      pool_full = 1;
      break;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->work = NULL;
    w->done = 0;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      /* Carry on with the threads there are: fewer threads are slower, never wrong. */
      pthread_mutex_destroy(&w->mu);
      pthread_cond_destroy(&w->cv);
      free(w->buf);
      w->buf = NULL;
      pool_full = 1;
      break;
    }
    pthread_detach(w->thread);
    nworkers++;
  }
  return 0;
}

/* Below this many pages a call stays on one thread: waking a worker costs more than it saves. */
#define PARALLEL_MIN_PAGES 256

static int run_job(job_t *j, uint64_t total, int threads) {
  for (int i = 0; i < MAX_THREADS; i++) j->err[i] = 0;
  if (threads < 1) threads = 1;
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (total < PARALLEL_MIN_PAGES) threads = 1;
  if (ensure_pool(threads) != 0) return ENOMEM;
  if (threads > nworkers + 1) threads = nworkers + 1;
  slice_t slices[MAX_THREADS];
  for (int t = 0; t < threads; t++) {
    slices[t].job = j;
    slices[t].first_page = total * (uint64_t)t / (uint64_t)threads;
    slices[t].end_page = total * (uint64_t)(t + 1) / (uint64_t)threads;
    slices[t].slot = t;
  }
  for (int t = 1; t < threads; t++) {
    worker_t *w = &workers[t - 1];
    pthread_mutex_lock(&w->mu);
    w->done = 0;
    w->work = &slices[t];
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
  }
  run_slice(&slices[0], main_buf);
  pthread_mutex_lock(&done_mu);
  for (int t = 1; t < threads; t++) {
    worker_t *w = &workers[t - 1];
    for (;;) {
      pthread_mutex_lock(&w->mu);
      int d = w->done;
      pthread_mutex_unlock(&w->mu);
      if (d) break;
      pthread_cond_wait(&done_cv, &done_mu);
    }
  }
  pthread_mutex_unlock(&done_mu);
  return 0;
}

/* ---- N-API glue ---- */

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_throw_error(env, NULL, "samepage native: bad arguments");        \
      return NULL;                                                          \
    }                                                                       \
  } while (0)

static void *typed_data(napi_env env, napi_value v, napi_typedarray_type want, size_t *length, int *ok) {
  napi_typedarray_type type;
  size_t len, offset;
  void *data;
  napi_value ab;
  *ok = 0;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &offset) != napi_ok) return NULL;
  if (type != want) return NULL;
  *length = len;
  *ok = 1;
  return data;
}

/* hashPages(data: Uint8Array, count, pageSize, hi: Uint32Array, lo: Uint32Array, out) */
static napi_value hash_pages(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "hashPages: 6 arguments");
    return NULL;
  }
  size_t dlen = 0, hlen = 0, llen = 0;
  int ok1, ok2, ok3;
  unsigned char *data = typed_data(env, argv[0], napi_uint8_array, &dlen, &ok1);
  uint32_t count, ps, out;
  CHECK(napi_get_value_uint32(env, argv[1], &count));
  CHECK(napi_get_value_uint32(env, argv[2], &ps));
  uint32_t *hi = typed_data(env, argv[3], napi_uint32_array, &hlen, &ok2);
  uint32_t *lo = typed_data(env, argv[4], napi_uint32_array, &llen, &ok3);
  CHECK(napi_get_value_uint32(env, argv[5], &out));
  if (!ok1 || !ok2 || !ok3 || ps == 0 || (uint64_t)count * ps > dlen || (uint64_t)out + count > hlen || (uint64_t)out + count > llen) {
    napi_throw_range_error(env, NULL, "hashPages: arguments out of range");
    return NULL;
  }
  hash_buffer(data, count, ps, hi + out, lo + out);
  return NULL;
}



/*
 * scanRange: the whole per-page path of a live region in one call. Walks /proc/PID/pagemap
 * from page `first` of the region, and for each present page writes an index record (PFN and
 * meta word) straight into the index arrays, then reads and hashes the present runs from
 * /proc/PID/mem on the thread pool. Stops when the region ends or `capacity` records are
 * written, and says where it stopped, so the caller can grow the index and go on.
 *
 * scanRange(pagemapFd, memFd, regionStart, regionPages, first, pageSize,
 *           metaAnon, metaFile, noPhys, domain, hashHi, hashLo, pfnLo, meta, out, capacity, threads)
 *   -> [nextPage, written, swapped, errno]
 * metaAnon/metaFile: the meta word of an anonymous / page-cache page of this region (process,
 * kind and region flags) without the per-page bits, which are added here as in
 * src/index/page-index.ts: bit 20 anonymous, 21 exclusive, 25 no physical information,
 * 26-31 the physical domain.
 */
#define PM_CHUNK 16384
#define SCAN_BATCH 8192
#define META_ANON (1u << 20)
#define META_EXCLUSIVE (1u << 21)
#define META_NO_PHYS (1u << 25) /* bits 26-31 hold the physical domain */

static uint64_t pm_buf[PM_CHUNK];
static double run_start_buf[SCAN_BATCH];
static uint32_t run_pages_buf[SCAN_BATCH];
static uint8_t run_pinnable_buf[SCAN_BATCH];

static napi_value scan_range(napi_env env, napi_callback_info info) {
  size_t argc = 18;
  napi_value argv[18];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 18) {
    napi_throw_type_error(env, NULL, "scanRange: 18 arguments");
    return NULL;
  }
  int32_t pm_fd, mem_fd;
  double region_start, region_pages_d, first_d;
  uint32_t ps, meta_anon, meta_file, no_phys, domain, out, capacity, threads;
  CHECK(napi_get_value_int32(env, argv[0], &pm_fd));
  CHECK(napi_get_value_int32(env, argv[1], &mem_fd));
  CHECK(napi_get_value_double(env, argv[2], &region_start));
  CHECK(napi_get_value_double(env, argv[3], &region_pages_d));
  CHECK(napi_get_value_double(env, argv[4], &first_d));
  CHECK(napi_get_value_uint32(env, argv[5], &ps));
  CHECK(napi_get_value_uint32(env, argv[6], &meta_anon));
  CHECK(napi_get_value_uint32(env, argv[7], &meta_file));
  CHECK(napi_get_value_uint32(env, argv[8], &no_phys));
  CHECK(napi_get_value_uint32(env, argv[9], &domain));
  size_t l1 = 0, l2 = 0, l3 = 0, l4 = 0;
  int ok1, ok2, ok3, ok4;
  uint32_t *hi = typed_data(env, argv[10], napi_uint32_array, &l1, &ok1);
  uint32_t *lo = typed_data(env, argv[11], napi_uint32_array, &l2, &ok2);
  uint32_t *pfn_lo = typed_data(env, argv[12], napi_uint32_array, &l3, &ok3);
  uint32_t *meta = typed_data(env, argv[13], napi_uint32_array, &l4, &ok4);
  CHECK(napi_get_value_uint32(env, argv[14], &out));
  CHECK(napi_get_value_uint32(env, argv[15], &capacity));
  CHECK(napi_get_value_uint32(env, argv[16], &threads));
  int32_t pin_pid;
  CHECK(napi_get_value_int32(env, argv[17], &pin_pid));
  uint64_t region_pages = (uint64_t)region_pages_d, page = (uint64_t)first_d;
  if (!ok1 || !ok2 || !ok3 || !ok4 || ps == 0 || ps > READ_CHUNK || domain > 63 || (uint64_t)out + capacity > l1 || (uint64_t)out + capacity > l2 ||
      (uint64_t)out + capacity > l3 || (uint64_t)out + capacity > l4) {
    napi_throw_range_error(env, NULL, "scanRange: arguments out of range");
    return NULL;
  }
  uint64_t base_page = (uint64_t)region_start / ps;
  uint32_t written = 0, swapped = 0, runs = 0, batch_first = 0, batch_pages = 0;
  int err = 0;
  job_t job;
  job.mem_fd = mem_fd;
  job.run_start = run_start_buf;
  job.run_pages = run_pages_buf;
  job.run_pinnable = run_pinnable_buf;
  job.pid = pin_pid > 0 ? (pid_t)pin_pid : 0;
  job.page_size = ps;

  /* Reads and hashes the runs gathered so far into records [batch_first, batch_first + batch_pages). */
#define FLUSH_RUNS()                                                           \
  do {                                                                         \
    if (runs > 0 && err == 0) {                                                \
      job.nruns = runs;                                                        \
      job.hi = hi + out + batch_first;                                         \
      job.lo = lo + out + batch_first;                                         \
      err = run_job(&job, batch_pages, (int)threads);                          \
      for (int t = 0; t < MAX_THREADS && err == 0; t++) err = job.err[t];      \
    }                                                                          \
    runs = 0;                                                                  \
    batch_first = written;                                                     \
    batch_pages = 0;                                                           \
  } while (0)

  while (page < region_pages && written < capacity && err == 0) {
    uint64_t want = region_pages - page;
    if (want > PM_CHUNK) want = PM_CHUNK;
    ssize_t got_bytes = pread(pm_fd, pm_buf, want * 8, (off_t)((base_page + page) * 8));
    if (got_bytes < 0 && errno == EINTR) continue;
    if (got_bytes <= 0) {
      err = got_bytes < 0 ? errno : ESRCH; /* a short pagemap: the process is gone */
      break;
    }
    uint64_t got = (uint64_t)got_bytes / 8, i = 0;
    for (; i < got && written < capacity; i++) {
      uint64_t e = pm_buf[i];
      if (!(e >> 63)) {
        if ((e >> 62) & 1) swapped++;
        continue;
      }
      uint64_t pfn = e & ((1ull << 55) - 1);
      uint32_t m = ((e >> 61) & 1) ? meta_file : (meta_anon | META_ANON);
      uint8_t pinnable = (uint8_t)((e >> 56) & 1);
      if (pinnable) m |= META_EXCLUSIVE;
      if (no_phys || pfn >= (1ull << 32)) {
        m |= META_NO_PHYS;
        pfn_lo[out + written] = 0;
      } else {
        m |= domain << 26;
        pfn_lo[out + written] = (uint32_t)pfn;
      }
      meta[out + written] = m;
      double addr = (double)((base_page + page + i) * ps);
      if (runs > 0 && run_start_buf[runs - 1] + (double)run_pages_buf[runs - 1] * ps == addr && run_pinnable_buf[runs - 1] == pinnable) {
        run_pages_buf[runs - 1]++;
      } else {
        run_start_buf[runs] = addr;
        run_pages_buf[runs] = 1;
        run_pinnable_buf[runs] = pinnable;
        runs++;
      }
      written++;
      batch_pages++;
      if (batch_pages == SCAN_BATCH) FLUSH_RUNS();
    }
    page += i;
    if (got < want && i == got) break; /* end of what pagemap has */
  }
  FLUSH_RUNS();
#undef FLUSH_RUNS

  napi_value result, v;
  CHECK(napi_create_array_with_length(env, 4, &result));
  CHECK(napi_create_double(env, (double)page, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, written, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_uint32(env, swapped, &v));
  CHECK(napi_set_element(env, result, 2, v));
  CHECK(napi_create_int32(env, err, &v));
  CHECK(napi_set_element(env, result, 3, v));
  return result;
}


/*
 * sortIndex(hashHi, hashLo, pfnLo, meta, n): the index sorted in place by (hash, frame), the
 * same order as src/index/radix-sort.ts: MSD radix sort one byte a level (American flag sort),
 * insertion sort for small buckets, no memory per page.
 */
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
    case 8: return x->mt[i] >> 26;
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
  if ((x->mt[i] >> 26) != (x->mt[j] >> 26)) return (x->mt[i] >> 26) < (x->mt[j] >> 26);
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

static napi_value sort_index(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "sortIndex: 5 arguments");
    return NULL;
  }
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"hashPages", NULL, hash_pages, NULL, NULL, NULL, napi_default, NULL},
      {"scanRange", NULL, scan_range, NULL, NULL, NULL, napi_default, NULL},
      {"sortIndex", NULL, sort_index, NULL, NULL, NULL, napi_default, NULL},
      {"modelPass", NULL, ksm_model_pass, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
