/*
 * bundle_test.c — the entries of a configuration export (relay/bundle.h):
 * what the encoder writes the decoder reads back, field for field; the
 * encoder refuses what the decoder would refuse (kind, name, mode); the
 * decoder refuses a truncated entry, a name with '/', '.' first or a NUL,
 * an unknown kind, a length past the end, and more entries than asked.
 */
#include <string.h>

#include "bundle.h"
#include "tap.h"

int
main(void)
{
	struct bundle b = { NULL, 0, 0 };
	struct bundle_entry e[4];
	uint8_t bad[64];
	int n;

	ok(bundle_add(&b, 'C', "mxgate.conf", 0644, "listen 0.0.0.0:25\n",
	    18) == 0, "add a configuration file");
	ok(bundle_add(&b, 'Q', "queue.key", 0600, "\0\1\2\3", 4) == 0,
	    "add a key with NUL bytes");
	ok(bundle_add(&b, 'T', "empty.pem", 0600, "", 0) == 0,
	    "add an empty file");
	is_int(bundle_parse(b.p, b.len, e, 4, &n), 0, "the bundle parses");
	is_int(n, 3, "three entries");
	ok(e[0].kind == 'C' && strcmp(e[0].name, "mxgate.conf") == 0 &&
	    e[0].mode == 0644 && e[0].len == 18 &&
	    memcmp(e[0].data, "listen 0.0.0.0:25\n", 18) == 0,
	    "entry 1 field for field");
	ok(e[1].kind == 'Q' && e[1].len == 4 && e[1].mode == 0600 &&
	    memcmp(e[1].data, "\0\1\2\3", 4) == 0, "entry 2 (binary data)");
	ok(e[2].kind == 'T' && e[2].len == 0, "entry 3 (empty)");
	is_int(bundle_parse(b.p, b.len, e, 2, &n), -1,
	    "more entries than the caller takes: refused");
	is_int(bundle_parse(b.p, b.len - 1, e, 4, &n), -1,
	    "one byte short: refused");

	is_int(bundle_add(&b, 'X', "x", 0600, "", 0), -1, "kind X: refused");
	is_int(bundle_add(&b, 'C', "a/b", 0600, "", 0), -1, "a '/': refused");
	is_int(bundle_add(&b, 'C', ".hidden", 0600, "", 0), -1,
	    "a leading '.': refused");
	is_int(bundle_add(&b, 'C', "", 0600, "", 0), -1, "no name: refused");
	is_int(bundle_add(&b, 'C', "f", 04755, "", 0), -1,
	    "a setuid mode: refused");

	/* hand-made entries the decoder must refuse */
	memcpy(bad, "C\0\3a\0b\0\0\1\244\0\0\0\0", 14);
	is_int(bundle_parse(bad, 14, e, 4, &n), -1, "a NUL in the name");
	memcpy(bad, "C\0\1.\0\0\1\244\0\0\0\0", 12);
	is_int(bundle_parse(bad, 12, e, 4, &n), -1, "a name that is '.'");
	memcpy(bad, "C\0\1f\0\0\1\244\0\0\0\5ab", 14);
	is_int(bundle_parse(bad, 14, e, 4, &n), -1, "data past the end");
	memcpy(bad, "Z\0\1f\0\0\1\244\0\0\0\0", 12);
	is_int(bundle_parse(bad, 12, e, 4, &n), -1, "an unknown kind");
	memcpy(bad, "C\0\1f\0\0\1\244\0\0\0\0", 12);
	is_int(bundle_parse(bad, 12, e, 4, &n), 0, "... and the same entry "
	    "well formed parses");
	is_int(bundle_parse(bad, 0, e, 4, &n), 0, "an empty bundle parses");
	is_int(n, 0, "... to no entries");
	bundle_free(&b);
	ok(b.p == NULL && b.len == 0, "freed");
	return done_testing();
}
