/* Baseline: moving memory into and out of another process in plain C. A forked child waits; the
 * parent copies SIZE bytes into its copy of a buffer with process_vm_writev, then back with
 * process_vm_readv, N times. Prints the medians of ROUNDS rounds, in nanoseconds per write and
 * per read. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100, rounds = 7;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 1 << 20;
	char *theirs = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *ours = malloc(size), *back = malloc(size);
	if (theirs == MAP_FAILED || !ours || !back)
		return 1;
	memset(theirs, 1, size);
	memset(ours, 2, size);
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	double writes[7], reads[7];
	for (int r = 0; r < rounds; r++) {
		struct iovec local = {ours, size}, remote = {theirs, size}, into = {back, size};
		double start = now_ns();
		for (int i = 0; i < n; i++)
			if (process_vm_writev(pid, &local, 1, &remote, 1, 0) != (ssize_t)size)
				return 2;
		double middle = now_ns();
		for (int i = 0; i < n; i++)
			if (process_vm_readv(pid, &into, 1, &remote, 1, 0) != (ssize_t)size)
				return 3;
		writes[r] = (middle - start) / n;
		reads[r] = (now_ns() - middle) / n;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	qsort(writes, rounds, sizeof(double), cmp);
	qsort(reads, rounds, sizeof(double), cmp);
	printf("%.0f %.0f\n", writes[rounds / 2], reads[rounds / 2]);
	return 0;
}
