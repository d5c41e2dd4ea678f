/*
 * samepage's native hot path: read pages of another process and hash each with XXH3-64, in one
 * call per batch of runs, on a small pool of threads. XXH3 comes from the xxhash-addon
 * dependency's copy of xxHash.
 *
 * Two ways to read. Anonymous pages are read with pread() on /proc/PID/mem, which never pins
 * a page. process_vm_readv() copies once instead of twice but pins the remote pages
 * (FOLL_PIN), and the kernel answers a pin of an anonymous page it does not know to be
 * exclusive by unsharing it: a page (or a whole huge page) shared by fork is copied, a KSM
 * page is unmerged. Pagemap's "mapped once" bit does not settle it (a huge page shared by fork
 * shows it on every sub-page, and a fork can come between the pagemap read and the copy), so
 * only page-cache and shared-memory pages (pagemap bit 61), which a pin never unshares, are
 * read with process_vm_readv. A scan must leave the target's memory exactly as it was.
 *
 * The pool, its tiles and buffers are process-wide: one caller at a time (Node's main thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>

#include "ksm_model.h"
#include "napi_args.h"
#include "smaps_table.h"

#ifdef SAMEPAGE_XXH_DISPATCH
/* x86-64: xxHash's own run-time dispatch picks AVX2 or AVX-512 where the CPU has them. */
#include "xxh_x86dispatch.h"
#else
#define XXH_INLINE_ALL
#include "xxhash.h"
#endif


#define MAX_THREADS 8
#define READ_CHUNK (256u << 10) /* bytes read and hashed at a time per thread: small, as it stays resident */
#define TILE_PAGES 512u        /* virtual pages per tile: one pagemap read, one thread */
#define ROUND_TILES 128u       /* tiles in flight at once, taken by whichever thread is free */
#define MIN_SPLIT_PAGES 4096u  /* below this many virtual pages a call stays on one thread */
#define META_ANON (1u << 20)
#define META_EXCLUSIVE (1u << 21)
#define META_NO_PHYS (1u << 25) /* bits 26-31 hold the physical domain */

static void hash_buffer(const unsigned char *buf, uint32_t count, uint32_t page_size, uint32_t *hi, uint32_t *lo) {
  for (uint32_t i = 0; i < count; i++) {
    XXH64_hash_t h = XXH3_64bits(buf + (size_t)i * page_size, page_size);
    hi[i] = (uint32_t)(h >> 32);
    lo[i] = (uint32_t)h;
  }
}

/*
 * A tile: a range of a region's virtual pages that one thread does from start to end: reads
 * its pagemap entries, makes an index record of each present page, and reads and hashes the
 * present pages, into the thread's own stage. The caller then copies the stages into the
 * index in address order.
 */
typedef struct {
  /* what to do */
  int pm_fd, mem_fd;
  pid_t pin_pid; /* > 0: the runs marked pinnable are read with process_vm_readv */
  uint32_t ps, meta_anon, meta_file, no_phys, domain;
  uint64_t first_vpage; /* absolute virtual page number of the tile's first page */
  uint32_t pages;       /* virtual pages in the tile */
  /* what came of it */
  uint32_t got;     /* pagemap entries read: < pages when pagemap ended early */
  uint32_t count;   /* present pages = records in the stage */
  int err;
  /* the stage, TILE_PAGES each */
  uint64_t *pm;
  uint32_t *hi, *lo, *pfn, *meta, *offset; /* offset: the record's page within the tile */
  uint32_t *run_first, *run_pages;  /* runs of contiguous present pages, as record numbers */
  uint8_t *run_pinnable;
} tile_t;

static int tile_alloc(tile_t *t) {
  memset(t, 0, sizeof *t);
  t->pm = malloc(TILE_PAGES * sizeof *t->pm);
  t->hi = malloc(TILE_PAGES * sizeof *t->hi);
  t->lo = malloc(TILE_PAGES * sizeof *t->lo);
  t->pfn = malloc(TILE_PAGES * sizeof *t->pfn);
  t->meta = malloc(TILE_PAGES * sizeof *t->meta);
  t->offset = malloc(TILE_PAGES * sizeof *t->offset);
  t->run_first = malloc(TILE_PAGES * sizeof *t->run_first);
  t->run_pages = malloc(TILE_PAGES * sizeof *t->run_pages);
  t->run_pinnable = malloc(TILE_PAGES);
  return t->pm && t->hi && t->lo && t->pfn && t->meta && t->offset && t->run_first && t->run_pages && t->run_pinnable ? 0 : -1;
}

static void tile_free(tile_t *t) {
  free(t->pm), free(t->hi), free(t->lo), free(t->pfn), free(t->meta), free(t->offset);
  free(t->run_first), free(t->run_pages), free(t->run_pinnable);
  memset(t, 0, sizeof *t);
}

/* Reads `want` bytes at remote address `addr` into dst: process_vm_readv when allowed, else pread. */
static int read_remote(const tile_t *t, int pinnable, unsigned char *dst, size_t want, uint64_t addr) {
  size_t got = 0;
  if (pinnable && t->pin_pid > 0) {
    struct iovec local = {dst, want}, remote = {(void *)(uintptr_t)addr, want};
    ssize_t rc = process_vm_readv(t->pin_pid, &local, 1, &remote, 1, 0);
    if (rc > 0) got = (size_t)rc - (size_t)rc % t->ps; /* what was not read whole: by pread below */
  }
  while (got < want) {
    ssize_t rc = pread(t->mem_fd, dst + got, want - got, (off_t)(addr + got));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return rc < 0 ? errno : EFAULT;
    got += (size_t)rc;
  }
  return 0;
}

/* Does one tile, reading through `buf` (READ_CHUNK, page-aligned: the thread's own). */
static void run_tile(tile_t *t, unsigned char *buf) {
  const uint32_t ps = t->ps;
  t->got = t->count = 0;
  t->err = 0;
  /* 1. pagemap: one entry per virtual page. A short read is the end of what pagemap has. */
  size_t want = (size_t)t->pages * 8, have = 0;
  while (have < want) {
    ssize_t rc = pread(t->pm_fd, (char *)t->pm + have, want - have, (off_t)(t->first_vpage * 8 + have));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) {
      t->err = errno;
      return;
    }
    if (rc == 0) break;
    have += (size_t)rc;
  }
  t->got = (uint32_t)(have / 8);
  if (t->got == 0 && t->pages > 0) {
    t->err = ESRCH; /* nothing at all: the process is gone */
    return;
  }
  /* 2. records and runs. */
  uint32_t n = 0, runs = 0;
  for (uint32_t i = 0; i < t->got; i++) {
    uint64_t e = t->pm[i];
    if (!(e >> 63)) continue;
    uint64_t pfn = e & ((1ull << 55) - 1);
    uint32_t m = ((e >> 61) & 1) ? t->meta_file : (t->meta_anon | META_ANON);
    /* Page-cache and shared-memory pages (bit 61) may be pinned: a pin never unshares them. */
    uint8_t pinnable = (uint8_t)((e >> 61) & 1);
    if ((e >> 56) & 1) m |= META_EXCLUSIVE;
    if (t->no_phys || pfn >= (1ull << 32)) {
      m |= META_NO_PHYS;
      t->pfn[n] = 0;
    } else {
      m |= t->domain << 26;
      t->pfn[n] = (uint32_t)pfn;
    }
    t->meta[n] = m;
    t->offset[n] = i;
    if (runs > 0 && t->offset[n - 1] + 1 == i && t->run_pinnable[runs - 1] == pinnable) {
      t->run_pages[runs - 1]++;
    } else {
      t->run_first[runs] = n;
      t->run_pages[runs] = 1;
      t->run_pinnable[runs] = pinnable;
      runs++;
    }
    n++;
  }
  t->count = n;
  /* 3. contents: the runs, READ_CHUNK at a time, each chunk hashed while it is in cache. */
  const uint32_t chunk_pages = READ_CHUNK / ps;
  uint32_t r = 0, into_run = 0; /* next page to read: run r, page into_run of it */
  while (r < runs) {
    uint32_t filled = 0, first_record = t->run_first[r] + into_run;
    while (filled < chunk_pages && r < runs) {
      uint32_t take = t->run_pages[r] - into_run;
      if (take > chunk_pages - filled) take = chunk_pages - filled;
      uint64_t addr = (t->first_vpage + t->offset[t->run_first[r]] + into_run) * (uint64_t)ps;
      int err = read_remote(t, t->run_pinnable[r], buf + (size_t)filled * ps, (size_t)take * ps, addr);
      if (err != 0) {
        t->err = err;
        return;
      }
      filled += take;
      into_run += take;
      if (into_run == t->run_pages[r]) {
        r++;
        into_run = 0;
      }
    }
    hash_buffer(buf, filled, ps, t->hi + first_record, t->lo + first_record);
  }
  /*
   * process_vm_readv names the process by its number. Had it exited after the pagemap read and
   * its number gone to a new process, the pages read would be the new one's: its pagemap, opened
   * on the old process, then reads nothing, and the tile fails as for a process gone.
   */
  int by_pid = 0;
  for (uint32_t k = 0; k < runs && !by_pid; k++) by_pid = t->run_pinnable[k] && t->pin_pid > 0;
  if (by_pid) {
    uint64_t e;
    ssize_t rc;
    do rc = pread(t->pm_fd, &e, 8, (off_t)(t->first_vpage * 8));
    while (rc < 0 && errno == EINTR);
    if (rc != 8) t->err = rc < 0 ? errno : ESRCH;
  }
}

/*
 * A tiny pool. For each round the caller fills tiles[0 .. round_tiles) and the workers take the
 * next tile not yet taken until none is left: a worker that finishes early takes more, so none
 * waits long for another. The caller's thread only waits: a thread it wakes is often placed
 * on the caller's own CPU, and would share it with the caller until the scheduler moves it
 * (milliseconds on a virtual machine; the woken worker then did a tenth of the tiles).
 * Rounds smaller than two tiles, or with one thread, run on the caller's thread alone.
 */
typedef struct {
  pthread_t thread;
  unsigned char *buf;
} worker_t;

static worker_t workers[MAX_THREADS];
static int nworkers = 0;
static unsigned char *main_buf = NULL;
static tile_t tiles[ROUND_TILES];
static unsigned ntiles_ready = 0; /* tiles[0 .. ntiles_ready) have their stages */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static unsigned long round_id = 0;  /* bumped to start a round */
static int round_workers = 0;       /* workers asked to take part in this round */
static int round_busy = 0;          /* of those, still taking tiles */
static atomic_uint next_tile;
static atomic_ulong round_seq; /* round_id, readable without the lock, for spinning workers */
static unsigned round_tiles = 0;

static void take_tiles(unsigned char *buf) {
  for (;;) {
    unsigned i = atomic_fetch_add(&next_tile, 1);
    if (i >= round_tiles) return;
    run_tile(&tiles[i], buf);
  }
}

static double monotonic_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/*
 * How long a worker keeps looking for the next round before it sleeps. Rounds of one scan
 * follow each other within microseconds, and waking a sleeping thread can take a millisecond
 * on a virtual machine (its CPU may have to be scheduled again): long enough for the caller
 * to have done the whole round alone.
 */
#define SPIN_US 2000.0

/* What the workers do in the current round: take tiles, or take files (readRegions). */
static void (*round_fn)(unsigned char *buf) = take_tiles;

static void *worker_main(void *arg) {
  worker_t *w = (worker_t *)arg;
  int me = (int)(w - workers);
  unsigned long seen = 0;
  for (;;) {
    double until = monotonic_us() + SPIN_US;
    while (atomic_load(&round_seq) == seen && monotonic_us() < until) sched_yield();
    pthread_mutex_lock(&pool_mu);
    while (round_id == seen) pthread_cond_wait(&start_cv, &pool_mu);
    seen = round_id;
    int part = me < round_workers;
    pthread_mutex_unlock(&pool_mu);
    if (!part) continue;
    round_fn(w->buf);
    pthread_mutex_lock(&pool_mu);
    if (--round_busy == 0) pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&pool_mu);
  }
  return NULL;
}

/*
 * Worker i runs on the i-th CPU this process may use (modulo their number). Left to itself,
 * the scheduler often puts a woken worker on a CPU that another worker is already using, and
 * a round of a few milliseconds is over before it moves one of them.
 */
static void pin_worker(pthread_t thread, int i) {
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  int n = CPU_COUNT(&allowed);
  if (n < 2) return;
  int want = i % n;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (want-- == 0) {
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pthread_setaffinity_np(thread, sizeof one, &one); /* a failure only costs speed */
      return;
    }
  }
}

/* Set once a worker could not be started (a low process limit, say): the pool stays as it is. */
static int pool_full = 0;

/* Stages for a round and, for threads > 1, that many workers; returns how many threads read. */
static int ensure_pool(int threads) {
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (main_buf == NULL && posix_memalign((void **)&main_buf, 4096, READ_CHUNK) != 0) {
    main_buf = NULL;
    return 0;
  }
  while (ntiles_ready < ROUND_TILES) {
    if (tile_alloc(&tiles[ntiles_ready]) != 0) {
      tile_free(&tiles[ntiles_ready]);
      break;
    }
    ntiles_ready++;
  }
  if (ntiles_ready == 0) return 0;
  while (threads > 1 && !pool_full && nworkers < threads) {
    worker_t *w = &workers[nworkers];
    if (posix_memalign((void **)&w->buf, 4096, READ_CHUNK) != 0) {
      w->buf = NULL;
      pool_full = 1;
      break;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      /* Carry on with the threads there are: fewer threads are slower, never wrong. */
      free(w->buf);
      w->buf = NULL;
      pool_full = 1;
      break;
    }
    pthread_detach(w->thread);
    pin_worker(w->thread, nworkers);
    nworkers++;
  }
  if (threads <= 1 || nworkers < 2) return 1; /* with fewer than two workers, the caller reads alone */
  return nworkers < threads ? nworkers : threads;
}

/* Runs `fn` on `threads` workers, or on this thread if threads is 1, until it says done. */
static void run_round(void (*fn)(unsigned char *buf), int threads) {
  if (threads <= 1) {
    fn(main_buf);
    return;
  }
  pthread_mutex_lock(&pool_mu);
  round_fn = fn;
  round_workers = threads;
  round_busy = threads;
  round_id++;
  atomic_store(&round_seq, round_id);
  pthread_cond_broadcast(&start_cv);
  while (round_busy > 0) pthread_cond_wait(&done_cv, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
}

/* ---- N-API glue ---- */


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
 * readRegions(paths, threads) -> Array<table | number>: each /proc/PID/smaps read and parsed on
 * the worker pool into a table of its VMAs (native/smaps_table.c); a number is the errno of a
 * file that could not be read. The kernel writes smaps by walking every resident page (a tenth
 * of a scan's time, spread over the CPUs here), and a Chromium process's text is megabytes, of
 * which samepage needs three lines per VMA: the text is parsed as it is read and never kept.
 */
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

static napi_value read_regions(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0, threads = 1;
  bool is_array = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
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

/*
 * scanRange: the whole per-page path of a live region in one call. From page `first` of the
 * region, in tiles of up to TILE_PAGES virtual pages, one per thread: walks /proc/PID/pagemap,
 * makes an index record (PFN and meta word) of each present page, reads and hashes the present
 * pages; then writes the records in address order straight into the index arrays. Stops when
 * the region ends or `capacity` records are written, and says where it stopped, so the caller
 * can grow the index and go on.
 *
 * scanRange(pagemapFd, memFd, regionStart, regionPages, first, pageSize, metaAnon, metaFile,
 *           noPhys, domain, hashHi, hashLo, pfnLo, meta, out, capacity, threads, pid,
 *           zeroHi, zeroLo)
 *   -> [nextPage, written, swapped, errno, zeroCandidates]
 * metaAnon/metaFile: the meta word of an anonymous / page-cache page of this region (process,
 * kind and region flags) without the per-page bits, which are added here as in
 * src/index/page-index.ts: bit 20 anonymous, 21 exclusive, 25 no physical information,
 * 26-31 the physical domain. pid > 0: page-cache and shared-memory pages are read with
 * process_vm_readv (the process behind the fds), anonymous pages always with pread.
 * zeroCandidates: records written whose content hashes as a zero-filled page (zeroHi, zeroLo)
 * and that are anonymous and not exclusive, so may map the kernel's zero page: only then must
 * the caller look at the records (DirectIndexTarget.finish).
 */
static napi_value scan_range(napi_env env, napi_callback_info info) {
  size_t argc = 20;
  napi_value argv[20];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 20) {
    napi_throw_type_error(env, NULL, "scanRange: 20 arguments");
    return NULL;
  }
  int32_t pm_fd, mem_fd, pin_pid;
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
  CHECK(napi_get_value_int32(env, argv[17], &pin_pid));
  uint32_t zero_hi, zero_lo;
  CHECK(napi_get_value_uint32(env, argv[18], &zero_hi));
  CHECK(napi_get_value_uint32(env, argv[19], &zero_lo));
  if (!(region_pages_d >= 0 && region_pages_d < 9e15) || !(first_d >= 0 && first_d < 9e15) || !(region_start >= 0 && region_start < 1.9e19)) {
    napi_throw_range_error(env, NULL, "scanRange: arguments out of range");
    return NULL;
  }
  uint64_t region_pages = (uint64_t)region_pages_d, page = (uint64_t)first_d;
  if (!ok1 || !ok2 || !ok3 || !ok4 || ps == 0 || ps > READ_CHUNK || domain > 63 || (uint64_t)out + capacity > l1 || (uint64_t)out + capacity > l2 ||
      (uint64_t)out + capacity > l3 || (uint64_t)out + capacity > l4) {
    napi_throw_range_error(env, NULL, "scanRange: arguments out of range");
    return NULL;
  }
  uint64_t base_page = (uint64_t)region_start / ps;
  uint32_t written = 0, swapped = 0, zero_candidates = 0;
  int err = 0, ended = 0;
  int can = ensure_pool(threads < 1 ? 1 : (int)threads);
  if (can < 1) err = ENOMEM;

  while (!err && !ended && page < region_pages && written < capacity) {
    uint64_t remaining = region_pages - page;
    int n = remaining < MIN_SPLIT_PAGES ? 1 : can;
    uint64_t at = page;
    unsigned used = 0;
    /* No more tiles than the room left could take if every page were present. */
    unsigned most = (unsigned)(((uint64_t)(capacity - written) + TILE_PAGES - 1) / TILE_PAGES);
    if (most > ntiles_ready) most = ntiles_ready;
    for (; used < most && at < region_pages; used++) {
      tile_t *tl = &tiles[used];
      tl->pm_fd = pm_fd;
      tl->mem_fd = mem_fd;
      tl->pin_pid = pin_pid > 0 ? (pid_t)pin_pid : 0;
      tl->ps = ps;
      tl->meta_anon = meta_anon;
      tl->meta_file = meta_file;
      tl->no_phys = no_phys;
      tl->domain = domain;
      tl->first_vpage = base_page + at;
      tl->pages = (uint32_t)(region_pages - at < TILE_PAGES ? region_pages - at : TILE_PAGES);
      at += tl->pages;
    }
    atomic_store(&next_tile, 0);
    round_tiles = used;
    run_round(take_tiles, used > 1 ? n : 1);
    /* Commit in address order, as far as there is room; a failed tile ends the call. */
    for (unsigned t = 0; t < used; t++) {
      tile_t *tl = &tiles[t];
      if (tl->err) {
        err = tl->err;
        break;
      }
      uint32_t fit = tl->count;
      if (fit > capacity - written) fit = capacity - written;
      memcpy(hi + out + written, tl->hi, fit * sizeof *hi);
      memcpy(lo + out + written, tl->lo, fit * sizeof *lo);
      memcpy(pfn_lo + out + written, tl->pfn, fit * sizeof *pfn_lo);
      memcpy(meta + out + written, tl->meta, fit * sizeof *meta);
      for (uint32_t i = 0; i < fit; i++)
        if (tl->hi[i] == zero_hi && tl->lo[i] == zero_lo && (tl->meta[i] & (META_ANON | META_EXCLUSIVE)) == META_ANON) zero_candidates++;
      written += fit;
      /* Pages up to the first record that did not fit are done. */
      uint32_t done_pages = fit < tl->count ? tl->offset[fit] : tl->got;
      for (uint32_t i = 0; i < done_pages; i++)
        if (!(tl->pm[i] >> 63) && ((tl->pm[i] >> 62) & 1)) swapped++;
      page = tl->first_vpage - base_page + done_pages;
      if (fit < tl->count) break;
      if (tl->got < tl->pages) {
        ended = 1; /* pagemap ended early: nothing more to read in this region */
        break;
      }
    }
  }

  napi_value result, v;
  CHECK(napi_create_array_with_length(env, 5, &result));
  CHECK(napi_create_double(env, (double)page, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, written, &v));
  CHECK(napi_set_element(env, result, 1, v));
  CHECK(napi_create_uint32(env, swapped, &v));
  CHECK(napi_set_element(env, result, 2, v));
  CHECK(napi_create_int32(env, err, &v));
  CHECK(napi_set_element(env, result, 3, v));
  CHECK(napi_create_uint32(env, zero_candidates, &v));
  CHECK(napi_set_element(env, result, 4, v));
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

/*
 * The version of this file's interface to src/native/native-addon.ts (NATIVE_ABI there): bump
 * both when a function's arguments or results change, so that an addon built from older
 * sources is refused (and the JavaScript path used) instead of called wrongly.
 */
#define SAMEPAGE_NATIVE_ABI 2

static napi_value init(napi_env env, napi_value exports) {
#ifdef M_MMAP_THRESHOLD
  /*
   * glibc raises its mmap threshold each time a large block is freed, after which blocks of
   * up to that size come from the heap and stay resident once freed. A fixed threshold returns
   * them: 11 MiB less at the peak of a scan of Chromium when its smaps texts (megabytes) still
   * went through JavaScript; the index's arrays, replaced when they grow, are such blocks too.
   */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
  napi_value abi;
  if (napi_create_uint32(env, SAMEPAGE_NATIVE_ABI, &abi) != napi_ok) return NULL;
  napi_property_descriptor props[] = {
      {"hashPages", NULL, hash_pages, NULL, NULL, NULL, napi_default, NULL},
      {"scanRange", NULL, scan_range, NULL, NULL, NULL, napi_default, NULL},
      {"sortIndex", NULL, sort_index, NULL, NULL, NULL, napi_default, NULL},
      {"modelPass", NULL, ksm_model_pass, NULL, NULL, NULL, napi_default, NULL},
      {"readRegions", NULL, read_regions, NULL, NULL, NULL, napi_default, NULL},
      {"parseSmapsTable", NULL, parse_smaps_table, NULL, NULL, NULL, napi_default, NULL},
      {"abi", NULL, NULL, NULL, NULL, abi, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
