/*
 * shacrypt.c — see shacrypt.h. Follows the specification's steps in its
 * order; the names (a, b, p, s, alt) are its names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bearssl.h"
#include "shacrypt.h"

#define ROUNDS_DEFAULT	5000
#define ROUNDS_MIN	1000
#define ROUNDS_MAX	999999999UL
#define SALT_MAX	16

static const char b64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* n bytes made of repeated 64-byte digests of src repeated times */
static void
repeat_digest(const unsigned char *src, size_t len, size_t times,
    unsigned char *out, size_t n)
{
	br_sha512_context c;
	unsigned char d[64];
	size_t i;

	br_sha512_init(&c);
	for (i = 0; i < times; i++)
		br_sha512_update(&c, src, len);
	br_sha512_out(&c, d);
	for (i = 0; i < n; i++)
		out[i] = d[i % 64];
}

int
shacrypt(const char *key, const char *setting, char out[SHACRYPT_MAX])
{
	br_sha512_context c;
	unsigned char a[64], b[64], *p = NULL, s[SALT_MAX];
	const char *salt;
	unsigned long rounds = ROUNDS_DEFAULT, i;
	size_t kl = strlen(key), sl, cnt, o;
	int custom = 0, k;

	if (strncmp(setting, "$6$", 3) != 0)
		return -1;
	salt = setting + 3;
	if (strncmp(salt, "rounds=", 7) == 0) {
		char *end;
		if (salt[7] < '0' || salt[7] > '9')
			return -1;
		rounds = strtoul(salt + 7, &end, 10);
		if (*end != '$')
			return -1;
		rounds = rounds < ROUNDS_MIN ? ROUNDS_MIN :
		    rounds > ROUNDS_MAX ? ROUNDS_MAX : rounds;
		salt = end + 1;
		custom = 1;
	}
	for (sl = 0; sl < SALT_MAX && salt[sl] != '\0' && salt[sl] != '$'; sl++)
		;
	for (cnt = 0; cnt < sl; cnt++)
		if (salt[cnt] == ':' || salt[cnt] == '\n')
			return -1;	/* would break the shadow line */
	if ((p = malloc(kl + 1)) == NULL)
		return -1;

	/* B = SHA512(key salt key) */
	br_sha512_init(&c);
	br_sha512_update(&c, key, kl);
	br_sha512_update(&c, salt, sl);
	br_sha512_update(&c, key, kl);
	br_sha512_out(&c, b);
	/* A = SHA512(key salt B-for-each-key-byte, then by the bits of
	 * the key's length: B for a one, the key for a zero) */
	br_sha512_init(&c);
	br_sha512_update(&c, key, kl);
	br_sha512_update(&c, salt, sl);
	for (cnt = kl; cnt > 64; cnt -= 64)
		br_sha512_update(&c, b, 64);
	br_sha512_update(&c, b, cnt);
	for (cnt = kl; cnt > 0; cnt >>= 1)
		if (cnt & 1)
			br_sha512_update(&c, b, 64);
		else
			br_sha512_update(&c, key, kl);
	br_sha512_out(&c, a);
	/* P from the key repeated kl times, S from the salt 16 + A[0] */
	repeat_digest((const unsigned char *)key, kl, kl, p, kl);
	repeat_digest((const unsigned char *)salt, sl, 16 + (size_t)a[0], s,
	    sl);
	for (i = 0; i < rounds; i++) {
		br_sha512_init(&c);
		if (i & 1)
			br_sha512_update(&c, p, kl);
		else
			br_sha512_update(&c, a, 64);
		if (i % 3 != 0)
			br_sha512_update(&c, s, sl);
		if (i % 7 != 0)
			br_sha512_update(&c, p, kl);
		if (i & 1)
			br_sha512_update(&c, a, 64);
		else
			br_sha512_update(&c, p, kl);
		br_sha512_out(&c, a);
	}
	memset(p, 0, kl);
	free(p);

	o = 0;
	memcpy(out, "$6$", 3);
	o = 3;
	if (custom) {
		int n = 0;
		char num[24];
		unsigned long r = rounds;
		do
			num[n++] = (char)('0' + r % 10);
		while ((r /= 10) != 0);
		memcpy(out + o, "rounds=", 7);
		o += 7;
		while (n > 0)
			out[o++] = num[--n];
		out[o++] = '$';
	}
	memcpy(out + o, salt, sl);
	o += sl;
	out[o++] = '$';
	/* 21 groups of three bytes (i, i+21, i+42 rotated by i mod 3),
	 * four characters each, then the last byte in two */
	for (k = 0; k < 21; k++) {
		unsigned char t[3] = { a[k], a[k + 21], a[k + 42] };
		int r = k % 3;
		uint32_t w = (uint32_t)t[r] << 16 |
		    (uint32_t)t[(r + 1) % 3] << 8 | t[(r + 2) % 3];
		for (cnt = 0; cnt < 4; cnt++, w >>= 6)
			out[o++] = b64[w & 0x3f];
	}
	out[o++] = b64[a[63] & 0x3f];
	out[o++] = b64[a[63] >> 6];
	out[o] = '\0';
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(s, 0, sizeof(s));
	return 0;
}
