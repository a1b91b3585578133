/*
 * fuzz.h — what every libFuzzer harness in tests/fuzz shares: a checked
 * invariant that aborts (so the fuzzer keeps the input), a reader that
 * takes bytes from the front of the input, and the wire-form checks the
 * SMTP and DSN harnesses assert. Header-only, test code only; never
 * linked into mxgate.
 */
#ifndef MXGATE_FUZZ_H
#define MXGATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c,	\
		    __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

/* The input, consumed from the front. */
struct fuzz_in {
	const uint8_t	*p;
	size_t		 len;
};

static inline unsigned
fuzz_u8(struct fuzz_in *in)
{
	if (in->len == 0)
		return 0;
	in->len--;
	return *in->p++;
}

/* The next n bytes (fewer at the end); *got says how many. */
static inline const uint8_t *
fuzz_take(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		n = in->len;
	in->p += n;
	in->len -= n;
	*got = n;
	return p;
}

/* 1 when every CR in s is followed by LF and every LF preceded by CR,
 * and no byte is NUL: SMTP wire form. */
static inline int __attribute__((unused))
fuzz_crlf_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return 0;
		if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

/* 1 when no line of s is "." alone (an end of DATA). */
static inline int __attribute__((unused))
fuzz_no_dot_line(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++)
		if ((i == 0 || s[i - 1] == '\n') && s[i] == '.' &&
		    s[i + 1] == '\r')
			return 0;
	return 1;
}

/* The files a seed reader gave (relay/seed.h): every line free of control
 * characters, since they become configuration. Takes the struct seed's
 * files and their count, so that fuzz.h needs no relay header. */
#define FUZZ_SEED_FILES_OK(files, n) do {				\
	int fz_i_;							\
	const char *fz_p_;						\
	for (fz_i_ = 0; fz_i_ < (n); fz_i_++)				\
		for (fz_p_ = (files)[fz_i_].text; *fz_p_ != '\0'; fz_p_++)	\
			FUZZ_ASSERT(*fz_p_ == '\n' ||			\
			    (unsigned char)*fz_p_ >= 0x20);		\
} while (0)

#endif
