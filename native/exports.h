/*
 * The functions the addon exports (registered by native/addon.c), one file each. What each
 * takes and gives is documented once, in src/native/native-addon.ts.
 */
#ifndef SAMEPAGE_EXPORTS_H
#define SAMEPAGE_EXPORTS_H
#include <node_api.h>

napi_value hash_pages(napi_env env, napi_callback_info info);        /* hashPages: native/hash.c */
napi_value scan_range(napi_env env, napi_callback_info info);        /* scanRange: native/tile_reader.c */
napi_value sort_index(napi_env env, napi_callback_info info);        /* sortIndex: native/sort.c */
napi_value ksm_model_pass(napi_env env, napi_callback_info info);    /* modelPass: native/ksm_model.c */
napi_value read_regions(napi_env env, napi_callback_info info);      /* readRegions: native/region_files.c */
napi_value parse_smaps_table(napi_env env, napi_callback_info info); /* parseSmapsTable: native/smaps_table.c */
napi_value measure_sharing(napi_env env, napi_callback_info info);   /* measureSharing: native/content_sharing.c */

#endif
