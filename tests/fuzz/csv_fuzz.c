/*
 * csv_fuzz.c — the CSV reader (relay/csv.c) that `mxgatectl mailboxes
 * import` runs on an exported directory listing, on hostile bytes.
 * Invariants: the reader ends (every record consumes input); each field
 * lies inside the scratch buffer and ends with its NUL before the next
 * begins; line numbers never go back; an error stops the reader for
 * good; a field never holds a NUL.
 *
 * Input: byte 0 the scratch size (1..256), byte 1 the field limit
 * (1..16), then the bytes.
 */
#include <string.h>

#include "csv.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t scratch_size = fuzz_u8(&in) % 256 + 1, line, last = 0;
	int max = (int)(fuzz_u8(&in) % 16) + 1, n, i, records = 0;
	char scratch[256], *field[16];
	struct csv c;

	csv_init(&c, (const char *)in.p, in.len);
	while ((n = csv_next(&c, scratch, scratch_size, field, max,
	    &line)) > 0) {
		FUZZ_ASSERT(n <= max);
		FUZZ_ASSERT(line >= last && line >= 1);
		last = line;
		for (i = 0; i < n; i++) {
			size_t off = (size_t)(field[i] - scratch), len;
			FUZZ_ASSERT(off < scratch_size);
			len = strnlen(field[i], scratch_size - off);
			FUZZ_ASSERT(off + len < scratch_size);
			if (i + 1 < n)
				FUZZ_ASSERT(field[i + 1] == field[i] + len + 1);
		}
		FUZZ_ASSERT(++records <= (int)in.len + 1);
	}
	if (n < 0) {
		FUZZ_ASSERT(c.err != NULL);
		FUZZ_ASSERT(csv_next(&c, scratch, scratch_size, field, max,
		    &line) == -1);
	}
	return 0;
}
