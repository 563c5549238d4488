/* Watching an fd from Node's event loop: a uv_poll handle that calls a JavaScript function when
 * the fd is readable. The Epoller watches its epoll fd with it, so waiting never blocks the loop
 * and never polls.
 *
 * Lifetime. A watch is freed once libuv is done with its handle (the close callback ran) and
 * JavaScript can no longer name it (its external was collected), whichever comes last, so a
 * second unwatch sees a closed watch, not freed memory. When the environment goes away (Node
 * exiting, a worker ending) an async cleanup hook closes the handle and Node waits for the close
 * callback before it unloads the addon: the callback never runs in unloaded code. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

#include "poll.h"

struct watch {
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context context;
	napi_async_cleanup_hook_handle cleanup;
	bool stopped;              /* unwatch or teardown closed the handle: no callback, no second close */
	bool handle_closed;        /* libuv is done with the handle */
	bool external_gone;        /* JavaScript can no longer name the watch */
};

static void maybe_free(struct watch *w)
{
	if (w->handle_closed && w->external_gone)
		free(w);
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	(void)events;
	struct watch *w = handle->data;
	if (w->stopped)
		return;
	napi_env env = w->env;
	napi_handle_scope scope;
	if (napi_open_handle_scope(env, &scope) != napi_ok)
		return;
	napi_value callback, recv, arg, exception;
	/* A negative status is libuv's error for the watch (it stopped polling): JavaScript must know. */
	if (napi_get_reference_value(env, w->callback, &callback) == napi_ok &&
	    napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, status, &arg) == napi_ok &&
	    napi_make_callback(env, w->context, recv, callback, 1, &arg, NULL) == napi_pending_exception &&
	    napi_get_and_clear_last_exception(env, &exception) == napi_ok)
		napi_fatal_exception(env, exception);
	napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *handle)
{
	struct watch *w = handle->data;
	w->handle_closed = true;
	napi_async_cleanup_hook_handle cleanup = w->cleanup;
	w->cleanup = NULL;
	maybe_free(w);
	/* Last: once removed, Node may finish tearing the environment down. */
	if (cleanup != NULL)
		napi_remove_async_cleanup_hook(cleanup);
}

/* Stops watching and closes the handle, once. */
static void stop(struct watch *w)
{
	if (w->stopped)
		return;
	w->stopped = true;
	napi_delete_reference(w->env, w->callback);
	napi_async_destroy(w->env, w->context);
	uv_poll_stop(&w->poll);
	uv_close((uv_handle_t *)&w->poll, on_closed);
}

/* The environment is going away: close the handle; on_closed tells Node when that is done. */
static void teardown(napi_async_cleanup_hook_handle handle, void *data)
{
	(void)handle;
	struct watch *w = data;
	if (w->stopped)
		return; /* unwatch came first; its close is under way and ends the cleanup */
	stop(w);
}

static void external_finalized(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct watch *w = data;
	w->external_gone = true;
	maybe_free(w);
}

static void *fail(napi_env env, const char *message)
{
	napi_throw_error(env, NULL, message);
	return NULL;
}

static struct watch *get_watch(napi_env env, napi_value value)
{
	void *data = NULL;
	if (napi_get_value_external(env, value, &data) != napi_ok || data == NULL)
		return fail(env, "not a watch handle");
	struct watch *w = data;
	if (w->stopped)
		return fail(env, "the watch was closed");
	return w;
}

/* watch(fd, callback): start calling callback(status) whenever fd is readable (status < 0:
 * libuv's error, after which nothing more comes). The handle does not keep the loop alive until
 * ref'd with setWatchRef. */
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
		return fail(env, "no event loop");
	struct watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return fail(env, "out of memory");
	napi_value name, out;
	w->env = env;
	w->poll.data = w;
	if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) {
		free(w);
		return fail(env, "watch: cannot keep the callback");
	}
	if (napi_create_string_utf8(env, "rsyscall.epoll", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_async_init(env, NULL, name, &w->context) != napi_ok) {
		napi_delete_reference(env, w->callback);
		free(w);
		return fail(env, "watch: cannot set up the callback");
	}
	int err = uv_poll_init(loop, &w->poll, fd);
	if (err != 0) {
		/* Nothing of libuv's to close. */
		napi_delete_reference(env, w->callback);
		napi_async_destroy(env, w->context);
		free(w);
		napi_throw_error(env, uv_err_name(err), uv_strerror(err));
		return NULL;
	}
	uv_unref((uv_handle_t *)&w->poll);
	err = uv_poll_start(&w->poll, UV_READABLE, on_readable);
	if (err != 0) {
		w->external_gone = true; /* none was made: on_closed frees */
		stop(w);
		napi_throw_error(env, uv_err_name(err), uv_strerror(err));
		return NULL;
	}
	if (napi_add_async_cleanup_hook(env, teardown, w, &w->cleanup) != napi_ok) {
		w->external_gone = true;
		stop(w);
		return fail(env, "watch: cannot add the cleanup hook");
	}
	if (napi_create_external(env, w, external_finalized, NULL, &out) != napi_ok) {
		w->external_gone = true;
		stop(w);
		return fail(env, "watch: cannot make the handle");
	}
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

/* unwatch(handle): stop watching; a second unwatch throws. */
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
	stop(w);
	return NULL;
}
