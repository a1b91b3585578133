/*
 * logseal_fuzz.c — sealed log archives (relay/logseal.c) on hostile
 * bytes, as `mxgatectl logs open` reads an archive brought to the admin's
 * workstation. Invariants: open never reads or writes out of bounds; what
 * it hands back is never longer than the archive and matches the trailer
 * it verified; the same bytes sealed and opened again come back equal;
 * an archive with one byte changed never opens.
 *
 * Input: byte 0 selects (0: open the bytes as an archive; else: seal them
 * and open the result), then the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "logseal.h"

static const uint8_t priv[LOGSEAL_KEY_LEN] = { 0x77, 0x07, 0x6d, 0x0a,
	0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
	0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
	0x1d, 0xb9, 0x2c, 0x2a };
static const uint8_t eph[LOGSEAL_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
	11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
	29, 30, 31, 32 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned sel = fuzz_u8(&in);
	struct logseal_info info;
	uint8_t pub[LOGSEAL_KEY_LEN], *a, *out;
	size_t alen, cap, n = 0;
	char err[128];

	if (sel == 0) {
		out = malloc(in.len + 1);
		if (logseal_open(priv, in.p, in.len, out, &n, &info, err,
		    sizeof(err)) == 0) {
			FUZZ_ASSERT(n <= in.len && info.size == n);
			FUZZ_ASSERT(strlen(info.sha256) == 64);
		} else {
			FUZZ_ASSERT(n == 0 && err[0] != '\0');
		}
		free(out);
		return 0;
	}
	logseal_public(priv, pub);
	cap = logseal_size(in.len, "fuzz");
	a = malloc(cap);
	alen = logseal_seal(pub, eph, "fuzz", in.p, in.len, a, cap);
	FUZZ_ASSERT(alen > 0 && alen <= cap);
	out = malloc(alen + 1);
	FUZZ_ASSERT(logseal_open(priv, a, alen, out, &n, &info, err,
	    sizeof(err)) == 0);
	FUZZ_ASSERT(n == in.len && memcmp(out, in.p, n) == 0);
	a[sel % alen] ^= 0x20;		/* one byte changed: never opens */
	FUZZ_ASSERT(logseal_open(priv, a, alen, out, &n, &info, err,
	    sizeof(err)) != 0);
	free(out);
	free(a);
	return 0;
}
