/*
 * Every number the addon shares with the TypeScript side, defined once for native/. The addon
 * exports each of them in its `constants` object (native/addon.c), and
 * test/unit/native-constants.test.ts asserts each equal to its TypeScript twin, named beside it.
 */
#ifndef SAMEPAGE_SHARED_CONSTANTS_H
#define SAMEPAGE_SHARED_CONSTANTS_H

/*
 * The version of the addon's interface (NATIVE_ABI in src/native/native-addon.ts): bump both
 * when a function's arguments or results change, so that an addon built from older sources is
 * refused (and the JavaScript path used) instead of called wrongly.
 */
#define SAMEPAGE_NATIVE_ABI 5

/*
 * The index's meta word (src/index/page-index.ts): bits 0-15 the process, 16-19 the mapping
 * kind, 20-25 the META_* flags, 26-31 the physical domain, which with pfnLo makes a frame id,
 * domain x 2^32 + PFN.
 */
#define META_PROCESS_MASK 0xffffu      /* metaProcess() */
#define META_KIND_SHIFT 16             /* metaKind() */
#define META_KIND_MASK 0xfu            /* metaKind() */
#define META_ANON (1u << 20)           /* META_ANON */
#define META_EXCLUSIVE (1u << 21)      /* META_EXCLUSIVE */
#define META_COMPATIBLE (1u << 22)     /* META_COMPATIBLE */
#define META_MERGEABLE_NOW (1u << 23)  /* META_MERGEABLE_NOW */
#define META_ZERO_PFN (1u << 24)       /* META_ZERO_PFN */
#define META_NO_PHYS (1u << 25)        /* META_NO_PHYS */
#define META_DOMAIN_SHIFT 26           /* PFN_HI_SHIFT */
#define MAX_PROCESSES (1u << 16)       /* MAX_PROCESSES */
#define MAX_KINDS (META_KIND_MASK + 1) /* room for MAPPING_KINDS (src/source/mapping-kind.ts) */

/* Physical domains (src/physical/physical-domains.ts). */
#define MAX_DOMAINS 64                 /* MAX_DOMAINS, and PFN_HI_LIMIT of page-index.ts */
#define FRAMES_PER_DOMAIN (1ull << 32) /* FRAMES_PER_DOMAIN */
/* domainFiles(), per domain: no fds, it answers otherwise (defer) / nothing answers for it. */
#define DOMAIN_FILES_ELSEWHERE (-1)    /* DOMAIN_FILES_ELSEWHERE */
#define DOMAIN_FILES_NONE (-2)         /* DOMAIN_FILES_NONE */

/* /proc/kpageflags (src/physical/physical-pages.ts). */
#define KPF_KSM 21 /* KPF_KSM */

/*
 * /proc/PID/pagemap, as bits of the 64-bit entry; src/live/pagemap.ts has them as bits of the
 * entry's high 32-bit half (PM_*_HI, PM_PFN_HI_MASK: the addon exports them so).
 */
#define PM_PRESENT_BIT 63   /* PM_PRESENT_HI */
#define PM_SWAPPED_BIT 62   /* PM_SWAPPED_HI */
#define PM_FILE_BIT 61      /* PM_FILE_HI: page-cache page or shared anonymous */
#define PM_EXCLUSIVE_BIT 56 /* PM_EXCLUSIVE_HI: mapped exactly once */
#define PM_PFN_BITS 55      /* PM_PFN_HI_MASK: the PFN is bits 0-54 */

/*
 * The model pass's counters (src/analysis/native-model.ts): one Float64Array of, in order,
 * COUNTERS_HEAD numbers (distinct contents, naive duplicates), COUNTERS_PER_KIND arrays of
 * `kinds`, COUNTERS_PER_PROCESS arrays of `processes`, then per scope (COUNTER_SCOPES of them)
 * SCOPE_SCALARS numbers at the SCOPE_* offsets, SCOPE_COUNTERS_PER_PROCESS arrays of
 * `processes` and SCOPE_COUNTERS_PER_KIND arrays of `kinds`.
 */
#define COUNTERS_HEAD 2
#define COUNTERS_PER_KIND 5    /* resident, zero, zero page mapped, within, across */
#define COUNTERS_PER_PROCESS 5 /* resident, anon, zero, within, across */
#define COUNTER_SCOPES 2       /* SCOPES of src/analysis/model-result.ts */
#define SCOPE_RAM_FREED 0
#define SCOPE_PAGES_SHARED 1
#define SCOPE_PAGES_SHARING 2
#define SCOPE_KSM_ZERO_PAGES 3
#define SCOPE_PAGES_UNSHARED 4
#define SCOPE_RMAP_ITEMS 5
#define SCOPE_SCALARS 6
#define SCOPE_COUNTERS_PER_PROCESS 4 /* merging, zero pages, rmap items, RAM freed */
#define SCOPE_COUNTERS_PER_KIND 1    /* RAM freed */

/* smaps (src/live/smaps.ts): VmFlags as bits of a table's vmFlags. */
#define SMAPS_KSM_INCOMPATIBLE 1 /* KSM_INCOMPATIBLE: sh ms pf io de ht mm dp, mm/ksm.c will not merge the VMA */
#define SMAPS_SPECIAL 2          /* SPECIAL: pf io mm, no ordinary pages */
#define SMAPS_SHARED 4           /* SHARED: sh ms */
#define SMAPS_MERGEABLE 8        /* MERGEABLE: mg */
/* A table's numbers per VMA: start, end, offset, inode, Rss in kB (NUMBERS_PER_VMA). */
#define SMAPS_NUMBERS_PER_VMA 5
/* Largest address a JavaScript number holds exactly: VMAs above it are skipped (MAX_ADDRESS). */
#define SMAPS_MAX_ADDRESS 9007199254740991.0

/* The sharing histogram's last bucket: contents in this many mappings or more; buckets for 2.. of
 * them (src/analysis/content-sharing.ts SHARING_OR_MORE). */
#define SHARING_OR_MORE 256
#define SHARING_BUCKETS (SHARING_OR_MORE - 1)

#endif
