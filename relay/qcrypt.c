/*
 * qcrypt.c — see qcrypt.h. ChaCha20-Poly1305 through BearSSL's public
 * bearssl.h, the kernel CSPRNG, and the appliance key file.
 *
 * Never: prints or logs key bytes; keeps a copy of a key it read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bearssl.h>

#include "qcrypt.h"

int
qcrypt_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	int fd, tries;

	for (tries = 0; len > 0 && tries < 64; tries++) {
		ssize_t n = getrandom(p, len > 256 ? 256 : len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;		/* ENOSYS: try /dev/urandom */
		}
		p += n;
		len -= (size_t)n;
		tries = 0;
	}
	if (len == 0)
		return 0;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (tries = 0; len > 0 && tries < 64; tries++) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	close(fd);
	if (len != 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

void
qcrypt_wipe(void *p, size_t len)
{
	volatile unsigned char *v = p;

	while (len-- > 0)
		*v++ = 0;
}

int
qcrypt_equal(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static br_chacha20_run
chacha(void)
{
	br_chacha20_run f = br_chacha20_sse2_get();

	return f != 0 ? f : br_chacha20_ct_run;
}

void
qcrypt_seal(const uint8_t key[QCRYPT_KEY_LEN],
    const uint8_t nonce[QCRYPT_NONCE_LEN], const void *aad, size_t aadlen,
    void *data, size_t len, uint8_t tag[QCRYPT_TAG_LEN])
{
	br_poly1305_ctmul_run(key, nonce, data, len, aad, aadlen, tag,
	    chacha(), 1);
}

int
qcrypt_open(const uint8_t key[QCRYPT_KEY_LEN],
    const uint8_t nonce[QCRYPT_NONCE_LEN], const void *aad, size_t aadlen,
    void *data, size_t len, const uint8_t tag[QCRYPT_TAG_LEN])
{
	uint8_t calc[QCRYPT_TAG_LEN];
	int good;

	/* BearSSL computes the tag over the ciphertext, then decrypts. */
	br_poly1305_ctmul_run(key, nonce, data, len, aad, aadlen, calc,
	    chacha(), 0);
	good = qcrypt_equal(calc, tag, QCRYPT_TAG_LEN);
	qcrypt_wipe(calc, sizeof(calc));
	if (!good) {
		qcrypt_wipe(data, len);
		return -1;
	}
	return 0;
}

int
qcrypt_key_load(const char *path, uint8_t key[QCRYPT_KEY_LEN],
    char *err, size_t errlen)
{
	struct stat st;
	uint8_t buf[QCRYPT_KEY_LEN + 1];
	size_t got = 0;
	int fd, tries;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o: the queue key must not "
		    "be accessible to group or others (chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, errlen, "%s: owned by uid %u, not by us or root",
		    path, (unsigned)st.st_uid);
		close(fd);
		return -1;
	}
	/* Read one byte more than a key to detect a longer file. */
	for (tries = 0; got < sizeof(buf) && tries < 64; tries++) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			qcrypt_wipe(buf, sizeof(buf));
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != QCRYPT_KEY_LEN) {
		snprintf(err, errlen, "%s: a queue key is exactly %d bytes",
		    path, QCRYPT_KEY_LEN);
		qcrypt_wipe(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, QCRYPT_KEY_LEN);
	qcrypt_wipe(buf, sizeof(buf));
	return 0;
}

/* fsync the directory holding path so a new name survives power loss. */
static int
sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc;

	if (slash == NULL)
		return 0;		/* current directory: best effort */
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
qcrypt_key_create(const char *path, uint8_t key[QCRYPT_KEY_LEN],
    char *err, size_t errlen)
{
	ssize_t n;
	int fd;

	if (qcrypt_random(key, QCRYPT_KEY_LEN) != 0) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	do
		n = write(fd, key, QCRYPT_KEY_LEN);
	while (n < 0 && errno == EINTR);
	if (n != QCRYPT_KEY_LEN || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", path,
		    n >= 0 && n != QCRYPT_KEY_LEN ? "short write" :
		    strerror(errno));
		close(fd);
		unlink(path);
		goto fail;
	}
	if (close(fd) != 0 || sync_parent(path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	return 0;
fail:
	qcrypt_wipe(key, QCRYPT_KEY_LEN);
	return -1;
}
