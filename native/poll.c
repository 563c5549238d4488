/* Watching an fd from Node's event loop: a uv_poll handle that calls a JavaScript function when
 * the fd is readable. The Epoller watches its epoll fd with it, so waiting never blocks the loop
 * and never polls. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdlib.h>
#include <uv.h>

#include "poll.h"

struct watch {
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context context;
};

static void on_readable(uv_poll_t *handle, int status, int events)
{
	(void)events;
	struct watch *w = handle->data;
	napi_env env = w->env;
	napi_handle_scope scope;
	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return;
	napi_value callback, recv, arg, exception;
	if (napi_get_reference_value(env, w->callback, &callback) == napi_ok &&
	    napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, status, &arg) == napi_ok &&
	    napi_make_callback(env, w->context, recv, callback, 1, &arg, NULL) == napi_pending_exception &&
	    napi_get_and_clear_last_exception(env, &exception) == napi_ok)
		napi_fatal_exception(env, exception);
	napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle)
{
	free(handle->data);
}

/* Runs before the environment is torn down (Node runs the loop once more while it does, and a
 * callback then would reach a dead environment), or from unwatch. */
static void stop(void *data)
{
	struct watch *w = data;
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, on_closed);
}

static int fail(napi_env env, const char *message)
{
	napi_throw_error(env, NULL, message);
	return 0;
}

static struct watch *get_watch(napi_env env, napi_value value)
{
	void *data = NULL;
	if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL) {
		fail(env, "not a watch handle");
		return NULL;
	}
	return data;
}

/* watch(fd, callback): start calling callback(status) whenever fd is readable. The handle does
 * not keep the loop alive until ref'd with setWatchRef. */
napi_value rsys_watch(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	int32_t fd;
	napi_valuetype type;
	uv_loop_t *loop;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_typeof(env, argv[1], &type) != napi_ok ||
	    type != napi_function) {
		napi_throw_type_error(env, NULL, "watch(fd, callback)");
		return NULL;
	}
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return fail(env, "no event loop"), NULL;
	struct watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return fail(env, "out of memory"), NULL;
	napi_value name, out;
	w->env = env;
	w->poll.data = w;
	if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
	    napi_create_string_utf8(env, "rsyscall.epoll", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, NULL, name, &w->context) != napi_ok) {
		free(w);
		return fail(env, "watch: cannot set up the callback"), NULL;
	}
	int err = uv_poll_init(loop, &w->poll, fd);
	if (err == 0)
		err = uv_poll_start(&w->poll, UV_READABLE, on_readable);
	if (err != 0) {
		napi_throw_error(env, uv_err_name(err), uv_strerror(err));
		return NULL;
	}
	uv_unref((uv_handle_t *)&w->poll);
	if (napi_add_env_cleanup_hook(env, stop, w) != napi_ok)
		return fail(env, "watch: cannot add the cleanup hook"), NULL;
	if (napi_create_external(env, w, NULL, NULL, &out) != napi_ok)
		return fail(env, "watch: cannot make the handle"), NULL;
	return out;
}

/* setWatchRef(handle, bool): whether the watch keeps the event loop alive. */
napi_value rsys_set_watch_ref(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	bool ref;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
	    napi_get_value_bool(env, argv[1], &ref) != napi_ok) {
		napi_throw_type_error(env, NULL, "setWatchRef(handle, boolean)");
		return NULL;
	}
	struct watch *w = get_watch(env, argv[0]);
	if (w == NULL)
		return NULL;
	if (ref)
		uv_ref((uv_handle_t *)&w->poll);
	else
		uv_unref((uv_handle_t *)&w->poll);
	return NULL;
}

/* unwatch(handle): stop watching; the handle must not be used again. */
napi_value rsys_unwatch(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
		napi_throw_type_error(env, NULL, "unwatch(handle)");
		return NULL;
	}
	struct watch *w = get_watch(env, argv[0]);
	if (w == NULL)
		return NULL;
	napi_remove_env_cleanup_hook(env, stop, w);
	napi_delete_reference(env, w->callback);
	napi_async_destroy(env, w->context);
	stop(w);
	return NULL;
}
