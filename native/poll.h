/* The uv_poll binding (poll.c), registered by addon.c. */
#ifndef RSYSCALL_POLL_H
#define RSYSCALL_POLL_H

#include <node_api.h>

napi_value rsys_watch(napi_env env, napi_callback_info info);
napi_value rsys_set_watch_ref(napi_env env, napi_callback_info info);
napi_value rsys_unwatch(napi_env env, napi_callback_info info);

#endif
