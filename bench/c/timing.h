/* What the C baselines share: a monotonic clock in nanoseconds, and the comparison qsort needs to
 * take a median of samples. */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H

#include <time.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
