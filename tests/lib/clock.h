/*
 * tests/lib/clock.h - clocks for the C tests and benchmarks: now_sec() and
 * now_ns() read the monotonic clock in seconds and nanoseconds, cpu_sec()
 * the process's CPU seconds. For timeouts, benchmarks and timings printed as
 * diagnostics; a test checks only lower bounds it caused itself (an injected
 * latency), never speed.
 */
#ifndef FOLIO_TESTS_CLOCK_H
#define FOLIO_TESTS_CLOCK_H

#include <time.h>

static inline double clock_sec_(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline double now_sec(void)
{
	return clock_sec_(CLOCK_MONOTONIC);
}

static inline double now_ns(void)
{
	return now_sec() * 1e9;
}

static inline double cpu_sec(void)
{
	return clock_sec_(CLOCK_PROCESS_CPUTIME_ID);
}

#endif /* FOLIO_TESTS_CLOCK_H */
