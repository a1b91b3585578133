/*
 * ipc.c — see ipc.h. The wire format of the messages between roles and
 * the peer-serving loop. Owns nothing past a call; never accepts a
 * message whose type, length or descriptor does not match its rule
 * (ipc_decode() is the one check, pure, so it can be tested alone).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

struct ipc_wire {
	uint32_t	type;
	uint32_t	len;
	uint8_t		payload[IPC_PAYLOAD_MAX];
};

static const struct {
	uint32_t	len;
	int		has_fd;		/* 1 always, 0 never, 2 maybe */
} ipc_rules[IPC_TYPE_MAX] = {
	[IPC_CONNECT_REQ] = { sizeof(struct ipc_connect_req), 0 },
	[IPC_CONNECT_REP] = { sizeof(struct ipc_connect_rep), 2 },
	[IPC_ADD_CHANNEL] = { sizeof(struct ipc_add_channel), 1 },
	[IPC_QUEUE_PUT]   = { sizeof(struct ipc_queue_put), 1 },
	[IPC_QUEUE_REP]   = { sizeof(struct ipc_queue_rep), 0 },
	[IPC_ROUTE_UP]    = { sizeof(struct ipc_route_up), 0 },
	[IPC_RUNNER_HELLO] = { sizeof(struct ipc_runner_hello), 0 },
	[IPC_DELIVER]     = { sizeof(struct ipc_deliver), 1 },
	[IPC_DELIVERED]   = { sizeof(struct ipc_delivered), 0 },
	[IPC_RUNNER_IDLE] = { sizeof(struct ipc_runner_idle), 0 },
};

int
ipc_send(int sock, enum ipc_type type, const void *payload, uint32_t len,
    int fd)
{
	struct ipc_wire w;
	struct iovec iov;
	struct msghdr msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t n;

	if (type <= 0 || type >= IPC_TYPE_MAX || len != ipc_rules[type].len)
		fatalx(EXIT_TEMP, "ipc_send: bad message type %d len %u",
		    type, len);
	memset(&w, 0, sizeof(w));
	w.type = type;
	w.len = len;
	memcpy(w.payload, payload, len);
	iov.iov_base = &w;
	iov.iov_len = 8 + len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		cm.hdr.cmsg_level = SOL_SOCKET;
		cm.hdr.cmsg_type = SCM_RIGHTS;
		cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.hdr), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)iov.iov_len ? 0 : -1;
}

const char *
ipc_decode(const void *wire, size_t n, int has_fd, enum ipc_type *type,
    void *payload)
{
	struct ipc_wire w;
	int rule;

	if (n < 8 || n > sizeof(w))
		return "malformed message";
	memset(&w, 0, sizeof(w));
	memcpy(&w, wire, n);
	if (w.type == 0 || w.type >= IPC_TYPE_MAX ||
	    w.len != ipc_rules[w.type].len || n != 8 + (size_t)w.len)
		return "malformed message";
	rule = ipc_rules[w.type].has_fd;
	if ((rule == 1 && !has_fd) || (rule == 0 && has_fd))
		return "descriptor rule broken";
	*type = (enum ipc_type)w.type;
	memcpy(payload, w.payload, w.len);
	return NULL;
}

int
ipc_recv(int sock, enum ipc_type *type, void *payload, int *fd)
{
	struct ipc_wire w;
	struct iovec iov = { &w, sizeof(w) };
	struct msghdr msg;
	struct cmsghdr *c;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t n;
	const char *why;
	int got = -1;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&got, CMSG_DATA(c), sizeof(int));
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		fatalx(EXIT_TEMP, "ipc: truncated message");
	if ((why = ipc_decode(&w, (size_t)n, got >= 0, type, payload)) != NULL)
		fatalx(EXIT_TEMP, "ipc: %s (type %u, %zd bytes)", why,
		    (size_t)n >= 4 ? w.type : 0, n);
	*fd = got;
	return 1;
}

/* Takes a new peer channel from the parent into a free slot. */
static void
add_peer(int ctl, const char *role, struct pollfd *pfd, int *peer, int *np)
{
	struct ipc_add_channel add;
	enum ipc_type type;
	int fd, k, r = ipc_recv(ctl, &type, &add, &fd);

	if (r == 0) {
		pfd[0].fd = -1;		/* the parent is done with us */
		return;
	}
	if (r < 0)
		return;
	if (type != IPC_ADD_CHANNEL)
		fatalx(EXIT_TEMP, "%s: bad control message %d", role, type);
	for (k = 1; k < *np; k++)
		if (pfd[k].fd < 0)
			break;		/* reuse: restarts must not fill it */
	if (k == *np && *np > IPC_MAX_PEERS) {
		log_msg(role, "too many channels; peer %u refused",
		    add.worker);
		close(fd);
		return;
	}
	if (k == *np)
		(*np)++;
	pfd[k].fd = fd;
	pfd[k].events = POLLIN;
	pfd[k].revents = 0;
	peer[k] = (int)add.worker;
}

void
ipc_serve_peers(int ctl, const char *role, ipc_serve_fn *serve,
    ipc_tick_fn *tick, void *arg)
{
	struct pollfd pfd[IPC_MAX_PEERS + 1];
	int peer[IPC_MAX_PEERS + 1];
	int i, np = 1;

	pfd[0].fd = ctl;
	pfd[0].events = POLLIN;
	for (;;) {
		int live = 0, wait = tick != NULL ? tick(arg) : -1;

		if (poll(pfd, (nfds_t)np, wait) < 0) {
			if (errno == EINTR)
				continue;
			fatal(EXIT_TEMP, "%s: poll", role);
		}
		if (pfd[0].fd >= 0 && pfd[0].revents)
			add_peer(ctl, role, pfd, peer, &np);
		for (i = 1; i < np; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (serve(arg, pfd[i].fd, peer[i]) == 0 ||
			    (pfd[i].revents & (POLLHUP | POLLERR))) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		for (i = 1; i < np; i++)
			if (pfd[i].fd >= 0)
				live++;
		if (live == 0 && pfd[0].fd < 0)
			return;
	}
}
