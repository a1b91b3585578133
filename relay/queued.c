/*
 * queued.c — see queued.h. The queue owner trusts a worker no further
 * than its bytes: every envelope string is length-checked and then
 * validated again (envelope.c, addr.c) before it is stored, because the
 * runner later writes it into MAIL FROM and RCPT TO command lines. The
 * runner's channel (the one the parent marked IPC_PEER_RUNNER, never a
 * worker's) is served by the scheduler, qsched.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "qsched.h"
#include "queued.h"
#include "util.h"

#define QUEUED_BATCH	32	/* puts committed together (group commit) */

/* One put being prepared: its envelope, its mapped bytes. */
struct put {
	struct ipc_queue_put	 req;
	struct queue_msg	 m;
	struct iovec		 iov;
	void			*map;
	size_t			 maplen;
	int			 status;	/* QUEUE_OK while good */
};

/* Maps the memfd and parses the envelope into p->m. */
static void
prepare(struct put *p, int fd)
{
	const struct ipc_queue_put *put = &p->req;
	struct stat st;
	size_t total;

	queue_msg_init(&p->m);
	p->map = NULL;
	p->status = QUEUE_EINVAL;
	total = (size_t)put->env_len + (size_t)put->msg_len;
	if (put->msg_len > QUEUE_BODY_MAX || put->nrcpt == 0 ||
	    put->nrcpt > QUEUE_RCPT_MAX || fstat(fd, &st) != 0 ||
	    (uint64_t)st.st_size < total || total == 0)
		return;
	p->map = mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		p->status = QUEUE_ERR;
		return;
	}
	p->maplen = total;
	if (envelope_decode(p->map, put->env_len, put->nrcpt, &p->m) != 0)
		return;
	/* proposed: queue_put() takes it when it is well-formed and free */
	if (memchr(put->qid, '\0', sizeof(put->qid)) != NULL)
		str_copy(p->m.id, put->qid, sizeof(p->m.id));
	p->iov.iov_base = (char *)p->map + put->env_len;
	p->iov.iov_len = (size_t)put->msg_len;
	p->status = QUEUE_OK;
}

/* Stores the good puts of the batch: one fsync'd transaction for all;
 * if that fails, one by one, so each sender learns its own status. */
/* Stores the batch: the commits it made, -1 when a put failed. */
static int
store_batch(struct queue *q, struct put *b, int n)
{
	struct queue_msg *m[QUEUED_BATCH];
	struct iovec iov[QUEUED_BATCH];
	int idx[QUEUED_BATCH], k = 0, i, st, failed;

	for (i = 0; i < n; i++)
		if (b[i].status == QUEUE_OK) {
			m[k] = &b[i].m;
			iov[k] = b[i].iov;
			idx[k++] = i;
		}
	if (k == 0)
		return 0;
	st = k == 1 ? queue_put(q, m[0], &iov[0], 1) :
	    queue_put_many(q, m, iov, k);
	if (st == QUEUE_OK || k == 1) {
		for (i = 0; i < k; i++)
			b[idx[i]].status = st;
		return st == QUEUE_OK ? 1 : -1;
	}
	for (i = 0, failed = 0; i < k; i++)
		if ((b[idx[i]].status = queue_put(q, m[i], &iov[i], 1)) !=
		    QUEUE_OK)
			failed = 1;
	return failed ? -1 : k;
}

#define FLUSH_EVERY_US	(10 * 1000000LL)	/* at most one flush per 10 s */

/* What the queue owner serves. */
struct owner {
	struct queue	*q;
	struct qsched	*sched;
};

/* A worker delivered in session: make the queued mail due now. */
static void
route_up(struct owner *o)
{
	struct queue *q = o->q;
	static int64_t last;
	int64_t now = wall_us();
	int n = 0;

	if (now - last < FLUSH_EVERY_US)
		return;
	last = now;
	if (queue_flush(q, NULL, now, &n) == QUEUE_OK && n > 0)
		log_msg("qmgr", "a customer server answers again: %d queued "
		    "message%s made due now", n, n == 1 ? "" : "s");
	qsched_wake(o->sched);
}

/* The runner's channel: its hello, then one report per message. */
static int
serve_runner(struct owner *o, int ch)
{
	union {
		struct ipc_runner_hello	hello;
		struct ipc_delivered	done;
	} u;
	enum ipc_type type;
	int fd, r;

	while ((r = ipc_recv(ch, &type, &u, &fd)) == 1) {
		if (type == IPC_RUNNER_HELLO) {
			qsched_runner_up(o->sched, ch);
		} else if (type == IPC_DELIVERED) {
			qsched_delivered(o->sched, u.done.id,
			    u.done.report_len);
		} else
			fatalx(EXIT_TEMP, "queue: unexpected message %d from "
			    "the runner", type);
	}
	if (r == 0)
		qsched_runner_down(o->sched);
	return r == 0 ? 0 : 1;
}

/* Serves every pending request of a worker on ch in batches; 0 at EOF. */
static int
serve(struct owner *o, int ch)
{
	struct queue *q = o->q;
	struct put b[QUEUED_BATCH];
	struct ipc_queue_rep rep;
	enum ipc_type type;
	char line[1024];
	uint64_t before;
	int64_t due;
	int fd, r = 1, n, i, commits;

	do {
		for (n = 0; n < QUEUED_BATCH; n++) {
			r = ipc_recv(ch, &type, &b[n].req, &fd);
			if (r != 1)
				break;
			if (type == IPC_ROUTE_UP) {
				route_up(o);
				n--;
				continue;
			}
			if (type != IPC_QUEUE_PUT)
				fatalx(EXIT_TEMP, "queue: unexpected message %d",
				    type);
			prepare(&b[n], fd);
			close(fd);
		}
		before = queue_txnid(q);
		commits = store_batch(q, b, n);
		due = INT64_MAX;
		for (i = 0; i < n; i++)
			if (b[i].status == QUEUE_OK && b[i].m.next_try_us < due)
				due = b[i].m.next_try_us;
		if (commits != 0)
			qsched_stored(o->sched, due, before, queue_txnid(q),
			    commits);
		for (i = 0; i < n; i++) {
			memset(&rep, 0, sizeof(rep));
			rep.id = b[i].req.id;
			rep.status = b[i].status;
			if (b[i].status == QUEUE_OK) {
				str_copy(rep.qid, b[i].m.id, sizeof(rep.qid));
				if (queue_log_line(line, sizeof(line), &b[i].m,
				    QEV_QUEUED, 0, NULL, wall_us()) > 0)
					log_msg("qmgr", "%s", line);
			} else
				log_msg("qmgr", "NOQUEUE: store refused: %s",
				    queue_strerror(b[i].status));
			if (ipc_send(ch, IPC_QUEUE_REP, &rep, sizeof(rep), -1)
			    != 0)
				log_msg("qmgr", "reply to worker: %s",
				    strerror(errno));
			queue_msg_free(&b[i].m);
			if (b[i].map != NULL)
				munmap(b[i].map, b[i].maplen);
		}
	} while (r == 1);
	return r == 0 ? 0 : 1;
}

static int
serve_peer(void *arg, int fd, int peer)
{
	return (uint32_t)peer == IPC_PEER_RUNNER ? serve_runner(arg, fd) :
	    serve(arg, fd);
}

static int
tick(void *arg)
{
	struct owner *o = arg;

	return qsched_run(o->sched);
}

int
queued_main(const struct config *cf, struct queue *q, int ctl,
    const struct sandbox_ids *ids)
{
	struct owner o;

	sandbox_enter(ROLE_QUEUE, ids);
	o.q = q;
	if ((o.sched = qsched_new(cf, q)) == NULL)
		fatal(EXIT_TEMP, "qmgr: memory");
	log_msg("qmgr", "queue owner ready: %s", cf->queue_dir);
	ipc_serve_peers(ctl, "qmgr", serve_peer, tick, &o);
	qsched_free(o.sched);
	queue_close(q);
	return EXIT_OK;
}
