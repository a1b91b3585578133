/*
 * upstream.c — see upstream.h. Every state change happens from the event
 * loop; a callback may free the upstream it is called for (u->gone tells
 * the caller up the stack).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"

static void up_io(struct watch *w, uint32_t events);
static void up_timeout(struct timer *t);
static void up_flush(struct upstream *u);
static void up_want(struct upstream *u);
static void up_handshake(struct upstream *u);
static void up_fail(struct upstream *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* --- dead-server memory: skip a server that just failed ------------ */

void
upstream_host_down(struct upstream_env *r, const struct sockaddr_storage *ss)
{
	int i, slot = 0;

	for (i = 0; i < HOST_TABLE; i++) {
		if (sockaddr_equal(&r->down[i].addr, ss)) {
			slot = i;
			break;
		}
		if (r->down[i].until < r->down[slot].until)
			slot = i;
	}
	r->down[slot].addr = *ss;
	r->down[slot].until = mono_ms() + HOST_DOWN_MS;
}

int
upstream_host_is_down(struct upstream_env *r,
    const struct sockaddr_storage *ss)
{
	int64_t now = mono_ms();
	int i;

	for (i = 0; i < HOST_TABLE; i++)
		if (r->down[i].until > now && sockaddr_equal(&r->down[i].addr, ss))
			return 1;
	return 0;
}

/* --- lifecycle ------------------------------------------------------ */

static void
up_arm(struct upstream *u, uint64_t seconds)
{
	loop_timer_set(u->env->loop, &u->t, mono_ms() + (int64_t)seconds * 1000,
	    up_timeout, u);
}

/* Asks the jail for a socket to the server; the answer arrives through
 * upstream_jail_input(). */
struct upstream *
upstream_open(struct upstream_env *r, const struct config *cf,
    const struct route *route, int host, const struct upstream_cb *cb,
    void *arg)
{
	struct ipc_connect_req req;
	struct upstream *u;
	struct netaddr a;

	if (r->jail_fd < 0 || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->env = r;
	u->cf = cf;
	u->cb = cb;
	u->arg = arg;
	u->fd = -1;
	u->w.fd = -1;
	u->route = route;
	u->host = host;
	u->state = UP_JAIL;
	u->t_start = mono_ms();
	endpoint_format(&route->host[host], u->addr, sizeof(u->addr));
	netaddr_from_sockaddr((const struct sockaddr *)&route->host[host], &a);
	netaddr_format(&a, u->ip, sizeof(u->ip));
	u->port = sockaddr_port(&route->host[host]);
	snprintf(u->relay, sizeof(u->relay), "%s[%s]:%d", u->ip, u->ip,
	    u->port);
	buf_init(&u->in, UPSTREAM_BUF_MAX);
	buf_init(&u->out, UPSTREAM_BUF_MAX);
	smtp_client_init(&u->cli, &u->out);

	memset(&req, 0, sizeof(req));
	req.id = u->jail_id = ++r->jail_seq;
	req.family = (uint32_t)a.family;
	memcpy(req.addr, a.a, sizeof(req.addr));
	req.port = (uint32_t)u->port;
	if (ipc_send(r->jail_fd, IPC_CONNECT_REQ, &req, sizeof(req), -1) != 0) {
		log_msg("smtp", "jail request: %s", strerror(errno));
		free(u);
		return NULL;
	}
	u->jail_next = r->jail_wait;
	r->jail_wait = u;
	up_arm(u, cf->connect_timeout);
	return u;
}

static void
jail_unlink(struct upstream_env *r, struct upstream *u)
{
	struct upstream **pp;

	for (pp = &r->jail_wait; *pp; pp = &(*pp)->jail_next)
		if (*pp == u) {
			*pp = u->jail_next;
			return;
		}
}

static void
jail_reply(struct upstream_env *r, uint32_t id, int err, int fd)
{
	struct upstream *u;

	for (u = r->jail_wait; u; u = u->jail_next)
		if (u->jail_id == id)
			break;
	if (u == NULL) {
		/* its owner closed it meanwhile */
		if (fd >= 0)
			close(fd);
		return;
	}
	jail_unlink(r, u);
	if (err != 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		if (err != EPERM)
			u->state = UP_CONNECTING;	/* counts as down */
		up_fail(u, "connect to %s: %s", u->relay,
		    strerror(err ? err : EIO));
		return;
	}
	u->fd = fd;
	u->state = UP_CONNECTING;
	if (loop_add(r->loop, &u->w, fd, EPOLLOUT, up_io, u) != 0) {
		up_fail(u, "epoll: %s", strerror(errno));
		return;
	}
}

int
upstream_jail_input(struct upstream_env *r)
{
	struct ipc_connect_rep rep;
	enum ipc_type type;
	int fd, got;

	while ((got = ipc_recv(r->jail_fd, &type, &rep, &fd)) == 1) {
		if (type != IPC_CONNECT_REP)
			fatalx(EXIT_TEMP, "unexpected message %d from the "
			    "jail", (int)type);
		jail_reply(r, rep.id, rep.err, fd);
	}
	if (got != 0)
		return 1;
	r->jail_fd = -1;
	while (r->jail_wait != NULL) {
		struct upstream *u = r->jail_wait;
		r->jail_wait = u->jail_next;
		u->state = UP_CONNECTING;	/* not "waiting" any more */
		up_fail(u, "the jail is gone");
	}
	return 0;
}

void
upstream_close(struct upstream *u, int polite)
{
	if (u == NULL)
		return;
	if (polite && u->state == UP_READY && !u->sending_body) {
		static const char quit[] = "QUIT\r\n";
		/* best effort: the server may be gone already */
		ssize_t ignored = u->tls ? tls_write(u->tls, u->fd, quit,
		    sizeof(quit) - 1) : write(u->fd, quit, sizeof(quit) - 1);
		if (u->tls)
			tls_flush(u->tls, u->fd);
		(void)ignored;
	}
	if (u->gone != NULL)
		*u->gone = 1;
	loop_timer_cancel(u->env->loop, &u->t);
	if (u->state == UP_JAIL)
		jail_unlink(u->env, u);
	if (u->tls != NULL) {
		if (u->tls_done)
			tls_close(u->tls, u->fd);
		tls_conn_free(u->tls);
	}
	if (u->fd >= 0) {
		loop_del(u->env->loop, &u->w);
		close(u->fd);
	}
	buf_free(&u->in);
	buf_free(&u->out);
	free(u);
}

/* Reports the failure exactly once (r: the reply that ended it, or
 * NULL); u is freed first. */
static void
up_vfail(struct upstream *u, const struct smtp_reply *r, const char *fmt,
    va_list ap)
{
	const struct upstream_cb *cb = u->cb;
	void *arg = u->arg;
	int refused = u->refused;
	char why[160];

	vsnprintf(why, sizeof(why), fmt, ap);
	if (!refused && u->state != UP_READY && u->state != UP_JAIL)
		upstream_host_down(u->env, &u->route->host[u->host]);
	upstream_close(u, 0);
	cb->failed(arg, why, refused, r);
}

static void
up_fail_reply(struct upstream *u, const struct smtp_reply *r,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
up_fail_reply(struct upstream *u, const struct smtp_reply *r,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	up_vfail(u, r, fmt, ap);
	va_end(ap);
}

static void
up_fail(struct upstream *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	up_vfail(u, NULL, fmt, ap);
	va_end(ap);
}

void
upstream_fail(struct upstream *u, const char *why)
{
	up_fail(u, "%s", why);
}

/* Queues only: the bytes leave from the loop (EPOLLOUT), so a caller is
 * never re-entered by a failure while it is still using the upstream. */
int
upstream_send(struct upstream *u, enum smtp_cop op, const char *line)
{
	if (smtp_client_send(&u->cli, op, line) != 0)
		return -1;
	up_arm(u, u->cf->relay_timeout);
	up_want(u);
	return 0;
}

int
upstream_idle(const struct upstream *u)
{
	return u->state == UP_READY && !u->sending_body &&
	    smtp_client_pending(&u->cli) == 0 && !u->cli.error;
}

/* The headers are queued, the body leaves from the loop (up_flush). */
static int
body_start(struct upstream *u, const char *headers, size_t hlen,
    const char *body, size_t blen, int bdat)
{
	if (buf_append(&u->out, headers, hlen) != 0)
		return -1;
	u->body = body;
	u->body_len = blen;
	u->body_off = 0;
	u->next_dot = 0;
	u->sending_body = 1;
	u->bdat = bdat;
	up_arm(u, u->cf->relay_timeout);
	up_want(u);
	return 0;
}

int
upstream_send_body(struct upstream *u, const char *headers, size_t hlen,
    const char *body, size_t blen)
{
	return body_start(u, headers, hlen, body, blen, 0);
}

/* Whether the wire-form body needs a CRLF after it. */
static int
body_needs_crlf(const char *body, size_t blen)
{
	return blen > 0 && (blen < 2 || memcmp(body + blen - 2, "\r\n", 2) != 0);
}

int
upstream_send_bdat(struct upstream *u, const char *headers, size_t hlen,
    const char *body, size_t blen)
{
	char line[64];
	size_t i, dots = blen > 0 && body[0] == '.';
	const char *p;

	/* every line of the wire form that begins with '.' carries one */
	for (p = body; (p = memchr(p, '\n', (size_t)(body + blen - p))) != NULL;
	    p++)
		if (p + 1 < body + blen && p[1] == '.')
			dots++;
	i = hlen + blen - dots + (body_needs_crlf(body, blen) ? 2 : 0);
	snprintf(line, sizeof(line), "BDAT %zu LAST", i);
	if (smtp_client_send(&u->cli, COP_DOT, line) != 0)
		return -1;
	return body_start(u, headers, hlen, body, blen, 1);
}

/* BDAT: the offset after the next "\n" that a transparency dot follows,
 * from body_off on; body_len when there is none. */
static size_t
next_dot(const struct upstream *u)
{
	const char *p = u->body + u->body_off, *end = u->body + u->body_len, *q;

	while ((q = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (q + 1 < end && q[1] == '.')
			return (size_t)(q + 1 - u->body);
		p = q + 1;
	}
	return u->body_len;
}

/* --- I/O -------------------------------------------------------------- */

static void
up_want(struct upstream *u)
{
	uint32_t ev = EPOLLIN;

	if (u->out.len > 0 || u->sending_body)
		ev |= EPOLLOUT;
	if (u->tls != NULL)
		ev |= tls_want(u->tls);
	loop_mod(u->env->loop, &u->w, ev);
}

static void
up_flush(struct upstream *u)
{
	for (;;) {
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (u->out.len > 0) {
			iov[n].iov_base = (void *)buf_ptr(&u->out);
			iov[n++].iov_len = u->out.len;
		}
		if (u->sending_body && u->bdat && u->body_off < u->body_len &&
		    u->body[u->body_off] == '.' && (u->body_off == 0 ||
		    u->body[u->body_off - 1] == '\n'))
			u->body_off++;	/* BDAT: a transparency dot stays */
		if (u->sending_body && u->body_off < u->body_len) {
			size_t end = u->body_len;

			if (u->bdat) {	/* up to the next line's dot */
				if (u->next_dot <= u->body_off)
					u->next_dot = next_dot(u);
				end = u->next_dot;
			}
			iov[n].iov_base = (void *)(u->body + u->body_off);
			iov[n++].iov_len = end - u->body_off;
		}
		if (n == 0) {
			if (u->sending_body) {
				/* body done: its final CRLF, and for DATA the
				 * terminating dot on a line of its own */
				u->sending_body = 0;
				if (body_needs_crlf(u->body, u->body_len) &&
				    buf_append(&u->out, "\r\n", 2) != 0) {
					up_fail(u, "output buffer full");
					return;
				}
				if (u->bdat)
					continue;	/* its reply: COP_DOT */
				if (buf_append(&u->out, ".\r\n", 3) != 0 ||
				    smtp_client_expect(&u->cli, COP_DOT) != 0) {
					up_fail(u, "output buffer full");
					return;
				}
				continue;
			}
			break;
		}
		if (u->tls != NULL) {
			w = tls_write(u->tls, u->fd, iov[0].iov_base,
			    iov[0].iov_len);
			if (w > 0 && n == 2 && (size_t)w < iov[0].iov_len)
				n = 1;	/* keep the order: out first */
		} else
			w = writev(u->fd, iov, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			up_fail(u, "write to %s: %s", u->relay, strerror(errno));
			return;
		}
		if ((size_t)w <= u->out.len) {
			buf_consume(&u->out, (size_t)w);
		} else {
			w -= (ssize_t)u->out.len;
			buf_consume(&u->out, u->out.len);
			u->body_off += (size_t)w;
		}
	}
	if (u->tls != NULL && tls_flush(u->tls, u->fd) != 0 &&
	    errno != EAGAIN) {
		up_fail(u, "TLS write to %s: %s", u->relay, tls_error(u->tls));
		return;
	}
	up_want(u);
}

static void
up_ready(struct upstream *u)
{
	u->state = UP_READY;
	u->t_ready = mono_ms();
	loop_timer_cancel(u->env->loop, &u->t);
	u->cb->ready(u->arg);
}

/* Our STARTTLS got 220: bytes the server sent after it are dropped (the
 * client side of the CVE-2011-0411 injection), then we shake hands. */
static void
up_start_tls(struct upstream *u)
{
	const struct route *rt = u->route;

	if (u->in.len > 0) {
		log_msg("smtp", "%s: %zu bytes after the 220 to STARTTLS "
		    "discarded (injection attempt)", u->relay, u->in.len);
		buf_reset(&u->in);
	}
	u->tls = tls_conn_client(u->env->tls_cli, rt->tls_name[0] ?
	    rt->tls_name : NULL, rt->tls == TLS_VERIFY);
	if (u->tls == NULL) {
		up_fail(u, "TLS setup toward %s: %s", u->relay, strerror(errno));
		return;
	}
	u->state = UP_HANDSHAKE;
	up_arm(u, u->cf->relay_timeout);
	up_handshake(u);
}

static void
up_handshake(struct upstream *u)
{
	char line[ADDR_DOMAIN_MAX + 16];

	if (tls_handshake(u->tls, u->fd) != 1) {
		if (errno == EAGAIN) {
			up_want(u);
			return;
		}
		up_fail(u, "TLS handshake with %s failed: %s", u->relay,
		    tls_error(u->tls));
		return;
	}
	if (u->route->tls == TLS_VERIFY && !tls_peer_verified(u->tls)) {
		up_fail(u, "%s: certificate not verified (tls verify %s)",
		    u->relay, u->route->tls_name);
		return;
	}
	u->tls_done = 1;
	log_msg("smtp", "%s TLS connection established to %s[%s]:%d: %s with "
	    "cipher %s (%d/%d bits)", tls_peer_verified(u->tls) ? "Verified" :
	    "Untrusted", u->route->tls_name[0] ? u->route->tls_name : u->ip,
	    u->ip, u->port, tls_version(u->tls), tls_cipher(u->tls),
	    tls_cipher_bits(u->tls), tls_cipher_bits(u->tls));
	/* RFC 3207 4.2: forget everything, greet again */
	snprintf(line, sizeof(line), "EHLO %s", u->cf->hostname);
	u->state = UP_EHLO;
	if (upstream_send(u, COP_EHLO, line) != 0)
		up_fail(u, "cannot queue EHLO");
}

static void
up_on_reply(struct upstream *u, const struct smtp_reply *r)
{
	char line[ADDR_DOMAIN_MAX + 16];

	switch (r->op) {
	case COP_GREETING:
		if (r->code != 220) {
			/* 554 (or any 5xx): the server is up and refuses
			 * service, which no queueing can cure; 421 and the
			 * rest are outages */
			u->refused = r->code / 100 == 5;
			up_fail(u, "host %s refused to talk to me: %d %s",
			    u->relay, r->code,
			    r->text);
			return;
		}
		snprintf(line, sizeof(line), "EHLO %s", u->cf->hostname);
		u->state = UP_EHLO;
		if (upstream_send(u, COP_EHLO, line) != 0)
			up_fail(u, "cannot queue EHLO");
		return;
	case COP_STARTTLS:
		if (r->code == 220) {
			up_start_tls(u);
			return;
		}
		if (u->route->tls == TLS_MAY) {
			log_msg("smtp", "%s: STARTTLS refused (%d %s); "
			    "continuing in plaintext (tls may)", u->relay,
			    r->code, r->text);
			up_ready(u);
			return;
		}
		up_fail(u, "%s refused STARTTLS: %d %s (route tls %s)",
		    u->relay, r->code, r->text, tls_policy_name(u->route->tls));
		return;
	case COP_EHLO:
	case COP_HELO:
		if (r->code / 100 == 2 && !u->tls_done &&
		    u->route->tls != TLS_NONE && u->env->tls_cli != NULL) {
			if (u->cli.cap_starttls) {
				u->state = UP_STARTTLS;
				if (upstream_send(u, COP_STARTTLS, "STARTTLS")
				    != 0)
					up_fail(u, "cannot queue STARTTLS");
				return;
			}
			if (u->route->tls != TLS_MAY) {
				up_fail(u, "%s does not offer STARTTLS and route "
				    "%s requires TLS (tls %s)", u->relay,
				    u->route->domain,
				    tls_policy_name(u->route->tls));
				return;
			}
		}
		if (r->code / 100 == 2) {
			up_ready(u);
			return;
		}
		if (r->op == COP_EHLO && r->code / 100 == 5) {
			snprintf(line, sizeof(line), "HELO %s", u->cf->hostname);
			u->state = UP_HELO;
			if (upstream_send(u, COP_HELO, line) != 0)
				up_fail(u, "cannot queue HELO");
			return;
		}
		up_fail(u, "%s said to %s: %d %s", u->relay,
		    r->op == COP_EHLO ? "EHLO" : "HELO", r->code, r->text);
		return;
	case COP_QUIT:
		return;
	default:
		break;
	}
	if (r->code == 421) {
		up_fail_reply(u, r, "%s: %d %s", u->relay, r->code, r->text);
		return;
	}
	if (smtp_client_pending(&u->cli) == 0 && !u->sending_body)
		loop_timer_cancel(u->env->loop, &u->t);
	u->cb->reply(u->arg, r);
}

/* Reads and dispatches replies; stops when a callback freed u. */
static void
up_read(struct upstream *u, const int *gone)
{
	struct smtp_reply r;
	ssize_t n;
	char *p;
	int got;

	int rounds = 0;
again:
	p = buf_space(&u->in, 4096);
	if (p == NULL) {
		up_fail(u, "%s: reply too long", u->relay);
		return;
	}
	n = u->tls ? tls_read(u->tls, u->fd, p, 4096) : read(u->fd, p, 4096);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			up_want(u);
			return;
		}
		up_fail(u, "read from %s: %s", u->relay, u->tls ?
		    tls_error(u->tls) : strerror(errno));
		return;
	}
	if (n == 0) {
		up_fail(u, "%s closed the connection", u->relay);
		return;
	}
	buf_commit(&u->in, (size_t)n);
	for (;;) {
		got = smtp_client_feed(&u->cli, &u->in, &r);
		if (got == 0)
			return;
		if (got < 0) {
			up_fail(u, "%s: protocol error in reply", u->relay);
			return;
		}
		up_on_reply(u, &r);
		/* the reply may have closed us */
		if (*gone)
			return;
		if (u->state == UP_HANDSHAKE)
			return;
	}
	if (u->tls != NULL && tls_pending(u->tls) > 0 && ++rounds < 64)
		goto again;
}

static void
up_io(struct watch *w, uint32_t events)
{
	struct upstream *u = w->arg;
	int gone = 0;

	if (u->state == UP_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			up_fail(u, "connect to %s: %s", u->relay, strerror(err));
			return;
		}
		u->state = UP_GREETING;
		up_arm(u, u->cf->relay_timeout);
		loop_mod(u->env->loop, &u->w, EPOLLIN);
		return;
	}
	if (u->state == UP_HANDSHAKE) {
		up_handshake(u);
		return;
	}
	u->gone = &gone;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR) ||
	    (u->tls != NULL && (events & EPOLLOUT))) {
		up_read(u, &gone);
		if (gone)
			return;
	}
	if (events & EPOLLOUT)
		up_flush(u);
	if (!gone)
		u->gone = NULL;
}

static void
up_timeout(struct timer *t)
{
	struct upstream *u = t->arg;

	up_fail(u, "%s: %s timed out", u->relay,
	    u->state <= UP_CONNECTING ? "connect" : "reply");
}
