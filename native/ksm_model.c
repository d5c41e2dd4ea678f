/*
 * The KSM model's pass over the sorted index, in C: the same arithmetic as runKsmModel in
 * src/analysis/js-model.ts, which stays the reference (test/unit/ksm-model.test.ts compares the
 * two on the same indexes). A content whose answer needs the kernel's physical information (a
 * frame KSM could merge that may be mapped more than once: is it pinned elsewhere, is it
 * already a KSM page) is answered here when the frames' domains have kernel-shaped files
 * (/proc/kpagecount and /proc/kpageflags, 8 bytes per frame), and otherwise handed back as a
 * deferred record range for the JavaScript model to finish.
 *
 * modelPass: options and result in src/native/native-addon.ts (ModelPassOptions), the counters'
 * layout in native/shared_constants.h. Stops early, at a content boundary, when `deferred` is
 * full.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>

#include "exports.h"
#include "napi_args.h"
#include "shared_constants.h"

#define SCOPES COUNTER_SCOPES

static inline uint32_t m_proc(uint32_t m) { return m & META_PROCESS_MASK; }
static inline uint32_t m_kind(uint32_t m) { return (m >> META_KIND_SHIFT) & META_KIND_MASK; }
static inline uint64_t m_pfn(uint32_t m, uint32_t lo) { return ((uint64_t)(m >> META_DOMAIN_SHIFT) << 32) | lo; }

typedef struct {
  double *distinct, *naive, *huge_resident;
  double *kind_resident, *kind_zero, *kind_zero_page, *kind_within, *kind_across, *kind_shared;
  double *proc_resident, *proc_anon, *proc_zero, *proc_within, *proc_across, *proc_shared;
  struct {
    double *scalars; /* ramFreed, pagesShared, pagesSharing, ksmZeroPages, pagesUnshared, rmapItems, ramFreedHuge */
    double *merging, *zero_pages, *rmap, *ram_freed, *freed_by_kind;
  } scope[SCOPES];
} counters_t;

static size_t counters_size(uint32_t kinds, uint32_t procs) {
  return COUNTERS_HEAD + COUNTERS_PER_KIND * (size_t)kinds + COUNTERS_PER_PROCESS * (size_t)procs +
         SCOPES * (SCOPE_SCALARS + SCOPE_COUNTERS_PER_PROCESS * (size_t)procs + SCOPE_COUNTERS_PER_KIND * (size_t)kinds);
}

static void counters_map(counters_t *c, double *base, uint32_t kinds, uint32_t procs) {
  double *p = base;
  c->distinct = p++;
  c->naive = p++;
  c->huge_resident = p++;
  c->kind_resident = p; p += kinds;
  c->kind_zero = p; p += kinds;
  c->kind_zero_page = p; p += kinds;
  c->kind_within = p; p += kinds;
  c->kind_across = p; p += kinds;
  c->kind_shared = p; p += kinds;
  c->proc_resident = p; p += procs;
  c->proc_anon = p; p += procs;
  c->proc_zero = p; p += procs;
  c->proc_within = p; p += procs;
  c->proc_across = p; p += procs;
  c->proc_shared = p; p += procs;
  for (int s = 0; s < SCOPES; s++) {
    c->scope[s].scalars = p; p += SCOPE_SCALARS;
    c->scope[s].merging = p; p += procs;
    c->scope[s].zero_pages = p; p += procs;
    c->scope[s].rmap = p; p += procs;
    c->scope[s].ram_freed = p; p += procs;
    c->scope[s].freed_by_kind = p; p += kinds;
  }
}

/*
 * Scratch for one content: its eligible records and, per distinct frame, where its mappings
 * start, how many there are, whether all are exclusive, and the kernel's answer once asked.
 */
typedef struct {
  uint32_t *records, *frame_first, *frame_maps;
  uint64_t *frame_id;
  double *weight; /* per record of the content: 1 / mappings of its frame */
  uint8_t *frame_state; /* 1: every mapping exclusive; 2: no physical information; 0: ask */
  int8_t *frame_pinned; /* -1 not asked yet, else 0 or 1 */
  size_t cap;
  /* Per process: what it holds of the content, its duplicates per unit of weight, its share count. */
  double *hold, *within_pw, *across_pw;
  uint32_t *share_count;
  uint32_t *touched;
  uint32_t kind_count[MAX_KINDS];
} scratch_t;

static int scratch_reserve(scratch_t *s, size_t n) {
  if (n <= s->cap) return 0;
  size_t cap = s->cap ? s->cap : 256;
  while (cap < n) cap *= 2;
#define GROW(field, count)                                      \
  do {                                                          \
    void *p = realloc(s->field, (count) * sizeof *s->field);    \
    if (!p) return -1;                                          \
    s->field = p;                                               \
  } while (0)
  GROW(records, cap);
  GROW(frame_first, cap + 1);
  GROW(weight, cap);
  GROW(frame_maps, cap);
  GROW(frame_id, cap);
  GROW(frame_state, cap);
  GROW(frame_pinned, cap);
#undef GROW
  s->cap = cap;
  return 0;
}

static void scratch_free(scratch_t *s) {
  free(s->hold);
  free(s->within_pw);
  free(s->across_pw);
  free(s->share_count);
  free(s->touched);
  free(s->records);
  free(s->frame_first);
  free(s->weight);
  free(s->frame_maps);
  free(s->frame_id);
  free(s->frame_state);
  free(s->frame_pinned);
}

/* The kernel's files per physical domain (see domainFiles above); NULL: no physical answers. */
typedef struct {
  const int32_t *fds;
} physical_t;

/* One 8-byte word of a kernel-shaped file; 0 when it cannot be read, as in JavaScript. */
static uint64_t frame_word(int fd, uint64_t pfn) {
  uint64_t w = 0;
  if (fd < 0 || pread(fd, &w, 8, (off_t)(pfn * 8)) != 8) return 0;
  return w;
}

static uint64_t map_count(const physical_t *ph, uint64_t frame) {
  return frame_word(ph->fds[2 * (frame >> 32)], frame & 0xffffffffu) & 0xffffffffu;
}

static int is_ksm_page(const physical_t *ph, uint64_t frame) {
  return (frame_word(ph->fds[2 * (frame >> 32) + 1], frame & 0xffffffffu) >> KPF_KSM) & 1;
}

/* Frame i is also mapped where KSM will not merge it (another process, a shared VMA). */
static int pinned(const physical_t *ph, scratch_t *x, uint32_t i) {
  if (ph == NULL || x->frame_state[i] != 0) return 0;
  if (x->frame_pinned[i] < 0) x->frame_pinned[i] = map_count(ph, x->frame_id[i]) > x->frame_maps[i];
  return x->frame_pinned[i];
}

typedef struct {
  const uint32_t *hh, *hl, *pl, *mt;
  uint32_t use_zero_pages, max_page_sharing;
} input_t;

/*
 * Splits `amount` equally among the first `count` eligible mappings: per process and per kind,
 * its number of mappings x amount / count (EqualShares in js-model.ts, in the same order).
 */
static void split_equally(const input_t *in, scratch_t *x, uint32_t count, double amount, double *into_proc, double *into_kind) {
  uint32_t touched = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t m = in->mt[x->records[i]], p = m_proc(m);
    if (x->share_count[p] == 0) x->touched[touched++] = p;
    x->share_count[p]++;
    x->kind_count[m_kind(m)]++;
  }
  for (uint32_t i = 0; i < touched; i++) {
    uint32_t p = x->touched[i];
    into_proc[p] += ((double)x->share_count[p] * amount) / (double)count;
    x->share_count[p] = 0;
  }
  for (uint32_t k = 0; k < MAX_KINDS; k++) {
    if (x->kind_count[k] == 0) continue;
    into_kind[k] += ((double)x->kind_count[k] * amount) / (double)count;
    x->kind_count[k] = 0;
  }
}

/* Unpinned frames beyond `keep` of them are freed, split equally among the `merging` mappings that merge. */
static void free_frames(counters_t *c, int s, const input_t *in, scratch_t *x, uint32_t frames, uint32_t keep, uint32_t merging, const physical_t *ph) {
  uint32_t unpinned = 0;
  for (uint32_t i = 0; i < frames; i++) {
    if (pinned(ph, x, i)) continue;
    /* The frames kept are the first unpinned ones; the others are freed (the huge-page figure). */
    if (unpinned++ < keep) continue;
    if (in->mt[x->records[x->frame_first[i]]] & META_HUGE) c->scope[s].scalars[SCOPE_RAM_FREED_HUGE] += 1;
  }
  uint32_t freed = unpinned > keep ? unpinned - keep : 0;
  c->scope[s].scalars[SCOPE_RAM_FREED] += freed;
  if (freed > 0 && merging > 0) split_equally(in, x, merging, (double)freed, c->scope[s].ram_freed, c->scope[s].freed_by_kind);
}

#define EPSILON 1e-9 /* EPSILON in js-model.ts: 1/3 + 1/3 + 1/3 is not exactly 1 */

static inline double up_to_one(double h) { return h >= 1 - EPSILON ? 1 : h; }

/*
 * Duplicates among distinct frames, and mappings already shared (countDuplicates in
 * js-model.ts, the reference, in the same order of operations).
 */
static void count_duplicates(counters_t *c, const input_t *in, scratch_t *x, uint32_t a, uint32_t b) {
  const uint32_t *mt = in->mt;
  uint32_t touched = 0;
  for (uint32_t r = a; r < b;) {
    uint32_t m = mt[r], e = r + 1;
    /* Records of one frame are adjacent; without a frame number each mapping is its own frame. */
    if (!(m & META_NO_PHYS)) {
      uint64_t pfn = m_pfn(m, in->pl[r]);
      while (e < b && !(mt[e] & META_NO_PHYS) && m_pfn(mt[e], in->pl[e]) == pfn) e++;
    }
    uint32_t mappings = e - r;
    double w = 1.0 / (double)mappings;
    double shared = (double)(mappings - 1) / (double)mappings;
    for (uint32_t i = r; i < e; i++) {
      x->weight[i - a] = w;
      uint32_t mi = mt[i], p = m_proc(mi);
      if (x->hold[p] == 0) x->touched[touched++] = p;
      x->hold[p] += w;
      if (mappings > 1) {
        c->kind_shared[m_kind(mi)] += shared;
        c->proc_shared[p] += shared;
      }
    }
    r = e;
  }
  double held = 0;
  for (uint32_t i = 0; i < touched; i++) held += up_to_one(x->hold[x->touched[i]]);
  double across = held - 1 > EPSILON ? held - 1 : 0;
  for (uint32_t i = 0; i < touched; i++) {
    uint32_t p = x->touched[i];
    double h = x->hold[p];
    double within = h > 1 + EPSILON ? h - 1 : 0;
    double share = across == 0 ? 0 : (across * up_to_one(h)) / held;
    c->proc_within[p] += within;
    c->proc_across[p] += share;
    x->within_pw[p] = within / h;
    x->across_pw[p] = share / h;
  }
  /* By kind: each mapping takes its process's figures in proportion to its weight. */
  for (uint32_t r = a; r < b; r++) {
    uint32_t m = mt[r], p = m_proc(m), k = m_kind(m);
    double w = x->weight[r - a];
    c->kind_within[k] += w * x->within_pw[p];
    c->kind_across[k] += w * x->across_pw[p];
  }
  for (uint32_t i = 0; i < touched; i++) x->hold[x->touched[i]] = 0;
}

/* One content [a, b); ph NULL: it needs no physical answer. */
static int content(counters_t *c, const input_t *in, scratch_t *x, uint32_t a, uint32_t b, int is_zero, const physical_t *ph) {
  const uint32_t *mt = in->mt;
  for (uint32_t r = a; r < b; r++) {
    uint32_t m = mt[r], k = m_kind(m), p = m_proc(m);
    c->kind_resident[k] += 1;
    c->proc_resident[p] += 1;
    if (m & META_ANON) c->proc_anon[p] += 1;
    if (m & META_HUGE) *c->huge_resident += 1;
    if (is_zero) {
      c->kind_zero[k] += 1;
      c->proc_zero[p] += 1;
      if (m & META_ZERO_PFN) c->kind_zero_page[k] += 1;
    }
  }
  if (scratch_reserve(x, b - a) != 0) return -1;
  if (b - a > 1) {
    *c->naive += b - a - 1;
    count_duplicates(c, in, x, a, b);
  }
  for (int s = 0; s < SCOPES; s++) {
    const uint32_t need = META_ANON | (s == 0 ? META_COMPATIBLE : META_MERGEABLE_NOW);
    double *sc = c->scope[s].scalars;
    uint32_t M = 0, D = 0;
    uint64_t last = 0;
    for (uint32_t r = a; r < b; r++) {
      uint32_t m = mt[r];
      if ((m & need) != need || (m & META_ZERO_PFN)) continue;
      uint64_t pfn = m_pfn(m, in->pl[r]);
      int no_phys = (m & META_NO_PHYS) != 0;
      /* Without physical information every mapping counts as its own frame: an upper bound. */
      if (no_phys || D == 0 || pfn != last) {
        x->frame_first[D] = M;
        x->frame_maps[D] = 0;
        x->frame_id[D] = pfn;
        x->frame_state[D] = no_phys ? 2 : 1;
        x->frame_pinned[D] = -1;
        D++;
      }
      last = pfn;
      x->frame_maps[D - 1]++;
      if (!(m & META_EXCLUSIVE) && x->frame_state[D - 1] == 1) x->frame_state[D - 1] = 0;
      x->records[M++] = r;
    }
    if (M == 0) continue;
    if (is_zero && in->use_zero_pages) {
      /* Each zero-filled mapping is pointed at the kernel's zero page: no rmap_item stays. */
      sc[SCOPE_KSM_ZERO_PAGES] += M;
      for (uint32_t i = 0; i < M; i++) c->scope[s].zero_pages[m_proc(mt[x->records[i]])] += 1;
      free_frames(c, s, in, x, D, 0, M, ph);
      continue;
    }
    sc[SCOPE_RMAP_ITEMS] += M;
    for (uint32_t i = 0; i < M; i++) c->scope[s].rmap[m_proc(mt[x->records[i]])] += 1;
    if (M < 2) {
      sc[SCOPE_PAGES_UNSHARED] += 1;
      continue;
    }
    if (D == 1) {
      if (ph != NULL && is_ksm_page(ph, x->frame_id[0])) {
        /* Already a KSM page (KSM is running): every mapping stays counted, nothing more is freed. */
        sc[SCOPE_PAGES_SHARED] += 1;
        sc[SCOPE_PAGES_SHARING] += M - 1;
        for (uint32_t i = 0; i < M; i++) c->scope[s].merging[m_proc(mt[x->records[i]])] += 1;
      } else {
        /* One frame mapped several times (fork): KSM never merges a page with itself. */
        sc[SCOPE_PAGES_UNSHARED] += 1;
      }
      continue;
    }
    uint32_t mps = in->max_page_sharing < 2 ? 2 : in->max_page_sharing;
    uint32_t full = M / mps, rem = M % mps;
    /* Each KSM page serves at most max_page_sharing mappings; a last lone mapping finds no partner. */
    uint32_t ksm_pages = full + (rem >= 2 ? 1 : 0);
    if (ksm_pages > D) ksm_pages = D;
    uint32_t merged = rem == 1 ? M - 1 : M;
    if (rem == 1) sc[SCOPE_PAGES_UNSHARED] += 1;
    sc[SCOPE_PAGES_SHARED] += ksm_pages;
    sc[SCOPE_PAGES_SHARING] += merged - ksm_pages;
    for (uint32_t i = 0; i < merged; i++) c->scope[s].merging[m_proc(mt[x->records[i]])] += 1;
    uint32_t pinned_frames = 0;
    for (uint32_t i = 0; i < D; i++) pinned_frames += (uint32_t)pinned(ph, x, i);
    /* A pinned frame that becomes a KSM page keeps serving: only the rest of the KSM pages cost. */
    free_frames(c, s, in, x, D, ksm_pages > pinned_frames ? ksm_pages - pinned_frames : 0, merged, ph);
  }
  return 0;
}

/*
 * A content needs the kernel when one of the frames KSM could merge may be mapped more than
 * once: an eligible mapping (anonymous, in a VMA KSM accepts, not the zero page) not known to
 * be exclusive, or one frame met twice (records of a frame are adjacent). Other mappings, page
 * cache above all, are only counted as content and never ask.
 */
static int needs_physical(const uint32_t *mt, const uint32_t *pl, uint32_t a, uint32_t b) {
  int have_last = 0;
  uint64_t last = 0;
  for (uint32_t r = a; r < b; r++) {
    uint32_t m = mt[r];
    if (!(m & META_ANON) || !(m & (META_COMPATIBLE | META_MERGEABLE_NOW)) || (m & (META_NO_PHYS | META_ZERO_PFN))) continue;
    if (!(m & META_EXCLUSIVE)) return 1;
    uint64_t pfn = m_pfn(m, pl[r]);
    if (have_last && pfn == last) return 1;
    have_last = 1;
    last = pfn;
  }
  return 0;
}

/* Every frame of [a, b) that may be asked about lies in a domain answered from files, or in none. */
static int answerable(const int32_t *fds, const uint32_t *mt, uint32_t a, uint32_t b) {
  for (uint32_t r = a; r < b; r++) {
    uint32_t m = mt[r];
    if (!(m & META_ANON) || !(m & (META_COMPATIBLE | META_MERGEABLE_NOW)) || (m & (META_NO_PHYS | META_ZERO_PFN))) continue;
    if (fds[2 * (m >> META_DOMAIN_SHIFT)] == DOMAIN_FILES_ELSEWHERE || fds[2 * (m >> META_DOMAIN_SHIFT) + 1] == DOMAIN_FILES_ELSEWHERE) return 0;
  }
  return 1;
}

napi_value ksm_model_pass(napi_env env, napi_callback_info info) {
  opts_t o;
  if (!opts_of(env, info, "modelPass", &o)) return NULL;
  input_t in;
  size_t l_hh = 0, l_hl = 0, l_pl = 0, l_mt = 0, l_c = 0, l_d = 0, l_f = 0;
  opts_t ix = opt_object(&o, "index", "index.");
  in.hh = opt_typed(&ix, "hashHi", napi_uint32_array, "a Uint32Array", &l_hh);
  in.hl = opt_typed(&ix, "hashLo", napi_uint32_array, "a Uint32Array", &l_hl);
  in.pl = opt_typed(&ix, "pfnLo", napi_uint32_array, "a Uint32Array", &l_pl);
  in.mt = opt_typed(&ix, "meta", napi_uint32_array, "a Uint32Array", &l_mt);
  uint32_t from = opt_u32(&o, "from"), n = opt_u32(&o, "n"), kinds = opt_u32(&o, "kinds"), procs = opt_u32(&o, "processes");
  opts_t zh = opt_object(&o, "zeroHash", "zeroHash.");
  uint32_t zhi = opt_u32(&zh, "hi"), zlo = opt_u32(&zh, "lo");
  in.use_zero_pages = opt_bool(&o, "useZeroPages");
  in.max_page_sharing = opt_u32(&o, "maxPageSharing");
  uint32_t physical = opt_bool(&o, "physical");
  /* Hand the zero-filled content back to JavaScript (huge page splits free some of it uncounted). */
  uint32_t defer_zero = opt_bool(&o, "deferZero");
  double *counters = opt_typed(&o, "counters", napi_float64_array, "a Float64Array", &l_c);
  uint32_t *deferred = opt_typed(&o, "deferred", napi_uint32_array, "a Uint32Array", &l_d);
  const int32_t *domain_files = opt_typed(&o, "domainFiles", napi_int32_array, "an Int32Array", &l_f);
  if (*o.failed) return NULL;
  if (l_f < 2 * MAX_DOMAINS || n > l_hh || n > l_hl || n > l_pl || n > l_mt || from > n || kinds > MAX_KINDS || procs == 0 ||
      procs > MAX_PROCESSES || l_c < counters_size(kinds, procs) || l_d < 2) {
    napi_throw_range_error(env, NULL, "modelPass: arguments out of range");
    return NULL;
  }
  counters_t c;
  counters_map(&c, counters, kinds, procs);
  scratch_t x = {0};
  const physical_t ph = {domain_files};
  x.hold = calloc(procs, sizeof *x.hold);
  x.within_pw = calloc(procs, sizeof *x.within_pw);
  x.across_pw = calloc(procs, sizeof *x.across_pw);
  x.share_count = calloc(procs, sizeof *x.share_count);
  x.touched = calloc(procs, sizeof *x.touched);
  if (!x.hold || !x.within_pw || !x.across_pw || !x.share_count || !x.touched || scratch_reserve(&x, 256) != 0) goto oom;

  const uint32_t *hh = in.hh, *hl = in.hl, *mt = in.mt;
  double lonely[SCOPES] = {0, 0};
  uint32_t a = from, nd = 0, max_pairs = (uint32_t)(l_d / 2);
  double distinct = 0;
  int bad_record = 0;
  while (a < n) {
    uint32_t h1 = hh[a], h2 = hl[a], b = a + 1;
    while (b < n && hh[b] == h1 && hl[b] == h2) b++;
    /* Every record is checked once, here, before its counters are indexed by it. */
    for (uint32_t r = a; r < b; r++) {
      if (m_kind(mt[r]) >= kinds || m_proc(mt[r]) >= procs) {
        bad_record = 1;
        break;
      }
    }
    if (bad_record) break;
    int is_zero = h1 == zhi && h2 == zlo;
    if (b == a + 1 && !is_zero) {
      /* Most contents occur once: tracked by KSM if eligible (an rmap_item), never merged. */
      uint32_t m = mt[a], k = m_kind(m), p = m_proc(m);
      c.kind_resident[k] += 1;
      c.proc_resident[p] += 1;
      if (m & META_ANON) c.proc_anon[p] += 1;
      if (m & META_HUGE) *c.huge_resident += 1;
      if (!(m & META_ZERO_PFN)) {
        if ((m & (META_ANON | META_COMPATIBLE)) == (META_ANON | META_COMPATIBLE)) {
          lonely[0] += 1;
          c.scope[0].rmap[p] += 1;
        }
        if ((m & (META_ANON | META_MERGEABLE_NOW)) == (META_ANON | META_MERGEABLE_NOW)) {
          lonely[1] += 1;
          c.scope[1].rmap[p] += 1;
        }
      }
    } else if (is_zero && defer_zero) {
      if (nd == max_pairs) break;
      deferred[2 * nd] = a;
      deferred[2 * nd + 1] = b;
      nd++;
    } else if (physical && needs_physical(mt, in.pl, a, b)) {
      if (answerable(domain_files, mt, a, b)) {
        if (content(&c, &in, &x, a, b, is_zero, &ph) != 0) goto oom;
      } else {
        if (nd == max_pairs) break;
        deferred[2 * nd] = a;
        deferred[2 * nd + 1] = b;
        nd++;
      }
    } else if (content(&c, &in, &x, a, b, is_zero, NULL) != 0) {
      goto oom;
    }
    distinct += 1;
    a = b;
  }
  *c.distinct += distinct;
  for (int s = 0; s < SCOPES; s++) {
    c.scope[s].scalars[SCOPE_RMAP_ITEMS] += lonely[s];
    c.scope[s].scalars[SCOPE_PAGES_UNSHARED] += lonely[s];
  }
  scratch_free(&x);
  if (bad_record) {
    napi_throw_range_error(env, NULL, "modelPass: a record names a kind or process out of range");
    return NULL;
  }

  napi_value result, v;
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_create_uint32(env, a, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_uint32(env, nd, &v));
  CHECK(napi_set_element(env, result, 1, v));
  return result;

oom:
  scratch_free(&x);
  napi_throw_error(env, NULL, "modelPass: out of memory");
  return NULL;
}
