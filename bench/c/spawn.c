/* Baseline: posix_spawn of /bin/true and waitpid, N times. Prints the median of ROUNDS rounds (5, or
 * the second argument, at most 5), in
 * nanoseconds per spawn+wait. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "timing.h"

extern char **environ;

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200, rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (rounds < 1 || rounds > 5)
		return 2;
	char *args[] = {"true", NULL};
	double samples[5];
	for (int r = 0; r < rounds; r++) {
		double start = now_ns();
		for (int i = 0; i < n; i++) {
			pid_t pid;
			int status;
			if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0 || waitpid(pid, &status, 0) != pid)
				return 1;
		}
		samples[r] = (now_ns() - start) / n;
	}
	qsort(samples, rounds, sizeof samples[0], cmp);
	printf("%.1f\n", samples[rounds / 2]);
	return 0;
}
