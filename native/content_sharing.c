/*
 * measureSharing: how widely contents are shared, over an index sorted by hash: the native twin
 * of src/analysis/content-sharing.ts, which stays the reference (test/unit/content-sharing.test.ts).
 * Pass 1 counts contents and mappings by the number of mappings that hold them, zero-filled
 * mappings apart, and each process's pages of shared content; pass 2 counts, for the processes
 * the caller chose, the distinct contents each pair holds. No allocation per page or content.
 */
#include <stdint.h>
#include <stdlib.h>
#include "exports.h"
#include "napi_args.h"
#include "shared_constants.h"

napi_value measure_sharing(napi_env env, napi_callback_info info) {
  opts_t o;
  if (!opts_of(env, info, "measureSharing", &o)) return NULL;
  size_t l_hh = 0, l_hl = 0, l_mt = 0, l_c = 0, l_m = 0, l_s = 0, l_slot = 0, l_ov = 0;
  opts_t ix = opt_object(&o, "index", "index.");
  const uint32_t *hh = opt_typed(&ix, "hashHi", napi_uint32_array, "a Uint32Array", &l_hh);
  const uint32_t *hl = opt_typed(&ix, "hashLo", napi_uint32_array, "a Uint32Array", &l_hl);
  const uint32_t *mt = opt_typed(&ix, "meta", napi_uint32_array, "a Uint32Array", &l_mt);
  uint32_t n = opt_u32(&o, "n"), procs = opt_u32(&o, "processes"), pass = opt_u32(&o, "pass");
  opts_t zh = opt_object(&o, "zeroHash", "zeroHash.");
  uint32_t zhi = opt_u32(&zh, "hi"), zlo = opt_u32(&zh, "lo");
  double *contents = NULL, *mappings = NULL, *shared = NULL, *overlap = NULL;
  const int32_t *slot = NULL;
  if (pass == 1) {
    contents = opt_typed(&o, "contents", napi_float64_array, "a Float64Array", &l_c);
    mappings = opt_typed(&o, "mappings", napi_float64_array, "a Float64Array", &l_m);
    shared = opt_typed(&o, "sharedPages", napi_float64_array, "a Float64Array", &l_s);
  } else {
    slot = opt_typed(&o, "slot", napi_int32_array, "an Int32Array", &l_slot);
    overlap = opt_typed(&o, "overlap", napi_float64_array, "a Float64Array", &l_ov);
  }
  if (*o.failed) return NULL;
  uint32_t k_slots = 0;
  while ((size_t)k_slots * k_slots < l_ov) k_slots++;
  if (n > l_hh || n > l_hl || n > l_mt || procs == 0 || procs > MAX_PROCESSES || (pass != 1 && pass != 2) ||
      (pass == 1 && (l_c < SHARING_BUCKETS || l_m < SHARING_BUCKETS || l_s < procs)) || (pass == 2 && (l_slot < procs || (size_t)k_slots * k_slots != l_ov))) {
    napi_throw_range_error(env, NULL, "measureSharing: arguments out of range");
    return NULL;
  }
  for (uint32_t r = 0; r < n; r++) {
    if ((mt[r] & META_PROCESS_MASK) >= procs || (pass == 2 && slot[mt[r] & META_PROCESS_MASK] >= (int32_t)k_slots)) {
      napi_throw_range_error(env, NULL, "measureSharing: a record's process is out of range");
      return NULL;
    }
  }
  double zero_filled = 0;
  /* Pass 2's scratch: per slot, the last content that touched it and its mappings there. */
  uint32_t *last = NULL, *count = NULL, *members = NULL;
  if (pass == 2 && k_slots > 0) {
    last = malloc(k_slots * sizeof *last);
    count = calloc(k_slots, sizeof *count);
    members = malloc(k_slots * sizeof *members);
    if (!last || !count || !members) {
      free(last), free(count), free(members);
      napi_throw_error(env, NULL, "measureSharing: out of memory");
      return NULL;
    }
    for (uint32_t s = 0; s < k_slots; s++) last[s] = UINT32_MAX;
  }
  uint32_t content = 0;
  for (uint32_t a = 0; a < n; content++) {
    uint32_t h1 = hh[a], h2 = hl[a], b = a + 1;
    while (b < n && hh[b] == h1 && hl[b] == h2) b++;
    uint32_t m = b - a;
    int zero = h1 == zhi && h2 == zlo;
    if (pass == 1) {
      if (zero) {
        zero_filled += m;
      } else if (m > 1) {
        uint32_t bucket = (m < SHARING_OR_MORE ? m : SHARING_OR_MORE) - 2;
        contents[bucket] += 1;
        mappings[bucket] += m;
        for (uint32_t r = a; r < b; r++) shared[mt[r] & META_PROCESS_MASK] += 1;
      }
    } else if (m > 1 && !zero && k_slots > 0) {
      uint32_t k = 0;
      for (uint32_t r = a; r < b; r++) {
        int32_t s = slot[mt[r] & META_PROCESS_MASK];
        if (s < 0) continue;
        if (last[s] != content) {
          last[s] = content;
          count[s] = 0;
          members[k++] = (uint32_t)s;
        }
        count[s]++;
      }
      for (uint32_t i = 0; i < k; i++) {
        uint32_t si = members[i];
        if (count[si] > 1) overlap[(size_t)si * k_slots + si] += 1;
        for (uint32_t j = i + 1; j < k; j++) {
          uint32_t sj = members[j];
          overlap[(size_t)si * k_slots + sj] += 1;
          overlap[(size_t)sj * k_slots + si] += 1;
        }
      }
    }
    a = b;
  }
  free(last), free(count), free(members);
  napi_value result;
  if (napi_create_double(env, zero_filled, &result) != napi_ok) return NULL;
  return result;
}
