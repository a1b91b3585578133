/*
 * ipc.h — typed, length-checked messages between mxgate's processes over
 * SOCK_SEQPACKET socketpairs (one message per datagram), with an optional
 * descriptor passed by SCM_RIGHTS.
 *
 * Every message type has one fixed payload size, checked on receipt; a
 * short, long or unknown message, or a descriptor where none belongs (or
 * none where one must be), is a bug in the peer and is fatal to the
 * receiver (STYLE 6). Senders never block for long: the peers are local.
 */
#ifndef MXGATE_IPC_H
#define MXGATE_IPC_H

#include <stddef.h>
#include <stdint.h>

enum ipc_type {
	IPC_CONNECT_REQ = 1,	/* worker -> jail: open TCP to an address */
	IPC_CONNECT_REP,	/* jail -> worker: result (+ fd if ok) */
	IPC_ADD_CHANNEL,	/* parent -> jail/queue: serve this peer (+ fd) */
	IPC_QUEUE_PUT,		/* worker -> queue: store this (+ memfd) */
	IPC_QUEUE_REP,		/* queue -> worker: stored, or why not */
	IPC_ROUTE_UP,		/* worker -> queue: a customer took mail */
	IPC_RUNNER_HELLO,	/* runner -> queue: ready for messages */
	IPC_DELIVER,		/* queue -> runner: deliver this (+ memfd) */
	IPC_DELIVERED,		/* runner -> queue: the report is written */
	IPC_RUNNER_IDLE,	/* queue -> runner: nothing due; hang up */
	IPC_TYPE_MAX
};

struct ipc_connect_req {
	uint32_t	id;		/* the worker's request number */
	uint32_t	family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];
	uint32_t	port;
};

struct ipc_connect_rep {
	uint32_t	id;
	int32_t		err;		/* 0: fd attached; else an errno */
};

struct ipc_add_channel {
	uint32_t	worker;		/* slot, for the log; IPC_PEER_RUNNER:
					   the queue runner's channel */
};
#define IPC_PEER_RUNNER	0x10000u

/*
 * IPC_QUEUE_PUT: the memfd holds env_len bytes of envelope, then msg_len
 * bytes of message in wire form. The envelope is NUL-terminated strings:
 * sender ("" for <>), route domain, then nrcpt recipients.
 */
struct ipc_queue_put {
	uint32_t	id;
	uint32_t	nrcpt;
	uint32_t	env_len;
	uint32_t	pad;
	uint64_t	msg_len;
	char		qid[24];	/* the session's queue id, proposed
					   for the record (queue.h format) */
};

struct ipc_queue_rep {
	uint32_t	id;
	int32_t		status;		/* enum queue_status */
	char		qid[24];	/* NUL-terminated on QUEUE_OK */
};

/* IPC_ROUTE_UP: in-session delivery to a route worked again; the queue
 * owner makes the queued mail due now (the backlog drains at once
 * instead of waiting out its backoff). */
struct ipc_route_up {
	uint32_t	worker;
};

/* IPC_RUNNER_HELLO: the runner's first message on its channel to the
 * queue owner, which from then on hands it messages (IPC_DELIVER). */
struct ipc_runner_hello {
	uint32_t	pid;
};

/*
 * IPC_DELIVER: the memfd holds env_len bytes of envelope (envelope.h;
 * only the recipients still pending), msg_len bytes of message, and room
 * for REPORT_MAX bytes after them, where the runner writes its report
 * (IPC_DELIVERED gives its length). At most IPC_DELIVER_INFLIGHT are
 * handed over before the first report comes back (one on the wire, the
 * next ready behind it); the runner works them in order and never sees
 * the store or its key.
 */
#define IPC_DELIVER_INFLIGHT	2

struct ipc_deliver {
	uint32_t	id;		/* the queue owner's job number */
	uint32_t	nrcpt;
	uint32_t	env_len;
	uint32_t	seen;		/* the last report it had read */
	uint64_t	msg_len;
	char		qid[24];	/* for the runner's log lines */
};

struct ipc_delivered {
	uint32_t	id;
	uint32_t	report_len;
};

struct ipc_runner_idle {
	uint32_t	pad;
};

#define IPC_PAYLOAD_MAX	64

/* Sends one message; fd >= 0 is passed along. 0 ok, -1 with errno. */
int ipc_send(int sock, enum ipc_type type, const void *payload,
    uint32_t len, int fd);

/* Receives one message into payload (at most IPC_PAYLOAD_MAX bytes).
 * Returns 1 with *type and *fd (-1 if none) set, 0 at EOF, -1 with errno
 * (EAGAIN). Malformed messages end the process (fatalx). */
int ipc_recv(int sock, enum ipc_type *type, void *payload, int *fd);

/* The check ipc_recv() applies to one received datagram (n bytes, with
 * or without a descriptor): NULL with *type and payload (its rule's
 * length) filled, or the reason it is malformed. Pure. */
const char *ipc_decode(const void *wire, size_t n, int has_fd,
    enum ipc_type *type, void *payload);

/*
 * The loop of a role that serves peers (the jail, the queue owner): the
 * parent hands it one channel per peer over `ctl` (IPC_ADD_CHANNEL, at
 * most IPC_MAX_PEERS open at once; closed slots are reused). serve(arg,
 * fd, peer) answers what is queued on a peer's channel and returns 0 when
 * the peer is gone. Returns when the parent closed ctl and no peer is
 * left (the role ends with its generation). `role` names it in logs.
 */
#define IPC_MAX_PEERS	64
typedef int ipc_serve_fn(void *arg, int fd, int peer);
/* tick (may be NULL) runs before every wait and returns how long the
 * wait may last in ms (-1: until a peer speaks). */
typedef int ipc_tick_fn(void *arg);
void ipc_serve_peers(int ctl, const char *role, ipc_serve_fn *serve,
    ipc_tick_fn *tick, void *arg);

#endif
