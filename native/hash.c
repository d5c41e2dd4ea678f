/*
 * hashPages, and the page hash the tile reader uses: XXH3-64, from the xxhash-addon
 * dependency's copy of xxHash.
 */
#include <stdint.h>
#include <node_api.h>

#include "exports.h"
#include "hash.h"
#include "napi_args.h"

#ifdef SAMEPAGE_XXH_DISPATCH
/* x86-64: xxHash's own run-time dispatch picks AVX2 or AVX-512 where the CPU has them. */
#include "xxh_x86dispatch.h"
#else
#define XXH_INLINE_ALL
#include "xxhash.h"
#endif

void hash_buffer(const unsigned char *buf, uint32_t count, uint32_t page_size, uint32_t *hi, uint32_t *lo) {
  for (uint32_t i = 0; i < count; i++) {
    XXH64_hash_t h = XXH3_64bits(buf + (size_t)i * page_size, page_size);
    hi[i] = (uint32_t)(h >> 32);
    lo[i] = (uint32_t)h;
  }
}

napi_value hash_pages(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!args_of(env, info, 6, argv, "hashPages: 6 arguments")) return NULL;
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
