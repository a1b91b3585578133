/*
 * ctl_system.c — `mxgatectl reboot`, `poweroff`, `factory-reset` and
 * `shell`: the appliance's own power, its return to the factory state,
 * and its maintenance shell, each audited.
 *
 *   reboot | poweroff    audited, then /sbin/reboot or /sbin/poweroff
 *                        (init/poweroff: services stopped through s6, the
 *                        data partition unmounted); $MXGATECTL_POWER names
 *                        another program (the tests use it), which gets
 *                        "reboot" or "poweroff" as its argument
 *   factory-reset        says what is lost, wants "factory-reset" typed,
 *                        leaves FACTORY_MARK (who asked, when) beside
 *                        the audit log, audited, then reboots: init/init
 *                        finds the mark, makes a new filesystem on the
 *                        data partition, and starts the new audit trail
 *                        with `audit factory-reset-done`
 *   shell                a warning, the entry audited, /bin/sh (or
 *                        $SHELL), the exit audited with its status
 *
 * Owns nothing; never runs anything but the one program named above.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

/* Runs argv and waits; its exit status, or -1. */
static int
run_wait(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execv(argv[0], argv);
		fprintf(stderr, "mxgatectl: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	/* the shell's ^C is its own, not ours */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
ctl_power(struct ctl *c, const char *what)
{
	const char *prog = getenv("MXGATECTL_POWER");
	char path[64];
	char *argv[3];
	int rc;

	ctl_audit_open(c);
	/* audited before: afterwards there may be no "after" */
	ctl_audit(c, what, NULL, "requested");
	if (prog != NULL && prog[0] != '\0') {
		argv[0] = (char *)prog;
		argv[1] = (char *)what;
		argv[2] = NULL;
	} else {
		snprintf(path, sizeof(path), "/sbin/%s", what);
		argv[0] = path;
		argv[1] = NULL;
	}
	rc = run_wait(argv);
	if (rc != 0) {
		fprintf(stderr, "mxgatectl: %s failed (status %d)\n", what, rc);
		ctl_audit(c, what, NULL, "failed");
		return EXIT_TEMP;
	}
	return EXIT_OK;
}

#define FACTORY_MARK	".factory-reset"
#define FACTORY_WORD	"factory-reset"

static int
factory_reset(struct ctl *c)
{
	char answer[64], mark[CONF_PATH_MAX + 32], who[256], stamp[32];
	char text[400], *slash;
	time_t now = time(NULL);
	struct tm tm;

	ctl_audit_open(c);
	printf("factory-reset erases the data partition: the configuration "
	    "and its\nrevisions, the outage queue with every message still in "
	    "it (lost:\nsee mxgatectl queue list first), the logs, the audit "
	    "trail, the\naccounts and passwords, the TLS and queue keys. The "
	    "appliance then\nreboots into its first-boot setup (or applies the "
	    "ESP's seed files).\ntype %s to go on: ", FACTORY_WORD);
	fflush(stdout);
	if (fgets(answer, sizeof(answer), stdin) == NULL ||
	    (answer[strcspn(answer, "\r\n")] = '\0',
	    strcmp(answer, FACTORY_WORD) != 0)) {
		printf("\nnothing erased\n");
		ctl_audit(c, "factory-reset", NULL, "refused: not confirmed");
		return EXIT_PERM;
	}
	str_copy(mark, c->audit_file, sizeof(mark));
	slash = strrchr(mark, '/');
	snprintf(slash ? slash + 1 : mark, sizeof(mark) - (size_t)(slash ?
	    slash + 1 - mark : 0), "%s", FACTORY_MARK);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	ctl_who(who, sizeof(who));
	snprintf(text, sizeof(text), "requested %s by %s\n", stamp, who);
	if (ctl_write_file(mark, text, strlen(text), 0600) != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", mark, strerror(errno));
		ctl_audit(c, "factory-reset", NULL, "failed: no mark");
		return EXIT_TEMP;
	}
	ctl_audit(c, "factory-reset", NULL, "requested: erased at the next "
	    "boot");
	return ctl_power(c, "reboot");
}

static int
shell(struct ctl *c)
{
	const char *sh = getenv("SHELL");
	char *argv[2], result[32];
	int rc;

	if (sh == NULL || sh[0] != '/' || strstr(sh, "mxgate") != NULL)
		sh = "/bin/sh";		/* never the console menu itself */
	ctl_audit_open(c);
	ctl_audit(c, "shell.enter", sh, "ok");
	fprintf(stderr, "mxgatectl: the maintenance shell. What you change "
	    "here by hand bypasses\nthe configuration's revisions and is not "
	    "audited line by line; `exit` ends it.\n");
	argv[0] = (char *)sh;
	argv[1] = NULL;
	rc = run_wait(argv);
	snprintf(result, sizeof(result), "status=%d", rc);
	ctl_audit(c, "shell.exit", sh, result);
	return rc < 0 ? EXIT_TEMP : EXIT_OK;
}

int
ctl_system_cmd(struct ctl *c, int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "usage: mxgatectl %s\n", argv[0]);
		return EXIT_PERM;
	}
	if (strcmp(argv[0], "reboot") == 0 || strcmp(argv[0], "poweroff") == 0)
		return ctl_power(c, argv[0]);
	if (strcmp(argv[0], "factory-reset") == 0)
		return factory_reset(c);
	return shell(c);
}
