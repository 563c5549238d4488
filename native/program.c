/* rsyscall-server: the syscall server as a program of its own, for processes that do not share
 * Node's address space (a bootstrap through any command, ssh, stubs). Static, position-independent,
 * freestanding: no libc, no dynamic loader, no TLS, so it runs on any x86_64 Linux as it is and
 * can be sent over a link and exec'd.
 *
 *   rsyscall-server                 the link is fds 0 (in) and 1 (out)
 *   rsyscall-server --link-fd N     the link is fd N (in and out)
 *   rsyscall-server --close-fd N    also close fd N first (what a bootstrap script exec'd from)
 *   rsyscall-server --probe         exit 0 at once (can this file be exec'd here?)
 *
 * It moves its link above fd 2, close-on-exec, and points fds 0 and 1 at /dev/null (stderr
 * stays), so that nothing it execs can write into the protocol. Then it resets its signals, says
 * hello (struct rsys_hello, argv and envp), takes the client's go-ahead (and any fds it sends),
 * and serves until EOF. Exits 0 on EOF between requests, 1 on anything else. */
#include <asm/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "rsyscall.h"

#define SYSCALL3(nr, a, b, c) rsys_raw_syscall((long)(a), (long)(b), (long)(c), 0, 0, 0, (nr))

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static long parse_fd(const char *s)
{
	long n = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 1 << 24)
			return -1;
		n = 10 * n + (*s - '0');
	}
	return n;
}

static long length(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	return n;
}

/* Writes all of buf, retrying short writes and EINTR. */
static long write_all(long fd, const char *buf, long n)
{
	while (n > 0) {
		long ret = SYSCALL3(__NR_write, fd, buf, n);
		if (ret == -EINTR)
			continue;
		if (ret <= 0)
			return ret < 0 ? ret : -EPIPE;
		buf += ret;
		n -= ret;
	}
	return 0;
}

/* Buffered output for the hello: few writes however many strings. */
struct out {
	long fd, used, error;
	char buf[4096];
};

static void put(struct out *o, const char *data, long n)
{
	while (n > 0 && !o->error) {
		if (o->used == (long)sizeof(o->buf)) {
			o->error = write_all(o->fd, o->buf, o->used);
			o->used = 0;
		}
		long room = (long)sizeof(o->buf) - o->used;
		long chunk = n < room ? n : room;
		volatile char *to = o->buf + o->used;
		for (long i = 0; i < chunk; i++)
			to[i] = data[i];
		o->used += chunk;
		data += chunk;
		n -= chunk;
	}
}

static void put_word(struct out *o, uint64_t word)
{
	put(o, (const char *)&word, sizeof(word));
}

static void put_strings(struct out *o, char **strings, long count)
{
	for (long i = 0; i < count; i++) {
		long n = length(strings[i]);
		put_word(o, (uint64_t)n);
		put(o, strings[i], n);
	}
}

/* Points fds 0 and 1 at /dev/null; without /dev, at an empty pipe whose write end is gone (EOF)
 * and one whose read end is gone (EPIPE). */
static void detach_stdio(void)
{
	long null = SYSCALL3(__NR_open, "/dev/null", O_RDWR | O_CLOEXEC, 0);
	if (null >= 0) {
		SYSCALL3(__NR_dup2, null, 0, 0);
		SYSCALL3(__NR_dup2, null, 1, 0);
		SYSCALL3(__NR_close, null, 0, 0);
		return;
	}
	int fds[2];
	if (SYSCALL3(__NR_pipe2, fds, O_CLOEXEC, 0) == 0) {
		SYSCALL3(__NR_dup2, fds[0], 0, 0);
		SYSCALL3(__NR_close, fds[0], 0, 0);
		SYSCALL3(__NR_close, fds[1], 0, 0);
	}
	if (SYSCALL3(__NR_pipe2, fds, O_CLOEXEC, 0) == 0) {
		SYSCALL3(__NR_dup2, fds[1], 1, 0);
		SYSCALL3(__NR_close, fds[0], 0, 0);
		SYSCALL3(__NR_close, fds[1], 0, 0);
	}
}

/* The go-ahead: one byte, with fds when the link is a unix socket. Answers with their numbers. */
static long take_gifts(long infd, long outfd, int is_socket)
{
	char byte;
	int fds[RSYS_MAX_GIFTS];
	long count = 0;
	if (is_socket) {
		union {
			struct cmsghdr header;
			char room[CMSG_SPACE(sizeof(fds))];
		} control;
		struct iovec iov = {.iov_base = &byte, .iov_len = 1};
		struct msghdr msg = {0};
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = control.room;
		msg.msg_controllen = sizeof(control.room);
		long ret;
		do
			ret = SYSCALL3(__NR_recvmsg, infd, &msg, MSG_CMSG_CLOEXEC);
		while (ret == -EINTR);
		if (ret != 1 || (msg.msg_flags & MSG_CTRUNC))
			return -EPROTO;
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			count = (long)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			volatile int *from = (volatile int *)CMSG_DATA(c);
			for (long i = 0; i < count; i++)
				fds[i] = from[i];
		}
	} else {
		long ret;
		do
			ret = SYSCALL3(__NR_read, infd, &byte, 1);
		while (ret == -EINTR);
		if (ret != 1)
			return -EPROTO;
	}
	uint64_t answer[1 + RSYS_MAX_GIFTS];
	answer[0] = (uint64_t)count;
	for (long i = 0; i < count; i++)
		answer[1 + i] = (uint64_t)(int64_t)fds[i];
	return write_all(outfd, (const char *)answer, (1 + count) * 8);
}

long rsys_program_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	long envc = 0;
	while (envp[envc])
		envc++;

	long link = -1;
	for (long i = 1; i < argc; i++) {
		if (streq(argv[i], "--probe"))
			return 0;
		if (i + 1 < argc && streq(argv[i], "--close-fd")) {
			long fd = parse_fd(argv[++i]);
			if (fd < 0)
				return 2;
			SYSCALL3(__NR_close, fd, 0, 0);
		} else if (i + 1 < argc && streq(argv[i], "--link-fd")) {
			link = parse_fd(argv[++i]);
			if (link < 0)
				return 2;
		} else {
			return 2;
		}
	}

	long infd, outfd;
	struct stat in_stat, out_stat;
	if (link >= 0) {
		infd = outfd = link;
		if (SYSCALL3(__NR_fcntl, link, F_SETFD, FD_CLOEXEC) < 0)
			return 1;
	} else {
		infd = SYSCALL3(__NR_fcntl, 0, F_DUPFD_CLOEXEC, 3);
		if (infd < 0)
			return 1;
		if (SYSCALL3(__NR_fstat, 0, &in_stat, 0) == 0 && SYSCALL3(__NR_fstat, 1, &out_stat, 0) == 0 &&
		    in_stat.st_dev == out_stat.st_dev && in_stat.st_ino == out_stat.st_ino)
			outfd = infd;
		else
			outfd = SYSCALL3(__NR_fcntl, 1, F_DUPFD_CLOEXEC, 3);
		if (outfd < 0)
			return 1;
		detach_stdio();
	}
	if (SYSCALL3(__NR_fstat, infd, &in_stat, 0) < 0)
		return 1;
	int is_socket = S_ISSOCK(in_stat.st_mode);

	struct out o;
	o.fd = outfd;
	o.used = 0;
	o.error = 0;
	put(&o, RSYS_HELLO_MAGIC_BYTES, 8);
	put_word(&o, RSYS_HELLO_VERSION);
	put_word(&o, sizeof(struct rsys_hello));
	put_word(&o, (uint64_t)SYSCALL3(__NR_getpid, 0, 0, 0));
	put_word(&o, (uint64_t)rsys_server);
	put_word(&o, (uint64_t)rsys_trampoline);
	put_word(&o, (uint64_t)rsys_futex_helper);
	put_word(&o, (uint64_t)rsys_exec);
	put_word(&o, (uint64_t)infd);
	put_word(&o, (uint64_t)outfd);
	put_word(&o, (uint64_t)in_stat.st_dev);
	put_word(&o, (uint64_t)in_stat.st_ino);
	put_word(&o, (uint64_t)in_stat.st_mode);
	put_word(&o, (uint64_t)argc);
	put_word(&o, (uint64_t)envc);
	put_strings(&o, argv, argc);
	put_strings(&o, envp, envc);
	if (!o.error && o.used)
		o.error = write_all(outfd, o.buf, o.used);
	if (o.error)
		return 1;
	if (take_gifts(infd, outfd, is_socket) < 0)
		return 1;
	return rsys_server(infd, outfd, RSYS_RESET_SIGNALS | RSYS_UNBLOCK_ALL, -1, 0, 0) == 0 ? 0 : 1;
}

_Static_assert(sizeof(struct rsys_hello) == 15 * 8, "the hello is written word by word, in field order");
