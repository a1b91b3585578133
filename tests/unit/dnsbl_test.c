/*
 * dnsbl_test.c — the DNSBL client against a scripted DNS server living in
 * the same event loop on 127.0.0.1 (UDP and TCP on one ephemeral port):
 * listings with weights and answer filters, allow zones, NXDOMAIN, a zone
 * that never answers (timeout = not listed), SERVFAIL, truncation with TCP
 * fallback, spoofed replies ignored, caching by TTL, query sharing,
 * cancel, resolver rotation past a dead resolver, a bounded cache, and the
 * zone syntax. Loopback only, bounded in time.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "dnsbl.h"
#include "loop.h"
#include "util.h"
#include "tap.h"
#include "../gate/dnstest.h"

/* --- the scripted server ---------------------------------------------- */

enum { Z_BL, Z_TWO, Z_SLOW, Z_TC, Z_FAIL, Z_WL, Z_SPOOF, NZ };
static const char *zname[NZ] = {
	"bl.test", "two.test", "slow.test", "tc.test", "fail.test",
	"wl.test", "spoof.test"
};

struct tconn {
	struct watch	w;
	uint8_t		buf[600];
	size_t		n;
};

static struct srv {
	struct loop	*loop;
	struct watch	 uw, tw;
	int		 port;
	int		 udp_queries[NZ], tcp_queries;
	char		 last[DNS_TEXT_MAX + 1];
} S;

static int
zone_of(const char *name, char *prefix)
{
	int z;

	for (z = 0; z < NZ; z++) {
		size_t nl = strlen(name), zl = strlen(zname[z]);
		if (nl > zl && name[nl - zl - 1] == '.' &&
		    strcmp(name + nl - zl, zname[z]) == 0) {
			memcpy(prefix, name, nl - zl - 1);
			prefix[nl - zl - 1] = '\0';
			return z;
		}
	}
	return -1;
}

/* The answer's last octet for a query (0 = NXDOMAIN, -1 = no reply). */
static int
script(int z, const char *p)
{
	switch (z) {
	case Z_BL:
		if (!strcmp(p, "2.0.0.127")) return 2;
		if (!strcmp(p, "3.0.0.127")) return 3;
		if (!strcmp(p, "10.0.0.127")) return 10;
		return 0;
	case Z_TWO:
		if (!strcmp(p, "2.0.0.127")) return 4;
		if (!strcmp(p, "4.0.0.127")) return 254;	/* 127.255.255.254 */
		return 0;
	case Z_TC:
		return !strcmp(p, "2.0.0.127") ? 2 : 0;
	case Z_WL:
		return !strcmp(p, "5.0.0.127") ? 2 : 0;
	case Z_SLOW: case Z_SPOOF:
		return -1;
	}
	return 0;
}

/* Builds the reply for query q (len bytes) into m; 0, or -1 for none. */
static int
answer(const uint8_t *q, size_t len, int tcp, struct mb *m)
{
	char name[DNS_TEXT_MAX + 1], prefix[DNS_TEXT_MAX + 1];
	size_t off = 12;
	unsigned id;
	int z, a;

	if (len < 12 || dns_name_decode(q, len, &off, name, sizeof(name)) != 0)
		return -1;
	id = (unsigned)(q[0] << 8 | q[1]);
	memcpy(S.last, name, sizeof(S.last));
	if ((z = zone_of(name, prefix)) < 0)
		return -1;
	if (tcp)
		S.tcp_queries++;
	else
		S.udp_queries[z]++;
	if (z == Z_FAIL) {
		mb_header(m, id, DNS_R_SERVFAIL, 0, 1, 0, 0, 0);
		mb_question(m, name, 1);
		return 0;
	}
	a = script(z, prefix);
	if (a < 0)
		return -1;
	if (z == Z_TC && !tcp) {
		mb_reply(m, id, name, 2, 60, 1);
		return 0;
	}
	if (a == 254) {
		mb_header(m, id, 0, 0, 1, 1, 0, 0);
		mb_question(m, name, 1);
		mb_a(m, 60, 127, 255, 255, 254);
		return 0;
	}
	mb_reply(m, id, name, (unsigned)a, a ? 60 : 30, 0);
	return 0;
}

static void
udp_in(struct watch *w, uint32_t ev)
{
	uint8_t q[600];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	struct mb m;
	ssize_t n;

	while ((n = recvfrom(w->fd, q, sizeof(q), 0,
	    (struct sockaddr *)&from, &fl)) > 0) {
		char name[DNS_TEXT_MAX + 1], prefix[DNS_TEXT_MAX + 1];
		size_t off = 12;
		if (dns_name_decode(q, (size_t)n, &off, name,
		    sizeof(name)) == 0 && zone_of(name, prefix) == Z_SPOOF) {
			/* a wrong id, then the right id for another name */
			S.udp_queries[Z_SPOOF]++;
			mb_reply(&m, (unsigned)(q[0] << 8 | q[1]) ^ 1, name, 2,
			    60, 0);
			sendto(w->fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
			mb_reply(&m, (unsigned)(q[0] << 8 | q[1]),
			    "2.0.0.127.bl.test", 2, 60, 0);
			sendto(w->fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
			continue;
		}
		if (answer(q, (size_t)n, 0, &m) == 0)
			sendto(w->fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
		fl = sizeof(from);
	}
}

static void
tcp_conn_in(struct watch *w, uint32_t ev)
{
	struct tconn *c = w->arg;
	struct mb m;
	ssize_t n = read(w->fd, c->buf + c->n, sizeof(c->buf) - c->n);
	size_t need;
	int fd = w->fd;

	if (n > 0)
		c->n += (size_t)n;
	if (n < 0 && errno == EAGAIN)
		return;
	need = c->n >= 2 ? 2 + ((size_t)c->buf[0] << 8 | c->buf[1]) : 2;
	if (n > 0 && c->n < need)
		return;
	if (n > 0 && answer(c->buf + 2, c->n - 2, 1, &m) == 0) {
		uint8_t out[sizeof(m.b) + 2];
		out[0] = (uint8_t)(m.n >> 8);
		out[1] = (uint8_t)m.n;
		memcpy(out + 2, m.b, m.n);
		if (write(fd, out, m.n + 2) < 0)
			S.tcp_queries += 1000;	/* shows in the test */
	}
	loop_del(S.loop, w);
	close(fd);
	free(c);
}

static void
tcp_accept(struct watch *w, uint32_t ev)
{
	int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct tconn *c;

	if (fd < 0)
		return;
	c = calloc(1, sizeof(*c));
	loop_add(S.loop, &c->w, fd, EPOLLIN, tcp_conn_in, c);
}

static void
srv_start(struct loop *l)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int u, t, one = 1;

	S.loop = l;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    listen(t, 16) != 0 ||
	    getsockname(t, (struct sockaddr *)&sin, &sl) != 0)
		fatal(1, "tcp listener");
	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		fatal(1, "udp on the tcp port");
	S.port = ntohs(sin.sin_port);
	loop_add(l, &S.uw, u, EPOLLIN, udp_in, NULL);
	loop_add(l, &S.tw, t, EPOLLIN, tcp_accept, NULL);
}

/* --- client side helpers ---------------------------------------------- */

struct got {
	int			done;
	struct dnsbl_result	r;
};

static void
on_result(void *arg, const struct dnsbl_result *r)
{
	struct got *g = arg;

	g->done++;
	g->r = *r;
}

static int
wait_for(struct loop *l, struct got *g, int n, int64_t max_ms)
{
	int64_t t0 = mono_ms();

	while (g->done < n && mono_ms() - t0 < max_ms)
		loop_run_once(l, 20);
	return g->done;
}

static void
settle(struct loop *l, int64_t ms)
{
	int64_t t0 = mono_ms();

	while (mono_ms() - t0 < ms)
		loop_run_once(l, 10);
}

static void
resolver(struct sockaddr_storage *ss, int port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void
zone(struct dnsbl_conf *c, const char *spec, int weight, int allow)
{
	char err[128];

	if (dnsbl_zone_parse(spec, weight, allow, &c->zone[c->nzones++], err,
	    sizeof(err)) != 0)
		fatalx(1, "zone %s: %s", spec, err);
}

static int nlogs;
static void
logline(void *arg, const char *line)
{
	nlogs++;
	if (getenv("TEST_VERBOSE"))
		printf("# log: %s\n", line);
}

static struct netaddr
ip(const char *s)
{
	struct netaddr a;

	net_parse_ip(s, &a);
	return a;
}

/* --- tests -------------------------------------------------------------- */

static void
test_syntax(void)
{
	struct dnsbl_zone z;
	char err[128];
	uint8_t a[4] = { 127, 0, 0, 2 };

	ok(dnsbl_zone_parse("BL.Test", 3, 0, &z, err, sizeof(err)) == 0 &&
	    strcmp(z.zone, "bl.test") == 0 && z.weight == 3 && z.nfilter == 0,
	    "plain zone, lower-cased");
	ok(dnsbl_zone_match(&z, a), "no filter: 127.0.0.2 lists");
	a[1] = 255; a[2] = 255; a[3] = 254;
	ok(!dnsbl_zone_match(&z, a), "no filter: 127.255.255.254 does not");
	a[0] = 10;
	ok(!dnsbl_zone_match(&z, a), "no filter: 10.x does not");
	ok(dnsbl_zone_parse("bl.test=127.0.0.2,127.0.1.[4..7]", 3, 0, &z, err,
	    sizeof(err)) == 0 && z.nfilter == 2, "filter list parses");
	memcpy(a, (uint8_t[]){ 127, 0, 1, 5 }, 4);
	ok(dnsbl_zone_match(&z, a), "range matches 127.0.1.5");
	memcpy(a, (uint8_t[]){ 127, 0, 0, 3 }, 4);
	ok(!dnsbl_zone_match(&z, a), "127.0.0.3 filtered out");
	ok(dnsbl_zone_parse("wl.test", -5, 1, &z, err, sizeof(err)) == 0 &&
	    z.allow && z.weight == -5, "allow zone");
	ok(dnsbl_zone_parse("wl.test", 5, 1, &z, err, sizeof(err)) == -1 &&
	    strstr(err, "negative weight"), "allow zone needs weight < 0");
	ok(dnsbl_zone_parse("bl..test", 1, 0, &z, err, sizeof(err)) == -1 &&
	    strstr(err, "not a valid zone"), "bad zone");
	ok(dnsbl_zone_parse("bl.test=", 1, 0, &z, err, sizeof(err)) == -1,
	    "empty filter");
	ok(dnsbl_zone_parse("bl.test=10.0.0.2", 1, 0, &z, err,
	    sizeof(err)) == -1 && strstr(err, "bad answer filter"),
	    "filter outside 127/8");
	ok(dnsbl_zone_parse("bl.test=127.0.0.[7..4]", 1, 0, &z, err,
	    sizeof(err)) == -1, "reversed range");
	ok(dnsbl_zone_parse("bl.test=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,"
	    "127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9", 1, 0, &z, err,
	    sizeof(err)) == -1 && strstr(err, "at most 8"), "9 filters");
	ok(dnsbl_zone_parse("bl.test", 1001, 0, &z, err, sizeof(err)) == -1,
	    "weight bound");
}

static void
base_conf(struct dnsbl_conf *c)
{
	dnsbl_conf_default(c);
	resolver(&c->resolver[0], S.port);
	c->nresolvers = 1;
	c->threshold = 5;
	c->timeout_ms = 300;
	c->retry_ms = 120;
	c->tcp = 1;		/* this process may open sockets */
	c->log = logline;
}

static void
test_lookups(struct loop *l)
{
	struct dnsbl_conf c;
	struct dnsbl_client *cl;
	struct dnsbl_stats st;
	struct got g = { 0 }, g2 = { 0 };
	struct netaddr a;
	char err[128], text[512];
	int64_t t0;
	int before[NZ];

	base_conf(&c);
	zone(&c, "bl.test=127.0.0.2,127.0.0.[10..11]", 3, 0);
	zone(&c, "two.test", 2, 0);
	zone(&c, "slow.test", 5, 0);
	zone(&c, "tc.test", 4, 0);
	zone(&c, "fail.test", 7, 0);
	zone(&c, "wl.test", -10, 1);
	zone(&c, "spoof.test", 9, 0);
	cl = dnsbl_client_new(l, &c, err, sizeof(err));
	ok(cl != NULL, "client on 127.0.0.1:%d", S.port);

	a = ip("127.0.0.2");
	t0 = mono_ms();
	ok(dnsbl_check(cl, &a, on_result, &g) != NULL, "check started");
	is_int(g.done, 0, "no callback from inside dnsbl_check");
	wait_for(l, &g, 1, 3000);
	is_int(g.done, 1, "one callback");
	is_int(g.r.score, 9, "score 3 + 2 + 4 (bl, two, tc over TCP)");
	ok(g.r.listed, "listed at threshold 5");
	ok(g.r.state[Z_SLOW] == DNSBL_TIMEOUT &&
	    g.r.state[Z_SPOOF] == DNSBL_TIMEOUT, "slow and spoofed: timeout");
	is_int(g.r.state[Z_FAIL], DNSBL_ERROR, "SERVFAIL: error");
	is_int(g.r.state[Z_TC], DNSBL_LISTED, "truncated UDP, listed over TCP");
	is_int(S.tcp_queries, 1, "one TCP query");
	ok(g.r.elapsed_ms >= 290 && g.r.elapsed_ms < 700 &&
	    mono_ms() - t0 < 700, "result at the 300 ms deadline (%lld ms)",
	    (long long)g.r.elapsed_ms);
	dnsbl_result_format(cl, &g.r, text, sizeof(text));
	is_str(text, "rank 9 bl.test(3)=127.0.0.2 two.test(2)=127.0.0.4 "
	    "tc.test(4)=127.0.0.2 timeout slow.test timeout spoof.test "
	    "error fail.test", "result text for the log line");
	ok(S.udp_queries[Z_SLOW] >= 2, "slow zone asked again after retry_ms");

	/* again: answers from the cache, failures asked again */
	memcpy(before, S.udp_queries, sizeof(before));
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	ok(g.done == 1 && g.r.score == 9, "same result the second time");
	ok(S.udp_queries[Z_BL] == before[Z_BL] &&
	    S.udp_queries[Z_TWO] == before[Z_TWO] &&
	    S.udp_queries[Z_TC] == before[Z_TC] && S.tcp_queries == 1,
	    "listings served from the cache");
	ok(S.udp_queries[Z_FAIL] > before[Z_FAIL], "errors are not cached");

	/* filters, error codes, allow zones, NXDOMAIN */
	a = ip("127.0.0.3");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	ok(g.r.state[Z_BL] == DNSBL_CLEAN && g.r.score == 0 && !g.r.listed,
	    "127.0.0.3 answer filtered out by =127.0.0.2,...");
	a = ip("127.0.0.10");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	is_int(g.r.state[Z_BL], DNSBL_LISTED, "127.0.0.10 inside [10..11]");
	a = ip("127.0.0.4");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	is_int(g.r.state[Z_TWO], DNSBL_CLEAN,
	    "127.255.255.254 (list error code) is not a listing");
	a = ip("127.0.0.5");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	ok(g.r.state[Z_WL] == DNSBL_LISTED && g.r.score == -10 && !g.r.listed,
	    "allow zone: negative score");

	/* IPv6 nibble names */
	a = ip("2001:db8::1");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	wait_for(l, &g, 1, 3000);
	ok(g.done == 1 && g.r.score == 0, "IPv6 client checked");
	ok(strncmp(S.last, "1.0.0.0.0.0.0.0", 15) == 0 &&
	    strstr(S.last, ".8.b.d.0.1.0.0.2.") != NULL,
	    "IPv6 reverse nibble name on the wire");

	/* two checks of the same new address share one query per zone */
	a = ip("127.0.0.77");
	memcpy(before, S.udp_queries, sizeof(before));
	g.done = g2.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	dnsbl_check(cl, &a, on_result, &g2);
	wait_for(l, &g, 1, 3000);
	wait_for(l, &g2, 1, 3000);
	ok(g.done == 1 && g2.done == 1, "both checks answered");
	is_int(S.udp_queries[Z_BL] - before[Z_BL], 1,
	    "one query for two checks");

	/* cancel: no callback, ever */
	a = ip("127.0.0.78");
	g.done = 0;
	dnsbl_cancel(dnsbl_check(cl, &a, on_result, &g));
	settle(l, 500);
	is_int(g.done, 0, "cancelled check never calls back");

	dnsbl_stats(cl, &st);
	ok(st.bad_replies >= 2, "spoofed replies counted (%llu)",
	    (unsigned long long)st.bad_replies);
	if (!ok(st.cache_hits >= 3 && st.tcp >= 1 && st.inflight == 0,
	    "stats: %llu hits, %llu joins, %llu queries",
	    (unsigned long long)st.cache_hits,
	    (unsigned long long)st.cache_joins,
	    (unsigned long long)st.queries))
		printf("# tcp %llu inflight %u\n", (unsigned long long)st.tcp,
		    st.inflight);
	ok(nlogs > 0, "problems reported through the log hook (%d)", nlogs);

	/* freeing with a check in flight: no callback, no crash */
	a = ip("127.0.0.79");
	g.done = 0;
	dnsbl_check(cl, &a, on_result, &g);
	dnsbl_client_free(cl);
	settle(l, 100);
	is_int(g.done, 0, "free with a pending check");
}

static void
test_rotation(struct loop *l)
{
	struct dnsbl_conf c;
	struct dnsbl_client *cl;
	struct got g = { 0 };
	struct netaddr a = ip("127.0.0.2");
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	char err[128];
	int dead, i, fast = 0;

	/* a bound UDP socket nobody reads: a resolver that never answers */
	dead = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(dead, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(dead, (struct sockaddr *)&sin, &sl);
	base_conf(&c);
	c.timeout_ms = 1500;
	c.retry_ms = 100;
	c.ttl_max = c.ttl_min = 10;
	resolver(&c.resolver[0], ntohs(sin.sin_port));
	resolver(&c.resolver[1], S.port);
	c.nresolvers = 2;
	zone(&c, "bl.test", 3, 0);
	c.threshold = 3;
	for (i = 0; i < 6; i++) {
		/* a fresh client each time: no cache */
		cl = dnsbl_client_new(l, &c, err, sizeof(err));
		g.done = 0;
		dnsbl_check(cl, &a, on_result, &g);
		wait_for(l, &g, 1, 3000);
		if (g.done == 1 && g.r.listed && g.r.elapsed_ms < 400)
			fast++;
		dnsbl_client_free(cl);
	}
	is_int(fast, 6, "dead first resolver: answered by the second "
	    "within retry_ms");
	close(dead);

	/* no resolver: refused (never a public default) */
	c.nresolvers = 0;
	ok(dnsbl_client_new(l, &c, err, sizeof(err)) == NULL &&
	    strstr(err, "no public resolver"), "no resolver, no client");
}

static void
test_bounds(struct loop *l)
{
	struct dnsbl_conf c;
	struct dnsbl_client *cl;
	struct dnsbl_stats st;
	struct got g = { 0 };
	char err[128];
	int i;

	base_conf(&c);
	c.cache_size = DNSBL_CACHE_MIN;
	zone(&c, "bl.test", 3, 0);
	cl = dnsbl_client_new(l, &c, err, sizeof(err));
	/* in waves of 20: entries still pending are never evicted */
	for (i = 0; i < 200; i++) {
		char s[32];
		struct netaddr a;
		snprintf(s, sizeof(s), "127.1.%d.%d", i / 200, i % 200);
		a = ip(s);
		dnsbl_check(cl, &a, on_result, &g);
		if (i % 20 == 19)
			wait_for(l, &g, i + 1, 2000);
	}
	dnsbl_stats(cl, &st);
	is_int(g.done, 200, "200 checks with a 64-entry cache all answered");
	ok(st.cached <= DNSBL_CACHE_MIN && st.evictions > 0,
	    "cache bounded: %u cached, %llu evicted", st.cached,
	    (unsigned long long)st.evictions);
	dnsbl_client_free(cl);

	/* no zones: completes at once (from the loop), score 0 */
	base_conf(&c);
	cl = dnsbl_client_new(l, &c, err, sizeof(err));
	g.done = 0;
	{
		struct netaddr a = ip("127.0.0.2");
		dnsbl_check(cl, &a, on_result, &g);
	}
	is_int(g.done, 0, "no zones: still not synchronous");
	wait_for(l, &g, 1, 1000);
	ok(g.done == 1 && g.r.score == 0 && !g.r.listed,
	    "no zones: not listed");
	dnsbl_client_free(cl);
}

int
main(void)
{
	struct loop *l = loop_new();

	srv_start(l);
	test_syntax();
	test_lookups(l);
	test_rotation(l);
	test_bounds(l);
	return done_testing();
}
