/* Shared declarations of the native core: the raw syscall entry, the clone trampoline and
 * the freestanding syscall server. */
#ifndef RSYSCALL_H
#define RSYSCALL_H

#include <stdint.h>

/* One request on the wire: the syscall number and six arguments, native-endian. The reply is
 * one int64: the raw kernel result, -4095..-1 meaning -errno.
 *
 * Two numbers are not syscalls but move memory through the link itself, for a server in an
 * address space we cannot reach another way (the stream memory transport):
 *   RSYS_OP_RECV_MEMORY (address, n): the n bytes that follow the request on the link are
 *     stored at address; the reply is n.
 *   RSYS_OP_SEND_MEMORY (address, n): n bytes at address are written to the link, then the reply
 *     (n). If the memory cannot be read (-EFAULT), zeros stand in for it, so the stream stays
 *     framed, and the reply is -EFAULT. */
struct rsys_request {
	int64_t nr;
	int64_t args[6];
};

#define RSYS_OP_RECV_MEMORY (-1)
#define RSYS_OP_SEND_MEMORY (-2)

#define RSYS_HIDDEN __attribute__((visibility("hidden")))

RSYS_HIDDEN long rsys_raw_syscall(long a1, long a2, long a3, long a4, long a5, long a6, long nr);
RSYS_HIDDEN void rsys_trampoline(void);

/* Start-up clean-up the server performs before serving (the `flags` argument). */
#define RSYS_RESET_SIGNALS 1   /* every caught or ignored signal back to SIG_DFL */
#define RSYS_UNBLOCK_ALL 2     /* empty signal mask */
#define RSYS_PDEATHSIG 4       /* SIGKILL when the parent dies; exit if it already has */
#define RSYS_CLOEXEC_SOCKET 8  /* close-on-exec on infd and outfd */
#define RSYS_CLOSE_FD 16       /* close `close_fd` (the child's copy of the parent's end) */
#define RSYS_ROBUST 32         /* set_robust_list(`robust`): see rsys_futex_helper */

/* Serve requests read from infd, answering on outfd, until EOF (returns 0) or an error
 * (returns a negative errno). */
RSYS_HIDDEN long rsys_server(long infd, long outfd, long flags, long close_fd, long expected_ppid, long robust);

/* Wait until the int at addr differs from val (or, with val RSYS_ROBUST_WAIT, until the kernel
 * marks it FUTEX_OWNER_DIED), then return 0 (see server.c). */
#define RSYS_ROBUST_WAIT (-1)
RSYS_HIDDEN long rsys_futex_helper(long addr, long val, long expected_ppid);

/* What an exec stub does before its execve, as posix_spawn's file actions: chdir to `cwd`
 * (unless NULL), then put each `from` fd at its `to` number (close-on-exec cleared). All
 * sources are first copied above every target, so one move never clobbers another's source.
 * On failure the stub stores which step failed in `failed` (src/tasks/spawn.ts reads it). */
#define RSYS_SPAWN_FAILED_EXEC 0
#define RSYS_SPAWN_FAILED_CHDIR 1
#define RSYS_SPAWN_FAILED_DUP 2
struct rsys_spawn_actions {
	const char *cwd;
	int64_t failed;  /* out: RSYS_SPAWN_FAILED_* */
	int64_t count;   /* moves in `fds` */
	int64_t above;   /* every temporary copy goes at or above this number */
	struct {
		int32_t from, to;
	} fds[];
};

/* Exec in a CLONE_VFORK child; stores -errno at result on failure (see server.c). `actions`
 * (struct rsys_spawn_actions, or NULL) says what to do first. */
RSYS_HIDDEN long rsys_exec(long path, long argv, long envp, long result, long expected_ppid, long actions);

/* What the rsyscall-server program says first on its link (native/program.c), all fields 64-bit
 * little-endian, then argc strings (argv) and envc strings (envp), each as a 64-bit length and
 * that many bytes. src/tasks/hello.ts reads it; keep the two in step. */
#define RSYS_HELLO_MAGIC_BYTES "rsyscall"
#define RSYS_HELLO_VERSION 1
struct rsys_hello {
	char magic[8];          /* "rsyscall" */
	uint64_t version;       /* RSYS_HELLO_VERSION */
	uint64_t size;          /* sizeof(struct rsys_hello) */
	int64_t pid;            /* getpid(), in the server's own pid namespace: for messages only */
	uint64_t server;        /* addresses in the server's address space: rsys_server, */
	uint64_t trampoline;    /* rsys_trampoline, */
	uint64_t futex_helper;  /* rsys_futex_helper */
	uint64_t exec_stub;     /* and rsys_exec */
	int64_t infd, outfd;    /* the link, where the server keeps it */
	uint64_t link_dev, link_ino, link_mode; /* fstat of infd: which file the link is */
	uint64_t argc, envc;
};

/* After the hello, the client sends one byte, on a unix-socket link with up to RSYS_MAX_GIFTS fds
 * (SCM_RIGHTS); the server answers with a 64-bit count and the fd number each got (64-bit each),
 * then serves. */
#define RSYS_MAX_GIFTS 8

#endif
