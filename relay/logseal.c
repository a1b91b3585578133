/*
 * logseal.c — see logseal.h. X25519 and HKDF from BearSSL, the AEAD from
 * qcrypt.c (the queue's ChaCha20-Poly1305); one function that seals, one
 * that opens, one place for the key schedule and the per-record AAD.
 */
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

#include "logseal.h"
#include "qcrypt.h"
#include "util.h"

#define MAGIC		"MXGLOG1\n"
#define MAGIC_LEN	8
#define HDR_LEN(nlen)	(MAGIC_LEN + LOGSEAL_KEY_LEN + 2 + (nlen))
#define REC_HDR		4
#define FINAL		0x80000000u
#define TRAILER_MAX	(4 * 16 + 2 * LOGSEAL_STAMP_MAX + 20 + 64)
#define INFO		"mxgate log archive v1"

size_t
logseal_size(size_t len, const char *name)
{
	size_t records = (len + LOGSEAL_RECORD - 1) / LOGSEAL_RECORD;

	return HDR_LEN(strlen(name)) + records * (REC_HDR + QCRYPT_TAG_LEN) +
	    len + REC_HDR + TRAILER_MAX + QCRYPT_TAG_LEN;
}

void
logseal_public(const uint8_t priv[LOGSEAL_KEY_LEN],
    uint8_t pub[LOGSEAL_KEY_LEN])
{
	const br_ec_impl *ec = &br_ec_c25519_m31;
	size_t glen;
	const unsigned char *g = ec->generator(BR_EC_curve25519, &glen);

	memcpy(pub, g, LOGSEAL_KEY_LEN);
	ec->mul(pub, LOGSEAL_KEY_LEN, priv, LOGSEAL_KEY_LEN, BR_EC_curve25519);
}

/* The record key from our private key and their public one; -1 when the
 * shared secret is all zero (a low-order point: an unusable key). */
static int
record_key(const uint8_t priv[LOGSEAL_KEY_LEN],
    const uint8_t peer[LOGSEAL_KEY_LEN], const uint8_t eph_pub[LOGSEAL_KEY_LEN],
    const uint8_t recipient[LOGSEAL_KEY_LEN], uint8_t key[QCRYPT_KEY_LEN])
{
	uint8_t shared[LOGSEAL_KEY_LEN], salt[2 * LOGSEAL_KEY_LEN], zero = 0;
	br_hkdf_context hc;
	size_t i;

	memcpy(shared, peer, LOGSEAL_KEY_LEN);
	br_ec_c25519_m31.mul(shared, LOGSEAL_KEY_LEN, priv, LOGSEAL_KEY_LEN,
	    BR_EC_curve25519);
	for (i = 0; i < LOGSEAL_KEY_LEN; i++)
		zero |= shared[i];
	if (zero == 0)
		return -1;
	memcpy(salt, eph_pub, LOGSEAL_KEY_LEN);
	memcpy(salt + LOGSEAL_KEY_LEN, recipient, LOGSEAL_KEY_LEN);
	br_hkdf_init(&hc, &br_sha256_vtable, salt, sizeof(salt));
	br_hkdf_inject(&hc, shared, sizeof(shared));
	br_hkdf_flip(&hc);
	br_hkdf_produce(&hc, INFO, sizeof(INFO) - 1, key, QCRYPT_KEY_LEN);
	qcrypt_wipe(shared, sizeof(shared));
	qcrypt_wipe(&hc, sizeof(hc));
	return 0;
}

/* Nonce and AAD of record n. */
static void
record_params(uint64_t n, int final, const uint8_t prefix_hash[32],
    uint8_t nonce[QCRYPT_NONCE_LEN], uint8_t aad[33])
{
	int i;

	memset(nonce, 0, QCRYPT_NONCE_LEN);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (56 - 8 * i));
	memcpy(aad, prefix_hash, 32);
	aad[32] = (uint8_t)final;
}

/* The time stamp a log line begins with ("2026-12-05T10:00:00+00:00",
 * s6-log's "2026-12-05T10:00:00.123456789"), else "". */
static void
line_stamp(const char *p, size_t n, char out[LOGSEAL_STAMP_MAX])
{
	size_t i = 0;

	out[0] = '\0';
	if (n < 10 || p[4] != '-' || p[7] != '-' || p[0] < '0' || p[0] > '9')
		return;
	while (i < n && i < LOGSEAL_STAMP_MAX - 1 && p[i] > ' ' && p[i] < 127)
		i++;
	memcpy(out, p, i);
	out[i] = '\0';
}

static void
file_stamps(const char *p, size_t len, char first[LOGSEAL_STAMP_MAX],
    char last[LOGSEAL_STAMP_MAX])
{
	size_t end = len, start;

	line_stamp(p, len, first);
	while (end > 0 && p[end - 1] == '\n')
		end--;
	for (start = end; start > 0 && p[start - 1] != '\n'; start--)
		;
	line_stamp(p + start, end - start, last);
}

size_t
logseal_seal(const uint8_t recipient[LOGSEAL_KEY_LEN],
    const uint8_t eph[LOGSEAL_KEY_LEN], const char *name, const void *in,
    size_t len, uint8_t *out, size_t outsize)
{
	const uint8_t *src = in;
	uint8_t eph_pub[LOGSEAL_KEY_LEN], key[QCRYPT_KEY_LEN], hash[32];
	uint8_t nonce[QCRYPT_NONCE_LEN], aad[33], digest[32];
	char trailer[TRAILER_MAX], first[LOGSEAL_STAMP_MAX];
	char last[LOGSEAL_STAMP_MAX], hex[65];
	size_t nlen = strlen(name), off, done = 0, chunk;
	br_sha256_context sc;
	uint64_t n = 0;
	int i, tl;

	if (nlen == 0 || nlen > LOGSEAL_NAME_MAX || len > LOGSEAL_MAX ||
	    outsize < logseal_size(len, name))
		return 0;
	logseal_public(eph, eph_pub);
	if (record_key(eph, recipient, eph_pub, recipient, key) != 0)
		return 0;
	memcpy(out, MAGIC, MAGIC_LEN);
	memcpy(out + MAGIC_LEN, eph_pub, LOGSEAL_KEY_LEN);
	out[MAGIC_LEN + LOGSEAL_KEY_LEN] = (uint8_t)(nlen >> 8);
	out[MAGIC_LEN + LOGSEAL_KEY_LEN + 1] = (uint8_t)nlen;
	memcpy(out + MAGIC_LEN + LOGSEAL_KEY_LEN + 2, name, nlen);
	off = HDR_LEN(nlen);
	br_sha256_init(&sc);
	br_sha256_update(&sc, out, off);
	br_sha256_out(&sc, hash);
	for (; done < len; done += chunk, n++) {
		chunk = len - done < LOGSEAL_RECORD ? len - done :
		    LOGSEAL_RECORD;
		be32_put(out + off, (uint32_t)chunk);
		memcpy(out + off + REC_HDR, src + done, chunk);
		record_params(n, 0, hash, nonce, aad);
		qcrypt_seal(key, nonce, aad, sizeof(aad), out + off + REC_HDR,
		    chunk, out + off + REC_HDR + chunk);
		off += REC_HDR + chunk + QCRYPT_TAG_LEN;
	}
	br_sha256_init(&sc);
	br_sha256_update(&sc, src, len);
	br_sha256_out(&sc, digest);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	file_stamps((const char *)src, len, first, last);
	tl = snprintf(trailer, sizeof(trailer), "first=%s\nlast=%s\nsize=%zu\n"
	    "sha256=%s\n", first, last, len, hex);
	be32_put(out + off, (uint32_t)tl | FINAL);
	memcpy(out + off + REC_HDR, trailer, (size_t)tl);
	record_params(n, 1, hash, nonce, aad);
	qcrypt_seal(key, nonce, aad, sizeof(aad), out + off + REC_HDR,
	    (size_t)tl, out + off + REC_HDR + (size_t)tl);
	off += REC_HDR + (size_t)tl + QCRYPT_TAG_LEN;
	qcrypt_wipe(key, sizeof(key));
	return off;
}

static int
fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

int
logseal_open(const uint8_t priv[LOGSEAL_KEY_LEN], const uint8_t *in,
    size_t len, uint8_t *out, size_t *outlen, struct logseal_info *info,
    char *err, size_t errlen)
{
	uint8_t pub[LOGSEAL_KEY_LEN], key[QCRYPT_KEY_LEN], hash[32];
	uint8_t nonce[QCRYPT_NONCE_LEN], aad[33], digest[32];
	char trailer[TRAILER_MAX + 1], size[24], hex[65];
	size_t nlen, off, done = 0;
	br_sha256_context sc;
	uint64_t n = 0;
	int i, final = 0;

	*outlen = 0;
	memset(info, 0, sizeof(*info));
	if (len < HDR_LEN(0) || memcmp(in, MAGIC, MAGIC_LEN) != 0)
		return fail(err, errlen, "not a sealed mxgate log archive");
	nlen = (size_t)in[MAGIC_LEN + LOGSEAL_KEY_LEN] << 8 |
	    in[MAGIC_LEN + LOGSEAL_KEY_LEN + 1];
	if (nlen == 0 || nlen > LOGSEAL_NAME_MAX || len < HDR_LEN(nlen))
		return fail(err, errlen, "archive header cut or malformed");
	memcpy(info->name, in + MAGIC_LEN + LOGSEAL_KEY_LEN + 2, nlen);
	info->name[nlen] = '\0';
	if (strlen(info->name) != nlen)
		return fail(err, errlen, "archive header malformed");
	logseal_public(priv, pub);
	if (record_key(priv, in + MAGIC_LEN, in + MAGIC_LEN, pub, key) != 0)
		return fail(err, errlen, "archive key unusable");
	off = HDR_LEN(nlen);
	br_sha256_init(&sc);
	br_sha256_update(&sc, in, off);
	br_sha256_out(&sc, hash);
	br_sha256_init(&sc);
	while (!final) {
		uint32_t h;
		size_t rl;

		if (len - off < REC_HDR + QCRYPT_TAG_LEN) {
			qcrypt_wipe(key, sizeof(key));
			return fail(err, errlen, "archive cut: no final record");
		}
		h = be32_get(in + off);
		final = (h & FINAL) != 0;
		rl = h & ~FINAL;
		if (rl > (final ? TRAILER_MAX : LOGSEAL_RECORD) ||
		    len - off - REC_HDR - QCRYPT_TAG_LEN < rl) {
			qcrypt_wipe(key, sizeof(key));
			return fail(err, errlen, "archive record malformed or cut");
		}
		record_params(n++, final, hash, nonce, aad);
		if (final) {
			memcpy(trailer, in + off + REC_HDR, rl);
			trailer[rl] = '\0';
		} else {
			memcpy(out + done, in + off + REC_HDR, rl);
		}
		if (qcrypt_open(key, nonce, aad, sizeof(aad), final ?
		    (void *)trailer : (void *)(out + done), rl,
		    in + off + REC_HDR + rl) != 0) {
			qcrypt_wipe(key, sizeof(key));
			qcrypt_wipe(out, done);
			return fail(err, errlen, "archive does not open with "
			    "this key, or was altered");
		}
		if (!final) {
			br_sha256_update(&sc, out + done, rl);
			done += rl;
		}
		off += REC_HDR + rl + QCRYPT_TAG_LEN;
	}
	qcrypt_wipe(key, sizeof(key));
	br_sha256_out(&sc, digest);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (off != len || kv_get(trailer, '\n', "sha256", info->sha256,
	    sizeof(info->sha256)) != 0 || kv_get(trailer, '\n', "size", size,
	    sizeof(size)) != 0 || kv_get(trailer, '\n', "first", info->first,
	    sizeof(info->first)) != 0 || kv_get(trailer, '\n', "last",
	    info->last, sizeof(info->last)) != 0 ||
	    strcmp(hex, info->sha256) != 0 ||
	    snprintf(hex, sizeof(hex), "%zu", done) < 0 || strcmp(hex, size)
	    != 0) {
		qcrypt_wipe(out, done);
		return fail(err, errlen, "archive content does not match its "
		    "trailer (size or SHA-256)");
	}
	info->size = done;
	*outlen = done;
	return 0;
}
