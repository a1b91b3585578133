/*
 * ctl_backup.c — `mxgatectl config export FILE` and `config import FILE`:
 * the whole configuration of an appliance as one file, for backup and
 * restore and for setting up a second appliance as an equal MX.
 *
 * What goes in: every file of the running configuration directory (as
 * `config show` lists them), the TLS certificate and key the
 * configuration resolves to when they are not in that directory (the pair
 * generated beside the queue), and the queue key. All of it is encrypted,
 * not only the secrets: ChaCha20-Poly1305 (qcrypt.c) under a key from the
 * passphrase by PBKDF2-HMAC-SHA256 (RFC 8018) with a random salt and the
 * iteration count in the clear header, which is the AEAD's associated
 * data. A wrong passphrase and a changed byte look the same: refused.
 *
 *   "MXGCONF1" salt[16] be32(iterations) nonce[12] ciphertext tag[16]
 *   plaintext: the entries of bundle.h (configuration files, the TLS
 *   certificate and key, the queue key).
 *
 * Import writes the configuration files into the candidate (which then
 * holds exactly them: `config diff`, then `config commit`), the TLS pair
 * to the paths the running configuration resolves to (the previous files
 * kept as FILE.before-import), and the queue key only where there is none
 * yet (a queue key is never replaced: messages queued under it would be
 * lost). Both are audited; the passphrase never appears anywhere.
 *
 * The passphrase comes from --passphrase-file FILE (its first line) or
 * is asked on the terminal (twice for export), echo off; at least 12
 * characters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <bearssl.h>

#include "bundle.h"
#include "ctl.h"
#include "qcrypt.h"
#include "queue.h"
#include "util.h"

#define MAGIC		"MXGCONF1"
#define MAGIC_LEN	8
#define SALT_LEN	16
#define HDR_LEN		(MAGIC_LEN + SALT_LEN + 4 + QCRYPT_NONCE_LEN)
#define ITERATIONS	1000000
#define ITER_MIN	10000
#define ITER_MAX	10000000
#define PASS_MIN	12
#define PASS_MAX	1024
#define BUNDLE_MAX	(256u << 20)

/* --- the passphrase and its key ---------------------------------------- */

/* PBKDF2-HMAC-SHA256 (RFC 8018 5.2), one block: 32 bytes. */
static void
pbkdf2_sha256(const char *pass, const uint8_t *salt, size_t saltlen,
    uint32_t iter, uint8_t out[32])
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	uint8_t u[32], one[4] = { 0, 0, 0, 1 };
	uint32_t i;
	int j;

	br_hmac_key_init(&kc, &br_sha256_vtable, pass, strlen(pass));
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, saltlen);
	br_hmac_update(&hc, one, 4);
	br_hmac_out(&hc, u);
	memcpy(out, u, 32);
	for (i = 1; i < iter; i++) {
		br_hmac_init(&hc, &kc, 0);
		br_hmac_update(&hc, u, 32);
		br_hmac_out(&hc, u);
		for (j = 0; j < 32; j++)
			out[j] ^= u[j];
	}
	qcrypt_wipe(u, sizeof(u));
	qcrypt_wipe(&kc, sizeof(kc));
	qcrypt_wipe(&hc, sizeof(hc));
}

/* One line from the terminal, echo off. 0, or -1. */
static int
ask(const char *prompt, char *out, size_t size)
{
	struct termios t, quiet;
	FILE *tty = fopen("/dev/tty", "r+e");
	int rc = -1;

	if (tty == NULL)
		return -1;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &t) == 0) {
		quiet = t;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
		if (fgets(out, (int)size, tty) != NULL)
			rc = 0;
		tcsetattr(fileno(tty), TCSAFLUSH, &t);
		fputc('\n', tty);
	}
	fclose(tty);
	out[strcspn(out, "\r\n")] = '\0';
	return rc;
}

/* The passphrase, from file (its first line) or the terminal. */
static int
passphrase(const char *file, int twice, char pass[PASS_MAX])
{
	char again[PASS_MAX];

	if (file != NULL) {
		FILE *f = fopen(file, "re");

		if (f == NULL || fgets(pass, PASS_MAX, f) == NULL) {
			fprintf(stderr, "mxgatectl: %s: %s\n", file,
			    f ? "empty" : strerror(errno));
			if (f)
				fclose(f);
			return -1;
		}
		fclose(f);
		pass[strcspn(pass, "\r\n")] = '\0';
	} else if (ask("Passphrase: ", pass, PASS_MAX) != 0) {
		fprintf(stderr, "mxgatectl: no terminal to ask the passphrase "
		    "on: give --passphrase-file FILE\n");
		return -1;
	} else if (twice) {
		if (ask("The same again: ", again, sizeof(again)) != 0 ||
		    strcmp(pass, again) != 0) {
			qcrypt_wipe(again, sizeof(again));
			fprintf(stderr, "mxgatectl: the passphrases differ\n");
			return -1;
		}
		qcrypt_wipe(again, sizeof(again));
	}
	if (strlen(pass) < PASS_MIN) {
		fprintf(stderr, "mxgatectl: a passphrase has at least %d "
		    "characters\n", PASS_MIN);
		qcrypt_wipe(pass, PASS_MAX);
		return -1;
	}
	return 0;
}

/* --- the bundle ----------------------------------------------------------- */

/* Adds a file as an entry; -1 (said) when it cannot be read. */
static int
add_file(struct bundle *b, char kind, const char *name, const char *path)
{
	struct stat st;
	size_t len, n = strlen(name);
	char *data;
	int rc;

	if (stat(path, &st) != 0 || (data = ctl_read_file(path, &len)) ==
	    NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	rc = bundle_add(b, kind, name, (uint32_t)(st.st_mode & 0777), data,
	    len);
	if (rc != 0)
		fprintf(stderr, "mxgatectl: %s: cannot be exported (name of "
		    "%zu bytes, or more than %u bytes)\n", path, n,
		    BUNDLE_ENTRY_MAX);
	qcrypt_wipe(data, len);
	free(data);
	return rc;
}

/* "export|import FILE [--passphrase-file PASSFILE]"; -1 (said) else. */
static int
args(int argc, char **argv, const char **file, const char **passfile)
{
	int i;

	*file = *passfile = NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc)
			*passfile = argv[++i];
		else if (*file == NULL && argv[i][0] != '-')
			*file = argv[i];
		else
			break;
	}
	if (*file != NULL && i == argc)
		return 0;
	fprintf(stderr, "usage: mxgatectl config %s FILE [--passphrase-file "
	    "FILE]\n", argv[0]);
	return -1;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int
in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/' &&
	    strchr(path + n + 1, '/') == NULL;
}

int
ctl_config_export(struct ctl *c, int argc, char **argv)
{
	struct config *cf;
	struct bundle b = { NULL, 0, 0 };
	char pass[PASS_MAX], dir[CONF_PATH_MAX], keyfile[CONF_PATH_MAX];
	char run[PATH_MAX], result[128], path[PATH_MAX];
	const char *file = NULL, *passfile = NULL;
	uint8_t hdr[HDR_LEN], key[QCRYPT_KEY_LEN], tag[QCRYPT_TAG_LEN];
	struct dirent *e;
	DIR *d;
	int n = 0, nconf = 0, tls = 0, qkey = 0, rc = 0, fd;

	if (args(argc, argv, &file, &passfile) != 0)
		return EXIT_PERM;
	cf = ctl_config(c);
	ctl_audit_open(c);
	/* the running directory, as `config show --running` reads it */
	snprintf(path, sizeof(path), "%s", c->config_path);
	if (ctl_config_file(c, path, 0, NULL, run, sizeof(run)) != 0) {
		ctl_audit(c, "config.export", file, "error");
		return EXIT_PERM;
	}
	*strrchr(run, '/') = '\0';
	str_copy(dir, run, sizeof(dir));
	if (passphrase(passfile, 1, pass) != 0) {
		ctl_audit(c, "config.export", file, "refused: passphrase");
		return EXIT_PERM;
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", dir, strerror(errno));
		rc = -1;
	}
	while (d != NULL && (e = readdir(d)) != NULL && rc == 0) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || lstat(path, &st) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		rc = add_file(&b, 'C', e->d_name, path);
		n++;
		nconf++;
	}
	if (d != NULL)
		closedir(d);
	/* the TLS pair and the queue key, when they live elsewhere (a pair
	 * in the configuration directory came with it above) */
	str_copy(path, c->config_path, sizeof(path));
	if (strrchr(path, '/') != NULL)
		*strrchr(path, '/') = '\0';
	if (rc == 0 && !in_dir(cf->tls_cert, dir) && !in_dir(cf->tls_cert,
	    path) && access(cf->tls_cert, R_OK) == 0) {
		rc = add_file(&b, 'T', base_name(cf->tls_cert), cf->tls_cert);
		if (rc == 0)
			rc = add_file(&b, 'K', base_name(cf->tls_key),
			    cf->tls_key);
		n += 2;
		tls = 1;
	}
	if (c->key_path != NULL)
		str_copy(keyfile, c->key_path, sizeof(keyfile));
	else
		queue_default_keyfile(cf->queue_dir, keyfile, sizeof(keyfile));
	if (rc == 0 && access(keyfile, R_OK) == 0) {
		rc = add_file(&b, 'Q', base_name(keyfile), keyfile);
		n++;
		qkey = 1;
	}
	/* seal it */
	memcpy(hdr, MAGIC, MAGIC_LEN);
	be32_put(hdr + MAGIC_LEN + SALT_LEN, ITERATIONS);
	if (rc == 0 && (qcrypt_random(hdr + MAGIC_LEN, SALT_LEN) != 0 ||
	    qcrypt_random(hdr + MAGIC_LEN + SALT_LEN + 4, QCRYPT_NONCE_LEN)
	    != 0))
		rc = -1;
	if (rc == 0) {
		pbkdf2_sha256(pass, hdr + MAGIC_LEN, SALT_LEN, ITERATIONS, key);
		qcrypt_seal(key, hdr + MAGIC_LEN + SALT_LEN + 4, hdr, HDR_LEN,
		    b.p, b.len, tag);
		qcrypt_wipe(key, sizeof(key));
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0 || write_all(fd, hdr, HDR_LEN) != 0 ||
		    write_all(fd, b.p, b.len) != 0 ||
		    write_all(fd, tag, sizeof(tag)) != 0 || fsync(fd) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", file,
			    strerror(errno));
			rc = -1;
		}
		if (fd >= 0)
			close(fd);
	}
	qcrypt_wipe(pass, sizeof(pass));
	bundle_free(&b);
	snprintf(result, sizeof(result), "%s files=%d", rc == 0 ? "ok" :
	    "error", n);
	ctl_audit(c, "config.export", file, result);
	if (rc == 0)
		printf("%s: %d files: %d of the configuration, %s, %s; "
		    "encrypted under the passphrase\n", file, n, nconf,
		    tls ? "the TLS pair" : "no TLS pair (none outside the "
		    "configuration)", qkey ? "the queue key" : "no queue key "
		    "(none yet)");
	return rc == 0 ? EXIT_OK : EXIT_TEMP;
}

/* --- import ------------------------------------------------------------- */

/* Makes the directory a file goes into (its parent must exist), 0700. */
static void
make_parent(const char *path)
{
	char dir[PATH_MAX];

	str_copy(dir, path, sizeof(dir));
	if (strrchr(dir, '/') != NULL) {
		*strrchr(dir, '/') = '\0';
		(void)mkdir(dir, 0700);
	}
}

/* Installs a file outside the configuration: the old one kept as
 * path.before-import. */
static int
install_aside(const char *path, const struct bundle_entry *x)
{
	char old[PATH_MAX];

	make_parent(path);
	snprintf(old, sizeof(old), "%s.before-import", path);
	if (access(path, F_OK) == 0 && rename(path, old) != 0)
		return -1;
	return ctl_write_file(path, (const char *)x->data, x->len,
	    x->mode ? x->mode : 0600);
}

int
ctl_config_import(struct ctl *c, int argc, char **argv)
{
	struct config *cf;
	struct bundle_entry *ents;
	char pass[PASS_MAX], cand[PATH_MAX], run[PATH_MAX];
	char path[PATH_MAX + NAME_MAX + 2];
	char keyfile[CONF_PATH_MAX], result[160], *data;
	const char *file = NULL, *passfile = NULL;
	uint8_t key[QCRYPT_KEY_LEN];
	uint32_t iter;
	size_t len, plen;
	int i, n = 0, nconf = 0, rc = 0;
	const char *qnote = "none in the file";

	if (args(argc, argv, &file, &passfile) != 0)
		return EXIT_PERM;
	cf = ctl_config(c);
	ctl_audit_open(c);
	if ((data = ctl_read_file(file, &len)) == NULL || len > BUNDLE_MAX ||
	    len < HDR_LEN + QCRYPT_TAG_LEN || memcmp(data, MAGIC,
	    MAGIC_LEN) != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", file, data == NULL ?
		    strerror(errno) : "not a configuration export");
		free(data);
		ctl_audit(c, "config.import", file, "refused: not an export");
		return EXIT_PERM;
	}
	iter = be32_get((uint8_t *)data + MAGIC_LEN + SALT_LEN);
	if (iter < ITER_MIN || iter > ITER_MAX ||
	    passphrase(passfile, 0, pass) != 0) {
		if (iter < ITER_MIN || iter > ITER_MAX)
			fprintf(stderr, "mxgatectl: %s: not a configuration "
			    "export\n", file);
		free(data);
		ctl_audit(c, "config.import", file, "refused");
		return EXIT_PERM;
	}
	pbkdf2_sha256(pass, (uint8_t *)data + MAGIC_LEN, SALT_LEN, iter, key);
	qcrypt_wipe(pass, sizeof(pass));
	plen = len - HDR_LEN - QCRYPT_TAG_LEN;
	ents = xcalloc(BUNDLE_ENTRIES_MAX, sizeof(*ents));
	if (qcrypt_open(key, (uint8_t *)data + MAGIC_LEN + SALT_LEN + 4, data,
	    HDR_LEN, data + HDR_LEN, plen, (uint8_t *)data + HDR_LEN + plen)
	    != 0 || bundle_parse((uint8_t *)data + HDR_LEN, plen, ents,
	    BUNDLE_ENTRIES_MAX, &n)
	    != 0) {
		qcrypt_wipe(key, sizeof(key));
		fprintf(stderr, "mxgatectl: %s: wrong passphrase, or the file "
		    "was changed: nothing imported\n", file);
		qcrypt_wipe(data, len);
		free(data);
		free(ents);
		ctl_audit(c, "config.import", file, "refused: does not open");
		return EXIT_PERM;
	}
	qcrypt_wipe(key, sizeof(key));
	for (i = 0; i < n; i++)
		nconf += ents[i].kind == 'C';
	if (nconf == 0) {
		fprintf(stderr, "mxgatectl: %s: holds no configuration file\n",
		    file);
		rc = -1;
	}
	/* the candidate holds exactly the imported configuration files */
	if (rc == 0 && ctl_config_file(c, c->config_path, 1, cand, run,
	    sizeof(cand)) != 0)
		rc = -1;
	if (rc == 0) {
		DIR *d;
		struct dirent *de;

		*strrchr(cand, '/') = '\0';
		if ((d = opendir(cand)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				int keep = de->d_name[0] == '.';

				for (i = 0; i < n && !keep; i++)
					keep = ents[i].kind == 'C' &&
					    strcmp(ents[i].name, de->d_name) == 0;
				if (!keep && (size_t)snprintf(path, sizeof(path),
				    "%s/%s", cand, de->d_name) < sizeof(path))
					unlink(path);
			}
			closedir(d);
		}
		for (i = 0; i < n && rc == 0; i++) {
			if (ents[i].kind != 'C')
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", cand,
			    ents[i].name) >= sizeof(path) ||
			    ctl_write_file(path, (const char *)ents[i].data,
			    ents[i].len, ents[i].mode ? ents[i].mode : 0640)
			    != 0) {
				fprintf(stderr, "mxgatectl: %s: %s\n", path,
				    strerror(errno));
				rc = -1;
			}
		}
	}
	/* the TLS pair where the running configuration looks for it; the
	 * queue key only where there is none */
	if (c->key_path != NULL)
		str_copy(keyfile, c->key_path, sizeof(keyfile));
	else
		queue_default_keyfile(cf->queue_dir, keyfile, sizeof(keyfile));
	for (i = 0; i < n && rc == 0; i++) {
		const char *dst = ents[i].kind == 'T' ? cf->tls_cert :
		    ents[i].kind == 'K' ? cf->tls_key : NULL;

		if (dst != NULL && install_aside(dst, &ents[i]) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", dst,
			    strerror(errno));
			rc = -1;
		}
		if (ents[i].kind == 'Q') {
			char *cur;
			size_t cl;

			if ((cur = ctl_read_file(keyfile, &cl)) == NULL) {
				make_parent(keyfile);
				qnote = ctl_write_file(keyfile, (const char *)
				    ents[i].data, ents[i].len, 0600) == 0 ?
				    "installed" : "could not be installed";
			} else {
				qnote = cl == ents[i].len && qcrypt_equal(cur,
				    ents[i].data, cl) ? "the same as here" :
				    "kept this appliance's (a queue key is "
				    "never replaced)";
				qcrypt_wipe(cur, cl);
				free(cur);
			}
		}
	}
	qcrypt_wipe(data, len);
	free(data);
	free(ents);
	snprintf(result, sizeof(result), "%s files=%d queue_key=%.40s",
	    rc == 0 ? "ok" : "error", n, qnote);
	ctl_audit(c, "config.import", file, result);
	if (rc != 0)
		return EXIT_TEMP;
	printf("imported %d configuration file(s) into the candidate; queue "
	    "key: %s.\nReview with `mxgatectl config diff`, apply with "
	    "`mxgatectl config commit`.\n", nconf, qnote);
	return EXIT_OK;
}
