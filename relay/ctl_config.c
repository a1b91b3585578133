/*
 * ctl_config.c — `mxgatectl config`: a candidate configuration beside
 * the running one, numbered revisions, commit with check and apply, the
 * "commit confirmed" guard, rollback and history.
 *
 * Layout. The configuration directory D is the directory of -f FILE
 * (/etc/mxgate on the appliance, itself a link to /data/etc/mxgate).
 * Revisions live in L.revisions/ beside the last link L of that chain:
 *   L.revisions/N/        the files of revision N (a full copy)
 *   L.revisions/N.meta    rev, from, time, who, message, diff hash
 *   L.revisions/candidate/  the candidate (a copy of the running files
 *                         made by the first change; removed at commit)
 *   L.revisions/confirm   a pending "commit --confirm": rev, prev,
 *                         deadline, pid of the process that rolls back
 *   L.revisions/lock      flock: one change at a time
 * L is a symbolic link to L.revisions/N; a commit writes revision N+1
 * completely (fsync'd), then replaces the link with rename(2), which is
 * atomic. The first commit turns a plain directory L into revision 0
 * and a link (the one moment L does not exist lasts two system calls).
 *
 * Only regular files directly in D are configuration; everything is
 * copied byte for byte. The check runs `mxgate -n` on a copy of the
 * candidate in which every path into D names the copy, so the files the
 * configuration refers to (mailboxes, TLS) are checked as they will be.
 *
 * Apply: after the link moves, $MXGATECTL_APPLY or
 * /usr/libexec/mxgate/config-apply runs with D and the changed file
 * names (init/config-apply: reload the relay, load the firewall, restart
 * network or NTP when their file changed).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

#define DEFAULT_APPLY	"/usr/libexec/mxgate/config-apply"
#define FILES_MAX	64		/* configuration files in D */
#define FILE_SIZE_MAX	(64u << 20)	/* a mailbox list of ~2 M lines */
#define LCS_LINES_MAX	2000		/* line diff above: a summary */
#define REVS_KEPT	50		/* older revisions are removed */

#define SPATH	1024		/* the paths of struct state */

struct state {
	char	dir[SPATH];		/* D as given */
	char	link[SPATH];		/* L */
	char	revs[SPATH];		/* L.revisions */
	char	cand[SPATH];
	char	running[SPATH];		/* the directory in use */
	int	cur;			/* its revision; -1: not yet one */
	int	lockfd;
};

/* --- small file helpers ---------------------------------------------- */

static int
path_join(char *out, const char *a, const char *b)
{
	return snprintf(out, PATH_MAX, "%s/%s", a, b) < PATH_MAX ? 0 : -1;
}

char *
ctl_read_file(const char *path, size_t *len)
{
	struct stat st = { 0 };
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size > FILE_SIZE_MAX ||
	    (p = malloc((size_t)st.st_size + 1)) == NULL) {
		int e = errno;

		close(fd);
		errno = st.st_size > FILE_SIZE_MAX ? EFBIG : e;
		return NULL;
	}
	n = read(fd, p, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(p);
		errno = EIO;
		return NULL;
	}
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

int
ctl_write_file(const char *path, const char *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -1;
	if (write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int
ctl_replace_file(const char *path, const char *p, size_t n, mode_t mode)
{
	char tmp[PATH_MAX + 16], dir[PATH_MAX];
	const char *base = strrchr(path, '/');

	str_copy(dir, path, sizeof(dir));
	if (base == NULL)
		str_copy(dir, ".", sizeof(dir));
	else
		dir[base - path] = '\0';
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.mxgatectl", dir,
	    base ? base + 1 : path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* chmod: the mode, whatever the umask took of it */
	if (ctl_write_file(tmp, p, n, mode) != 0 || chmod(tmp, mode) != 0 ||
	    rename(tmp, path) != 0) {
		int e = errno;

		(void)unlink(tmp);
		errno = e;
		return -1;
	}
	sync_dir(dir[0] ? dir : "/");
	return 0;
}

/* The regular files directly in dir (names not starting with '.'),
 * sorted; -1 on error. */
static int
list_files(const char *dir, char **names, int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char p[PATH_MAX];
	int n = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || path_join(p, dir, e->d_name) != 0 ||
		    stat(p, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == max) {
			fprintf(stderr, "mxgatectl: %s: more than %d files\n",
			    dir, max);
			break;
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), str_ptr_cmp);
	return n;
}

static void
free_names(char **names, int n)
{
	while (n > 0)
		free(names[--n]);
}

/* Copies the configuration files of src into a new directory dst
 * (durably). 0 or -1 (said why). */
static int
copy_dir(const char *src, const char *dst)
{
	char *names[FILES_MAX], s[PATH_MAX], d[PATH_MAX], *p;
	struct stat st;
	size_t len;
	int n, i, rc = 0;

	if (mkdir(dst, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "mxgatectl: mkdir %s: %s\n", dst,
		    strerror(errno));
		return -1;
	}
	if ((n = list_files(src, names, FILES_MAX)) < 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", src, strerror(errno));
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (path_join(s, src, names[i]) != 0 ||
		    path_join(d, dst, names[i]) != 0 || stat(s, &st) != 0 ||
		    (p = ctl_read_file(s, &len)) == NULL) {
			fprintf(stderr, "mxgatectl: %s/%s: %s\n", src, names[i],
			    strerror(errno));
			rc = -1;
			break;
		}
		if (ctl_write_file(d, p, len, st.st_mode & 07777) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", d,
			    strerror(errno));
			rc = -1;
		}
		free(p);
	}
	free_names(names, n);
	sync_dir(dst);
	return rc;
}

static void
remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    path_join(p, dir, e->d_name) == 0)
			(void)unlink(p);
	closedir(d);
	(void)rmdir(dir);
}

/* --- where things are ------------------------------------------------ */

static int
state_init(struct ctl *c, struct state *st, int create)
{
	char p[PATH_MAX], t[PATH_MAX], abs[PATH_MAX], *slash;
	struct stat sb;
	ssize_t n;
	int hops;

	memset(st, 0, sizeof(*st));
	st->lockfd = -1;
	st->cur = -1;
	str_copy(st->dir, c->config_path, sizeof(st->dir));
	if ((slash = strrchr(st->dir, '/')) == NULL)
		str_copy(st->dir, ".", sizeof(st->dir));
	else if (slash == st->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	str_copy(p, st->dir, sizeof(p));
	for (hops = 0; hops < 8; hops++) {
		if (lstat(p, &sb) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", p,
			    strerror(errno));
			return -1;
		}
		if (!S_ISLNK(sb.st_mode))
			break;
		if ((n = readlink(p, t, sizeof(t) - 1)) < 0)
			return -1;
		t[n] = '\0';
		if (t[0] == '/')
			str_copy(abs, t, sizeof(abs));
		else {
			char base[PATH_MAX];

			str_copy(base, p, sizeof(base));
			slash = strrchr(base, '/');
			if (slash != NULL)
				*slash = '\0';
			if (snprintf(abs, sizeof(abs), "%.2000s/%.2000s",
			    slash ? base : ".", t) >= (int)sizeof(abs))
				return -1;
		}
		if (strstr(abs, ".revisions/") != NULL) {
			const char *num = strrchr(abs, '/') + 1;

			str_copy(st->link, p, sizeof(st->link));
			str_copy(st->running, abs, sizeof(st->running));
			st->cur = atoi(num);
			break;
		}
		str_copy(p, abs, sizeof(p));
	}
	if (st->link[0] == '\0') {
		if (!S_ISDIR(sb.st_mode)) {
			fprintf(stderr, "mxgatectl: %s is not a directory\n", p);
			return -1;
		}
		str_copy(st->link, p, sizeof(st->link));
		str_copy(st->running, p, sizeof(st->running));
	}
	if (snprintf(st->revs, sizeof(st->revs), "%s.revisions", st->link) >=
	    (int)sizeof(st->revs) || snprintf(st->cand, sizeof(st->cand),
	    "%s/candidate", st->revs) >= (int)sizeof(st->cand)) {
		fprintf(stderr, "mxgatectl: %s: path too long\n", st->link);
		return -1;
	}
	if (create && mkdir(st->revs, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "mxgatectl: mkdir %s: %s\n", st->revs,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* One configuration change at a time. */
static int
state_lock(struct state *st)
{
	char p[PATH_MAX];

	if (path_join(p, st->revs, "lock") != 0 ||
	    (st->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "mxgatectl: %s/lock: %s\n", st->revs,
		    strerror(errno));
		return -1;
	}
	if (flock(st->lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "mxgatectl: another configuration change is in "
		    "progress (%s/lock); try again\n", st->revs);
		return -1;
	}
	return 0;
}

static int
has_candidate(const struct state *st)
{
	struct stat sb;

	return stat(st->cand, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int
ensure_candidate(const struct state *st)
{
	if (has_candidate(st))
		return 0;
	return copy_dir(st->running, st->cand);
}

/* --- diff ---------------------------------------------------------------- */

struct text {
	char	*buf;
	size_t	 len, cap;
};

static void
out_add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
out_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL,
		    t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->buf != NULL && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			fatal(EXIT_TEMP, "memory");
	}
}

/* Splits p into lines (pointers into p, '\n' replaced by NUL). */
static char **
split_lines(char *p, size_t len, int *n)
{
	char **v = NULL;
	size_t i, start = 0, cap = 0;

	*n = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && p[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		v = xgrow(v, &cap, (size_t)*n + 1, sizeof(*v), 64);
		if (i < len)
			p[i] = '\0';
		v[(*n)++] = p + start;
		start = i + 1;
	}
	return v;
}

/* Line diff of a -> b: the longest common subsequence for small files,
 * a set difference (added/removed lines, as for a mailbox list) above
 * LCS_LINES_MAX lines. */
static void
diff_lines(struct text *o, char **a, int na, char **b, int nb)
{
	int i, j, adds = 0, dels = 0;

	if (na <= LCS_LINES_MAX && nb <= LCS_LINES_MAX) {
		unsigned short *l = calloc((size_t)(na + 1) * (size_t)(nb + 1),
		    sizeof(*l));
#define L(x, y) l[(size_t)(x) * (size_t)(nb + 1) + (size_t)(y)]
		if (l == NULL)
			fatal(EXIT_TEMP, "memory");
		for (i = na - 1; i >= 0; i--)
			for (j = nb - 1; j >= 0; j--)
				L(i, j) = strcmp(a[i], b[j]) == 0 ?
				    L(i + 1, j + 1) + 1 : L(i + 1, j) >
				    L(i, j + 1) ? L(i + 1, j) : L(i, j + 1);
		for (i = j = 0; i < na || j < nb; ) {
			if (i < na && j < nb && strcmp(a[i], b[j]) == 0) {
				i++;
				j++;
			} else if (j < nb && (i == na ||
			    L(i, j + 1) >= L(i + 1, j))) {
				out_add(o, "+%s\n", b[j++]);
			} else {
				out_add(o, "-%s\n", a[i++]);
			}
		}
#undef L
		free(l);
		return;
	}
	qsort(a, (size_t)na, sizeof(*a), str_ptr_cmp);
	qsort(b, (size_t)nb, sizeof(*b), str_ptr_cmp);
	for (i = j = 0; i < na || j < nb; ) {
		int r = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		if (r == 0) {
			i++;
			j++;
		} else if (r < 0) {
			if (dels++ < 20)
				out_add(o, "-%s\n", a[i]);
			i++;
		} else {
			if (adds++ < 20)
				out_add(o, "+%s\n", b[j]);
			j++;
		}
	}
	out_add(o, "(large file, compared as a set: %d line(s) added, %d "
	    "removed%s)\n", adds, dels, adds > 20 || dels > 20 ?
	    "; the first 20 of each shown" : "");
}

/* The differences of directory a -> b as text (empty: none); the names
 * of the changed files in changed[] when given. */
static void
diff_dirs(const char *da, const char *db, struct text *o, char **changed,
    int *nchanged)
{
	char *na[FILES_MAX], *nb[FILES_MAX], p[PATH_MAX];
	int ca = list_files(da, na, FILES_MAX), cb = list_files(db, nb,
	    FILES_MAX), i = 0, j = 0;

	if (ca < 0)
		ca = 0;
	if (cb < 0)
		cb = 0;
	if (nchanged)
		*nchanged = 0;
	while (i < ca || j < cb) {
		int r = i == ca ? 1 : j == cb ? -1 : strcmp(na[i], nb[j]);
		const char *name = r <= 0 ? na[i] : nb[j];
		char *ta = NULL, *tb = NULL, **la = NULL, **lb = NULL;
		size_t lena = 0, lenb = 0;
		int nla = 0, nlb = 0;

		if (r <= 0 && path_join(p, da, name) == 0)
			ta = ctl_read_file(p, &lena);
		if (r >= 0 && path_join(p, db, name) == 0)
			tb = ctl_read_file(p, &lenb);
		if (!(ta && tb && lena == lenb && memcmp(ta, tb, lena) == 0)) {
			out_add(o, "--- %s%s\n+++ %s%s\n", r <= 0 ? "a/" : "",
			    r <= 0 ? name : "/dev/null", r >= 0 ? "b/" : "",
			    r >= 0 ? name : "/dev/null");
			if (ta)
				la = split_lines(ta, lena, &nla);
			if (tb)
				lb = split_lines(tb, lenb, &nlb);
			diff_lines(o, la, nla, lb, nlb);
			if (changed && *nchanged < FILES_MAX)
				changed[(*nchanged)++] = xstrdup(name);
		}
		free(la);
		free(lb);
		free(ta);
		free(tb);
		if (r <= 0)
			i++;
		if (r >= 0)
			j++;
	}
	free_names(na, ca);
	free_names(nb, cb);
}

/* --- check ------------------------------------------------------------ */

/* The mxgate beside us (out/bin on a host, /usr/sbin on the appliance),
 * else from PATH. */
static void
mxgate_path(char *out, size_t size)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	str_copy(out, "mxgate", size);
	if (n <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	strcpy(slash + 1, "mxgate");
	if (access(self, X_OK) == 0)
		str_copy(out, self, size);
}

/* Replaces every "from/" in text by "to/". */
static char *
rewrite_paths(const char *text, const char *from, const char *to)
{
	struct text o = { NULL, 0, 0 };
	size_t fl = strlen(from);
	const char *p = text, *q;

	while (fl > 0 && (q = strstr(p, from)) != NULL) {
		if (q[fl] == '/') {
			out_add(&o, "%.*s%s", (int)(q - p), p, to);
			p = q + fl;
		} else {
			out_add(&o, "%.*s", (int)(q - p + fl), p);
			p = q + fl;
		}
	}
	out_add(&o, "%s", p);
	return o.buf;
}

static int
run_wait(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "mxgatectl: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* `mxgate -n` on a copy of dir whose paths into the configuration
 * directory name the copy. 0 valid, else not. */
static int
check_dir(const struct state *st, const char *dir, const char *file)
{
	char tmp[PATH_MAX], conf[PATH_MAX], bin[PATH_MAX], *text, *a, *b;
	size_t len;
	int rc;

	snprintf(tmp, sizeof(tmp), "%s/.check-%ld", st->revs, (long)getpid());
	remove_dir(tmp);
	if (copy_dir(dir, tmp) != 0 || path_join(conf, tmp, file) != 0 ||
	    (text = ctl_read_file(conf, &len)) == NULL) {
		fprintf(stderr, "mxgatectl: cannot read %s/%s\n", dir, file);
		remove_dir(tmp);
		return -1;
	}
	a = rewrite_paths(text, st->dir, tmp);
	b = rewrite_paths(a, st->link, tmp);
	free(text);
	free(a);
	text = rewrite_paths(b, st->running, tmp);
	free(b);
	rc = ctl_write_file(conf, text, strlen(text), 0640);
	free(text);
	mxgate_path(bin, sizeof(bin));
	if (rc == 0) {
		char *argv[] = { bin, "-n", "-f", conf, NULL };
		rc = run_wait(argv);
	}
	/* the key the log archives are sealed to, when there is one: a
	 * bad one would leave the logs in clear text, hour after hour */
	if (rc == 0 && path_join(conf, tmp, CTL_ARCHIVE_KEY) == 0 &&
	    access(conf, F_OK) == 0 && ctl_archive_key_check(conf) != 0) {
		fprintf(stderr, "mxgatectl: %s: not an X25519 public key in "
		    "PEM (mxgatectl logs keygen makes one)\n", CTL_ARCHIVE_KEY);
		rc = -1;
	}
	remove_dir(tmp);
	return rc;
}

/* --- revisions ----------------------------------------------------------- */

static int
last_revision(const struct state *st)
{
	DIR *d = opendir(st->revs);
	struct dirent *e;
	int max = -1;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (end != e->d_name && *end == '\0' && v > max && v < INT_MAX)
			max = (int)v;
	}
	closedir(d);
	return max;
}

/* Makes revision `rev` running: the link now names it (atomically). */
static int
flip_link(struct state *st, int rev)
{
	char target[PATH_MAX], tmp[PATH_MAX], parent[PATH_MAX], *slash;
	struct stat sb;

	snprintf(target, sizeof(target), "%s/%d", st->revs, rev);
	snprintf(tmp, sizeof(tmp), "%s.new-%ld", st->link, (long)getpid());
	(void)unlink(tmp);
	if (symlink(target, tmp) != 0)
		return -1;
	if (lstat(st->link, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		/* the first commit: the directory becomes a link */
		char old[PATH_MAX];

		snprintf(old, sizeof(old), "%s.pre-revisions", st->link);
		if (rename(st->link, old) != 0)
			return -1;
		if (rename(tmp, st->link) != 0) {
			(void)rename(old, st->link);
			return -1;
		}
		remove_dir(old);
	} else if (rename(tmp, st->link) != 0)
		return -1;
	str_copy(parent, st->link, sizeof(parent));
	if ((slash = strrchr(parent, '/')) != NULL) {
		*slash = '\0';
		sync_dir(parent[0] ? parent : "/");
	}
	str_copy(st->running, target, sizeof(st->running));
	st->cur = rev;
	return 0;
}

static int
write_meta(const struct state *st, int rev, int from, const char *msg,
    const char *diffhash)
{
	char p[PATH_MAX], who[256], stamp[32], text[2048];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ctl_who(who, sizeof(who));
	n = snprintf(text, sizeof(text), "rev=%d\nfrom=%d\ntime=%s\n%s\n"
	    "message=%s\ndiff=sha256:%s\n", rev, from, stamp, who,
	    msg ? msg : "", diffhash);
	snprintf(p, sizeof(p), "%s/%d.meta", st->revs, rev);
	return ctl_write_file(p, text, (size_t)n, 0640);
}

static int
meta_field(const struct state *st, int rev, const char *key, char *out,
    size_t size)
{
	char p[PATH_MAX], *text, *line;
	size_t len, kl = strlen(key);

	snprintf(p, sizeof(p), "%s/%d.meta", st->revs, rev);
	if ((text = ctl_read_file(p, &len)) == NULL)
		return -1;
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *w = line;
		/* the who line holds several fields */
		while ((w = strstr(w, key)) != NULL) {
			if ((w == line || w[-1] == ' ') && w[kl] == '=') {
				size_t n = strcspn(w + kl + 1,
				    strcmp(key, "message") ? " " : "");
				snprintf(out, size, "%.*s", (int)n, w + kl + 1);
				free(text);
				return 0;
			}
			w += kl;
		}
	}
	free(text);
	return -1;
}

static void
prune(const struct state *st, int newest)
{
	char p[PATH_MAX];
	int r;

	for (r = newest - REVS_KEPT; r >= 0; r--) {
		snprintf(p, sizeof(p), "%s/%d", st->revs, r);
		if (access(p, F_OK) != 0)
			break;
		remove_dir(p);
		snprintf(p, sizeof(p), "%s/%d.meta", st->revs, r);
		(void)unlink(p);
	}
}

/* Runs the apply program with the changed files; 0 when applied. */
static int
apply(const struct state *st, char **changed, int n)
{
	const char *prog = getenv("MXGATECTL_APPLY");
	char *argv[FILES_MAX + 3];
	int i, rc;

	if (prog == NULL || *prog == '\0')
		prog = DEFAULT_APPLY;
	if (access(prog, X_OK) != 0) {
		fprintf(stderr, "mxgatectl: committed but not applied: no "
		    "apply program %s (set MXGATECTL_APPLY, or reload the "
		    "relay yourself)\n", prog);
		return -1;
	}
	argv[0] = (char *)prog;
	argv[1] = (char *)st->dir;
	for (i = 0; i < n; i++)
		argv[i + 2] = changed[i];
	argv[n + 2] = NULL;
	rc = run_wait(argv);
	if (rc != 0)
		fprintf(stderr, "mxgatectl: %s exited %d: not everything was "
		    "applied\n", prog, rc);
	return rc == 0 ? 0 : -1;
}

/*
 * Makes the candidate revision N+1 and running, then applies it. The
 * caller holds the lock. Returns the new revision, 0 when there was
 * nothing to commit, -1 refused (check failed), -2 failed.
 */
static int
commit_candidate(struct ctl *c, struct state *st, const char *msg,
    char *result, size_t rsize)
{
	struct text d = { NULL, 0, 0 };
	char *changed[FILES_MAX], hash[65], p[PATH_MAX], tmp[PATH_MAX];
	const char *file = strrchr(c->config_path, '/');
	int nchanged = 0, rev, from = st->cur, i;

	file = file ? file + 1 : c->config_path;
	diff_dirs(st->running, st->cand, &d, changed, &nchanged);
	if (d.len == 0) {
		free(d.buf);
		remove_dir(st->cand);
		snprintf(result, rsize, "nothing to commit");
		return 0;
	}
	if (check_dir(st, st->cand, file) != 0) {
		free(d.buf);
		free_names(changed, nchanged);
		snprintf(result, rsize, "refused: the candidate does not pass "
		    "mxgate -n");
		return -1;
	}
	ctl_sha256_hex(d.buf, d.len, hash);
	rev = last_revision(st) + 1;
	if (st->cur < 0) {
		/* the configuration as it was becomes revision 0 */
		snprintf(p, sizeof(p), "%s/0", st->revs);
		if (rev == 0 && (copy_dir(st->running, p) != 0 ||
		    write_meta(st, 0, -1, "the configuration before the "
		    "first commit", "-") != 0))
			goto fail;
		if (rev == 0)
			rev = 1;
		from = 0;
	}
	snprintf(tmp, sizeof(tmp), "%s/%d.tmp", st->revs, rev);
	snprintf(p, sizeof(p), "%s/%d", st->revs, rev);
	remove_dir(tmp);
	if (copy_dir(st->cand, tmp) != 0 || rename(tmp, p) != 0 ||
	    write_meta(st, rev, from, msg, hash) != 0)
		goto fail;
	sync_dir(st->revs);
	if (flip_link(st, rev) != 0) {
		fprintf(stderr, "mxgatectl: cannot make revision %d running: "
		    "%s\n", rev, strerror(errno));
		goto fail;
	}
	remove_dir(st->cand);
	fputs(d.buf, stdout);
	printf("revision %d is running (was %d)\n", rev, from);
	i = apply(st, changed, nchanged);
	snprintf(result, rsize, "ok rev=%d from=%d diff=sha256:%s%s", rev,
	    from, hash, i == 0 ? " applied" : " not-applied");
	free(d.buf);
	free_names(changed, nchanged);
	prune(st, rev);
	return rev;
fail:
	free(d.buf);
	free_names(changed, nchanged);
	snprintf(result, rsize, "failed: %s", strerror(errno));
	return -2;
}

/* --- the confirm guard ----------------------------------------------------- */

static int
confirm_read(const struct state *st, int *rev, int *prev, long *deadline,
    long *pid)
{
	char p[PATH_MAX], *t;
	size_t len;
	int n;

	if (path_join(p, st->revs, "confirm") != 0 ||
	    (t = ctl_read_file(p, &len)) == NULL)
		return -1;
	n = sscanf(t, "rev=%d prev=%d deadline=%ld pid=%ld", rev, prev,
	    deadline, pid);
	free(t);
	return n == 4 ? 0 : -1;
}

/* A commit of revision `to` (a copy of it as the candidate). */
static int
recommit(struct ctl *c, struct state *st, int to, const char *msg,
    char *result, size_t rsize)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%d", st->revs, to);
	if (access(p, F_OK) != 0) {
		snprintf(result, rsize, "no revision %d", to);
		return -1;
	}
	remove_dir(st->cand);
	if (copy_dir(p, st->cand) != 0) {
		snprintf(result, rsize, "cannot copy revision %d", to);
		return -2;
	}
	return commit_candidate(c, st, msg, result, rsize);
}

/* The detached process of `commit --confirm`: sleeps, then rolls back
 * unless the commit was confirmed meanwhile. */
static void __attribute__((noreturn))
confirm_waiter(struct ctl *c, struct state *st, int rev, int prev, long secs)
{
	char result[512], msg[64];
	int r, p2;
	long dl, pid;

	/* the commit's lock is the parent's to release; the caller's
	 * pipes must not wait for us */
	if (st->lockfd >= 0)
		close(st->lockfd);
	st->lockfd = -1;
	(void)setsid();
	sleep((unsigned)secs);
	for (r = 0; r < 60 && state_lock(st) != 0; r++)
		sleep(1);
	if (st->lockfd < 0 || confirm_read(st, &r, &p2, &dl, &pid) != 0 ||
	    r != rev || pid != (long)getpid())
		_exit(0);		/* confirmed, or superseded */
	snprintf(msg, sizeof(msg), "confirm timeout: back to revision %d",
	    prev);
	r = recommit(c, st, prev, msg, result, sizeof(result));
	{
		char path[PATH_MAX];
		if (path_join(path, st->revs, "confirm") == 0)
			(void)unlink(path);
	}
	ctl_audit_open(c);
	snprintf(msg, sizeof(msg), "rev=%d", rev);
	ctl_audit(c, "config.confirm-timeout", msg, result);
	_exit(r > 0 ? 0 : 1);
}

/* --- what other commands want to know ------------------------------------ */

int
ctl_config_revision(struct ctl *c, char *info, size_t size)
{
	struct state st;
	char t[64] = "", u[64] = "", m[160] = "";
	int pr, pv;
	long dl, pid;

	if (state_init(c, &st, 0) != 0 || st.cur < 0) {
		snprintf(info, size, "never committed through mxgatectl config");
		return -1;
	}
	meta_field(&st, st.cur, "time", t, sizeof(t));
	meta_field(&st, st.cur, "user", u, sizeof(u));
	meta_field(&st, st.cur, "message", m, sizeof(m));
	snprintf(info, size, "revision %d, %s by %s: %s%s", st.cur, t, u, m,
	    confirm_read(&st, &pr, &pv, &dl, &pid) == 0 ? " (awaiting "
	    "confirm)" : "");
	return st.cur;
}

/* --- for commands that change one file of the configuration -------------- */

int
ctl_config_beside(struct ctl *c, const char *name, char *out, size_t size)
{
	struct state st;

	if (state_init(c, &st, 0) != 0)
		return -1;
	return path_beside(st.link, name, out, size);
}

/* ctl_config_file's lock: it lasts the process, or until released */
static int held = -1;

void
ctl_config_unlock(void)
{
	if (held >= 0)
		close(held);
	held = -1;
}

int
ctl_config_file(struct ctl *c, const char *path, int change, char *cand,
    char *run, size_t size)
{
	static struct state st;		/* its lock lasts the process */
	char dir[SPATH];
	const char *base = strrchr(path, '/');
	size_t dl;

	if (base == NULL || state_init(c, &st, 1) != 0)
		return -1;
	st.lockfd = held;	/* a second file of the same change */
	dl = (size_t)(base - path);
	if (dl >= sizeof(dir))
		return -1;
	memcpy(dir, path, dl);
	dir[dl] = '\0';
	base++;
	if (strcmp(dir, st.dir) != 0 && strcmp(dir, st.link) != 0 &&
	    strcmp(dir, st.running) != 0) {
		fprintf(stderr, "mxgatectl: %s is not in the configuration "
		    "directory %s: change it there, or by hand\n", path, st.dir);
		return -1;
	}
	if ((size_t)snprintf(run, size, "%s/%s", st.running, base) >= size)
		return -1;
	if (!change) {
		if (cand != NULL && (size_t)snprintf(cand, size, "%s/%s",
		    has_candidate(&st) ? st.cand : st.running, base) >= size)
			return -1;
		return 0;
	}
	if ((st.lockfd < 0 && state_lock(&st) != 0) ||
	    ensure_candidate(&st) != 0)
		return -1;
	held = st.lockfd;
	return (size_t)snprintf(cand, size, "%s/%s", st.cand, base) < size ?
	    0 : -1;
}

/* --- the subcommands ------------------------------------------------------- */

static int
usage_err(void)
{
	fputs("usage: mxgatectl config show [--running] [FILE] | diff | check |"
	    " edit [FILE] |\n       commit [-m MSG] [--confirm SECONDS] | "
	    "confirm | rollback [N] |\n       history | discard |\n"
	    "       export FILE [--passphrase-file FILE] |\n"
	    "       import FILE [--passphrase-file FILE]\n", stderr);
	return EXIT_PERM;
}

static int
cmd_show(struct state *st, int argc, char **argv, const char *file)
{
	const char *dir = has_candidate(st) ? st->cand : st->running;
	char p[PATH_MAX], *t;
	size_t len;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--running") == 0)
			dir = st->running;
		else if (argv[i][0] == '-' || strchr(argv[i], '/'))
			return usage_err();
		else
			file = argv[i];
	}
	if (path_join(p, dir, file) != 0 || (t = ctl_read_file(p, &len)) == NULL) {
		fprintf(stderr, "mxgatectl: %s: %s\n", p, strerror(errno));
		return EXIT_PERM;
	}
	fwrite(t, 1, len, stdout);
	free(t);
	return EXIT_OK;
}

int
ctl_config_cmd(struct ctl *c, int argc, char **argv)
{
	struct state st;
	const char *sub = argc > 1 ? argv[1] : "show";
	const char *file = strrchr(c->config_path, '/');
	char result[512], arg[256];
	int rc = EXIT_OK;

	file = file ? file + 1 : c->config_path;
	if (state_init(c, &st, 1) != 0)
		return EXIT_TEMP;
	argc--;
	argv++;
	if (strcmp(sub, "export") == 0)
		return ctl_config_export(c, argc, argv);
	if (strcmp(sub, "import") == 0)
		return ctl_config_import(c, argc, argv);
	if (strcmp(sub, "show") == 0)
		return cmd_show(&st, argc, argv, file);
	if (strcmp(sub, "diff") == 0) {
		struct text d = { NULL, 0, 0 };
		if (!has_candidate(&st)) {
			printf("no candidate: the running configuration is "
			    "revision %d\n", st.cur);
			return EXIT_OK;
		}
		diff_dirs(st.running, st.cand, &d, NULL, NULL);
		if (d.len)
			fputs(d.buf, stdout);
		else
			printf("the candidate equals the running "
			    "configuration\n");
		free(d.buf);
		return EXIT_OK;
	}
	if (strcmp(sub, "check") == 0) {
		rc = check_dir(&st, has_candidate(&st) ? st.cand : st.running,
		    file);
		printf("%s: %s\n", has_candidate(&st) ? "candidate" :
		    "running configuration", rc == 0 ? "valid" : "INVALID");
		return rc == 0 ? EXIT_OK : EXIT_PERM;
	}
	if (strcmp(sub, "history") == 0) {
		int r, last = last_revision(&st), pr, pv;
		long dl, pid;

		for (r = 0; r <= last; r++) {
			char t[64] = "", u[64] = "", m[256] = "";
			char p[PATH_MAX];

			snprintf(p, sizeof(p), "%s/%d", st.revs, r);
			if (access(p, F_OK) != 0)
				continue;
			meta_field(&st, r, "time", t, sizeof(t));
			meta_field(&st, r, "user", u, sizeof(u));
			meta_field(&st, r, "message", m, sizeof(m));
			printf("%c %3d  %-20s  %-10s  %s\n", r == st.cur ? '*' :
			    ' ', r, t, u, m);
		}
		if (last < 0)
			printf("no revisions yet: the running configuration "
			    "was never committed\n");
		if (confirm_read(&st, &pr, &pv, &dl, &pid) == 0)
			printf("revision %d awaits `mxgatectl config confirm` "
			    "for %ld more s, else revision %d comes back\n",
			    pr, dl - (long)time(NULL), pv);
		return EXIT_OK;
	}
	/* the rest change something: audited, one at a time */
	ctl_audit_open(c);
	if (state_lock(&st) != 0) {
		ctl_audit(c, "config", sub, "refused: another change in "
		    "progress");
		return EXIT_TEMP;
	}
	if (strcmp(sub, "edit") == 0) {
		const char *f = argc > 1 ? argv[1] : file;
		char p[PATH_MAX];

		if (strchr(f, '/') != NULL || f[0] == '.')
			return usage_err();
		if (ensure_candidate(&st) != 0 || path_join(p, st.cand, f) != 0)
			return EXIT_TEMP;
		{
			char *ev[] = { "/bin/sh", "-c", "exec ${EDITOR:-vi} "
			    "\"$0\"", p, NULL };
			rc = run_wait(ev);
		}
		snprintf(arg, sizeof(arg), "file=%s", f);
		ctl_audit(c, "config.edit", arg, rc == 0 ? "ok" : "editor "
		    "failed");
		if (rc == 0 && check_dir(&st, st.cand, file) != 0)
			printf("the candidate does not pass the check yet "
			    "(mxgatectl config check)\n");
		return rc == 0 ? EXIT_OK : EXIT_TEMP;
	}
	if (strcmp(sub, "discard") == 0) {
		remove_dir(st.cand);
		ctl_audit(c, "config.discard", NULL, "ok");
		return EXIT_OK;
	}
	if (strcmp(sub, "commit") == 0 || strcmp(sub, "rollback") == 0) {
		const char *msg = "";
		long confirm = 0;
		int i, r, to = -1;
		char msgbuf[64];

		for (i = 1; i < argc; i++) {
			if (strcmp(argv[i], "-m") == 0 && i + 1 < argc)
				msg = argv[++i];
			else if (strcmp(argv[i], "--confirm") == 0 &&
			    i + 1 < argc) {
				uint64_t v;
				if (parse_uint(argv[++i], 1, 86400, &v) != 0)
					return usage_err();
				confirm = (long)v;
			} else if (strcmp(sub, "rollback") == 0 &&
			    argv[i][0] != '-')
				to = atoi(argv[i]);
			else
				return usage_err();
		}
		if (strcmp(sub, "rollback") == 0) {
			char f[32];
			if (to < 0 && (st.cur < 0 || meta_field(&st, st.cur,
			    "from", f, sizeof(f)) != 0 || (to = atoi(f)) < 0)) {
				fprintf(stderr, "mxgatectl: no revision to roll "
				    "back to\n");
				return EXIT_PERM;
			}
			snprintf(msgbuf, sizeof(msgbuf), "rollback to revision "
			    "%d", to);
			if (*msg == '\0')
				msg = msgbuf;
			if (has_candidate(&st))
				printf("the uncommitted candidate is "
				    "discarded\n");
			r = recommit(c, &st, to, msg, result, sizeof(result));
		} else if (!has_candidate(&st)) {
			printf("nothing to commit: no candidate\n");
			return EXIT_OK;
		} else
			r = commit_candidate(c, &st, msg, result,
			    sizeof(result));
		snprintf(arg, sizeof(arg), "%s%s%s", to >= 0 ? "to=" : "",
		    to >= 0 ? (snprintf(msgbuf, sizeof(msgbuf), "%d", to),
		    msgbuf) : "", confirm ? " confirm" : "");
		if (r > 0 && confirm > 0) {
			char p[PATH_MAX], t[128];
			int prev = 0;
			pid_t pid;
			char f[32];

			if (meta_field(&st, r, "from", f, sizeof(f)) == 0)
				prev = atoi(f);
			fflush(NULL);
			pid = fork();
			if (pid == 0) {
				int fd = open("/dev/null", O_RDWR);
				if (fd >= 0) {
					dup2(fd, 0);
					dup2(fd, 1);
					dup2(fd, 2);
				}
				if (c->audit_fd >= 0)
					close(c->audit_fd);
				c->audit_fd = -1;
				confirm_waiter(c, &st, r, prev, confirm);
			}
			snprintf(t, sizeof(t), "rev=%d prev=%d deadline=%ld "
			    "pid=%ld\n", r, prev, (long)time(NULL) + confirm,
			    (long)pid);
			if (pid < 0 || path_join(p, st.revs, "confirm") != 0 ||
			    ctl_write_file(p, t, strlen(t), 0600) != 0)
				fprintf(stderr, "mxgatectl: the confirm guard "
				    "could not start: %s\n", strerror(errno));
			else
				printf("revision %d must be confirmed within "
				    "%ld s (mxgatectl config confirm), else "
				    "revision %d comes back by itself\n", r,
				    confirm, prev);
		}
		ctl_audit(c, strcmp(sub, "commit") == 0 ? "config.commit" :
		    "config.rollback", arg[0] ? arg : NULL, result);
		printf("%s\n", result);
		return r >= 0 ? EXIT_OK : r == -1 ? EXIT_PERM : EXIT_TEMP;
	}
	if (strcmp(sub, "confirm") == 0) {
		char p[PATH_MAX];
		int r, prev;
		long dl, pid;

		if (confirm_read(&st, &r, &prev, &dl, &pid) != 0) {
			printf("nothing to confirm\n");
			ctl_audit(c, "config.confirm", NULL, "nothing pending");
			return EXIT_PERM;
		}
		if (pid > 0)
			(void)kill((pid_t)pid, SIGTERM);
		if (path_join(p, st.revs, "confirm") == 0)
			(void)unlink(p);
		snprintf(arg, sizeof(arg), "rev=%d", r);
		ctl_audit(c, "config.confirm", arg, "ok");
		printf("revision %d confirmed\n", r);
		return EXIT_OK;
	}
	return usage_err();
}
