/*
 * logseal.h — sealed log archives: a log file encrypted to the customer's
 * X25519 public key, so the appliance that wrote it cannot read it back
 * (only the holder of the private key can), with its time range, size and
 * SHA-256 authenticated inside.
 *
 * Format, version 1 (integers big-endian):
 *   "MXGLOG1\n"  eph[32]  u16 nlen  name[nlen]      the prefix
 *   records: u32 (len | final << 31)  ciphertext[len]  tag[16]
 * Each record is ChaCha20-Poly1305 under key = HKDF-SHA256(salt = eph ||
 * recipient, ikm = X25519(eph_priv, recipient), info "mxgate log archive
 * v1"), nonce = 0^4 || be64(record number), AAD = SHA-256(prefix) ||
 * final flag. Records hold at most LOGSEAL_RECORD bytes of the file; the
 * last one (final = 1) holds the trailer instead, text lines
 * "first=STAMP\nlast=STAMP\nsize=N\nsha256=HEX\n" (first and last are the
 * time stamps of the file's first and last lines, "" without one). So a
 * record cannot be changed, moved, dropped or added, nor the archive cut,
 * without open failing.
 *
 * Pure: buffers in, buffers out; the ephemeral key comes from the caller.
 * Never hands back plaintext of a record whose tag did not verify, nor a
 * whole file whose trailer does not match it (the caller gets an error and
 * must discard what it has).
 */
#ifndef MXGATE_LOGSEAL_H
#define MXGATE_LOGSEAL_H

#include <stddef.h>
#include <stdint.h>

#define LOGSEAL_KEY_LEN		32
#define LOGSEAL_RECORD		65536		/* file bytes per record */
#define LOGSEAL_NAME_MAX	255
#define LOGSEAL_MAX		(64u << 20)	/* largest file sealed */
#define LOGSEAL_STAMP_MAX	40

/* The archive's size for a file of len bytes named name. */
size_t logseal_size(size_t len, const char *name);

/* X25519: pub = priv * 9. */
void logseal_public(const uint8_t priv[LOGSEAL_KEY_LEN],
    uint8_t pub[LOGSEAL_KEY_LEN]);

/* Seals in (len bytes, at most LOGSEAL_MAX) as name for the recipient's
 * public key, with the ephemeral private key eph (32 random bytes) into
 * out (logseal_size() bytes). Returns the archive's length, or 0 when
 * an argument is out of bounds or the recipient key is unusable. */
size_t logseal_seal(const uint8_t recipient[LOGSEAL_KEY_LEN],
    const uint8_t eph[LOGSEAL_KEY_LEN], const char *name, const void *in,
    size_t len, uint8_t *out, size_t outsize);

struct logseal_info {
	char		name[LOGSEAL_NAME_MAX + 1];
	char		first[LOGSEAL_STAMP_MAX], last[LOGSEAL_STAMP_MAX];
	uint64_t	size;
	char		sha256[65];
};

/* Opens an archive (len bytes) with the private key into out (at least
 * len bytes): 0 with *outlen and info filled, or -1 with a reason in err
 * (not an archive, wrong key, altered, cut) — out must then be
 * discarded. */
int logseal_open(const uint8_t priv[LOGSEAL_KEY_LEN], const uint8_t *in,
    size_t len, uint8_t *out, size_t *outlen, struct logseal_info *info,
    char *err, size_t errlen);

#endif
