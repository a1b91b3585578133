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
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
	{ "factory-reset", ctl_system_cmd, "factory-reset" },
	{ "shell", ctl_system_cmd, "shell" },
	{ "user", ctl_user,
	    "user list | add NAME [--role admin|operator] [--no-password] |\n"
	    "                   del NAME | passwd NAME" },
	{ "login", ctl_login, "login [NAME]   (root: getty runs it)" },
	{ "seed", ctl_seed, "seed check|apply DIR [--source NAME]" },
	{ "update", ctl_update,
	    "update status [--json] | apply FILE|DEVICE|esp:NAME\n"
	    "                   [--allow-downgrade] [--reboot] |"
	    " rollback [--reboot]" },
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

void
ctl_self_argv(const struct ctl *c, char **argv, const char *const *args,
    int n)
{
	int k = 0, i;

	argv[k++] = "mxgatectl";
	argv[k++] = "-f";
	argv[k++] = (char *)c->config_path;
	if (c->audit_path != NULL) {
		argv[k++] = "-a";
		argv[k++] = (char *)c->audit_path;
	}
	if (c->key_path != NULL) {
		argv[k++] = "-k";
		argv[k++] = (char *)c->key_path;
	}
	for (i = 0; i < n; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
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

/* The appliance's audit log: an operator's set-uid mxgatectl writes
 * here whatever the environment says. */
#define CTL_APPLIANCE_AUDIT	"/data/audit.log"

/* What an operator may run: reading commands, and their own password. */
static int
operator_may(int argc, char **argv)
{
	static const char *const reads[] = {
		"status", "gate", "gate status", "queue list", "logs search",
		"audit show", "audit verify", "audit login", "audit logout",
		"config show", "config diff", "config history",
		"mailboxes list", "user list", "user passwd", "update status",
	};
	char what[64];
	size_t i;
	int j;

	snprintf(what, sizeof(what), "%s%s%s", argv[0], argc > 1 ? " " : "",
	    argc > 1 ? argv[1] : "");
	for (j = 2; j < argc; j++)	/* logs search reads no other files */
		if (strcmp(argv[j], "--dir") == 0 ||
		    strcmp(argv[j], "--key") == 0)
			return 0;
	for (i = 0; i < ARRAY_LEN(reads); i++)
		if (strcmp(what, reads[i]) == 0)
			return 1;
	return 0;
}

/* Who runs us (the real uid) and what they may do. Set-uid root (the
 * appliance's mxgatectl is mode 4755), an admin or an operator becomes
 * root for good once the person is recorded, so that the programs a
 * command runs (config-apply, nft, an editor) see one identity; an
 * operator first loses every option and the whole environment (paths a
 * root process would otherwise read or write for them) but TERM. Without
 * set-uid the kernel's permissions are the limit. */
static void
take_role(struct ctl *c, int argc, char **argv, int had_options)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	int setuid_root = geteuid() == 0 && uid != 0;
	const struct passwd *pw = getpwuid(uid);
	const char *role, *term;
	char tterm[32] = "";

	if (uid == 0) {
		c->role = CTL_ROOT;
		role = "root";
	} else if (gid == CTL_GID_ADMIN) {
		c->role = CTL_ADMIN;
		role = "admin";
	} else if (gid == CTL_GID_OPERATOR) {
		c->role = CTL_OPERATOR;
		role = "operator";
	} else if (!setuid_root) {
		c->role = CTL_ROOT;	/* a host user with its own rights */
		role = "self";
	} else
		fatalx(EXIT_PERM, "uid %u is neither an admin (group mxadmin) "
		    "nor an operator (group mxoper)", (unsigned)uid);
	ctl_who_init(uid, role);
	if (pw != NULL)
		str_copy(c->person, pw->pw_name, sizeof(c->person));
	else
		snprintf(c->person, sizeof(c->person), "uid%u", (unsigned)uid);
	if (c->role == CTL_OPERATOR) {
		if (had_options || !operator_may(argc, argv)) {
			fprintf(stderr, "mxgatectl: %s is an operator: may read "
			    "(status, logs search, queue list, audit show, "
			    "config show, ...) and change their own password, "
			    "nothing else\n", c->person);
			/* audited where the appliance keeps its trail
			 * (set-uid root may open it; a host has none) */
			c->audit_fd = open(CTL_APPLIANCE_AUDIT, O_RDWR |
			    O_APPEND | O_CLOEXEC | O_NOFOLLOW);
			if (c->audit_fd >= 0) {
				str_copy(c->audit_file, CTL_APPLIANCE_AUDIT,
				    sizeof(c->audit_file));
				ctl_audit(c, argv[0], argc > 1 ? argv[1] : NULL,
				    "refused: operator");
			}
			exit(EXIT_PERM);
		}
		/* a fixed environment: nothing of the caller's reaches a
		 * root process but the terminal's type */
		term = getenv("TERM");
		if (term != NULL && strlen(term) < sizeof(tterm) &&
		    strspn(term, "abcdefghijklmnopqrstuvwxyz0123456789-.") ==
		    strlen(term))
			str_copy(tterm, term, sizeof(tterm));
		clearenv();
		setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
		setenv("USER", c->person, 1);
		setenv("LOGNAME", c->person, 1);
		if (tterm[0] != '\0')
			setenv("TERM", tterm, 1);
		c->audit_path = CTL_APPLIANCE_AUDIT;
	}
	if (setuid_root && (setgroups(0, NULL) != 0 ||
	    setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0))
		fatal(EXIT_TEMP, "cannot become root");
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
	if (argc < 1)
		usage();
	take_role(&c, argc, argv, optind > 1);
	if (c.audit_path == NULL && getenv("MXGATECTL_AUDIT") != NULL &&
	    getenv("MXGATECTL_AUDIT")[0] != '\0')
		c.audit_path = getenv("MXGATECTL_AUDIT");
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
