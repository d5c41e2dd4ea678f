/*
 * scanRange: the whole per-page path of a live region, in tiles read on the worker pool
 * (native/pool.c): read pages of another process and hash each with XXH3-64 (native/hash.c).
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
 * The tiles and their stages are process-wide, as the pool is: one caller at a time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <node_api.h>

#include "exports.h"
#include "hash.h"
#include "napi_args.h"
#include "pool.h"
#include "shared_constants.h"

#define TILE_PAGES 512u        /* virtual pages per tile: one pagemap read, one thread */
#define ROUND_TILES 128u       /* tiles in flight at once, taken by whichever thread is free */
#define MIN_SPLIT_PAGES 4096u  /* below this many virtual pages a call stays on one thread */

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
    if (!(e >> PM_PRESENT_BIT)) continue;
    uint64_t pfn = e & ((1ull << PM_PFN_BITS) - 1);
    uint32_t m = ((e >> PM_FILE_BIT) & 1) ? t->meta_file : (t->meta_anon | META_ANON);
    /* Page-cache and shared-memory pages (bit 61) may be pinned: a pin never unshares them. */
    uint8_t pinnable = (uint8_t)((e >> PM_FILE_BIT) & 1);
    if ((e >> PM_EXCLUSIVE_BIT) & 1) m |= META_EXCLUSIVE;
    if (t->no_phys || pfn >= FRAMES_PER_DOMAIN) {
      m |= META_NO_PHYS;
      t->pfn[n] = 0;
    } else {
      m |= t->domain << META_DOMAIN_SHIFT;
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

static tile_t tiles[ROUND_TILES];
static unsigned ntiles_ready = 0; /* tiles[0 .. ntiles_ready) have their stages */
static atomic_uint next_tile;
static unsigned round_tiles = 0;

/* The stages of a round's tiles, as many as there is memory for (up to ROUND_TILES): how many. */
static unsigned ensure_tiles(void) {
  while (ntiles_ready < ROUND_TILES) {
    if (tile_alloc(&tiles[ntiles_ready]) != 0) {
      tile_free(&tiles[ntiles_ready]);
      break;
    }
    ntiles_ready++;
  }
  return ntiles_ready;
}

/* A round's work on each thread: the next tile not yet taken, until none is left. */
static void take_tiles(unsigned char *buf) {
  for (;;) {
    unsigned i = atomic_fetch_add(&next_tile, 1);
    if (i >= round_tiles) return;
    run_tile(&tiles[i], buf);
  }
}

/*
 * From page `first` of the region, in tiles of up to TILE_PAGES virtual pages, one per thread:
 * walks /proc/PID/pagemap, makes an index record (PFN and meta word) of each present page,
 * reads and hashes the present pages; then writes the records in address order straight into
 * the index arrays. Stops when the region ends or `capacity` records are written, and says
 * where it stopped, so the caller can grow the index and go on. The per-page bits of the meta
 * word are added here as in src/index/page-index.ts. Options and result: ScanRangeOptions and
 * NativeAddon.scanRange in src/native/native-addon.ts.
 */
napi_value scan_range(napi_env env, napi_callback_info info) {
  opts_t o;
  if (!opts_of(env, info, "scanRange", &o)) return NULL;
  int32_t pm_fd = opt_i32(&o, "pagemapFd"), mem_fd = opt_i32(&o, "memFd"), pin_pid = opt_i32(&o, "pid");
  double region_start = opt_f64(&o, "regionStart"), region_pages_d = opt_f64(&o, "regionPages"), first_d = opt_f64(&o, "first");
  uint32_t ps = opt_u32(&o, "pageSize"), meta_anon = opt_u32(&o, "metaAnon"), meta_file = opt_u32(&o, "metaFile");
  uint32_t no_phys = opt_bool(&o, "noPhys"), domain = opt_u32(&o, "domain");
  opts_t ix = opt_object(&o, "index", "index.");
  size_t l1 = 0, l2 = 0, l3 = 0, l4 = 0;
  uint32_t *hi = opt_typed(&ix, "hashHi", napi_uint32_array, "a Uint32Array", &l1);
  uint32_t *lo = opt_typed(&ix, "hashLo", napi_uint32_array, "a Uint32Array", &l2);
  uint32_t *pfn_lo = opt_typed(&ix, "pfnLo", napi_uint32_array, "a Uint32Array", &l3);
  uint32_t *meta = opt_typed(&ix, "meta", napi_uint32_array, "a Uint32Array", &l4);
  /* Optional: each record's page within the region, for a later re-read to line up with. */
  uint32_t *page_offset = NULL;
  size_t l5 = 0;
  {
    napi_value po = opt_value(&ix, "pageOffset");
    napi_valuetype pot = napi_undefined;
    if (po != NULL && napi_typeof(env, po, &pot) == napi_ok && pot != napi_undefined && pot != napi_null)
      page_offset = opt_typed(&ix, "pageOffset", napi_uint32_array, "a Uint32Array, null or undefined", &l5);
  }
  uint32_t out = opt_u32(&o, "out"), capacity = opt_u32(&o, "capacity"), threads = opt_u32(&o, "threads");
  opts_t zh = opt_object(&o, "zeroHash", "zeroHash.");
  uint32_t zero_hi = opt_u32(&zh, "hi"), zero_lo = opt_u32(&zh, "lo");
  if (*o.failed) return NULL;
  if (!(region_pages_d >= 0 && region_pages_d < 9e15) || !(first_d >= 0 && first_d < 9e15) || !(region_start >= 0 && region_start < 1.9e19)) {
    napi_throw_range_error(env, NULL, "scanRange: arguments out of range");
    return NULL;
  }
  uint64_t region_pages = (uint64_t)region_pages_d, page = (uint64_t)first_d;
  if (ps == 0 || ps > READ_CHUNK || domain >= MAX_DOMAINS || (uint64_t)out + capacity > l1 || (uint64_t)out + capacity > l2 ||
      (uint64_t)out + capacity > l3 || (uint64_t)out + capacity > l4 || (page_offset != NULL && (uint64_t)out + capacity > l5) ||
      (page_offset != NULL && region_pages_d > 4294967295.0)) {
    napi_throw_range_error(env, NULL, "scanRange: arguments out of range");
    return NULL;
  }
  uint64_t base_page = (uint64_t)region_start / ps;
  uint32_t written = 0, swapped = 0, zero_candidates = 0;
  int err = 0, ended = 0;
  int can = ensure_pool(threads < 1 ? 1 : (int)threads);
  if (can < 1 || ensure_tiles() == 0) err = ENOMEM;

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
      if (page_offset != NULL) {
        uint32_t tile_page = (uint32_t)(tl->first_vpage - base_page);
        for (uint32_t i = 0; i < fit; i++) page_offset[out + written + i] = tile_page + tl->offset[i];
      }
      for (uint32_t i = 0; i < fit; i++)
        if (tl->hi[i] == zero_hi && tl->lo[i] == zero_lo && (tl->meta[i] & (META_ANON | META_EXCLUSIVE)) == META_ANON) zero_candidates++;
      written += fit;
      /* Pages up to the first record that did not fit are done. */
      uint32_t done_pages = fit < tl->count ? tl->offset[fit] : tl->got;
      for (uint32_t i = 0; i < done_pages; i++)
        if (!(tl->pm[i] >> PM_PRESENT_BIT) && ((tl->pm[i] >> PM_SWAPPED_BIT) & 1)) swapped++;
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
