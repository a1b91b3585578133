/*
 * tls_pem_fuzz.c — PEM and DER glue (relay/tls_pem.c) on hostile text
 * from memory: the same bytes as a certificate chain, a private key and
 * a trust-anchor file, and when both a chain and a key came out, the
 * key-matches-certificate check; the validity walk (tls_cert_validity)
 * on the bytes as DER and on every certificate of a chain. Invariants: a
 * success leaves objects within their bounds (chain length, key bytes),
 * a failure leaves an error text and nothing allocated (LeakSanitizer);
 * a validity read is a time within the years 0 to 9999.
 */
#include <string.h>

#include "fuzz.h"
#include "tls_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_chain ch;
	struct tls_key k;
	br_x509_trust_anchor *tas;
	size_t ntas, i;
	int64_t nb, na;
	char err[512];
	int have_ch, have_k;

	if (tls_cert_validity(data, size, &nb, &na) == 0)
		FUZZ_ASSERT(nb >= -62167219200LL && na <= 253402300800LL);
	err[0] = '\0';
	have_ch = tls_chain_parse(&ch, data, size, "fuzz", err,
	    sizeof(err)) == 0;
	if (have_ch) {
		FUZZ_ASSERT(ch.n >= 1 && ch.n <= TLS_MAX_CHAIN);
		for (i = 0; i < ch.n; i++) {
			FUZZ_ASSERT(ch.cert[i].data != NULL &&
			    ch.cert[i].data_len > 0);
			(void)tls_cert_validity(ch.cert[i].data,
			    ch.cert[i].data_len, &nb, &na);
		}
	} else
		FUZZ_ASSERT(err[0] != '\0');
	err[0] = '\0';
	have_k = tls_key_parse(&k, data, size, "fuzz", err, sizeof(err)) == 0;
	if (have_k)
		FUZZ_ASSERT(k.type == BR_KEYTYPE_RSA || k.type == BR_KEYTYPE_EC);
	else
		FUZZ_ASSERT(err[0] != '\0');
	if (have_ch && have_k)
		(void)tls_key_matches(&k, &ch.pkey);
	if (have_ch)
		tls_chain_free(&ch);
	if (have_k)
		tls_key_free(&k);
	err[0] = '\0';
	if (tls_anchors_parse(&tas, &ntas, data, size, "fuzz", err,
	    sizeof(err)) == 0) {
		FUZZ_ASSERT(ntas >= 1 && ntas <= TLS_MAX_ANCHORS);
		for (i = 0; i < ntas; i++)
			FUZZ_ASSERT(tas[i].dn.len > 0);
		tls_anchors_free(tas, ntas);
	} else
		FUZZ_ASSERT(err[0] != '\0' && tas == NULL);
	return 0;
}
