/*
 * tap.h — a minimal TAP producer for mxgate's C unit tests. Header-only;
 * each test program includes it once.
 *
 *   ok(cond, "name %d", x)     one test point
 *   is_int(got, want, "name")  integer compare, prints both on failure
 *   is_str(got, want, "name")  string compare
 *   return done_testing();     prints the plan, exit status 0 iff all passed
 */
#ifndef MXGATE_TAP_H
#define MXGATE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static int __attribute__((format(printf, 2, 3), unused))
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

#define is_int(got, want, ...) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	if (!ok(g_ == w_, __VA_ARGS__))					\
		printf("#   got %lld, want %lld\n", g_, w_);		\
} while (0)

#define is_str(got, want, ...) do {					\
	const char *g_ = (got), *w_ = (want);				\
	if (!ok(g_ != NULL && strcmp(g_, w_) == 0, __VA_ARGS__))	\
		printf("#   got '%s'\n#  want '%s'\n",			\
		    g_ ? g_ : "(null)", w_);				\
} while (0)

/* Hex text to bytes (test vectors); the text's length must be even. */
static void __attribute__((unused))
tap_unhex(const char *h, unsigned char *out)
{
	size_t i;

	for (i = 0; h[2 * i]; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
}

static int __attribute__((unused))
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
