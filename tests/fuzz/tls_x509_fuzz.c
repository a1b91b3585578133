/*
 * tls_x509_fuzz.c — the "any certificate" engine (relay/tls_x509.c)
 * driven through its br_x509_class vtable as BearSSL's handshake drives
 * it: start_chain, then per certificate start_cert(length), appends of at
 * most 256 bytes, end_cert; end_chain; get_pkey. The decoder of the
 * end-entity certificate is never pushed after it failed (the heap
 * overflow this engine once had); ASan watches.
 *
 * Input: records of [be16 length][split seed][DER bytes]; the declared
 * length is what start_cert() is told, the bytes actually appended may
 * be fewer (a truncated chain).
 */
#include <string.h>

#include "fuzz.h"
#include "tls_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct tls_x509_any x;
	const br_x509_class **vt = &x.vtable;
	const br_x509_pkey *pk;
	unsigned usages = 0, err;
	int certs = 0;

	tls_x509_any_init(&x, NULL, 0);
	(*vt)->start_chain(vt, "mx.example.test");
	while (in.len >= 3 && certs++ < 8) {
		uint32_t clen = fuzz_u8(&in) << 8;
		unsigned seed = 0;
		size_t left, n;
		const uint8_t *p;

		clen |= fuzz_u8(&in);
		seed = fuzz_u8(&in) | 1;
		(*vt)->start_cert(vt, clen);
		for (left = clen; left > 0 && in.len > 0; left -= n) {
			seed = seed * 1103515245u + 12345u;
			p = fuzz_take(&in, 1 + (seed >> 16) % 256, &n);
			if (n > left)
				n = left;
			(*vt)->append(vt, p, n);
		}
		(*vt)->end_cert(vt);
	}
	err = (*vt)->end_chain(vt);
	pk = (*vt)->get_pkey(vt, &usages);
	if (err == 0) {
		FUZZ_ASSERT(pk != NULL);
		FUZZ_ASSERT(pk->key_type == BR_KEYTYPE_RSA ||
		    pk->key_type == BR_KEYTYPE_EC);
	}
	return 0;
}
