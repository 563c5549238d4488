/* The freestanding syscall server: what a child made by clone runs until it execs or exits.
 *
 * Built without libc and without touching TLS: a CLONE_VM child shares the address space of
 * the Node thread that cloned it, including that thread's %fs, so errno, stack protector
 * canaries and every libc function would scribble on the parent's thread state. Every
 * syscall goes through rsys_raw_syscall. A test checks the object with nm and objdump. (libc's
 * headers are used for their constants only.) */
#include <asm/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "rsyscall.h"

/* The kernel's struct sigaction for rt_sigaction on x86_64 (not libc's). */
struct kernel_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	unsigned long mask;
};

/* The kernel's signal set is one unsigned long on x86_64: signals 1..64. */
#define KERNEL_NSIG ((long)(8 * sizeof(unsigned long)))

#define SYSCALL3(nr, a, b, c) rsys_raw_syscall((long)(a), (long)(b), (long)(c), 0, 0, 0, (nr))

static void reset_signals(void)
{
	struct kernel_sigaction old, dfl;
	dfl.handler = (unsigned long)SIG_DFL;
	dfl.flags = 0;
	dfl.restorer = 0;
	dfl.mask = 0;
	for (long sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (rsys_raw_syscall(sig, 0, (long)&old, sizeof(old.mask), 0, 0, __NR_rt_sigaction) < 0)
			continue;
		if (old.handler != (unsigned long)SIG_DFL)
			rsys_raw_syscall(sig, (long)&dfl, 0, sizeof(dfl.mask), 0, 0, __NR_rt_sigaction);
	}
}

static long startup(long infd, long outfd, long flags, long close_fd, long expected_ppid, long robust)
{
	/* A process in an address space of its own (a fork) is the only user of its memory, and the
	 * kernel clears a CLONE_CHILD_CLEARTID word only when the memory is shared: at its exec or
	 * exit nothing would tell. The robust futex list is walked at both, whoever else shares the
	 * memory: `robust` is a list head (set up by the parent) whose one entry is a word holding our
	 * tid (CLONE_CHILD_SETTID put it there), which the kernel marks FUTEX_OWNER_DIED and wakes. */
	if (flags & RSYS_ROBUST) {
		long ret = SYSCALL3(__NR_set_robust_list, robust, 3 * sizeof(long), 0);
		if (ret < 0)
			return ret;
	}
	if (flags & RSYS_RESET_SIGNALS)
		reset_signals();
	if (flags & RSYS_UNBLOCK_ALL) {
		unsigned long empty = 0;
		rsys_raw_syscall(SIG_SETMASK, (long)&empty, 0, sizeof(empty), 0, 0, __NR_rt_sigprocmask);
	}
	if (flags & RSYS_PDEATHSIG) {
		long ret = SYSCALL3(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
		if (ret < 0)
			return ret;
		/* The parent may have died before the death signal was armed. */
		if (SYSCALL3(__NR_getppid, 0, 0, 0) != expected_ppid)
			return -ESRCH;
	}
	if (flags & RSYS_CLOSE_FD)
		SYSCALL3(__NR_close, close_fd, 0, 0);
	if (flags & RSYS_CLOEXEC_SOCKET) {
		SYSCALL3(__NR_fcntl, infd, F_SETFD, FD_CLOEXEC);
		SYSCALL3(__NR_fcntl, outfd, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

/* Writes to the link. On a socket with MSG_NOSIGNAL: a client that went away must not kill us
 * with SIGPIPE (a persistent server outlives its clients; dispositions are left at their defaults
 * for the programs we exec). *plain is set once the link turns out not to be a socket. */
static long link_write(long fd, const char *buf, long n, int *plain)
{
	if (!*plain) {
		long ret = rsys_raw_syscall(fd, (long)buf, n, MSG_NOSIGNAL, 0, 0, __NR_sendto);
		if (ret != -ENOTSOCK)
			return ret;
		*plain = 1;
	}
	return SYSCALL3(__NR_write, fd, buf, n);
}

/* Writes all n bytes to the link, retrying EINTR and short writes: 0, or a negative errno. */
static long link_write_all(long fd, const char *buf, long n, int *plain)
{
	for (long done = 0; done < n;) {
		long ret = link_write(fd, buf + done, n - done, plain);
		if (ret == -EINTR)
			continue;
		if (ret <= 0)
			return ret < 0 ? ret : -EPIPE;
		done += ret;
	}
	return 0;
}

/* Transfer at least min and at most max bytes, retrying on EINTR and short transfers. Returns
 * how many, 0 on EOF before the first byte, or a negative errno (-EPIPE on EOF in the middle). */
static long transfer(long nr, long fd, char *buf, long min, long max)
{
	long done = 0;
	while (done < min) {
		long ret = SYSCALL3(nr, fd, buf + done, max - done);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (ret == 0)
			return done == 0 ? 0 : -EPIPE;
		done += ret;
	}
	return done;
}

/* Copies n bytes (volatile: no memcpy call in freestanding code). */
static void copy_bytes(char *to, const char *from, long n)
{
	volatile char *dst = to;
	for (long i = 0; i < n; i++)
		dst[i] = from[i];
}

/* Stores n bytes at `to`, which the client named and may not be mapped: through the kernel
 * (process_vm_writev on ourselves, -EFAULT rather than a crash), or, where that syscall is
 * refused (a seccomp filter), by hand. */
static long store(char *to, const char *from, long n)
{
	struct {
		const void *base;
		unsigned long len;
	} local = {from, (unsigned long)n}, remote = {to, (unsigned long)n};
	long pid = SYSCALL3(__NR_getpid, 0, 0, 0);
	long ret = rsys_raw_syscall(pid, (long)&local, 1, (long)&remote, 1, 0, __NR_process_vm_writev);
	if (ret == n)
		return 0;
	if (ret == -ENOSYS || ret == -EPERM) {
		copy_bytes(to, from, n);
		return 0;
	}
	return -EFAULT;
}

/* RSYS_OP_SEND_MEMORY: n bytes at addr onto the link; zeros for what cannot be read. */
static long send_memory(long outfd, const char *addr, long n, int *plain)
{
	long done = 0, status = n;
	while (done < n) {
		long ret = link_write(outfd, addr + done, n - done, plain);
		if (ret == -EINTR)
			continue;
		if (ret == -EFAULT) {
			status = -EFAULT;
			break;
		}
		if (ret <= 0)
			return ret < 0 ? ret : -EPIPE;
		done += ret;
	}
	if (done < n) {
		char zeros[256];
		for (long i = 0; i < (long)sizeof(zeros); i++)
			((volatile char *)zeros)[i] = 0;
		while (done < n) {
			long chunk = n - done < (long)sizeof(zeros) ? n - done : (long)sizeof(zeros);
			long ret = link_write_all(outfd, zeros, chunk, plain);
			if (ret < 0)
				return ret;
			done += chunk;
		}
	}
	return status;
}

/* Requests read at once when the client pipelines them: one read serves many. */
#define REQUEST_BATCH 64

/* The name a server gives itself (its comm, 15 bytes at most). exec names a process after the
 * basename of its program, which has no slash: a server that died still bearing this name never
 * exec'd. Keep in step with SERVER_COMM in src/monitor.ts. */
static const char server_name[] = "rsyscall/server";

long rsys_server(long infd, long outfd, long flags, long close_fd, long expected_ppid, long robust)
{
	SYSCALL3(__NR_prctl, PR_SET_NAME, server_name, 0);
	long ret = startup(infd, outfd, flags, close_fd, expected_ppid, robust);
	if (ret < 0)
		return ret;
	struct rsys_request batch[REQUEST_BATCH];
	char *buf = (char *)batch;
	long have = 0, pos = 0;
	int plain = 0;
	for (;;) {
		if (have - pos < (long)sizeof(struct rsys_request)) {
			/* Move the start of a partial request to the front, then read until a whole
			 * request is there. */
			long rest = have - pos;
			copy_bytes(buf, buf + pos, rest);
			have = rest;
			pos = 0;
			ret = transfer(__NR_read, infd, buf + have, (long)sizeof(struct rsys_request) - have,
			               (long)sizeof(batch) - have);
			if (ret <= 0)
				return ret < 0 ? ret : have == 0 ? 0 : -EPIPE;
			have += ret;
		}
		struct rsys_request *req = (struct rsys_request *)(buf + pos);
		pos += sizeof(struct rsys_request);
		long result;
		if (req->nr == RSYS_OP_RECV_MEMORY) {
			/* The bytes follow the request: some may be in the batch already. */
			char *to = (char *)req->args[0];
			long n = req->args[1];
			long buffered = have - pos < n ? have - pos : n;
			result = n;
			if (buffered > 0 && store(to, buf + pos, buffered) < 0)
				result = -EFAULT;
			pos += buffered;
			if (buffered < n) {
				/* The batch is used up (pos == have): it serves as scratch if the memory faults. */
				have = pos = 0;
				long done = buffered;
				while (done < n) {
					long want = n - done;
					char *into = to + done;
					if (result < 0) {
						into = buf;
						want = want < (long)sizeof(batch) ? want : (long)sizeof(batch);
					}
					ret = transfer(__NR_read, infd, into, 1, want);
					if (ret == -EFAULT && result >= 0) {
						result = -EFAULT;
						continue;
					}
					if (ret <= 0)
						return ret < 0 ? ret : -EPIPE;
					done += ret;
				}
			}
		} else if (req->nr == RSYS_OP_SEND_MEMORY) {
			result = send_memory(outfd, (const char *)req->args[0], req->args[1], &plain);
			if (result < 0 && result != -EFAULT)
				return result;
		} else {
			result = rsys_raw_syscall(req->args[0], req->args[1], req->args[2], req->args[3],
			                          req->args[4], req->args[5], req->nr);
		}
		ret = link_write_all(outfd, (char *)&result, sizeof(result), &plain);
		if (ret < 0)
			return ret;
	}
}

/* The futex helper: a CLONE_VM child that waits until the 32-bit word at `addr` no longer holds
 * `val`, then exits. The word is a clone child's CLONE_CHILD_CLEARTID word, which the kernel clears
 * (and wakes) when that child execs or exits; the helper's exit, seen through its pidfd, tells the
 * parent so without a thread of its own. Signals stay blocked (inherited); it dies with its parent.
 *
 * With val RSYS_ROBUST_WAIT the word is a forked child's robust futex (see startup): 0 until the
 * child starts, then its tid; the helper sets FUTEX_WAITERS (without it the kernel marks the word
 * but wakes nobody) and waits until FUTEX_OWNER_DIED is set. */
long rsys_futex_helper(long addr, long val, long expected_ppid)
{
	if (SYSCALL3(__NR_prctl, PR_SET_PDEATHSIG, SIGKILL, 0) < 0)
		return 1;
	if (SYSCALL3(__NR_getppid, 0, 0, 0) != expected_ppid)
		return 1;
	int *word = (int *)addr;
	for (;;) {
		int now = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (val != RSYS_ROBUST_WAIT) {
			if (now != (int)val)
				return 0;
		} else if (now & FUTEX_OWNER_DIED) {
			return 0;
		} else if (now == 0) {
			/* The child has not started: nothing will wake us for that. */
			struct {
				long sec, nsec;
			} pause = {0, 1000000};
			rsys_raw_syscall(addr, FUTEX_WAIT, 0, (long)&pause, 0, 0, __NR_futex);
			continue;
		} else if (!(now & FUTEX_WAITERS)) {
			__atomic_compare_exchange_n(word, &now, now | (int)FUTEX_WAITERS, 0, __ATOMIC_SEQ_CST,
			                            __ATOMIC_SEQ_CST);
			continue;
		}
		long ret = rsys_raw_syscall(addr, FUTEX_WAIT, now, 0, 0, 0, __NR_futex);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN)
			return 2;
	}
}

/* The exec stub: what a child made by Thread.spawn runs (clone with CLONE_VM | CLONE_VFORK, like
 * posix_spawn). It cleans up as the server does, makes fds 0-2 inheritable, and execs. Only a
 * failure comes back: -errno is stored at `result` (our memory, shared) and the child exits 127;
 * the parent, resumed by CLONE_VFORK at the exec or the exit, reads it. */
/* The file actions of a spawn (see struct rsys_spawn_actions); 0 or a negative errno. */
static long spawn_actions(struct rsys_spawn_actions *a)
{
	if (a->cwd) {
		long ret = SYSCALL3(__NR_chdir, a->cwd, 0, 0);
		if (ret < 0) {
			a->failed = RSYS_SPAWN_FAILED_CHDIR;
			return ret;
		}
	}
	a->failed = RSYS_SPAWN_FAILED_DUP;
	/* Copies above every target first (close-on-exec: they go at the exec), then the moves. */
	for (long i = 0; i < a->count; i++) {
		long copy = SYSCALL3(__NR_fcntl, a->fds[i].from, F_DUPFD_CLOEXEC, a->above);
		if (copy < 0)
			return copy;
		a->fds[i].from = (int32_t)copy;
	}
	for (long i = 0; i < a->count; i++) {
		long ret = SYSCALL3(__NR_dup3, a->fds[i].from, a->fds[i].to, 0);
		if (ret < 0)
			return ret;
	}
	a->failed = RSYS_SPAWN_FAILED_EXEC;
	return 0;
}

long rsys_exec(long path, long argv, long envp, long result, long expected_ppid, long actions)
{
	volatile long *out = (volatile long *)result;
	long ret = startup(-1, -1, RSYS_RESET_SIGNALS | RSYS_UNBLOCK_ALL | RSYS_PDEATHSIG, -1, expected_ppid, 0);
	if (ret < 0) {
		*out = ret;
		return 127;
	}
	for (long fd = 0; fd < 3; fd++)
		SYSCALL3(__NR_fcntl, fd, F_SETFD, 0);
	if (actions) {
		ret = spawn_actions((struct rsys_spawn_actions *)actions);
		if (ret < 0) {
			*out = ret;
			return 127;
		}
	}
	*out = rsys_raw_syscall(path, argv, envp, 0, 0, 0, __NR_execve);
	return 127;
}
