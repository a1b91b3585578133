/*
 * jail_test.c — the jail refuses every address that is not a route
 * server and connects (passing the socket back) to one that is; typed
 * IPC rejects malformed messages. The jail runs in a forked child with
 * its real sandbox (unprivileged: no chroot, but no-new-privs+seccomp).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "jail.h"
#include "sandbox.h"
#include "tap.h"

static int
wait_reply(int ch, struct ipc_connect_rep *rep, int *fd)
{
	struct pollfd p = { .fd = ch, .events = POLLIN };
	enum ipc_type type;

	if (poll(&p, 1, 5000) != 1)
		return -1;
	if (ipc_recv(ch, &type, rep, fd) != 1 || type != IPC_CONNECT_REP)
		return -1;
	return 0;
}

static void
request(int ch, uint32_t id, const char *ip, int port)
{
	struct ipc_connect_req req;

	memset(&req, 0, sizeof(req));
	req.id = id;
	req.family = AF_INET;
	inet_pton(AF_INET, ip, req.addr);
	req.port = (uint32_t)port;
	ipc_send(ch, IPC_CONNECT_REQ, &req, sizeof(req), -1);
}

int
main(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct ipc_add_channel add = { .worker = 0 };
	struct ipc_connect_rep rep;
	struct sandbox_ids ids = { .privileged = 0 };
	struct config *cf = config_new();
	char text[256], errs[256];
	int lfd, ctl[2], ch[2], fd, status, port;
	FILE *ef = fmemopen(errs, sizeof(errs), "w");
	pid_t pid;

	/* a route server: a listening socket on loopback */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	bind(lfd, (struct sockaddr *)&sin, sizeof(sin));
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	snprintf(text, sizeof(text), "listen 127.0.0.1:1\n"
	    "route example.test 127.0.0.1:%d\n", port);
	is_int(config_parse(cf, "t", text, strlen(text), ef), 0, "config");
	fclose(ef);

	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl);
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ch);
	if ((pid = fork()) == 0) {
		close(ctl[0]);
		close(ch[0]);
		close(ch[1]);
		close(lfd);
		_exit(jail_main(cf, ctl[1], &ids));
	}
	close(ctl[1]);
	ok(ipc_send(ctl[0], IPC_ADD_CHANNEL, &add, sizeof(add), ch[1]) == 0,
	    "parent hands a worker channel to the jail");
	close(ch[1]);

	request(ch[0], 1, "127.0.0.1", port);
	ok(wait_reply(ch[0], &rep, &fd) == 0 && rep.id == 1 && rep.err == 0 &&
	    fd >= 0, "route server: connected socket passed back");
	if (fd >= 0) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		poll(&p, 1, 2000);
		ok(getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 &&
		    ntohs(peer.sin_port) == port, "socket is to the route server");
		close(fd);
	}

	request(ch[0], 2, "127.0.0.1", port + 1);
	ok(wait_reply(ch[0], &rep, &fd) == 0 && rep.id == 2 &&
	    rep.err == EPERM && fd < 0, "other port on the same host: EPERM");
	request(ch[0], 3, "192.0.2.1", port);
	ok(wait_reply(ch[0], &rep, &fd) == 0 && rep.id == 3 &&
	    rep.err == EPERM && fd < 0, "other address, same port: EPERM");
	request(ch[0], 4, "127.0.0.1", 70000);
	ok(wait_reply(ch[0], &rep, &fd) == 0 && rep.err == EPERM,
	    "port out of range: EPERM");

	/* a malformed message (short datagram) is fatal to the jail */
	ok(send(ch[0], "junk", 4, 0) == 4, "send a malformed message");
	ok(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 111, "jail exits 111 on a malformed message");
	close(ch[0]);
	close(ctl[0]);
	close(lfd);
	config_free(cf);
	return done_testing();
}
