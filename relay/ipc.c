/*
 * ipc.c — see ipc.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ipc.h"
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
	int got = -1, rule;

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
	if ((size_t)n < 8 || w.type == 0 || w.type >= IPC_TYPE_MAX ||
	    w.len != ipc_rules[w.type].len || (size_t)n != 8 + w.len)
		fatalx(EXIT_TEMP, "ipc: malformed message (type %u, %zd bytes)",
		    w.type, n);
	rule = ipc_rules[w.type].has_fd;
	if ((rule == 1 && got < 0) || (rule == 0 && got >= 0))
		fatalx(EXIT_TEMP, "ipc: descriptor rule broken (type %u)",
		    w.type);
	*type = (enum ipc_type)w.type;
	memcpy(payload, w.payload, w.len);
	*fd = got;
	return 1;
}
