/*
 * mxgatectl.c — the admin tool's entry point: global options, the
 * subcommand table, the configuration and the audit log every subcommand
 * writes to. See docs/mxgatectl.8.md.
 *
 *   mxgatectl [-f FILE] [-a AUDITLOG] [-k KEYFILE] COMMAND [ARGS]
 *
 * Owns nothing but its process. Never talks to the daemon's sockets or
 * the network; subcommands open what they need themselves (the queue is
 * an LMDB environment that several processes may open).
 *
 * Exit codes: 0 ok, 100 usage or permanent error, 111 temporary error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"
#include "version.h"

struct ctl_cmd {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*usage;
};

static const struct ctl_cmd cmds[] = {
	{ "queue", ctl_queue,
	    "queue list [--json] | show ID [--body] | flush [ID] |\n"
	    "                   delete ID | hold ID | release ID" },
	{ "gate", ctl_gate,
	    "gate [status] | allow|block|unallow|unblock CIDR | release IP" },
};

static void __attribute__((noreturn))
usage(void)
{
	size_t i;

	fputs("usage: mxgatectl [-f FILE] [-a AUDITLOG] [-k KEYFILE] "
	    "COMMAND [ARGS]\n       mxgatectl -V\ncommands:\n", stderr);
	for (i = 0; i < ARRAY_LEN(cmds); i++)
		fprintf(stderr, "  mxgatectl %s\n", cmds[i].usage);
	exit(EXIT_PERM);
}

struct config *
ctl_config(struct ctl *c)
{
	if (c->cf == NULL) {
		c->cf = config_load(c->config_path, stderr);
		if (c->cf == NULL) {
			fprintf(stderr, "mxgatectl: %s: unusable "
			    "configuration\n", c->config_path);
			exit(EXIT_PERM);
		}
	}
	return c->cf;
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
	c->audit_fd = open(c->audit_file, O_WRONLY | O_APPEND | O_CREAT |
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
	char line[CTL_AUDIT_LINE_MAX], stamp[32], user[64];
	const struct passwd *pw;
	struct tm tm;
	time_t now = time(NULL);
	const char *host = c->cf != NULL && c->cf->hostname[0] ?
	    c->cf->hostname : "localhost";
	size_t i;
	ssize_t w;
	int n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	pw = getpwuid(getuid());
	str_copy(user, pw != NULL ? pw->pw_name : "?", sizeof(user));
	n = snprintf(line, sizeof(line), "%s %s mxgatectl[%ld]: audit: "
	    "uid=%u user=%s op=%s arg=%s result=%s\n", stamp, host,
	    (long)getpid(), (unsigned)getuid(), user, op, arg ? arg : "-",
	    result);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		/* never cut silently: mark the cut */
		n = sizeof(line) - 1;
		memcpy(line + n - 5, "...\n", 5);
		n--;
	}
	for (i = 0; i + 1 < (size_t)n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	fputs(line, stderr);
	if (c->audit_fd < 0)
		return;
	do
		w = write(c->audit_fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	if (w != n || fsync(c->audit_fd) != 0)
		fprintf(stderr, "mxgatectl: %s: audit write failed: %s\n",
		    c->audit_file, w < 0 ? strerror(errno) : "short write");
}

int
main(int argc, char **argv)
{
	struct ctl c;
	size_t i;
	int ch;

	memset(&c, 0, sizeof(c));
	c.config_path = CTL_DEFAULT_CONFIG;
	c.audit_fd = -1;
	while ((ch = getopt(argc, argv, "+f:a:k:Vh")) != -1) {
		switch (ch) {
		case 'f': c.config_path = optarg; break;
		case 'a': c.audit_path = optarg; break;
		case 'k': c.key_path = optarg; break;
		case 'V':
			printf("mxgatectl %s\n", MXGATE_VERSION);
			return EXIT_OK;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (i = 0; i < ARRAY_LEN(cmds); i++)
		if (strcmp(argv[0], cmds[i].name) == 0) {
			int rc = cmds[i].fn(&c, argc, argv);
			if (c.audit_fd >= 0)
				close(c.audit_fd);
			if (c.cf != NULL)
				config_free(c.cf);
			return rc;
		}
	fprintf(stderr, "mxgatectl: unknown command '%s'\n", argv[0]);
	usage();
}
