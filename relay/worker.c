/*
 * worker.c — an SMTP front worker: accepts on the listeners it inherited
 * from the parent, runs sessions on one event loop, and asks the jail for
 * every outbound connection. It is sandboxed before it accepts anything
 * (sandbox.c: own uid, chroot, no-new-privs, seccomp without socket,
 * connect, open or execve).
 *
 *   SIGTERM  stop accepting; idle sessions get 421, busy ones finish their
 *            message first (at most DRAIN_MAX_MS); exit 0.
 *   SIGHUP   ignored here: the parent reloads by starting new workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "ipc.h"
#include "relay.h"
#include "sandbox.h"
#include "session.h"
#include "util.h"
#include "version.h"

#define ACCEPT_BATCH	64	/* accepts per readiness event */
#define LISTEN_BACKLOG	1024

static struct relay R;

uint64_t
relay_budget(const struct session *s)
{
	return s->cf->memory_budget / (uint64_t)s->r->nworkers;
}

int
relay_max_sessions(const struct session *s)
{
	int n = s->cf->max_sessions / s->r->nworkers;

	return n > 0 ? n : 1;
}

void
cfg_release(struct cfg *c)
{
	if (--c->refs == 0) {
		config_free(c->cf);
		free(c);
	}
}

static void
on_accept(struct watch *w, uint32_t events)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && !R.draining; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_msg("smtpd", "accept: %s", strerror(errno));
			return;
		}
		session_accept(&R, fd, &ss, (int)(w - R.lw));
	}
}

static void
start_drain(void)
{
	struct session *s, *next;
	int i;

	if (R.draining)
		return;
	R.draining = 1;
	R.drain_deadline = mono_ms() + DRAIN_MAX_MS;
	log_msg("smtpd", "terminating: no new sessions, %d draining",
	    R.nsessions);
	for (i = 0; i < R.nlisten; i++)
		loop_del(R.loop, &R.lw[i]);
	for (s = R.sessions; s; s = next) {
		next = s->next;
		session_drain(s);
	}
}

#ifdef MXGATE_TEST_HOOKS
/* Test builds only: SIGUSR2 makes the worker try to open a socket, which
 * its seccomp filter must answer by killing it (tests/relay/jail.t). */
static void
test_forbidden_socket(void)
{
	int fd;

	log_msg("smtpd", "test hook: attempting socket()");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	log_msg("smtpd", "test hook: socket() returned %d: sandbox broken", fd);
}
#endif

/* Reload (SIGUSR1 from the parent): a new generation takes the new
 * connections; ours keep running to their natural end (SPEC 3.1: SIGHUP
 * drops no session), bounded by session_timeout. */
static void
start_retire(void)
{
	int i;

	if (R.retiring || R.draining)
		return;
	R.retiring = 1;
	for (i = 0; i < R.nlisten; i++)
		loop_del(R.loop, &R.lw[i]);
	log_msg("smtpd", "worker %d replaced by a reload: %d session%s "
	    "continue%s", R.slot, R.nsessions, R.nsessions == 1 ? "" : "s",
	    R.nsessions == 1 ? "s" : "");
}

static void
on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			start_retire();
			break;
		case SIGTERM:
		case SIGINT:
			start_drain();
			break;
#ifdef MXGATE_TEST_HOOKS
		case SIGUSR2:
			test_forbidden_socket();
			break;
#endif
		}
	}
}

/* --- the jail channel ------------------------------------------------ */

static void
on_jail(struct watch *w, uint32_t events)
{
	int fd = w->fd;

	(void)events;
	if (upstream_jail_input(&R.outbound) == 0) {
		/* the jail is gone: outbound fails until we are replaced */
		log_msg("smtpd", "jail channel closed; draining");
		loop_del(R.loop, w);
		close(fd);
		start_drain();
	}
}

/* --- the queue owner's channel --------------------------------------- */

static void
on_queue(struct watch *w, uint32_t events)
{
	struct ipc_queue_rep rep;
	enum ipc_type type;
	int fd, r;

	while ((r = ipc_recv(w->fd, &type, &rep, &fd)) == 1) {
		if (type != IPC_QUEUE_REP)
			fatalx(EXIT_TEMP, "worker: unexpected message %d from "
			    "the queue", type);
		rep.qid[sizeof(rep.qid) - 1] = '\0';
		session_queue_reply(&R, rep.id, rep.status, rep.qid);
	}
	if (r == 0) {
		log_msg("smtpd", "queue channel closed: outage mail is "
		    "deferred with 451 until the queue is back");
		loop_del(R.loop, w);
		close(R.queue_fd);
		R.queue_fd = -1;
		session_queue_lost(&R);
	}
}

int
worker_main(const struct worker_env *env)
{
	struct config *cf = env->cf;
	const int *lfd = env->lfd;
	int nlisten = env->nlisten, jail_fd = env->jail_fd;
	int queue_fd = env->queue_fd, slot = env->slot;
	int nworkers = env->nworkers;
	const struct sandbox_ids *ids = env->ids;
	sigset_t mask;
	int i;

	memset(&R, 0, sizeof(R));
	R.cfg = xcalloc(1, sizeof(*R.cfg));
	R.cfg->cf = cf;
	R.cfg->refs = 1;
	R.slot = slot;
	R.nworkers = nworkers > 0 ? nworkers : 1;
	R.outbound.jail_fd = jail_fd;
	R.queue_fd = queue_fd;
	R.tls_srv = env->tls_srv;
	R.outbound.tls_cli = env->tls_cli;
	R.gate = env->gate;
	log_init(cf->hostname);
	if ((R.loop = loop_new()) == NULL)
		fatal(EXIT_TEMP, "epoll");
	R.outbound.loop = R.loop;
	if (R.gate != NULL && gate_set_worker(R.gate, env->gate_slot) != 0)
		fatalx(EXIT_TEMP, "worker %d: gate slot %d", slot,
		    env->gate_slot);
	if (cf->ndnsbl > 0) {
		struct dnsbl_conf dc;
		char err[256];
		if (dnsbl_conf_from_config(cf, &dc, err, sizeof(err)) != 0)
			fatalx(EXIT_TEMP, "dnsbl: %s", err);
		dc.tcp = 0;	/* no socket() after the sandbox: UDP only */
		if ((R.dnsbl = dnsbl_client_new(R.loop, &dc, err,
		    sizeof(err))) == NULL)
			fatalx(EXIT_TEMP, "dnsbl: %s", err);
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	R.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (R.sigfd < 0 || loop_add(R.loop, &R.sigw, R.sigfd, EPOLLIN,
	    on_signal, NULL) != 0)
		fatal(EXIT_TEMP, "signalfd");
	if (loop_add(R.loop, &R.jailw, jail_fd, EPOLLIN, on_jail, NULL) != 0)
		fatal(EXIT_TEMP, "epoll_ctl");
	if (queue_fd >= 0 && loop_add(R.loop, &R.queuew, queue_fd, EPOLLIN,
	    on_queue, NULL) != 0)
		fatal(EXIT_TEMP, "epoll_ctl");
	for (i = 0; i < nlisten; i++) {
		R.lfd[i] = lfd[i];
		if (loop_add(R.loop, &R.lw[i], lfd[i],
		    EPOLLIN, on_accept, NULL) != 0)
			fatal(EXIT_TEMP, "epoll_ctl");
	}
	R.nlisten = nlisten;

	sandbox_enter(ROLE_SMTPD, ids);
	log_msg("smtpd", "worker %d ready (uid %d%s)", slot, (int)getuid(),
	    ids->privileged ? ", chrooted" : "");

	for (;;) {
		if (loop_run_once(R.loop, R.draining || R.retiring ? 200 : -1)
		    != 0)
			fatal(EXIT_TEMP, "epoll_wait");
		session_reap(&R);
		if (R.draining && (R.nsessions == 0 ||
		    mono_ms() >= R.drain_deadline))
			break;
		if (R.retiring && !R.draining && R.nsessions == 0)
			break;
	}
	if (R.nsessions > 0)
		log_msg("smtpd", "drain deadline: closing %d sessions "
		    "(their senders keep the messages)", R.nsessions);
	while (R.sessions)
		session_close(R.sessions, "shutdown");
	session_reap(&R);
	log_msg("smtpd", "worker %d stopped", slot);
	return EXIT_OK;
}
