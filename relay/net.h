/*
 * net.h — pure parsing and matching of network addresses: IPv4/IPv6
 * literals, ADDR:PORT and [V6]:PORT endpoints, CIDR blocks.
 *
 * No name resolution ever happens here: every address is a literal.
 */
#ifndef MXGATE_NET_H
#define MXGATE_NET_H

#include <stdint.h>
#include <sys/socket.h>

struct netaddr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	a[16];		/* network order; IPv4 uses a[0..3] */
};

struct cidr {
	struct netaddr	net;	/* host bits cleared */
	int		prefix;	/* 0..32 or 0..128 */
};

/* Longest text forms, with terminating NUL. */
#define NET_ADDRSTRLEN	46	/* INET6_ADDRSTRLEN */
#define NET_ENDPOINTLEN	(NET_ADDRSTRLEN + 8)	/* "[addr]:65535" */

/* "192.0.2.1" or "2001:db8::1" (no brackets). 0 ok, -1 not an address. */
int net_parse_ip(const char *s, struct netaddr *out);

/* "192.0.2.1:25", "[2001:db8::1]:25"; without ":PORT" the default_port is
 * used when it is non-zero, else it is an error. Writes a reason into err
 * on failure (-1). */
int net_parse_endpoint(const char *s, int default_port,
    struct sockaddr_storage *out, char *err, size_t errlen);

/* "192.0.2.0/24", "2001:db8::/32", "[2001:db8::]/32", a bare address
 * (host route). Host bits set below the prefix are an error. */
int net_parse_cidr(const char *s, struct cidr *out, char *err, size_t errlen);

int  cidr_match(const struct cidr *c, const struct netaddr *a);
/* 1 when a and b are the same family, address and port. */
int  sockaddr_equal(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b);
void netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
int  sockaddr_port(const struct sockaddr_storage *ss);

/* Text forms: "192.0.2.1" / "2001:db8::1", and "192.0.2.1:25" /
 * "[2001:db8::1]:25". */
void netaddr_format(const struct netaddr *a, char *buf, size_t size);
void endpoint_format(const struct sockaddr_storage *ss, char *buf, size_t size);

#endif
