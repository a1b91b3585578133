/*
 * queue_crypt_test.c — the queue's sealing glue (qcrypt.h): the RFC 8439
 * section 2.8.2 known-answer vector, tamper detection that hands back no
 * plaintext, randomness, and the appliance key file rules.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcrypt.h"
#include "tap.h"
#include "queue_util.h"


static const char plain[] = "Ladies and Gentlemen of the class of '99: If I "
    "could offer you only one tip for the future, sunscreen would be it.";
static const char cipher_hex[] =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116";

int
main(void)
{
	uint8_t key[32], nonce[12], aad[12], tag[16], want_tag[16];
	uint8_t buf[sizeof(plain)], want[sizeof(plain)], k2[32], k3[32];
	char path[700], err[256];
	struct stat st;
	size_t i, len = sizeof(plain) - 1;
	int fd, zero;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	tap_unhex("070000004041424344454647", nonce);
	tap_unhex("50515253c0c1c2c3c4c5c6c7", aad);
	tap_unhex("1ae10b594f09e26a7e902ecbd0600691", want_tag);
	tap_unhex(cipher_hex, want);

	memcpy(buf, plain, len);
	qcrypt_seal(key, nonce, aad, sizeof(aad), buf, len, tag);
	ok(memcmp(buf, want, len) == 0, "RFC 8439 2.8.2: ciphertext");
	ok(memcmp(tag, want_tag, 16) == 0, "RFC 8439 2.8.2: tag");
	is_int(qcrypt_open(key, nonce, aad, sizeof(aad), buf, len, tag), 0,
	    "open authenticates");
	ok(memcmp(buf, plain, len) == 0, "open restores the plaintext");

	qcrypt_seal(key, nonce, aad, sizeof(aad), buf, len, tag);
	buf[7] ^= 1;
	is_int(qcrypt_open(key, nonce, aad, sizeof(aad), buf, len, tag), -1,
	    "one flipped ciphertext bit: refused");
	for (zero = 1, i = 0; i < len; i++)
		if (buf[i] != 0)
			zero = 0;
	ok(zero, "refused data is wiped, not returned as garbage");
	memcpy(buf, plain, len);
	qcrypt_seal(key, nonce, aad, sizeof(aad), buf, len, tag);
	aad[0] ^= 1;
	is_int(qcrypt_open(key, nonce, aad, sizeof(aad), buf, len, tag), -1,
	    "changed associated data: refused");
	aad[0] ^= 1;
	key[0] ^= 1;
	is_int(qcrypt_open(key, nonce, aad, sizeof(aad), buf, len, tag), -1,
	    "wrong key: refused");
	key[0] ^= 1;

	memset(k2, 0, 32);
	memset(k3, 0, 32);
	ok(qcrypt_random(k2, 32) == 0 && qcrypt_random(k3, 32) == 0 &&
	    memcmp(k2, k3, 32) != 0, "random keys differ");
	ok(qcrypt_equal("abc", "abc", 3) && !qcrypt_equal("abc", "abd", 3),
	    "constant-time compare");

	tq_mkroot();
	snprintf(path, sizeof(path), "%s/k", tq_root);
	is_int(qcrypt_key_load(path, k2, err, sizeof(err)), 1,
	    "missing key file: 1");
	is_int(qcrypt_key_create(path, k2, err, sizeof(err)), 0, "create key");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	    st.st_size == 32, "key file: mode 0600, 32 bytes");
	ok(qcrypt_key_load(path, k3, err, sizeof(err)) == 0 &&
	    memcmp(k2, k3, 32) == 0, "key reads back");
	is_int(qcrypt_key_create(path, k3, err, sizeof(err)), -1,
	    "never overwrites an existing key");
	chmod(path, 0640);
	ok(qcrypt_key_load(path, k3, err, sizeof(err)) == -1 &&
	    strstr(err, "mode 0640") != NULL, "group-readable key refused");
	chmod(path, 0600);
	fd = open(path, O_WRONLY | O_APPEND);
	(void)!write(fd, "x", 1);
	close(fd);
	ok(qcrypt_key_load(path, k3, err, sizeof(err)) == -1 &&
	    strstr(err, "exactly 32") != NULL, "33-byte key refused");
	tq_rmtree(tq_root);
	return done_testing();
}
