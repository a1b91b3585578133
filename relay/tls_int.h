/*
 * tls_int.h — declarations shared by the TLS modules only (tls.c,
 * tls_pem.c, tls_cert.c, tls_x509.c); nothing outside relay/tls*.c
 * includes this file. The public contract is in tls.h.
 *
 * Everything here works on caller-owned memory and reports errors as
 * text; nothing logs or exits. Buffers that may have held key material
 * are wiped before they are freed.
 */
#ifndef MXGATE_TLS_INT_H
#define MXGATE_TLS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "tls.h"

/* A growable byte buffer, bounded by `max`; wiped when freed. */
struct tls_buf {
	unsigned char	*data;
	size_t		 len, cap, max;
	int		 overflow;	/* an append went past max */
};

void tls_buf_append(struct tls_buf *b, const void *p, size_t n);
void tls_buf_wipe(struct tls_buf *b);	/* wipe, free, reset to empty */

/* Reads a whole regular file of at most TLS_MAX_PEM_FILE bytes into a
 * tls_buf (wipe it after use). 0, or -1 with err. */
int tls_file_read(const char *path, struct tls_buf *out, char *err,
    size_t errlen);

/* Calls fn for every PEM object of the text, in order, with the
 * upper-case object name and its decoded DER (the DER buffer is wiped
 * after fn returns). fn returns 0 to go on, -1 to stop (its own error
 * already in err). Returns the number of objects, or -1 with err
 * (decoding error or fn failure). */
typedef int tls_pem_fn(void *arg, const char *name,
    const unsigned char *der, size_t len, char *err, size_t errlen);
int tls_pem_each(const unsigned char *text, size_t len, tls_pem_fn *fn,
    void *arg, char *err, size_t errlen);

/* A certificate chain as BearSSL wants it; each data is malloc'ed. */
struct tls_chain {
	br_x509_certificate	cert[TLS_MAX_CHAIN];
	size_t			n;
	int			key_type;	/* of the first cert: BR_KEYTYPE_* */
	int			issuer_key_type; /* signer of the first cert */
	br_x509_pkey		pkey;		/* of the first cert ... */
	unsigned char		pkey_data[BR_X509_BUFSIZE_KEY]; /* ... its bytes */
};

int  tls_chain_load(struct tls_chain *ch, const char *path, char *err,
    size_t errlen);
/* The same from PEM text in memory; `name` prefixes the errors. */
int  tls_chain_parse(struct tls_chain *ch, const unsigned char *text,
    size_t len, const char *name, char *err, size_t errlen);
void tls_chain_free(struct tls_chain *ch);

/* The validity of an X.509 certificate (DER): notBefore and notAfter as
 * seconds since the epoch (UTCTime or GeneralizedTime, "Z" only).
 * 0, or -1 when the DER does not hold them where a certificate does. */
int  tls_cert_validity(const unsigned char *der, size_t len,
    int64_t *not_before, int64_t *not_after);

/* A private key copied into one malloc'ed block (wiped when freed). */
struct tls_key {
	int			type;		/* BR_KEYTYPE_RSA or _EC */
	br_rsa_private_key	rsa;
	br_ec_private_key	ec;
	unsigned char		*mem;
	size_t			memlen;
};

int  tls_key_load(struct tls_key *k, const char *path, char *err,
    size_t errlen);
int  tls_key_parse(struct tls_key *k, const unsigned char *text, size_t len,
    const char *name, char *err, size_t errlen);
void tls_key_free(struct tls_key *k);

/* The inbound session cache that a generation's workers share
 * (tls_cache.c): a table in a MAP_SHARED mapping made before the
 * workers are forked. vtable is first: it is what BearSSL is given. */
struct tls_cache_slot;
struct tls_cache {
	const br_ssl_session_cache_class	*vtable;
	struct tls_cache_slot			*slots;
	size_t					 nslots;	/* a power of 2 */
	unsigned				 lifetime_s;
};

/* 0, or -1 with errno (nslots not a power of two: EINVAL). */
int  tls_cache_init(struct tls_cache *c, size_t nslots, unsigned lifetime_s);
/* Wipes the table and unmaps it: only when no process uses it any more
 * (the parent, once the generation's processes have all exited). */
void tls_cache_free(struct tls_cache *c);

/* The cache tells the connection whose server context sc is (NULL:
 * none) what happened: hit 1, its session was found; 0, a full
 * handshake saved a new one. */
void tls_sconn_cache_event(br_ssl_server_context *sc, int hit);

/* 1 when the private key belongs to the public key. */
int tls_key_matches(const struct tls_key *k, const br_x509_pkey *pk);

/* Trust anchors (DN and key bytes malloc'ed per anchor). */
int  tls_anchors_load(br_x509_trust_anchor **tas, size_t *n,
    const char *path, char *err, size_t errlen);
int  tls_anchors_parse(br_x509_trust_anchor **tas, size_t *n,
    const unsigned char *text, size_t len, const char *name, char *err,
    size_t errlen);
void tls_anchors_free(br_x509_trust_anchor *tas, size_t n);

/* 64 lower-case hex digits + NUL: SHA-256 of der. */
void tls_fingerprint(const void *der, size_t len, char out[65]);

/* Fills buf with len bytes from getrandom(2). 0, or -1 with errno. */
int tls_random(void *buf, size_t len);

/* Text for a BearSSL error code (SSL, X.509 or alert). */
void tls_strerror(int err, char *buf, size_t len);

/*
 * The certificate engine for `may` and `encrypt`: a
 * br_x509_class that forwards everything to a br_x509_minimal (so the
 * verdict against tls_ca is still known: tls_peer_verified()) and also
 * decodes the end-entity certificate on its own, so the server's public
 * key is available even when the minimal engine stopped early (expired,
 * self-signed, wrong name, unknown critical extension ...). end_chain()
 * succeeds whenever that key could be decoded; trust is ignored.
 */
struct tls_x509_any {
	const br_x509_class	*vtable;	/* first: BearSSL's rule */
	br_x509_minimal_context	 minimal;
	br_x509_decoder_context	 ee;
	unsigned		 depth;		/* certificates seen */
	unsigned		 minimal_err;	/* verdict of the minimal engine */
	int			 ee_done;
};

void tls_x509_any_init(struct tls_x509_any *x,
    const br_x509_trust_anchor *tas, size_t ntas);

#endif
