/*
 * sandbox.c — see sandbox.h. The seccomp filters are allow-lists of
 * system calls per role; everything else kills the process
 * (SECCOMP_RET_KILL_PROCESS), and the parent logs the death and restarts
 * the role. The smtpd role has no socket, connect, open, execve or ptrace;
 * the jail may create only AF_INET/AF_INET6 sockets.
 *
 * The kernel's seccomp/BPF ABI is written out here (stable since Linux
 * 3.5) because musl's headers do not carry it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"
#include "util.h"

/* --- kernel ABI ----------------------------------------------------- */

struct sock_filter_ {
	uint16_t	code;
	uint8_t		jt, jf;
	uint32_t	k;
};

struct sock_fprog_ {
	unsigned short		 len;
	struct sock_filter_	*filter;
};

#define BPF_LD_W_ABS	0x20	/* BPF_LD | BPF_W | BPF_ABS */
#define BPF_JEQ_K	0x15	/* BPF_JMP | BPF_JEQ | BPF_K */
#define BPF_JGE_K	0x35	/* BPF_JMP | BPF_JGE | BPF_K */
#define BPF_RET_K	0x06	/* BPF_RET | BPF_K */

#define SECCOMP_MODE_FILTER_	2
#define RET_KILL_PROCESS	0x80000000u
#define RET_ALLOW		0x7fff0000u
#define RET_ERRNO		0x00050000u	/* | errno */
#define AUDIT_ARCH_X86_64_	0xc000003eu
#define X32_SYSCALL_BIT		0x40000000u

#define OFF_NR		0	/* offsetof(struct seccomp_data, nr) */
#define OFF_ARCH	4
#define OFF_ARG0	16
#define OFF_ARG1	24

#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS	38
#endif

/* --- allow-lists ---------------------------------------------------- */

static const int common_calls[] = {
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_close, SYS_exit,
	SYS_exit_group, SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap,
	SYS_madvise, SYS_rt_sigreturn, SYS_rt_sigprocmask, SYS_rt_sigaction,
	SYS_clock_gettime, SYS_gettimeofday, SYS_getpid, SYS_gettid,
	SYS_getrandom, SYS_nanosleep, SYS_clock_nanosleep, SYS_fcntl,
	SYS_restart_syscall, SYS_futex, SYS_lseek, SYS_getuid, SYS_geteuid,
	SYS_getgid, SYS_getegid,
};

static const int smtpd_calls[] = {
	SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl, SYS_accept4,
	SYS_accept, SYS_recvfrom, SYS_sendto, SYS_recvmsg, SYS_sendmsg,
	SYS_getsockopt, SYS_setsockopt, SYS_shutdown, SYS_getsockname,
	SYS_getpeername, SYS_memfd_create, SYS_sched_yield,
};

static const int jail_calls[] = {
	SYS_poll, SYS_ppoll, SYS_connect, SYS_recvmsg, SYS_sendmsg,
	SYS_getsockopt, SYS_setsockopt,
};

static const int queue_calls[] = {
	SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl, SYS_recvmsg,
	SYS_sendmsg, SYS_pread64, SYS_pwrite64, SYS_fsync, SYS_fdatasync,
	SYS_openat, SYS_open, SYS_fstat, SYS_stat, SYS_newfstatat,
	SYS_ftruncate, SYS_msync, SYS_getsockopt, SYS_flock, SYS_fcntl,
	SYS_getdents64, SYS_unlink, SYS_unlinkat, SYS_rename, SYS_poll,
	SYS_ppoll, SYS_memfd_create,
};

/* the runner: its channels, the engine's sockets (read/write, TLS
 * records by send(): sendto, and SO_ERROR), the memfd it maps and
 * writes its report into */
static const int runner_calls[] = {
	SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl, SYS_recvmsg,
	SYS_sendmsg, SYS_sendto, SYS_recvfrom, SYS_getsockopt, SYS_pwrite64,
	SYS_fstat, SYS_newfstatat,
};

/* mxgate-logfwd: reads the logs, writes its cursor file (temporary,
 * fsync, rename), one TCP connection (socket: AF_INET/AF_INET6 only, in
 * install_filter()) */
static const int logfwd_calls[] = {
	SYS_open, SYS_openat, SYS_getdents64, SYS_fstat, SYS_stat,
	SYS_newfstatat, SYS_pread64, SYS_fsync, SYS_rename, SYS_poll,
	SYS_ppoll, SYS_connect, SYS_sendto, SYS_recvfrom, SYS_getsockopt,
};

/* The role table: who each role runs as, the system calls it may make
 * beyond common_calls (special cases in install_filter()), its
 * descriptor limit, what its death means. docs/ARCHITECTURE.md quotes
 * it with the descriptors each inherits and its entry function (both
 * in master.c: spawn_shared, spawn_runner, spawn_worker). */
static const struct role_def {
	const char		*name;
	const char		*user;
	const int		*calls;
	size_t			 ncalls;
	rlim_t			 nofile;
	enum role_restart	 restart;
} roles[] = {
	[ROLE_SMTPD]  = { "smtpd", "mxgate-smtpd", smtpd_calls,
	    ARRAY_LEN(smtpd_calls), 65536, RESTART_SELF },
	[ROLE_JAIL]   = { "jail", "mxgate-jail", jail_calls,
	    ARRAY_LEN(jail_calls), 4096, RESTART_GENERATION },
	[ROLE_QUEUE]  = { "queue", "mxgate-queue", queue_calls,
	    ARRAY_LEN(queue_calls), 4096, RESTART_GENERATION },
	[ROLE_RUNNER] = { "runner", "mxgate-runner", runner_calls,
	    ARRAY_LEN(runner_calls), 256, RESTART_SELF },
	[ROLE_LOGFWD] = { "logfwd", "mxlog", logfwd_calls,
	    ARRAY_LEN(logfwd_calls), 64, RESTART_SUPERVISOR },
};

#define MAX_INSNS	256

struct prog {
	struct sock_filter_	insn[MAX_INSNS];
	int			n;
};

static void
emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->n >= MAX_INSNS)
		fatalx(EXIT_TEMP, "seccomp: filter too long");
	p->insn[p->n++] = (struct sock_filter_){ code, jt, jf, k };
}

static void
allow_list(struct prog *p, const int *calls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		emit(p, BPF_JEQ_K, 0, 1, (uint32_t)calls[i]);
		emit(p, BPF_RET_K, 0, 0, RET_ALLOW);
	}
}

static void
install_filter(enum role r)
{
	struct prog p = { .n = 0 };
	struct sock_fprog_ fp;
	uint32_t deny = RET_KILL_PROCESS;

	emit(&p, BPF_LD_W_ABS, 0, 0, OFF_ARCH);
	emit(&p, BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64_);
	emit(&p, BPF_RET_K, 0, 0, RET_KILL_PROCESS);
	emit(&p, BPF_LD_W_ABS, 0, 0, OFF_NR);
	emit(&p, BPF_JGE_K, 0, 1, X32_SYSCALL_BIT);
	emit(&p, BPF_RET_K, 0, 0, RET_KILL_PROCESS);
	allow_list(&p, common_calls, ARRAY_LEN(common_calls));
	allow_list(&p, roles[r].calls, roles[r].ncalls);
	switch (r) {
	case ROLE_SMTPD:
		/* a library that tries a file (BearSSL's /dev/urandom
		 * fallback) gets EACCES instead of killing the worker */
		emit(&p, BPF_JEQ_K, 0, 1, SYS_open);
		emit(&p, BPF_RET_K, 0, 0, RET_ERRNO | EACCES);
		emit(&p, BPF_JEQ_K, 0, 1, SYS_openat);
		emit(&p, BPF_RET_K, 0, 0, RET_ERRNO | EACCES);
		/* kill(pid, 0) only: the gate's lock recovery asks whether
		 * a lock owner still lives; no signal can be sent */
		emit(&p, BPF_JEQ_K, 0, 5, SYS_kill);
		emit(&p, BPF_LD_W_ABS, 0, 0, OFF_ARG1);
		emit(&p, BPF_JEQ_K, 1, 0, 0);
		emit(&p, BPF_RET_K, 0, 0, RET_ERRNO | EPERM);
		emit(&p, BPF_RET_K, 0, 0, RET_ALLOW);
		emit(&p, BPF_LD_W_ABS, 0, 0, OFF_NR);
		break;
	case ROLE_JAIL:
	case ROLE_LOGFWD:
		/* socket(AF_INET | AF_INET6, ...) only */
		emit(&p, BPF_JEQ_K, 0, 6, SYS_socket);
		emit(&p, BPF_LD_W_ABS, 0, 0, OFF_ARG0);
		emit(&p, BPF_JEQ_K, 2, 0, AF_INET);
		emit(&p, BPF_JEQ_K, 1, 0, AF_INET6);
		emit(&p, BPF_RET_K, 0, 0, deny);
		emit(&p, BPF_RET_K, 0, 0, RET_ALLOW);
		emit(&p, BPF_RET_K, 0, 0, deny);	/* not reached */
		break;
	case ROLE_QUEUE:
	case ROLE_RUNNER:
		break;
	}
	emit(&p, BPF_RET_K, 0, 0, deny);
	fp.len = (unsigned short)p.n;
	fp.filter = p.insn;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER_, &fp, 0, 0) != 0)
		fatal(EXIT_TEMP, "%s: seccomp", role_name(r));
}

/* --- identities ------------------------------------------------------- */

const char *
role_name(enum role r)
{
	return (size_t)r < ARRAY_LEN(roles) ? roles[r].name : "?";
}

enum role_restart
role_restart(enum role r)
{
	return roles[r].restart;
}

int
sandbox_lookup(enum role r, const char *empty_dir, struct sandbox_ids *ids)
{
	const char *user = roles[r].user;
	struct passwd *pw;
	struct stat st;

	memset(ids, 0, sizeof(*ids));
	ids->user = user;
	if (str_copy(ids->empty_dir, empty_dir, sizeof(ids->empty_dir)) >=
	    sizeof(ids->empty_dir)) {
		log_msg("master", "fatal: chroot path too long");
		return -1;
	}
	ids->privileged = geteuid() == 0;
	if (!ids->privileged) {
		ids->uid = geteuid();
		ids->gid = getegid();
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL || pw->pw_uid == 0) {
		log_msg("master", "fatal: user %s does not exist (or is root); "
		    "create it: useradd --system --no-create-home "
		    "--shell /usr/sbin/nologin %s", user, user);
		return -1;
	}
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	if (empty_dir[0] == '\0')
		return 0;
	if (mkdir_p(empty_dir, 0755) != 0) {
		log_msg("master", "fatal: mkdir %s: %s", empty_dir,
		    strerror(errno));
		return -1;
	}
	if (stat(empty_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != 0 || (st.st_mode & 022) != 0) {
		log_msg("master", "fatal: %s must be a directory owned by root "
		    "and writable by nobody else", empty_dir);
		return -1;
	}
	return 0;
}

void
sandbox_enter(enum role r, const struct sandbox_ids *ids)
{
	struct rlimit rl;

	if (ids->privileged) {
		if (ids->empty_dir[0] != '\0' &&
		    (chroot(ids->empty_dir) != 0 || chdir("/") != 0))
			fatal(EXIT_TEMP, "%s: chroot %s", role_name(r),
			    ids->empty_dir);
		if (setgroups(1, &ids->gid) != 0 ||
		    setresgid(ids->gid, ids->gid, ids->gid) != 0 ||
		    setresuid(ids->uid, ids->uid, ids->uid) != 0)
			fatal(EXIT_TEMP, "%s: cannot drop to %s", role_name(r),
			    ids->user);
		if (setuid(0) == 0)
			fatalx(EXIT_TEMP, "%s: could regain root", role_name(r));
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal(EXIT_TEMP, "%s: no_new_privs", role_name(r));
	rl.rlim_cur = rl.rlim_max = 0;
	setrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = rl.rlim_max = roles[r].nofile;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		getrlimit(RLIMIT_NOFILE, &rl);
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	install_filter(r);
}
