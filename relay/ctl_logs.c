/*
 * ctl_logs.c — mxgatectl logs: find every line of a message in the
 * relay's clear-text logs, and hand the logs over (the off-boarding
 * export). Reads the log directory (default /data/log, as init/logger
 * writes it: one directory per service, s6-log's rotated "@TAI64N.s" files
 * then "current"); never writes there.
 *
 *   logs search QUEUEID|MESSAGE-ID|ADDRESS [--since T] [--until T]
 *               [--dir DIR] [--key PRIVATE.pem]
 *   logs export DEST [--since T] [--until T] [--dir DIR]
 *   logs keygen PRIVATE.pem PUBLIC.pem
 *   logs seal FILE ARCHIVE --key PUBLIC.pem
 *   logs open ARCHIVE OUT --key PRIVATE.pem
 *
 * Search is two passes over the relay's log ("mxgate/"), oldest file
 * first: the first collects the queue ids of the lines that name the key
 * (the id itself, "message-id=<ID>", or "<ADDRESS>" — an address case-
 * insensitively), the second prints every line of those ids, and the
 * lines that name the key without an id (NOQUEUE rejects), in order;
 * with --key, the sealed archives (DIR/archive/mxgate/, opened in
 * memory, never written out) come first.
 * T is a prefix of a line's time stamp, "YYYY-MM-DD[THH[:MM[:SS]]]" (UTC):
 * --since keeps lines at or after it, --until lines up to the end of it.
 *
 * Export copies every log file (archives too) whose lines may fall in the
 * window, and the audit trail, into DEST/mxgate-logs-HOST-TIME/ with a
 * SHA256SUMS manifest; DEST must exist (a mounted stick, a directory),
 * the export directory must not. Both are audited: who looked up what is
 * part of the trail.
 *
 * keygen, seal and open are the sealed archives (logseal.h) and their
 * X25519 keys, in the PEM forms OpenSSL writes and reads (PKCS#8 "PRIVATE
 * KEY", SubjectPublicKeyInfo "PUBLIC KEY", OID 1.3.101.110). keygen and
 * open run on the admin's workstation too (the binary is static); seal is
 * what the appliance's log retention runs.
 */
#define _GNU_SOURCE		/* strcasestr */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "ctl.h"
#include "logseal.h"
#include "qcrypt.h"
#include "tls.h"
#include "tls_int.h"
#include "util.h"

#define LOGS_FILES_MAX		4096	/* files per service directory */
#define LOGS_IDS_MAX		100000	/* queue ids one search follows */
#define LOGS_QID_MIN		10
#define LOGS_QID_MAX		18

struct window {
	const char	*since, *until;		/* time-stamp prefixes, or NULL */
};

/* "YYYY-MM-DD", optionally "THH", ":MM", ":SS": a prefix of our stamps. */
static int
stamp_prefix_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t n = strlen(t), i;

	if (n != 10 && n != 13 && n != 16 && n != 19)
		return 0;
	for (i = 0; i < n; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)t[i]) :
		    t[i] != shape[i])
			return 0;
	return 1;
}

/* Whether a line (or a file whose lines run from first to last) falls in
 * the window; lines without a stamp are kept. */
static int
in_window(const struct window *w, const char *first, const char *last)
{
	if (w->since != NULL && !isdigit((unsigned char)last[0]))
		return 1;
	if (w->since != NULL && strncmp(last, w->since, strlen(w->since)) < 0)
		return 0;
	if (w->until != NULL && isdigit((unsigned char)first[0]) &&
	    strncmp(first, w->until, strlen(w->until)) > 0)
		return 0;
	return 1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files of one service's log directory, oldest first: "@*" (rotated,
 * by name: TAI64N sorts by time), then "current". n, or -1. */
static int
log_files(const char *dir, char **out, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0, cur = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL && n < max - 1) {
		if (e->d_name[0] == '@')
			out[n++] = xstrdup(e->d_name);
		else if (strcmp(e->d_name, "current") == 0)
			cur = 1;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof(*out), name_cmp);
	if (cur)
		out[n++] = xstrdup("current");
	return n;
}

/* --- search ------------------------------------------------------------- */

struct search {
	struct window	 w;
	char		 key[512];	/* "<addr>", "message-id=<id>", or
					   the queue id */
	int		 key_is_addr;
	char		(*ids)[LOGS_QID_MAX + 1];
	size_t		 nids;
	int		 ids_full;
	unsigned long	 printed;
	int		 have_key;	/* --key: sealed archives too */
	uint8_t		 priv[LOGSEAL_KEY_LEN];
	const char	*archives;	/* their directory */
	unsigned	 opened, unopened;
};

static uint8_t *whole_file(const char *path, size_t max, size_t *len);

/* The queue id a line is about: the token after "]: " when it is 10-18
 * upper-case hex digits and a ':'. */
static int
line_qid(const char *line, char qid[LOGS_QID_MAX + 1])
{
	const char *p = strstr(line, "]: "), *q;

	if (p == NULL)
		return 0;
	p += 3;
	for (q = p; (*q >= '0' && *q <= '9') || (*q >= 'A' && *q <= 'F'); q++)
		;
	if (*q != ':' || q - p < LOGS_QID_MIN || q - p > LOGS_QID_MAX)
		return 0;
	memcpy(qid, p, (size_t)(q - p));
	qid[q - p] = '\0';
	return 1;
}

static int
names_key(const struct search *s, const char *line)
{
	if (s->key_is_addr)
		return strcasestr(line, s->key) != NULL;
	return strstr(line, s->key) != NULL;
}

static int
id_known(const struct search *s, const char *qid)
{
	size_t i;

	for (i = 0; i < s->nids; i++)
		if (strcmp(s->ids[i], qid) == 0)
			return 1;
	return 0;
}

/* A sealed archive opened into memory, as a stream (NULL: said why,
 * counted). A whole archive older than --since is not opened. */
static FILE *
open_archive(struct search *s, const char *path, uint8_t **mem,
    size_t *memlen)
{
	struct logseal_info info;
	struct stat st;
	uint8_t *in;
	char err[128], last[32];
	size_t len, n;
	struct tm tm;

	*mem = NULL;
	*memlen = 0;
	if (s->w.since != NULL && stat(path, &st) == 0) {
		gmtime_r(&st.st_mtime, &tm);
		strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		if (strncmp(last, s->w.since, strlen(s->w.since)) < 0)
			return NULL;	/* its last line is older */
	}
	if ((in = whole_file(path, 2 * (size_t)LOGSEAL_MAX, &len)) == NULL) {
		s->unopened++;
		return NULL;
	}
	*mem = xcalloc(len + 1, 1);
	if (logseal_open(s->priv, in, len, *mem, &n, &info, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", path, err);
		free(in);
		free(*mem);
		*mem = NULL;
		s->unopened++;
		return NULL;
	}
	free(in);
	s->opened++;
	*memlen = n;
	if (n == 0)
		return NULL;	/* an empty log: nothing to read */
	return fmemopen(*mem, n, "r");
}

/* One pass over the relay's logs, oldest first — the sealed archives
 * (with --key), the rotated files, current: collect (pass 1) or print. */
static int
search_pass(struct search *s, const char *dir, int print)
{
	char *files[LOGS_FILES_MAX], *arch[LOGS_FILES_MAX];
	char path[CONF_PATH_MAX * 2], qid[LOGS_QID_MAX + 1], *line = NULL;
	uint8_t *mem = NULL;
	size_t cap = 0, memlen = 0;
	ssize_t len;
	int n, na = 0, i;
	DIR *d;
	struct dirent *e;

	if ((n = log_files(dir, files, LOGS_FILES_MAX)) < 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (s->have_key && (d = opendir(s->archives)) != NULL) {
		while ((e = readdir(d)) != NULL && na < LOGS_FILES_MAX) {
			size_t l = strlen(e->d_name);

			if (l > 7 && strcmp(e->d_name + l - 7, ".sealed") == 0)
				arch[na++] = xstrdup(e->d_name);
		}
		closedir(d);
		qsort(arch, (size_t)na, sizeof(*arch), name_cmp);
	}
	for (i = 0; i < na + n; i++) {
		FILE *f;

		if (i < na) {
			snprintf(path, sizeof(path), "%s/%s", s->archives,
			    arch[i]);
			f = open_archive(s, path, &mem, &memlen);
			if (f == NULL) {
				if (mem != NULL)
					free(mem);
				mem = NULL;
				continue;
			}
		} else {
			snprintf(path, sizeof(path), "%s/%s", dir,
			    files[i - na]);
			if ((f = fopen(path, "re")) == NULL) {
				fprintf(stderr, "mxgatectl: %s: %s\n", path,
				    strerror(errno));
				continue;
			}
		}
		while ((len = getline(&line, &cap, f)) > 0) {
			int has = line_qid(line, qid);

			if (!in_window(&s->w, line, line))
				continue;
			if (!print) {
				if (has && !id_known(s, qid) &&
				    names_key(s, line)) {
					if (s->nids == LOGS_IDS_MAX)
						s->ids_full = 1;
					else
						str_copy(s->ids[s->nids++], qid,
						    sizeof(s->ids[0]));
				}
			} else if ((has && id_known(s, qid)) ||
			    (!has && names_key(s, line))) {
				fwrite(line, 1, (size_t)len, stdout);
				s->printed++;
			}
		}
		fclose(f);
		if (mem != NULL) {
			qcrypt_wipe(mem, memlen);
			free(mem);
			mem = NULL;
		}
	}
	free(line);
	for (i = 0; i < n; i++)
		free(files[i]);
	for (i = 0; i < na; i++)
		free(arch[i]);
	return 0;
}

static int key_load(const char *path, int private,
    uint8_t key[LOGSEAL_KEY_LEN]);

static int
logs_search(struct ctl *c, const char *key, const struct window *w,
    const char *logdir, const char *keyfile)
{
	struct search s;
	char dir[CONF_PATH_MAX + 16], adir[CONF_PATH_MAX + 32], result[96];
	size_t n = strlen(key), i;
	int hex = n >= LOGS_QID_MIN && n <= LOGS_QID_MAX;

	memset(&s, 0, sizeof(s));
	s.w = *w;
	for (i = 0; hex && i < n; i++)
		hex = (key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'A' && key[i] <= 'F');
	if (n == 0 || n > 500 || strpbrk(key, " \t\r\n") != NULL) {
		fprintf(stderr, "mxgatectl: logs search: a queue id, a "
		    "Message-ID or an address\n");
		return EXIT_PERM;
	}
	if (hex) {
		snprintf(s.key, sizeof(s.key), "%s:", key);
	} else if (key[0] == '<' || strchr(key, '@') == NULL) {
		/* a Message-ID, with its brackets or without */
		snprintf(s.key, sizeof(s.key), "message-id=%s%s%s",
		    key[0] == '<' ? "" : "<", key, key[0] == '<' ? "" : ">");
	} else {
		snprintf(s.key, sizeof(s.key), "<%s>", key);
		s.key_is_addr = 1;
	}
	/* an address can be a Message-ID as well (local@host form): both */
	if (keyfile != NULL) {
		if (key_load(keyfile, 1, s.priv) != 0)
			return EXIT_PERM;
		s.have_key = 1;
	}
	ctl_audit_open(c);
	snprintf(dir, sizeof(dir), "%s/mxgate", logdir);
	snprintf(adir, sizeof(adir), "%s/archive/mxgate", logdir);
	s.archives = adir;
	s.ids = xcalloc(LOGS_IDS_MAX, sizeof(*s.ids));
	if (search_pass(&s, dir, 0) != 0) {
		free(s.ids);
		ctl_audit(c, "logs.search", key, "error");
		return EXIT_TEMP;
	}
	if (s.key_is_addr) {	/* the same key as a Message-ID */
		char addr[sizeof(s.key)];

		str_copy(addr, s.key, sizeof(addr));
		str_copy(s.key, "message-id=", sizeof(s.key));
		strncat(s.key, addr, sizeof(s.key) - strlen(s.key) - 1);
		s.key_is_addr = 0;
		search_pass(&s, dir, 0);
		str_copy(s.key, addr, sizeof(s.key));
		s.key_is_addr = 1;
	}
	s.opened = s.unopened = 0;	/* counted once, in the last pass */
	search_pass(&s, dir, 1);
	free(s.ids);
	qcrypt_wipe(s.priv, sizeof(s.priv));
	if (s.have_key)
		fprintf(stderr, "mxgatectl: logs search: %u sealed "
		    "archive(s) searched%s\n", s.opened, s.unopened ?
		    "; some did not open (said above)" : "");
	if (s.ids_full)
		fprintf(stderr, "mxgatectl: logs search: more than %d "
		    "messages match; narrow it with --since/--until\n",
		    LOGS_IDS_MAX);
	snprintf(result, sizeof(result), "ok messages=%zu lines=%lu "
	    "archives=%u", s.nids, s.printed, s.opened);
	ctl_audit(c, "logs.search", key, result);
	if (s.printed == 0) {
		fprintf(stderr, "mxgatectl: logs search: nothing about %s\n",
		    key);
		return 1;
	}
	return EXIT_OK;
}

/* --- export ------------------------------------------------------------- */

struct manifest {
	FILE	*f;
	char	 base[CONF_PATH_MAX + 96];	/* the export directory */
	unsigned long	files;
	unsigned long long	bytes;
};

/* Copies src to base/rel (0600) and records its SHA-256. */
static int
export_file(struct manifest *m, const char *src, const char *rel)
{
	char dst[sizeof(m->base) + CONF_PATH_MAX], buf[65536], hex[65];
	unsigned char h[32];
	br_sha256_context sc;
	ssize_t n;
	int in, out, i, rc = 0;

	snprintf(dst, sizeof(dst), "%s/%s", m->base, rel);
	if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600))
	    < 0) {
		close(in);
		return -1;
	}
	br_sha256_init(&sc);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
		br_sha256_update(&sc, buf, (size_t)n);
		m->bytes += (unsigned long long)n;
	}
	if (n < 0 || fsync(out) != 0)
		rc = -1;
	close(in);
	close(out);
	br_sha256_out(&sc, h);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if (rc == 0) {
		fprintf(m->f, "%s  %s\n", hex, rel);
		m->files++;
	}
	return rc;
}

/* The first line's stamp of a log file (for --until), "" if none. */
static void
first_stamp(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)size, f) == NULL)
		out[0] = '\0';
	fclose(f);
}

/* Every file of one directory under logdir (a service, or archive/NAME)
 * whose lines may fall in the window. */
static int
export_dir(struct manifest *m, const char *logdir, const char *sub,
    const struct window *w)
{
	char *files[LOGS_FILES_MAX], src[CONF_PATH_MAX * 2];
	char rel[CONF_PATH_MAX * 2], first[32], last[32];
	struct stat st;
	struct tm tm;
	int n, i, rc = 0;

	snprintf(src, sizeof(src), "%s/%s", logdir, sub);
	snprintf(rel, sizeof(rel), "%s/log/%s", m->base, sub);
	if (mkdir(rel, 0700) != 0 && errno != EEXIST)
		return -1;
	if ((n = log_files(src, files, LOGS_FILES_MAX)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(src, sizeof(src), "%s/%s/%s", logdir, sub, files[i]);
		snprintf(rel, sizeof(rel), "log/%s/%s", sub, files[i]);
		if (stat(src, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		/* the last line is no later than the file's mtime */
		gmtime_r(&st.st_mtime, &tm);
		strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		first_stamp(src, first, sizeof(first));
		if (!in_window(w, first, last))
			continue;
		if (export_file(m, src, rel) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", src,
			    strerror(errno));
			rc = -1;
		}
	}
	for (i = 0; i < n; i++)
		free(files[i]);
	return rc;
}

static int
logs_export(struct ctl *c, const char *dest, const struct window *w,
    const char *logdir)
{
	char path[sizeof(((struct manifest *)0)->base) + 32], host[64];
	char stamp[32], result[160];
	struct manifest m;
	struct dirent *e;
	struct tm tm;
	time_t now = time(NULL);
	DIR *d;
	int rc = 0;

	ctl_audit_open(c);
	memset(&m, 0, sizeof(m));
	if (gethostname(host, sizeof(host)) != 0)
		str_copy(host, "mxgate", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(m.base, sizeof(m.base), "%s/mxgate-logs-%s-%s", dest, host,
	    stamp);
	snprintf(path, sizeof(path), "%s/log", m.base);
	if (mkdir(m.base, 0700) != 0 || mkdir(path, 0700) != 0) {
		int err = errno;

		fprintf(stderr, "mxgatectl: %s: %s\n", m.base, strerror(err));
		ctl_audit(c, "logs.export", dest, "error");
		return err == EEXIST || err == ENOENT ? EXIT_PERM : EXIT_TEMP;
	}
	snprintf(path, sizeof(path), "%s/SHA256SUMS", m.base);
	if ((m.f = fopen(path, "wxe")) == NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", path, strerror(errno));
		ctl_audit(c, "logs.export", dest, "error");
		return EXIT_TEMP;
	}
	if ((d = opendir(logdir)) == NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", logdir, strerror(errno));
		rc = -1;
	}
	while (d != NULL && (e = readdir(d)) != NULL) {
		char sub[sizeof(m.base) + 16];
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", logdir, e->d_name);
		if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (strcmp(e->d_name, "archive") == 0) {
			/* archive/NAME/: whole files, by their time */
			DIR *a = opendir(path);
			struct dirent *ae;

			snprintf(sub, sizeof(sub), "%s/log/archive", m.base);
			mkdir(sub, 0700);
			while (a != NULL && (ae = readdir(a)) != NULL) {
				if (ae->d_name[0] == '.')
					continue;
				snprintf(sub, sizeof(sub), "archive/%s",
				    ae->d_name);
				if (export_dir(&m, logdir, sub, w) != 0)
					rc = -1;
			}
			if (a != NULL)
				closedir(a);
			continue;
		}
		if (export_dir(&m, logdir, e->d_name, w) != 0)
			rc = -1;
	}
	if (d != NULL)
		closedir(d);
	/* the audit trail, whole: its hash chain needs every line */
	if (export_file(&m, c->audit_file, "audit.log") != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", c->audit_file,
		    strerror(errno));
		rc = -1;
	}
	if (fflush(m.f) != 0 || fsync(fileno(m.f)) != 0)
		rc = -1;
	fclose(m.f);
	snprintf(result, sizeof(result), "%s files=%lu bytes=%llu dir=%s",
	    rc == 0 ? "ok" : "incomplete", m.files, m.bytes,
	    strrchr(m.base, '/') + 1);
	ctl_audit(c, "logs.export", dest, result);
	printf("%s: %lu files, %llu bytes, manifest SHA256SUMS%s\n", m.base,
	    m.files, m.bytes, rc == 0 ? "" : " (INCOMPLETE: see above)");
	return rc == 0 ? EXIT_OK : EXIT_TEMP;
}

/* --- sealed archives -------------------------------------------------- */

/* DER before the 32 key bytes: PKCS#8 PrivateKeyInfo and
 * SubjectPublicKeyInfo for X25519 (RFC 8410). */
static const uint8_t der_priv[16] = { 0x30, 0x2e, 0x02, 0x01, 0x00, 0x30,
	0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20 };
static const uint8_t der_pub[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
	0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00 };

struct pemkey {
	const char	*banner;
	const uint8_t	*prefix;
	size_t		 plen;
	uint8_t		 key[LOGSEAL_KEY_LEN];
	int		 found;
};

static int
pem_key_obj(void *arg, const char *name, const unsigned char *der,
    size_t len, char *err, size_t errlen)
{
	struct pemkey *k = arg;

	if (strcmp(name, k->banner) != 0)
		return 0;
	if (len != k->plen + LOGSEAL_KEY_LEN ||
	    memcmp(der, k->prefix, k->plen) != 0) {
		snprintf(err, errlen, "%s: not an X25519 key", name);
		return -1;
	}
	memcpy(k->key, der + k->plen, LOGSEAL_KEY_LEN);
	k->found = 1;
	return 0;
}

/* Reads an X25519 key (private: 1) from a PEM file. 0, or -1 (said). */
static int
key_load(const char *path, int private, uint8_t key[LOGSEAL_KEY_LEN])
{
	struct pemkey k;
	struct tls_buf b;
	char err[256];
	int rc = -1;

	memset(&k, 0, sizeof(k));
	memset(&b, 0, sizeof(b));
	k.banner = private ? "PRIVATE KEY" : "PUBLIC KEY";
	k.prefix = private ? der_priv : der_pub;
	k.plen = private ? sizeof(der_priv) : sizeof(der_pub);
	if (tls_file_read(path, &b, err, sizeof(err)) == 0 &&
	    tls_pem_each(b.data, b.len, pem_key_obj, &k, err, sizeof(err)) >= 0) {
		if (k.found) {
			memcpy(key, k.key, LOGSEAL_KEY_LEN);
			rc = 0;
		} else {
			snprintf(err, sizeof(err), "no %s in it", k.banner);
		}
	}
	tls_buf_wipe(&b);
	qcrypt_wipe(k.key, sizeof(k.key));
	if (rc != 0)
		fprintf(stderr, "mxgatectl: %s: %s\n", path, err);
	return rc;
}

/* Writes DER (prefix || key) as PEM into a new file of the given mode. */
static int
key_write(const char *path, const char *banner, const uint8_t *prefix,
    size_t plen, const uint8_t key[LOGSEAL_KEY_LEN], mode_t mode)
{
	uint8_t der[64];
	char pem[256];
	size_t n;
	int fd, rc = 0;

	memcpy(der, prefix, plen);
	memcpy(der + plen, key, LOGSEAL_KEY_LEN);
	n = br_pem_encode(pem, der, plen + LOGSEAL_KEY_LEN, banner,
	    BR_PEM_LINE64);
	qcrypt_wipe(der, sizeof(der));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, mode)) < 0 || write(fd, pem, n) != (ssize_t)n ||
	    fsync(fd) != 0)
		rc = -1;
	qcrypt_wipe(pem, sizeof(pem));
	if (rc != 0)
		fprintf(stderr, "mxgatectl: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

int
ctl_archive_key_check(const char *path)
{
	uint8_t pub[LOGSEAL_KEY_LEN];

	return key_load(path, 0, pub);
}

static int
logs_keygen(struct ctl *c, const char *priv_path, const char *pub_path)
{
	uint8_t priv[LOGSEAL_KEY_LEN], pub[LOGSEAL_KEY_LEN];
	int rc = EXIT_OK;

	if (qcrypt_random(priv, sizeof(priv)) != 0) {
		fprintf(stderr, "mxgatectl: random: %s\n", strerror(errno));
		return EXIT_TEMP;
	}
	logseal_public(priv, pub);
	if (key_write(priv_path, "PRIVATE KEY", der_priv, sizeof(der_priv),
	    priv, 0600) != 0 || key_write(pub_path, "PUBLIC KEY", der_pub,
	    sizeof(der_pub), pub, 0644) != 0)
		rc = EXIT_PERM;
	qcrypt_wipe(priv, sizeof(priv));
	(void)c;	/* a workstation command: no configuration, no audit */
	if (rc == EXIT_OK)
		printf("X25519 key pair: %s (keep it off the appliance), %s "
		    "(log_archive_key)\n", priv_path, pub_path);
	return rc;
}

/* A whole file of at most max bytes (malloc'ed), or NULL (said). */
static uint8_t *
whole_file(const char *path, size_t max, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	ssize_t n;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(&st, 0, sizeof(st));
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		fprintf(stderr, "mxgatectl: %s: %s\n", path, fd < 0 ?
		    strerror(errno) : !S_ISREG(st.st_mode) ?
		    "not a regular file" : "too large");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = xcalloc((size_t)st.st_size + 1, 1);
	while (off < (size_t)st.st_size &&
	    (n = read(fd, p + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)n;
	close(fd);
	*len = off;
	return p;
}

/* Writes n bytes to a new file (mode 0600), fsync'd; -1 (said). */
static int
new_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || fsync(fd) != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	close(fd);
	return 0;
}

static int
logs_seal(struct ctl *c, const char *in_path, const char *out_path,
    const char *key_path)
{
	uint8_t pub[LOGSEAL_KEY_LEN], eph[LOGSEAL_KEY_LEN], *in, *out;
	const char *name = strrchr(in_path, '/') ? strrchr(in_path, '/') + 1 :
	    in_path;
	size_t len = 0, cap, n;
	int rc;

	(void)c;	/* the log retention's job, not an admin action: the
			   archive is logged by the caller, not audited */
	if (key_load(key_path, 0, pub) != 0)
		return EXIT_PERM;
	if ((in = whole_file(in_path, LOGSEAL_MAX, &len)) == NULL)
		return EXIT_TEMP;
	cap = logseal_size(len, name);
	out = xcalloc(cap, 1);
	if (qcrypt_random(eph, sizeof(eph)) != 0)
		n = 0;
	else
		n = logseal_seal(pub, eph, name, in, len, out, cap);
	qcrypt_wipe(eph, sizeof(eph));
	rc = n == 0 ? EXIT_PERM : new_file(out_path, out, n) != 0 ?
	    EXIT_TEMP : EXIT_OK;
	if (n == 0)
		fprintf(stderr, "mxgatectl: %s: cannot seal (name or key "
		    "unusable)\n", in_path);
	free(in);
	free(out);
	return rc;
}

static int
logs_open(const char *in_path, const char *out_path, const char *key_path)
{
	uint8_t priv[LOGSEAL_KEY_LEN], *in, *out;
	struct logseal_info info;
	char err[128];
	size_t len = 0, n = 0;
	int rc;

	if (key_load(key_path, 1, priv) != 0)
		return EXIT_PERM;
	if ((in = whole_file(in_path, 2 * (size_t)LOGSEAL_MAX, &len)) ==
	    NULL) {
		qcrypt_wipe(priv, sizeof(priv));
		return EXIT_TEMP;
	}
	out = xcalloc(len + 1, 1);
	rc = logseal_open(priv, in, len, out, &n, &info, err, sizeof(err));
	qcrypt_wipe(priv, sizeof(priv));
	free(in);
	if (rc != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", in_path, err);
		free(out);
		return EXIT_PERM;
	}
	rc = new_file(out_path, out, n) == 0 ? EXIT_OK : EXIT_TEMP;
	qcrypt_wipe(out, n);
	free(out);
	if (rc == EXIT_OK)
		printf("%s: %s, %llu bytes, %s .. %s, sha256 %s: verified\n",
		    out_path, info.name, (unsigned long long)info.size,
		    info.first[0] ? info.first : "-",
		    info.last[0] ? info.last : "-", info.sha256);
	return rc;
}

int
ctl_logs_cmd(struct ctl *c, int argc, char **argv)
{
	struct window w = { NULL, NULL };
	const char *logdir = NULL, *arg = NULL, *arg2 = NULL;
	const char *key = NULL;
	int i, logdir_set = 0;

	if (argc < 2 || (argc < 3 && strcmp(argv[1], "guard") != 0))
		goto usage;
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
			w.since = argv[++i];
		else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			w.until = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			logdir = argv[++i];
			logdir_set = 1;
		}
		else if (arg == NULL && argv[i][0] != '-')
			arg = argv[i];
		else if (arg2 == NULL && argv[i][0] != '-')
			arg2 = argv[i];
		else
			goto usage;
	}
	if (strcmp(argv[1], "guard") == 0 && arg == NULL && key == NULL &&
	    w.since == NULL && w.until == NULL)
		return ctl_logs_guard(c, logdir_set ? logdir : NULL);
	if (arg == NULL)
		goto usage;
	if (strcmp(argv[1], "keygen") == 0 && arg2 != NULL && key == NULL)
		return logs_keygen(c, arg, arg2);
	if (strcmp(argv[1], "seal") == 0 && arg2 != NULL && key != NULL)
		return logs_seal(c, arg, arg2, key);
	if (strcmp(argv[1], "open") == 0 && arg2 != NULL && key != NULL)
		return logs_open(arg, arg2, key);
	if (arg2 != NULL || (key != NULL && strcmp(argv[1], "search") != 0))
		goto usage;
	if ((w.since != NULL && !stamp_prefix_ok(w.since)) ||
	    (w.until != NULL && !stamp_prefix_ok(w.until))) {
		fprintf(stderr, "mxgatectl: logs: a time is YYYY-MM-DD"
		    "[THH[:MM[:SS]]] (UTC)\n");
		return EXIT_PERM;
	}
	/* the appliance's log directory unless told (keygen, seal and open
	 * need no configuration: they run on a workstation too) */
	if (!logdir_set && (strcmp(argv[1], "search") == 0 ||
	    strcmp(argv[1], "export") == 0))
		logdir = ctl_config(c)->log_dir;
	if (strcmp(argv[1], "search") == 0)
		return logs_search(c, arg, &w, logdir, key);
	if (strcmp(argv[1], "export") == 0)
		return logs_export(c, arg, &w, logdir);
usage:
	fprintf(stderr, "usage: mxgatectl logs search QUEUEID|MESSAGE-ID|"
	    "ADDRESS [--since T] [--until T] [--dir DIR]\n"
	    "                              [--key PRIVATE.pem]\n"
	    "       mxgatectl logs export DEST [--since T] [--until T] "
	    "[--dir DIR]\n"
	    "       mxgatectl logs guard [--dir DIR]\n"
	    "       mxgatectl logs keygen PRIVATE.pem PUBLIC.pem\n"
	    "       mxgatectl logs seal FILE ARCHIVE --key PUBLIC.pem\n"
	    "       mxgatectl logs open ARCHIVE OUT --key PRIVATE.pem\n");
	return EXIT_PERM;
}
