/*
 * qsched.c — see qsched.h. Up to IPC_DELIVER_INFLIGHT messages are with
 * the runner at a time, so the next one is unsealed and marked while the
 * runner still talks about the last one, and the previous one's record
 * is written back meanwhile; the queue owner keeps storing what the
 * workers hand it all the while.
 * The pass structure of a scan (QSCHED_BATCH messages, routes found down
 * skipped for the rest of the pass, a rescan at once while there is
 * work) is the runner's old loop, moved next to the store it drives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "dsn.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "qsched.h"
#include "util.h"

#define SCAN_MAX	(QSCHED_BATCH + QSCHED_SKIP_MAX)
#define DOWN_MAX	16	/* routes found down during one pass */

struct skip {
	char	id[QUEUE_ID_LEN + 1];
	int64_t	until_us;
};

struct down {
	const struct route	*route;
	char			 why[QUEUE_TEXT_MAX];
};

/* A message with the runner. */
struct job {
	int			 active;
	uint32_t		 id;
	int			 fd;		/* memfd */
	size_t			 report_off;
	struct queue_msg	 m;		/* the record */
	int			 idx[QUEUE_RCPT_MAX];	/* pending ones, */
	int			 n;		/* in envelope order */
};

struct qsched {
	const struct config	*cf;
	struct queue		*q;
	int			 runner_fd;	/* -1: no runner */
	uint32_t		 job_seq;
	uint32_t		 seen;		/* the last report read */
	uint64_t		 known_txn;	/* the store as of the last scan
						 * and our own puts since; 0:
						 * unknown (scan) */
	struct job		 job[IPC_DELIVER_INFLIGHT];
	int			 njobs;		/* active ones */
	char			 ids[SCAN_MAX][QUEUE_ID_LEN + 1];
	int			 n, pos, handled, in_pass;
	int64_t			 next_due_us, wake_us, warned_us;
	struct skip		 skip[QSCHED_SKIP_MAX];
	int			 nskip;
	int			 skip_full_told;
	struct down		 down[DOWN_MAX];
	int			 ndown;
	struct queue_msg	*deferred[QSCHED_DEFER_BATCH];	/* to write */
	int			 ndeferred;
	/* per message: which recipients were pending at the start */
	unsigned char		 was_pending[QUEUE_RCPT_MAX];
	struct dsn_rcpt		 dsn_rcpt[QUEUE_RCPT_MAX];
	struct dsn_headers	 hdrs;
	char			 dsn[DSN_SIZE_MAX];
	char			 line[LOG_LINE_MAX];
	char			 env[ENVELOPE_MAX];
	char			 report[REPORT_MAX];
};

static uint32_t
random32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)mono_ms() * 2654435761u;	/* jitter only */
	return v;
}

static void
log_event(struct qsched *r, const char *service, const struct queue_msg *m,
    enum queue_event ev, int rcpt, const char *relay, int64_t now)
{
	if (queue_log_line(r->line, sizeof(r->line), m, ev, rcpt, relay,
	    now) > 0)
		log_msg(service, "%s", r->line);
	else
		log_msg(service, "%s: (log line too long for event %d)",
		    m->id, (int)ev);
}

/* --- the skip list: records not to touch for a while ------------------ */

static int
skip_has(const struct qsched *r, const char *id, int64_t now)
{
	int i;

	for (i = 0; i < r->nskip; i++)
		if (r->skip[i].until_us > now && strcmp(r->skip[i].id, id) == 0)
			return 1;
	return 0;
}

static void
skip_add(struct qsched *r, const char *id, int64_t until, int64_t now)
{
	int i, slot = -1;

	for (i = 0; i < r->nskip; i++) {
		if (strcmp(r->skip[i].id, id) == 0) {
			slot = i;
			break;
		}
		if (slot < 0 && r->skip[i].until_us <= now)
			slot = i;
	}
	if (slot < 0 && r->nskip < QSCHED_SKIP_MAX)
		slot = r->nskip++;
	if (slot < 0) {
		if (!r->skip_full_told)
			log_msg("qmgr", "warning: more than %d records set "
			    "aside; some are retried every scan",
			    QSCHED_SKIP_MAX);
		r->skip_full_told = 1;
		return;
	}
	str_copy(r->skip[slot].id, id, sizeof(r->skip[slot].id));
	r->skip[slot].until_us = until;
}

/* --- routes found down during this pass ------------------------------- */

static const char *
down_why(const struct qsched *r, const struct route *rt)
{
	int i;

	for (i = 0; i < r->ndown; i++)
		if (r->down[i].route == rt)
			return r->down[i].why;
	return NULL;
}

static void
down_add(struct qsched *r, const struct route *rt, const char *why)
{
	if (r->ndown == DOWN_MAX || down_why(r, rt) != NULL)
		return;
	r->down[r->ndown].route = rt;
	str_copy(r->down[r->ndown].why, why, sizeof(r->down[0].why));
	r->ndown++;
}

/* Queues a report to the postmaster for the recipients that failed in
 * this attempt together with the update of m (queue_bounce). Returns
 * the store status; *reported is 1 when a report went with it. */
static int
bounce_store(struct qsched *r, struct queue_msg *m, enum dsn_reason why,
    const char *remote, int64_t now, int *reported)
{
	const struct config *cf = r->cf;
	struct dsn_input in;
	struct queue_msg dm;
	struct iovec iov;
	char dom[ADDR_DOMAIN_MAX + 1];
	const char *at;
	long len;
	int i, n = 0, st, eightbit = 0;

	*reported = 0;
	if (m->from[0] == '\0')
		return queue_update(r->q, m);	/* never a report for <> */
	if (cf->postmaster[0] == '\0') {
		log_msg("qmgr", "%s: no postmaster configured: no report for "
		    "the failed recipients", m->id);
		return queue_update(r->q, m);
	}
	for (i = 0; i < m->nrcpt; i++) {
		struct dsn_rcpt *d;

		if (!r->was_pending[i] || m->rcpt[i].state != QRCPT_FAILED)
			continue;
		d = &r->dsn_rcpt[n++];
		d->addr = m->rcpt[i].addr;
		d->status = m->rcpt[i].status;
		d->diag = m->rcpt[i].last_error;
		d->remote_mta = remote && *remote ? remote : NULL;
		d->params = m->rcpt[i].params;
		d->last_attempt_us = m->last_try_us;
	}
	if (n == 0)
		return queue_update(r->q, m);
	dsn_headers_init(&r->hdrs);
	st = queue_get_body(r->q, m->id, dsn_headers_collect, &r->hdrs);
	if (st != QUEUE_OK && st != QUEUE_STOPPED) {
		log_msg("qmgr", "%s: cannot read the headers for the report: "
		    "%s", m->id, queue_strerror(st));
		r->hdrs.len = 0;
	}
	memset(&in, 0, sizeof(in));
	in.reporting_mta = cf->hostname;
	in.postmaster = cf->postmaster;
	in.queue_id = m->id;
	in.from = m->from;
	in.params = m->params;
	in.arrival_us = m->arrival_us;
	in.now_us = now;
	in.reason = why;
	in.rcpt = r->dsn_rcpt;
	in.nrcpt = n;
	in.headers = r->hdrs.len ? r->hdrs.buf : NULL;
	in.headers_len = r->hdrs.len;
	in.headers_cut = r->hdrs.cut;
	if ((len = dsn_build(&in, r->dsn, sizeof(r->dsn), &eightbit)) < 0) {
		log_msg("qmgr", "%s: cannot build the report to <%s>", m->id,
		    cf->postmaster);
		return queue_update(r->q, m);
	}
	at = strrchr(cf->postmaster, '@');
	str_copy(dom, at ? at + 1 : "", sizeof(dom));
	str_lower(dom);
	queue_msg_init(&dm);
	str_copy(dm.route_domain, dom, sizeof(dm.route_domain));
	dm.next_try_us = now;	/* due at once: the next pass sends it */
	if (queue_msg_add_rcpt(&dm, cf->postmaster) != 0) {
		queue_msg_free(&dm);
		log_msg("qmgr", "%s: bad postmaster <%s>", m->id,
		    cf->postmaster);
		return queue_update(r->q, m);
	}
	iov.iov_base = r->dsn;
	iov.iov_len = (size_t)len;
	st = queue_bounce(r->q, m, &dm, &iov, 1);
	if (st == QUEUE_OK || st == QUEUE_DONE) {
		*reported = 1;
		log_msg("qmgr", "%s: postmaster non-delivery notification: %s",
		    m->id, dm.id);
		log_event(r, "qmgr", &dm, QEV_QUEUED, 0, NULL, now);
	}
	queue_msg_free(&dm);
	return st;
}

/* The attempt into m: history, counters, schedule. */
static void
attempt_add(struct queue_msg *m, const char *relay, const char *result,
    int64_t now)
{
	queue_msg_add_attempt(m, now, relay, result);
	m->attempts++;
	m->last_try_us = now;
	m->next_try_us = now + queue_retry_delay_us(m->attempts, random32());
}

static void stored(struct qsched *, struct queue_msg *, const char *,
    enum dsn_reason, int, int, int64_t);

/*
 * Writes the attempt back: history, counters, schedule, and (for
 * recipients that failed now) the report. Logs one line per recipient
 * that was pending, then "removed" when the record is gone.
 */
static void
finish(struct qsched *r, struct queue_msg *m, const char *relay,
    const char *result, enum dsn_reason why, int64_t now)
{
	int i, st, failed = 0, reported = 0;

	attempt_add(m, relay, result, now);
	for (i = 0; i < m->nrcpt; i++)
		if (r->was_pending[i] && m->rcpt[i].state == QRCPT_FAILED)
			failed++;
	if (failed > 0)
		st = bounce_store(r, m, why, relay, now, &reported);
	else
		st = queue_update(r->q, m);
	stored(r, m, relay, why, st, reported, now);
}

/* What became of the write of m (status st): one line per recipient
 * that was pending (r->was_pending), then "removed" when the record is
 * gone, or what went wrong. */
static void
stored(struct qsched *r, struct queue_msg *m, const char *relay,
    enum dsn_reason why, int st, int reported, int64_t now)
{
	int i;

	for (i = 0; i < m->nrcpt; i++) {
		enum queue_event ev;

		if (!r->was_pending[i])
			continue;
		switch (m->rcpt[i].state) {
		case QRCPT_SENT:
			ev = QEV_SENT;
			break;
		case QRCPT_FAILED:
			ev = why == DSN_EXPIRED && reported ? QEV_EXPIRED :
			    QEV_BOUNCED;
			break;
		default:
			ev = QEV_DEFERRED;
			break;
		}
		log_event(r, ev == QEV_EXPIRED ? "qmgr" : "smtp", m, ev, i,
		    relay, now);
	}
	if (st == QUEUE_DONE) {
		log_event(r, "qmgr", m, QEV_REMOVED, 0, NULL, now);
	} else if (st == QUEUE_NOTFOUND) {
		log_msg("qmgr", "%s: removed meanwhile (by an admin?)", m->id);
	} else if (st != QUEUE_OK) {
		log_msg("qmgr", "%s: cannot record the delivery attempt: %s",
		    m->id, queue_strerror(st));
		if (queue_msg_pending(m) == 0 &&
		    queue_delete(r->q, m->id) == QUEUE_OK) {
			log_event(r, "qmgr", m, QEV_REMOVED, 0, NULL, now);
			return;
		}
		/* not again at once: a duplicate is better than a loop of
		 * them, a pause better than both */
		skip_add(r, m->id, now + QSCHED_STORE_BACKOFF_S * 1000000ll,
		    now);
	}
}

/* --- deferrals, written together ---------------------------------------- */

/* The deferrals waiting in r->deferred, in one transaction (one by one
 * when that fails), then their log lines. */
static void
defer_flush(struct qsched *r)
{
	int st[QSCHED_DEFER_BATCH], i, j, all;
	int64_t now = wall_us();

	if (r->ndeferred == 0)
		return;
	all = queue_update_many(r->q, r->deferred, r->ndeferred, st);
	for (i = 0; i < r->ndeferred; i++) {
		struct queue_msg *m = r->deferred[i];

		if (all != QUEUE_OK)
			st[i] = queue_update(r->q, m);
		for (j = 0; j < m->nrcpt; j++)	/* all pending were deferred */
			r->was_pending[j] = m->rcpt[j].state == QRCPT_PENDING;
		stored(r, m, "", DSN_FAILED, st[i], 0, now);
		queue_msg_free(m);
		free(m);
	}
	r->ndeferred = 0;
}

/* Every still-pending recipient stays pending with reason why: a route
 * found down or gone, nothing tried. The record is written with the
 * pass's other deferrals (a day's outage defers every message again and
 * again: one transaction for QSCHED_DEFER_BATCH of them, not one each).
 * Takes m's contents. */
static void
defer_all(struct qsched *r, struct queue_msg *m, const char *status,
    const char *why, int64_t now)
{
	struct queue_msg *d;
	int i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QRCPT_PENDING)
			queue_set_result(m, i, QRCPT_PENDING, status, why);
	attempt_add(m, "", why, now);
	if ((d = malloc(sizeof(*d))) == NULL) {
		stored(r, m, "", DSN_FAILED, queue_update(r->q, m), 0, now);
		return;
	}
	*d = *m;			/* the recipients go with it */
	queue_msg_init(m);
	r->deferred[r->ndeferred++] = d;
	if (r->ndeferred == QSCHED_DEFER_BATCH)
		defer_flush(r);
}

/* --- one message -------------------------------------------------------- */

static void
expire(struct qsched *r, struct queue_msg *m, int64_t now)
{
	char why[QUEUE_TEXT_MAX + 32];	/* queue_set_result cuts with ... */
	int i;

	for (i = 0; i < m->nrcpt; i++) {
		struct queue_rcpt *rc = &m->rcpt[i];
		if (rc->state != QRCPT_PENDING)
			continue;
		if (rc->last_error[0])
			snprintf(why, sizeof(why), "message expired; last "
			    "error: %s", rc->last_error);
		else
			str_copy(why, "message expired", sizeof(why));
		queue_set_result(m, i, QRCPT_FAILED, "4.4.7", why);
	}
	/* the expiry is not an attempt: keep the counters, record it */
	queue_msg_add_attempt(m, now, "", "message expired");
	{
		int st, reported = 0;

		st = bounce_store(r, m, DSN_EXPIRED, NULL, now, &reported);
		for (i = 0; i < m->nrcpt; i++)
			if (r->was_pending[i])
				log_event(r, "qmgr", m, reported ? QEV_EXPIRED :
				    QEV_BOUNCED, i, NULL, now);
		if (st == QUEUE_DONE)
			log_event(r, "qmgr", m, QEV_REMOVED, 0, NULL, now);
		else if (st != QUEUE_OK && st != QUEUE_NOTFOUND) {
			log_msg("qmgr", "%s: cannot record the expiry: %s",
			    m->id, queue_strerror(st));
			skip_add(r, m->id, now +
			    QSCHED_STORE_BACKOFF_S * 1000000ll, now);
		}
	}
}

/* --- handing a message to the runner ------------------------------------ */

static int
body_to_fd(void *arg, const void *data, size_t len)
{
	return write_all(*(int *)arg, data, len) == 0 ? 0 : -1;
}

static void
job_end(struct qsched *s, struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	queue_msg_free(&j->m);
	if (j->active)
		s->njobs--;
	j->active = 0;
}

static struct job *
job_free_slot(struct qsched *s)
{
	int i;

	for (i = 0; i < IPC_DELIVER_INFLIGHT; i++)
		if (!s->job[i].active)
			return &s->job[i];
	return NULL;
}

/* Writes m's pending recipients and body into a memfd and sends it.
 * m is the job's from now on (or freed on failure). Returns 1 when the
 * runner has it. */
static int
dispatch(struct qsched *s, struct queue_msg *m, int64_t now)
{
	struct job *j = job_free_slot(s);
	struct ipc_deliver d;
	const char *rcpt[QUEUE_RCPT_MAX], *rparams[QUEUE_RCPT_MAX];
	size_t envlen;
	off_t size;
	int i, st, fd;

	j->n = 0;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QRCPT_PENDING) {
			j->idx[j->n] = i;
			rparams[j->n] = m->rcpt[i].params;
			rcpt[j->n++] = m->rcpt[i].addr;
		}
	envlen = envelope_encode(s->env, sizeof(s->env), m->from,
	    m->route_domain, m->params, rcpt, rparams, j->n);
	fd = memfd_create("mxgate-deliver", MFD_CLOEXEC);
	if (envlen == 0 || fd < 0 || write_all(fd, s->env, envlen) != 0) {
		log_msg("qmgr", "%s: cannot hand the message to the runner: %s",
		    m->id, envlen == 0 ? "bad envelope" : strerror(errno));
		goto fail;
	}
	st = queue_get_body(s->q, m->id, body_to_fd, &fd);
	if (st != QUEUE_OK) {
		log_msg("qmgr", "%s: cannot read the message: %s", m->id,
		    queue_strerror(st));
		goto fail;
	}
	if ((size = lseek(fd, 0, SEEK_CUR)) < 0 ||
	    ftruncate(fd, size + (off_t)REPORT_MAX) != 0) {
		log_msg("qmgr", "%s: memfd: %s", m->id, strerror(errno));
		goto fail;
	}
	if ((st = queue_attempt_begin(s->q, m->id, now)) != QUEUE_OK) {
		log_msg("qmgr", "%s: cannot mark the attempt: %s", m->id,
		    queue_strerror(st));
		goto fail;
	}
	memset(&d, 0, sizeof(d));
	d.id = ++s->job_seq;
	d.seen = s->seen;
	d.nrcpt = (uint32_t)j->n;
	d.env_len = (uint32_t)envlen;
	d.msg_len = (uint64_t)size - envlen;
	str_copy(d.qid, m->id, sizeof(d.qid));
	if (ipc_send(s->runner_fd, IPC_DELIVER, &d, sizeof(d), fd) != 0) {
		log_msg("qmgr", "%s: cannot reach the runner: %s; retried "
		    "when a runner is back", m->id, strerror(errno));
		close(fd);
		queue_msg_free(m);
		/* not the next message either: the channel is gone, and the
		 * owner's loop, which sees it close, gets its turn now */
		qsched_runner_down(s);
		return 0;
	}
	j->active = 1;
	s->njobs++;
	j->id = d.id;
	j->fd = fd;
	j->report_off = (size_t)size;
	j->m = *m;			/* the job owns it now */
	return 1;
fail:
	if (fd >= 0)
		close(fd);
	skip_add(s, m->id, now + QSCHED_STORE_BACKOFF_S * 1000000ll, now);
	queue_msg_free(m);
	return 0;
}

void
qsched_delivered(struct qsched *s, uint32_t id, uint32_t report_len)
{
	struct job *j = NULL;
	struct delivery_report rep;
	struct queue_msg got;
	int64_t now = wall_us();
	int i, ok;

	for (i = 0; i < IPC_DELIVER_INFLIGHT; i++)
		if (s->job[i].active && s->job[i].id == id)
			j = &s->job[i];
	if (j == NULL)
		fatalx(EXIT_TEMP, "qmgr: a report for job %u, not ours", id);
	s->seen = id;
	/* finish() logs the recipients that were pending: the job's */
	memset(s->was_pending, 0, sizeof(s->was_pending));
	for (i = 0; i < j->n; i++)
		s->was_pending[j->idx[i]] = 1;
	queue_msg_init(&got);
	memset(&rep, 0, sizeof(rep));
	for (i = 0; i < j->n; i++)		/* a failure shows in got.nrcpt */
		(void)queue_msg_add_rcpt(&got, j->m.rcpt[j->idx[i]].addr);
	ok = report_len <= sizeof(s->report) &&
	    pread(j->fd, s->report, report_len, (off_t)j->report_off) ==
	    (ssize_t)report_len && got.nrcpt == j->n &&
	    report_decode(s->report, report_len, &rep, &got) == 0;
	if (!ok) {
		/* a runner that writes nonsense is a bug: the record stays
		 * as it was and is retried after a pause */
		log_msg("qmgr", "%s: unreadable report from the runner; "
		    "retried later", j->m.id);
		skip_add(s, j->m.id, now + QSCHED_STORE_BACKOFF_S * 1000000ll,
		    now);
	} else {
		for (i = 0; i < j->n; i++)
			queue_set_result(&j->m, j->idx[i], got.rcpt[i].state,
			    got.rcpt[i].status, got.rcpt[i].last_error);
		if (rep.route_down) {
			const struct route *rt = config_route(s->cf,
			    j->m.route_domain);
			if (rt != NULL)
				down_add(s, rt, rep.result);
		}
		finish(s, &j->m, rep.relay, rep.result, DSN_FAILED, now);
	}
	queue_msg_free(&got);
	job_end(s, j);
}

/* One due record: handled here (expiry, no route, route down), or handed
 * to the runner. Returns 1 when it went to the runner. */
static int
process(struct qsched *r, const char *id)
{
	struct queue_msg m;
	const struct route *rt;
	const char *down;
	char why[QUEUE_TEXT_MAX];
	int64_t now = wall_us();
	int st, i;

	queue_msg_init(&m);
	st = queue_get(r->q, id, &m);
	if (st == QUEUE_NOTFOUND)
		goto out;		/* delivered or deleted meanwhile */
	if (st == QUEUE_EAUTH || st == QUEUE_ECORRUPT) {
		log_msg("qmgr", "%s: record unreadable (%s): left alone; "
		    "see mxgatectl queue", id, queue_strerror(st));
		skip_add(r, id, INT64_MAX, now);
		goto out;
	}
	if (st != QUEUE_OK) {
		log_msg("qmgr", "%s: cannot read the record: %s", id,
		    queue_strerror(st));
		skip_add(r, id, now + QSCHED_STORE_BACKOFF_S * 1000000ll, now);
		goto out;
	}
	if (m.flags & QMSG_INFLIGHT)
		log_msg("qmgr", "%s: the previous delivery attempt was "
		    "interrupted: possible duplicate", m.id);
	for (i = 0; i < m.nrcpt; i++)
		r->was_pending[i] = m.rcpt[i].state == QRCPT_PENDING;
	rt = config_route(r->cf, m.route_domain);
	if (queue_msg_pending(&m) == 0) {	/* an update that failed */
		finish(r, &m, "", "nothing left to deliver", DSN_FAILED, now);
	} else if (queue_expired(&m, now, r->cf->queue_lifetime)) {
		expire(r, &m, now);
	} else if (rt == NULL) {
		snprintf(why, sizeof(why), "no route for %s in the "
		    "configuration any more", m.route_domain);
		defer_all(r, &m, "4.3.5", why, now);
	} else if ((down = down_why(r, rt)) != NULL) {
		snprintf(why, sizeof(why), "delivery temporarily suspended: "
		    "%s", down);
		defer_all(r, &m, "4.4.1", why, now);
	} else {
		return dispatch(r, &m, now);
	}
out:
	queue_msg_free(&m);
	return 0;
}

/* --- the scan loop ------------------------------------------------------- */

struct qsched *
qsched_new(const struct config *cf, struct queue *q)
{
	struct qsched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cf = cf;
	s->q = q;
	int i;

	s->runner_fd = -1;
	for (i = 0; i < IPC_DELIVER_INFLIGHT; i++) {
		s->job[i].fd = -1;
		queue_msg_init(&s->job[i].m);
	}
	return s;
}

void
qsched_free(struct qsched *s)
{
	int i;

	if (s == NULL)
		return;
	defer_flush(s);
	for (i = 0; i < IPC_DELIVER_INFLIGHT; i++)
		job_end(s, &s->job[i]);
	free(s);
}

void
qsched_runner_up(struct qsched *s, int fd)
{
	s->runner_fd = fd;
	s->wake_us = 0;
}

void
qsched_runner_down(struct qsched *s)
{
	int i;

	for (i = 0; i < IPC_DELIVER_INFLIGHT; i++) {
		if (s->job[i].active)
			log_msg("qmgr", "%s: the runner went away during the "
			    "attempt; retried later", s->job[i].m.id);
		job_end(s, &s->job[i]);
	}
	defer_flush(s);
	s->runner_fd = -1;
	s->in_pass = 0;
}

void
qsched_wake(struct qsched *s)
{
	s->wake_us = 0;
	s->known_txn = 0;
}

void
qsched_stored(struct qsched *s, int64_t due_us, uint64_t before,
    uint64_t after, int commits)
{
	if (commits < 0 || s->known_txn == 0 || before != s->known_txn ||
	    after != before + (uint64_t)commits) {
		s->known_txn = 0;	/* someone else wrote too: scan */
		return;
	}
	s->known_txn = after;
	if (due_us < s->next_due_us)
		s->next_due_us = due_us;
}

int
qsched_run(struct qsched *s)
{
	int64_t now, next;

	for (;;) {
		if (s->runner_fd < 0)
			return -1;
		if (s->in_pass && s->pos < s->n && s->handled < QSCHED_BATCH) {
			const char *id;

			if (s->njobs == IPC_DELIVER_INFLIGHT)
				return -1;	/* until a report */
			id = s->ids[s->pos++];
			if (skip_has(s, id, wall_us()))
				continue;
			s->handled++;
			(void)process(s, id);
			continue;
		}
		if (s->njobs > 0)
			return -1;	/* the pass ends with its reports */
		defer_flush(s);
		now = wall_us();
		if (s->in_pass) {
			s->in_pass = 0;
			if (s->handled > 0) {
				s->wake_us = 0;	/* a backlog drains at once */
			} else {
				struct ipc_runner_idle idle = { 0 };
				/* the pass is over: the runner hangs up */
				(void)ipc_send(s->runner_fd, IPC_RUNNER_IDLE,
				    &idle, sizeof(idle), -1);
				next = s->next_due_us;
				if (s->n > 0 || next == INT64_MAX ||
				    next > now + QSCHED_RESCAN_MS * 1000ll)
					next = now + QSCHED_RESCAN_MS * 1000ll;
				s->wake_us = next;
			}
		}
		/* wake_us may come from a clear, rewritten header: compare
		 * before subtracting */
		if (s->wake_us > now)
			return (int)((s->wake_us - now + 999) / 1000);
		/* nothing due yet and nobody wrote since the last scan (a
		 * flush, a hold, a release by an admin would have): a scan
		 * would read every record to find nothing */
		if (s->known_txn != 0 && s->next_due_us > now &&
		    queue_txnid(s->q) == s->known_txn) {
			next = s->next_due_us;
			if (next > now + QSCHED_RESCAN_MS * 1000ll)
				next = now + QSCHED_RESCAN_MS * 1000ll;
			s->wake_us = next;
			continue;
		}
		s->known_txn = queue_txnid(s->q);	/* at most this new */
		s->n = queue_due(s->q, now, s->ids, SCAN_MAX, &s->next_due_us,
		    &(int){ 0 });
		if (s->n < 0) {
			if (now - s->warned_us >= 60000000ll) {
				log_msg("qmgr", "warning: queue scan: %s",
				    queue_strerror(-s->n));
				s->warned_us = now;
			}
			s->n = 0;
			s->wake_us = now + QSCHED_RESCAN_MS * 1000ll;
			continue;
		}
		s->in_pass = 1;
		s->pos = s->handled = 0;
		s->ndown = 0;
	}
}
