/*
 * runner.c — see runner.h. One loop: scan the store for due messages,
 * deliver each over a synchronous SMTP dialogue on a socket the jail
 * opened, write the outcome back, sleep until the next is due (at most
 * RUNNER_RESCAN_MS, so an admin's flush is seen). Every wait is a poll()
 * with a deadline; SIGTERM is blocked except while sleeping, so a
 * message in progress is always finished before the runner stops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dsn.h"
#include "ipc.h"
#include "log.h"
#include "net.h"
#include "runner.h"
#include "smtp_client.h"
#include "tls.h"
#include "util.h"

#define SCAN_MAX	(RUNNER_BATCH + RUNNER_SKIP_MAX)
#define DOWN_MAX	16	/* routes found down during one pass */

static volatile sig_atomic_t runner_stop;

struct conn {
	int			 fd;		/* -1: none */
	const struct route	*route;
	int			 host;
	char			 relay[QUEUE_RELAY_MAX];	/* IP[IP]:PORT */
	char			 ip[NET_ADDRSTRLEN];
	struct smtp_client	 cli;
	struct buf		 in, out;
	struct tls_conn		*tls;		/* after STARTTLS */
	int			 ntx;		/* transactions started */
	int			 dirty;		/* RSET before the next MAIL */
	char			 why[QUEUE_TEXT_MAX];	/* last failure */
};

struct skip {
	char	id[QUEUE_ID_LEN + 1];
	int64_t	until_us;
};

struct down {
	const struct route	*route;
	char			 why[QUEUE_TEXT_MAX];
};

struct runner {
	const struct config	*cf;
	struct queue		*q;
	int			 jail_fd;
	int			 jail_gone;
	uint32_t		 jail_seq;
	sigset_t		 sleepmask;	/* SIGTERM open: sleeps only */
	struct conn		 c;
	struct skip		 skip[RUNNER_SKIP_MAX];
	int			 nskip;
	int			 skip_full_told;
	struct down		 down[DOWN_MAX];
	int			 ndown;
	/* per message: which recipients were pending at the start */
	unsigned char		 was_pending[QUEUE_RCPT_MAX];
	struct dsn_rcpt		 dsn_rcpt[QUEUE_RCPT_MAX];
	struct dsn_headers	 hdrs;
	char			 dsn[DSN_SIZE_MAX];
	char			 line[LOG_LINE_MAX];
};

/* --- small helpers ---------------------------------------------------- */

static void
on_term(int sig)
{
	(void)sig;
	runner_stop = 1;
}

static uint32_t
random32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint32_t)mono_ms() * 2654435761u;	/* jitter only */
	return v;
}

static void
log_event(struct runner *r, const char *service, const struct queue_msg *m,
    enum queue_event ev, int rcpt, const char *relay, int64_t now)
{
	if (queue_log_line(r->line, sizeof(r->line), m, ev, rcpt, relay,
	    now) > 0)
		log_msg(service, "%s", r->line);
	else
		log_msg(service, "%s: (log line too long for event %d)",
		    m->id, (int)ev);
}

/* "D.D.D" at the start of a reply text whose class matches code, copied
 * into status; else the default for the class. */
static void
enhanced_status(int code, const char *text, char *status, size_t size)
{
	const char *p = text;
	int parts = 0, digits = 0;
	size_t n;

	if (p[0] - '0' == code / 100 && p[1] == '.') {
		for (n = 0; p[n] != '\0' && p[n] != ' '; n++) {
			if (p[n] == '.') {
				if (digits == 0 || digits > 3)
					break;
				parts++;
				digits = 0;
			} else if (p[n] >= '0' && p[n] <= '9')
				digits++;
			else
				break;
		}
		if ((p[n] == '\0' || p[n] == ' ') && parts == 2 &&
		    digits >= 1 && digits <= 3 && n < size) {
			memcpy(status, p, n);
			status[n] = '\0';
			return;
		}
	}
	if (size >= 6) {
		memcpy(status, "4.0.0", 6);
		status[0] = (char)('0' + (code / 100 % 10));
	}
}

/* --- the skip list: records not to touch for a while ------------------ */

static int
skip_has(const struct runner *r, const char *id, int64_t now)
{
	int i;

	for (i = 0; i < r->nskip; i++)
		if (r->skip[i].until_us > now && strcmp(r->skip[i].id, id) == 0)
			return 1;
	return 0;
}

static void
skip_add(struct runner *r, const char *id, int64_t until, int64_t now)
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
	if (slot < 0 && r->nskip < RUNNER_SKIP_MAX)
		slot = r->nskip++;
	if (slot < 0) {
		if (!r->skip_full_told)
			log_msg("qmgr", "warning: more than %d records set "
			    "aside; some are retried every scan",
			    RUNNER_SKIP_MAX);
		r->skip_full_told = 1;
		return;
	}
	str_copy(r->skip[slot].id, id, sizeof(r->skip[slot].id));
	r->skip[slot].until_us = until;
}

/* --- routes found down during this pass ------------------------------- */

static const char *
down_why(const struct runner *r, const struct route *rt)
{
	int i;

	for (i = 0; i < r->ndown; i++)
		if (r->down[i].route == rt)
			return r->down[i].why;
	return NULL;
}

static void
down_add(struct runner *r, const struct route *rt, const char *why)
{
	if (r->ndown == DOWN_MAX || down_why(r, rt) != NULL)
		return;
	r->down[r->ndown].route = rt;
	str_copy(r->down[r->ndown].why, why, sizeof(r->down[0].why));
	r->ndown++;
}

/* --- bounded waits ------------------------------------------------------ */

/* 1 when fd is ready for ev (or has an error to report), 0 at the
 * deadline (monotonic ms), -1 on a poll failure. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int64_t
deadline_in(uint64_t seconds)
{
	return mono_ms() + (int64_t)seconds * 1000;
}

/* --- TLS toward the customer (route tls may/encrypt/verify) ------------ */

static struct tls_client *runner_tls;	/* loaded by the parent */

void
runner_set_tls(struct tls_client *cl)
{
	runner_tls = cl;
}

/* The poll events the connection waits for after an EAGAIN. */
static short
conn_events(const struct conn *c, short plain)
{
	uint32_t w;
	short ev = 0;

	if (c->tls == NULL)
		return plain;
	w = tls_want(c->tls);
	if (w & EPOLLIN)
		ev |= POLLIN;
	if (w & EPOLLOUT)
		ev |= POLLOUT;
	return ev ? ev : plain;
}

static ssize_t
conn_write(struct conn *c, const void *p, size_t n)
{
	ssize_t w;

	if (c->tls == NULL)
		return write(c->fd, p, n);
	w = tls_write(c->tls, c->fd, p, n);
	if (w > 0 && tls_flush(c->tls, c->fd) != 0 && errno != EAGAIN)
		return -1;
	return w;
}

static ssize_t
conn_read(struct conn *c, void *p, size_t n)
{
	return c->tls ? tls_read(c->tls, c->fd, p, n) : read(c->fd, p, n);
}

/* Pushes what the TLS engine still holds. 0, or -1. */
static int
conn_tls_drain(struct runner *r, struct conn *c)
{
	int64_t deadline = deadline_in(r->cf->relay_timeout);

	while (c->tls != NULL && tls_flush(c->tls, c->fd) != 0) {
		if (errno != EAGAIN ||
		    wait_fd(c->fd, conn_events(c, POLLOUT), deadline) != 1)
			return -1;
	}
	return 0;
}

/* --- one connection to a route server --------------------------------- */

static void
conn_fail(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static void
conn_close(struct conn *c, int polite)
{
	if (c->fd < 0)
		return;
	if (polite && !c->cli.error) {
		static const char quit[] = "QUIT\r\n";
		ssize_t ignored = conn_write(c, quit, sizeof(quit) - 1);
		(void)ignored;	/* best effort: we are leaving */
	}
	if (c->tls != NULL) {
		tls_close(c->tls, c->fd);
		tls_conn_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	c->route = NULL;
	buf_free(&c->in);
	buf_free(&c->out);
}

/* Writes everything queued in c->out. 0, or -1 (c->why set). */
static int
conn_flush(struct runner *r, struct conn *c)
{
	int64_t deadline = deadline_in(r->cf->relay_timeout);

	while (c->out.len > 0) {
		ssize_t n = conn_write(c, buf_ptr(&c->out), c->out.len);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			deadline = deadline_in(r->cf->relay_timeout);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(c, "lost connection with %s: %s", c->relay,
			    strerror(errno));
			return -1;
		}
		if (wait_fd(c->fd, conn_events(c, POLLOUT), deadline) != 1) {
			conn_fail(c, "conversation with %s timed out while "
			    "sending", c->relay);
			return -1;
		}
	}
	buf_reset(&c->out);
	if (conn_tls_drain(r, c) != 0) {
		conn_fail(c, "conversation with %s: TLS write failed",
		    c->relay);
		return -1;
	}
	return 0;
}

/* Reads the next reply. 0 with *rep, or -1 (c->why set). */
static int
conn_reply(struct runner *r, struct conn *c, struct smtp_reply *rep)
{
	int64_t deadline = deadline_in(r->cf->relay_timeout);

	for (;;) {
		int got = smtp_client_feed(&c->cli, &c->in, rep);
		ssize_t n;
		char *p;

		if (got == 1) {
			if (c->in.len == 0)
				buf_reset(&c->in);
			return 0;
		}
		if (got < 0) {
			conn_fail(c, "protocol error in reply from %s",
			    c->relay);
			return -1;
		}
		if ((p = buf_space(&c->in, 4096)) == NULL) {
			conn_fail(c, "reply from %s too long", c->relay);
			return -1;
		}
		n = conn_read(c, p, 4096);
		if (n > 0) {
			buf_commit(&c->in, (size_t)n);
			continue;
		}
		if (n == 0) {
			conn_fail(c, "lost connection with %s", c->relay);
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			conn_fail(c, "lost connection with %s: %s", c->relay,
			    strerror(errno));
			return -1;
		}
		if (wait_fd(c->fd, conn_events(c, POLLIN), deadline) != 1) {
			conn_fail(c, "conversation with %s timed out while "
			    "receiving the reply", c->relay);
			return -1;
		}
	}
}

/* Sends one command and reads its reply. -1 on I/O failure. */
static int
conn_cmd(struct runner *r, struct conn *c, enum smtp_cop op,
    const char *line, struct smtp_reply *rep)
{
	if (smtp_client_send(&c->cli, op, line) != 0) {
		conn_fail(c, errno == EINVAL ? "local error: a command for %s "
		    "holds CR or LF; not sent" : "cannot queue a command for %s",
		    c->relay);
		return -1;
	}
	if (conn_flush(r, c) != 0 || conn_reply(r, c, rep) != 0)
		return -1;
	if (rep->op != op) {
		conn_fail(c, "reply from %s out of order", c->relay);
		return -1;
	}
	return 0;
}

/* Asks the jail for a socket to host; -1 (c->why set) on failure. */
static int
jail_connect(struct runner *r, struct conn *c, const struct route *rt,
    int host)
{
	const struct sockaddr_storage *ss = &rt->host[host];
	struct ipc_connect_req req;
	struct ipc_connect_rep rep;
	struct netaddr a;
	enum ipc_type type;
	int64_t deadline = deadline_in(r->cf->connect_timeout);
	int fd = -1, got;

	netaddr_from_sockaddr((const struct sockaddr *)ss, &a);
	memset(&req, 0, sizeof(req));
	req.id = ++r->jail_seq;
	req.family = (uint32_t)a.family;
	memcpy(req.addr, a.a, sizeof(req.addr));
	req.port = (uint32_t)sockaddr_port(ss);
	if (ipc_send(r->jail_fd, IPC_CONNECT_REQ, &req, sizeof(req), -1)
	    != 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			r->jail_gone = 1;
		conn_fail(c, "connect to %s: jail request: %s", c->relay,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		got = ipc_recv(r->jail_fd, &type, &rep, &fd);
		if (got == 0) {
			r->jail_gone = 1;
			conn_fail(c, "connect to %s: the jail is gone",
			    c->relay);
			return -1;
		}
		if (got < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				conn_fail(c, "connect to %s: jail: %s",
				    c->relay, strerror(errno));
				return -1;
			}
			if (wait_fd(r->jail_fd, POLLIN, deadline) != 1) {
				conn_fail(c, "connect to %s: no answer from "
				    "the jail", c->relay);
				return -1;
			}
			continue;
		}
		if (type != IPC_CONNECT_REP)
			fatalx(EXIT_TEMP, "runner: unexpected message %d from "
			    "the jail", (int)type);
		if (rep.id == req.id)
			break;
		if (fd >= 0)		/* an answer we gave up on */
			close(fd);
	}
	if (rep.err != 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		conn_fail(c, "connect to %s: %s", c->relay,
		    rep.err == EPERM ? "refused by the jail (not a route "
		    "server)" : strerror(rep.err ? rep.err : EIO));
		return -1;
	}
	/* the connect may still be in progress */
	if (wait_fd(fd, POLLOUT, deadline) != 1) {
		close(fd);
		conn_fail(c, "connect to %s: connection timed out", c->relay);
		return -1;
	} else {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			close(fd);
			conn_fail(c, "connect to %s: %s", c->relay,
			    strerror(err));
			return -1;
		}
	}
	return fd;
}

/* STARTTLS per the route's policy (the same rules as in session):
 * may falls back to plaintext when it is not offered or refused;
 * encrypt and verify fail; verify also needs a verified chain and
 * name. Bytes the server sent after its 220 are dropped. */
static int
conn_starttls(struct runner *r, struct conn *c, const struct route *rt)
{
	struct smtp_reply rep;
	char line[ADDR_DOMAIN_MAX + 8];
	int64_t deadline;

	if (runner_tls == NULL || !c->cli.cap_starttls) {
		if (rt->tls == TLS_MAY)
			return 0;
		conn_fail(c, "host %s does not offer STARTTLS and route %s "
		    "requires TLS (tls %s)", c->relay, rt->domain,
		    tls_policy_name(rt->tls));
		return -1;
	}
	if (conn_cmd(r, c, COP_STARTTLS, "STARTTLS", &rep) != 0)
		return -1;
	if (rep.code != 220) {
		if (rt->tls == TLS_MAY)
			return 0;
		conn_fail(c, "host %s refused STARTTLS: %d %s", c->relay,
		    rep.code, rep.text);
		return -1;
	}
	if (c->in.len > 0) {
		log_msg("smtp", "%s: %zu bytes after the 220 to STARTTLS "
		    "discarded (injection attempt)", c->relay, c->in.len);
		buf_reset(&c->in);
	}
	c->tls = tls_conn_client(runner_tls, rt->tls_name[0] ? rt->tls_name :
	    NULL, rt->tls == TLS_VERIFY);
	if (c->tls == NULL) {
		conn_fail(c, "TLS setup toward %s: %s", c->relay,
		    strerror(errno));
		return -1;
	}
	deadline = deadline_in(r->cf->relay_timeout);
	while (tls_handshake(c->tls, c->fd) != 1) {
		if (errno != EAGAIN || wait_fd(c->fd, conn_events(c, POLLIN),
		    deadline) != 1) {
			conn_fail(c, "TLS handshake with %s failed: %s",
			    c->relay, tls_error(c->tls));
			return -1;
		}
	}
	if (rt->tls == TLS_VERIFY && !tls_peer_verified(c->tls)) {
		conn_fail(c, "%s: certificate not verified (tls verify %s)",
		    c->relay, rt->tls_name);
		return -1;
	}
	log_msg("smtp", "%s TLS connection established to %s: %s with "
	    "cipher %s (%d/%d bits)", tls_peer_verified(c->tls) ? "Verified" :
	    "Untrusted", c->relay, tls_version(c->tls), tls_cipher(c->tls),
	    tls_cipher_bits(c->tls), tls_cipher_bits(c->tls));
	snprintf(line, sizeof(line), "EHLO %s", r->cf->hostname);
	if (conn_cmd(r, c, COP_EHLO, line, &rep) != 0)
		return -1;
	if (rep.code / 100 != 2) {
		conn_fail(c, "host %s refused EHLO after STARTTLS: %d %s",
		    c->relay, rep.code, rep.text);
		return -1;
	}
	return 0;
}

/* Connects to server `host` of rt and says EHLO (HELO on 5xx). 0 ready,
 * -1 (c->why set, nothing open). */
static int
conn_open(struct runner *r, struct conn *c, const struct route *rt, int host)
{
	struct smtp_reply rep;
	struct netaddr a;
	char line[ADDR_DOMAIN_MAX + 8];
	int fd, port = sockaddr_port(&rt->host[host]);

	netaddr_from_sockaddr((const struct sockaddr *)&rt->host[host], &a);
	netaddr_format(&a, c->ip, sizeof(c->ip));
	if ((size_t)snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", c->ip,
	    c->ip, port) >= sizeof(c->relay))
		snprintf(c->relay, sizeof(c->relay), "[%s]:%d", c->ip, port);
	if ((fd = jail_connect(r, c, rt, host)) < 0)
		return -1;
	c->fd = fd;
	c->route = rt;
	c->host = host;
	c->ntx = 0;
	c->dirty = 0;
	buf_init(&c->in, RUNNER_IO_MAX);
	buf_init(&c->out, RUNNER_IO_MAX);
	smtp_client_init(&c->cli, &c->out);
	if (conn_reply(r, c, &rep) != 0)
		goto fail;
	if (rep.code != 220) {
		conn_fail(c, "host %s refused to talk to me: %d %s", c->relay,
		    rep.code, rep.text);
		goto fail;
	}
	snprintf(line, sizeof(line), "EHLO %s", r->cf->hostname);
	if (conn_cmd(r, c, COP_EHLO, line, &rep) != 0)
		goto fail;
	if (rep.code / 100 == 5) {
		snprintf(line, sizeof(line), "HELO %s", r->cf->hostname);
		if (conn_cmd(r, c, COP_HELO, line, &rep) != 0)
			goto fail;
	}
	if (rep.code / 100 != 2) {
		conn_fail(c, "host %s refused our greeting: %d %s", c->relay,
		    rep.code, rep.text);
		goto fail;
	}
	if (rt->tls != TLS_NONE && conn_starttls(r, c, rt) != 0)
		goto fail;
	return 0;
fail:
	conn_close(c, 0);
	return -1;
}

/* A connection to rt ready for a new transaction: the open one when it
 * is to rt (RSET if used), else the first server of rt that answers.
 * -1 with c->why when none does. */
static int
conn_get(struct runner *r, struct conn *c, const struct route *rt)
{
	struct smtp_reply rep;
	int h;

	if (c->fd >= 0 && (c->route != rt || c->ntx >= RUNNER_REUSE_MAX ||
	    c->cli.error))
		conn_close(c, !c->cli.error);
	if (c->fd >= 0 && c->dirty) {
		if (conn_cmd(r, c, COP_RSET, "RSET", &rep) == 0 &&
		    rep.code / 100 == 2)
			c->dirty = 0;
		else
			conn_close(c, 0);	/* stale: open a new one */
	}
	if (c->fd >= 0)
		return 0;
	for (h = 0; h < rt->nhosts; h++) {
		if (conn_open(r, c, rt, h) == 0)
			return 0;
		log_msg("smtp", "%s", c->why);
		if (r->jail_gone)
			break;
	}
	return -1;
}

/* --- the message body --------------------------------------------------- */

struct body_out {
	struct runner	*r;
	struct conn	*c;
	unsigned char	 last[2];	/* last two bytes written */
	uint64_t	 sent;
	int		 ioerr;
};

static int
body_write(void *arg, const void *data, size_t len)
{
	struct body_out *b = arg;
	struct conn *c = b->c;
	const char *p = data;
	int64_t deadline = deadline_in(b->r->cf->relay_timeout);

	while (len > 0) {
		ssize_t n = conn_write(c, p, len);
		if (n > 0) {
			if ((size_t)n >= 2) {
				b->last[0] = (unsigned char)p[n - 2];
				b->last[1] = (unsigned char)p[n - 1];
			} else {
				b->last[0] = b->last[1];
				b->last[1] = (unsigned char)p[0];
			}
			p += n;
			len -= (size_t)n;
			b->sent += (uint64_t)n;
			deadline = deadline_in(b->r->cf->relay_timeout);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(c, "lost connection with %s while sending "
			    "message body: %s", c->relay, strerror(errno));
			b->ioerr = 1;
			return 1;
		}
		if (wait_fd(c->fd, conn_events(c, POLLOUT), deadline) != 1) {
			conn_fail(c, "conversation with %s timed out while "
			    "sending message body", c->relay);
			b->ioerr = 1;
			return 1;
		}
	}
	return 0;
}

static int
scan_8bit(void *arg, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] & 0x80) {
			*(int *)arg = 1;
			return 1;	/* found: stop */
		}
	return 0;
}

/* --- recording outcomes ------------------------------------------------- */

/* Every recipient in state PENDING in idx[0..n-1] gets st with the
 * reply (code/text) or, code 0, a local reason with status dflt. */
static void
set_results(struct queue_msg *m, const int *idx, int n,
    enum queue_rcpt_state st, int code, const char *text, const char *dflt)
{
	char status[QUEUE_STATUS_MAX], msg[QUEUE_TEXT_MAX];
	int i;

	if (code != 0) {
		enhanced_status(code, text, status, sizeof(status));
		snprintf(msg, sizeof(msg), "%d %s", code, text);
	} else {
		str_copy(status, dflt, sizeof(status));
		str_copy(msg, text, sizeof(msg));
	}
	for (i = 0; i < n; i++)
		queue_set_result(m, idx[i], st, status, msg);
}

static int
pending_idx(const struct queue_msg *m, int *idx)
{
	int i, n = 0;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QRCPT_PENDING)
			idx[n++] = i;
	return n;
}

/* Queues a report to the postmaster for the recipients that failed in
 * this attempt together with the update of m (queue_bounce). Returns
 * the store status; *reported is 1 when a report went with it. */
static int
bounce_store(struct runner *r, struct queue_msg *m, enum dsn_reason why,
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

/*
 * Writes the attempt back: history, counters, schedule, and (for
 * recipients that failed now) the report. Logs one line per recipient
 * that was pending, then "removed" when the record is gone.
 */
static void
finish(struct runner *r, struct queue_msg *m, const char *relay,
    const char *result, enum dsn_reason why, int64_t now)
{
	int i, st, failed = 0, reported = 0;

	queue_msg_add_attempt(m, now, relay, result);
	m->attempts++;
	m->last_try_us = now;
	m->next_try_us = now + queue_retry_delay_us(m->attempts, random32());
	for (i = 0; i < m->nrcpt; i++)
		if (r->was_pending[i] && m->rcpt[i].state == QRCPT_FAILED)
			failed++;
	if (failed > 0)
		st = bounce_store(r, m, why, relay, now, &reported);
	else
		st = queue_update(r->q, m);
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
		skip_add(r, m->id, now + RUNNER_STORE_BACKOFF_S * 1000000ll,
		    now);
	}
}

/* --- one message -------------------------------------------------------- */

/* Every still-pending recipient stays pending with reason why. */
static void
defer_all(struct runner *r, struct queue_msg *m, const char *relay,
    const char *status, const char *why, int64_t now)
{
	int idx[QUEUE_RCPT_MAX], n = pending_idx(m, idx);

	set_results(m, idx, n, QRCPT_PENDING, 0, why, status);
	finish(r, m, relay, why, DSN_FAILED, now);
}

static void
expire(struct runner *r, struct queue_msg *m, int64_t now)
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
			    RUNNER_STORE_BACKOFF_S * 1000000ll, now);
		}
	}
}

/* The SMTP transaction for m on c (ready). Sets the recipients'
 * results; the caller records them. Returns 0, or -1 for a local store
 * failure (nothing to record: the record is left as it was). */
static int
transact(struct runner *r, struct conn *c, struct queue_msg *m,
    char *result, size_t rsize)
{
	struct smtp_reply rep;
	struct body_out b;
	char line[ADDR_PATH_MAX + 64];
	int idx[QUEUE_RCPT_MAX], acc[QUEUE_RCPT_MAX];
	int n = pending_idx(m, idx), na = 0, i, eightbit = 0, st;
	int64_t now;

	if (c->cli.cap_8bitmime) {
		st = queue_get_body(r->q, m->id, scan_8bit, &eightbit);
		if (st != QUEUE_OK && st != QUEUE_STOPPED) {
			log_msg("qmgr", "%s: cannot read the message: %s",
			    m->id, queue_strerror(st));
			return -1;
		}
	}
	if (c->cli.cap_size)
		snprintf(line, sizeof(line), "MAIL FROM:<%s> SIZE=%llu%s",
		    m->from, (unsigned long long)m->size,
		    eightbit ? " BODY=8BITMIME" : "");
	else
		snprintf(line, sizeof(line), "MAIL FROM:<%s>%s", m->from,
		    eightbit && c->cli.cap_8bitmime ? " BODY=8BITMIME" : "");
	c->dirty = 1;
	c->ntx++;
	if (conn_cmd(r, c, COP_MAIL, line, &rep) != 0)
		goto io_fail;
	if (rep.code / 100 != 2) {
		set_results(m, idx, n, rep.code / 100 == 5 ? QRCPT_FAILED :
		    QRCPT_PENDING, rep.code, rep.text, NULL);
		snprintf(result, rsize, "%d %s (in reply to MAIL FROM)",
		    rep.code, rep.text);
		if (rep.code == 421)
			conn_close(c, 0);
		return 0;
	}
	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "RCPT TO:<%s>",
		    m->rcpt[idx[i]].addr);
		if (conn_cmd(r, c, COP_RCPT, line, &rep) != 0) {
			set_results(m, idx + i, n - i, QRCPT_PENDING, 0,
			    c->why, "4.4.2");
			set_results(m, acc, na, QRCPT_PENDING, 0, c->why,
			    "4.4.2");
			str_copy(result, c->why, rsize);
			conn_close(c, 0);
			return 0;
		}
		snprintf(result, rsize, "%d %s (in reply to RCPT TO)",
		    rep.code, rep.text);
		if (rep.code / 100 == 2) {
			acc[na++] = idx[i];
			continue;
		}
		set_results(m, idx + i, 1, rep.code / 100 == 5 ?
		    QRCPT_FAILED : QRCPT_PENDING, rep.code, rep.text, NULL);
		if (rep.code == 421) {
			set_results(m, idx + i + 1, n - i - 1, QRCPT_PENDING,
			    rep.code, rep.text, NULL);
			set_results(m, acc, na, QRCPT_PENDING, rep.code,
			    rep.text, NULL);
			conn_close(c, 0);
			return 0;
		}
	}
	if (na == 0)
		return 0;
	now = wall_us();
	if ((st = queue_attempt_begin(r->q, m->id, now)) != QUEUE_OK) {
		log_msg("qmgr", "%s: cannot mark the attempt: %s", m->id,
		    queue_strerror(st));
		return -1;
	}
	if (conn_cmd(r, c, COP_DATA, "DATA", &rep) != 0) {
		set_results(m, acc, na, QRCPT_PENDING, 0, c->why, "4.4.2");
		str_copy(result, c->why, rsize);
		conn_close(c, 0);
		return 0;
	}
	if (rep.code != 354) {
		set_results(m, acc, na, rep.code / 100 == 5 ? QRCPT_FAILED :
		    QRCPT_PENDING, rep.code, rep.text, NULL);
		snprintf(result, rsize, "%d %s (in reply to DATA)", rep.code,
		    rep.text);
		if (rep.code == 421 || rep.code / 100 == 3 ||
		    rep.code / 100 == 2)
			conn_close(c, 0);	/* lost track of its state */
		return 0;
	}
	memset(&b, 0, sizeof(b));
	b.r = r;
	b.c = c;
	b.last[0] = '\r';
	b.last[1] = '\n';
	st = queue_get_body(r->q, m->id, body_write, &b);
	if (st != QUEUE_OK) {
		/* no final dot: the server discards what it got */
		if (!b.ioerr)
			conn_fail(c, "cannot read the message from the queue: "
			    "%s", queue_strerror(st));
		set_results(m, acc, na, QRCPT_PENDING, 0, c->why, b.ioerr ?
		    "4.4.2" : "4.3.0");
		str_copy(result, c->why, rsize);
		conn_close(c, 0);
		return b.ioerr ? 0 : -1;
	}
	if ((b.last[0] != '\r' || b.last[1] != '\n') &&
	    buf_append(&c->out, "\r\n", 2) != 0)
		goto io_fail;
	if (buf_append(&c->out, ".\r\n", 3) != 0 ||
	    smtp_client_expect(&c->cli, COP_DOT) != 0 ||
	    conn_flush(r, c) != 0 || conn_reply(r, c, &rep) != 0) {
		set_results(m, acc, na, QRCPT_PENDING, 0, c->why, "4.4.2");
		str_copy(result, c->why, rsize);
		log_msg("smtp", "%s: lost the end of data with %s: the "
		    "message may be delivered twice", m->id, c->relay);
		conn_close(c, 0);
		return 0;
	}
	set_results(m, acc, na, rep.code / 100 == 2 ? QRCPT_SENT :
	    rep.code / 100 == 5 ? QRCPT_FAILED : QRCPT_PENDING, rep.code,
	    rep.text, NULL);
	snprintf(result, rsize, "%d %s", rep.code, rep.text);
	if (rep.code == 421)
		conn_close(c, 0);
	else
		c->dirty = 0;	/* the transaction is complete */
	return 0;
io_fail:
	set_results(m, idx, n, QRCPT_PENDING, 0, c->why, "4.4.2");
	str_copy(result, c->why, rsize);
	conn_close(c, 0);
	return 0;
}

static void
deliver(struct runner *r, struct queue_msg *m, int64_t now)
{
	const struct route *rt = config_route(r->cf, m->route_domain);
	struct conn *c = &r->c;
	char why[QUEUE_TEXT_MAX], result[QUEUE_TEXT_MAX];
	const char *down;

	if (rt == NULL) {
		snprintf(why, sizeof(why), "no route for %s in the "
		    "configuration any more", m->route_domain);
		defer_all(r, m, "", "4.3.5", why, now);
		return;
	}
	if ((down = down_why(r, rt)) != NULL) {
		snprintf(why, sizeof(why), "delivery temporarily suspended: "
		    "%s", down);
		defer_all(r, m, "", "4.4.1", why, now);
		return;
	}
	if (conn_get(r, c, rt) != 0) {
		down_add(r, rt, c->why);
		defer_all(r, m, "", "4.4.1", c->why, now);
		return;
	}
	str_copy(why, c->relay, sizeof(why));	/* c may close below */
	result[0] = '\0';
	if (transact(r, c, m, result, sizeof(result)) != 0) {
		conn_close(c, 0);
		skip_add(r, m->id, now + RUNNER_STORE_BACKOFF_S * 1000000ll,
		    now);
		return;
	}
	finish(r, m, why, result, DSN_FAILED, wall_us());
}

static void
process(struct runner *r, const char *id)
{
	struct queue_msg m;
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
		skip_add(r, id, now + RUNNER_STORE_BACKOFF_S * 1000000ll, now);
		goto out;
	}
	if (m.flags & QMSG_INFLIGHT)
		log_msg("qmgr", "%s: the previous delivery attempt was "
		    "interrupted: possible duplicate", m.id);
	for (i = 0; i < m.nrcpt; i++)
		r->was_pending[i] = m.rcpt[i].state == QRCPT_PENDING;
	if (queue_msg_pending(&m) == 0)		/* an update that failed */
		finish(r, &m, "", "nothing left to deliver", DSN_FAILED, now);
	else if (queue_expired(&m, now, r->cf->queue_lifetime))
		expire(r, &m, now);
	else
		deliver(r, &m, now);
out:
	queue_msg_free(&m);
}

/* --- the loop ------------------------------------------------------------- */

/* Sleeps up to ms with SIGTERM deliverable; drains late jail answers. */
static void
runner_sleep(struct runner *r, int64_t ms)
{
	struct pollfd p = { .fd = r->jail_fd, .events = POLLIN };
	struct timespec ts;

	if (ms < 0)
		ms = 0;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ppoll(&p, 1, &ts, &r->sleepmask) <= 0)
		return;		/* timeout or EINTR (SIGTERM) */
	for (;;) {
		struct ipc_connect_rep rep;
		enum ipc_type type;
		int fd, got = ipc_recv(r->jail_fd, &type, &rep, &fd);

		if (got == 0) {
			r->jail_gone = 1;
			return;
		}
		if (got < 0)
			return;
		if (type != IPC_CONNECT_REP)
			fatalx(EXIT_TEMP, "runner: unexpected message %d from "
			    "the jail", (int)type);
		if (fd >= 0)
			close(fd);	/* an answer we gave up on */
	}
}

int
runner_main(const struct config *cf, struct queue *q, int jail_fd,
    const struct sandbox_ids *ids)
{
	static char ids_buf[SCAN_MAX][QUEUE_ID_LEN + 1];
	struct sigaction sa;
	struct runner *r;
	sigset_t term;
	int64_t now, next, warned = 0;
	int n, i, total = 0, handled, rc = EXIT_OK;

	sandbox_enter(ROLE_QUEUE, ids);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal(EXIT_TEMP, "runner: memory");
	sigprocmask(SIG_BLOCK, &term, &r->sleepmask);
	sigdelset(&r->sleepmask, SIGTERM);
	r->cf = cf;
	r->q = q;
	r->jail_fd = jail_fd;
	r->c.fd = -1;
	log_msg("qmgr", "runner ready: %s", cf->queue_dir);
	while (!runner_stop) {
		now = wall_us();
		n = queue_due(q, now, ids_buf, SCAN_MAX, &next, &total);
		if (n < 0) {
			if (now - warned >= 60000000ll) {	/* once a minute */
				log_msg("qmgr", "warning: queue scan: %s",
				    queue_strerror(-n));
				warned = now;
			}
			runner_sleep(r, RUNNER_RESCAN_MS);
			continue;
		}
		handled = 0;
		r->ndown = 0;
		for (i = 0; i < n && handled < RUNNER_BATCH; i++) {
			if (skip_has(r, ids_buf[i], now))
				continue;
			process(r, ids_buf[i]);
			handled++;
			if (runner_stop || r->jail_gone)
				break;
			/* SIGTERM is blocked while we work: take it now */
			sigprocmask(SIG_UNBLOCK, &term, NULL);
			sigprocmask(SIG_BLOCK, &term, NULL);
			if (runner_stop)
				break;
		}
		if (r->jail_gone) {
			log_msg("qmgr", "runner: the jail is gone; stopping");
			rc = EXIT_TEMP;
			break;
		}
		if (handled > 0) {
			/* a backlog drains at full speed; a pending SIGTERM
			 * is taken by a zero sleep */
			runner_sleep(r, 0);
			continue;
		}
		conn_close(&r->c, 1);	/* the batch is over */
		if (n > 0 || next == INT64_MAX)
			next = now + RUNNER_RESCAN_MS * 1000ll;
		/* next may come from a clear, rewritten header: compare
		 * before subtracting */
		now = wall_us();
		next = next <= now ? 0 : (next - now) / 1000;
		runner_sleep(r, next > RUNNER_RESCAN_MS ? RUNNER_RESCAN_MS :
		    next);
		if (r->jail_gone) {
			log_msg("qmgr", "runner: the jail is gone; stopping");
			rc = EXIT_TEMP;
			break;
		}
	}
	conn_close(&r->c, 1);
	log_msg("qmgr", "runner stopped");
	free(r);
	queue_close(q);
	return rc;
}
