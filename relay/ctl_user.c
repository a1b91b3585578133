/*
 * ctl_user.c — `mxgatectl user`: the personal console accounts, so the
 * audit trail names a person, and the role each one has.
 *
 *   user list
 *   user add NAME [--role admin|operator] [--no-password]
 *   user del NAME
 *   user passwd NAME
 *
 * An account is a line of passwd and one of shadow in the account
 * directory ($MXGATECTL_ETC for tests; /etc on the appliance, where both
 * are links into /data/etc): uid 1000-59999, primary group mxadmin (an
 * admin) or mxoper (an operator), home /data/home/NAME, the console menu
 * as its shell. Every other line (the system's users) is kept byte for
 * byte. Both files are rewritten whole (temporary file, fsync, rename)
 * under an flock of a lock file beside them: shadow first on add, passwd
 * first on del, so a crash leaves at worst a shadow line nobody uses.
 *
 * Passwords are hashed with SHA-512 crypt (shacrypt.c: $6$, 16 random
 * salt characters); they are read from the terminal twice without echo, or as
 * one line from a pipe (scripts). An operator may change only their own
 * password and must give the current one; the last admin cannot be
 * deleted or demoted to nothing. No password or hash is ever printed or
 * audited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "shacrypt.h"
#include "util.h"

#define UID_FIRST	1000
#define UID_LAST	59999
#define NAME_MAX_LEN	32
#define PASSWORD_MAX	256
#define HOME_BASE	"/data/home"
#define CONSOLE_SHELL	"/usr/sbin/mxgate-console"

struct accounts {
	char	 dir[PATH_MAX];		/* where passwd and shadow really are */
	char	*passwd, *shadow;	/* whole files */
	int	 lock_fd;
};

/* The account directory with its links resolved (the appliance's /etc
 * is read-only; its passwd and shadow are links into /data/etc). */
int
ctl_accounts_dir(char *out, size_t size)
{
	const char *etc = getenv("MXGATECTL_ETC");
	char path[PATH_MAX], *slash;

	if (etc == NULL || etc[0] == '\0')
		etc = "/etc";
	if (snprintf(path, sizeof(path), "%s/passwd", etc) >= (int)sizeof(path))
		return -1;
	if (realpath(path, out) == NULL || strlen(out) >= size)
		return -1;
	if ((slash = strrchr(out, '/')) != NULL)
		*slash = '\0';
	return 0;
}

static void
accounts_free(struct accounts *a)
{
	free(a->passwd);
	free(a->shadow);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
}

/* Reads both files; with lock, under the accounts lock (kept until
 * accounts_free). -1, said, on failure. */
static int
accounts_load(struct accounts *a, int lock)
{
	char path[PATH_MAX + 16];
	size_t n;

	memset(a, 0, sizeof(*a));
	a->lock_fd = -1;
	if (ctl_accounts_dir(a->dir, sizeof(a->dir)) != 0) {
		fprintf(stderr, "mxgatectl: user: no account files: %s\n",
		    strerror(errno));
		return -1;
	}
	if (lock) {
		snprintf(path, sizeof(path), "%s/.accounts.lock", a->dir);
		if ((a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0600)) < 0 || flock(a->lock_fd, LOCK_EX) != 0) {
			fprintf(stderr, "mxgatectl: user: %s: %s\n", path,
			    strerror(errno));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/passwd", a->dir);
	if ((a->passwd = ctl_read_file(path, &n)) == NULL) {
		fprintf(stderr, "mxgatectl: user: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/shadow", a->dir);
	if ((a->shadow = ctl_read_file(path, &n)) == NULL) {
		fprintf(stderr, "mxgatectl: user: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes one of the files whole: temporary, fsync, rename. */
static int
accounts_write(const struct accounts *a, const char *file, const char *text,
    mode_t mode)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", a->dir, file);
	if (ctl_replace_file(path, text, strlen(text), mode) != 0) {
		fprintf(stderr, "mxgatectl: user: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The line of text that starts with "name:", or NULL; *len its length
 * without the newline. */
static char *
find_line(char *text, const char *name, size_t *len)
{
	size_t n = strlen(name);
	char *p = text, *end;

	while (*p != '\0') {
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == ':') {
			*len = (size_t)(end - p);
			return p;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

/* text with its line for name replaced by line (NULL: removed; a line
 * that does not exist is appended); malloc'd. */
static char *
with_line(const char *text, const char *name, const char *line)
{
	size_t tl = strlen(text), ll = line ? strlen(line) + 1 : 0, len = 0;
	char *copy = strdup(text), *out, *at;

	if (copy == NULL || (out = malloc(tl + ll + 2)) == NULL) {
		free(copy);
		return NULL;
	}
	at = find_line(copy, name, &len);
	if (at == NULL) {
		memcpy(out, text, tl);
		out[tl] = '\0';
		if (tl > 0 && text[tl - 1] != '\n')
			strcat(out, "\n");
		if (line)
			strcat(strcat(out, line), "\n");
	} else {
		size_t head = (size_t)(at - copy), rest = head + len;
		if (copy[rest] == '\n')
			rest++;
		memcpy(out, text, head);
		out[head] = '\0';
		if (line)
			strcat(strcat(out, line), "\n");
		strcat(out, text + rest);
	}
	free(copy);
	return out;
}

/* Field i (0-based) of a colon-separated line, copied into out. */
static const char *
field(const char *line, size_t len, int i, char *out, size_t size)
{
	size_t at = 0, n;

	while (i > 0 && at < len) {
		if (line[at++] == ':')
			i--;
	}
	for (n = 0; at + n < len && line[at + n] != ':'; n++)
		;
	if (n >= size)
		n = size - 1;
	memcpy(out, line + at, n);
	out[n] = '\0';
	return out;
}

static long
field_num(const char *line, size_t len, int i)
{
	char buf[24];

	return strtol(field(line, len, i, buf, sizeof(buf)), NULL, 10);
}

static const char *
role_of_gid(long gid)
{
	return gid == CTL_GID_ADMIN ? "admin" :
	    gid == CTL_GID_OPERATOR ? "operator" : NULL;
}

/* Calls fn for every personal account (uid in range, a role's group). */
static int
each_person(char *passwd, int (*fn)(void *, const char *, size_t),
    void *arg)
{
	char *p = passwd, *end;
	long uid;
	int n = 0;

	while (*p != '\0') {
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		uid = field_num(p, (size_t)(end - p), 2);
		if (uid >= UID_FIRST && uid <= UID_LAST &&
		    role_of_gid(field_num(p, (size_t)(end - p), 3)) != NULL) {
			n++;
			if (fn != NULL && fn(arg, p, (size_t)(end - p)) != 0)
				return -1;
		}
		p = *end ? end + 1 : end;
	}
	return n;
}

static int
count_admin(void *arg, const char *line, size_t len)
{
	if (field_num(line, len, 3) == CTL_GID_ADMIN)
		(*(int *)arg)++;
	return 0;
}

static int
max_uid(void *arg, const char *line, size_t len)
{
	long uid = field_num(line, len, 2);

	if (uid > *(long *)arg)
		*(long *)arg = uid;
	return 0;
}

int
ctl_read_secret(const char *prompt, char *out, size_t size)
{
	struct termios old, quiet;
	int tty = isatty(0) && tcgetattr(0, &old) == 0;
	size_t n;

	if (tty) {
		/* echo off before the prompt, nothing typed discarded: a
		 * fast typist (or a test) answers as soon as it shows */
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSANOW, &quiet);
		fprintf(stderr, "%s", prompt);
	}
	if (fgets(out, (int)size, stdin) == NULL)
		out[0] = '\0', n = SIZE_MAX;
	else
		n = strcspn(out, "\r\n");
	if (tty) {
		tcsetattr(0, TCSANOW, &old);
		fputc('\n', stderr);
	}
	if (n == SIZE_MAX)
		return -1;
	out[n] = '\0';
	return 0;
}

/* A new password (asked twice on a terminal) hashed into hash. */
static int
new_password_hash(char *hash, size_t size)
{
	static const char b64[] =
	    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	char pw[PASSWORD_MAX], again[PASSWORD_MAX] = "", salt[3 + 16 + 2];
	char h[SHACRYPT_MAX];
	unsigned char rnd[16];
	size_t i;

	if (ctl_read_secret("new password: ", pw, sizeof(pw)) != 0) {
		fprintf(stderr, "mxgatectl: user: no password given\n");
		return -1;
	}
	if (isatty(0) && (ctl_read_secret("again: ", again,
	    sizeof(again)) != 0 || strcmp(pw, again) != 0)) {
		fprintf(stderr, "mxgatectl: user: the two passwords differ; "
		    "nothing changed\n");
		return -1;
	}
	if (strlen(pw) < 8) {
		fprintf(stderr, "mxgatectl: user: a password has at least 8 "
		    "characters; nothing changed\n");
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	memcpy(salt, "$6$", 3);
	for (i = 0; i < sizeof(rnd); i++)
		salt[3 + i] = b64[rnd[i] % 64];
	salt[3 + 16] = '$';
	salt[3 + 17] = '\0';
	i = shacrypt(pw, salt, h) == 0;
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
	if (!i || strlen(h) >= size) {
		fprintf(stderr, "mxgatectl: user: cannot hash the password\n");
		return -1;
	}
	memcpy(hash, h, strlen(h) + 1);
	return 0;
}

/* A copy of shadow (hashes) wiped before it is freed. */
static void
free_secret(char *p)
{
	if (p != NULL) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

static void
shadow_line(char *out, size_t size, const char *name, const char *hash)
{
	snprintf(out, size, "%s:%s:%lld:0:99999:7:::", name, hash,
	    (long long)(time(NULL) / 86400));
}

int
ctl_account_get(const char *name, struct ctl_account *out)
{
	struct accounts a;
	const char *l;
	size_t len;
	long uid;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!account_name_valid(name) || accounts_load(&a, 0) != 0)
		return -1;
	if ((l = find_line(a.passwd, name, &len)) != NULL &&
	    (uid = field_num(l, len, 2)) >= UID_FIRST && uid <= UID_LAST &&
	    role_of_gid(field_num(l, len, 3)) != NULL) {
		str_copy(out->name, name, sizeof(out->name));
		out->uid = uid;
		out->gid = field_num(l, len, 3);
		field(l, len, 5, out->home, sizeof(out->home));
		field(l, len, 6, out->shell, sizeof(out->shell));
		if ((l = find_line(a.shadow, name, &len)) != NULL) {
			field(l, len, 1, out->hash, sizeof(out->hash));
			rc = 0;
		}
	}
	accounts_free(&a);
	return rc;
}

/* --- the subcommands ------------------------------------------------- */

static int
print_person(void *arg, const char *line, size_t len)
{
	struct accounts *a = arg;
	char name[NAME_MAX_LEN], hash[8];
	const char *state = "no password", *s;
	size_t sl;

	field(line, len, 0, name, sizeof(name));
	if ((s = find_line(a->shadow, name, &sl)) != NULL) {
		field(s, sl, 1, hash, sizeof(hash));
		state = hash[0] == '!' || hash[0] == '*' ? "locked" :
		    hash[0] == '\0' ? "no password" : "password set";
	}
	printf("%-16s %-9s %6ld  %s\n", name, role_of_gid(field_num(line, len,
	    3)), field_num(line, len, 2), state);
	return 0;
}

static int
user_list(void)
{
	struct accounts a;

	if (accounts_load(&a, 0) != 0)
		return EXIT_TEMP;
	printf("%-16s %-9s %6s  %s\n", "NAME", "ROLE", "UID", "PASSWORD");
	each_person(a.passwd, print_person, &a);
	accounts_free(&a);
	return EXIT_OK;
}

/* given: the hash to store (a seed), else asked (or none: nopass) */
static int
user_add(struct ctl *c, const char *name, const char *role, int nopass,
    const char *given)
{
	struct accounts a;
	char hash[160] = "!", pline[256], sline[256], home[128], arg[96];
	char *np = NULL, *ns = NULL;
	long uid = UID_FIRST - 1, gid;
	size_t len;
	int rc = EXIT_TEMP;

	gid = strcmp(role, "admin") == 0 ? CTL_GID_ADMIN : CTL_GID_OPERATOR;
	snprintf(arg, sizeof(arg), "%s role=%s", name, role);
	ctl_audit_open(c);
	if (accounts_load(&a, 1) != 0)
		goto out;
	if (find_line(a.passwd, name, &len) != NULL ||
	    find_line(a.shadow, name, &len) != NULL) {
		fprintf(stderr, "mxgatectl: user: %s exists\n", name);
		ctl_audit(c, "user.add", arg, "refused: exists");
		rc = EXIT_PERM;
		goto out;
	}
	each_person(a.passwd, max_uid, &uid);
	if (++uid > UID_LAST) {
		fprintf(stderr, "mxgatectl: user: no free uid\n");
		goto out;
	}
	if (given != NULL)
		snprintf(hash, sizeof(hash), "%s", given);
	else if (!nopass && new_password_hash(hash, sizeof(hash)) != 0) {
		ctl_audit(c, "user.add", arg, "refused: password");
		rc = EXIT_PERM;
		goto out;
	}
	snprintf(home, sizeof(home), "%s/%s", HOME_BASE, name);
	snprintf(pline, sizeof(pline), "%s:x:%ld:%ld:%s:%s:%s", name, uid, gid,
	    role, home, CONSOLE_SHELL);
	shadow_line(sline, sizeof(sline), name, hash);
	explicit_bzero(hash, sizeof(hash));
	if ((ns = with_line(a.shadow, name, sline)) == NULL ||
	    (np = with_line(a.passwd, name, pline)) == NULL ||
	    accounts_write(&a, "shadow", ns, 0600) != 0 ||
	    accounts_write(&a, "passwd", np, 0644) != 0) {
		ctl_audit(c, "user.add", arg, "failed");
		goto out;
	}
	/* the appliance's homes; a host without /data/home has none */
	if (access(HOME_BASE, F_OK) == 0 && ((mkdir(home, 0700) != 0 &&
	    errno != EEXIST) || chown(home, (uid_t)uid, (gid_t)gid) != 0))
		fprintf(stderr, "mxgatectl: user: %s: %s\n", home,
		    strerror(errno));
	printf("%s added: %s, uid %ld%s\n", name, role, uid, nopass ?
	    ", no password yet (mxgatectl user passwd)" : "");
	ctl_audit(c, "user.add", arg, "ok");
	rc = EXIT_OK;
out:
	explicit_bzero(sline, sizeof(sline));
	free(np);
	free_secret(ns);
	accounts_free(&a);
	return rc;
}

static int
user_del(struct ctl *c, const char *name)
{
	struct accounts a;
	char *np = NULL, *ns = NULL, *line;
	size_t len;
	int admins = 0, rc = EXIT_TEMP;
	long uid;

	ctl_audit_open(c);
	if (accounts_load(&a, 1) != 0)
		goto out;
	if ((line = find_line(a.passwd, name, &len)) == NULL ||
	    (uid = field_num(line, len, 2)) < UID_FIRST || uid > UID_LAST ||
	    role_of_gid(field_num(line, len, 3)) == NULL) {
		fprintf(stderr, "mxgatectl: user: %s is not a personal "
		    "account\n", name);
		ctl_audit(c, "user.del", name, "refused: no such account");
		rc = EXIT_PERM;
		goto out;
	}
	each_person(a.passwd, count_admin, &admins);
	if (field_num(line, len, 3) == CTL_GID_ADMIN && admins <= 1) {
		fprintf(stderr, "mxgatectl: user: %s is the last admin; add "
		    "another admin first\n", name);
		ctl_audit(c, "user.del", name, "refused: last admin");
		rc = EXIT_PERM;
		goto out;
	}
	if ((np = with_line(a.passwd, name, NULL)) == NULL ||
	    (ns = with_line(a.shadow, name, NULL)) == NULL ||
	    accounts_write(&a, "passwd", np, 0644) != 0 ||
	    accounts_write(&a, "shadow", ns, 0600) != 0) {
		ctl_audit(c, "user.del", name, "failed");
		goto out;
	}
	printf("%s deleted (the home directory %s/%s stays)\n", name,
	    HOME_BASE, name);
	ctl_audit(c, "user.del", name, "ok");
	rc = EXIT_OK;
out:
	free(np);
	free_secret(ns);
	accounts_free(&a);
	return rc;
}

/* The current password of an operator changing their own. */
static int
old_password_ok(const char *shadow, const char *name)
{
	char pw[PASSWORD_MAX], hash[160], h[SHACRYPT_MAX];
	const char *s;
	size_t sl;
	int ok;

	if ((s = find_line((char *)shadow, name, &sl)) == NULL)
		return 0;
	field(s, sl, 1, hash, sizeof(hash));
	if (hash[0] == '\0')
		return 1;	/* none set yet */
	if (ctl_read_secret("current password: ", pw, sizeof(pw)) != 0)
		return 0;
	ok = shacrypt(pw, hash, h) == 0 && strcmp(h, hash) == 0;
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(hash, sizeof(hash));
	return ok;
}

/* given: the hash to store (a seed), else a new password asked */
static int
set_password(struct ctl *c, const char *name, const char *given)
{
	struct accounts a;
	char hash[160], sline[256], *ns = NULL, *line;
	size_t len;
	int rc = EXIT_TEMP;

	ctl_audit_open(c);
	if (accounts_load(&a, 1) != 0)
		goto out;
	if ((line = find_line(a.passwd, name, &len)) == NULL ||
	    role_of_gid(field_num(line, len, 3)) == NULL) {
		fprintf(stderr, "mxgatectl: user: %s is not a personal "
		    "account\n", name);
		ctl_audit(c, "user.passwd", name, "refused: no such account");
		rc = EXIT_PERM;
		goto out;
	}
	if (c->role == CTL_OPERATOR && (strcmp(name, c->person) != 0 ||
	    !old_password_ok(a.shadow, name))) {
		fprintf(stderr, "mxgatectl: user: an operator may change only "
		    "their own password, with the current one\n");
		ctl_audit(c, "user.passwd", name, "refused: not permitted");
		rc = EXIT_PERM;
		goto out;
	}
	if (given != NULL)
		snprintf(hash, sizeof(hash), "%s", given);
	else if (new_password_hash(hash, sizeof(hash)) != 0) {
		ctl_audit(c, "user.passwd", name, "refused: password");
		rc = EXIT_PERM;
		goto out;
	}
	shadow_line(sline, sizeof(sline), name, hash);
	explicit_bzero(hash, sizeof(hash));
	if ((ns = with_line(a.shadow, name, sline)) == NULL ||
	    accounts_write(&a, "shadow", ns, 0600) != 0) {
		ctl_audit(c, "user.passwd", name, "failed");
		goto out;
	}
	printf("password of %s changed\n", name);
	ctl_audit(c, "user.passwd", name, "ok");
	rc = EXIT_OK;
out:
	explicit_bzero(sline, sizeof(sline));
	free_secret(ns);
	accounts_free(&a);
	return rc;
}

int
ctl_user_passwd(struct ctl *c, const char *name)
{
	return set_password(c, name, NULL);
}

int
ctl_user_seed(struct ctl *c, const char *name, int admin, const char *hash)
{
	struct ctl_account a;

	if (ctl_account_get(name, &a) == 0)
		return hash[0] != '\0' ? set_password(c, name, hash) : EXIT_OK;
	return user_add(c, name, admin ? "admin" : "operator", hash[0] == '\0',
	    hash[0] != '\0' ? hash : NULL);
}

int
ctl_user(struct ctl *c, int argc, char **argv)
{
	const char *role = "operator";
	int nopass = 0, i;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return user_list();
	if (argc < 3 || !account_name_valid(argv[2])) {
		fprintf(stderr, "usage: mxgatectl user list | add NAME [--role "
		    "admin|operator] [--no-password] | del NAME | passwd NAME\n"
		    "(NAME: a lower-case letter or _, then letters, digits, "
		    "_ or -, at most %d)\n", NAME_MAX_LEN - 1);
		return EXIT_PERM;
	}
	if (strcmp(argv[1], "passwd") == 0 && argc == 3)
		return ctl_user_passwd(c, argv[2]);
	if (c->role == CTL_OPERATOR) {
		fprintf(stderr, "mxgatectl: user %s: operators may not change "
		    "accounts\n", argv[1]);
		return EXIT_PERM;
	}
	if (strcmp(argv[1], "del") == 0 && argc == 3)
		return user_del(c, argv[2]);
	if (strcmp(argv[1], "add") != 0)
		return ctl_user(c, 0, argv);
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--role") == 0 && i + 1 < argc &&
		    (strcmp(argv[i + 1], "admin") == 0 ||
		    strcmp(argv[i + 1], "operator") == 0))
			role = argv[++i];
		else if (strcmp(argv[i], "--no-password") == 0)
			nopass = 1;
		else
			return ctl_user(c, 0, argv);
	}
	return user_add(c, argv[2], role, nopass, NULL);
}
