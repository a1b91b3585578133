/*
 * tls_pem.c — reading TLS material from PEM files with BearSSL's own
 * decoders: certificate chains (br_x509_decoder), private keys in the
 * three usual encodings (br_skey_decoder), trust anchors; plus the small
 * helpers the TLS modules share (bounded buffers, file reads, getrandom,
 * fingerprints).
 *
 * Owns: the malloc'ed copies it returns (freed by the matching *_free).
 * Must never: keep key bytes in a buffer it does not wipe, read a file
 * larger than TLS_MAX_PEM_FILE, or accept a key it could not decode
 * completely. Runs at start-up only (it reads files); the *_parse
 * functions do the same work on text already in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "tls_int.h"

#define DER_MAX	(64 * 1024)	/* one PEM object, decoded */

/* --- buffers, files, randomness ---------------------------------------- */

void
tls_buf_append(struct tls_buf *b, const void *p, size_t n)
{
	unsigned char *nd;
	size_t ncap;

	if (b->overflow)
		return;
	if (n > b->max - b->len) {
		b->overflow = 1;
		return;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + n)
			ncap *= 2;
		if (ncap > b->max)
			ncap = b->max;
		/* no realloc: the old block may hold key bytes, wipe it */
		if ((nd = malloc(ncap)) == NULL) {
			b->overflow = 1;
			return;
		}
		if (b->data) {
			memcpy(nd, b->data, b->len);
			explicit_bzero(b->data, b->cap);
			free(b->data);
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
tls_buf_wipe(struct tls_buf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = 0;
}

int
tls_file_read(const char *path, struct tls_buf *out, char *err,
    size_t errlen)
{
	unsigned char chunk[4096];
	struct stat st;
	ssize_t n;
	int fd;

	memset(out, 0, sizeof(*out));
	out->max = TLS_MAX_PEM_FILE;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > TLS_MAX_PEM_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most %d "
		    "bytes", path, TLS_MAX_PEM_FILE);
		close(fd);
		return -1;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		tls_buf_append(out, chunk, (size_t)n);
	}
	explicit_bzero(chunk, sizeof(chunk));
	if (n == -1 || out->overflow) {
		snprintf(err, errlen, "%s: %s", path,
		    n == -1 ? strerror(errno) : "file too large");
		close(fd);
		tls_buf_wipe(out);
		return -1;
	}
	close(fd);
	return 0;
}

int
tls_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
tls_fingerprint(const void *der, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[32];
	br_sha256_context sc;
	size_t i;

	br_sha256_init(&sc);
	br_sha256_update(&sc, der, len);
	br_sha256_out(&sc, h);
	for (i = 0; i < sizeof(h); i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[64] = '\0';
}

/* --- PEM ----------------------------------------------------------------- */

static void
pem_dest(void *ctx, const void *src, size_t len)
{
	tls_buf_append(ctx, src, len);
}

int
tls_pem_each(const unsigned char *text, size_t len, tls_pem_fn *fn,
    void *arg, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct tls_buf der = { .max = DER_MAX };
	char name[128];
	int count = 0, inobj = 0, rc = -1, final = 0;
	size_t n;

	br_pem_decoder_init(&pc);
	name[0] = '\0';
	/* The text, then one "\n" so a last line without one still ends
	 * its object; bounded by the input length. */
	while (len > 0 || !final) {
		if (len == 0) {
			text = (const unsigned char *)"\n";
			len = 1;
			final = 1;
		}
		n = br_pem_decoder_push(&pc, text, len);
		text += n;
		len -= n;
		switch (br_pem_decoder_event(&pc)) {
		case 0:
			break;
		case BR_PEM_BEGIN_OBJ:
			snprintf(name, sizeof(name), "%s",
			    br_pem_decoder_name(&pc));
			tls_buf_wipe(&der);
			der.max = DER_MAX;
			br_pem_decoder_setdest(&pc, pem_dest, &der);
			inobj = 1;
			break;
		case BR_PEM_END_OBJ:
			if (der.overflow) {
				snprintf(err, errlen, "PEM object %s larger "
				    "than %d bytes", name, DER_MAX);
				goto out;
			}
			if (fn(arg, name, der.data, der.len, err, errlen) != 0)
				goto out;
			tls_buf_wipe(&der);
			der.max = DER_MAX;
			inobj = 0;
			count++;
			break;
		default:
			snprintf(err, errlen, "bad PEM encoding%s%s",
			    name[0] ? " in " : "", name);
			goto out;
		}
	}
	if (inobj) {
		snprintf(err, errlen, "PEM object %s not terminated", name);
		goto out;
	}
	rc = count;
out:
	tls_buf_wipe(&der);
	explicit_bzero(&pc, sizeof(pc));
	return rc;
}

/* --- certificate chains ---------------------------------------------------- */

static int
chain_obj(void *arg, const char *name, const unsigned char *der, size_t len,
    char *err, size_t errlen)
{
	struct tls_chain *ch = arg;
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	br_x509_certificate *c;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0)
		return 0;	/* other objects (keys, params) are ignored */
	if (ch->n == TLS_MAX_CHAIN) {
		snprintf(err, errlen, "more than %d certificates",
		    TLS_MAX_CHAIN);
		return -1;
	}
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		snprintf(err, errlen, "certificate %zu: undecodable (X.509 "
		    "error %d)", ch->n + 1, br_x509_decoder_last_error(&dc));
		return -1;
	}
	if (ch->n == 0) {
		ch->key_type = pk->key_type;
		ch->issuer_key_type =
		    br_x509_decoder_get_signer_key_type(&dc);
		ch->pkey = *pk;
		/* re-point the key into our own copy of its bytes */
		if (pk->key_type == BR_KEYTYPE_RSA) {
			if (pk->key.rsa.nlen + pk->key.rsa.elen >
			    sizeof(ch->pkey_data))
				goto bad;
			memcpy(ch->pkey_data, pk->key.rsa.n, pk->key.rsa.nlen);
			memcpy(ch->pkey_data + pk->key.rsa.nlen,
			    pk->key.rsa.e, pk->key.rsa.elen);
			ch->pkey.key.rsa.n = ch->pkey_data;
			ch->pkey.key.rsa.e = ch->pkey_data + pk->key.rsa.nlen;
		} else if (pk->key_type == BR_KEYTYPE_EC) {
			if (pk->key.ec.qlen > sizeof(ch->pkey_data))
				goto bad;
			memcpy(ch->pkey_data, pk->key.ec.q, pk->key.ec.qlen);
			ch->pkey.key.ec.q = ch->pkey_data;
		} else
			goto bad;
	}
	c = &ch->cert[ch->n];
	if ((c->data = malloc(len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(c->data, der, len);
	c->data_len = len;
	ch->n++;
	return 0;
bad:
	snprintf(err, errlen, "certificate 1: unsupported public key");
	return -1;
}

int
tls_chain_parse(struct tls_chain *ch, const unsigned char *text, size_t len,
    const char *name, char *err, size_t errlen)
{
	char e[256];

	memset(ch, 0, sizeof(*ch));
	if (tls_pem_each(text, len, chain_obj, ch, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s: %s", name, e);
		goto fail;
	}
	if (ch->n == 0) {
		snprintf(err, errlen, "%s: no CERTIFICATE in file", name);
		goto fail;
	}
	return 0;
fail:
	tls_chain_free(ch);
	return -1;
}

int
tls_chain_load(struct tls_chain *ch, const char *path, char *err,
    size_t errlen)
{
	struct tls_buf text;
	int rc;

	memset(ch, 0, sizeof(*ch));
	if (tls_file_read(path, &text, err, errlen) == -1)
		return -1;
	rc = tls_chain_parse(ch, text.data, text.len, path, err, errlen);
	tls_buf_wipe(&text);
	return rc;
}

void
tls_chain_free(struct tls_chain *ch)
{
	size_t i;

	for (i = 0; i < ch->n; i++)
		free(ch->cert[i].data);
	memset(ch, 0, sizeof(*ch));
}

/* --- private keys ----------------------------------------------------------- */

struct key_load {
	struct tls_key	*k;
	int		 found;
};

static int
key_obj(void *arg, const char *name, const unsigned char *der, size_t len,
    char *err, size_t errlen)
{
	struct key_load *kl = arg;
	struct tls_key *k = kl->k;
	br_skey_decoder_context *dc;
	const br_rsa_private_key *rk;
	const br_ec_private_key *ek;
	unsigned char *p;
	int rc = -1, e;

	if (strcmp(name, "RSA PRIVATE KEY") != 0 &&
	    strcmp(name, "EC PRIVATE KEY") != 0 &&
	    strcmp(name, "PRIVATE KEY") != 0)
		return 0;	/* EC PARAMETERS, certificates: skipped */
	if (kl->found) {
		snprintf(err, errlen, "more than one private key");
		return -1;
	}
	/* the decoder holds the key bytes: heap, so it is wiped for sure */
	if ((dc = malloc(sizeof(*dc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	br_skey_decoder_init(dc);
	br_skey_decoder_push(dc, der, len);
	if ((e = br_skey_decoder_last_error(dc)) != 0) {
		snprintf(err, errlen, "%s: undecodable or unsupported "
		    "(error %d)", name, e);
		goto out;
	}
	switch (br_skey_decoder_key_type(dc)) {
	case BR_KEYTYPE_RSA:
		rk = br_skey_decoder_get_rsa(dc);
		k->memlen = rk->plen + rk->qlen + rk->dplen + rk->dqlen +
		    rk->iqlen;
		if ((k->mem = p = malloc(k->memlen)) == NULL)
			goto oom;
		k->type = BR_KEYTYPE_RSA;
		k->rsa.n_bitlen = rk->n_bitlen;
#define KCOPY(f) do {							\
		memcpy(p, rk->f, rk->f##len);				\
		k->rsa.f = p; k->rsa.f##len = rk->f##len; p += rk->f##len; \
	} while (0)
		KCOPY(p); KCOPY(q); KCOPY(dp); KCOPY(dq); KCOPY(iq);
#undef KCOPY
		if (rk->n_bitlen < 2048) {
			snprintf(err, errlen, "RSA key of %u bits: at least "
			    "2048 needed", rk->n_bitlen);
			goto out;
		}
		break;
	case BR_KEYTYPE_EC:
		ek = br_skey_decoder_get_ec(dc);
		k->memlen = ek->xlen;
		if ((k->mem = malloc(k->memlen)) == NULL)
			goto oom;
		memcpy(k->mem, ek->x, ek->xlen);
		k->type = BR_KEYTYPE_EC;
		k->ec.curve = ek->curve;
		k->ec.x = k->mem;
		k->ec.xlen = ek->xlen;
		if (br_ec_get_default()->supported_curves >> ek->curve & 1)
			break;
		snprintf(err, errlen, "EC key on unsupported curve %d",
		    ek->curve);
		goto out;
	default:
		snprintf(err, errlen, "%s: unsupported key type", name);
		goto out;
	}
	kl->found = 1;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
out:
	explicit_bzero(dc, sizeof(*dc));
	free(dc);
	return rc;
}

int
tls_key_parse(struct tls_key *k, const unsigned char *text, size_t len,
    const char *name, char *err, size_t errlen)
{
	struct key_load kl = { .k = k };
	char e[256];

	memset(k, 0, sizeof(*k));
	if (tls_pem_each(text, len, key_obj, &kl, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s: %s", name, e);
		goto fail;
	}
	if (!kl.found) {
		snprintf(err, errlen, "%s: no RSA PRIVATE KEY, EC PRIVATE KEY "
		    "or PRIVATE KEY in file", name);
		goto fail;
	}
	return 0;
fail:
	tls_key_free(k);
	return -1;
}

int
tls_key_load(struct tls_key *k, const char *path, char *err, size_t errlen)
{
	struct tls_buf text;
	int rc;

	memset(k, 0, sizeof(*k));
	if (tls_file_read(path, &text, err, errlen) == -1)
		return -1;
	rc = tls_key_parse(k, text.data, text.len, path, err, errlen);
	tls_buf_wipe(&text);
	return rc;
}

void
tls_key_free(struct tls_key *k)
{
	if (k->mem) {
		explicit_bzero(k->mem, k->memlen);
		free(k->mem);
	}
	explicit_bzero(k, sizeof(*k));
}

/* Compares big-endian integers, ignoring leading zeros. */
static int
int_eq(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	while (alen > 0 && *a == 0) {
		a++;
		alen--;
	}
	while (blen > 0 && *b == 0) {
		b++;
		blen--;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

int
tls_key_matches(const struct tls_key *k, const br_x509_pkey *pk)
{
	unsigned char buf[BR_EC_KBUF_PUB_MAX_SIZE > 512 ?
	    BR_EC_KBUF_PUB_MAX_SIZE : 512];
	br_rsa_compute_modulus modulus;
	size_t n;
	int ok = 0;

	if (k->type != pk->key_type)
		return 0;
	if (k->type == BR_KEYTYPE_EC) {
		if (k->ec.curve != pk->key.ec.curve)
			return 0;
		n = br_ec_compute_pub(br_ec_get_default(), NULL, buf, &k->ec);
		ok = n > 0 && n == pk->key.ec.qlen &&
		    memcmp(buf, pk->key.ec.q, n) == 0;
	} else {
		modulus = br_rsa_compute_modulus_get_default();
		n = modulus(NULL, &k->rsa);
		if (n > 0 && n <= sizeof(buf) && modulus(buf, &k->rsa) == n)
			ok = int_eq(buf, n, pk->key.rsa.n, pk->key.rsa.nlen);
	}
	explicit_bzero(buf, sizeof(buf));
	return ok;
}

/* --- trust anchors ---------------------------------------------------------- */

struct anchors {
	br_x509_trust_anchor	*ta;
	size_t			 n;
};

static int
anchor_obj(void *arg, const char *name, const unsigned char *der,
    size_t len, char *err, size_t errlen)
{
	struct anchors *a = arg;
	struct tls_buf dn = { .max = 4096 };
	br_x509_decoder_context dc;
	br_x509_trust_anchor *ta;
	const br_x509_pkey *pk;
	unsigned char *kd;
	size_t klen;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0 &&
	    strcmp(name, "TRUSTED CERTIFICATE") != 0)
		return 0;
	if (a->n == TLS_MAX_ANCHORS) {
		snprintf(err, errlen, "more than %d certificates",
		    TLS_MAX_ANCHORS);
		return -1;
	}
	br_x509_decoder_init(&dc, pem_dest, &dn);
	br_x509_decoder_push(&dc, der, len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL || dn.overflow ||
	    dn.len == 0) {
		snprintf(err, errlen, "certificate %zu: undecodable (X.509 "
		    "error %d)", a->n + 1, br_x509_decoder_last_error(&dc));
		tls_buf_wipe(&dn);
		return -1;
	}
	klen = pk->key_type == BR_KEYTYPE_RSA ?
	    pk->key.rsa.nlen + pk->key.rsa.elen : pk->key.ec.qlen;
	if ((kd = malloc(klen)) == NULL) {
		tls_buf_wipe(&dn);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ta = &a->ta[a->n];
	ta->dn.data = dn.data;	/* handed over */
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey = *pk;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		memcpy(kd, pk->key.rsa.n, pk->key.rsa.nlen);
		memcpy(kd + pk->key.rsa.nlen, pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa.n = kd;
		ta->pkey.key.rsa.e = kd + pk->key.rsa.nlen;
	} else {
		memcpy(kd, pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec.q = kd;
	}
	a->n++;
	return 0;
}

int
tls_anchors_parse(br_x509_trust_anchor **tas, size_t *n,
    const unsigned char *text, size_t len, const char *name, char *err,
    size_t errlen)
{
	struct anchors a;
	char e[256];

	*tas = NULL;
	*n = 0;
	if ((a.ta = calloc(TLS_MAX_ANCHORS, sizeof(*a.ta))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a.n = 0;
	if (tls_pem_each(text, len, anchor_obj, &a, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "%s: %s", name, e);
		goto fail;
	}
	if (a.n == 0) {
		snprintf(err, errlen, "%s: no CERTIFICATE in file", name);
		goto fail;
	}
	*tas = a.ta;
	*n = a.n;
	return 0;
fail:
	tls_anchors_free(a.ta, a.n);
	return -1;
}

int
tls_anchors_load(br_x509_trust_anchor **tas, size_t *n, const char *path,
    char *err, size_t errlen)
{
	struct tls_buf text;
	int rc;

	*tas = NULL;
	*n = 0;
	if (tls_file_read(path, &text, err, errlen) == -1)
		return -1;
	rc = tls_anchors_parse(tas, n, text.data, text.len, path, err, errlen);
	tls_buf_wipe(&text);
	return rc;
}

void
tls_anchors_free(br_x509_trust_anchor *tas, size_t n)
{
	size_t i;

	if (tas == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(tas[i].dn.data);
		free(tas[i].pkey.key_type == BR_KEYTYPE_RSA ?
		    tas[i].pkey.key.rsa.n : tas[i].pkey.key.ec.q);
	}
	free(tas);
}

/* --- certificate validity (a DER walk to tbsCertificate.validity) --- */

/* One TLV header: its tag and the length of its contents, *p moved to
 * them. -1 when it does not fit in [*p, end) or is not DER-sized. */
static int
der_tlv(const unsigned char **p, const unsigned char *end, int *tag,
    size_t *len)
{
	const unsigned char *q = *p;
	size_t n, i, k;

	if (end - q < 2)
		return -1;
	*tag = q[0];
	n = q[1];
	q += 2;
	if (n & 0x80) {
		k = n & 0x7f;
		if (k == 0 || k > 3 || (size_t)(end - q) < k)
			return -1;
		for (n = 0, i = 0; i < k; i++)
			n = n << 8 | q[i];
		q += k;
	}
	if (n > (size_t)(end - q))
		return -1;
	*p = q;
	*len = n;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* UTCTime "YYMMDDHHMMSSZ" (tag 0x17) or GeneralizedTime
 * "YYYYMMDDHHMMSSZ" (0x18). */
static int
der_time(int tag, const unsigned char *p, size_t len, int64_t *t)
{
	unsigned v[7], i, n = 0, digits = tag == 0x17 ? 12 : 14;
	int64_t year;

	if ((tag != 0x17 && tag != 0x18) || len != digits + 1 ||
	    p[digits] != 'Z')
		return -1;
	for (i = 0; i < digits; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	if (tag == 0x17) {
		year = (p[0] - '0') * 10 + (p[1] - '0');
		year += year < 50 ? 2000 : 1900;
	} else {
		year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 +
		    (p[2] - '0') * 10 + (p[3] - '0');
	}
	for (i = digits - 10; i < digits; i += 2)
		v[n++] = (unsigned)((p[i] - '0') * 10 + (p[i + 1] - '0'));
	/* v: month, day, hour, minute, second */
	if (v[0] < 1 || v[0] > 12 || v[1] < 1 || v[1] > 31 || v[2] > 23 ||
	    v[3] > 59 || v[4] > 60)
		return -1;
	*t = days_from_civil(year, v[0], v[1]) * 86400 + v[2] * 3600 +
	    v[3] * 60 + v[4];
	return 0;
}

int
tls_cert_validity(const unsigned char *der, size_t len, int64_t *not_before,
    int64_t *not_after)
{
	const unsigned char *p = der, *end = der + len;
	size_t n;
	int tag, i;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
	 * OPTIONAL, serialNumber, signature, issuer, validity, ... } } */
	if (der_tlv(&p, end, &tag, &n) != 0 || tag != 0x30)
		return -1;
	end = p + n;
	if (der_tlv(&p, end, &tag, &n) != 0 || tag != 0x30)
		return -1;
	end = p + n;
	for (i = 0; i < 4; i++) {	/* version?, serial, sigalg, issuer */
		if (der_tlv(&p, end, &tag, &n) != 0)
			return -1;
		if (i == 0 && tag != 0xa0)
			i++;		/* no version: that was the serial */
		p += n;
	}
	if (der_tlv(&p, end, &tag, &n) != 0 || tag != 0x30)
		return -1;
	end = p + n;
	if (der_tlv(&p, end, &tag, &n) != 0 ||
	    der_time(tag, p, n, not_before) != 0)
		return -1;
	p += n;
	if (der_tlv(&p, end, &tag, &n) != 0 ||
	    der_time(tag, p, n, not_after) != 0)
		return -1;
	return 0;
}
