/*
 * x509_craft.h — hand-made DER certificates for the tests of the outbound
 * certificate engine (relay/tls_x509.c): a well-formed EC P-256 certificate
 * and malformed ones that once drove BearSSL's decoder past its failure
 * (public keys longer than BR_X509_BUFSIZE_KEY, bytes after the
 * DER inside the certificate entry, a wrong first tag followed by more
 * input). Header-only, used by tests/unit/tls_x509_test.c and
 * tests/tls/evil_smtp.c; never shipped. Nothing here is signed or valid:
 * the engine must fail before any signature matters.
 */
#ifndef MXGATE_X509_CRAFT_H
#define MXGATE_X509_CRAFT_H

#include <stdlib.h>
#include <string.h>

enum craft_kind {
	CRAFT_GOOD,		/* decodes: EC P-256 key of 65 bytes */
	CRAFT_BIG_KEY,		/* EC key BIT STRING of 4,000 bytes */
	CRAFT_HUGE_KEY,		/* EC key BIT STRING of 60,000 bytes */
	CRAFT_TRAILING,		/* a good certificate + 1,000 bytes after it */
	CRAFT_EARLY,		/* wrong outer tag, then 3,000 more bytes */
};

struct craft_buf {
	unsigned char	*p;
	size_t		 len;
};

static void
craft_put(struct craft_buf *b, const void *src, size_t n)
{
	unsigned char *q = realloc(b->p, b->len + n);

	if (q == NULL)
		abort();
	memcpy(q + b->len, src, n);
	b->p = q;
	b->len += n;
}

/* Wraps b in a DER tag + definite length (at most 0xFFFFFF octets). */
static void
craft_wrap(struct craft_buf *b, unsigned char tag)
{
	struct craft_buf o = { 0 };
	unsigned char h[5];
	size_t n = 0;

	h[n++] = tag;
	if (b->len < 0x80) {
		h[n++] = (unsigned char)b->len;
	} else if (b->len < 0x100) {
		h[n++] = 0x81;
		h[n++] = (unsigned char)b->len;
	} else if (b->len < 0x10000) {
		h[n++] = 0x82;
		h[n++] = (unsigned char)(b->len >> 8);
		h[n++] = (unsigned char)b->len;
	} else {
		h[n++] = 0x83;
		h[n++] = (unsigned char)(b->len >> 16);
		h[n++] = (unsigned char)(b->len >> 8);
		h[n++] = (unsigned char)b->len;
	}
	craft_put(&o, h, n);
	craft_put(&o, b->p, b->len);
	free(b->p);
	*b = o;
}

/* Appends tag + length + the n bytes at src. */
static void
craft_tlv(struct craft_buf *b, unsigned char tag, const void *src, size_t n)
{
	struct craft_buf t = { 0 };

	craft_put(&t, src, n);
	craft_wrap(&t, tag);
	craft_put(b, t.p, t.len);
	free(t.p);
}

static void
craft_name(struct craft_buf *b, const char *cn)
{
	static const unsigned char oid_cn[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
	struct craft_buf t = { 0 };

	craft_put(&t, oid_cn, sizeof(oid_cn));
	craft_tlv(&t, 0x0C, cn, strlen(cn));		/* UTF8String */
	craft_wrap(&t, 0x30);				/* AttributeTypeAndValue */
	craft_wrap(&t, 0x31);				/* RDN (SET) */
	craft_wrap(&t, 0x30);				/* Name */
	craft_put(b, t.p, t.len);
	free(t.p);
}

/*
 * Returns a malloc'ed certificate entry of the given kind in *out (its
 * length in *len): what a server would put in its Certificate message.
 */
static void
craft_cert(enum craft_kind kind, unsigned char **out, size_t *len)
{
	static const unsigned char version[] = { 0xA0, 0x03, 0x02, 0x01, 0x02 };
	static const unsigned char serial[] = { 0x02, 0x01, 0x01 };
	static const unsigned char sigalg[] = { 0x30, 0x0A, 0x06, 0x08, 0x2A,
	    0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02 };	/* ecdsa-with-SHA256 */
	static const unsigned char ecalg[] = { 0x30, 0x13,
	    0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
	    0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07 };
	static const unsigned char sig[] = { 0x00, 0x30, 0x06, 0x02, 0x01,
	    0x01, 0x02, 0x01, 0x01 };
	struct craft_buf c = { 0 }, spki = { 0 };
	size_t keylen = kind == CRAFT_BIG_KEY ? 4000 :
	    kind == CRAFT_HUGE_KEY ? 60000 : 65;
	unsigned char *key;

	if ((key = malloc(keylen + 1)) == NULL)
		abort();
	key[0] = 0x00;			/* BIT STRING: no unused bits */
	key[1] = 0x04;			/* uncompressed point */
	memset(key + 2, 0x41, keylen - 1);

	craft_put(&c, version, sizeof(version));
	craft_put(&c, serial, sizeof(serial));
	craft_put(&c, sigalg, sizeof(sigalg));
	craft_name(&c, "evil.test");
	craft_tlv(&c, 0x30, "\x17\x0D" "200101000000Z" "\x17\x0D"
	    "400101000000Z", 30);	/* Validity: two UTCTimes */
	craft_name(&c, "evil.test");
	craft_put(&spki, ecalg, sizeof(ecalg));
	craft_tlv(&spki, 0x03, key, keylen + 1);
	craft_wrap(&spki, 0x30);
	craft_put(&c, spki.p, spki.len);
	craft_wrap(&c, 0x30);		/* TBSCertificate */
	craft_put(&c, sigalg, sizeof(sigalg));
	craft_tlv(&c, 0x03, sig, sizeof(sig));
	craft_wrap(&c, 0x30);		/* Certificate */
	free(key);
	free(spki.p);

	if (kind == CRAFT_TRAILING) {
		unsigned char extra[1000];

		memset(extra, 0x30, sizeof(extra));
		craft_put(&c, extra, sizeof(extra));
	} else if (kind == CRAFT_EARLY) {
		unsigned char more[3000];

		c.p[0] = 0x31;		/* a SET where the SEQUENCE must be */
		memset(more, 0xFF, sizeof(more));
		craft_put(&c, more, sizeof(more));
	}
	*out = c.p;
	*len = c.len;
}

#endif
