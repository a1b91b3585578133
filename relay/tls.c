/*
 * tls.c — see tls.h. BearSSL engines for mxgate's connections: the
 * server and client policies (versions, suites, keys, anchors, session
 * cache) and the non-blocking record pump between an engine and a
 * caller-owned descriptor, driven only by br_ssl_engine_current_state().
 *
 * Owns: the policy objects and the connections it allocates (engine
 * context and its I/O buffers in one block, wiped on free). Must never:
 * block, poll, open or close a descriptor, read beyond the TLS record the
 * engine asks for, log, or exit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tls_int.h"

#define RUN_MAX_STEPS	64	/* record moves per call, then EAGAIN */

struct tls_server {
	struct tls_chain		 chain;
	struct tls_key			 key;
	unsigned			 vmin;
	const uint16_t			*suites;
	size_t				 nsuites;
	struct tls_cache		 cache;		/* shared */
	char				 fp[65];
};

struct tls_client {
	br_x509_trust_anchor	*tas;
	size_t			 ntas;
	unsigned		 vmin, vmax;
};

struct tls_conn {
	br_ssl_engine_context	*eng;
	size_t			 size;		/* of the whole allocation */
	int			 client;
	int			 verify;
	int			 hs_done;
	int			 eof;		/* TCP EOF seen */
	int			 close_sent;
	int			 dead;		/* errno of a final error, or 0 */
	int			 verified;
	int			 resumed;	/* server: from the cache */
	uint16_t		 version, suite;
	struct tls_x509_any	*any;		/* client, may/encrypt */
	char			 err[192];
};

struct tls_sconn {
	struct tls_conn		c;		/* first */
	br_ssl_server_context	sc;
	unsigned char		ibuf[TLS_IBUF_LEN];
	unsigned char		obuf[TLS_OBUF_LEN];
};

struct tls_cconn {
	struct tls_conn		c;		/* first */
	br_ssl_client_context	cc;
	union {
		br_x509_minimal_context	minimal;	/* verify */
		struct tls_x509_any	any;		/* may, encrypt */
	} x;
	unsigned char		ibuf[TLS_IBUF_LEN];
	unsigned char		obuf[TLS_OBUF_LEN];
};

/* --- policy: suites, names ------------------------------------------------ */

/* Server preference: AEAD with forward secrecy first (AES-GCM, then
 * ChaCha20-Poly1305), then ECDHE with AES-CBC for TLS 1.0/1.1 peers. */
static const uint16_t suites_ec[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
};

static const uint16_t suites_rsa[] = {
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
};

/* Client: the same, both key types, then plain-RSA key exchange with AES
 * as the last resort (opportunistic mail: better than plaintext). */
static const uint16_t suites_client[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	BR_TLS_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_RSA_WITH_AES_256_CBC_SHA256,
	BR_TLS_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_RSA_WITH_AES_256_CBC_SHA,
};

static const struct {
	uint16_t	 id;
	const char	*name;		/* OpenSSL spelling, as Postfix logs */
	int		 bits;
} suite_names[] = {
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-ECDSA-AES128-GCM-SHA256", 128 },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-ECDSA-AES256-GCM-SHA384", 256 },
	{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-ECDSA-CHACHA20-POLY1305", 256 },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	    "ECDHE-ECDSA-AES128-SHA256", 128 },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	    "ECDHE-ECDSA-AES256-SHA384", 256 },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	    "ECDHE-ECDSA-AES128-SHA", 128 },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	    "ECDHE-ECDSA-AES256-SHA", 256 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	    "ECDHE-RSA-AES128-GCM-SHA256", 128 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	    "ECDHE-RSA-AES256-GCM-SHA384", 256 },
	{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	    "ECDHE-RSA-CHACHA20-POLY1305", 256 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	    "ECDHE-RSA-AES128-SHA256", 128 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	    "ECDHE-RSA-AES256-SHA384", 256 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	    "ECDHE-RSA-AES128-SHA", 128 },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	    "ECDHE-RSA-AES256-SHA", 256 },
	{ BR_TLS_RSA_WITH_AES_128_GCM_SHA256, "AES128-GCM-SHA256", 128 },
	{ BR_TLS_RSA_WITH_AES_256_GCM_SHA384, "AES256-GCM-SHA384", 256 },
	{ BR_TLS_RSA_WITH_AES_128_CBC_SHA256, "AES128-SHA256", 128 },
	{ BR_TLS_RSA_WITH_AES_256_CBC_SHA256, "AES256-SHA256", 256 },
	{ BR_TLS_RSA_WITH_AES_128_CBC_SHA, "AES128-SHA", 128 },
	{ BR_TLS_RSA_WITH_AES_256_CBC_SHA, "AES256-SHA", 256 },
};

static const char *const ssl_errs[] = {
	[BR_ERR_BAD_PARAM] = "bad parameter",
	[BR_ERR_BAD_STATE] = "bad state",
	[BR_ERR_UNSUPPORTED_VERSION] = "unsupported protocol version",
	[BR_ERR_BAD_VERSION] = "unexpected record version",
	[BR_ERR_BAD_LENGTH] = "bad record length (not TLS?)",
	[BR_ERR_TOO_LARGE] = "record too large",
	[BR_ERR_BAD_MAC] = "bad record MAC",
	[BR_ERR_NO_RANDOM] = "no entropy",
	[BR_ERR_UNKNOWN_TYPE] = "unknown record type (not TLS?)",
	[BR_ERR_UNEXPECTED] = "unexpected message",
	[BR_ERR_BAD_CCS] = "bad ChangeCipherSpec",
	[BR_ERR_BAD_ALERT] = "bad alert",
	[BR_ERR_BAD_HANDSHAKE] = "bad handshake message",
	[BR_ERR_OVERSIZED_ID] = "oversized session id",
	[BR_ERR_BAD_CIPHER_SUITE] = "no shared cipher suite",
	[BR_ERR_BAD_COMPRESSION] = "no shared compression",
	[BR_ERR_BAD_FRAGLEN] = "bad fragment length",
	[BR_ERR_BAD_SECRENEG] = "bad secure renegotiation",
	[BR_ERR_EXTRA_EXTENSION] = "unrequested extension",
	[BR_ERR_BAD_SNI] = "bad server name indication",
	[BR_ERR_BAD_HELLO_DONE] = "bad ServerHelloDone",
	[BR_ERR_LIMIT_EXCEEDED] = "limit exceeded",
	[BR_ERR_BAD_FINISHED] = "bad Finished (tampering?)",
	[BR_ERR_RESUME_MISMATCH] = "session resumption mismatch",
	[BR_ERR_INVALID_ALGORITHM] = "unsupported algorithm",
	[BR_ERR_BAD_SIGNATURE] = "bad signature",
	[BR_ERR_WRONG_KEY_USAGE] = "wrong key usage",
	[BR_ERR_NO_CLIENT_AUTH] = "no client certificate",
	[BR_ERR_IO] = "I/O error",
};

static const char *const x509_errs[] = {
	[BR_ERR_X509_INVALID_VALUE - 32] = "invalid value",
	[BR_ERR_X509_TRUNCATED - 32] = "truncated",
	[BR_ERR_X509_EMPTY_CHAIN - 32] = "empty chain",
	[BR_ERR_X509_INNER_TRUNC - 32] = "inner truncation",
	[BR_ERR_X509_BAD_TAG_CLASS - 32] = "bad tag class",
	[BR_ERR_X509_BAD_TAG_VALUE - 32] = "bad tag value",
	[BR_ERR_X509_INDEFINITE_LENGTH - 32] = "indefinite length",
	[BR_ERR_X509_EXTRA_ELEMENT - 32] = "extra element",
	[BR_ERR_X509_UNEXPECTED - 32] = "unexpected element",
	[BR_ERR_X509_NOT_CONSTRUCTED - 32] = "not constructed",
	[BR_ERR_X509_NOT_PRIMITIVE - 32] = "not primitive",
	[BR_ERR_X509_PARTIAL_BYTE - 32] = "partial byte",
	[BR_ERR_X509_BAD_BOOLEAN - 32] = "bad boolean",
	[BR_ERR_X509_OVERFLOW - 32] = "overflow",
	[BR_ERR_X509_BAD_DN - 32] = "bad distinguished name",
	[BR_ERR_X509_BAD_TIME - 32] = "bad time",
	[BR_ERR_X509_UNSUPPORTED - 32] = "unsupported feature",
	[BR_ERR_X509_LIMIT_EXCEEDED - 32] = "limit exceeded",
	[BR_ERR_X509_WRONG_KEY_TYPE - 32] = "wrong key type",
	[BR_ERR_X509_BAD_SIGNATURE - 32] = "bad signature",
	[BR_ERR_X509_TIME_UNKNOWN - 32] = "time unknown",
	[BR_ERR_X509_EXPIRED - 32] = "expired or not yet valid",
	[BR_ERR_X509_DN_MISMATCH - 32] = "issuer/subject mismatch",
	[BR_ERR_X509_BAD_SERVER_NAME - 32] = "name does not match",
	[BR_ERR_X509_CRITICAL_EXTENSION - 32] = "unknown critical extension",
	[BR_ERR_X509_NOT_CA - 32] = "issuer is not a CA",
	[BR_ERR_X509_FORBIDDEN_KEY_USAGE - 32] = "forbidden key usage",
	[BR_ERR_X509_WEAK_PUBLIC_KEY - 32] = "weak public key",
	[BR_ERR_X509_NOT_TRUSTED - 32] = "not trusted (unknown CA)",
};

static const struct {
	int		 code;
	const char	*name;
} alerts[] = {
	{ 0, "close_notify" }, { 10, "unexpected_message" },
	{ 20, "bad_record_mac" }, { 22, "record_overflow" },
	{ 40, "handshake_failure" }, { 42, "bad_certificate" },
	{ 43, "unsupported_certificate" }, { 45, "certificate_expired" },
	{ 46, "certificate_unknown" }, { 47, "illegal_parameter" },
	{ 48, "unknown_ca" }, { 50, "decode_error" },
	{ 51, "decrypt_error" }, { 70, "protocol_version" },
	{ 71, "insufficient_security" }, { 80, "internal_error" },
	{ 86, "inappropriate_fallback" }, { 90, "user_canceled" },
	{ 100, "no_renegotiation" }, { 110, "unsupported_extension" },
	{ 112, "unrecognized_name" },
};

void
tls_strerror(int e, char *buf, size_t len)
{
	const char *s = NULL;
	size_t i;

	if (e >= BR_ERR_RECV_FATAL_ALERT && e < BR_ERR_SEND_FATAL_ALERT + 256) {
		int a = e >= BR_ERR_SEND_FATAL_ALERT ?
		    e - BR_ERR_SEND_FATAL_ALERT : e - BR_ERR_RECV_FATAL_ALERT;

		for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
			if (alerts[i].code == a)
				s = alerts[i].name;
		snprintf(buf, len, "%s fatal alert %d (%s)",
		    e >= BR_ERR_SEND_FATAL_ALERT ? "sent" : "received", a,
		    s ? s : "unknown");
		return;
	}
	if (e >= 32 && e - 32 < (int)(sizeof(x509_errs) / sizeof(x509_errs[0])) &&
	    x509_errs[e - 32] != NULL) {
		snprintf(buf, len, "certificate: %s", x509_errs[e - 32]);
		return;
	}
	if (e > 0 && e < (int)(sizeof(ssl_errs) / sizeof(ssl_errs[0])))
		s = ssl_errs[e];
	if (s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "BearSSL error %d", e);
}

static int
version_ok(int v)
{
	return v >= TLS_V10 && v <= TLS_V12;
}

/* What every engine of ours shares: versions, suites, hashes, PRFs,
 * symmetric ciphers, ECDHE curves, caller-owned buffers. */
static void
engine_setup(br_ssl_engine_context *eng, unsigned vmin, unsigned vmax,
    const uint16_t *suites, size_t nsuites, unsigned char *ibuf,
    unsigned char *obuf)
{
	static const br_hash_class *const hashes[] = {
		&br_md5_vtable, &br_sha1_vtable, &br_sha224_vtable,
		&br_sha256_vtable, &br_sha384_vtable, &br_sha512_vtable
	};
	int id;

	br_ssl_engine_set_versions(eng, vmin, vmax);
	br_ssl_engine_set_suites(eng, suites, nsuites);
	for (id = br_md5_ID; id <= br_sha512_ID; id++)
		br_ssl_engine_set_hash(eng, id, hashes[id - br_md5_ID]);
	br_ssl_engine_set_prf10(eng, &br_tls10_prf);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_cbc(eng);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	br_ssl_engine_set_default_ec(eng);
	br_ssl_engine_set_buffers_bidi(eng, ibuf, TLS_IBUF_LEN, obuf,
	    TLS_OBUF_LEN);
}

static int
engine_entropy(br_ssl_engine_context *eng)
{
	unsigned char seed[32];

	if (tls_random(seed, sizeof(seed)) == -1)
		return -1;
	br_ssl_engine_inject_entropy(eng, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	return 0;
}

/* --- policy objects ----------------------------------------------------------- */

int
tls_server_new(struct tls_server **out, const char *cert_pem,
    const char *key_pem, int min_version, char *err, size_t errlen)
{
	struct tls_server *s;

	*out = NULL;
	if (min_version == 0)
		min_version = TLS_MIN_DEFAULT;
	if (!version_ok(min_version)) {
		snprintf(err, errlen, "minimum TLS version 0x%04x not in "
		    "TLS 1.0 .. TLS 1.2", (unsigned)min_version);
		return -1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->vmin = (unsigned)min_version;
	if (tls_chain_load(&s->chain, cert_pem, err, errlen) == -1)
		goto fail;
	if (tls_key_load(&s->key, key_pem, err, errlen) == -1)
		goto fail;
	if (!tls_key_matches(&s->key, &s->chain.pkey)) {
		snprintf(err, errlen, "%s: private key does not match the "
		    "certificate in %s", key_pem, cert_pem);
		goto fail;
	}
	if (s->key.type == BR_KEYTYPE_EC) {
		s->suites = suites_ec;
		s->nsuites = sizeof(suites_ec) / sizeof(suites_ec[0]);
	} else {
		s->suites = suites_rsa;
		s->nsuites = sizeof(suites_rsa) / sizeof(suites_rsa[0]);
	}
	tls_fingerprint(s->chain.cert[0].data, s->chain.cert[0].data_len,
	    s->fp);
	if (tls_cache_init(&s->cache, TLS_SESSION_SLOTS,
	    TLS_SESSION_LIFETIME_S) != 0) {
		snprintf(err, errlen, "session cache: %s", strerror(errno));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	tls_server_free(s);
	return -1;
}

void
tls_server_free(struct tls_server *s)
{
	if (s == NULL)
		return;
	tls_chain_free(&s->chain);
	tls_key_free(&s->key);
	tls_cache_free(&s->cache);	/* wiped: cached master secrets */
	explicit_bzero(s, sizeof(*s));
	free(s);
}

const char *
tls_server_fingerprint(const struct tls_server *s)
{
	return s->fp;
}

int
tls_client_new(struct tls_client **out, const char *ca_pem, int min_version,
    char *err, size_t errlen)
{
	struct tls_client *cl;

	*out = NULL;
	if (min_version == 0)
		min_version = TLS_MIN_DEFAULT;
	if (!version_ok(min_version)) {
		snprintf(err, errlen, "minimum TLS version 0x%04x not in "
		    "TLS 1.0 .. TLS 1.2", (unsigned)min_version);
		return -1;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cl->vmin = (unsigned)min_version;
	cl->vmax = TLS_V12;
	if (ca_pem != NULL && ca_pem[0] != '\0' &&
	    tls_anchors_load(&cl->tas, &cl->ntas, ca_pem, err, errlen) == -1) {
		free(cl);
		return -1;
	}
	*out = cl;
	return 0;
}

void
tls_client_free(struct tls_client *cl)
{
	if (cl == NULL)
		return;
	tls_anchors_free(cl->tas, cl->ntas);
	free(cl);
}

size_t
tls_client_anchors(const struct tls_client *cl)
{
	return cl->ntas;
}

int
tls_client_set_versions(struct tls_client *cl, int min, int max)
{
	if (!version_ok(min) || !version_ok(max) || min > max)
		return -1;
	cl->vmin = (unsigned)min;
	cl->vmax = (unsigned)max;
	return 0;
}

/* --- connections ------------------------------------------------------------------ */

struct tls_conn *
tls_conn_server(struct tls_server *s)
{
	struct tls_sconn *sc;
	br_ssl_engine_context *eng;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->c.size = sizeof(*sc);
	sc->c.eng = eng = &sc->sc.eng;
	br_ssl_server_zero(&sc->sc);
	engine_setup(eng, s->vmin, TLS_V12, s->suites, s->nsuites, sc->ibuf,
	    sc->obuf);
	if (s->key.type == BR_KEYTYPE_EC)
		br_ssl_server_set_single_ec(&sc->sc, s->chain.cert,
		    s->chain.n, &s->key.ec, BR_KEYTYPE_SIGN,
		    s->chain.issuer_key_type ? (unsigned)s->chain.issuer_key_type
		    : BR_KEYTYPE_EC, br_ec_get_default(),
		    br_ecdsa_sign_asn1_get_default());
	else
		br_ssl_server_set_single_rsa(&sc->sc, s->chain.cert,
		    s->chain.n, &s->key.rsa, BR_KEYTYPE_SIGN,
		    br_rsa_private_get_default(),
		    br_rsa_pkcs1_sign_get_default());
	br_ssl_server_set_cache(&sc->sc, &s->cache.vtable);
	br_ssl_engine_add_flags(eng, BR_OPT_ENFORCE_SERVER_PREFERENCES |
	    BR_OPT_NO_RENEGOTIATION);
	if (engine_entropy(eng) == -1 || !br_ssl_server_reset(&sc->sc)) {
		tls_conn_free(&sc->c);
		errno = EPROTO;
		return NULL;
	}
	return &sc->c;
}

void
tls_sconn_cache_event(br_ssl_server_context *sc, int hit)
{
	struct tls_sconn *t;

	if (sc == NULL)
		return;
	t = (struct tls_sconn *)(void *)((char *)sc -
	    offsetof(struct tls_sconn, sc));
	t->c.resumed = hit;
}

/* A DNS name fit for SNI and name checks: not empty, not an address. */
static int
is_dns_name(const char *n)
{
	int alpha = 0;

	if (n == NULL || *n == '\0' || strlen(n) > 253)
		return 0;
	for (; *n; n++) {
		if (*n == ':' || *n == '[')
			return 0;
		if ((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		    *n == '-')
			alpha = 1;
	}
	return alpha;
}

struct tls_conn *
tls_conn_client(struct tls_client *cl, const char *server_name, int verify)
{
	struct tls_cconn *cc;
	br_ssl_engine_context *eng;
	const char *sni = is_dns_name(server_name) ? server_name : NULL;

	if (verify && (cl->ntas == 0 || sni == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return NULL;
	cc->c.size = sizeof(*cc);
	cc->c.client = 1;
	cc->c.verify = verify ? 1 : 0;
	cc->c.eng = eng = &cc->cc.eng;
	br_ssl_client_zero(&cc->cc);
	engine_setup(eng, cl->vmin, cl->vmax, suites_client,
	    sizeof(suites_client) / sizeof(suites_client[0]), cc->ibuf,
	    cc->obuf);
	br_ssl_client_set_default_rsapub(&cc->cc);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	if (verify) {
		br_x509_minimal_init_full(&cc->x.minimal, cl->tas, cl->ntas);
		br_ssl_engine_set_x509(eng, &cc->x.minimal.vtable);
	} else {
		tls_x509_any_init(&cc->x.any, cl->tas, cl->ntas);
		br_ssl_engine_set_x509(eng, &cc->x.any.vtable);
		cc->c.any = &cc->x.any;
	}
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	if (engine_entropy(eng) == -1 ||
	    !br_ssl_client_reset(&cc->cc, sni, 0)) {
		tls_conn_free(&cc->c);
		errno = EPROTO;
		return NULL;
	}
	return &cc->c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	explicit_bzero(c, c->size);	/* keys, plaintext, ciphertext */
	free(c);
}

size_t
tls_conn_size_server(void)
{
	return sizeof(struct tls_sconn);
}

size_t
tls_conn_size_client(void)
{
	return sizeof(struct tls_cconn);
}

/* --- the record pump ------------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
set_err(struct tls_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

/* A final error from the socket or the peer's behaviour. */
static int
die(struct tls_conn *c, int e)
{
	c->dead = e;
	errno = e;
	return -1;
}

static void
hs_complete(struct tls_conn *c)
{
	br_ssl_session_parameters sp;

	if (c->hs_done)
		return;
	c->hs_done = 1;
	br_ssl_engine_get_session_parameters(c->eng, &sp);
	c->version = sp.version;
	c->suite = sp.cipher_suite;
	if (c->client)
		c->verified = c->verify ? 1 : c->any->minimal_err == 0;
}

/* One write of the pending record bytes: 1 progress, 0 would block,
 * -1 final error. */
static int
pump_out(struct tls_conn *c, int fd)
{
	unsigned char *buf;
	size_t len;
	ssize_t n;
	int i;

	buf = br_ssl_engine_sendrec_buf(c->eng, &len);
	for (i = 0; i < 8; i++) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n >= 0) {
			br_ssl_engine_sendrec_ack(c->eng, (size_t)n);
			return n > 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		set_err(c, "send: %s", strerror(errno));
		return die(c, errno);
	}
	return 0;
}

/* One read of at most the rest of the current record: 1 progress, 0
 * would block, 2 EOF, -1 final error. */
static int
pump_in(struct tls_conn *c, int fd)
{
	unsigned char *buf;
	size_t len;
	ssize_t n;
	int i;

	buf = br_ssl_engine_recvrec_buf(c->eng, &len);
	for (i = 0; i < 8; i++) {
		n = read(fd, buf, len);
		if (n > 0) {
			br_ssl_engine_recvrec_ack(c->eng, (size_t)n);
			return 1;
		}
		if (n == 0) {
			c->eof = 1;
			return 2;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		set_err(c, "read: %s", strerror(errno));
		return die(c, errno);
	}
	return 0;
}

enum goal { G_HANDSHAKE, G_READ, G_WRITE, G_FLUSH };

/*
 * Moves records until the goal's state is reached. Returns 1 reached,
 * 0 end of stream (G_READ only), -1 with errno (EAGAIN or final).
 * Sending goes first; reading happens only for the handshake, for
 * tls_read(), or for tls_write() before the handshake is done — so
 * after the handshake no plaintext is ever pulled in behind the
 * caller's back.
 */
static int
run(struct tls_conn *c, int fd, enum goal goal)
{
	unsigned st;
	int i, r, progress, may_read;

	for (i = 0; i < RUN_MAX_STEPS; i++) {
		if (c->dead) {
			errno = c->dead;
			return -1;
		}
		st = br_ssl_engine_current_state(c->eng);
		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(c->eng);
			char t[128];

			if (e != BR_ERR_OK) {
				tls_strerror(e, t, sizeof(t));
				set_err(c, "%s: %s", c->hs_done ? "TLS" :
				    "handshake", t);
				return die(c, EPROTO);
			}
			if (!c->hs_done) {
				set_err(c, "handshake: closed by peer");
				return die(c, ECONNRESET);
			}
			if (goal == G_READ)
				return 0;	/* close_notify */
			if (goal == G_FLUSH)
				return 1;	/* nothing left to send */
			set_err(c, "TLS: connection closed by peer");
			errno = EPIPE;
			return -1;
		}
		if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
			hs_complete(c);
		switch (goal) {
		case G_HANDSHAKE:
			if (c->hs_done)
				return 1;
			break;
		case G_READ:
			if (st & BR_SSL_RECVAPP)
				return 1;
			if (c->eof)
				return 0;
			break;
		case G_WRITE:
			if (st & BR_SSL_SENDAPP)
				return 1;
			break;
		case G_FLUSH:
			if (!(st & BR_SSL_SENDREC))
				return 1;
			break;
		}
		progress = 0;
		if (st & BR_SSL_SENDREC) {
			if ((r = pump_out(c, fd)) < 0)
				return -1;
			progress = r;
		}
		may_read = goal == G_READ || goal == G_HANDSHAKE ||
		    (goal == G_WRITE && !c->hs_done);
		if (!progress && may_read && (st & BR_SSL_RECVREC) &&
		    !c->eof) {
			if ((r = pump_in(c, fd)) < 0)
				return -1;
			if (r == 2) {
				if (!c->hs_done) {
					set_err(c, "handshake: connection "
					    "closed by peer");
					return die(c, ECONNRESET);
				}
				set_err(c, "TLS: closed without close_notify");
				if (goal == G_READ)
					return 0;
				continue;
			}
			progress = r;
		}
		if (!progress) {
			errno = EAGAIN;
			return -1;
		}
	}
	errno = EAGAIN;		/* fairness: the loop will call again */
	return -1;
}

int
tls_handshake(struct tls_conn *c, int fd)
{
	return run(c, fd, G_HANDSHAKE) == 1 ? 1 : -1;
}

ssize_t
tls_read(struct tls_conn *c, int fd, void *buf, size_t len)
{
	unsigned char *p;
	size_t avail;
	int r;

	if (len == 0)
		return 0;
	if ((r = run(c, fd, G_READ)) <= 0)
		return r;
	p = br_ssl_engine_recvapp_buf(c->eng, &avail);
	if (avail > len)
		avail = len;
	memcpy(buf, p, avail);
	br_ssl_engine_recvapp_ack(c->eng, avail);
	return (ssize_t)avail;
}

size_t
tls_pending(struct tls_conn *c)
{
	size_t avail = 0;

	if (!c->dead && (br_ssl_engine_current_state(c->eng) &
	    BR_SSL_RECVAPP))
		br_ssl_engine_recvapp_buf(c->eng, &avail);
	return avail;
}

ssize_t
tls_write(struct tls_conn *c, int fd, const void *buf, size_t len)
{
	unsigned char *p;
	size_t avail;
	int e;

	if (len == 0)
		return 0;
	if (run(c, fd, G_WRITE) != 1)
		return -1;
	p = br_ssl_engine_sendapp_buf(c->eng, &avail);
	if (avail > len)
		avail = len;
	memcpy(p, buf, avail);
	br_ssl_engine_sendapp_ack(c->eng, avail);
	br_ssl_engine_flush(c->eng, 0);
	/* send what the socket takes now; a final error shows next call */
	e = errno;
	(void)run(c, fd, G_FLUSH);
	errno = e;
	return (ssize_t)avail;
}

int
tls_flush(struct tls_conn *c, int fd)
{
	if (!c->dead && !(br_ssl_engine_current_state(c->eng) &
	    BR_SSL_CLOSED))
		br_ssl_engine_flush(c->eng, 0);
	return run(c, fd, G_FLUSH) == 1 ? 0 : -1;
}

int
tls_close(struct tls_conn *c, int fd)
{
	if (!c->close_sent && !c->dead) {
		br_ssl_engine_close(c->eng);
		c->close_sent = 1;
	}
	return run(c, fd, G_FLUSH) == 1 ? 0 : -1;
}

uint32_t
tls_want(struct tls_conn *c)
{
	unsigned st;
	uint32_t ev = 0;

	if (c->dead)
		return 0;
	st = br_ssl_engine_current_state(c->eng);
	if (st & BR_SSL_CLOSED)
		return 0;
	if (st & BR_SSL_SENDREC)
		ev |= EPOLLOUT;
	if ((st & BR_SSL_RECVREC) && !c->eof)
		ev |= EPOLLIN;
	return ev;
}

int
tls_handshake_done(const struct tls_conn *c)
{
	return c->hs_done;
}

const char *
tls_backends(void)
{
	static char out[128];
	br_ssl_engine_context eng;
	br_rsa_private rsa = br_rsa_private_get_default();
	const br_block_ctr_class *x86ni = br_aes_x86ni_ctr_get_vtable();
	br_ghash pclmul = br_ghash_pclmul_get();
	br_chacha20_run sse2 = br_chacha20_sse2_get();

	/* what an engine of ours is given, read back from one */
	memset(&eng, 0, sizeof(eng));
	br_ssl_engine_set_default_aes_gcm(&eng);
	br_ssl_engine_set_default_chapol(&eng);
	snprintf(out, sizeof(out), "AES %s, GHASH %s, ChaCha20 %s, RSA %s, "
	    "EC %s",
	    x86ni != NULL && eng.iaes_ctr == x86ni ? "x86ni" :
	    eng.iaes_ctr == &br_aes_ct64_ctr_vtable ? "ct64" : "ct",
	    pclmul != 0 && eng.ighash == pclmul ? "pclmul" :
	    eng.ighash == &br_ghash_ctmul64 ? "ctmul64" : "ctmul",
	    sse2 != 0 && eng.ichacha == sse2 ? "sse2" : "ct",
	    rsa == &br_rsa_i62_private ? "i62" :
	    rsa == &br_rsa_i31_private ? "i31" : "i15",
	    br_ec_get_default() == &br_ec_all_m31 ? "m31" : "m15");
	return out;
}

int
tls_resumed(const struct tls_conn *c)
{
	return c->hs_done && !c->client && c->resumed;
}

const char *
tls_version(const struct tls_conn *c)
{
	if (!c->hs_done)
		return NULL;
	switch (c->version) {
	case BR_TLS10:
		return "TLSv1";
	case BR_TLS11:
		return "TLSv1.1";
	case BR_TLS12:
		return "TLSv1.2";
	}
	return "TLS?";
}

const char *
tls_cipher(const struct tls_conn *c)
{
	size_t i;

	if (!c->hs_done)
		return NULL;
	for (i = 0; i < sizeof(suite_names) / sizeof(suite_names[0]); i++)
		if (suite_names[i].id == c->suite)
			return suite_names[i].name;
	return "UNKNOWN";
}

int
tls_cipher_bits(const struct tls_conn *c)
{
	size_t i;

	if (!c->hs_done)
		return 0;
	for (i = 0; i < sizeof(suite_names) / sizeof(suite_names[0]); i++)
		if (suite_names[i].id == c->suite)
			return suite_names[i].bits;
	return 0;
}

int
tls_peer_verified(const struct tls_conn *c)
{
	return c->client && c->hs_done && c->verified;
}

const char *
tls_error(const struct tls_conn *c)
{
	return c->err[0] ? c->err : NULL;
}
