/*
 * samepage's native addon: reads, hashes, sorts and models memory pages for the KSM estimate,
 * on the hot paths where JavaScript would be slower. This file only registers what the addon
 * exports: the interface version `abi`, the `constants` it shares with the TypeScript side
 * (native/shared_constants.h), and one function per file (native/exports.h), each documented
 * in src/native/native-addon.ts.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <node_api.h>

#include "exports.h"
#include "shared_constants.h"

/* A bit of a pagemap entry's high 32-bit half, as JavaScript's 1 << n gives it (a signed int). */
#define PM_HI(bit) ((double)(int32_t)(UINT32_C(1) << ((bit)-32)))

static const struct {
  const char *name;
  double value;
} constants[] = {
    {"NATIVE_ABI", SAMEPAGE_NATIVE_ABI},
    {"META_PROCESS_MASK", META_PROCESS_MASK},
    {"META_KIND_SHIFT", META_KIND_SHIFT},
    {"META_KIND_MASK", META_KIND_MASK},
    {"META_HUGE", META_HUGE},
    {"META_ANON", META_ANON},
    {"META_EXCLUSIVE", META_EXCLUSIVE},
    {"META_COMPATIBLE", META_COMPATIBLE},
    {"META_MERGEABLE_NOW", META_MERGEABLE_NOW},
    {"META_ZERO_PFN", META_ZERO_PFN},
    {"META_NO_PHYS", META_NO_PHYS},
    {"META_DOMAIN_SHIFT", META_DOMAIN_SHIFT},
    {"MAX_PROCESSES", MAX_PROCESSES},
    {"MAX_KINDS", MAX_KINDS},
    {"MAX_DOMAINS", MAX_DOMAINS},
    {"FRAMES_PER_DOMAIN", (double)FRAMES_PER_DOMAIN},
    {"DOMAIN_FILES_ELSEWHERE", DOMAIN_FILES_ELSEWHERE},
    {"DOMAIN_FILES_NONE", DOMAIN_FILES_NONE},
    {"KPF_KSM", KPF_KSM},
    {"HUGE_PAGE_FRAMES", HUGE_PAGE_FRAMES},
    {"PM_PRESENT_HI", PM_HI(PM_PRESENT_BIT)},
    {"PM_SWAPPED_HI", PM_HI(PM_SWAPPED_BIT)},
    {"PM_FILE_HI", PM_HI(PM_FILE_BIT)},
    {"PM_EXCLUSIVE_HI", PM_HI(PM_EXCLUSIVE_BIT)},
    {"PM_PFN_HI_MASK", (double)((UINT32_C(1) << (PM_PFN_BITS - 32)) - 1)},
    {"COUNTERS_HEAD", COUNTERS_HEAD},
    {"COUNTERS_PER_KIND", COUNTERS_PER_KIND},
    {"COUNTERS_PER_PROCESS", COUNTERS_PER_PROCESS},
    {"COUNTER_SCOPES", COUNTER_SCOPES},
    {"SCOPE_RAM_FREED", SCOPE_RAM_FREED},
    {"SCOPE_PAGES_SHARED", SCOPE_PAGES_SHARED},
    {"SCOPE_PAGES_SHARING", SCOPE_PAGES_SHARING},
    {"SCOPE_KSM_ZERO_PAGES", SCOPE_KSM_ZERO_PAGES},
    {"SCOPE_PAGES_UNSHARED", SCOPE_PAGES_UNSHARED},
    {"SCOPE_RMAP_ITEMS", SCOPE_RMAP_ITEMS},
    {"SCOPE_RAM_FREED_HUGE", SCOPE_RAM_FREED_HUGE},
    {"SCOPE_SCALARS", SCOPE_SCALARS},
    {"SCOPE_COUNTERS_PER_PROCESS", SCOPE_COUNTERS_PER_PROCESS},
    {"SCOPE_COUNTERS_PER_KIND", SCOPE_COUNTERS_PER_KIND},
    {"SMAPS_KSM_INCOMPATIBLE", SMAPS_KSM_INCOMPATIBLE},
    {"SMAPS_SPECIAL", SMAPS_SPECIAL},
    {"SMAPS_SHARED", SMAPS_SHARED},
    {"SMAPS_MERGEABLE", SMAPS_MERGEABLE},
    {"SMAPS_NUMBERS_PER_VMA", SMAPS_NUMBERS_PER_VMA},
    {"SMAPS_MAX_ADDRESS", SMAPS_MAX_ADDRESS},
    {"SHARING_OR_MORE", SHARING_OR_MORE},
};

/* The constants as a frozen object of numbers, or NULL. */
static napi_value constants_object(napi_env env) {
  napi_value obj, v;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
    if (napi_create_double(env, constants[i].value, &v) != napi_ok || napi_set_named_property(env, obj, constants[i].name, v) != napi_ok) return NULL;
  }
  if (napi_object_freeze(env, obj) != napi_ok) return NULL;
  return obj;
}

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
  napi_value abi, shared = constants_object(env);
  if (shared == NULL || napi_create_uint32(env, SAMEPAGE_NATIVE_ABI, &abi) != napi_ok) return NULL;
  napi_property_descriptor props[] = {
      {"hashPages", NULL, hash_pages, NULL, NULL, NULL, napi_default, NULL},
      {"scanRange", NULL, scan_range, NULL, NULL, NULL, napi_default, NULL},
      {"sortIndex", NULL, sort_index, NULL, NULL, NULL, napi_default, NULL},
      {"modelPass", NULL, ksm_model_pass, NULL, NULL, NULL, napi_default, NULL},
      {"readRegions", NULL, read_regions, NULL, NULL, NULL, napi_default, NULL},
      {"parseSmapsTable", NULL, parse_smaps_table, NULL, NULL, NULL, napi_default, NULL},
      {"measureSharing", NULL, measure_sharing, NULL, NULL, NULL, napi_default, NULL},
      {"abi", NULL, NULL, NULL, NULL, abi, napi_enumerable, NULL},
      {"constants", NULL, NULL, NULL, NULL, shared, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
