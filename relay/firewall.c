/*
 * firewall.c — see firewall.h.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "firewall.h"

#define FIREWALL_LOG_UID	"110"	/* mxlog */

/* "ip daddr 192.0.2.1 tcp dport 25" / "ip6 daddr 2001:db8::1 ..." */
static void
match(FILE *out, const char *pre, const char *dir,
    const struct sockaddr_storage *ss, const char *proto)
{
	char host[NET_ADDRSTRLEN];
	struct netaddr a;

	netaddr_from_sockaddr((const struct sockaddr *)ss, &a);
	netaddr_format(&a, host, sizeof(host));
	fprintf(out, "\t\t%s%s %s %s %s dport %d accept\n", pre,
	    a.family == AF_INET6 ? "ip6" : "ip", dir, host, proto,
	    sockaddr_port(ss));
}

int
firewall_write(const struct config *cf, FILE *out)
{
	int i, j;

	fprintf(out,
	    "# mxgate firewall, generated from the configuration by "
	    "`mxgate -F`.\n"
	    "# Default deny both ways; only mail in, only the customer's "
	    "servers out.\n"
	    "flush ruleset\n\n"
	    "table inet mxgate {\n"
	    "\t# resolvers and NTP servers the appliance learns at run time\n"
	    "\t# (DHCP, network.conf, ntp.conf names): filled by the network\n"
	    "\t# and ntpd services with `nft add element`\n"
	    "\tset dns4 { type ipv4_addr; }\n"
	    "\tset dns6 { type ipv6_addr; }\n"
	    "\tset ntp4 { type ipv4_addr; }\n"
	    "\tset ntp6 { type ipv6_addr; }\n\n"
	    "\tchain input {\n"
	    "\t\ttype filter hook input priority 0; policy drop;\n"
	    "\t\tiif \"lo\" accept\n"
	    "\t\tct state established,related accept\n"
	    "\t\tct state invalid drop\n"
	    "\t\tip protocol icmp icmp type { echo-request, "
	    "destination-unreachable, time-exceeded } limit rate 10/second "
	    "accept\n"
	    "\t\tip6 nexthdr icmpv6 icmpv6 type { echo-request, "
	    "destination-unreachable, packet-too-big, time-exceeded, "
	    "nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } "
	    "accept\n"
	    "\t\tudp sport 67 udp dport 68 accept\n");
	for (i = 0; i < cf->nlisten; i++) {
		const struct sockaddr_storage *ss = &cf->listen[i];
		struct netaddr a;
		char host[NET_ADDRSTRLEN];

		netaddr_from_sockaddr((const struct sockaddr *)ss, &a);
		netaddr_format(&a, host, sizeof(host));
		if ((a.family == AF_INET && strcmp(host, "0.0.0.0") == 0) ||
		    (a.family == AF_INET6 && strcmp(host, "::") == 0))
			fprintf(out, "\t\tmeta nfproto %s tcp dport %d accept\n",
			    a.family == AF_INET6 ? "ipv6" : "ipv4",
			    sockaddr_port(ss));
		else
			match(out, "", "daddr", ss, "tcp");
	}
	fprintf(out, "\t}\n\n"
	    "\tchain forward {\n"
	    "\t\ttype filter hook forward priority 0; policy drop;\n"
	    "\t}\n\n"
	    "\tchain output {\n"
	    "\t\ttype filter hook output priority 0; policy drop;\n"
	    "\t\toif \"lo\" accept\n"
	    "\t\tct state established,related accept\n"
	    "\t\tudp sport 68 udp dport 67 accept\n"
	    "\t\tip6 nexthdr icmpv6 accept\n");
	fprintf(out, "\t\t# the customer's servers (route)\n");
	for (i = 0; i < cf->nroutes; i++)
		for (j = 0; j < cf->routes[i].nhosts; j++)
			match(out, "", "daddr", &cf->routes[i].host[j], "tcp");
	if (cf->syslog_server.ss_family != 0) {
		/* only the forwarder, which runs as mxlog (uid 110, as in
		 * rootfs/etc/passwd) */
		fprintf(out, "\t\t# the log server (syslog_server), for "
		    "mxgate-logfwd only\n");
		match(out, "meta skuid " FIREWALL_LOG_UID " ", "daddr",
		    &cf->syslog_server, "tcp");
	}
	if (cf->nresolvers > 0)
		fprintf(out, "\t\t# DNS resolvers (resolver)\n");
	for (i = 0; i < cf->nresolvers; i++) {
		match(out, "", "daddr", &cf->resolver[i], "udp");
		match(out, "", "daddr", &cf->resolver[i], "tcp");
	}
	if (cf->nntp > 0)
		fprintf(out, "\t\t# NTP servers (ntp)\n");
	for (i = 0; i < cf->nntp; i++)
		match(out, "", "daddr", &cf->ntp[i], "udp");
	fprintf(out, "\t\t# resolvers and NTP servers learnt at run time\n"
	    "\t\tip daddr @dns4 udp dport 53 accept\n"
	    "\t\tip daddr @dns4 tcp dport 53 accept\n"
	    "\t\tip6 daddr @dns6 udp dport 53 accept\n"
	    "\t\tip6 daddr @dns6 tcp dport 53 accept\n"
	    "\t\tip daddr @ntp4 udp dport 123 accept\n"
	    "\t\tip6 daddr @ntp6 udp dport 123 accept\n");
	fprintf(out, "\t\tlog prefix \"mxgate-fw-out-drop: \" limit rate "
	    "5/minute drop\n\t}\n}\n");
	return ferror(out) ? -1 : 0;
}
