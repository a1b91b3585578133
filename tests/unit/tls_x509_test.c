/*
 * tls_x509_test.c — the outbound "any certificate" engine (relay/tls_x509.c)
 * driven through its br_x509_class the way BearSSL's SSL engine drives it:
 * one certificate, at most 256 bytes per append. A well-formed EC
 * certificate yields its key; a 4,000-byte EC key, bytes after the DER and
 * a wrong first tag followed by more input each end the chain with an
 * error and no key — and nothing is written outside the context: the
 * context sits in front of 64 KiB of guard bytes that must stay intact
 * (the decoder once copied the rest of a certificate past its key buffer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_int.h"
#include "tap.h"
#include "../tls/x509_craft.h"

#define GUARD_LEN	65536
#define GUARD_BYTE	0xA5

struct run {
	unsigned		 err;		/* of end_chain */
	const br_x509_pkey	*pkey;
	int			 guard_ok;
};

static struct run
drive(enum craft_kind kind, size_t chunk)
{
	struct run r = { 0 };
	unsigned char *mem, *der;
	size_t len, off, n, i;
	struct tls_x509_any *x;
	const br_x509_class **vt;
	unsigned usages;

	if ((mem = malloc(sizeof(*x) + GUARD_LEN)) == NULL)
		abort();
	memset(mem + sizeof(*x), GUARD_BYTE, GUARD_LEN);
	x = (struct tls_x509_any *)(void *)mem;
	tls_x509_any_init(x, NULL, 0);
	vt = &x->vtable;

	craft_cert(kind, &der, &len);
	(*vt)->start_chain(vt, "evil.test");
	(*vt)->start_cert(vt, (uint32_t)len);
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		(*vt)->append(vt, der + off, n);
	}
	(*vt)->end_cert(vt);
	r.err = (*vt)->end_chain(vt);
	r.pkey = (*vt)->get_pkey(vt, &usages);
	r.guard_ok = 1;
	for (i = 0; i < GUARD_LEN; i++)
		if (mem[sizeof(*x) + i] != GUARD_BYTE)
			r.guard_ok = 0;
	free(der);
	/* the key points into the context: only its presence is reported */
	r.pkey = r.pkey != NULL ? (const br_x509_pkey *)1 : NULL;
	free(mem);
	return r;
}

int
main(void)
{
	static const size_t chunks[] = { 256, 1, 7, 100000 };
	struct run r;
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		size_t c = chunks[i];

		r = drive(CRAFT_GOOD, c);
		is_int(r.err, 0, "well-formed EC certificate, %zu-byte "
		    "appends: chain accepted (trust ignored)", c);
		ok(r.pkey != NULL, "... and its public key is there");
		ok(r.guard_ok, "... nothing written past the context");

		r = drive(CRAFT_BIG_KEY, c);
		is_int(r.err, BR_ERR_X509_LIMIT_EXCEEDED, "4,000-byte EC key, "
		    "%zu-byte appends: limit exceeded", c);
		ok(r.pkey == NULL, "... no public key");
		ok(r.guard_ok, "... nothing written past the context");

		r = drive(CRAFT_TRAILING, c);
		is_int(r.err, BR_ERR_X509_EXTRA_ELEMENT, "bytes after the DER, "
		    "%zu-byte appends: extra element", c);
		ok(r.pkey == NULL, "... no public key");
		ok(r.guard_ok, "... nothing written past the context");

		r = drive(CRAFT_EARLY, c);
		ok(r.err != 0, "wrong first tag then 3,000 bytes, %zu-byte "
		    "appends: refused (error %u)", c, r.err);
		ok(r.pkey == NULL, "... no public key");
		ok(r.guard_ok, "... nothing written past the context");
	}
	return done_testing();
}
