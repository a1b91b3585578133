/*
 * outbound.c — see outbound.h. Checks the destination against the route
 * table by identity (the route must be one of cf's, the index in range),
 * so a caller cannot smuggle an arbitrary address through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outbound.h"

int
outbound_connect(const struct config *cf, const struct route *route,
    int index)
{
	const struct sockaddr_storage *ss;
	socklen_t len;
	int fd, one = 1;

	if (route < cf->routes || route >= cf->routes + cf->nroutes ||
	    index < 0 || index >= route->nhosts) {
		errno = EPERM;
		return -1;
	}
	ss = &route->host[index];
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
