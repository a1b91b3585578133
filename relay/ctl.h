/*
 * ctl.h — what mxgatectl's subcommands share: the global options, the
 * configuration (loaded on first use), the audit log.
 *
 * A subcommand is a row of the table in mxgatectl.c and a function
 *   int NAME(struct ctl *, int argc, char **argv)   (argv[0] = its name)
 * returning an exit code (EXIT_OK, EXIT_PERM, EXIT_TEMP). Every operation
 * calls ctl_audit_open() before it touches anything and ctl_audit() with
 * its result after, so nothing happens that the audit log does not show.
 */
#ifndef MXGATE_CTL_H
#define MXGATE_CTL_H

#include <sys/types.h>

#include "config.h"

#define CTL_DEFAULT_CONFIG	"/etc/mxgate/mxgate.conf"
#define CTL_AUDIT_LINE_MAX	1024

/* Who may do what (mxgatectl.c decides at start, from the real uid):
 * root (uid 0: the boot scripts, the services, the host's tests) and an
 * admin (primary group mxadmin) may do everything; an operator (group
 * mxoper) may read — status, logs search, queue list, audit show and
 * verify, config show/diff/history, mailboxes list, gate status, user
 * list — and change their own password, nothing else. */
#define CTL_GID_ADMIN		200
#define CTL_GID_OPERATOR	201
enum ctl_role { CTL_ROOT, CTL_ADMIN, CTL_OPERATOR };

struct ctl {
	enum ctl_role	 role;
	char		 person[64];	/* the real uid's name, "uid N" */
	const char	*config_path;	/* -f */
	const char	*audit_path;	/* -a; NULL: ctl_default_audit() */
	const char	*key_path;	/* -k; NULL: queue_default_keyfile() */
	struct config	*cf;		/* ctl_config() */
	int		 audit_fd;	/* -1 until ctl_audit_open() */
	char		 audit_file[CONF_PATH_MAX];
};

/* argv for running this mxgatectl again with the same -f, -a and -k,
 * then args (n of them), NULL-ended; room for max pointers (at least
 * n + 8). mxgatectl.c. */
void ctl_self_argv(const struct ctl *c, char **argv, const char *const *args,
    int n);

/* The configuration; on errors prints them and exits 100. */
struct config *ctl_config(struct ctl *c);

/* Opens the audit log for appending (created 0600). On failure prints why
 * and exits 111: an operation that cannot be audited does not run. The
 * default file is "audit.log" beside the queue directory. */
void ctl_audit_open(struct ctl *c);

/* One line, "TIME HOST mxgatectl[PID]: audit: uid=N user=NAME login=NAME
 * tty=TTY op=OP arg=ARG result=RESULT prev=SHA256-OF-THE-LINE-BEFORE", to
 * stderr and appended to the audit log under an flock (one write, then
 * fsync); ctl_audit.c. arg may be NULL. */
void ctl_audit(struct ctl *c, const char *op, const char *arg,
    const char *result);

/* "user=NAME role=ROLE login=NAME tty=TTY" of whoever runs us
 * (ctl_audit.c): the person of the real uid, also after a set-uid
 * mxgatectl became root. ctl_who_init records it, once, first. */
void ctl_who_init(uid_t uid, const char *role);
void ctl_who(char *out, size_t size);
/* Lower-case hex SHA-256 of n bytes (ctl_audit.c). */
void ctl_sha256_hex(const void *p, size_t n, char out[65]);

/* A whole file of at most 64 MiB, NUL-terminated (ctl_config.c); NULL
 * with errno (EFBIG above the limit). */
char *ctl_read_file(const char *path, size_t *len);

/* Writes a whole file (created or truncated, mode when created) and
 * fsyncs it (ctl_config.c). 0, or -1 with errno. */
int ctl_write_file(const char *path, const char *p, size_t n, mode_t mode);
/* path replaced whole by p: a temporary beside it (.NAME.mxgatectl) with
 * exactly mode, fsync, rename, the directory fsync'd; 0, or -1 with
 * errno and path untouched. */
int ctl_replace_file(const char *path, const char *p, size_t n, mode_t mode);

/* The running revision of the configuration (ctl_config.c), -1 when it
 * was never committed; info says which, when, by whom, why. */
int ctl_config_revision(struct ctl *c, char *info, size_t size);

/* A file of the configuration directory (ctl_config.c): run is its running
 * copy; cand its candidate copy — with change, the candidate is made when
 * there is none and the configuration lock is taken for the rest of the
 * process; without, cand is the candidate's when one exists, else the
 * running one. -1 (said why) when path is not in the directory. */
int ctl_config_file(struct ctl *c, const char *path, int change, char *cand,
    char *run, size_t size);

/* Maps the relay's gate table (its live counters); NULL (said, unless
 * quiet) when the relay has none. munmap(*mem, *size) when done. */
struct gate *ctl_gate_attach(struct ctl *c, void **mem, size_t *size,
    int quiet);

/* Subcommands. */
int ctl_queue(struct ctl *c, int argc, char **argv);
int ctl_gate(struct ctl *c, int argc, char **argv);
int ctl_audit_cmd(struct ctl *c, int argc, char **argv);
int ctl_status(struct ctl *c, int argc, char **argv);
int ctl_config_cmd(struct ctl *c, int argc, char **argv);
int ctl_mailboxes(struct ctl *c, int argc, char **argv);
/* An address as the mailbox list keeps it (lower case), or NULL with
 * why (ctl_mailboxes.c). */
const char *ctl_mailbox_normalize(const char *in, char *out, size_t size,
    const char **why);
/* A directory export read as `mailboxes import` reads it: the unique
 * addresses, one per line (malloc'd), their count in *count; NULL with
 * every bad row said on stderr (ctl_mailboxes.c). */
char *ctl_mailboxes_read_export(const char *file, size_t *count);
/* setup (ctl_setup.c): the first-configuration questions */
int ctl_setup(struct ctl *c, int argc, char **argv);
int ctl_logs_cmd(struct ctl *c, int argc, char **argv);
/* logs guard [--dir DIR] (ctl_logguard.c), called by ctl_logs_cmd */
int ctl_logs_guard(struct ctl *c, const char *dir);

/* The file beside the configuration that log archives are sealed to
 * (init/service/logretention/run reads the same name). */
#define CTL_ARCHIVE_KEY	"log-archive-key.pem"
/* 0 when path holds an X25519 public key in PEM, else -1 (said). */
int ctl_archive_key_check(const char *path);
int ctl_system_cmd(struct ctl *c, int argc, char **argv);	/* reboot,
					   poweroff, shell */
/* "reboot" or "poweroff", audited (ctl_system.c); EXIT_OK when started. */
int ctl_power(struct ctl *c, const char *what);
/* The root slot this boot runs from, 'a' or 'b' (mxgate.slot= in the
 * kernel command line file, /proc/cmdline), 0 unknown (ctl_update.c). */
char ctl_root_slot(const char *cmdline_path);

/* The running build's software bill of materials (image/sbom.pl puts it
 * into the image): its SHA-256 as 64 hex digits into out, to compare
 * with the published one; "" when there is none. */
#define CTL_SBOM_PATH	"/usr/share/mxgate/mxgate.spdx.json"
void ctl_sbom_sha256(char out[65]);
/* update status|apply|rollback|confirm (ctl_update.c) */
int ctl_update(struct ctl *c, int argc, char **argv);
/* A personal console account (ctl_user.c). */
struct ctl_account {
	char	 name[32];
	long	 uid, gid;		/* gid: its role */
	char	 home[128], shell[128];
	char	 hash[160];		/* from shadow: "" none, "!" locked */
};
/* NAME's account: 0, or -1 when NAME is no personal account. */
int ctl_account_get(const char *name, struct ctl_account *a);
/* The directory passwd and shadow are really in (links resolved). */
int ctl_accounts_dir(char *out, size_t size);
/* One line of a secret: from the terminal without echo, else from
 * stdin. 0, or -1 at the end of input. */
int ctl_read_secret(const char *prompt, char *out, size_t size);
/* login [-- NAME] (ctl_login.c): the consoles' login */
int ctl_login(struct ctl *c, int argc, char **argv);
/* user list|add|del|passwd (ctl_user.c); ctl_user_passwd also for setup */
int ctl_user(struct ctl *c, int argc, char **argv);
int ctl_user_passwd(struct ctl *c, const char *name);
/* An account from a seed (ctl_seed.c): made when missing (an admin or an
 * operator; locked when hash is ""), else given hash as its password. */
/* The lines of the mxgate.conf at path that setup does not ask about (its
 * queue, limits...), or with none there yet the appliance's base; to free
 * (ctl_setup.c). */
char *ctl_setup_kept(const char *path);
int ctl_user_seed(struct ctl *c, const char *name, int admin,
    const char *hash);
/* A file beside the configuration directory's last link (the same path
 * whatever revision runs, never inside one): /data/etc/NAME on the
 * appliance. 0, or -1 (said). */
int ctl_config_beside(struct ctl *c, const char *name, char *out,
    size_t size);
/* Ends the configuration lock ctl_config_file took for this process, so
 * a command it starts (config commit) can take it. */
void ctl_config_unlock(void);
/* seed check|apply DIR (ctl_seed.c): a cloud-init NoCloud seed */
int ctl_seed(struct ctl *c, int argc, char **argv);
/* config export|import (ctl_backup.c), called by ctl_config_cmd */
int ctl_config_export(struct ctl *c, int argc, char **argv);
int ctl_config_import(struct ctl *c, int argc, char **argv);

#endif
