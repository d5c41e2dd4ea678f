/*
 * The N-API preamble of every function the addon exports, once: its positional arguments, or
 * the properties of its one options object, read and checked with an error that names them.
 */
#ifndef SAMEPAGE_NAPI_ARGS_H
#define SAMEPAGE_NAPI_ARGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/*
 * The call's first `n` arguments into argv[0 .. n): 1, or 0 with a TypeError "usage" when the
 * call has fewer (the caller then returns NULL).
 */
static inline int args_of(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < n) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/*
 * An options object being read. Each opt_* read gives 0 (or NULL) once a read has failed, and
 * the first failure throws a TypeError that names the property: read them all, then return
 * NULL if `failed`.
 */
typedef struct {
  napi_env env;
  napi_value obj;
  const char *fn;   /* the function, for messages */
  const char *path; /* "" or "index.": the property's place in the options */
  int *failed;
  int failed_here;
} opts_t;

static inline void opt_fail(opts_t *o, const char *name, const char *want) {
  if (*o->failed) return;
  *o->failed = 1;
  bool pending = false;
  if (napi_is_exception_pending(o->env, &pending) == napi_ok && pending) return;
  char message[160];
  snprintf(message, sizeof message, "%s: options.%s%s must be %s", o->fn, o->path, name, want);
  napi_throw_type_error(o->env, NULL, message);
}

/* The options object, the call's first argument: 1, or 0 with a TypeError. */
static inline int opts_of(napi_env env, napi_callback_info info, const char *fn, opts_t *o) {
  napi_value argv[1];
  napi_valuetype type = napi_undefined;
  size_t argc = 1;
  o->env = env;
  o->fn = fn;
  o->path = "";
  o->failed = &o->failed_here;
  o->failed_here = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok ||
      type != napi_object) {
    char message[96];
    snprintf(message, sizeof message, "%s: (options)", fn);
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  o->obj = argv[0];
  return 1;
}

/* Property `name`, or NULL (and a failure) when it cannot be read. */
static inline napi_value opt_value(opts_t *o, const char *name) {
  napi_value v;
  if (*o->failed) return NULL;
  if (napi_get_named_property(o->env, o->obj, name, &v) != napi_ok) {
    opt_fail(o, name, "readable");
    return NULL;
  }
  return v;
}

/* A number as napi_get_value_uint32 / _int32 / _double read it. */
static inline uint32_t opt_u32(opts_t *o, const char *name) {
  napi_value v = opt_value(o, name);
  uint32_t x = 0;
  if (v != NULL && napi_get_value_uint32(o->env, v, &x) != napi_ok) opt_fail(o, name, "a number");
  return x;
}

static inline int32_t opt_i32(opts_t *o, const char *name) {
  napi_value v = opt_value(o, name);
  int32_t x = 0;
  if (v != NULL && napi_get_value_int32(o->env, v, &x) != napi_ok) opt_fail(o, name, "a number");
  return x;
}

static inline double opt_f64(opts_t *o, const char *name) {
  napi_value v = opt_value(o, name);
  double x = 0;
  if (v != NULL && napi_get_value_double(o->env, v, &x) != napi_ok) opt_fail(o, name, "a number");
  return x;
}

static inline bool opt_bool(opts_t *o, const char *name) {
  napi_value v = opt_value(o, name);
  bool x = false;
  if (v != NULL && napi_get_value_bool(o->env, v, &x) != napi_ok) opt_fail(o, name, "a boolean");
  return x;
}

/* A typed array of type `want` (`what` names it for the message), with its length in elements. */
static inline void *opt_typed(opts_t *o, const char *name, napi_typedarray_type want, const char *what, size_t *length) {
  napi_value v = opt_value(o, name);
  int ok = 0;
  void *data = NULL;
  *length = 0;
  if (v != NULL) data = typed_data(o->env, v, want, length, &ok);
  if (v != NULL && !ok) opt_fail(o, name, what);
  return ok ? data : NULL;
}

/* Property `name`, an object, to be read in turn; `path` is "name." (for messages). */
static inline opts_t opt_object(opts_t *o, const char *name, const char *path) {
  opts_t inner = *o;
  napi_valuetype type = napi_undefined;
  inner.path = path;
  inner.obj = opt_value(o, name);
  if (inner.obj != NULL && (napi_typeof(o->env, inner.obj, &type) != napi_ok || type != napi_object)) opt_fail(o, name, "an object");
  return inner;
}

#endif
