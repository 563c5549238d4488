/* The N-API binding: the raw syscall entry for the Node process, and memory access at an
 * address. Kept as small as possible; everything else is TypeScript.
 *
 * Arguments reach `syscall` through a buffer (one per Node environment: workers get their own)
 * that JavaScript sees as typed arrays (exported as `callBuffer`), so a call pays no
 * per-argument conversion:
 *   f64[0] = number, f64[1..6] = arguments as doubles (exact below 2^53, negatives included);
 *   i64[0] = bit mask: bit k set means argument k is in i64[k] as a full 64-bit value;
 *   i64[7] = the raw 64-bit result of the last call. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "poll.h"
#include "rsyscall.h"

/* One per Node environment (the main thread and each worker load the addon separately). */
struct call {
	double f64[8];
	int64_t i64[8];
};

#define CHECK(expr) \
	do { \
		if ((expr) != napi_ok) { \
			napi_throw_error(env, NULL, "rsyscall native: " #expr " failed"); \
			return NULL; \
		} \
	} while (0)

static long arg(const struct call *call, int k)
{
	return (call->i64[0] >> k) & 1 ? (long)call->i64[k] : (long)(int64_t)call->f64[k];
}

static napi_value do_syscall(napi_env env, napi_callback_info info)
{
	struct call *call;
	CHECK(napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&call));
	long ret = rsys_raw_syscall(arg(call, 1), arg(call, 2), arg(call, 3), arg(call, 4), arg(call, 5),
	                            arg(call, 6), (long)call->f64[0]);
	call->i64[0] = 0;
	call->i64[7] = ret;
	napi_value out;
	CHECK(napi_create_double(env, (double)ret, &out));
	return out;
}

static int get_address(napi_env env, napi_value v, uintptr_t *out)
{
	double d;
	if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d >= 9007199254740992.0)
		return 0;
	*out = (uintptr_t)d;
	return 1;
}

/* memRead(address, length): Buffer, a copy of the bytes at address. */
static napi_value mem_read(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	uintptr_t addr, len;
	if (argc != 2 || !get_address(env, argv[0], &addr) || !get_address(env, argv[1], &len)) {
		napi_throw_type_error(env, NULL, "memRead(address, length) takes two non-negative numbers");
		return NULL;
	}
	napi_value out;
	CHECK(napi_create_buffer_copy(env, len, (const void *)addr, NULL, &out));
	return out;
}

/* memWrite(address, bytes): copy a Uint8Array to address. */
static napi_value mem_write(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	uintptr_t addr;
	bool is_typed = false;
	if (argc == 2)
		CHECK(napi_is_typedarray(env, argv[1], &is_typed));
	if (argc != 2 || !get_address(env, argv[0], &addr) || !is_typed) {
		napi_throw_type_error(env, NULL, "memWrite(address, bytes) takes a number and a Uint8Array");
		return NULL;
	}
	napi_typedarray_type type;
	size_t length, offset;
	void *data;
	napi_value ab;
	CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
	if (type != napi_uint8_array) {
		napi_throw_type_error(env, NULL, "memWrite: bytes must be a Uint8Array");
		return NULL;
	}
	memcpy((void *)addr, data, length);
	return NULL;
}

/* view(address, length): an ArrayBuffer over memory we own and never free behind V8's back
 * (mmap'd arenas). No finalizer: unmapping is the caller's business. */
static napi_value view(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	uintptr_t addr, len;
	if (argc != 2 || !get_address(env, argv[0], &addr) || !get_address(env, argv[1], &len)) {
		napi_throw_type_error(env, NULL, "view(address, length) takes two non-negative numbers");
		return NULL;
	}
	napi_value out;
	CHECK(napi_create_external_arraybuffer(env, (void *)addr, len, NULL, NULL, &out));
	return out;
}

static napi_value address_value(napi_env env, void (*fn)(void))
{
	napi_value out;
	if (napi_create_double(env, (double)(uintptr_t)fn, &out) != napi_ok)
		return NULL;
	return out;
}

static void free_call(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	free(data);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value call_buffer, server_flags, flag;
	struct call *call = calloc(1, sizeof(*call));
	if (call == NULL) {
		napi_throw_error(env, NULL, "rsyscall native: out of memory");
		return NULL;
	}
	CHECK(napi_create_external_arraybuffer(env, call, sizeof(*call), free_call, NULL, &call_buffer));
	CHECK(napi_create_object(env, &server_flags));
#define FLAG(name) \
	CHECK(napi_create_int32(env, RSYS_##name, &flag)); \
	CHECK(napi_set_named_property(env, server_flags, #name, flag))
	FLAG(RESET_SIGNALS);
	FLAG(UNBLOCK_ALL);
	FLAG(PDEATHSIG);
	FLAG(CLOEXEC_SOCKET);
	FLAG(CLOSE_FD);
	napi_property_descriptor props[] = {
		{"syscall", NULL, do_syscall, NULL, NULL, NULL, napi_enumerable, call},
		{"memRead", NULL, mem_read, NULL, NULL, NULL, napi_enumerable, NULL},
		{"memWrite", NULL, mem_write, NULL, NULL, NULL, napi_enumerable, NULL},
		{"view", NULL, view, NULL, NULL, NULL, napi_enumerable, NULL},
		{"watch", NULL, rsys_watch, NULL, NULL, NULL, napi_enumerable, NULL},
		{"setWatchRef", NULL, rsys_set_watch_ref, NULL, NULL, NULL, napi_enumerable, NULL},
		{"unwatch", NULL, rsys_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
		{"callBuffer", NULL, NULL, NULL, NULL, call_buffer, napi_enumerable, NULL},
		{"serverFlags", NULL, NULL, NULL, NULL, server_flags, napi_enumerable, NULL},
		{"trampolineAddress", NULL, NULL, NULL, NULL, address_value(env, rsys_trampoline),
		 napi_enumerable, NULL},
		{"serverAddress", NULL, NULL, NULL, NULL, address_value(env, (void (*)(void))rsys_server),
		 napi_enumerable, NULL},
		{"futexHelperAddress", NULL, NULL, NULL, NULL,
		 address_value(env, (void (*)(void))rsys_futex_helper), napi_enumerable, NULL},
		{"execStubAddress", NULL, NULL, NULL, NULL, address_value(env, (void (*)(void))rsys_exec),
		 napi_enumerable, NULL},
	};
	CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
