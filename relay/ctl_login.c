/*
 * ctl_login.c — `mxgatectl login`: the consoles' login, which getty runs
 * (init/login: getty -l). Root only.
 *
 *   login [NAME]   at most three attempts, then exit 1 (getty starts over)
 *
 * Only personal accounts (ctl_user.c) may log in; root, the system users
 * and unknown names never do. The password is checked against shadow
 * (SHA-512 crypt, shacrypt.c); an account without a password (the first
 * boot's admin) logs in without one, a locked one ("!") never. Every
 * failure is audited (console.login-failed; an unknown name as UNKNOWN,
 * so a password typed as a name is never written) and counted per
 * account in `faillog` beside the account files; after LOCK_AFTER
 * failures in a row the account is locked out for 1 minute, doubling with
 * each further failure up to 15 minutes: never for good, so the last
 * admin always gets back in. A success clears the count. Each failure
 * costs FAIL_DELAY seconds. Successes, failures and lock-outs also go to
 * syslog (auth, as "login": the syslog service keeps them).
 *
 * Then the session: the terminal is given to the account, the
 * identity dropped in a fixed order (groups, gid, uid, and a check that
 * root cannot be regained), a clean environment, the home directory, and
 * the account's shell (the console menu) as a login shell.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "shacrypt.h"
#include "util.h"

#define ATTEMPTS	3
#define FAIL_DELAY	3	/* seconds */
#define LOCK_AFTER	5	/* failures in a row */
#define LOCK_FIRST	60	/* seconds, doubling */
#define LOCK_MAX	900

enum faillog_op {
	FL_READ,	/* the count and lock-out */
	FL_FAIL,	/* one failure more, and its lock-out */
	FL_CLEAR	/* a success: neither any more */
};

/* name's failures in a row and the end of its lock-out (0: none) into
 * *count and *until, after op; one read-modify-write under the accounts
 * lock, so two consoles failing at once both count. 0, or -1. */
static int
faillog_do(const char *name, enum faillog_op op, long *count,
    long long *until)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	char *text, *p, *end, *out;
	size_t len, nl = strlen(name), o = 0;
	int lock, rc = -1;

	*count = 0;
	*until = 0;
	if (ctl_accounts_dir(dir, sizeof(dir)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/.accounts.lock", dir);
	if ((lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0)
		return -1;
	if (flock(lock, LOCK_EX) != 0) {
		close(lock);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/faillog", dir);
	if ((text = ctl_read_file(path, &len)) == NULL) {
		if (errno != ENOENT)
			goto out;
		text = strdup("");
		len = 0;
	}
	if (text == NULL || (out = malloc(len + nl + 48)) == NULL)
		goto out;
	for (p = text; *p != '\0'; p = *end ? end + 1 : end) {
		if ((end = strchr(p, '\n')) == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == ' ') {
			sscanf(p + nl, " %ld %lld", count, until);
			continue;	/* written again below, if at all */
		}
		memcpy(out + o, p, (size_t)(end - p));
		o += (size_t)(end - p);
		out[o++] = '\n';
	}
	if (op == FL_FAIL && ++*count >= LOCK_AFTER) {
		long long s = (long long)LOCK_FIRST << (*count - LOCK_AFTER < 4 ?
		    *count - LOCK_AFTER : 4);

		*until = (long long)time(NULL) + (s > LOCK_MAX ? LOCK_MAX : s);
	} else if (op == FL_CLEAR)
		*count = *until = 0;
	if (*count > 0)
		o += (size_t)sprintf(out + o, "%s %ld %lld\n", name, *count,
		    *until);
	out[o] = '\0';
	rc = op == FL_READ ? 0 : ctl_replace_file(path, out, o, 0600);
	free(out);
out:
	free(text);
	close(lock);
	return rc;
}

/* The terminal's name for syslog ("ttyS0"), or "?" */
static const char *
tty_short(void)
{
	const char *t = ttyname(0);

	if (t == NULL)
		return "?";
	return strncmp(t, "/dev/", 5) == 0 ? t + 5 : t;
}

/* A failed attempt at account a (NULL: an unknown name). */
static void
failed(struct ctl *c, const struct ctl_account *a)
{
	char result[96];
	long count = 0;
	long long until = 0;

	if (a != NULL)
		(void)faillog_do(a->name, FL_FAIL, &count, &until);
	if (until > 0)
		snprintf(result, sizeof(result), "bad password: failure %ld, "
		    "locked for %lld s", count, until - (long long)time(NULL));
	else
		snprintf(result, sizeof(result), a ? "bad password: failure "
		    "%ld" : "no such account", count);
	ctl_audit(c, "console.login-failed", a ? a->name : "UNKNOWN", result);
	syslog(LOG_WARNING, "invalid password for '%s' on '%s'", a ? a->name :
	    "UNKNOWN", tty_short());
	sleep(FAIL_DELAY);
	printf("Login incorrect\n");
}

static void __attribute__((noreturn))
start_session(const struct ctl_account *a)
{
	const char *term = getenv("TERM"), *base = strrchr(a->shell, '/');
	char argv0[sizeof(a->shell) + 1], tterm[32] = "";

	if (term != NULL && strlen(term) < sizeof(tterm))
		str_copy(tterm, term, sizeof(tterm));
	syslog(LOG_INFO, "login of '%s' (%s) on '%s'", a->name, a->gid ==
	    CTL_GID_ADMIN ? "admin" : "operator", tty_short());
	closelog();
	fflush(stdout);
	if (fchown(0, (uid_t)a->uid, (gid_t)a->gid) != 0 && isatty(0))
		fprintf(stderr, "mxgatectl: login: the terminal stays "
		    "root's: %s\n", strerror(errno));
	if (isatty(0))
		fchmod(0, 0600);
	if (setgroups(0, NULL) != 0 || setresgid((gid_t)a->gid, (gid_t)a->gid,
	    (gid_t)a->gid) != 0 || setresuid((uid_t)a->uid, (uid_t)a->uid,
	    (uid_t)a->uid) != 0)
		fatal(EXIT_TEMP, "login: cannot become %s", a->name);
	if (setuid(0) == 0)
		fatalx(EXIT_TEMP, "login: could regain root");
	clearenv();
	setenv("HOME", a->home, 1);
	setenv("SHELL", a->shell, 1);
	setenv("USER", a->name, 1);
	setenv("LOGNAME", a->name, 1);
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
	if (tterm[0] != '\0')
		setenv("TERM", tterm, 1);
	if (chdir(a->home) != 0 && chdir("/") != 0)
		fatal(EXIT_TEMP, "login: chdir /");
	snprintf(argv0, sizeof(argv0), "-%s", base ? base + 1 : a->shell);
	execl(a->shell, argv0, (char *)NULL);
	fatal(EXIT_TEMP, "login: %s", a->shell);
}

int
ctl_login(struct ctl *c, int argc, char **argv)
{
	struct ctl_account a;
	char name[64] = "", pw[256], host[64] = "mxgate", hash[SHACRYPT_MAX];
	char result[64];
	long count;
	long long until;
	int tries, known;

	if (c->role != CTL_ROOT || getuid() != 0) {
		fprintf(stderr, "mxgatectl: login: root only (getty runs "
		    "it)\n");
		return EXIT_PERM;
	}
	if (argc > 2) {
		fprintf(stderr, "usage: mxgatectl login [NAME]\n");
		return EXIT_PERM;
	}
	if (argc == 2)
		str_copy(name, argv[1], sizeof(name));
	gethostname(host, sizeof(host) - 1);
	c->audit_path = c->audit_path ? c->audit_path : "/data/audit.log";
	ctl_audit_open(c);
	openlog("login", LOG_PID, LOG_AUTH);
	for (tries = 0; tries < ATTEMPTS; tries++, name[0] = '\0') {
		if (name[0] == '\0') {
			printf("%s login: ", host);
			fflush(stdout);
			if (fgets(name, sizeof(name), stdin) == NULL)
				return 1;
			name[strcspn(name, "\r\n")] = '\0';
			if (name[0] == '\0') {
				tries--;
				continue;
			}
		}
		known = ctl_account_get(name, &a) == 0;
		if (known && faillog_do(a.name, FL_READ, &count, &until) == 0 &&
		    until > (long long)time(NULL)) {
			snprintf(result, sizeof(result), "locked for %lld s",
			    until - (long long)time(NULL));
			ctl_audit(c, "console.login-locked", a.name, result);
			syslog(LOG_WARNING, "'%s' is locked out (%s) on '%s'",
			    a.name, result, tty_short());
			printf("%s is locked after %ld failed logins; try again "
			    "in %lld s\n", a.name, count, until -
			    (long long)time(NULL));
			sleep(FAIL_DELAY);
			continue;
		}
		if (known && a.hash[0] == '\0')
			start_session(&a);	/* no password yet */
		if (ctl_read_secret("Password: ", pw, sizeof(pw)) != 0)
			return 1;
		if (known && a.hash[0] == '$' && shacrypt(pw, a.hash, hash) ==
		    0 && strcmp(hash, a.hash) == 0) {
			explicit_bzero(pw, sizeof(pw));
			(void)faillog_do(a.name, FL_CLEAR, &count, &until);
			start_session(&a);
		}
		explicit_bzero(pw, sizeof(pw));
		failed(c, known ? &a : NULL);
	}
	return 1;
}
