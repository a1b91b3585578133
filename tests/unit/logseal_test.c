/*
 * logseal_test.c — sealed log archives (relay/logseal.c): X25519 against
 * RFC 7748's test vector; round trips at record boundaries; and every
 * way to break an archive — a wrong key, a flipped byte anywhere, a cut
 * at any length, bytes appended, two records swapped, a record dropped —
 * refused, with nothing handed back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logseal.h"
#include "tap.h"


static uint8_t priv[32], pub[32], eph[32];

/* Seals len bytes of a log-like text; returns the archive (malloc'ed). */
static uint8_t *
seal_text(size_t len, uint8_t **text, size_t *alen)
{
	uint8_t *t = malloc(len + 1), *a;
	size_t i, cap = logseal_size(len, "@4000.s");

	for (i = 0; i < len; i++)
		t[i] = i % 64 == 63 ? '\n' : (uint8_t)('a' + i % 26);
	if (len >= 26)
		memcpy(t, "2026-01-01T00:00:00+00:00 ", 26);
	a = malloc(cap);
	*alen = logseal_seal(pub, eph, "@4000.s", t, len, a, cap);
	*text = t;
	return a;
}

static int
opens(const uint8_t *a, size_t alen, const uint8_t *key, size_t *outlen)
{
	struct logseal_info info;
	uint8_t *out = malloc(alen + 1);
	char err[128];
	size_t n = 0;
	int rc = logseal_open(key, a, alen, out, &n, &info, err, sizeof(err));

	free(out);
	if (outlen)
		*outlen = n;
	return rc;
}

int
main(void)
{
	static const size_t sizes[] = { 0, 1, 100, LOGSEAL_RECORD - 1,
	    LOGSEAL_RECORD, LOGSEAL_RECORD + 1, 3 * LOGSEAL_RECORD + 7 };
	uint8_t want[32], other[32], otherpub[32], zero[32];
	struct logseal_info info;
	char err[128];
	size_t i, j, alen, n;
	uint8_t *a, *text, *out;
	int all;

	/* RFC 7748 6.1: Alice's key pair */
	tap_unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	    priv);
	tap_unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	    want);
	logseal_public(priv, pub);
	ok(memcmp(pub, want, 32) == 0, "X25519 public key: RFC 7748 6.1");
	tap_unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	    eph);	/* Bob's private key as the ephemeral one */
	memset(other, 7, sizeof(other));
	logseal_public(other, otherpub);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		a = seal_text(sizes[i], &text, &alen);
		out = malloc(alen + 1);
		n = 0;
		ok(alen > 0 && logseal_open(priv, a, alen, out, &n, &info, err,
		    sizeof(err)) == 0 && n == sizes[i] &&
		    memcmp(out, text, n) == 0 && info.size == sizes[i] &&
		    strcmp(info.name, "@4000.s") == 0,
		    "round trip of %zu bytes", sizes[i]);
		free(out);
		free(text);
		free(a);
	}
	a = seal_text(200, &text, &alen);
	out = malloc(alen + 1);
	ok(logseal_open(priv, a, alen, out, &n, &info, err, sizeof(err)) == 0 &&
	    strcmp(info.first, "2026-01-01T00:00:00+00:00") == 0 &&
	    strlen(info.sha256) == 64, "the trailer: first stamp %s, sha256",
	    info.first);
	free(out);
	ok(opens(a, alen, other, NULL) != 0, "another private key: refused");

	/* a flipped bit anywhere */
	for (all = 1, j = 0; j < alen; j++) {
		a[j] ^= 0x01;
		if (opens(a, alen, priv, NULL) == 0) {
			all = 0;
			printf("# flip at %zu opened\n", j);
		}
		a[j] ^= 0x01;
	}
	ok(all, "a flipped bit at any of the %zu bytes: refused", alen);
	/* cut at any length, or bytes appended */
	for (all = 1, j = 0; j < alen; j++)
		if (opens(a, j, priv, NULL) == 0)
			all = 0;
	ok(all, "cut at any length: refused");
	{
		uint8_t *b = malloc(alen + 1);

		memcpy(b, a, alen);
		b[alen] = 0;
		ok(opens(b, alen + 1, priv, NULL) != 0, "a byte appended: refused");
		free(b);
	}
	free(text);
	free(a);

	/* records swapped or dropped (three full records, then the trailer) */
	a = seal_text(3 * LOGSEAL_RECORD, &text, &alen);
	{
		size_t hdr = 8 + 32 + 2 + strlen("@4000.s");
		size_t rec = 4 + LOGSEAL_RECORD + 16;
		uint8_t *b = malloc(alen), *tmp = malloc(rec);

		memcpy(b, a, alen);
		memcpy(tmp, b + hdr, rec);
		memcpy(b + hdr, b + hdr + rec, rec);
		memcpy(b + hdr + rec, tmp, rec);
		ok(opens(b, alen, priv, NULL) != 0, "two records swapped: refused");
		memcpy(b, a, hdr);
		memcpy(b + hdr, a + hdr + rec, alen - hdr - rec);
		ok(opens(b, alen - rec, priv, NULL) != 0,
		    "a record dropped: refused");
		ok(opens(a, hdr + 3 * rec, priv, NULL) != 0,
		    "the trailer dropped: refused");
		free(b);
		free(tmp);
	}
	free(text);
	free(a);

	/* unusable input */
	memset(zero, 0, sizeof(zero));
	{
		uint8_t buf[1024];

		is_int((int)logseal_seal(zero, eph, "x", "a", 1, buf,
		    sizeof(buf)), 0, "a low-order (all-zero) recipient key: "
		    "refused");
		is_int((int)logseal_seal(pub, eph, "", "a", 1, buf, sizeof(buf)),
		    0, "an empty name: refused");
		is_int((int)logseal_seal(pub, eph, "x", "a", 1, buf, 10), 0,
		    "no room: refused");
		ok(opens((const uint8_t *)"MXGLOG1\nshort", 13, priv, NULL) != 0 &&
		    opens((const uint8_t *)"not an archive at all, not at all "
		    "at all at all", 46, priv, NULL) != 0,
		    "garbage: refused");
	}
	return done_testing();
}
