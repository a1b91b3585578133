/*
 * qcrypt.h — sealing for the outage queue: ChaCha20-Poly1305 (RFC 8439,
 * BearSSL's public API only), random keys and nonces from getrandom(2),
 * and the appliance key file that wraps every per-message key.
 *
 * Owns: the AEAD glue and the key file format (exactly QCRYPT_KEY_LEN raw
 * bytes, a regular file, mode 0600 or stricter, owned by the caller or
 * root). Never: logs key material, returns plaintext whose tag did not
 * verify, or leaves a key in a buffer it allocated.
 */
#ifndef MXGATE_QCRYPT_H
#define MXGATE_QCRYPT_H

#include <stddef.h>
#include <stdint.h>

#define QCRYPT_KEY_LEN		32
#define QCRYPT_NONCE_LEN	12
#define QCRYPT_TAG_LEN		16

/* Fills buf with len bytes from the kernel CSPRNG (getrandom(2), falling
 * back to /dev/urandom). 0 ok, -1 with errno set. */
int qcrypt_random(void *buf, size_t len);

/* Encrypts data (len bytes) in place and writes the tag. aad may be NULL
 * when aadlen is 0. A (key, nonce) pair must never be used twice. */
void qcrypt_seal(const uint8_t key[QCRYPT_KEY_LEN],
    const uint8_t nonce[QCRYPT_NONCE_LEN], const void *aad, size_t aadlen,
    void *data, size_t len, uint8_t tag[QCRYPT_TAG_LEN]);

/* Checks the tag and decrypts data in place: 0 ok; -1 authentication
 * failure, in which case data is wiped (no unauthenticated plaintext is
 * ever handed back). */
int qcrypt_open(const uint8_t key[QCRYPT_KEY_LEN],
    const uint8_t nonce[QCRYPT_NONCE_LEN], const void *aad, size_t aadlen,
    void *data, size_t len, const uint8_t tag[QCRYPT_TAG_LEN]);

/* Zeroes memory in a way the compiler may not remove. */
void qcrypt_wipe(void *p, size_t len);

/* Constant-time comparison: 1 equal, 0 different. */
int qcrypt_equal(const void *a, const void *b, size_t len);

/* Reads the appliance key. 0 ok; 1 the file does not exist; -1 any other
 * problem (wrong size, not a regular file, readable by group or others,
 * foreign owner, I/O) with a reason in err. */
int qcrypt_key_load(const char *path, uint8_t key[QCRYPT_KEY_LEN],
    char *err, size_t errlen);

/* Creates a new random appliance key at path (O_EXCL, mode 0600), fsyncs
 * the file and its directory. 0 ok, -1 with a reason in err. */
int qcrypt_key_create(const char *path, uint8_t key[QCRYPT_KEY_LEN],
    char *err, size_t errlen);

#endif
