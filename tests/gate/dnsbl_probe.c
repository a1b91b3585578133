/*
 * dnsbl_probe.c — test helper: runs the DNSBL client on an event loop
 * against the resolvers given and prints one line per client address,
 * so tests/relay/gate_dnsbl.t can drive it against real DNS servers on
 * loopback. Not installed, not part of mxgate.
 *
 *   dnsbl_probe -r ADDR:PORT [-r ...] -z ZONE[=FILTER]:WEIGHT [...]
 *       [-a ZONE[=FILTER]:-WEIGHT ...] [-t THRESHOLD] [-T TIMEOUT_MS]
 *       [-R RETRY_MS] [-n ROUNDS] IP...
 *
 * Output, per round and address (all addresses of a round in parallel):
 *   IP listed=0|1 rank N ... elapsed=MS
 * then "stats queries=N sent=N hits=N joins=N timeouts=N errors=N tcp=N".
 * Problems reported by the client go to stderr as "log: ...".
 * Exit 0, or 100 on a usage error, 111 when a check could not start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnsbl.h"
#include "loop.h"
#include "net.h"
#include "util.h"

#define MAX_IPS	64

struct slot {
	struct netaddr		a;
	char			text[NET_ADDRSTRLEN];
	int			done;
	struct dnsbl_result	r;
};

static void
on_result(void *arg, const struct dnsbl_result *r)
{
	struct slot *s = arg;

	s->r = *r;
	s->done = 1;
}

static void
on_log(void *arg, const char *line)
{
	fprintf(stderr, "log: %s\n", line);
}

static void __attribute__((noreturn))
usage(const char *why)
{
	fprintf(stderr, "dnsbl_probe: %s\nusage: dnsbl_probe -r ADDR:PORT "
	    "-z ZONE[=FILTER]:WEIGHT [-a ZONE:-WEIGHT] [-t N] [-T MS] "
	    "[-R MS] [-n ROUNDS] IP...\n", why);
	exit(EXIT_PERM);
}

static void
add_zone(struct dnsbl_conf *c, char *arg, int allow)
{
	char *colon = strrchr(arg, ':'), err[160];
	int neg;
	uint64_t w;

	if (colon == NULL)
		usage("zone needs :WEIGHT");
	*colon++ = '\0';
	neg = *colon == '-';
	if (parse_uint(colon + neg, 0, 1000, &w) != 0)
		usage("bad weight");
	if (c->nzones >= DNSBL_MAX_ZONES)
		usage("too many zones");
	if (dnsbl_zone_parse(arg, neg ? -(int)w : (int)w, allow,
	    &c->zone[c->nzones], err, sizeof(err)) != 0)
		usage(err);
	c->nzones++;
}

int
main(int argc, char **argv)
{
	static struct slot s[MAX_IPS];
	struct dnsbl_conf c;
	struct dnsbl_client *cl;
	struct dnsbl_stats st;
	struct loop *l;
	char err[160], text[1024];
	uint64_t v;
	int ch, i, n, round, rounds = 1;

	dnsbl_conf_default(&c);
	c.tcp = 1;		/* a probe outside the sandbox: TC=1 falls back */
	c.log = on_log;
	while ((ch = getopt(argc, argv, "r:z:a:t:T:R:n:")) != -1) {
		switch (ch) {
		case 'r':
			if (c.nresolvers >= DNSBL_MAX_RESOLVERS ||
			    net_parse_endpoint(optarg, 53,
			    &c.resolver[c.nresolvers], err, sizeof(err)) != 0)
				usage("bad resolver");
			c.nresolvers++;
			break;
		case 'z': add_zone(&c, optarg, 0); break;
		case 'a': add_zone(&c, optarg, 1); break;
		case 't':
			if (parse_uint(optarg, 1, 1000, &v) != 0)
				usage("bad threshold");
			c.threshold = (int)v;
			break;
		case 'T':
			if (parse_uint(optarg, 1, 60000, &v) != 0)
				usage("bad timeout");
			c.timeout_ms = (int64_t)v;
			break;
		case 'R':
			if (parse_uint(optarg, 1, 60000, &v) != 0)
				usage("bad retry");
			c.retry_ms = (int64_t)v;
			break;
		case 'n':
			if (parse_uint(optarg, 1, 100, &v) != 0)
				usage("bad rounds");
			rounds = (int)v;
			break;
		default:
			usage("unknown option");
		}
	}
	n = argc - optind;
	if (n < 1 || n > MAX_IPS)
		usage("give 1 to 64 addresses");
	for (i = 0; i < n; i++) {
		if (net_parse_ip(argv[optind + i], &s[i].a) != 0)
			usage("bad address");
		netaddr_format(&s[i].a, s[i].text, sizeof(s[i].text));
	}
	if ((l = loop_new()) == NULL)
		fatal(EXIT_TEMP, "loop");
	if ((cl = dnsbl_client_new(l, &c, err, sizeof(err))) == NULL)
		fatalx(EXIT_PERM, "%s", err);
	for (round = 0; round < rounds; round++) {
		int left = n;
		for (i = 0; i < n; i++) {
			s[i].done = 0;
			if (dnsbl_check(cl, &s[i].a, on_result, &s[i]) == NULL)
				fatalx(EXIT_TEMP, "check could not start");
		}
		while (left > 0) {
			if (loop_run_once(l, 100) != 0)
				fatal(EXIT_TEMP, "loop");
			for (i = 0, left = 0; i < n; i++)
				left += !s[i].done;
		}
		for (i = 0; i < n; i++)
			printf("%s listed=%d %s elapsed=%lld\n", s[i].text,
			    s[i].r.listed, dnsbl_result_format(cl, &s[i].r,
			    text, sizeof(text)), (long long)s[i].r.elapsed_ms);
	}
	dnsbl_stats(cl, &st);
	printf("stats queries=%llu sent=%llu hits=%llu joins=%llu "
	    "timeouts=%llu errors=%llu tcp=%llu bad=%llu\n",
	    (unsigned long long)st.queries, (unsigned long long)st.sent,
	    (unsigned long long)st.cache_hits,
	    (unsigned long long)st.cache_joins,
	    (unsigned long long)st.timeouts, (unsigned long long)st.errors,
	    (unsigned long long)st.tcp, (unsigned long long)st.bad_replies);
	dnsbl_client_free(cl);
	loop_free(l);
	return EXIT_OK;
}
