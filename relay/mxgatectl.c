/*
 * mxgatectl.c — the admin tool's entry point: global options, the
 * subcommand table and the configuration (the audit log every subcommand
 * writes to is ctl_audit.c). See docs/mxgatectl.8.md.
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
	{ "mailboxes", ctl_mailboxes,
	    "mailboxes list | add ADDR... | remove ADDR... |\n"
	    "                   import FILE [--column NAME|N] [--skip-bad] |"
	    " export FILE" },
	{ "queue", ctl_queue,
	    "queue list [--json] | show ID [--body] | flush [ID] |\n"
	    "                   delete ID | hold ID | release ID" },
	{ "gate", ctl_gate,
	    "gate [status] | allow|block|unallow|unblock CIDR | release IP" },
	{ "status", ctl_status, "status [--json]" },
	{ "setup", ctl_setup, "setup" },
	{ "config", ctl_config_cmd,
	    "config show [--running] [FILE] | diff | check | edit [FILE] |\n"
	    "                   commit [-m MSG] [--confirm SECONDS] | confirm |\n"
	    "                   rollback [N] | history | discard |\n"
	    "                   export|import FILE [--passphrase-file FILE]" },
	{ "logs", ctl_logs_cmd,
	    "logs search QUEUEID|MESSAGE-ID|ADDRESS [--since T] [--until T]\n"
	    "                   [--dir DIR] [--key PRIVATE.pem] |\n"
	    "                   export DEST [--since T] "
	    "[--until T] [--dir DIR] |\n"
	    "                   keygen PRIVATE.pem PUBLIC.pem | seal FILE "
	    "ARCHIVE --key PUBLIC.pem |\n"
	    "                   open ARCHIVE OUT --key PRIVATE.pem |\n"
	    "                   guard [--dir DIR]" },
	{ "reboot", ctl_system_cmd, "reboot" },
	{ "poweroff", ctl_system_cmd, "poweroff" },
	{ "shell", ctl_system_cmd, "shell" },
	{ "audit", ctl_audit_cmd,
	    "audit show [--since TIME] [--user NAME] | verify |\n"
	    "                   export FILE | login | logout" },
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
	/* the appliance names its audit log for the console (mxgate-console,
	 * /etc/profile), so it is the same one before any configuration */
	if (c.audit_path == NULL && getenv("MXGATECTL_AUDIT") != NULL &&
	    getenv("MXGATECTL_AUDIT")[0] != '\0')
		c.audit_path = getenv("MXGATECTL_AUDIT");
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
