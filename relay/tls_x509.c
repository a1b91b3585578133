/*
 * tls_x509.c — the "any certificate" X.509 engine for outbound `may` and
 * `encrypt`. It implements br_x509_class by wrapping
 * br_x509_minimal (whose verdict is kept, so the log can say whether the
 * peer would have verified) and decodes the end-entity certificate with
 * br_x509_decoder so the public key is there even when the minimal engine
 * stopped on an expired, self-signed or misnamed certificate — the usual
 * state of a customer's internal mail server.
 *
 * Owns: nothing but the context it is given. Must never: be used for
 * `verify` (tls.c installs br_x509_minimal itself there), report success
 * without a decoded public key, or push into the decoder after it failed.
 */
#include <stddef.h>
#include <string.h>

#include "tls_int.h"

#define ANY(ctx) ((struct tls_x509_any *)(void *)(ctx))
#define MIN_VT(x) (x)->minimal.vtable

static void
any_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509_any *x = ANY(ctx);

	x->depth = 0;
	x->ee_done = 0;
	x->minimal_err = 0;
	MIN_VT(x)->start_chain(&MIN_VT(x), server_name);
}

static void
any_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509_any *x = ANY(ctx);

	if (x->depth == 0)
		br_x509_decoder_init(&x->ee, NULL, NULL);
	MIN_VT(x)->start_cert(&MIN_VT(x), length);
}

/*
 * The decoder must never be pushed again once it has failed: BearSSL 0.6's
 * decoder records the error and yields, and a further push resumes its
 * program after the failure (a copy past pkey_data with the peer's length,
 * a NULL instruction pointer, reads past its data block). Its own engines
 * guard with `err`; br_x509_decoder_last_error() cannot be the test, it says
 * "truncated" until the certificate is complete. The first error is sticky
 * and becomes the handshake's error in any_end_chain().
 */
static void
any_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509_any *x = ANY(ctx);

	if (x->depth == 0 && x->ee.err == 0)
		br_x509_decoder_push(&x->ee, buf, len);
	MIN_VT(x)->append(&MIN_VT(x), buf, len);
}

static void
any_end_cert(const br_x509_class **ctx)
{
	struct tls_x509_any *x = ANY(ctx);

	if (x->depth == 0)
		x->ee_done = 1;
	x->depth++;
	MIN_VT(x)->end_cert(&MIN_VT(x));
}

static unsigned
any_end_chain(const br_x509_class **ctx)
{
	struct tls_x509_any *x = ANY(ctx);

	x->minimal_err = MIN_VT(x)->end_chain(&MIN_VT(x));
	if (!x->ee_done)
		return BR_ERR_X509_EMPTY_CHAIN;
	if (br_x509_decoder_get_pkey(&x->ee) == NULL) {
		int e = br_x509_decoder_last_error(&x->ee);
		return e ? (unsigned)e : BR_ERR_X509_UNSUPPORTED;
	}
	return 0;	/* trust deliberately ignored */
}

static const br_x509_pkey *
any_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct tls_x509_any *x = ANY(ctx);

	if (!x->ee_done)
		return NULL;
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return br_x509_decoder_get_pkey(&x->ee);
}

static const br_x509_class any_vtable = {
	sizeof(struct tls_x509_any),
	any_start_chain,
	any_start_cert,
	any_append,
	any_end_cert,
	any_end_chain,
	any_get_pkey
};

void
tls_x509_any_init(struct tls_x509_any *x, const br_x509_trust_anchor *tas,
    size_t ntas)
{
	memset(x, 0, sizeof(*x));
	x->vtable = &any_vtable;
	br_x509_minimal_init_full(&x->minimal, tas, ntas);
}
