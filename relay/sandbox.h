/*
 * sandbox.h — how an unprivileged role locks itself in, in one fixed
 * order (STYLE 2): chroot to an empty directory, chdir, supplementary
 * groups, gid, uid, no-new-privs, rlimits, then a seccomp-bpf allow-list
 * built for the role. Any failure is fatal: a role never runs half-locked.
 */
#ifndef MXGATE_SANDBOX_H
#define MXGATE_SANDBOX_H

#include <sys/types.h>

enum role { ROLE_SMTPD, ROLE_JAIL, ROLE_QUEUE, ROLE_RUNNER, ROLE_LOGFWD };
#define RELAY_ROLES	(ROLE_RUNNER + 1)	/* the relay's children */

/* What happens when a role's process dies (the role table's restart
 * column; master.c acts on it). */
enum role_restart {
	RESTART_SELF,		/* that process alone, after a back-off */
	RESTART_GENERATION,	/* a new generation after a back-off: every
				   worker of it holds a channel to this one */
	RESTART_SUPERVISOR,	/* not the relay's child: s6 restarts it */
};

struct sandbox_ids {
	int	 privileged;	/* started as root: chroot + setuid */
	uid_t	 uid;
	gid_t	 gid;
	const char *user;	/* for the log */
	char	 empty_dir[1024];	/* chroot target (a copy: configs
					   come and go, the ids stay); "":
					   no chroot (mxgate-logfwd, which
					   reads the logs) */
};

const char *role_name(enum role r);
enum role_restart role_restart(enum role r);
/* Looks up the role's user (the role table in sandbox.c); empty_dir ""
 * for a role that keeps the file system view. */
int  sandbox_lookup(enum role r, const char *empty_dir,
    struct sandbox_ids *ids);
void sandbox_enter(enum role r, const struct sandbox_ids *ids);

#endif
