/* Baseline for "1000 live children": clone N processes sharing our memory (CLONE_VM, as ours do),
 * each on its own stack with a socketpair to us, and make one call in each (a request written, its
 * pid read back), all pipelined as ours are; then end them and reap them. Prints the median of
 * ROUNDS rounds of the time to have them all answering, in nanoseconds. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

#define STACK (64 * 1024)

/* The child's end, and its copy of ours, which it closes (or it would never see end of file). */
struct ends {
	int theirs, ours;
};

static int serve(void *arg)
{
	struct ends *ends = arg;
	int fd = ends->theirs;
	close(ends->ours);
	long request;
	while (read(fd, &request, sizeof request) == sizeof request) {
		long pid = getpid();
		if (write(fd, &pid, sizeof pid) != sizeof pid)
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, rounds = 3;
	double samples[3];
	int *fds = calloc(n, sizeof *fds);
	pid_t *pids = calloc(n, sizeof *pids);
	char **stacks = calloc(n, sizeof *stacks);
	struct ends *ends = calloc(n, sizeof *ends);
	for (int r = 0; r < rounds; r++) {
		double start = now_ns();
		for (int i = 0; i < n; i++) {
			int sv[2];
			stacks[i] = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (stacks[i] == MAP_FAILED || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				return 1;
			ends[i] = (struct ends){sv[1], sv[0]};
			pids[i] = clone(serve, stacks[i] + STACK, CLONE_VM | SIGCHLD, &ends[i]);
			if (pids[i] < 0)
				return 1;
			close(sv[1]);
			fds[i] = sv[0];
			long request = 39;
			if (write(fds[i], &request, sizeof request) != sizeof request)
				return 1;
		}
		for (int i = 0; i < n; i++) {
			long pid;
			if (read(fds[i], &pid, sizeof pid) != sizeof pid || pid != pids[i])
				return 1;
		}
		samples[r] = now_ns() - start;
		for (int i = 0; i < n; i++)
			close(fds[i]);
		for (int i = 0; i < n; i++) {
			if (waitpid(pids[i], NULL, 0) != pids[i])
				return 1;
			munmap(stacks[i], STACK);
		}
	}
	qsort(samples, rounds, sizeof samples[0], cmp);
	printf("%.1f\n", samples[rounds / 2]);
	return 0;
}
