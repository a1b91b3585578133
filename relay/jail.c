/*
 * jail.c — see jail.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "jail.h"
#include "log.h"
#include "outbound.h"
#include "util.h"

/* Answers every queued request; returns 0 at EOF (worker gone). */
static int
serve(const struct config *cf, int ch, int slot)
{
	struct ipc_connect_req req;
	struct ipc_connect_rep rep;
	struct sockaddr_storage ss;
	char name[NET_ENDPOINTLEN];
	enum ipc_type type;
	int fd, passed;

	int r;

	while ((r = ipc_recv(ch, &type, &req, &passed)) == 1) {
		if (type != IPC_CONNECT_REQ)
			fatalx(EXIT_TEMP, "jail: unexpected message %d", type);
		memset(&ss, 0, sizeof(ss));
		if (req.family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, req.addr, 4);
			in->sin_port = htons((uint16_t)req.port);
		} else if (req.family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			in6->sin6_family = AF_INET6;
			memcpy(&in6->sin6_addr, req.addr, 16);
			in6->sin6_port = htons((uint16_t)req.port);
		}
		rep.id = req.id;
		rep.err = 0;
		if (req.port > 65535 || (req.family != AF_INET &&
		    req.family != AF_INET6) || !outbound_allowed(cf, &ss)) {
			if (req.port > 65535)
				snprintf(name, sizeof(name), "port %u",
				    req.port);
			else if (req.family == AF_INET ||
			    req.family == AF_INET6)
				endpoint_format(&ss, name, sizeof(name));
			else
				str_copy(name, "(bad family)", sizeof(name));
			log_msg("jail", "refused: worker %d asked for %s, which "
			    "is not a route server", slot, name);
			rep.err = EPERM;
			fd = -1;
		} else if ((fd = outbound_connect(cf, &ss)) < 0) {
			rep.err = errno;
		}
		if (ipc_send(ch, IPC_CONNECT_REP, &rep, sizeof(rep), fd) != 0)
			log_msg("jail", "reply to worker %d: %s", slot,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	return r == 0 ? 0 : 1;
}

static int
serve_peer(void *arg, int fd, int peer)
{
	return serve(arg, fd, peer);
}

int
jail_main(const struct config *cf, int ctl, const struct sandbox_ids *ids)
{
	sandbox_enter(ROLE_JAIL, ids);
	log_msg("jail", "ready: %d route%s", cf->nroutes,
	    cf->nroutes == 1 ? "" : "s");
	/* the parent closes our control channel when this generation is
	 * replaced: we end with its last worker */
	ipc_serve_peers(ctl, "jail", serve_peer, NULL, (void *)cf);
	return EXIT_OK;
}
