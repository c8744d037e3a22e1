/*
 * tests/lib/tap.h - a tiny TAP producer for the C unit tests.
 *
 * plan(n) or done_testing() at the end; ok(cond, fmt...) prints one test line;
 * is_int/is_u64 print both values on failure; skip(desc, why) counts a test
 * not run; diag() prints a comment. The exit
 * status is non-zero when any test failed, so automake's TAP driver and a bare
 * run agree. A helper program whose lines a shell test numbers into its own
 * (sub_tap in tests/lib/tap.sh) sets tap_unnumbered: its lines read "ok - DESC"
 * and done_testing() prints no plan.
 */
#ifndef FOLIO_TESTS_TAP_H
#define FOLIO_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* One counter per program, shared by its test and the tests/lib code it
 * links (a weak definition in every file that includes this one). */
__attribute__((weak)) int tap_n, tap_failed, tap_unnumbered;

static inline void plan(int n)
{
	printf("1..%d\n", n);
}

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static inline int tap_result(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	if (tap_unnumbered)
		printf("%s - ", cond ? "ok" : "not ok");
	else
		printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

/* One skipped test: "ok N - DESC # SKIP WHY" ("skip - DESC: WHY" unnumbered). */
static inline void skip(const char *desc, const char *why)
{
	tap_n++;
	if (tap_unnumbered)
		printf("skip - %s: %s\n", desc, why);
	else
		printf("ok %d - %s # SKIP %s\n", tap_n, desc, why);
	fflush(stdout);
}

#define ok(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                                                     \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (!tap_result(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                        \
			printf("#   got %lld, want %lld\n", g_, w_);                               \
	} while (0)
#define is_u64(got, want, ...)                                                                     \
	do {                                                                                       \
		uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                              \
		if (!tap_result(g_ == w_, __FILE__, __LINE__, __VA_ARGS__))                        \
			printf("#   got %" PRIu64 ", want %" PRIu64 "\n", g_, w_);                 \
	} while (0)

/* Abort the whole test program (a setup step failed). */
#define BAIL(...)                                                                                  \
	do {                                                                                       \
		printf("Bail out! ");                                                              \
		printf(__VA_ARGS__);                                                               \
		printf("\n");                                                                      \
		exit(1);                                                                           \
	} while (0)

static inline int done_testing(void)
{
	if (!tap_unnumbered)
		printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* FOLIO_TESTS_TAP_H */
