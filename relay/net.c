/*
 * net.c — see net.h. Address literals, endpoints and CIDR blocks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "util.h"

int
net_parse_ip(const char *s, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->a) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, out->a) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

static void
sockaddr_from_netaddr(const struct netaddr *a, int port,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a->a, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, a->a, 16);
	}
}

int
net_parse_endpoint(const char *s, int default_port,
    struct sockaddr_storage *out, char *err, size_t errlen)
{
	char host[NET_ADDRSTRLEN + 1];
	const char *port = NULL, *end;
	struct netaddr a;
	uint64_t p;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL) {
			snprintf(err, errlen, "missing ']' in '%s'", s);
			return -1;
		}
		if ((size_t)(end - s - 1) >= sizeof(host)) {
			snprintf(err, errlen, "address too long in '%s'", s);
			return -1;
		}
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			snprintf(err, errlen, "junk after ']' in '%s'", s);
			return -1;
		}
		if (net_parse_ip(host, &a) != 0 || a.family != AF_INET6) {
			snprintf(err, errlen, "bad IPv6 address '%s'", host);
			return -1;
		}
	} else {
		end = strrchr(s, ':');
		if (end != NULL && strchr(s, ':') != end) {
			snprintf(err, errlen,
			    "IPv6 address must be written [ADDR]:PORT in '%s'", s);
			return -1;
		}
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "address too long in '%s'", s);
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
		if (end != NULL)
			port = end + 1;
		if (net_parse_ip(host, &a) != 0 || a.family != AF_INET) {
			snprintf(err, errlen, "bad IPv4 address '%s' "
			    "(host names are not resolved; give an address)", host);
			return -1;
		}
	}
	if (port == NULL) {
		if (default_port == 0) {
			snprintf(err, errlen, "missing :PORT in '%s'", s);
			return -1;
		}
		p = (uint64_t)default_port;
	} else if (parse_uint(port, 1, 65535, &p) != 0) {
		snprintf(err, errlen, "bad port '%s' (1-65535)", port);
		return -1;
	}
	sockaddr_from_netaddr(&a, (int)p, out);
	return 0;
}

int
net_parse_cidr(const char *s, struct cidr *out, char *err, size_t errlen)
{
	char host[NET_ADDRSTRLEN + 3];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;
	int max, i;

	if (n >= sizeof(host)) {
		snprintf(err, errlen, "bad CIDR '%s'", s);
		return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (net_parse_ip(host, &out->net) != 0) {
		snprintf(err, errlen, "bad CIDR '%s': '%s' is not an address",
		    s, host);
		return -1;
	}
	max = out->net.family == AF_INET ? 32 : 128;
	if (slash == NULL)
		prefix = (uint64_t)max;
	else if (parse_uint(slash + 1, 0, (uint64_t)max, &prefix) != 0) {
		snprintf(err, errlen, "bad CIDR '%s': prefix must be 0-%d",
		    s, max);
		return -1;
	}
	out->prefix = (int)prefix;
	for (i = 0; i < max; i++) {
		int bit = (out->net.a[i / 8] >> (7 - i % 8)) & 1;
		if (i >= out->prefix && bit) {
			snprintf(err, errlen,
			    "bad CIDR '%s': host bits set below /%d", s,
			    out->prefix);
			return -1;
		}
	}
	return 0;
}

int
cidr_match(const struct cidr *c, const struct netaddr *a)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->net.family != a->family)
		return 0;
	if (memcmp(c->net.a, a->a, (size_t)full) != 0)
		return 0;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((c->net.a[full] & mask) != (a->a[full] & mask))
			return 0;
	}
	return 1;
}

void
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		static const uint8_t mapped[12] =
		    { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(&in6->sin6_addr, mapped, 12) == 0) {
			out->family = AF_INET;
			memcpy(out->a, (const uint8_t *)&in6->sin6_addr + 12, 4);
		} else {
			out->family = AF_INET6;
			memcpy(out->a, &in6->sin6_addr, 16);
		}
	}
}

int
sockaddr_equal(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	struct netaddr x, y;

	if (a->ss_family != b->ss_family ||
	    sockaddr_port(a) != sockaddr_port(b))
		return 0;
	netaddr_from_sockaddr((const struct sockaddr *)a, &x);
	netaddr_from_sockaddr((const struct sockaddr *)b, &y);
	return x.family == y.family && memcmp(x.a, y.a, sizeof(x.a)) == 0;
}

int
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

void
netaddr_format(const struct netaddr *a, char *buf, size_t size)
{
	if (inet_ntop(a->family, a->a, buf, (socklen_t)size) == NULL)
		str_copy(buf, "?", size);
}

void
endpoint_format(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[NET_ADDRSTRLEN];
	struct netaddr a;

	netaddr_from_sockaddr((const struct sockaddr *)ss, &a);
	netaddr_format(&a, host, sizeof(host));
	if (a.family == AF_INET6)
		snprintf(buf, size, "[%s]:%d", host, sockaddr_port(ss));
	else
		snprintf(buf, size, "%s:%d", host, sockaddr_port(ss));
}
