/* Baseline: a syscall-server round trip in plain C. A forked child reads 56-byte requests from a
 * socketpair and answers each with 8 bytes; the parent sends one and waits for the answer, N times.
 * Prints the median of ROUNDS rounds, in nanoseconds per round trip. With a second argument, "one"
 * pins both to CPU 0 and "two" the parent to CPU 0 and the child to CPU 1. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timing.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000, rounds = 7;
	const char *pin = argc > 2 ? argv[2] : "";
	int sv[2];
	cpu_set_t cpus;
	if (*pin) {
		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		if (sched_setaffinity(0, sizeof cpus, &cpus) < 0)
			return 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		if (strcmp(pin, "two") == 0) {
			CPU_ZERO(&cpus);
			CPU_SET(1, &cpus);
			if (sched_setaffinity(0, sizeof cpus, &cpus) < 0)
				_exit(1);
		}
		close(sv[0]);
		char req[56];
		for (;;) {
			size_t got = 0;
			while (got < sizeof req) {
				ssize_t r = read(sv[1], req + got, sizeof req - got);
				if (r <= 0)
					_exit(0);
				got += r;
			}
			int64_t result = getpid();
			if (write(sv[1], &result, sizeof result) != sizeof result)
				_exit(1);
		}
	}
	close(sv[1]);
	double samples[7];
	char req[56] = {0};
	int64_t reply;
	for (int r = 0; r < rounds; r++) {
		double start = now_ns();
		for (int i = 0; i < n; i++) {
			if (write(sv[0], req, sizeof req) != sizeof req || read(sv[0], &reply, sizeof reply) != sizeof reply)
				return 1;
		}
		samples[r] = (now_ns() - start) / n;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	qsort(samples, rounds, sizeof samples[0], cmp);
	printf("%.1f\n", samples[rounds / 2]);
	return 0;
}
