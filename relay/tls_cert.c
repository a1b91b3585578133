/*
 * tls_cert.c — the first-start certificate: an EC P-256 key
 * (br_ec_keygen) and a self-signed X.509 v3 certificate for the relay's
 * hostname, written by a small DER writer of our own and signed with
 * br_ecdsa_i31_sign_asn1 over SHA-256.
 *
 * Owns: the two files it creates (only when neither exists). Must never:
 * replace, truncate or "complete" an existing certificate or key (O_EXCL
 * temporary files published with link(2), which fails on an existing
 * name), leave key bytes in memory it does not wipe, or write a file
 * readable by anyone but its owner (0600).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tls_int.h"

#define VALID_DAYS	3650

/* --- a DER writer for the few types a certificate needs ------------------ */

#define DER_CAP	2048

struct der {
	unsigned char	b[DER_CAP];
	size_t		n;
	int		err;
};

static void
der_raw(struct der *d, const void *p, size_t n)
{
	if (d->err || n > sizeof(d->b) - d->n) {
		d->err = 1;
		return;
	}
	if (n == 0)
		return;
	memcpy(d->b + d->n, p, n);
	d->n += n;
}

/* tag, definite length (short or long form), content */
static void
der_tlv(struct der *d, unsigned char tag, const void *p, size_t n)
{
	unsigned char h[6];
	size_t hl = 0;

	h[hl++] = tag;
	if (n < 0x80)
		h[hl++] = (unsigned char)n;
	else if (n < 0x100) {
		h[hl++] = 0x81;
		h[hl++] = (unsigned char)n;
	} else if (n < 0x10000) {
		h[hl++] = 0x82;
		h[hl++] = (unsigned char)(n >> 8);
		h[hl++] = (unsigned char)n;
	} else {
		d->err = 1;
		return;
	}
	der_raw(d, h, hl);
	der_raw(d, p, n);
}

static void
der_wrap(struct der *d, unsigned char tag, const struct der *in)
{
	if (in->err)
		d->err = 1;
	der_tlv(d, tag, in->b, in->n);
}

#define T_BOOL		0x01
#define T_INT		0x02
#define T_BITS		0x03
#define T_OCTETS	0x04
#define T_OID		0x06
#define T_UTF8		0x0c
#define T_UTCTIME	0x17
#define T_GENTIME	0x18
#define T_SEQ		0x30
#define T_SET		0x31
#define T_CTX0		0xa0	/* [0] EXPLICIT */
#define T_CTX3		0xa3	/* [3] EXPLICIT */
#define T_DNSNAME	0x82	/* [2] IMPLICIT IA5String */

static const unsigned char OID_ECDSA_SHA256[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const unsigned char OID_EC_PUBKEY[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char OID_P256[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const unsigned char OID_CN[] = { 0x55, 0x04, 0x03 };
static const unsigned char OID_BASIC[] = { 0x55, 0x1d, 0x13 };
static const unsigned char OID_KEYUSAGE[] = { 0x55, 0x1d, 0x0f };
static const unsigned char OID_EKU[] = { 0x55, 0x1d, 0x25 };
static const unsigned char OID_SAN[] = { 0x55, 0x1d, 0x11 };
static const unsigned char OID_SERVERAUTH[] =
    { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };
static const unsigned char OID_CLIENTAUTH[] =
    { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02 };

/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5) */
static void
der_time(struct der *d, time_t t)
{
	struct tm tm;
	char s[20];
	int n;

	if (gmtime_r(&t, &tm) == NULL) {
		d->err = 1;
		return;
	}
	if (tm.tm_year + 1900 < 2050) {
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ",
		    tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		der_tlv(d, T_UTCTIME, s, (size_t)n);
	} else {
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
		der_tlv(d, T_GENTIME, s, (size_t)n);
	}
}

/* one extension: SEQUENCE { OID, [critical TRUE], OCTET STRING { val } } */
static void
der_ext(struct der *exts, const unsigned char *oid, size_t oidlen,
    int critical, const struct der *val)
{
	static const unsigned char yes = 0xff;
	struct der e = { .n = 0 };

	der_tlv(&e, T_OID, oid, oidlen);
	if (critical)
		der_tlv(&e, T_BOOL, &yes, 1);
	der_wrap(&e, T_OCTETS, val);
	der_wrap(exts, T_SEQ, &e);
}

/* Builds the DER certificate into out. 0, or -1. */
static int
cert_build(struct der *out, const char *host, const br_ec_public_key *pk,
    const br_ec_private_key *sk, time_t now, const unsigned char serial[16])
{
	struct der alg = { .n = 0 }, name = { .n = 0 }, v = { .n = 0 };
	struct der spki = { .n = 0 }, exts = { .n = 0 }, tbs = { .n = 0 };
	struct der t = { .n = 0 }, u = { .n = 0 }, cert = { .n = 0 };
	static const unsigned char version[] = { 0x02, 0x01, 0x02 };
	static const unsigned char ku_digsig[] = { 0x07, 0x80 };
	unsigned char h[32], sig[80], bits[1 + 80], pbits[1 + 133];
	br_sha256_context sc;
	size_t hl = strlen(host), sl;

	der_tlv(&alg, T_OID, OID_ECDSA_SHA256, sizeof(OID_ECDSA_SHA256));
	t = alg;
	alg.n = 0;
	der_wrap(&alg, T_SEQ, &t);			/* AlgorithmIdentifier */

	t.n = 0;
	der_tlv(&t, T_OID, OID_CN, sizeof(OID_CN));
	der_tlv(&t, T_UTF8, host, hl);
	der_wrap(&u, T_SEQ, &t);
	t.n = 0;
	der_wrap(&t, T_SET, &u);
	der_wrap(&name, T_SEQ, &t);			/* Name: CN=host */

	t.n = 0;
	der_time(&t, now - 86400);
	der_time(&t, now + (time_t)VALID_DAYS * 86400);
	der_wrap(&v, T_SEQ, &t);			/* Validity */

	t.n = 0;
	u.n = 0;
	der_tlv(&u, T_OID, OID_EC_PUBKEY, sizeof(OID_EC_PUBKEY));
	der_tlv(&u, T_OID, OID_P256, sizeof(OID_P256));
	der_wrap(&t, T_SEQ, &u);
	if (pk->qlen > sizeof(pbits) - 1)
		return -1;
	pbits[0] = 0;
	memcpy(pbits + 1, pk->q, pk->qlen);
	der_tlv(&t, T_BITS, pbits, pk->qlen + 1);
	der_wrap(&spki, T_SEQ, &t);			/* SubjectPublicKeyInfo */

	t.n = 0;					/* extensions */
	u.n = 0;
	der_tlv(&u, T_SEQ, NULL, 0);			/* CA:FALSE */
	der_ext(&t, OID_BASIC, sizeof(OID_BASIC), 1, &u);
	u.n = 0;
	der_tlv(&u, T_BITS, ku_digsig, sizeof(ku_digsig));
	der_ext(&t, OID_KEYUSAGE, sizeof(OID_KEYUSAGE), 1, &u);
	{
		struct der e = { .n = 0 };

		der_tlv(&e, T_OID, OID_SERVERAUTH, sizeof(OID_SERVERAUTH));
		der_tlv(&e, T_OID, OID_CLIENTAUTH, sizeof(OID_CLIENTAUTH));
		u.n = 0;
		der_wrap(&u, T_SEQ, &e);
		der_ext(&t, OID_EKU, sizeof(OID_EKU), 0, &u);
		e.n = 0;
		der_tlv(&e, T_DNSNAME, host, hl);
		u.n = 0;
		der_wrap(&u, T_SEQ, &e);
		der_ext(&t, OID_SAN, sizeof(OID_SAN), 0, &u);
	}
	u.n = 0;
	der_wrap(&u, T_SEQ, &t);
	der_wrap(&exts, T_CTX3, &u);

	t.n = 0;
	der_tlv(&t, T_CTX0, version, sizeof(version));	/* v3 */
	der_tlv(&t, T_INT, serial, 16);
	der_raw(&t, alg.b, alg.n);
	der_raw(&t, name.b, name.n);			/* issuer */
	der_raw(&t, v.b, v.n);
	der_raw(&t, name.b, name.n);			/* subject */
	der_raw(&t, spki.b, spki.n);
	der_raw(&t, exts.b, exts.n);
	der_wrap(&tbs, T_SEQ, &t);
	if (tbs.err || alg.err || name.err || v.err || spki.err || exts.err)
		return -1;

	br_sha256_init(&sc);
	br_sha256_update(&sc, tbs.b, tbs.n);
	br_sha256_out(&sc, h);
	sl = br_ecdsa_i31_sign_asn1(br_ec_get_default(), &br_sha256_vtable,
	    h, sk, sig);
	if (sl == 0 || sl > sizeof(sig) ||
	    !br_ecdsa_i31_vrfy_asn1(br_ec_get_default(), h, sizeof(h), pk,
	    sig, sl))
		return -1;
	bits[0] = 0;
	memcpy(bits + 1, sig, sl);

	t.n = 0;
	der_raw(&t, tbs.b, tbs.n);
	der_raw(&t, alg.b, alg.n);
	der_tlv(&t, T_BITS, bits, sl + 1);
	der_wrap(&cert, T_SEQ, &t);
	if (cert.err)
		return -1;
	*out = cert;
	return 0;
}

/* --- files --------------------------------------------------------------- */

static int
exists(const char *path, int *yes, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		*yes = 1;
		return 0;
	}
	if (errno == ENOENT) {
		*yes = 0;
		return 0;
	}
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/* Writes data to a new file tmp (O_EXCL, 0600), fsync'ed. */
static int
write_new(const char *tmp, const void *data, size_t len, char *err,
    size_t errlen)
{
	const unsigned char *p = data;
	ssize_t n;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) == -1)
		goto fail;
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

static void
sync_dir(const char *path)
{
	char dir[1024];
	char *slash;
	int fd;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return;
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
}

static int
first_cert(void *arg, const char *name, const unsigned char *der, size_t len,
    char *err, size_t errlen)
{
	char *fp = arg;

	if (fp[0] == '\0' && strcmp(name, "CERTIFICATE") == 0)
		tls_fingerprint(der, len, fp);
	return 0;
}

static void
existing_fingerprint(const char *path, char fp[65])
{
	struct tls_buf text;
	char e[256];

	fp[0] = '\0';
	if (tls_file_read(path, &text, e, sizeof(e)) == -1)
		return;
	if (tls_pem_each(text.data, text.len, first_cert, fp, e,
	    sizeof(e)) == -1)
		fp[0] = '\0';
	tls_buf_wipe(&text);
}

static int
valid_hostname(const char *h)
{
	size_t n = strlen(h), i;

	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = h[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
		if (c == '.' && h[i + 1] == '.')
			return 0;
	}
	return 1;
}

int
tls_selfsigned_ensure(const char *cert_path, const char *key_path,
    const char *hostname, char fp_hex[65], char *err, size_t errlen)
{
	br_hmac_drbg_context rng;
	br_ec_private_key sk;
	br_ec_public_key pk;
	unsigned char seed[48], kbuf[BR_EC_KBUF_PRIV_MAX_SIZE];
	unsigned char pbuf[BR_EC_KBUF_PUB_MAX_SIZE], serial[16];
	unsigned char keyder[256];
	char keypem[512], *certpem = NULL, ktmp[1100], ctmp[1100];
	struct der *cert = NULL;
	size_t kl, pl;
	int have_c, have_k, rc = -1;

	fp_hex[0] = '\0';
	if (exists(cert_path, &have_c, err, errlen) == -1 ||
	    exists(key_path, &have_k, err, errlen) == -1)
		return -1;
	if (have_c && have_k) {
		existing_fingerprint(cert_path, fp_hex);
		return 0;
	}
	if (have_c != have_k) {
		snprintf(err, errlen, "%s exists but %s does not: refusing to "
		    "generate a certificate over an incomplete pair",
		    have_c ? cert_path : key_path,
		    have_c ? key_path : cert_path);
		return -1;
	}
	if (!valid_hostname(hostname)) {
		snprintf(err, errlen, "hostname '%s' is not a DNS name",
		    hostname);
		return -1;
	}
	if ((size_t)snprintf(ktmp, sizeof(ktmp), "%s.tmp%ld", key_path,
	    (long)getpid()) >= sizeof(ktmp) ||
	    (size_t)snprintf(ctmp, sizeof(ctmp), "%s.tmp%ld", cert_path,
	    (long)getpid()) >= sizeof(ctmp)) {
		snprintf(err, errlen, "path too long");
		return -1;
	}

	if (tls_random(seed, sizeof(seed)) == -1) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	br_hmac_drbg_init(&rng, &br_sha256_vtable, seed, sizeof(seed));
	if (br_ec_keygen(&rng.vtable, br_ec_get_default(), &sk, kbuf,
	    BR_EC_secp256r1) == 0 ||
	    br_ec_compute_pub(br_ec_get_default(), &pk, pbuf, &sk) == 0) {
		snprintf(err, errlen, "EC P-256 key generation failed");
		goto out;
	}
	br_hmac_drbg_generate(&rng, serial, sizeof(serial));
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, 16 octets */

	if ((cert = malloc(sizeof(*cert))) == NULL ||
	    cert_build(cert, hostname, &pk, &sk, time(NULL), serial) == -1) {
		snprintf(err, errlen, "certificate encoding failed");
		goto out;
	}
	kl = br_encode_ec_raw_der(keyder, &sk, &pk);
	if (kl == 0 || kl > sizeof(keyder) ||
	    br_pem_encode(NULL, keyder, kl, "EC PRIVATE KEY", 0) >=
	    sizeof(keypem)) {
		snprintf(err, errlen, "key encoding failed");
		goto out;
	}
	br_pem_encode(keypem, keyder, kl, "EC PRIVATE KEY", 0);
	pl = br_pem_encode(NULL, cert->b, cert->n, "CERTIFICATE", 0);
	if ((certpem = malloc(pl + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	br_pem_encode(certpem, cert->b, cert->n, "CERTIFICATE", 0);

	if (write_new(ktmp, keypem, strlen(keypem), err, errlen) == -1)
		goto out;
	if (write_new(ctmp, certpem, pl, err, errlen) == -1) {
		unlink(ktmp);
		goto out;
	}
	if (link(ktmp, key_path) == -1) {
		snprintf(err, errlen, "%s: %s", key_path, strerror(errno));
		goto unlink_tmp;
	}
	if (link(ctmp, cert_path) == -1) {
		snprintf(err, errlen, "%s: %s", cert_path, strerror(errno));
		unlink(key_path);	/* ours: we just linked it */
		goto unlink_tmp;
	}
	tls_fingerprint(cert->b, cert->n, fp_hex);
	rc = 1;
unlink_tmp:
	unlink(ktmp);
	unlink(ctmp);
	if (rc == 1) {
		sync_dir(key_path);
		sync_dir(cert_path);
	}
out:
	explicit_bzero(&rng, sizeof(rng));
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(kbuf, sizeof(kbuf));
	explicit_bzero(&sk, sizeof(sk));
	explicit_bzero(keyder, sizeof(keyder));
	explicit_bzero(keypem, sizeof(keypem));
	free(cert);
	free(certpem);
	return rc;
}
