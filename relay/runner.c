/*
 * runner.c — see runner.h. One event loop: the queue owner's channel
 * (jobs), the jail's channel (sockets), the signalfd, and the outbound
 * engine's connection. A job walks MAIL, RCPT (one at a time, in order),
 * DATA and the body; every outcome is a recipient state in the job's
 * copy of the envelope, written back as the report when the job ends.
 * A job handed over while another is on the wire waits behind it (at
 * most IPC_DELIVER_INFLIGHT - 1 of them) and starts from the main loop
 * once the one before has reported, never inside its callbacks.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "runner.h"
#include "upstream.h"
#include "util.h"

enum stage { J_CONNECT, J_RSET, J_MAIL, J_RCPT, J_DATA, J_DOT };

struct job {
	int			 active;
	uint32_t		 id;
	int			 fd;		/* memfd from the queue owner */
	char			*map;		/* envelope + message */
	size_t			 maplen, env_len, msg_len;
	struct queue_msg	 m;		/* the pending recipients */
	const struct route	*route;
	enum stage		 stage;
	int			 host;		/* J_CONNECT: server tried */
	int			 next;		/* J_RCPT: recipient asked */
	int			 acc[QUEUE_RCPT_MAX], na;	/* accepted */
	struct delivery_report	 rep;
};

static struct {
	const struct config	*cf;
	struct loop		*loop;
	struct upstream_env	 out;
	struct watch		 jailw, queuew, sigw;
	int			 queue_fd, sigfd;
	struct upstream		*up;		/* open between jobs */
	const struct route	*up_route;
	int			 up_ntx, up_dirty;
	char			 up_relay[QUEUE_RELAY_MAX];
	struct job		 job;
	struct {
		struct ipc_deliver	d;
		int			fd;
	}			 wait[IPC_DELIVER_INFLIGHT - 1];
	int			 nwait;
	const struct route	*down_route;	/* job down_id found it down */
	uint32_t		 down_id;
	char			 down_why[QUEUE_TEXT_MAX];
	int			 stopping, done, rc;
	char			 report[REPORT_MAX];
} R;

static void up_ready(void *arg);
static void up_reply(void *arg, const struct smtp_reply *r);
static void up_failed(void *arg, const char *why, int refused,
    const struct smtp_reply *r);
static const struct upstream_cb runner_cb = { up_ready, up_reply, up_failed };

static void job_connect(struct job *j);

/* --- outcomes ------------------------------------------------------------ */

/* Recipients idx[0..n-1] (idx NULL: every recipient of the job) get st
 * with the reply r, or (r NULL) the local reason why with status dflt. */
static void
set_results(struct job *j, const int *idx, int n, enum queue_rcpt_state st,
    const struct smtp_reply *r, const char *why, const char *dflt)
{
	char status[QUEUE_STATUS_MAX], msg[QUEUE_TEXT_MAX];
	int i;

	if (r != NULL) {
		smtp_reply_status(r->code, r->text, status, sizeof(status));
		snprintf(msg, sizeof(msg), "%d %s", r->code, r->text);
	} else {
		str_copy(status, dflt, sizeof(status));
		str_copy(msg, why, sizeof(msg));
	}
	if (idx == NULL)
		n = j->m.nrcpt;
	for (i = 0; i < n; i++)
		queue_set_result(&j->m, idx ? idx[i] : i, st, status, msg);
}

static enum queue_rcpt_state
state_of(int code)
{
	return code / 100 == 2 ? QRCPT_SENT : code / 100 == 5 ? QRCPT_FAILED :
	    QRCPT_PENDING;
}

/* A reply that refuses a step before the message is sent: 5xx fails
 * the recipients, anything else (4xx, an unexpected 2xx/3xx) leaves
 * them pending. */
static enum queue_rcpt_state
refused_state(int code)
{
	return code / 100 == 5 ? QRCPT_FAILED : QRCPT_PENDING;
}

/* Writes the report into the memfd, tells the queue owner, ends the job. */
static void
job_end(struct job *j)
{
	struct ipc_delivered d;
	size_t len = report_encode(R.report, sizeof(R.report), &j->rep, &j->m);

	memset(&d, 0, sizeof(d));
	d.id = j->id;
	d.report_len = (uint32_t)len;
	if (len == 0 || pwrite(j->fd, R.report, len, (off_t)(j->env_len +
	    j->msg_len)) != (ssize_t)len)
		log_msg("qmgr", "%s: cannot write the report: %s", j->m.id,
		    len == 0 ? "too long" : strerror(errno));
	else if (ipc_send(R.queue_fd, IPC_DELIVERED, &d, sizeof(d), -1) != 0)
		log_msg("qmgr", "%s: cannot reach the queue owner: %s",
		    j->m.id, strerror(errno));
	if (j->rep.route_down) {
		R.down_route = j->route;
		R.down_id = j->id;
		str_copy(R.down_why, j->rep.result, sizeof(R.down_why));
	} else if (j->route == R.down_route)
		R.down_route = NULL;
	munmap(j->map, j->maplen);
	close(j->fd);
	queue_msg_free(&j->m);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if (R.stopping && R.nwait == 0)
		R.done = 1;
}

/* Every recipient still pending in this attempt (not yet answered, or
 * accepted before the failure) stays pending with why. */
static void
job_lost(struct job *j, const char *why, const struct smtp_reply *r)
{
	int idx[QUEUE_RCPT_MAX], n = 0, i;

	if (j->stage == J_RCPT)
		for (i = j->next; i < j->m.nrcpt; i++)
			idx[n++] = i;
	set_results(j, j->stage == J_MAIL ? NULL : idx, n, QRCPT_PENDING, r,
	    why, "4.4.2");
	set_results(j, j->acc, j->na, QRCPT_PENDING, r, why, "4.4.2");
	if (j->stage == J_DOT)
		log_msg("smtp", "%s: lost the end of data with %s: the "
		    "message may be delivered twice", j->m.id, R.up_relay);
	if (r != NULL)
		snprintf(j->rep.result, sizeof(j->rep.result), "%d %s",
		    r->code, r->text);
	else
		str_copy(j->rep.result, why, sizeof(j->rep.result));
	job_end(j);
}

/* --- the transaction ------------------------------------------------------- */

static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return 1;
	return 0;
}

static void
send_or_fail(enum smtp_cop op, const char *line)
{
	if (upstream_send(R.up, op, line) != 0)
		upstream_fail(R.up, errno == EINVAL ? "local error: a command "
		    "holds CR or LF; not sent" : "cannot queue a command");
}

static void
job_mail(struct job *j)
{
	char line[ADDR_PATH_MAX + 64 + QUEUE_MAIL_PARAMS_MAX];
	int eightbit = R.up->cli.cap_8bitmime &&
	    has_8bit(j->map + j->env_len, j->msg_len);

	str_copy(j->rep.relay, R.up_relay, sizeof(j->rep.relay));
	if (smtp_params_smtputf8(j->m.params) && !R.up->cli.cap_smtputf8) {
		/* RFC 6531 3.4: not sent, not downgraded: the recipients fail
		 * (the postmaster's report says why); the connection stays
		 * clean for the next message */
		set_results(j, NULL, 0, QRCPT_FAILED, NULL, "the customer's "
		    "server does not support SMTPUTF8; the message needs it",
		    "5.6.7");
		str_copy(j->rep.result, "not sent: the customer's server does "
		    "not support SMTPUTF8", sizeof(j->rep.result));
		job_end(j);
		return;
	}
	j->stage = J_MAIL;
	R.up_dirty = 1;
	R.up_ntx++;
	if (smtp_client_mail_line(&R.up->cli, line, sizeof(line), j->m.from,
	    j->msg_len, eightbit, j->m.params) != 0) {
		upstream_fail(R.up, "local error: MAIL FROM line too long");
		return;
	}
	send_or_fail(COP_MAIL, line);
}

static void
job_rcpt(struct job *j)
{
	char line[ADDR_PATH_MAX + 16 + QUEUE_RCPT_PARAMS_MAX];

	j->stage = J_RCPT;
	if (smtp_client_rcpt_line(&R.up->cli, line, sizeof(line),
	    j->m.rcpt[j->next].addr, j->m.rcpt[j->next].params) != 0) {
		upstream_fail(R.up, "local error: RCPT TO line too long");
		return;
	}
	send_or_fail(COP_RCPT, line);
}

static void
up_reply(void *arg, const struct smtp_reply *r)
{
	struct job *j = arg;

	switch (j->stage) {
	case J_RSET:
		if (r->code / 100 == 2) {
			R.up_dirty = 0;
			job_mail(j);
		} else {
			upstream_close(R.up, 0);	/* stale: a new one */
			R.up = NULL;
			j->host = 0;
			job_connect(j);
		}
		return;
	case J_MAIL:
		if (r->code / 100 == 2) {
			j->next = 0;
			job_rcpt(j);
			return;
		}
		set_results(j, NULL, 0, refused_state(r->code), r, NULL, NULL);
		snprintf(j->rep.result, sizeof(j->rep.result), "%d %s (in "
		    "reply to MAIL FROM)", r->code, r->text);
		job_end(j);
		return;
	case J_RCPT:
		snprintf(j->rep.result, sizeof(j->rep.result), "%d %s (in "
		    "reply to RCPT TO)", r->code, r->text);
		if (r->code / 100 == 2)
			j->acc[j->na++] = j->next;
		else
			set_results(j, &j->next, 1, refused_state(r->code), r,
			    NULL, NULL);
		if (++j->next < j->m.nrcpt) {
			job_rcpt(j);
			return;
		}
		if (j->na == 0) {
			job_end(j);
			return;
		}
		if (R.up->cli.cap_chunking) {	/* BDAT ... LAST, no 354 */
			j->stage = J_DOT;
			if (upstream_send_bdat(R.up, NULL, 0, j->map +
			    j->env_len, j->msg_len) != 0)
				upstream_fail(R.up, "cannot queue the message");
			return;
		}
		j->stage = J_DATA;
		send_or_fail(COP_DATA, "DATA");
		return;
	case J_DATA:
		if (r->code == 354) {
			j->stage = J_DOT;
			if (upstream_send_body(R.up, NULL, 0, j->map + j->env_len,
			    j->msg_len) != 0)
				upstream_fail(R.up, "cannot queue the message");
			return;
		}
		set_results(j, j->acc, j->na, refused_state(r->code), r, NULL,
		    NULL);
		snprintf(j->rep.result, sizeof(j->rep.result), "%d %s (in "
		    "reply to DATA)", r->code, r->text);
		if (r->code / 100 == 3 || r->code / 100 == 2) {
			upstream_close(R.up, 0);	/* lost track of it */
			R.up = NULL;
		}
		job_end(j);
		return;
	case J_DOT:
		set_results(j, j->acc, j->na, state_of(r->code), r, NULL, NULL);
		snprintf(j->rep.result, sizeof(j->rep.result), "%d %s",
		    r->code, r->text);
		R.up_dirty = 0;		/* the transaction is complete */
		job_end(j);
		return;
	case J_CONNECT:
		break;
	}
	upstream_fail(R.up, "reply out of order");
}

static void
up_ready(void *arg)
{
	struct job *j = arg;

	R.up_route = j->route;
	R.up_ntx = 0;
	R.up_dirty = 0;
	job_mail(j);
}

static void
up_failed(void *arg, const char *why, int refused, const struct smtp_reply *r)
{
	struct job *j = arg;

	(void)refused;
	R.up = NULL;		/* already freed */
	if (j == NULL || !j->active)
		return;		/* an idle connection went away */
	switch (j->stage) {
	case J_CONNECT:
		log_msg("smtp", "%s", why);
		str_copy(j->rep.result, why, sizeof(j->rep.result));
		j->host++;
		job_connect(j);
		return;
	case J_RSET:
		j->host = 0;		/* a stale connection: a new one */
		job_connect(j);
		return;
	default:
		job_lost(j, why, r);
		return;
	}
}

/* Connects to the route's servers from j->host on; when none is left,
 * the route is down for this pass. */
static void
job_connect(struct job *j)
{
	const struct route *rt = j->route;
	struct netaddr a;
	char ip[NET_ADDRSTRLEN];

	j->stage = J_CONNECT;
	for (; j->host < rt->nhosts; j->host++) {
		const struct sockaddr_storage *ss = &rt->host[j->host];

		netaddr_from_sockaddr((const struct sockaddr *)ss, &a);
		netaddr_format(&a, ip, sizeof(ip));
		if ((size_t)snprintf(R.up_relay, sizeof(R.up_relay),
		    "%s[%s]:%d", ip, ip, sockaddr_port(ss)) >=
		    sizeof(R.up_relay))
			snprintf(R.up_relay, sizeof(R.up_relay), "[%s]:%d", ip,
			    sockaddr_port(ss));
		R.up = upstream_open(&R.out, R.cf, rt, j->host, &runner_cb, j);
		if (R.up != NULL)
			return;
		snprintf(j->rep.result, sizeof(j->rep.result), "connect to "
		    "%s: the jail is gone", R.up_relay);
		log_msg("smtp", "%s", j->rep.result);
	}
	/* no server answered: every recipient waits, the route is down */
	set_results(j, NULL, 0, QRCPT_PENDING, NULL, j->rep.result, "4.4.1");
	j->rep.relay[0] = '\0';
	j->rep.route_down = 1;
	job_end(j);
}

/* A job from the queue owner: map it, check it, start it. */
static void
job_start(const struct ipc_deliver *d, int fd)
{
	struct job *j = &R.job;
	struct stat st;

	memset(j, 0, sizeof(*j));
	queue_msg_init(&j->m);
	j->id = d->id;
	j->fd = fd;
	j->env_len = d->env_len;
	j->msg_len = (size_t)d->msg_len;
	j->maplen = j->env_len + j->msg_len;
	if (d->msg_len > QUEUE_BODY_MAX || fstat(fd, &st) != 0 ||
	    (uint64_t)st.st_size < (uint64_t)j->maplen + REPORT_MAX ||
	    j->maplen == 0 ||
	    (j->map = mmap(NULL, j->maplen, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED ||
	    envelope_decode(j->map, j->env_len, d->nrcpt, &j->m) != 0)
		fatalx(EXIT_TEMP, "runner: a malformed message from the queue "
		    "owner");
	j->active = 1;
	str_copy(j->m.id, d->qid, sizeof(j->m.id));
	if ((j->route = config_route(R.cf, j->m.route_domain)) == NULL) {
		snprintf(j->rep.result, sizeof(j->rep.result), "no route for "
		    "%s in the configuration any more", j->m.route_domain);
		set_results(j, NULL, 0, QRCPT_PENDING, NULL, j->rep.result,
		    "4.3.5");
		job_end(j);
		return;
	}
	/* handed over before the queue owner read that its route is down:
	 * not the same servers again, the same answer */
	if (j->route == R.down_route && (int32_t)(d->seen - R.down_id) < 0) {
		str_copy(j->rep.result, R.down_why, sizeof(j->rep.result));
		set_results(j, NULL, 0, QRCPT_PENDING, NULL, j->rep.result,
		    "4.4.1");
		j->rep.route_down = 1;
		job_end(j);
		return;
	}
	if (R.up != NULL && (R.up_route != j->route ||
	    R.up_ntx >= RUNNER_REUSE_MAX || !upstream_idle(R.up))) {
		upstream_close(R.up, upstream_idle(R.up));
		R.up = NULL;
	}
	if (R.up == NULL) {
		job_connect(j);
		return;
	}
	R.up->arg = j;
	if (R.up_dirty) {
		j->stage = J_RSET;
		send_or_fail(COP_RSET, "RSET");
		return;
	}
	job_mail(j);
}

/* --- channels and signals --------------------------------------------------- */

static void
hang_up(void)
{
	if (R.up != NULL) {
		upstream_close(R.up, upstream_idle(R.up));
		R.up = NULL;
	}
}

static void
on_queue(struct watch *w, uint32_t events)
{
	union {
		struct ipc_deliver	deliver;
		struct ipc_runner_idle	idle;
	} u;
	enum ipc_type type;
	int fd, r;

	(void)events;
	while ((r = ipc_recv(w->fd, &type, &u, &fd)) == 1) {
		if (type == IPC_DELIVER) {
			if (fd < 0 || R.nwait == IPC_DELIVER_INFLIGHT - 1)
				fatalx(EXIT_TEMP, "runner: %s from the queue "
				    "owner", fd < 0 ? "a message without its "
				    "memfd" : "more messages than agreed");
			if (!R.job.active && R.nwait == 0) {
				job_start(&u.deliver, fd);
				continue;
			}
			R.wait[R.nwait].d = u.deliver;
			R.wait[R.nwait++].fd = fd;
		} else if (type == IPC_RUNNER_IDLE) {
			if (!R.job.active && R.nwait == 0)
				hang_up();
		} else
			fatalx(EXIT_TEMP, "runner: unexpected message %d from "
			    "the queue owner", (int)type);
	}
	if (r == 0) {
		log_msg("qmgr", "runner: the queue owner is gone; stopping");
		R.rc = EXIT_TEMP;
		R.done = 1;
	}
}

static void
on_jail(struct watch *w, uint32_t events)
{
	(void)events;
	if (upstream_jail_input(&R.out) == 0) {
		log_msg("qmgr", "runner: the jail is gone; stopping");
		loop_del(R.loop, w);
		R.rc = EXIT_TEMP;
		R.stopping = 1;
		if (!R.job.active && R.nwait == 0)
			R.done = 1;
	}
}

static void
on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGTERM) {
			R.stopping = 1;
			if (!R.job.active && R.nwait == 0)
				R.done = 1;
		}
}

/* The next waiting job, once the one before has reported. */
static void
next_job(void)
{
	struct ipc_deliver d;
	int fd;

	while (!R.job.active && R.nwait > 0) {
		d = R.wait[0].d;
		fd = R.wait[0].fd;
		memmove(&R.wait[0], &R.wait[1], (size_t)--R.nwait *
		    sizeof(R.wait[0]));
		job_start(&d, fd);
	}
}

int
runner_main(const struct config *cf, int jail_fd, int queue_fd,
    struct tls_client *tls_cli, const struct sandbox_ids *ids)
{
	struct ipc_runner_hello hello;
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	memset(&R, 0, sizeof(R));
	R.cf = cf;
	R.rc = EXIT_OK;
	R.queue_fd = queue_fd;
	R.job.fd = -1;
	R.out.jail_fd = jail_fd;
	R.out.tls_cli = tls_cli;
	if ((R.loop = loop_new()) == NULL)
		fatal(EXIT_TEMP, "runner: epoll");
	R.out.loop = R.loop;
	R.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sandbox_enter(ROLE_RUNNER, ids);	/* no epoll_create from here */
	if (R.sigfd < 0 ||
	    loop_add(R.loop, &R.sigw, R.sigfd, EPOLLIN, on_signal, NULL) != 0 ||
	    loop_add(R.loop, &R.jailw, jail_fd, EPOLLIN, on_jail, NULL) != 0 ||
	    loop_add(R.loop, &R.queuew, queue_fd, EPOLLIN, on_queue, NULL) != 0)
		fatal(EXIT_TEMP, "runner: epoll_ctl");
	memset(&hello, 0, sizeof(hello));
	hello.pid = (uint32_t)getpid();
	if (ipc_send(queue_fd, IPC_RUNNER_HELLO, &hello, sizeof(hello), -1) != 0)
		fatal(EXIT_TEMP, "runner: hello to the queue owner");
	log_msg("qmgr", "runner ready: %s", cf->queue_dir);
	while (!R.done) {
		if (loop_run_once(R.loop, -1) < 0 && errno != EINTR)
			fatal(EXIT_TEMP, "runner: epoll_wait");
		next_job();
	}
	hang_up();
	log_msg("qmgr", "runner stopped");
	return R.rc;
}
