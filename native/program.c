/* rsyscall-server: the syscall server as a program of its own, for processes that do not share
 * Node's address space (a bootstrap through any command, ssh, stubs). Static, position-independent,
 * freestanding: no libc, no dynamic loader, no TLS, so it runs on any x86_64 Linux as it is and
 * can be sent over a link and exec'd.
 *
 *   rsyscall-server                 the link is fds 0 (in) and 1 (out)
 *   rsyscall-server --link-fd N     the link is fd N (in and out)
 *   rsyscall-server --close-fd N    also close fd N first (what a bootstrap script exec'd from)
 *   rsyscall-server --unlink PATH   also remove PATH first (the file it was exec'd from)
 *   rsyscall-server --probe         exit 0 at once (can this file be exec'd here?)
 *   rsyscall-server --listen-fd N   persistent: when a link ends, take the next connection to the
 *                                   listening socket N as the new link (our user or root only)
 *   rsyscall-server --connect PATH -- ARGV...
 *                                   a stub: connect to the unix socket PATH (its listener must be
 *                                   our user or root), keep stdio as it is, report ARGV in the hello;
 *                                   exits 1 if its link ends without an exit
 *
 * It moves its link above fd 2, close-on-exec, and points fds 0 and 1 at /dev/null (stderr
 * stays), so that nothing it execs can write into the protocol. Then it resets its signals, says
 * hello (struct rsys_hello, argv and envp), takes the client's go-ahead (and any fds it sends),
 * and serves until EOF. Exits 0 on EOF between requests, 1 on anything else. */
#define _GNU_SOURCE /* struct ucred */
#include <asm/unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

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

/* Says hello on the link (struct rsys_hello, then argv and envp), takes the go-ahead, serves until
 * the link ends. Returns what rsys_server returned (0 at EOF between requests), or an error. */
static long session(long infd, long outfd, char **argv, long argc, char **envp, long envc)
{
	struct stat in_stat;
	if (SYSCALL3(__NR_fstat, infd, &in_stat, 0) < 0)
		return -EBADF;
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
		return o.error;
	long ret = take_gifts(infd, outfd, S_ISSOCK(in_stat.st_mode));
	if (ret < 0)
		return ret;
	return rsys_server(infd, outfd, RSYS_RESET_SIGNALS | RSYS_UNBLOCK_ALL, -1, 0, 0);
}

/* Whether whoever is at the other end of unix socket `fd` may drive us: our own user, or root.
 * A listening socket that leads to a syscall server hands our user's power to whoever connects. */
static int peer_allowed(long fd)
{
	struct ucred cred;
	socklen_t length = sizeof(cred);
	if (rsys_raw_syscall(fd, SOL_SOCKET, SO_PEERCRED, (long)&cred, (long)&length, 0, __NR_getsockopt) < 0)
		return 0;
	return cred.uid == 0 || (long)cred.uid == SYSCALL3(__NR_geteuid, 0, 0, 0) ||
	       (long)cred.uid == SYSCALL3(__NR_getuid, 0, 0, 0);
}

/* A persistent server: when a link ends, the next connection to `listen` that passes peer_allowed
 * is the new link. Never returns unless accept fails. */
static long persist(long listen, char **argv, long argc, char **envp, long envc)
{
	for (;;) {
		long link = rsys_raw_syscall(listen, 0, 0, SOCK_CLOEXEC, 0, 0, __NR_accept4);
		if (link == -EINTR || link == -ECONNABORTED)
			continue;
		if (link < 0)
			return link;
		if (peer_allowed(link))
			session(link, link, argv, argc, envp, envc);
		SYSCALL3(__NR_close, link, 0, 0);
	}
}

/* A stub: connects to the unix socket at `path` (via /proc/self/fd, so that no length limit of
 * sun_path applies), whose listener must be our user or root, and serves there. */
static long stub(const char *path, char **argv, long argc, char **envp, long envc)
{
	long dir = SYSCALL3(__NR_open, path, O_PATH | O_CLOEXEC, 0);
	if (dir < 0)
		return dir;
	struct sockaddr_un address;
	volatile char *name = address.sun_path;
	const char prefix[] = "/proc/self/fd/";
	long n = 0;
	for (; prefix[n]; n++)
		name[n] = prefix[n];
	char digits[12];
	long count = 0;
	for (long v = dir; v > 0 || count == 0; v /= 10)
		digits[count++] = (char)('0' + v % 10);
	while (count > 0)
		name[n++] = digits[--count];
	name[n] = 0;
	address.sun_family = AF_UNIX;
	long sock = SYSCALL3(__NR_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return sock;
	long ret;
	do
		ret = SYSCALL3(__NR_connect, sock, &address, sizeof(address));
	while (ret == -EINTR);
	SYSCALL3(__NR_close, dir, 0, 0);
	if (ret < 0)
		return ret;
	if (!peer_allowed(sock))
		return -EPERM;
	return session(sock, sock, argv, argc, envp, envc);
}

long rsys_program_main(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	long envc = 0;
	while (envp[envc])
		envc++;

	long link = -1, listen = -1;
	const char *connect_to = 0;
	for (long i = 1; i < argc; i++) {
		if (streq(argv[i], "--probe"))
			return 0;
		if (streq(argv[i], "--")) {
			/* What follows is the argv a stub was run with: the hello reports it. */
			argv += i + 1;
			argc -= i + 1;
			break;
		}
		if (i + 1 >= argc)
			return 2;
		long fd = -1;
		if (streq(argv[i], "--unlink")) {
			/* The file a bootstrap script exec'd us from: gone once we run (ENOENT is fine). */
			SYSCALL3(__NR_unlink, argv[++i], 0, 0);
			continue;
		}
		if (!streq(argv[i], "--connect")) {
			fd = parse_fd(argv[i + 1]);
			if (fd < 0)
				return 2;
		}
		if (streq(argv[i], "--close-fd"))
			SYSCALL3(__NR_close, fd, 0, 0);
		else if (streq(argv[i], "--link-fd"))
			link = fd;
		else if (streq(argv[i], "--listen-fd"))
			listen = fd;
		else if (streq(argv[i], "--connect"))
			connect_to = argv[i + 1];
		else
			return 2;
		i++;
	}

	/* A stub ends with the status its thread chose (exit). A link that just ends means nobody
	 * chose one (the thread was dropped): the caller must not take that for success. */
	if (connect_to) {
		stub(connect_to, argv, argc, envp, envc);
		return 1;
	}

	long infd, outfd;
	if (link >= 0) {
		infd = outfd = link;
		if (SYSCALL3(__NR_fcntl, link, F_SETFD, FD_CLOEXEC) < 0)
			return 1;
	} else {
		struct stat in_stat, out_stat;
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
	long ret = session(infd, outfd, argv, argc, envp, envc);
	if (listen >= 0) {
		if (SYSCALL3(__NR_fcntl, listen, F_SETFD, FD_CLOEXEC) < 0)
			return 1;
		SYSCALL3(__NR_close, infd, 0, 0);
		if (outfd != infd)
			SYSCALL3(__NR_close, outfd, 0, 0);
		return persist(listen, argv, argc, envp, envc) == 0 ? 0 : 1;
	}
	return ret == 0 ? 0 : 1;
}

_Static_assert(sizeof(struct rsys_hello) == 15 * 8, "the hello is written word by word, in field order");
