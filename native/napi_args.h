/* Argument helpers shared by the N-API functions of native/. */
#ifndef SAMEPAGE_NAPI_ARGS_H
#define SAMEPAGE_NAPI_ARGS_H
#include <stddef.h>
#include <node_api.h>

/* Returns NULL from the calling N-API function, with a JavaScript error, when `call` fails. */
#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, NULL, "samepage native: bad arguments"); \
      return NULL;                                                   \
    }                                                                \
  } while (0)

/* The data of typed array `v` if it is of type `want` (*ok = 1), with its length in elements. */
static inline void *typed_data(napi_env env, napi_value v, napi_typedarray_type want, size_t *length, int *ok) {
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

#endif
