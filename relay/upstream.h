/*
 * upstream.h — the one outbound SMTP engine: a connection to a customer
 * server on the event loop (loop.c), used by the in-session relay
 * (session.c) and by the queue runner (runner.c) alike.
 *
 * It asks the jail for the socket (outbound.c is the jail's seam), reads
 * the greeting, says EHLO (HELO after a 5xx), applies the route's
 * STARTTLS policy (may / encrypt / verify; bytes after the 220 are
 * dropped), then reports "ready". From then on it sends what its owner
 * queues and hands every reply back, in order. Any failure (connect,
 * timeout, EOF, 421, protocol error, TLS) is reported exactly once
 * through the failed callback, after which the upstream is already freed.
 *
 * It never decides what a sender is told, never touches the store, and
 * never opens a socket itself.
 */
#ifndef MXGATE_UPSTREAM_H
#define MXGATE_UPSTREAM_H

#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "net.h"
#include "smtp_client.h"

#define UPSTREAM_BUF_MAX	(64 * 1024)
#define HOST_DOWN_MS		10000		/* skip a dead server this long */
#define HOST_TABLE		64		/* remembered dead servers */

struct upstream;
struct tls_client;

/* What the engine needs of its process: one per process. */
struct host_down {
	struct sockaddr_storage	addr;
	int64_t			until;
};

struct upstream_env {
	struct loop		*loop;
	int			 jail_fd;	/* -1: the jail is gone */
	uint32_t		 jail_seq;
	struct upstream		*jail_wait;	/* awaiting a socket */
	struct tls_client	*tls_cli;	/* NULL: no STARTTLS */
	struct host_down	 down[HOST_TABLE];
};

/*
 * The owner's callbacks; arg is the owner. ready: greeted (and TLS done
 * when the route asks for it); reply: the answer to a command the owner
 * queued (never one to EHLO/HELO/STARTTLS/QUIT); failed: the
 * upstream is gone (already freed) — refused is 1 when the server
 * greeted with 5xx (it is up and refuses service: not an outage), r the
 * reply that ended it (a 421) or NULL.
 */
struct upstream_cb {
	void	(*ready)(void *arg);
	void	(*reply)(void *arg, const struct smtp_reply *r);
	void	(*failed)(void *arg, const char *why, int refused,
		    const struct smtp_reply *r);
};

enum up_state {
	UP_JAIL, UP_CONNECTING, UP_GREETING, UP_EHLO, UP_HELO, UP_STARTTLS,
	UP_HANDSHAKE, UP_READY
};

struct upstream {
	struct upstream_env	*env;
	const struct config	*cf;		/* hostname, timeouts */
	const struct upstream_cb *cb;
	void			*arg;
	int			 fd;
	struct watch		 w;
	struct timer		 t;
	const struct route	*route;
	int			 host;		/* index in route->host */
	char			 addr[NET_ENDPOINTLEN];	/* "addr:port" */
	char			 relay[NET_ADDRSTRLEN * 2 + 8];	/* Postfix's
					   "host[addr]:port", in log lines */
	char			 ip[NET_ADDRSTRLEN];
	int			 port;
	enum up_state		 state;
	uint32_t		 jail_id;	/* UP_JAIL: request number */
	struct upstream		*jail_next;	/* UP_JAIL: waiting list */
	struct buf		 in, out;
	struct smtp_client	 cli;
	/* message body being sent after 354 or BDAT: headers are in `out`;
	 * for BDAT (bdat) the body's transparency dots are left out */
	const char		*body;
	size_t			 body_len, body_off;
	size_t			 next_dot;	/* BDAT: where the next line
						   with a dot starts */
	int			 sending_body, bdat;
	struct tls_conn		*tls;		/* after our STARTTLS */
	int			 tls_done;	/* handshake finished */
	int			 refused;	/* greeted with 5xx: up, refusing */
	int			*gone;		/* set when freed in a callback */
	int64_t			 t_start, t_ready;	/* mono ms */
};

/* Starts a connection to server `host` of route; the outcome arrives
 * through cb. NULL when the request cannot even be sent (no jail). */
struct upstream *upstream_open(struct upstream_env *e,
    const struct config *cf, const struct route *route, int host,
    const struct upstream_cb *cb, void *arg);
/* Frees u without a callback; polite: QUIT first when idle. */
void upstream_close(struct upstream *u, int polite);
/* Ends u as a failure (never a refusal) through its failed callback. */
void upstream_fail(struct upstream *u, const char *why);
/* Queue a command / the message (in wire form: dot-stuffed, CRLF lines;
 * a final CRLF is added when missing, then "."); -1 when the buffers are
 * full. The bytes leave from the event loop, never inside these calls,
 * so a caller is never re-entered by a failure. */
int  upstream_send(struct upstream *u, enum smtp_cop op, const char *line);
int  upstream_send_body(struct upstream *u, const char *headers,
    size_t hlen, const char *body, size_t blen);
/* The same message in one "BDAT n LAST" (RFC 3030) instead of DATA, to a
 * server that offers CHUNKING: n counts the message without its
 * transparency dots (and with the final CRLF when one is added); the
 * dots are skipped as the bytes leave, nothing is copied. Its reply
 * comes as COP_DOT. */
int  upstream_send_bdat(struct upstream *u, const char *headers,
    size_t hlen, const char *body, size_t blen);
/* Idle and reusable for another transaction. */
int  upstream_idle(const struct upstream *u);

/* The jail channel of e is readable: hands the sockets to the waiting
 * upstreams. Returns 0 when the jail is gone (every waiting upstream has
 * failed and e->jail_fd is -1; the caller closes its watch), else 1. */
int  upstream_jail_input(struct upstream_env *e);

/* The dead-server memory: a server that just failed is skipped for
 * HOST_DOWN_MS by owners that ask. */
void upstream_host_down(struct upstream_env *e,
    const struct sockaddr_storage *ss);
int  upstream_host_is_down(struct upstream_env *e,
    const struct sockaddr_storage *ss);

#endif
