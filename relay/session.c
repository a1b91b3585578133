/*
 * session.c — one inbound SMTP session: socket I/O, deadlines, and the
 * mail transaction relayed in-session to the customer's server.
 *
 * The protocol itself is smtp_server.c (pure); this file answers its
 * decisions. RCPT decisions come from the route table, the mailbox list
 * and then the customer's own RCPT reply; the end-of-message decision is
 * the customer's reply to our DATA. While a decision waits for the
 * customer, the server machine consumes no more input, so pipelined
 * commands are answered in order. When no customer server answers, the
 * transaction is deferred with 451 4.4.1 (the sender keeps the message).
 *
 * Message content is held in memory only, bounded by max_message_size
 * and the relay-wide memory_budget; it is never written to disk here.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"
#include "session.h"
#include "tls.h"
#include "util.h"

static void session_io(struct watch *w, uint32_t events);
static void session_idle_timeout(struct timer *t);
static void session_life_timeout(struct timer *t);
static void session_flush(struct session *s);
static void tx_reset(struct session *s);
static void tell_queue_route_up(struct relay *r);
static void gate_log(struct session *s);
static void up_ready_cb(void *arg);
static void up_reply_cb(void *arg, const struct smtp_reply *r);
static void up_failed_cb(void *arg, const char *why, int refused,
    const struct smtp_reply *r);

/* the outbound engine's callbacks (upstream.h) for an in-session relay */
static const struct upstream_cb session_up_cb = {
	up_ready_cb, up_reply_cb, up_failed_cb
};
void session_close(struct session *s, const char *reason);
static void send_banner(struct session *s);
static void gate_start(struct session *s);
static void arm_idle(struct session *s);

/* --- helpers -------------------------------------------------------- */

static void
new_qid(struct session *s)
{
	int64_t us = wall_us();
	unsigned seq = ++s->r->qid_seq;

	/* the queue's id format (queue.h): arrival time in microseconds
	 * (14 hex) and pid^seq (4 hex); a message stored on an outage keeps
	 * it, so one id names it from the first log line to the last */
	snprintf(s->tx.qid, sizeof(s->tx.qid), "%014llX%04X",
	    (unsigned long long)us & 0xffffffffffffffull,
	    (unsigned)((getpid() ^ (int)seq) & 0xffff));
}

/* The protocol for Received: "with" (RFC 3848; UTF8SMTP, RFC 6531
 * 3.7.3, for a transaction that declared SMTPUTF8). */
static const char *
proto_name(const struct session *s)
{
	if (s->tx.active && smtp_params_smtputf8(s->tx.params))
		return s->srv.tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (s->srv.tls)
		return s->srv.esmtp ? "ESMTPS" : "SMTPS";
	return s->srv.esmtp ? "ESMTP" : "SMTP";
}

/* Logs a refused command in the Postfix "reject:" form. */
static void
log_reject(struct session *s, const char *stage, const char *reply,
    const char *to)
{
	/* Postfix names a transaction by its queue id only once it holds
	 * a recipient */
	log_msg("smtpd", "%s: reject: %s from %s: %s; from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", s->tx.active && s->tx.nrcpt > 0 ?
	    s->tx.qid : "NOQUEUE",
	    stage, s->client, reply, s->tx.active ? s->tx.from.addr : "",
	    to ? " to=<" : "", to ? to : "", to ? ">" : "", proto_name(s),
	    s->srv.helo);
}

static void
reply_and_continue(struct session *s, const char *line)
{
	smtp_server_reply(&s->srv, line);
}

/* "CODE X.Y.Z text" from a customer reply, keeping its enhanced code or
 * deriving one from the class. */
static void
passthrough(const struct smtp_reply *r, char *out, size_t size)
{
	char st[QUEUE_STATUS_MAX];
	size_t n = strlen(r->text);

	smtp_reply_status(r->code, r->text, st, sizeof(st));
	if (strncmp(r->text, st, strlen(st)) == 0 && n > strlen(st) &&
	    r->text[strlen(st)] == ' ')
		snprintf(out, size, "%d %s", r->code, r->text);
	else
		snprintf(out, size, "%d %d.0.0 %s", r->code, r->code / 100,
		    r->text);
}

/* --- transaction ---------------------------------------------------- */

#define VERDICT_TO_MAX	1536	/* recipients listed in the verdict line */

/* "<a>,<b>,..." for the verdict line; when they do not all fit, as many
 * as do and ",...(N in all)". */
static void
rcpt_list(const struct tx *t, char *out, size_t size)
{
	size_t len = 0, tail = 32;
	int i;

	out[0] = '\0';
	for (i = 0; i < t->nrcpt; i++) {
		size_t need = strlen(t->rcpt[i]) + 3;
		if (len + need + tail >= size) {
			snprintf(out + len, size - len, ",...(%d in all)",
			    t->nrcpt);
			return;
		}
		len += (size_t)snprintf(out + len, size - len, "%s<%s>",
		    i ? "," : "", t->rcpt[i]);
	}
}

static void
msg_release(struct session *s)
{
	s->r->mem_used -= s->msg_charged;
	s->msg_charged = 0;
	buf_free(&s->msg);
}

static void
tx_reset(struct session *s)
{
	struct tx *t = &s->tx;

	if (s->up != NULL && ((t->mail_sent && !t->finished) ||
	    t->pend != PEND_NONE || smtp_client_pending(&s->up->cli) > 0 ||
	    s->up->sending_body)) {
		/* mid-transaction upstream: drop it rather than replay; one
		 * whose transaction finished is kept for the next message */
		upstream_close(s->up, 1);
		s->up = NULL;
	}
	msg_release(s);
	free(t->rcpt);
	free(t->rparams);
	memset(t, 0, sizeof(*t));
}

static size_t make_headers(struct session *s, char *h, size_t size);

/* Answers the pending decision with 451: the sender keeps the message.
 * Used when neither the customer nor the queue can take it. */
static void
tx_defer_pending(struct session *s)
{
	struct tx *t = &s->tx;
	char line[ADDR_PATH_MAX + 128];

	snprintf(line, sizeof(line), "451 4.4.1 %s: customer server "
	    "unavailable, try again later", t->pend == PEND_RCPT ?
	    t->pending.addr : "message");
	if (t->pend == PEND_RCPT) {
		log_msg("smtp", "%s: to=<%s>, relay=none, delay=%.2f, "
		    "dsn=4.4.1, status=deferred (%s)", t->qid, t->pending.addr,
		    (double)(mono_ms() - t->t_start) / 1000, t->outage);
		log_reject(s, "RCPT", line, t->pending.addr);
	} else {
		for (int i = 0; i < t->nrcpt; i++)
			log_msg("smtp", "%s: to=<%s>, relay=none, delay=%.2f, "
			    "dsn=4.4.1, status=deferred (%s)", t->qid,
			    t->rcpt[i], (double)(mono_ms() - t->t_start) /
			    1000, t->outage);
		log_reject(s, "END-OF-MESSAGE", line, NULL);
	}
	if (t->pend == PEND_EOM || t->pend == PEND_QUEUE) {
		t->pend = PEND_NONE;
		reply_and_continue(s, line);
		tx_reset(s);
	} else {
		t->pend = PEND_NONE;
		reply_and_continue(s, line);
	}
}

/* Answers the pending RCPT with 451 when every server of the route
 * refused service (5xx greeting): no copy is kept; the next RCPT tries
 * the servers again. */
static void
tx_refused_pending(struct session *s, const char *why)
{
	struct tx *t = &s->tx;
	char line[ADDR_PATH_MAX + 128];

	snprintf(line, sizeof(line), "451 4.7.1 <%s>: the customer's server "
	    "refuses service, try again later", t->pending.addr);
	log_msg("smtp", "%s: to=<%s>, relay=none, delay=%.2f, dsn=4.7.1, "
	    "status=deferred (every server of route %s refuses service; "
	    "not queued, the sender keeps the message: %s)", t->qid,
	    t->pending.addr, (double)(mono_ms() - t->t_start) / 1000,
	    t->route->domain, why);
	log_reject(s, "RCPT", line, t->pending.addr);
	t->pend = PEND_NONE;
	t->refused = t->down = 0;
	reply_and_continue(s, line);
}

/* The first recipient makes the transaction a message: its "client="
 * line (Postfix logs it when the queue file is created). */
/* the queue keeps what the server machine hands out */
_Static_assert(SMTP_MAIL_PARAMS_MAX <= QUEUE_MAIL_PARAMS_MAX &&
    SMTP_RCPT_PARAMS_MAX <= QUEUE_RCPT_PARAMS_MAX, "DSN parameter sizes");

static int
tx_add_rcpt(struct session *s, const char *addr, const char *params)
{
	struct tx *t = &s->tx;

	if (t->nrcpt == t->caprcpt) {
		int cap = t->caprcpt ? t->caprcpt * 2 : 4;
		void *p = realloc(t->rcpt, (size_t)cap * sizeof(*t->rcpt));
		if (p == NULL)
			return -1;
		t->rcpt = p;
		p = realloc(t->rparams, (size_t)cap * sizeof(*t->rparams));
		if (p == NULL)
			return -1;
		t->rparams = p;
		t->caprcpt = cap;
	}
	str_copy(t->rparams[t->nrcpt], params, sizeof(t->rparams[0]));
	str_copy(t->rcpt[t->nrcpt++], addr, sizeof(t->rcpt[0]));
	if (t->nrcpt == 1)
		log_msg("smtpd", "%s: client=%s", t->qid, s->client);
	return 0;
}

/* Store & forward (SPEC 3.2.4): hands the message to the queue owner in
 * a memfd; the 250 is sent only when the owner says it is committed. */
static void
tx_queue_submit(struct session *s)
{
	struct tx *t = &s->tx;
	struct ipc_queue_put put;
	char hdr[2048];
	size_t hlen, envlen = 0;
	int fd, i, ok;

	hlen = make_headers(s, hdr, sizeof(hdr));
	fd = memfd_create("mxgate-put", MFD_CLOEXEC);
	ok = fd >= 0 && hlen > 0;
	if (ok) {
		const char **rcpt = calloc((size_t)t->nrcpt * 2, sizeof(*rcpt));
		char *env = malloc(ENVELOPE_MAX);

		for (i = 0; rcpt != NULL && i < t->nrcpt; i++) {
			rcpt[i] = t->rcpt[i];
			rcpt[t->nrcpt + i] = t->rparams[i];
		}
		envlen = rcpt && env ? envelope_encode(env, ENVELOPE_MAX,
		    t->from.addr, t->route->domain, t->params, rcpt,
		    rcpt + t->nrcpt, t->nrcpt) : 0;
		ok = envlen > 0 && write_all(fd, env, envlen) == 0 &&
		    write_all(fd, hdr, hlen) == 0 &&
		    write_all(fd, buf_ptr(&s->msg), s->msg.len) == 0;
		free(rcpt);
		free(env);
	}
	memset(&put, 0, sizeof(put));
	put.id = t->put_id = ++s->r->queue_seq;
	put.nrcpt = (uint32_t)t->nrcpt;
	put.env_len = (uint32_t)envlen;
	put.msg_len = hlen + s->msg.len;
	str_copy(put.qid, t->qid, sizeof(put.qid));
	if (!ok || s->r->queue_fd < 0 || ipc_send(s->r->queue_fd,
	    IPC_QUEUE_PUT, &put, sizeof(put), fd) != 0) {
		log_msg("smtpd", "%s: cannot hand the message to the queue: %s",
		    t->qid, strerror(errno));
		if (fd >= 0)
			close(fd);
		reply_and_continue(s, "451 4.3.0 Error: queue unavailable, "
		    "try again later");
		t->pend = PEND_NONE;
		tx_reset(s);
		return;
	}
	close(fd);
	t->pend = PEND_QUEUE;
}

/* No customer server answers: with the queue, accept and store; without
 * it, defer with 451 so the sender keeps the message. */
static void
tx_outage_pending(struct session *s)
{
	struct tx *t = &s->tx;

	if (s->r->queue_fd < 0) {
		tx_defer_pending(s);
		return;
	}
	if (t->pend == PEND_RCPT) {
		t->pend = PEND_NONE;
		if (tx_add_rcpt(s, t->pending.addr, t->pending_params) != 0) {
			reply_and_continue(s, "452 4.3.1 Error: insufficient "
			    "system resources");
			return;
		}
		reply_and_continue(s, "250 2.1.5 Ok");
		return;
	}
	if (t->pend == PEND_EOM)
		tx_queue_submit(s);
}

/* The customer took a message in session: if mail is waiting in the
 * queue it can go now. At most every 10 s per worker. */
static void
tell_queue_route_up(struct relay *r)
{
	static int64_t last;
	struct ipc_route_up up = { .worker = (uint32_t)r->slot };
	int64_t now = mono_ms();

	if (r->queue_fd < 0 || (last != 0 && now - last < 10000))
		return;
	last = now;
	if (ipc_send(r->queue_fd, IPC_ROUTE_UP, &up, sizeof(up), -1) != 0)
		log_msg("smtpd", "queue channel: %s", strerror(errno));
}

/* What became of a message, for mxgatectl status (the gate's table is
 * the region every worker and mxgatectl share). */
static void
count_message(struct relay *r, enum gate_msg m)
{
	if (r->gate != NULL)
		gate_count_message(r->gate, m, wall_us() / 1000000);
}

void
session_queue_reply(struct relay *r, uint32_t id, int status,
    const char *qid)
{
	struct session *s;
	struct tx *t;
	char line[128];
	int i;

	if (status == QUEUE_OK)
		count_message(r, GATE_MSG_QUEUED);
	for (s = r->sessions; s; s = s->next)
		if (s->tx.pend == PEND_QUEUE && s->tx.put_id == id)
			break;
	if (s == NULL)
		return;		/* the sender left; the message is queued */
	t = &s->tx;
	t->pend = PEND_NONE;
	if (status == QUEUE_OK) {
		/* the store keeps our id (else it names its own) */
		for (i = 0; i < t->nrcpt; i++)
			log_msg("smtp", "%s: to=<%s>, relay=none, delay=%.2f, "
			    "dsn=4.4.1, status=deferred (%s%s%s)", t->qid,
			    t->rcpt[i], (double)(mono_ms() - t->t_start) / 1000,
			    t->outage, strcmp(qid, t->qid) ? "; queued as " :
			    "", strcmp(qid, t->qid) ? qid : "");
		snprintf(line, sizeof(line), "250 2.0.0 Ok: queued as %s", qid);
	} else if (status == QUEUE_FULL) {
		snprintf(line, sizeof(line), "452 4.3.1 Error: insufficient "
		    "system storage, try again later");
		log_reject(s, "END-OF-MESSAGE", line, NULL);
	} else {
		snprintf(line, sizeof(line), "451 4.3.0 Error: queue error, "
		    "try again later");
		log_reject(s, "END-OF-MESSAGE", line, NULL);
	}
	reply_and_continue(s, line);
	tx_reset(s);
	session_process(s);
}

void
session_queue_lost(struct relay *r)
{
	struct session *s, *next;

	for (s = r->sessions; s; s = next) {
		next = s->next;
		if (s->tx.pend == PEND_QUEUE) {
			tx_defer_pending(s);
			session_process(s);
		}
	}
}

/* Drives the upstream toward what the pending decision needs. */
static void
tx_advance(struct session *s)
{
	struct tx *t = &s->tx;
	struct upstream *u = s->up;
	char line[ADDR_PATH_MAX + 64 + SMTP_RCPT_PARAMS_MAX];

	if (u == NULL || u->state != UP_READY || t->pend == PEND_NONE)
		return;
	if (smtp_client_pending(&u->cli) > 0)
		return;		/* a reply is on its way */
	if (!t->mail_sent && smtp_params_smtputf8(t->params) &&
	    !u->cli.cap_smtputf8) {
		/* the customer cannot take UTF-8: nothing is sent, every
		 * recipient of the transaction gets the RFC 6531 refusal (553
		 * when an address needs it, 554 for the content alone) */
		int addr8 = addr_is_utf8(t->from.addr) ||
		    addr_is_utf8(t->pending.addr);

		snprintf(t->reject, sizeof(t->reject), "%s 5.6.7 Error: the "
		    "customer's server does not support SMTPUTF8",
		    addr8 ? "553" : "554");
		t->mode = TX_MAIL_REJECTED;
		t->pend = PEND_NONE;
		log_reject(s, "RCPT", t->reject, t->pending.addr);
		smtp_server_relay_reply(&s->srv, t->reject);
		return;
	}
	if (!t->mail_sent) {
		if (smtp_client_mail_line(&u->cli, line, sizeof(line),
		    t->from.addr, t->size_decl, t->body_8bit, t->params) != 0) {
			upstream_fail(u, "MAIL FROM line too long");
			return;
		}
		t->mail_sent = 1;
		if (upstream_send(u, COP_MAIL, line) != 0)
			upstream_fail(u, "cannot queue MAIL");
		return;
	}
	if (t->pend == PEND_RCPT) {
		if (smtp_client_rcpt_line(&u->cli, line, sizeof(line),
		    t->pending.addr, t->pending_params) != 0) {
			upstream_fail(u, "RCPT TO line too long");
			return;
		}
		if (upstream_send(u, COP_RCPT, line) != 0)
			upstream_fail(u, "cannot queue RCPT");
		return;
	}
	if (t->pend == PEND_EOM) {
		if (u->cli.cap_chunking) {
			/* one BDAT ... LAST: no 354 to wait for */
			char hdr[2048];
			size_t hlen = make_headers(s, hdr, sizeof(hdr));

			if (hlen == 0 || upstream_send_bdat(u, hdr, hlen,
			    buf_ptr(&s->msg), s->msg.len) != 0)
				upstream_fail(u, "cannot queue message");
		} else if (upstream_send(u, COP_DATA, "DATA") != 0) {
			upstream_fail(u, "cannot queue DATA");
		}
	}
}

/* Opens the customer connection for the transaction's route: the first
 * server, in order, not known to be down. */
static void
tx_connect(struct session *s, int from_host)
{
	struct tx *t = &s->tx;
	int i;

	for (i = from_host; i < t->route->nhosts; i++) {
		if (upstream_host_is_down(&s->r->outbound,
		    &t->route->host[i]) &&
		    i + 1 < t->route->nhosts) {
			t->down = 1;
			continue;
		}
		t->host = i;
		s->up = upstream_open(&s->r->outbound, s->cf, t->route, i,
		    &session_up_cb, s);
		if (s->up != NULL)
			return;
		t->down = 1;
	}
	snprintf(t->outage, sizeof(t->outage), "no server of route %s "
	    "could be reached", t->route->domain);
	t->mode = TX_OUTAGE;
	tx_outage_pending(s);
}

/* Whether the sender's domain is one of tls_exempt_sender (exact, or a
 * subdomain of it). */
static int
tls_exempt_sender(const struct config *cf, const struct smtp_path *from)
{
	size_t n = strlen(from->domain), m;
	int i;

	for (i = 0; i < cf->ntls_exempt_sender; i++) {
		const char *d = cf->tls_exempt_sender[i];

		m = strlen(d);
		if (n == m && strcmp(from->domain, d) == 0)
			return 1;
		if (n > m && from->domain[n - m - 1] == '.' &&
		    strcmp(from->domain + n - m, d) == 0)
			return 1;
	}
	return 0;
}

static void
on_mail(struct session *s, const struct smtp_event *ev)
{
	struct tx *t = &s->tx;
	uint64_t budget = relay_budget(s);

	tx_reset(s);
	if (s->tls_required && s->tls == NULL &&
	    !tls_exempt_sender(s->cf, &ev->path)) {
		log_msg("smtpd", "NOQUEUE: reject: MAIL from %s: 530 5.7.0 "
		    "Must issue a STARTTLS command first; from=<%s> "
		    "(tls_required)", s->client, ev->path.addr);
		reply_and_continue(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first");
		return;
	}
	if (s->r->gate != NULL && gate_log_disk_refuses(s->r->gate)) {
		log_msg("smtpd", "NOQUEUE: reject: MAIL from %s: 451 4.3.0 "
		    "the log disk is full; from=<%s>", s->client,
		    ev->path.addr);
		reply_and_continue(s, "451 4.3.0 Error: logging unavailable "
		    "(disk full), try again later");
		return;
	}
	if (ev->size > 0 && s->r->mem_used + ev->size > budget) {
		log_msg("smtpd", "NOQUEUE: reject: MAIL from %s: memory budget "
		    "(%llu of %llu bytes in use)", s->client,
		    (unsigned long long)s->r->mem_used,
		    (unsigned long long)budget);
		reply_and_continue(s, "452 4.3.1 Error: insufficient system "
		    "resources, try again later");
		return;
	}
	t->active = 1;
	new_qid(s);
	t->from = ev->path;
	str_copy(t->params, ev->params, sizeof(t->params));
	t->size_decl = ev->size;
	t->body_8bit = ev->body_8bit;
	t->t_start = mono_ms();
	t->mode = TX_PROXY;
	reply_and_continue(s, "250 2.1.0 Ok");
}

static void
on_rcpt(struct session *s, const struct smtp_event *ev)
{
	struct tx *t = &s->tx;
	const struct route *route;
	char line[ADDR_PATH_MAX + 128];

	route = config_route(s->cf, ev->path.domain);
	if (route == NULL || ev->path.domain[0] == '[') {
		snprintf(line, sizeof(line), "554 5.7.1 <%s>: Relay access "
		    "denied", ev->path.addr);
		log_reject(s, "RCPT", line, ev->path.addr);
		reply_and_continue(s, line);
		return;
	}
	if (!config_mailbox_known(s->cf, ev->path.addr)) {
		snprintf(line, sizeof(line), "550 5.1.1 <%s>: Recipient address "
		    "rejected: User unknown", ev->path.addr);
		log_reject(s, "RCPT", line, ev->path.addr);
		reply_and_continue(s, line);
		if (s->r->gate != NULL && gate_unknown_rcpt(s->r->gate, &s->gs,
		    &s->gt, mono_ms())) {
			gate_log(s);
			smtp_server_close(&s->srv, "421 4.7.0 Error: too many "
			    "unknown recipients", "dictionary attack");
			s->closing = 1;
		}
		return;
	}
	if (t->route != NULL && t->route != route) {
		snprintf(line, sizeof(line), "452 4.5.3 <%s>: one destination "
		    "per transaction, send it again in a new one",
		    ev->path.addr);
		log_reject(s, "RCPT", line, ev->path.addr);
		reply_and_continue(s, line);
		return;
	}
	t->route = route;
	t->pending = ev->path;
	str_copy(t->pending_params, ev->params, sizeof(t->pending_params));
	t->pend = PEND_RCPT;
	switch (t->mode) {
	case TX_MAIL_REJECTED:
		t->pend = PEND_NONE;
		log_reject(s, "RCPT", t->reject, ev->path.addr);
		smtp_server_relay_reply(&s->srv, t->reject);
		return;
	case TX_OUTAGE:
		tx_outage_pending(s);
		return;
	case TX_PROXY:
		break;
	}
	if (s->up != NULL && s->up->route != route) {
		upstream_close(s->up, 1);
		s->up = NULL;
	}
	if (s->up == NULL)
		tx_connect(s, 0);
	else
		tx_advance(s);
}

static void
on_data(struct session *s)
{
	if (s->tx.mode == TX_OUTAGE && s->r->queue_fd < 0) {
		/* defer now, before the content; the transaction stays */
		char line[256];
		snprintf(line, sizeof(line), "451 4.4.1 Error: customer server "
		    "unavailable, try again later");
		log_reject(s, "DATA", line, NULL);
		reply_and_continue(s, line);
		return;
	}
	/* the content is kept as transmitted: a message of the maximum
	 * size may carry one transparency dot per line of 3 octets or more */
	buf_init(&s->msg, s->cf->max_message_size +
	    s->cf->max_message_size / 3 + SMTP_DATA_LINE_MAX);
	s->gs.data_start_ms = mono_ms();
	s->gs.data_bytes = 0;
	reply_and_continue(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
on_content(struct session *s, const struct smtp_event *ev)
{
	if (s->srv.msg_error != SMTP_MSG_OK)
		return;
	if (s->r->mem_used + ev->len > relay_budget(s) ||
	    buf_append(&s->msg, ev->data, ev->len) != 0) {
		log_msg("smtpd", "%s: memory budget exhausted (%llu bytes in "
		    "use): message refused with 452", s->tx.qid,
		    (unsigned long long)s->r->mem_used);
		smtp_server_set_msg_error(&s->srv, SMTP_MSG_NO_MEMORY);
		msg_release(s);
		return;
	}
	s->r->mem_used += ev->len;
	s->msg_charged += ev->len;
}

/*
 * The length of the field name when the line at p (n octets, not empty)
 * is a header field, `field-name ":"` (RFC 5322 3.6.8) with the blanks
 * before the colon that its obsolete syntax allows (4.5, as Postfix's
 * is_header() takes them); else 0.
 */
static size_t
field_name(const char *p, size_t n)
{
	size_t i = 0, len;

	while (i < n && (unsigned char)p[i] > 32 &&
	    (unsigned char)p[i] < 127 && p[i] != ':')
		i++;
	len = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':' ? len : 0;
}

/*
 * Where the message's header section ends (wire form; a transparency dot
 * changes no line's kind): at its empty line, or at the first line that
 * is neither a field nor the continuation of one (the body begins there,
 * as for Postfix's cleanup). 0 when the message does not begin with a
 * header field: a header-less message, or one whose first line is
 * indented and would continue our last trace header.
 */
static size_t
header_end(const char *p, size_t n)
{
	const char *q, *end = p + n, *nl;

	for (q = p; q < end; q = nl + 1) {
		if ((nl = memchr(q, '\n', (size_t)(end - q))) == NULL ||
		    nl - q <= 1)
			break;
		if ((*q == ' ' || *q == '\t') ? q == p :
		    field_name(q, (size_t)(nl - q)) == 0)
			break;
	}
	return (size_t)(q - p);
}

/* Whether our trace headers must end with an empty line, as Postfix
 * does: the message has content that does not begin with a header field
 * or with its own empty line. The message stays byte for byte. */
static int
needs_separator(const char *p, size_t n)
{
	return n >= 2 && !(p[0] == '\r' && p[1] == '\n') &&
	    header_end(p, n) == 0;
}

/*
 * The client's HELO name as it may stand in the "from" clause of our
 * Received: header: RFC 5322 atext, '.', and the brackets and colons of
 * an address literal; anything else ('(', ')', '\\', ';', '"', ',', '<',
 * '>', '@', blanks, controls, 8-bit) becomes '_', so a name cannot open
 * a comment or end the clause and hide the "by" part and the date from
 * every parser downstream (Postfix sanitises it likewise). The log keeps
 * the name as sent.
 */
static void
received_helo(const char *helo, char *out, size_t size)
{
	static const char extra[] = "!#$%&'*+-/=?^_`{|}~.[]:";
	size_t i;

	for (i = 0; helo[i] != '\0' && i + 1 < size; i++) {
		unsigned char c = (unsigned char)helo[i];

		out[i] = (c < 128 && (isalnum(c) || strchr(extra, c) != NULL)) ?
		    (char)c : '_';
	}
	out[i] = '\0';
	if (i == 0)
		str_copy(out, "unknown", size);
}

/* Received: and X-Mxgate-* lines, prepended to the message. */
static size_t
make_headers(struct session *s, char *h, size_t size)
{
	struct tx *t = &s->tx;
	struct upstream *u = s->up;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	char tlsinfo[160] = "", helo[sizeof(s->srv.helo)];

	if (s->tls != NULL)
		snprintf(tlsinfo, sizeof(tlsinfo), "\t(using %s with cipher %s "
		    "(%d/%d bits))\r\n", tls_version(s->tls),
		    tls_cipher(s->tls), tls_cipher_bits(s->tls),
		    tls_cipher_bits(s->tls));
	received_helo(s->srv.helo, helo, sizeof(helo));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000 (UTC)", &tm);
	n = snprintf(h, size,
	    "Received: from %s (unknown [%s])\r\n"
	    "%s"
	    "\tby %s (mxgate) with %s id %s%s%s%s;\r\n"
	    "\t%s\r\n"
	    "X-Mxgate-Flow: %s; id=%s; route=%s; relay=%s\r\n"
	    "X-Mxgate-Gate: %s; client=%s; dnsbl-score=%d\r\n%s",
	    helo, s->peer_ip, tlsinfo, s->cf->hostname, proto_name(s),
	    t->qid, t->nrcpt == 1 ? "\r\n\tfor <" : "",
	    t->nrcpt == 1 ? t->rcpt[0] : "", t->nrcpt == 1 ? ">" : "",
	    date, t->mode == TX_OUTAGE ? "store-and-forward" : "in-session",
	    t->qid, t->route->domain, u && t->mode != TX_OUTAGE ? u->addr :
	    "queue", s->r->gate ? gate_verdict_name(s->gt.verdict) : "none",
	    s->peer_ip, s->dnsbl_score,
	    needs_separator(buf_ptr(&s->msg), s->msg.len) ? "\r\n" : "");
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

/*
 * The Message-ID of the message (header section only; unfolded, blanks
 * trimmed, controls and 8-bit replaced by '?', at most size - 1 octets)
 * into out, or "" when it has none: for the Postfix-style
 * `cleanup: QUEUEID: message-id=<...>` line, so a message can be found by
 * the id its sender and recipients see.
 */
static void
message_id(const struct buf *msg, char *out, size_t size)
{
	const char *p = buf_ptr(msg), *end, *q, *nl;
	size_t n = 0;
	int in = 0;

	out[0] = '\0';
	end = p + header_end(p, msg->len);
	for (q = p; q < end; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (in && *q != ' ' && *q != '\t')
			break;		/* the field ended */
		if (!in) {
			if (nl - q < 11 || strncasecmp(q, "Message-ID:", 11) != 0)
				continue;
			in = 1;
			q += 11;
		}
		for (; q < nl && *q != '\r' && n + 1 < size; q++) {
			unsigned char c = (unsigned char)*q;

			if ((c == ' ' || c == '\t') && (n == 0 ||
			    out[n - 1] == ' '))
				continue;
			out[n++] = c < 32 || c > 126 ? (c == '\t' ? ' ' : '?') :
			    (char)c;
		}
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

#define OUR_PREFIX	"X-Mxgate-"
#define RENAMED_PREFIX	"X-Mxgate-Original-"

/* Whether the header line at p (n octets) is one of ours by name. */
static int
our_field(const char *p, size_t n)
{
	size_t a = sizeof(OUR_PREFIX) - 1, b = sizeof(RENAMED_PREFIX) - 1;
	size_t len = field_name(p, n);

	return len >= a && strncasecmp(p, OUR_PREFIX, a) == 0 &&
	    !(len >= b && strncasecmp(p, RENAMED_PREFIX, b) == 0);
}

/*
 * Our own trace headers cannot be forged: an X-Mxgate-* field arriving in
 * the message's header section (header_end()) is renamed
 * X-Mxgate-Original-*, its value untouched, so the X-Mxgate-* fields the
 * customer sees are only the ones we prepend. Nothing else changes: not
 * the body, nor a header-less message's first lines.
 * 0, or -1 when the renamed message does not fit the memory budget.
 */
static int
rename_our_fields(struct session *s)
{
	const char *p = buf_ptr(&s->msg), *end, *q, *nl;
	size_t grow = sizeof(RENAMED_PREFIX) - sizeof(OUR_PREFIX), k = 0;
	struct buf nb;

	end = p + header_end(p, s->msg.len);
	for (q = p; q < end; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(end - q));
		k += our_field(q, (size_t)(nl - q));
	}
	if (k == 0)
		return 0;
	if (s->r->mem_used + k * grow > relay_budget(s))
		return -1;
	buf_init(&nb, s->msg.max + k * grow);
	for (q = p; q < end; q = nl + 1) {
		nl = memchr(q, '\n', (size_t)(end - q));
		if (our_field(q, (size_t)(nl - q))) {
			if (buf_append(&nb, RENAMED_PREFIX, grow +
			    sizeof(OUR_PREFIX) - 1) != 0 ||
			    buf_append(&nb, q + sizeof(OUR_PREFIX) - 1,
			    (size_t)(nl + 1 - q) - (sizeof(OUR_PREFIX) - 1)) != 0)
				goto fail;
		} else if (buf_append(&nb, q, (size_t)(nl + 1 - q)) != 0)
			goto fail;
	}
	if (buf_append(&nb, end, s->msg.len - (size_t)(end - p)) != 0)
		goto fail;
	log_msg("cleanup", "%s: %zu X-Mxgate-* header(s) from the sender "
	    "renamed X-Mxgate-Original-*", s->tx.qid, k);
	buf_free(&s->msg);
	s->msg = nb;
	s->r->mem_used += k * grow;
	s->msg_charged += k * grow;
	return 0;
fail:
	buf_free(&nb);
	return -1;
}

static void
on_eom(struct session *s, const struct smtp_event *ev)
{
	struct tx *t = &s->tx;

	t->msg_size = ev->size;
	t->t_eom = mono_ms();
	if (ev->msg_error == SMTP_MSG_OK && rename_our_fields(s) != 0) {
		const char *line = smtp_msg_error_reply(SMTP_MSG_NO_MEMORY);
		log_msg("smtpd", "%s: memory budget exhausted renaming "
		    "X-Mxgate-* headers: message refused with 452", t->qid);
		log_reject(s, "END-OF-MESSAGE", line, NULL);
		reply_and_continue(s, line);
		tx_reset(s);
		return;
	}
	if (ev->msg_error != SMTP_MSG_OK) {
		const char *line = smtp_msg_error_reply(ev->msg_error);
		log_reject(s, "END-OF-MESSAGE", line, NULL);
		count_message(s->r, GATE_MSG_REFUSED);
		reply_and_continue(s, line);
		tx_reset(s);
		return;
	}
	{
		char mid[256], to[VERDICT_TO_MAX];

		message_id(&s->msg, mid, sizeof(mid));
		if (mid[0] != '\0')
			log_msg("cleanup", "%s: message-id=%s", t->qid, mid);
		log_msg("qmgr", "%s: from=<%s>, size=%llu, nrcpt=%d (%s)",
		    t->qid, t->from.addr, (unsigned long long)t->msg_size,
		    t->nrcpt, t->mode == TX_PROXY && s->up != NULL ?
		    "in-session" : "store-and-forward");
		/* the verdict line: everything an auditor's filter report
		 * needs about the message, together */
		rcpt_list(t, to, sizeof(to));
		log_msg("smtpd", "%s: filter: PASS client=%s gate=%s "
		    "dnsbl_score=%d from=<%s> to=%s message-id=%s size=%llu "
		    "(gating only, no content filter)", t->qid, s->client,
		    s->r->gate ? gate_verdict_name(s->gt.verdict) : "none",
		    s->dnsbl_score, t->from.addr, to, mid[0] ? mid : "<>",
		    (unsigned long long)t->msg_size);
	}
	t->pend = PEND_EOM;
	if (t->mode != TX_PROXY || s->up == NULL) {
		if (t->outage[0] == '\0')
			snprintf(t->outage, sizeof(t->outage),
			    "customer connection lost");
		t->mode = TX_OUTAGE;
		tx_outage_pending(s);
		return;
	}
	tx_advance(s);
}

/* --- upstream callbacks --------------------------------------------- */

static void
up_ready_cb(void *arg)
{
	struct session *s = arg;

	tx_advance(s);
	if (s->tx.mode == TX_MAIL_REJECTED)	/* answered: step on */
		session_process(s);
}

static void
up_failed_cb(void *arg, const char *why, int refused,
    const struct smtp_reply *r)
{
	struct session *s = arg;
	struct tx *t = &s->tx;
	int next = 0;

	(void)r;
	s->up = NULL;		/* already freed */
	log_msg("smtp", "%s: %s", t->active ? t->qid : "NOQUEUE", why);
	if (refused)
		t->refused = 1;
	else
		t->down = 1;
	if (!t->active || t->pend == PEND_NONE) {
		if (t->active && t->mail_sent) {
			t->mode = TX_OUTAGE;
			str_copy(t->outage, why, sizeof(t->outage));
		}
		session_process(s);
		return;
	}
	/* fail over to the next server while nothing was accepted yet */
	if (t->mode == TX_PROXY && t->nrcpt == 0 && t->pend == PEND_RCPT) {
		next = t->host + 1;
		if (next < t->route->nhosts) {
			t->mail_sent = t->mail_ok = 0;
			tx_connect(s, next);
			session_process(s);
			return;
		}
	}
	/* every server tried refused service (none was down): the sender
	 * keeps the message and its responsibility; nothing is queued */
	if (t->mode == TX_PROXY && t->nrcpt == 0 && t->pend == PEND_RCPT &&
	    t->refused && !t->down) {
		tx_refused_pending(s, why);
		session_process(s);
		return;
	}
	t->mode = TX_OUTAGE;
	str_copy(t->outage, why, sizeof(t->outage));
	tx_outage_pending(s);
	session_process(s);
}

static void
log_sent(struct session *s, const struct smtp_reply *r, const char *status)
{
	struct tx *t = &s->tx;
	struct upstream *u = s->up;
	int64_t now = mono_ms();
	double a = (double)(t->t_eom - t->t_start) / 1000;
	double c = u ? (double)(u->t_ready - u->t_start) / 1000 : 0;
	double d = (double)(now - t->t_eom) / 1000;
	char dsn[16];
	int i;

	smtp_reply_status(r->code, r->text, dsn, sizeof(dsn));
	for (i = 0; i < t->nrcpt; i++)
		log_msg("smtp", "%s: to=<%s>, relay=%s[%s]:%d, delay=%.2f, "
		    "delays=%.2f/0/%.2f/%.2f, dsn=%s, status=%s (%d %s)",
		    t->qid, t->rcpt[i], u ? u->ip : "none", u ? u->ip : "",
		    u ? u->port : 0, (double)(now - t->t_start) / 1000, a, c,
		    d, dsn, status, r->code, r->text);
}

static void
up_reply_cb(void *arg, const struct smtp_reply *r)
{
	struct session *s = arg;
	struct tx *t = &s->tx;
	char line[SMTP_CLIENT_TEXT_MAX + 64];
	char hdr[2048];
	size_t hlen;

	switch (r->op) {
	case COP_MAIL:
		if (r->code / 100 == 2) {
			t->mail_ok = 1;
			tx_advance(s);
			return;
		}
		if (r->code / 100 == 5) {
			passthrough(r, line, sizeof(line));
			str_copy(t->reject, line, sizeof(t->reject));
			t->mode = TX_MAIL_REJECTED;
			t->pend = PEND_NONE;
			log_reject(s, "RCPT", line, t->pending.addr);
			smtp_server_relay_reply(&s->srv, line);
			break;
		}
		upstream_fail(s->up, "customer refused MAIL temporarily");
		return;
	case COP_RCPT:
		t->pend = PEND_NONE;
		passthrough(r, line, sizeof(line));
		if (r->code / 100 == 2) {
			if (tx_add_rcpt(s, t->pending.addr,
			    t->pending_params) != 0) {
				reply_and_continue(s, "452 4.3.1 Error: "
				    "insufficient system resources");
				break;
			}
			reply_and_continue(s, "250 2.1.5 Ok");
		} else {
			/* the customer's refusal, not the client's error;
			 * its 5xx count toward the dictionary-attack limit */
			log_reject(s, "RCPT", line, t->pending.addr);
			smtp_server_relay_reply(&s->srv, line);
			if (r->code / 100 == 5 && s->r->gate != NULL &&
			    gate_refused_rcpt(s->r->gate, &s->gs, &s->gt,
			    mono_ms())) {
				gate_log(s);
				smtp_server_close(&s->srv, "421 4.7.0 Error: too "
				    "many refused recipients", "dictionary attack");
				s->closing = 1;
			}
		}
		break;
	case COP_DATA:
		if (r->code == 354) {
			hlen = make_headers(s, hdr, sizeof(hdr));
			if (hlen == 0 || upstream_send_body(s->up, hdr, hlen,
			    buf_ptr(&s->msg), s->msg.len) != 0)
				upstream_fail(s->up, "cannot queue message");
			return;
		}
		if (r->code / 100 == 5) {
			passthrough(r, line, sizeof(line));
			log_reject(s, "END-OF-MESSAGE", line, NULL);
			count_message(s->r, GATE_MSG_REFUSED);
			t->pend = PEND_NONE;
			reply_and_continue(s, line);
			tx_reset(s);
			break;
		}
		upstream_fail(s->up, "customer refused DATA temporarily");
		return;
	case COP_DOT:
		t->finished = 1;
		if (r->code / 100 == 2) {
			log_sent(s, r, "sent");
			log_msg("qmgr", "%s: removed", t->qid);
			count_message(s->r, GATE_MSG_RELAYED);
			tell_queue_route_up(s->r);
			snprintf(line, sizeof(line), "250 2.0.0 Ok: queued as %s",
			    t->qid);
			t->pend = PEND_NONE;
			reply_and_continue(s, line);
			tx_reset(s);
			break;
		}
		if (r->code / 100 == 5) {
			passthrough(r, line, sizeof(line));
			log_sent(s, r, "rejected");
			log_reject(s, "END-OF-MESSAGE", line, NULL);
			count_message(s->r, GATE_MSG_REFUSED);
			t->pend = PEND_NONE;
			reply_and_continue(s, line);
			tx_reset(s);
			break;
		}
		{
			char why[SMTP_CLIENT_TEXT_MAX + 32];
			snprintf(why, sizeof(why), "customer said %d %s",
			    r->code, r->text);
			upstream_fail(s->up, why);
		}
		return;
	default:
		return;
	}
	session_process(s);
}

/* --- session I/O ------------------------------------------------------ */

static void
arm_idle(struct session *s)
{
	loop_timer_set(s->r->loop, &s->t_idle,
	    mono_ms() + (int64_t)s->cf->command_timeout * 1000,
	    session_idle_timeout, s);
}

void
session_accept(struct relay *r, int fd, const struct sockaddr_storage *ss,
    int listener)
{
	struct session *s = calloc(1, sizeof(*s));
	int i;

	if (s == NULL) {
		close(fd);
		return;
	}
	s->r = r;
	s->cfg = r->cfg;
	s->cfg->refs++;
	s->cf = s->cfg->cf;
	s->fd = fd;
	netaddr_from_sockaddr((const struct sockaddr *)ss, &s->peer);
	netaddr_format(&s->peer, s->peer_ip, sizeof(s->peer_ip));
	snprintf(s->client, sizeof(s->client), "unknown[%s]", s->peer_ip);
	s->tls_required = s->cf->tls_required || (listener >= 0 &&
	    listener < s->cf->nlisten && s->cf->listen_tls_required[listener]);
	for (i = 0; s->tls_required && i < s->cf->ntls_exempt; i++)
		if (cidr_match(&s->cf->tls_exempt[i], &s->peer))
			s->tls_required = 0;
	buf_init(&s->in, SESSION_IN_MAX);
	buf_init(&s->out, SESSION_OUT_MAX);
	buf_init(&s->msg, 0);
	s->lim.hostname = s->cf->hostname;
	s->lim.max_size = s->cf->max_message_size;
	s->lim.max_recipients = s->cf->max_recipients;
	s->lim.max_errors = s->cf->max_errors;
	s->lim.tls_available = r->tls_srv != NULL;
	smtp_server_init(&s->srv, &s->lim, &s->out);

	s->next = r->sessions;
	if (r->sessions)
		r->sessions->prev = s;
	r->sessions = s;
	r->nsessions++;

	log_msg("smtpd", "connect from %s", s->client);
	if (loop_add(r->loop, &s->w, fd, EPOLLIN, session_io, s) != 0) {
		session_close(s, "epoll");
		return;
	}
	loop_timer_set(r->loop, &s->t_life,
	    mono_ms() + (int64_t)s->cf->session_timeout * 1000,
	    session_life_timeout, s);
	if (r->gate == NULL) {
		if (r->nsessions > relay_max_sessions(s)) {
			log_msg("smtpd", "NOQUEUE: reject: CONNECT from %s: too "
			    "many sessions (%d in this worker)", s->client,
			    relay_max_sessions(s));
			smtp_server_close(&s->srv, "421 4.7.0 Error: too many "
			    "connections, try again later", "session limit");
			s->closing = 1;
			session_flush(s);
			return;
		}
		send_banner(s);
		return;
	}
	gate_start(s);
}

/* --- admission (SPEC 3.4, docs/GATING.md) -------------------------------
 * gate_admit() decides in microseconds from the shared table; a new
 * client then waits pregreet_wait before the banner while its DNSBL
 * lookups run: talking first drops it, a listing refuses it, and a pass
 * is remembered so the next connection gets the banner at once. */

static void
send_banner(struct session *s)
{
	char c;

	s->gating = 0;
	/* a client that talks before our banner (noted; gating acts) */
	if (recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		s->pregreet = 1;
		log_msg("smtpd", "PREGREET from %s: client spoke before the "
		    "banner", s->client);
	}
	smtp_server_banner(&s->srv);
	arm_idle(s);
	session_flush(s);
}

static void
gate_log(struct session *s)
{
	char line[GATE_DETAIL_MAX + 96];

	gate_log_line(&s->gt, line, sizeof(line));
	if (s->dnsbl_text[0] != '\0' && s->gt.verdict == GATE_PASS)
		log_msg("gate", "%s %s", line, s->dnsbl_text);
	else
		log_msg("gate", "%s", line);
}

/* The client spoke (or hung up) during the pregreet wait. */
static void
gate_pregreet(struct session *s)
{
	char c, why[64];
	ssize_t n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0) {
		session_close(s, "lost connection during the pregreet wait");
		return;
	}
	if (n < 0)
		return;		/* nothing after all */
	snprintf(why, sizeof(why), "after %lld ms",
	    (long long)(mono_ms() - s->gt.admitted_ms));
	gate_note(s->r->gate, &s->gt, GATE_PREGREET, why);
	gate_log(s);
	session_close(s, "pregreet");
}

/* Refuses the client with the gate's reply (or silently) and closes. */
static void
gate_refuse(struct session *s, const char *reason)
{
	char line[256];

	gate_log(s);
	if (gate_reply(s->r->gate, &s->gt, line, sizeof(line)) == 1) {
		size_t n = strlen(line);
		if (n >= 2 && line[n - 2] == '\r')
			line[n - 2] = '\0';
		/* Postfix's line for a client refused at connect, so log
		 * reports count it among the rejected */
		log_msg("smtpd", "NOQUEUE: reject: CONNECT from %s: %s; "
		    "proto=SMTP", s->client, line);
		smtp_server_close(&s->srv, line, reason);
	} else
		s->srv.close_reason = reason;
	s->closing = 1;
	s->gating = 0;
	session_flush(s);
}

static void
gate_finish(struct session *s)
{
	struct relay *r = s->r;
	char c;

	if (!s->gating || !s->wait_done || s->dnsbl_chk != NULL)
		return;
	if (recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0) {
		gate_pregreet(s);
		if (s->dead)
			return;
	}
	if (s->gt.verdict == GATE_DNSBL) {
		gate_refuse(s, "dnsbl");
		return;
	}
	gate_mark_passed(r->gate, &s->peer, mono_ms());
	gate_log(s);
	send_banner(s);
}

static void
gate_wait_over(struct timer *t)
{
	struct session *s = t->arg;

	s->wait_done = 1;
	gate_finish(s);
}

static void
gate_dnsbl_done(void *arg, const struct dnsbl_result *res)
{
	struct session *s = arg;
	char why[GATE_DETAIL_MAX];

	s->dnsbl_chk = NULL;
	s->dnsbl_score = res->score;
	if (res->listed) {
		dnsbl_result_format(s->r->dnsbl, res, why, sizeof(why));
		gate_note(s->r->gate, &s->gt, GATE_DNSBL, why);
	} else if (res->score != 0 || res->ntimeout > 0 || res->nerror > 0) {
		/* below the threshold: the rank goes on the PASS line */
		dnsbl_result_format(s->r->dnsbl, res, s->dnsbl_text,
		    sizeof(s->dnsbl_text));
		if (res->ntimeout > 0 || res->nerror > 0)
			log_msg("gate", "DNSBL incomplete for %s: %s (counted "
			    "as not listed)", s->client, s->dnsbl_text);
	}
	gate_finish(s);
}

static void
gate_start(struct session *s)
{
	struct relay *r = s->r;
	const struct gate_conf *gc = gate_conf(r->gate);
	enum gate_verdict v;

	v = gate_admit(r->gate, &s->peer, mono_ms(), &s->gt);
	s->admitted = 1;
	if (!gate_verdict_ok(v)) {
		gate_refuse(s, gate_verdict_name(v));
		return;
	}
	if (v != GATE_PASS || (gc->pregreet_wait_ms == 0 && r->dnsbl == NULL)) {
		gate_log(s);
		send_banner(s);
		return;
	}
	s->gating = 1;
	s->wait_done = gc->pregreet_wait_ms == 0;
	if (!s->wait_done)
		loop_timer_set(r->loop, &s->t_gate,
		    mono_ms() + gc->pregreet_wait_ms, gate_wait_over, s);
	if (r->dnsbl != NULL &&
	    (s->dnsbl_chk = dnsbl_check(r->dnsbl, &s->peer, gate_dnsbl_done,
	    s)) == NULL)
		log_msg("gate", "DNSBL check for %s not started (no "
		    "resources): counted as not listed", s->client);
	gate_finish(s);
}

void
session_close(struct session *s, const char *reason)
{
	struct relay *r = s->r;
	char counts[256];

	if (s->dead)
		return;
	s->dead = 1;
	s->closing = 1;
	smtp_server_counts(&s->srv, counts, sizeof(counts));
	log_msg("smtpd", "disconnect from %s %s%s%s", s->client, counts,
	    reason ? " reason=" : "", reason ? reason : "");
	if (s->up) {
		upstream_close(s->up, 1);
		s->up = NULL;
	}
	tx_reset(s);
	loop_timer_cancel(r->loop, &s->t_idle);
	loop_timer_cancel(r->loop, &s->t_life);
	loop_timer_cancel(r->loop, &s->t_gate);
	if (s->dnsbl_chk != NULL) {
		dnsbl_cancel(s->dnsbl_chk);
		s->dnsbl_chk = NULL;
	}
	if (s->admitted) {
		gate_release(r->gate, &s->gt);
		s->admitted = 0;
	}
	loop_del(r->loop, &s->w);
	if (s->tls != NULL) {
		if (!s->handshaking)
			tls_close(s->tls, s->fd);	/* close_notify */
		tls_conn_free(s->tls);
	}
	close(s->fd);
	buf_free(&s->in);
	buf_free(&s->out);
	if (s->prev)
		s->prev->next = s->next;
	else
		r->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	r->nsessions--;
	cfg_release(s->cfg);
	s->dead_next = r->graveyard;
	r->graveyard = s;
}

void
session_reap(struct relay *r)
{
	while (r->graveyard != NULL) {
		struct session *s = r->graveyard;
		r->graveyard = s->dead_next;
		free(s);
	}
}

static void
session_want(struct session *s)
{
	uint32_t ev = 0;

	if (!s->closing && s->in.len < SESSION_IN_MAX - SESSION_IN_CHUNK &&
	    s->out.len < SESSION_OUT_HIGH)
		ev |= EPOLLIN;
	if (s->out.len > 0)
		ev |= EPOLLOUT;
	if (s->tls != NULL)
		ev |= tls_want(s->tls);
	if (s->handshaking)
		ev &= (uint32_t)~EPOLLIN, ev |= tls_want(s->tls);
	loop_mod(s->r->loop, &s->w, ev);
}

static ssize_t
s_write(struct session *s, const void *p, size_t n)
{
	return s->tls ? tls_write(s->tls, s->fd, p, n) : write(s->fd, p, n);
}

static ssize_t
s_read(struct session *s, void *p, size_t n)
{
	return s->tls ? tls_read(s->tls, s->fd, p, n) : read(s->fd, p, n);
}

/* The 220 to STARTTLS is on the wire: anything the client sent after
 * STARTTLS was sent in the clear and is dropped (RFC 3207 4.2, the
 * CVE-2011-0411 injection), so is every transaction state, then the
 * handshake starts. */
static void
start_tls(struct session *s)
{
	s->starttls = 0;
	if (s->in.len > 0) {
		log_msg("smtpd", "STARTTLS injection from %s: %zu plaintext "
		    "bytes after STARTTLS discarded", s->client, s->in.len);
		buf_reset(&s->in);
	}
	tx_reset(s);
	if ((s->tls = tls_conn_server(s->r->tls_srv)) == NULL) {
		log_msg("smtpd", "TLS setup for %s: %s", s->client,
		    strerror(errno));
		s->closing = 1;
		return;
	}
	s->handshaking = 1;
}

static void
handshake(struct session *s)
{
	if (tls_handshake(s->tls, s->fd) == 1) {
		s->handshaking = 0;
		smtp_server_tls_started(&s->srv);
		log_msg("smtpd", "Anonymous TLS connection established from "
		    "%s: %s with cipher %s (%d/%d bits)%s", s->client,
		    tls_version(s->tls), tls_cipher(s->tls),
		    tls_cipher_bits(s->tls), tls_cipher_bits(s->tls),
		    tls_resumed(s->tls) ? ", session resumed" : "");
		/* a client may have pipelined its EHLO in the first record */
		session_process(s);
		return;
	}
	if (errno != EAGAIN) {
		log_msg("smtpd", "SSL_accept error from %s: %s", s->client,
		    tls_error(s->tls));
		session_close(s, "TLS handshake failed");
		return;
	}
	session_want(s);
}

/* Writes what of the queued replies the socket takes: 0, or -1 when the
 * session was closed for a write error. */
static int
write_out(struct session *s)
{
	while (s->out.len > 0) {
		ssize_t n = s_write(s, buf_ptr(&s->out), s->out.len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			session_close(s, "write error");
			return -1;
		}
		buf_consume(&s->out, (size_t)n);
	}
	if (s->tls != NULL && tls_flush(s->tls, s->fd) != 0 &&
	    errno != EAGAIN) {
		session_close(s, "TLS write error");
		return -1;
	}
	return 0;
}

/* Writes queued replies; closes a closing session once they are out. */
static void
session_flush(struct session *s)
{
	if (s->dead || write_out(s) != 0)
		return;
	if (s->closing && s->out.len == 0) {
		session_close(s, s->srv.close_reason);
		return;
	}
	if (s->starttls && s->out.len == 0) {
		start_tls(s);
		if (s->closing) {
			session_close(s, "TLS setup failed");
			return;
		}
		handshake(s);
		return;
	}
	session_want(s);
}

void
session_process(struct session *s)
{
	struct smtp_event ev;

	/* after STARTTLS nothing is stepped until the handshake is done: an
	 * upstream event arriving while the 220 is still unflushed must not
	 * step the plaintext pipelined behind STARTTLS (CVE-2011-0411) */
	if (s->dead || s->starttls || s->handshaking)
		return;
	while (!s->closing) {
		/* pipelined input answered without a decision can fill the
		 * reply buffer (the machine then stops for room): send the
		 * replies and go on; when the client does not read them,
		 * EPOLLOUT resumes here (session_io) */
		if (s->out.len > SESSION_OUT_HIGH && (write_out(s) != 0 ||
		    s->out.len > SESSION_OUT_HIGH))
			break;
		switch (smtp_server_step(&s->srv, &s->in, &ev)) {
		case SMTP_EV_NONE:
			if (s->out.len > SESSION_OUT_HIGH && s->in.len > 0)
				continue;	/* stopped for room */
			goto done;
		case SMTP_EV_HELO:
			tx_reset(s);
			break;
		case SMTP_EV_MAIL:
			on_mail(s, &ev);
			break;
		case SMTP_EV_RCPT:
			on_rcpt(s, &ev);
			break;
		case SMTP_EV_DATA:
			on_data(s);
			break;
		case SMTP_EV_CONTENT:
			on_content(s, &ev);
			break;
		case SMTP_EV_EOM:
			on_eom(s, &ev);
			break;
		case SMTP_EV_RSET:
			tx_reset(s);
			break;
		case SMTP_EV_STARTTLS:
			/* stop here: what follows is discarded once the 220
			 * is out (session_flush -> start_tls) */
			s->starttls = 1;
			goto done;
		case SMTP_EV_CLOSE:
			s->closing = 1;
			break;
		}
		if (s->srv.state == SMTP_CLOSED)
			s->closing = 1;
	}
done:
	if (s->dead)
		return;
	if (s->srv.state == SMTP_CLOSED)
		s->closing = 1;
	/* while the customer decides, the sender's clock is stopped */
	if (s->srv.pending != SMTP_EV_NONE &&
	    s->srv.pending != SMTP_EV_STARTTLS)
		loop_timer_cancel(s->r->loop, &s->t_idle);
	else if (!loop_timer_armed(&s->t_idle) && !s->closing)
		arm_idle(s);
	if (s->drain && !s->tx.active && s->srv.pending == SMTP_EV_NONE &&
	    !s->closing) {
		smtp_server_close(&s->srv, "421 4.3.2 Service shutting down",
		    "shutdown");
		s->closing = 1;
	}
	session_flush(s);
}

static void
session_read(struct session *s)
{
	size_t chunk = smtp_server_in_message(&s->srv) ? SESSION_DATA_CHUNK :
	    SESSION_IN_CHUNK;
	char *p;
	ssize_t n;

	int rounds = 0;

	if (s->handshaking) {
		handshake(s);
		return;
	}
	if (s->starttls)
		return;		/* bytes after STARTTLS wait to be dropped */
	if (s->gating) {
		/* it talked before our banner: postscreen's pregreet */
		gate_pregreet(s);
		return;
	}
again:
	if (s->in.len + chunk > SESSION_IN_MAX)
		chunk = SESSION_IN_MAX - s->in.len;
	if (chunk == 0 || (p = buf_space(&s->in, chunk)) == NULL)
		return;
	n = s_read(s, p, chunk);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			session_want(s);
			return;
		}
		if (s->tls != NULL)
			log_msg("smtpd", "TLS read error from %s: %s", s->client,
			    tls_error(s->tls));
		session_close(s, "read error");
		return;
	}
	if (n == 0) {
		session_close(s, s->tx.pend != PEND_NONE ?
		    "lost connection while the customer decided" :
		    "lost connection");
		return;
	}
	/* command_timeout bounds a whole command line, from its first byte
	 * (a client that trickles a byte at a time is cut like a silent
	 * one); in DATA every read counts, min_data_rate bounds the rest */
	if (s->srv.pending == SMTP_EV_NONE &&
	    (smtp_server_in_message(&s->srv) || s->in.len == 0))
		arm_idle(s);
	buf_commit(&s->in, (size_t)n);
	if (smtp_server_in_message(&s->srv) && s->r->gate != NULL) {
		s->gs.data_bytes += (uint64_t)n;
		if (gate_data_too_slow(s->r->gate, &s->gs, mono_ms())) {
			log_msg("gate", "SLOW DATA [%s] %llu bytes in %lld ms",
			    s->peer_ip, (unsigned long long)s->gs.data_bytes,
			    (long long)(mono_ms() - s->gs.data_start_ms));
			smtp_server_close(&s->srv, "421 4.7.0 Error: data too "
			    "slow, try again later", "slow data");
			s->closing = 1;
			session_flush(s);
			return;
		}
	}
	session_process(s);
	if (s->dead)
		return;
	/* level-triggered epoll cannot see plaintext already decrypted
	 * inside the TLS engine: drain it here, a bounded number of rounds */
	if (s->tls != NULL && !s->closing && tls_pending(s->tls) > 0 &&
	    ++rounds < 64)
		goto again;
}

static void
session_io(struct watch *w, uint32_t events)
{
	struct session *s = w->arg;

	if (events & EPOLLOUT) {
		session_flush(s);
		if (s->dead)
			return;
		/* the replies that held back buffered input are out */
		if (s->in.len > 0)
			session_process(s);
		if (s->dead)
			return;
	}
	if (s->handshaking) {
		handshake(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) ||
	    (s->tls != NULL && (events & EPOLLOUT)))
		session_read(s);
}

/* A session still closing when a deadline passes (its last replies not
 * read within command_timeout) is closed without them: a client that
 * stops reading cannot hold its session past the deadlines. */
static int
closed_unread(struct session *s, const char *why)
{
	if (!s->closing)
		return 0;
	log_msg("smtpd", "%s: %zu bytes of replies not read by %s",
	    why, s->out.len, s->client);
	session_close(s, why);
	return 1;
}

static void
session_idle_timeout(struct timer *t)
{
	struct session *s = t->arg;
	char line[ADDR_DOMAIN_MAX + 64];

	if (closed_unread(s, "timeout"))
		return;
	snprintf(line, sizeof(line), "421 4.4.2 %s Error: timeout exceeded",
	    s->cf->hostname);
	log_msg("smtpd", "timeout after %s from %s",
	    smtp_server_in_message(&s->srv) ? "DATA" : "command", s->client);
	smtp_server_close(&s->srv, line, "timeout");
	s->closing = 1;
	session_flush(s);
	if (!s->dead)
		arm_idle(s);	/* the grace for the 421 to be read */
}

static void
session_life_timeout(struct timer *t)
{
	struct session *s = t->arg;
	char line[ADDR_DOMAIN_MAX + 64];

	if (closed_unread(s, "session timeout"))
		return;
	snprintf(line, sizeof(line), "421 4.4.2 %s Error: session time limit "
	    "exceeded", s->cf->hostname);
	log_msg("smtpd", "session time limit from %s", s->client);
	smtp_server_close(&s->srv, line, "session timeout");
	s->closing = 1;
	session_flush(s);
	if (!s->dead)
		arm_idle(s);	/* the grace for the 421 to be read */
}

/* SIGTERM: idle sessions get 421 now, busy ones after their message. */
void
session_drain(struct session *s)
{
	s->drain = 1;
	if (!s->tx.active && s->srv.pending == SMTP_EV_NONE && !s->closing &&
	    !smtp_server_in_message(&s->srv)) {
		smtp_server_close(&s->srv, "421 4.3.2 Service shutting down",
		    "shutdown");
		s->closing = 1;
		session_flush(s);
	}
}
