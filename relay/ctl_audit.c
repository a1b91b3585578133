/*
 * ctl_audit.c — the audit trail of mxgatectl: one line per operation,
 * chained. Each line ends with ` prev=HEX`, the SHA-256 of the line before
 * it (its bytes without the newline; for the first line, of nothing), so a
 * line changed, removed or inserted anywhere breaks the chain at the line
 * after it, and `mxgatectl audit verify` names that line.
 *
 *   TIME HOST mxgatectl[PID]: audit: uid=N user=NAME login=NAME tty=TTY
 *       op=OP arg=ARG result=RESULT prev=HEX
 *
 * `user` is the account of the uid; `login` the person behind it when the
 * environment names one ($SUDO_USER, else $LOGNAME, else $USER; "-" when
 * none), so a shared account still shows who acted. Appending takes an
 * exclusive flock on the log for reading the last line and writing the
 * new one, so concurrent mxgatectl runs keep the chain intact; the line is
 * one write(), then fsync().
 *
 * Subcommand: audit show [--since RFC3339] [--user NAME] | verify |
 * export FILE
 *
 * Owns: the audit log's format. Must never: write a password or a key,
 * cut a line silently, or let an operation run unaudited (ctl.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bearssl.h"
#include "ctl.h"
#include "util.h"

#define PREV_FIELD	" prev="
#define HEX_LEN		64
#define TAIL_MAX	(CTL_AUDIT_LINE_MAX + 256)

/* A finished SHA-256 as 64 lower-case hex digits (+ NUL) */
static void
sha256_done_hex(br_sha256_context *sc, char out[HEX_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char h[32];
	size_t i;

	br_sha256_out(sc, h);
	for (i = 0; i < sizeof(h); i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[HEX_LEN] = '\0';
}

/* SHA-256 of n bytes at p, in hex */
void
ctl_sha256_hex(const void *p, size_t n, char out[65])
{
	br_sha256_context sc;

	br_sha256_init(&sc);
	br_sha256_update(&sc, p, n);
	sha256_done_hex(&sc, out);
}

/* The hash of the log's last line (without its newline), or of nothing
 * for an empty log; -1 when the log cannot be read. */
static int
last_line_hash(int fd, char out[HEX_LEN + 1])
{
	char buf[TAIL_MAX];
	struct stat st;
	off_t off;
	ssize_t n;
	size_t len, start;

	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_size == 0) {
		ctl_sha256_hex("", 0, out);
		return 0;
	}
	off = st.st_size > (off_t)sizeof(buf) ? st.st_size - (off_t)sizeof(buf)
	    : 0;
	n = pread(fd, buf, (size_t)(st.st_size - off), off);
	if (n <= 0)
		return -1;
	len = (size_t)n;
	if (buf[len - 1] == '\n')
		len--;		/* a last line cut short hashes as it is */
	for (start = len; start > 0 && buf[start - 1] != '\n'; start--)
		;
	ctl_sha256_hex(buf + start, len - start, out);
	return 0;
}

/* Who acts: $SUDO_USER, $LOGNAME or $USER, printable and short, or "-". */
static void
login_name(char *out, size_t size)
{
	const char *names[] = { "SUDO_USER", "LOGNAME", "USER" };
	size_t i, j;

	str_copy(out, "-", size);
	for (i = 0; i < ARRAY_LEN(names); i++) {
		const char *v = getenv(names[i]);

		if (v == NULL || *v == '\0')
			continue;
		for (j = 0; v[j] != '\0' && j + 1 < size; j++)
			out[j] = (v[j] > 0x20 && v[j] < 0x7f) ? v[j] : '?';
		out[j] = '\0';
		return;
	}
}

static struct {
	int	 set;
	uid_t	 uid;		/* the real uid at start */
	char	 user[64];
	char	 role[16];
} who;

void
ctl_who_init(uid_t uid, const char *role)
{
	const struct passwd *pw = getpwuid(uid);

	who.set = 1;
	who.uid = uid;
	if (pw != NULL)
		str_copy(who.user, pw->pw_name, sizeof(who.user));
	else
		snprintf(who.user, sizeof(who.user), "uid%u", (unsigned)uid);
	str_copy(who.role, role, sizeof(who.role));
}

void
ctl_who(char *out, size_t size)
{
	const char *t = ttyname(0);
	char login[64];
	size_t i;

	if (!who.set)
		ctl_who_init(getuid(), "root");
	login_name(login, sizeof(login));
	snprintf(out, size, "user=%s role=%s login=%s tty=%s", who.user,
	    who.role, login, t ? t : "-");
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '?';
}

void
ctl_audit_open(struct ctl *c)
{
	if (c->audit_fd >= 0)
		return;
	if (c->audit_path != NULL) {
		if (str_copy(c->audit_file, c->audit_path,
		    sizeof(c->audit_file)) >= sizeof(c->audit_file))
			fatalx(EXIT_PERM, "audit log path too long");
	} else if (path_beside(ctl_config(c)->queue_dir, "audit.log",
	    c->audit_file, sizeof(c->audit_file)) != 0)
		fatalx(EXIT_PERM, "audit log path too long");
	c->audit_fd = open(c->audit_file, O_RDWR | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->audit_fd < 0) {
		fprintf(stderr, "mxgatectl: %s: %s: refusing to act without "
		    "an audit record\n", c->audit_file, strerror(errno));
		exit(EXIT_TEMP);
	}
}

void
ctl_audit(struct ctl *c, const char *op, const char *arg, const char *result)
{
	char line[CTL_AUDIT_LINE_MAX + sizeof(PREV_FIELD) + HEX_LEN + 2];
	char stamp[32], whom[256], prev[HEX_LEN + 1];
	const char *host = c->cf != NULL && c->cf->hostname[0] ?
	    c->cf->hostname : "localhost";
	struct tm tm;
	time_t now = time(NULL);
	size_t i, max = CTL_AUDIT_LINE_MAX;
	ssize_t w;
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	ctl_who(whom, sizeof(whom));
	n = snprintf(line, max, "%s %s mxgatectl[%ld]: audit: uid=%u %s "
	    "op=%s arg=%s result=%s", stamp, host, (long)getpid(),
	    (unsigned)who.uid, whom, op, arg ? arg : "-", result);
	if (n < 0 || (size_t)n >= max) {
		/* never cut silently: mark the cut */
		n = (int)max - 1;
		memcpy(line + n - 3, "...", 3);
	}
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	if (c->audit_fd < 0) {
		fprintf(stderr, "%.*s\n", n, line);
		return;
	}
	if (flock(c->audit_fd, LOCK_EX) != 0 ||
	    last_line_hash(c->audit_fd, prev) != 0) {
		fprintf(stderr, "mxgatectl: %s: cannot read the audit chain: "
		    "%s\n", c->audit_file, strerror(errno));
		str_copy(prev, "unreadable", sizeof(prev));
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s\n", PREV_FIELD,
	    prev);
	fputs(line, stderr);
	do
		w = write(c->audit_fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	if (w != n || fsync(c->audit_fd) != 0)
		fprintf(stderr, "mxgatectl: %s: audit write failed: %s\n",
		    c->audit_file, w < 0 ? strerror(errno) : "short write");
	flock(c->audit_fd, LOCK_UN);
}

/* --- audit show | verify ----------------------------------------------- */

/* Calls fn for every line of the log (without its newline, NUL-ended). */
static int
each_line(struct ctl *c, int (*fn)(void *, const char *, size_t, size_t),
    void *arg)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0, no = 0;
	ssize_t n;
	int rc = 0;

	if ((f = fopen(c->audit_file, "re")) == NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", c->audit_file,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		rc = fn(arg, line, (size_t)n, ++no);
	}
	free(line);
	fclose(f);
	return rc;
}

struct verify {
	char	 prev[HEX_LEN + 1];	/* hash of the line before */
	size_t	 lines, bad;		/* bad: first broken line, 0 */
};

static int
verify_line(void *arg, const char *line, size_t n, size_t no)
{
	struct verify *v = arg;
	size_t fl = sizeof(PREV_FIELD) - 1;

	v->lines = no;
	if (n < fl + HEX_LEN || memcmp(line + n - HEX_LEN - fl, PREV_FIELD,
	    fl) != 0 || memcmp(line + n - HEX_LEN, v->prev, HEX_LEN) != 0) {
		v->bad = no;
		return 1;
	}
	ctl_sha256_hex(line, n, v->prev);
	return 0;
}

struct show {
	const char	*since, *user;
};

static int
show_line(void *arg, const char *line, size_t n, size_t no)
{
	const struct show *s = arg;
	char pat[80];

	(void)no;
	/* RFC 3339 times in one zone compare as strings */
	if (s->since != NULL && (n < 25 || strncmp(line, s->since, 25) < 0))
		return 0;
	if (s->user != NULL) {
		snprintf(pat, sizeof(pat), " login=%s ", s->user);
		if (strstr(line, pat) == NULL) {
			snprintf(pat, sizeof(pat), " user=%s ", s->user);
			if (strstr(line, pat) == NULL)
				return 0;
		}
	}
	printf("%.*s\n", (int)n, line);
	return 0;
}

/*
 * audit export FILE: a copy of the log as it is now (under the lock, so no
 * line is half there) written to FILE (0600, created; an existing FILE is
 * refused), then a last line "sha256 HEX  audit.log" over the copied
 * bytes, so the recipient can check the copy and `audit verify` it.
 */
static int
audit_export(struct ctl *c, const char *dest)
{
	char buf[8192], hex[HEX_LEN + 1], result[128];
	br_sha256_context sc;
	off_t off = 0;
	ssize_t n;
	int out, rc = EXIT_OK;

	ctl_audit_open(c);
	if ((out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) < 0) {
		int e = errno;

		fprintf(stderr, "mxgatectl: %s: %s\n", dest, strerror(e));
		ctl_audit(c, "audit-export", dest, e == EEXIST ?
		    "error: exists" : "error");
		return e == EEXIST ? EXIT_PERM : EXIT_TEMP;
	}
	br_sha256_init(&sc);
	flock(c->audit_fd, LOCK_EX);
	while ((n = pread(c->audit_fd, buf, sizeof(buf), off)) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			rc = EXIT_TEMP;
			break;
		}
		br_sha256_update(&sc, buf, (size_t)n);
		off += n;
	}
	flock(c->audit_fd, LOCK_UN);
	if (n < 0)
		rc = EXIT_TEMP;
	sha256_done_hex(&sc, hex);
	n = snprintf(buf, sizeof(buf), "sha256 %s  audit.log (%lld bytes)\n",
	    hex, (long long)off);
	if (rc == EXIT_OK && (write(out, buf, (size_t)n) != n ||
	    fsync(out) != 0))
		rc = EXIT_TEMP;
	close(out);
	if (rc != EXIT_OK)
		fprintf(stderr, "mxgatectl: %s: export failed: %s\n", dest,
		    strerror(errno));
	else
		printf("exported %lld bytes of audit log to %s (sha256 %s)\n",
		    (long long)off, dest, hex);
	snprintf(result, sizeof(result), "%s bytes=%lld sha256=%.16s",
	    rc == EXIT_OK ? "ok" : "error", (long long)off, hex);
	ctl_audit(c, "audit-export", dest, result);
	return rc;
}

int
ctl_audit_cmd(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	char result[96];
	int i;

	if (strcmp(sub, "verify") == 0 && argc == 2) {
		struct verify v = { .lines = 0, .bad = 0 };

		ctl_audit_open(c);
		ctl_sha256_hex("", 0, v.prev);
		if (each_line(c, verify_line, &v) < 0)
			return EXIT_TEMP;
		if (v.bad) {
			printf("audit: line %zu: chain broken (its prev= does "
			    "not match line %zu)\n", v.bad, v.bad - 1);
			snprintf(result, sizeof(result), "broken at line %zu",
			    v.bad);
			ctl_audit(c, "audit-verify", NULL, result);
			return 1;
		}
		printf("audit: %zu lines, chain intact\n", v.lines);
		snprintf(result, sizeof(result), "ok lines=%zu", v.lines);
		ctl_audit(c, "audit-verify", NULL, result);
		return EXIT_OK;
	}
	if (strcmp(sub, "factory-reset-done") == 0 && argc == 3 &&
	    c->role == CTL_ROOT) {
		/* init/init, after the erase: the first line of the new
		 * trail says who asked for it (the mark's text) */
		ctl_audit_open(c);
		ctl_audit(c, "factory-reset", argv[2], "done: data partition "
		    "erased");
		return EXIT_OK;
	}
	if ((strcmp(sub, "login") == 0 || strcmp(sub, "logout") == 0) &&
	    argc == 2) {
		/* the console's login shell records its start and end */
		ctl_audit_open(c);
		ctl_audit(c, strcmp(sub, "login") == 0 ? "console.login" :
		    "console.logout", NULL, "ok");
		return EXIT_OK;
	}
	if (strcmp(sub, "show") == 0) {
		struct show s = { NULL, NULL };

		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--since") == 0 && i + 1 < argc &&
			    strlen(argv[i + 1]) == 25)
				s.since = argv[++i];
			else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
				s.user = argv[++i];
			else {
				fprintf(stderr, "usage: mxgatectl audit show "
				    "[--since YYYY-MM-DDTHH:MM:SS+00:00] "
				    "[--user NAME]\n");
				return EXIT_PERM;
			}
		}
		ctl_audit_open(c);
		if (each_line(c, show_line, &s) < 0)
			return EXIT_TEMP;
		ctl_audit(c, "audit-show", s.user, "ok");
		return EXIT_OK;
	}
	if (strcmp(sub, "export") == 0 && argc == 3)
		return audit_export(c, argv[2]);
	fprintf(stderr, "usage: mxgatectl audit show [--since T] [--user NAME]"
	    " | verify | export FILE\n");
	return EXIT_PERM;
}
