/* Shared declarations of the native core: the raw syscall entry, the clone trampoline and
 * the freestanding syscall server. */
#ifndef RSYSCALL_H
#define RSYSCALL_H

#include <stdint.h>

/* One request on the wire: the syscall number and six arguments, native-endian. The reply is
 * one int64: the raw kernel result, -4095..-1 meaning -errno. */
struct rsys_request {
	int64_t nr;
	int64_t args[6];
};

#define RSYS_HIDDEN __attribute__((visibility("hidden")))

RSYS_HIDDEN long rsys_raw_syscall(long a1, long a2, long a3, long a4, long a5, long a6, long nr);
RSYS_HIDDEN void rsys_trampoline(void);

/* Start-up clean-up the server performs before serving (the `flags` argument). */
#define RSYS_RESET_SIGNALS 1   /* every caught or ignored signal back to SIG_DFL */
#define RSYS_UNBLOCK_ALL 2     /* empty signal mask */
#define RSYS_PDEATHSIG 4       /* SIGKILL when the parent dies; exit if it already has */
#define RSYS_CLOEXEC_SOCKET 8  /* close-on-exec on infd and outfd */
#define RSYS_CLOSE_FD 16       /* close `close_fd` (the child's copy of the parent's end) */

/* Serve requests read from infd, answering on outfd, until EOF (returns 0) or an error
 * (returns a negative errno). */
RSYS_HIDDEN long rsys_server(long infd, long outfd, long flags, long close_fd, long expected_ppid);

/* Wait until the int at addr differs from val, then return 0 (see server.c). */
RSYS_HIDDEN long rsys_futex_helper(long addr, long val, long expected_ppid);

/* Exec in a CLONE_VFORK child; stores -errno at result on failure (see server.c). */
RSYS_HIDDEN long rsys_exec(long path, long argv, long envp, long result, long expected_ppid);

#endif
