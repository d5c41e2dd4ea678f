/* The KSM model's pass over the sorted index (native/ksm_model.c). */
#ifndef SAMEPAGE_KSM_MODEL_H
#define SAMEPAGE_KSM_MODEL_H
#include <node_api.h>

napi_value ksm_model_pass(napi_env env, napi_callback_info info);

#endif
