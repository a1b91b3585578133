/*
 * master.c — the privileged parent (SPEC 3.8): reads the configuration,
 * binds the listeners, loads the TLS keys, creates the queue and the
 * shared gate region, then starts the roles of one "generation" — the
 * jail, the queue owner, the queue runner and N SMTP workers, all sharing
 * that configuration — and from then on only supervises: restarts a
 * crashed worker or runner with backoff (its own sessions are lost, the
 * others' are not), replaces the whole generation on SIGHUP (the old
 * workers finish their sessions, the new ones take new connections) or
 * when the jail or queue owner dies, and on SIGTERM stops every role,
 * waits for them and exits 0.
 *
 * Each second it also measures the log disk (logdisk.h) and tells the
 * workers through the gate region whether new mail must wait.
 *
 * It never parses SMTP and never touches mail.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gate.h"
#include "ipc.h"
#include "jail.h"
#include "log.h"
#include "logdisk.h"
#include "queue.h"
#include "queued.h"
#include "relay.h"
#include "runner.h"
#include "sandbox.h"
#include "tls.h"
#include "util.h"
#include "version.h"

#define MAX_GENERATIONS	8	/* current + draining ones */
#define LISTEN_BACKLOG	1024
#define RESTART_MAX_MS	30000
#define STOP_MAX_MS	(70 * 1000)
#define LOGDISK_EVERY_MS 1000

/* One process of a generation. */
struct proc {
	pid_t		 pid;		/* 0: none */
	int		 restarts;	/* so far, for the back-off */
	int64_t		 due;		/* restart due (mono ms), 0: none */
};

struct gen {
	int		 used;
	int		 id;
	struct config	*cf;
	struct proc	 jail;
	int		 jail_ctl;		/* -1 once closed */
	struct proc	 queue;			/* the queue owner */
	int		 queue_ctl;		/* -1 once closed */
	struct proc	 runner;		/* retries queued mail */
	struct proc	 worker[CONF_MAX_WORKERS];
	int		 nworkers;
	int		 retired;		/* replaced: let it drain */
	int		 gate_slot[CONF_MAX_WORKERS];	/* -1: none */
	struct tls_server *tls_srv;		/* loaded here, inherited */
	struct tls_client *tls_cli;
};

static struct {
	const char		*path;
	int			 lfd[CONF_MAX_LISTEN];
	int			 nlisten;
	int			 sigfd;
	struct gen		 gen[MAX_GENERATIONS];
	int			 cur;		/* index of the current gen */
	int			 next_id;
	int			 stopping;
	pid_t			 parent;	/* our pid, for the children */
	int64_t			 regen_at;	/* new generation due, 0: none */
	int			 regen_count;
	struct sandbox_ids	 ids[RELAY_ROLES];	/* by enum role */
	struct gate		*gate;		/* in a shared mapping */
	int64_t			 logdisk_at;	/* next measure */
	struct logdisk		 logdisk;	/* the last one */
	pid_t			 gate_owner[GATE_MAX_WORKERS];	/* slot -> pid */
} M;

/* The admission table lives in one MAP_SHARED region made before any
 * worker exists, so every worker of every generation sees the same
 * counters (SPEC 3.4: the limits hold with N workers). */
static int
gate_setup(const struct config *cf)
{
	size_t size = gate_region_size(GATE_DEFAULT_SLOTS);
	void *mem;
	int fd;

	/* a file (0600, root) so that mxgatectl gate can attach to it;
	 * rebuilt from zero at every start */
	fd = open(cf->gate_file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    ftruncate(fd, (off_t)size) != 0) {
		log_msg("master", "fatal: gate table %s: %s", cf->gate_file,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (mem == MAP_FAILED) {
		log_msg("master", "fatal: gate region: %s", strerror(errno));
		return -1;
	}
	if ((M.gate = gate_new(cf, mem, size)) == NULL) {
		log_msg("master", "fatal: gate table");
		return -1;
	}
	return 0;
}

static int
gate_slot_take(pid_t placeholder)
{
	int i;

	for (i = 0; i < GATE_MAX_WORKERS; i++)
		if (M.gate_owner[i] == 0) {
			M.gate_owner[i] = placeholder;
			return i;
		}
	return -1;
}

/* A worker is gone: its sessions no longer count anywhere. */
static void
gate_slot_free(int slot)
{
	if (slot < 0)
		return;
	gate_worker_reset(M.gate, slot);
	M.gate_owner[slot] = 0;
}

static int
listen_on(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	char name[NET_ENDPOINTLEN];
	int fd, one = 1;

	endpoint_format(ss, name, sizeof(name));
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		fatal(EXIT_TEMP, "socket for %s", name);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0)
		fatal(EXIT_TEMP, "bind %s", name);
	if (listen(fd, LISTEN_BACKLOG) != 0)
		fatal(EXIT_TEMP, "listen %s", name);
	log_msg("master", "listening on %s", name);
	return fd;
}

/* In a new child: close every descriptor but stdio and `keep`. */
static void
close_except(const int *keep, int nkeep)
{
	int fd, i;

	for (fd = 3; fd < 1024; fd++) {
		for (i = 0; i < nkeep; i++)
			if (keep[i] == fd)
				break;
		if (i == nkeep)
			close(fd);
	}
}

/* In a new child: default signals, and death with the parent — a role
 * must never outlive it (a kill -9 of the parent would otherwise leave
 * workers holding port 25 and a second queue runner). */
static void
child_signals(void)
{
	sigset_t none;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != M.parent)
		_exit(EXIT_TEMP);	/* the parent is already gone */
}

/* The one back-off of every restart: 1, 2, 4 ... s, at most
 * RESTART_MAX_MS; *count is that role's restarts so far. */
static int64_t
restart_delay(int *count)
{
	int64_t wait = 1000LL << (*count < 5 ? *count : 5);

	(*count)++;
	return wait > RESTART_MAX_MS ? RESTART_MAX_MS : wait;
}

/* Forks role r; the child keeps only keep[] and dies with the master,
 * and a role the generation shares (RESTART_GENERATION: the jail, the
 * queue owner) ends when its control channel closes, not on a signal.
 * Returns what fork() returns; the caller's child branch runs the
 * role's entry function. */
static pid_t
fork_role(enum role r, const int *keep, int nkeep)
{
	pid_t pid;

	if ((pid = fork()) < 0) {
		log_msg("master", "cannot start the %s: fork: %s",
		    role_name(r), strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close_except(keep, nkeep);
		child_signals();
		if (role_restart(r) == RESTART_GENERATION) {
			signal(SIGTERM, SIG_IGN);
			signal(SIGHUP, SIG_IGN);
		}
	}
	return pid;
}

/* The queue owner's entry: opens the store as root, then sandboxes
 * itself. */
static int
queue_entry(struct gen *g, int ctl)
{
	struct queue *q;
	char err[256];

	if (queue_open(&q, g->cf->queue_dir, NULL, g->cf->queue_map_size,
	    QUEUE_CREATE, err, sizeof(err)) != QUEUE_OK) {
		log_msg("qmgr", "fatal: queue %s: %s", g->cf->queue_dir, err);
		return EXIT_TEMP;
	}
	return queued_main(g->cf, q, ctl, &M.ids[ROLE_QUEUE]);
}

/* A role the generation shares (the jail or the queue owner): one
 * control channel from the master, over which each worker's and the
 * runner's channel to it arrive. */
static int
spawn_shared(struct gen *g, enum role r)
{
	struct proc *p = r == ROLE_JAIL ? &g->jail : &g->queue;
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
		return -1;
	if ((pid = fork_role(r, &sp[1], 1)) < 0) {
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0)
		_exit(r == ROLE_JAIL ?
		    jail_main(g->cf, sp[1], &M.ids[ROLE_JAIL]) :
		    queue_entry(g, sp[1]));
	close(sp[1]);
	p->pid = pid;
	if (r == ROLE_JAIL)
		g->jail_ctl = sp[0];
	else
		g->queue_ctl = sp[0];
	return 0;
}

static int channel_to(int ctl, int slot, const char *role);

/* The queue runner: a channel to the jail and one to the queue owner
 * (which hands it the messages), nothing else; no store, no key. A
 * start that fails is tried again after the back-off. */
static void
spawn_runner(struct gen *g)
{
	int fds[2];
	pid_t pid;

	g->runner.due = 0;
	if ((fds[0] = channel_to(g->jail_ctl, CONF_MAX_WORKERS, "jail")) < 0) {
		log_msg("master", "cannot start the queue runner: no jail "
		    "channel");
		return;
	}
	if ((fds[1] = channel_to(g->queue_ctl, (int)IPC_PEER_RUNNER,
	    "queue")) < 0) {
		log_msg("master", "cannot start the queue runner: no queue "
		    "channel");
		close(fds[0]);
		return;
	}
	if ((pid = fork_role(ROLE_RUNNER, fds, 2)) < 0)
		g->runner.due = mono_ms() + restart_delay(&g->runner.restarts);
	if (pid == 0)
		_exit(runner_main(g->cf, fds[0], fds[1], g->tls_cli,
		    &M.ids[ROLE_RUNNER]));
	close(fds[0]);
	close(fds[1]);
	if (pid > 0)
		g->runner.pid = pid;
}

/* A new channel whose far end is handed to a role over its control
 * channel; returns our end, or -1. */
static int
channel_to(int ctl, int slot, const char *role)
{
	struct ipc_add_channel add = { .worker = (uint32_t)slot };
	int sp[2];

	if (ctl < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
		return -1;
	if (ipc_send(ctl, IPC_ADD_CHANNEL, &add, sizeof(add), sp[1]) != 0) {
		log_msg("master", "cannot hand worker %d to the %s: %s", slot,
		    role, strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	close(sp[1]);
	return sp[0];
}

/* An SMTP worker: the listeners, a channel to the jail, one to the queue
 * owner (without it, outage mail is deferred with 451) and a slot of
 * the gate table. */
static void
spawn_worker(struct gen *g, int slot)
{
	struct proc *p = &g->worker[slot];
	int jfd, qfd, gslot, keep[CONF_MAX_LISTEN + 2], i;
	pid_t pid;

	p->due = 0;
	if ((jfd = channel_to(g->jail_ctl, slot, "jail")) < 0) {
		log_msg("master", "cannot start worker %d: no jail channel",
		    slot);
		return;
	}
	qfd = channel_to(g->queue_ctl, slot, "queue");
	for (i = 0; i < M.nlisten; i++)
		keep[i] = M.lfd[i];
	keep[M.nlisten] = jfd;
	keep[M.nlisten + 1] = qfd;
	pid = -1;
	if ((gslot = gate_slot_take(-1)) < 0)
		log_msg("master", "cannot start worker %d: every gate slot is "
		    "taken (too many draining generations)", slot);
	else if ((pid = fork_role(ROLE_SMTPD, keep, M.nlisten + 2)) == 0) {
		struct worker_env env = {
			.cf = g->cf, .lfd = M.lfd, .nlisten = M.nlisten,
			.jail_fd = jfd, .queue_fd = qfd, .slot = slot,
			.nworkers = g->nworkers, .ids = &M.ids[ROLE_SMTPD],
			.tls_srv = g->tls_srv, .tls_cli = g->tls_cli,
			.gate = M.gate, .gate_slot = gslot,
		};
		_exit(worker_main(&env));
	}
	close(jfd);
	if (qfd >= 0)
		close(qfd);
	if (pid < 0) {
		if (gslot >= 0)
			gate_slot_free(gslot);
		p->due = mono_ms() + restart_delay(&p->restarts);
		return;
	}
	p->pid = pid;
	g->gate_slot[slot] = gslot;
	M.gate_owner[gslot] = pid;
}

/* The parent loads the keys (SPEC 3.8): the certificate (generated,
 * self-signed, on first start when none is configured) and the trust
 * anchors for `tls verify` routes. Workers inherit both and never read
 * key files. A missing admin certificate is fatal; nothing is replaced. */
static int
load_tls(struct gen *g)
{
	const struct config *cf = g->cf;
	char err[512], fp[65], dir[CONF_PATH_MAX], *slash;
	int made = 0;

	if (cf->tls_cert_default) {
		str_copy(dir, cf->tls_key, sizeof(dir));
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		if (mkdir_p(dir, 0700) != 0) {	/* the key directory */
			log_msg("master", "fatal: mkdir %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		made = tls_selfsigned_ensure(cf->tls_cert, cf->tls_key,
		    cf->hostname, fp, err, sizeof(err));
		if (made < 0) {
			log_msg("master", "fatal: TLS certificate: %s", err);
			return -1;
		}
	}
	if (tls_server_new(&g->tls_srv, cf->tls_cert, cf->tls_key,
	    cf->tls_min_version, err, sizeof(err)) != 0) {
		log_msg("master", "fatal: TLS: %s", err);
		return -1;
	}
	log_msg("master", "TLS certificate %s%s: sha256 fingerprint %s",
	    cf->tls_cert, made == 1 ? " (generated, self-signed)" : "",
	    tls_server_fingerprint(g->tls_srv));
	log_msg("master", "TLS back-ends: %s", tls_backends());
	if (tls_client_new(&g->tls_cli, cf->tls_ca[0] ? cf->tls_ca : NULL,
	    cf->tls_min_version, err, sizeof(err)) != 0) {
		log_msg("master", "fatal: TLS trust anchors: %s", err);
		tls_server_free(g->tls_srv);
		g->tls_srv = NULL;
		return -1;
	}
	return 0;
}

/* Creates the store (and its key) once, before any role opens it, so two
 * roles never race to create it, and rebuilds its due index (a store
 * written by an older build has none). The parent keeps nothing open. */
static int
create_queue(const struct config *cf)
{
	struct queue *q;
	char err[256];

	if (queue_open(&q, cf->queue_dir, NULL, cf->queue_map_size,
	    QUEUE_CREATE | QUEUE_REINDEX, err, sizeof(err)) != QUEUE_OK) {
		log_msg("master", "fatal: queue %s: %s", cf->queue_dir, err);
		return -1;
	}
	queue_close(q);
	return 0;
}

static int
start_generation(struct config *cf)
{
	struct gen *g = NULL;
	int i;

	for (i = 0; i < MAX_GENERATIONS; i++)
		if (!M.gen[i].used) {
			g = &M.gen[i];
			break;
		}
	if (g == NULL) {
		log_msg("master", "too many generations still draining; "
		    "reload refused");
		return -1;
	}
	memset(g, 0, sizeof(*g));
	g->used = 1;
	g->id = ++M.next_id;
	g->cf = cf;
	g->nworkers = cf->workers;
	g->jail_ctl = -1;
	g->queue_ctl = -1;
	for (i = 0; i < CONF_MAX_WORKERS; i++)
		g->gate_slot[i] = -1;
	if (load_tls(g) != 0) {
		g->used = 0;
		return -1;
	}
	if (spawn_shared(g, ROLE_JAIL) != 0) {
		log_msg("master", "cannot start the jail: %s", strerror(errno));
		g->used = 0;
		return -1;
	}
	if (spawn_shared(g, ROLE_QUEUE) != 0)
		log_msg("master", "cannot start the queue owner: %s; outage "
		    "mail will be deferred", strerror(errno));
	spawn_runner(g);
	for (i = 0; i < g->nworkers; i++)
		spawn_worker(g, i);
	M.cur = (int)(g - M.gen);
	return 0;
}

/* A generation stops: on reload its workers finish their sessions
 * (SIGUSR1); on shutdown they get 421 when idle (SIGTERM). */
static void
retire_with(struct gen *g, int sig)
{
	int i;

	g->retired = 1;
	g->runner.due = 0;
	if (g->runner.pid > 0)
		kill(g->runner.pid, SIGTERM);	/* finishes its message */
	for (i = 0; i < g->nworkers; i++) {
		g->worker[i].due = 0;
		if (g->worker[i].pid > 0)
			kill(g->worker[i].pid, sig);
	}
	if (g->jail_ctl >= 0) {
		close(g->jail_ctl);	/* the jail ends with its workers */
		g->jail_ctl = -1;
	}
	if (g->queue_ctl >= 0) {
		close(g->queue_ctl);	/* so does the queue owner */
		g->queue_ctl = -1;
	}
}

static void
retire(struct gen *g)
{
	retire_with(g, SIGUSR1);
}

/* The processes of a generation, k = 0 ... 3 + nworkers - 1, with
 * their role and slot: for the walks that treat them alike. NULL past
 * the end. */
static struct proc *
gen_proc(struct gen *g, int k, enum role *r, int *slot)
{
	*slot = k - 3;
	switch (k) {
	case 0:
		*r = ROLE_JAIL;
		return &g->jail;
	case 1:
		*r = ROLE_QUEUE;
		return &g->queue;
	case 2:
		*r = ROLE_RUNNER;
		return &g->runner;
	}
	*r = ROLE_SMTPD;
	return k - 3 < g->nworkers ? &g->worker[k - 3] : NULL;
}

static int
gen_alive(struct gen *g)
{
	struct proc *p;
	enum role r;
	int k, slot;

	for (k = 0; (p = gen_proc(g, k, &r, &slot)) != NULL; k++)
		if (p->pid > 0)
			return 1;
	return 0;
}

static void
maybe_free(struct gen *g)
{
	if (!g->used || !g->retired || gen_alive(g))
		return;
	tls_server_free(g->tls_srv);
	tls_client_free(g->tls_cli);
	config_free(g->cf);
	g->used = 0;
}

static void
reload(void)
{
	struct config *cf;
	struct gen *old = &M.gen[M.cur];
	FILE *errs;
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;

	errs = open_memstream(&text, &len);
	cf = config_load(M.path, errs ? errs : stderr);
	if (errs)
		fclose(errs);
	if (cf == NULL) {
		log_msg("master", "reload of %s refused; keeping the running "
		    "configuration", M.path);
		for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
		    line = strtok_r(NULL, "\n", &save))
			log_msg("master", "config error: %s", line);
		free(text);
		return;
	}
	free(text);
	if (cf->nlisten != old->cf->nlisten || memcmp(cf->listen,
	    old->cf->listen, sizeof(cf->listen[0]) * (size_t)cf->nlisten) != 0)
		log_msg("master", "listen addresses changed: they take effect "
		    "at the next restart");
	log_init(cf->hostname);
	/* the new workers inherit the new limits and lists at fork */
	gate_reload(M.gate, cf, NULL);
	if (start_generation(cf) != 0) {
		gate_reload(M.gate, old->cf, NULL);
		config_free(cf);
		return;
	}
	retire(old);
	log_msg("master", "reloaded %s: generation %d (%d routes); "
	    "generation %d drains", M.path, M.gen[M.cur].id, cf->nroutes,
	    old->id);
}

static void stop_all(void);

/* Measures the log disk, shares the verdict with the workers and logs
 * each change of level (and of refusing) once. */
static void
guard_log_disk(const struct config *cf)
{
	struct logdisk d, *old = &M.logdisk;
	const char *policy = cf->log_drop_oldest ? "drop-oldest" : "tempfail";

	logdisk_check(cf, &d);
	gate_set_log_disk(M.gate, d.refuse, d.pct);
	if (d.level == old->level && d.refuse == old->refuse)
		return;
	if (d.level == LOGDISK_UNKNOWN)
		log_msg("master", "log disk %s: %s: not guarded", cf->log_dir,
		    strerror(d.err));
	else if (d.refuse)
		log_msg("master", "log disk %s %d%% used: full: new mail gets "
		    "451 4.3.0 until space returns (log_disk_full %d%%, "
		    "log_full_policy %s)", cf->log_dir, d.pct,
		    cf->log_disk_full, policy);
	else if (d.level == LOGDISK_FULL)
		log_msg("master", "log disk %s %d%% used: full: the oldest "
		    "logs are deleted (log_disk_full %d%%, log_full_policy "
		    "%s)", cf->log_dir, d.pct, cf->log_disk_full, policy);
	else if (d.level == LOGDISK_HIGH)
		log_msg("master", "log disk %s %d%% used: above the high-water "
		    "mark (log_disk_warn %d%%)%s", cf->log_dir, d.pct,
		    cf->log_disk_warn, old->refuse ? "; accepting mail again" :
		    "");
	else
		log_msg("master", "log disk %s %d%% used: ok%s", cf->log_dir,
		    d.pct, old->refuse ? "; accepting mail again" : "");
	*old = d;
}

static const char *
describe(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d%s", WTERMSIG(status),
		    WTERMSIG(status) == SIGSYS ? " (seccomp violation)" : "");
	else
		snprintf(buf, size, "status %d", status);
	return buf;
}

/* A child ended: its generation learns it, and the role table's
 * restart column says what comes next. */
static void
ended(struct gen *g, struct proc *p, enum role r, int slot, int status)
{
	char how[64], who[48];
	int64_t wait;

	if (r == ROLE_SMTPD) {
		gate_slot_free(g->gate_slot[slot]);
		g->gate_slot[slot] = -1;
		snprintf(who, sizeof(who), "worker %d (pid %d)", slot,
		    (int)p->pid);
	} else
		snprintf(who, sizeof(who), "%s %d", r == ROLE_QUEUE ?
		    "queue owner" : r == ROLE_RUNNER ? "queue runner" :
		    role_name(r), (int)p->pid);
	p->pid = 0;
	if (g->retired || M.stopping) {
		maybe_free(g);
		return;
	}
	describe(status, how, sizeof(how));
	if (role_restart(r) == RESTART_GENERATION) {
		/* replaced after a back-off, so a role that cannot start
		 * is no busy loop */
		wait = restart_delay(&M.regen_count);
		M.regen_at = mono_ms() + wait;
		log_msg("master", "%s %s; a new generation starts in %lld ms",
		    who, how, (long long)wait);
		return;
	}
	wait = restart_delay(&p->restarts);
	p->due = mono_ms() + wait;
	log_msg("master", "%s %s; restarting in %lld ms", who, how,
	    (long long)wait);
}

static void
reap(void)
{
	struct proc *p;
	enum role r;
	pid_t pid;
	int status, i, k, slot;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < MAX_GENERATIONS; i++) {
			if (!M.gen[i].used)
				continue;
			for (k = 0; (p = gen_proc(&M.gen[i], k, &r, &slot)) !=
			    NULL; k++)
				if (p->pid == pid)
					break;
			if (p != NULL) {
				ended(&M.gen[i], p, r, slot, status);
				break;
			}
		}
}

static int
children_left(void)
{
	int i;

	for (i = 0; i < MAX_GENERATIONS; i++)
		if (M.gen[i].used && gen_alive(&M.gen[i]))
			return 1;
	return 0;
}

static void
stop_all(void)
{
	int i;

	M.stopping = 1;
	log_msg("master", "terminating: stopping all workers");
	for (i = 0; i < MAX_GENERATIONS; i++)
		if (M.gen[i].used) {
			/* workers already retiring get SIGTERM too */
			retire_with(&M.gen[i], SIGTERM);
		}
}

int
relay_main(struct config *cf, const char *config_path)
{
	struct signalfd_siginfo si;
	struct pollfd pfd;
	sigset_t mask;
	int64_t stop_deadline = 0;
	int i;

	M.path = config_path;
	M.parent = getpid();
	log_init(cf->hostname);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	M.sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (M.sigfd < 0)
		fatal(EXIT_TEMP, "signalfd");

	for (i = 0; i < RELAY_ROLES; i++)
		if (sandbox_lookup((enum role)i, cf->chroot_dir, &M.ids[i]) != 0)
			return EXIT_TEMP;
	if (create_queue(cf) != 0 || gate_setup(cf) != 0)
		return EXIT_TEMP;
	M.logdisk.level = LOGDISK_OK;
	guard_log_disk(cf);
	M.logdisk_at = mono_ms() + LOGDISK_EVERY_MS;
	for (i = 0; i < cf->nlisten; i++)
		M.lfd[i] = listen_on(&cf->listen[i]);
	M.nlisten = cf->nlisten;
	if (start_generation(cf) != 0)
		return EXIT_TEMP;
	log_msg("master", "mxgate %s ready: %d listener%s, %d route%s, "
	    "%d worker%s", MXGATE_VERSION, M.nlisten, M.nlisten == 1 ? "" : "s",
	    cf->nroutes, cf->nroutes == 1 ? "" : "s", cf->workers,
	    cf->workers == 1 ? "" : "s");

	for (;;) {
		int64_t now = mono_ms(), next = -1;
		struct gen *g = &M.gen[M.cur];
		struct proc *p;
		enum role r;
		int j, slot;

		if (M.stopping && !children_left())
			break;
		if (M.stopping && now >= stop_deadline) {
			log_msg("master", "workers did not stop in time: "
			    "killing them");
			for (i = 0; i < MAX_GENERATIONS; i++) {
				for (j = 0; j < M.gen[i].nworkers; j++)
					if (M.gen[i].worker[j].pid > 0)
						kill(M.gen[i].worker[j].pid,
						    SIGKILL);
				if (M.gen[i].runner.pid > 0)
					kill(M.gen[i].runner.pid, SIGKILL);
			}
			stop_deadline = now + 5000;
		}
		if (!M.stopping && M.regen_at != 0) {
			if (M.regen_at <= now) {
				struct gen *old = g;
				struct config *ncf = config_load(M.path, stderr);
				M.regen_at = 0;
				if (ncf != NULL)
					gate_reload(M.gate, ncf, NULL);
				if (ncf == NULL || start_generation(ncf) != 0) {
					if (ncf != NULL)
						gate_reload(M.gate, old->cf, NULL);
					config_free(ncf);
					log_msg("master", "cannot restart the "
					    "roles; retrying");
					M.regen_at = now + RESTART_MAX_MS;
				} else
					retire(old);
				continue;
			} else if (next < 0 || M.regen_at < next)
				next = M.regen_at;
		}
		for (j = 0; !M.stopping &&
		    (p = gen_proc(g, j, &r, &slot)) != NULL; j++) {
			if (p->due == 0)
				continue;
			if (p->due > now) {
				if (next < 0 || p->due < next)
					next = p->due;
			} else if (r == ROLE_RUNNER)
				spawn_runner(g);
			else
				spawn_worker(g, slot);
		}
		if (!M.stopping) {
			if (M.logdisk_at <= now) {
				guard_log_disk(g->cf);
				M.logdisk_at = now + LOGDISK_EVERY_MS;
			}
			if (next < 0 || M.logdisk_at < next)
				next = M.logdisk_at;
		}
		if (M.stopping)
			next = stop_deadline;
		pfd.fd = M.sigfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, next < 0 ? -1 : (int)(next > now ?
		    (next - now > 60000 ? 60000 : next - now) : 0)) <= 0)
			continue;
		if (read(M.sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGHUP:
			if (!M.stopping)
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			if (!M.stopping) {
				stop_all();
				stop_deadline = mono_ms() + STOP_MAX_MS;
			}
			break;
		}
	}
	log_msg("master", "stopped");
	return EXIT_OK;
}
