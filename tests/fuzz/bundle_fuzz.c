/*
 * bundle_fuzz.c — the decoder of a configuration export's entries
 * (relay/bundle.c), which `mxgatectl config import` runs on a file an
 * admin was handed. Invariants: every entry it returns lies inside the
 * input, in order, without overlap; each name is valid as bundle.h says;
 * and the encoder, given the entries back, writes exactly the input (one
 * format, one encoder, one decoder).
 */
#include <string.h>

#include "bundle.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct bundle_entry e[BUNDLE_ENTRIES_MAX];
	struct bundle b = { NULL, 0, 0 };
	const uint8_t *prev = data;
	int n, i;

	if (bundle_parse(data, size, e, BUNDLE_ENTRIES_MAX, &n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		size_t nl = strlen(e[i].name);
		FUZZ_ASSERT(nl > 0 && nl <= BUNDLE_NAME_MAX);
		FUZZ_ASSERT(strchr(e[i].name, '/') == NULL &&
		    e[i].name[0] != '.');
		FUZZ_ASSERT(strchr("CTKQ", e[i].kind) != NULL &&
		    e[i].kind != '\0');
		FUZZ_ASSERT(e[i].mode <= 0777);
		FUZZ_ASSERT(e[i].data >= prev && e[i].data + e[i].len <=
		    data + size);
		prev = e[i].data + e[i].len;
		FUZZ_ASSERT(bundle_add(&b, e[i].kind, e[i].name, e[i].mode,
		    e[i].data, e[i].len) == 0);
	}
	FUZZ_ASSERT(b.len == size);
	FUZZ_ASSERT(size == 0 || memcmp(b.p, data, size) == 0);
	bundle_free(&b);
	return 0;
}
