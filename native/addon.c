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
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <asm/unistd.h>

#include "poll.h"
#include "rsyscall.h"

/* One per Node environment (the main thread and each worker load the addon separately). */
struct call {
	double f64[8];
	int64_t i64[8];
};

/* What an environment that nothing else uses (a worker) holds and must give back when it goes
 * away, since no JavaScript runs then: mappings (address, length) and fds (fd, 0). */
struct pair {
	uintptr_t a, b;
};

struct list {
	struct pair *items;
	size_t n, cap;
};

struct instance {
	struct call call;
	struct list mappings, fds;
};

static int list_add(struct list *l, uintptr_t a, uintptr_t b)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].a == a) {
			l->items[i].b = b;
			return 1;
		}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct pair *more = realloc(l->items, cap * sizeof(*more));
		if (more == NULL)
			return 0;
		l->items = more;
		l->cap = cap;
	}
	l->items[l->n++] = (struct pair){a, b};
	return 1;
}

static void list_remove(struct list *l, uintptr_t a)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].a == a) {
			l->items[i] = l->items[--l->n];
			return;
		}
}

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
	/* The JavaScript side only sets bit k of the mask for a bigint, and only sends exact
	 * integers as doubles; the casts below are defined for those. */
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

/* The bytes of a Uint8Array argument, or 0 (a TypeError thrown) if it is not one. */
static int get_bytes(napi_env env, napi_value v, void **data, size_t *length)
{
	bool is_typed = false;
	napi_typedarray_type type;
	size_t offset;
	napi_value ab;
	if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
	    napi_get_typedarray_info(env, v, &type, length, data, &ab, &offset) != napi_ok || type != napi_uint8_array) {
		napi_throw_type_error(env, NULL, "expected a Uint8Array");
		return 0;
	}
	return 1;
}

/* readFd(fd, bytes) and writeFd(fd, bytes): read(2) into, write(2) from a Uint8Array of the
 * caller's, on an fd of this process: the raw result (-errno on failure). For the copying stream
 * calls, so that the kernel copies straight between the fd and JavaScript's memory. */
static napi_value fd_io(napi_env env, napi_callback_info info, long nr)
{
	size_t argc = 2;
	napi_value argv[2];
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	int32_t fd;
	void *data;
	size_t length;
	if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
		napi_throw_type_error(env, NULL, "readFd/writeFd(fd, bytes) take an fd number and a Uint8Array");
		return NULL;
	}
	if (!get_bytes(env, argv[1], &data, &length))
		return NULL;
	long ret = rsys_raw_syscall(fd, (long)data, (long)length, 0, 0, 0, nr);
	napi_value out;
	CHECK(napi_create_double(env, (double)ret, &out));
	return out;
}

static napi_value read_fd(napi_env env, napi_callback_info info)
{
	return fd_io(env, info, __NR_read);
}

static napi_value write_fd(napi_env env, napi_callback_info info)
{
	return fd_io(env, info, __NR_write);
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

/* peekOurMemory(pid): process_vm_readv of one byte of our memory, at the same address in process
 * `pid`: 0 if it read, else the errno. EFAULT says its address space exists and lacks that address:
 * it is no longer ours, nor a fork's copy of ours (it exec'd). ESRCH says it has none (it exited
 * past exit_mm). A read, EPERM and the rest say nothing for sure. */
static napi_value peek_our_memory(napi_env env, napi_callback_info info)
{
	static const char probe = 1;
	size_t argc = 1;
	napi_value argv[1];
	int32_t pid;
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
	if (argc != 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
		napi_throw_type_error(env, NULL, "peekOurMemory(pid) takes a positive pid");
		return NULL;
	}
	char byte;
	struct iovec local = {&byte, 1}, remote = {(void *)&probe, 1};
	long ret = rsys_raw_syscall(pid, (long)&local, 1, (long)&remote, 1, 0, __NR_process_vm_readv);
	napi_value out;
	CHECK(napi_create_int32(env, ret < 0 ? (int32_t)-ret : 0, &out));
	return out;
}

static napi_value address_value(napi_env env, void (*fn)(void))
{
	napi_value out;
	if (napi_create_double(env, (double)(uintptr_t)fn, &out) != napi_ok)
		return NULL;
	return out;
}

/* Shared by unmapAtTeardown (address, length, keep) and closeAtTeardown (fd, keep). */
static napi_value at_teardown(napi_env env, napi_callback_info info, int fds)
{
	size_t want = fds ? 2 : 3, argc = 3;
	napi_value argv[3];
	struct instance *inst;
	CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&inst));
	uintptr_t a, b = 0;
	bool keep;
	if (argc != want || !get_address(env, argv[0], &a) || (!fds && !get_address(env, argv[1], &b)) ||
	    napi_get_value_bool(env, argv[want - 1], &keep) != napi_ok) {
		napi_throw_type_error(env, NULL, fds ? "closeAtTeardown(fd, keep)" : "unmapAtTeardown(address, length, keep)");
		return NULL;
	}
	struct list *l = fds ? &inst->fds : &inst->mappings;
	if (!keep)
		list_remove(l, a);
	else if (!list_add(l, a, b))
		napi_throw_error(env, NULL, "rsyscall native: out of memory");
	return NULL;
}

/* unmapAtTeardown(address, length, keep): whether to unmap this memory when the environment goes away. */
static napi_value unmap_at_teardown(napi_env env, napi_callback_info info)
{
	return at_teardown(env, info, 0);
}

/* closeAtTeardown(fd, keep): whether to close this fd when the environment goes away. */
static napi_value close_at_teardown(napi_env env, napi_callback_info info)
{
	return at_teardown(env, info, 1);
}

/* The environment is going away: nothing can use what it held now. */
static void free_instance(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	struct instance *inst = data;
	for (size_t i = 0; i < inst->mappings.n; i++)
		rsys_raw_syscall((long)inst->mappings.items[i].a, (long)inst->mappings.items[i].b, 0, 0, 0, 0, __NR_munmap);
	for (size_t i = 0; i < inst->fds.n; i++)
		rsys_raw_syscall((long)inst->fds.items[i].a, 0, 0, 0, 0, 0, __NR_close);
	free(inst->mappings.items);
	free(inst->fds.items);
	free(inst);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value call_buffer, server_flags, flag;
	struct instance *inst = calloc(1, sizeof(*inst));
	if (inst == NULL) {
		napi_throw_error(env, NULL, "rsyscall native: out of memory");
		return NULL;
	}
	if (napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
		free(inst);
		napi_throw_error(env, NULL, "rsyscall native: cannot keep per-environment data");
		return NULL;
	}
	struct call *call = &inst->call;
	/* No finalizer: the instance data owns the memory and outlives every JavaScript value. */
	CHECK(napi_create_external_arraybuffer(env, call, sizeof(*call), NULL, NULL, &call_buffer));
	CHECK(napi_create_object(env, &server_flags));
#define FLAG(name) \
	CHECK(napi_create_int32(env, RSYS_##name, &flag)); \
	CHECK(napi_set_named_property(env, server_flags, #name, flag))
	FLAG(RESET_SIGNALS);
	FLAG(UNBLOCK_ALL);
	FLAG(PDEATHSIG);
	FLAG(CLOEXEC_SOCKET);
	FLAG(CLOSE_FD);
	FLAG(ROBUST);
	napi_property_descriptor props[] = {
		{"syscall", NULL, do_syscall, NULL, NULL, NULL, napi_enumerable, call},
		{"memRead", NULL, mem_read, NULL, NULL, NULL, napi_enumerable, NULL},
		{"memWrite", NULL, mem_write, NULL, NULL, NULL, napi_enumerable, NULL},
		{"view", NULL, view, NULL, NULL, NULL, napi_enumerable, NULL},
		{"peekOurMemory", NULL, peek_our_memory, NULL, NULL, NULL, napi_enumerable, NULL},
		{"readFd", NULL, read_fd, NULL, NULL, NULL, napi_enumerable, NULL},
		{"writeFd", NULL, write_fd, NULL, NULL, NULL, napi_enumerable, NULL},
		{"watch", NULL, rsys_watch, NULL, NULL, NULL, napi_enumerable, NULL},
		{"setWatchRef", NULL, rsys_set_watch_ref, NULL, NULL, NULL, napi_enumerable, NULL},
		{"unwatch", NULL, rsys_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
		{"unmapAtTeardown", NULL, unmap_at_teardown, NULL, NULL, NULL, napi_enumerable, inst},
		{"closeAtTeardown", NULL, close_at_teardown, NULL, NULL, NULL, napi_enumerable, inst},
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
