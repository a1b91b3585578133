/*
 * outbound.c — see outbound.h. The destination is compared with every
 * route server (family, address and port); anything else is refused.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outbound.h"

int
outbound_allowed(const struct config *cf, const struct sockaddr_storage *ss)
{
	int i, j;

	for (i = 0; i < cf->nroutes; i++)
		for (j = 0; j < cf->routes[i].nhosts; j++)
			if (sockaddr_equal(&cf->routes[i].host[j], ss))
				return 1;
	return 0;
}

int
outbound_connect(const struct config *cf, const struct sockaddr_storage *ss)
{
	socklen_t len;
	int fd, one = 1;

	if (!outbound_allowed(cf, ss)) {
		errno = EPERM;
		return -1;
	}
	len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    IPPROTO_TCP);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)ss, len) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}
