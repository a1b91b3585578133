/*
 * gatebench.c — the admission table under many distinct clients, for
 * `make bench` (host tool, never shipped; linked against the relay's own
 * gate.o, the code the workers run).
 *
 *   gatebench [-n ADDRS] [-s SLOTS]
 *
 * A table of SLOTS entries (default GATE_DEFAULT_SLOTS, the daemon's) in
 * a MAP_SHARED region, as the parent makes it. First 100 clients are
 * admitted and kept connected, and 10 are blocked for ten minutes; then
 * ADDRS (default 100,000) distinct addresses from 127/8, each in its own
 * /24 as far as the range allows, are admitted and released one after
 * the other (the table must recycle idle entries: ADDRS > SLOTS). Then
 * the eviction rules are checked: each kept client is still counted
 * (a second connection from it is refused by a per-IP limit of 1), each
 * blocked one is still blocked, the table never holds more than SLOTS.
 *
 * Prints one line, "admits=N ns_per_admit=X evictions=E used=U slots=S
 * kept=K/100 blocked=B/10 sessions=C table_full=F passed=P", and exits 0
 * when every check holds, 1 otherwise, 100 on usage. Bounded: ADDRS is at
 * most 10,000,000.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"

#define KEPT		100
#define BLOCKED		10
#define ADDRS_MAX	10000000

static struct netaddr
addr_of(uint32_t i)
{
	struct netaddr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.a[0] = 127;
	a.a[1] = (uint8_t)(i % 250 + 1);	/* the /24 changes fastest */
	a.a[2] = (uint8_t)(i / 250 % 250);
	a.a[3] = (uint8_t)(i / 62500 % 250 + 1);
	return a;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	struct gate_conf gc;
	struct gate_ticket t, kept[KEPT];
	struct gate_stats st;
	struct gate *g;
	struct netaddr a;
	uint32_t nslots = GATE_DEFAULT_SLOTS, n = 100000, i;
	int64_t now = 1000000, t0, t1;
	int ch, nkept = 0, nblocked = 0, passed = 0;
	size_t size;
	void *mem;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
		case 'n': n = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': nslots = (uint32_t)strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (optind != argc || n < 1 || n > ADDRS_MAX ||
	    nslots < GATE_MIN_SLOTS || (nslots & (nslots - 1)) != 0 ||
	    nslots > (1u << 24))
		goto usage;
	size = gate_region_size(nslots);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	gate_conf_default(&gc);
	gc.ip_concurrency = 1;		/* a second connection shows the first */
	gc.max_sessions = 100000;
	if ((g = gate_new_conf(NULL, &gc, mem, size)) == NULL ||
	    gate_set_worker(g, 0) != 0) {
		fputs("gatebench: gate_new_conf failed\n", stderr);
		return 1;
	}
	/* the clients that must survive every eviction: addresses past the
	 * range the loop uses */
	for (i = 0; i < KEPT; i++) {
		a = addr_of(n + i);
		if (gate_verdict_ok(gate_admit(g, &a, now, &kept[i])))
			nkept++;
	}
	for (i = 0; i < BLOCKED; i++) {
		a = addr_of(n + KEPT + i);
		(void)gate_tempblock(g, &a, 600, "gatebench", now);
	}
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		a = addr_of(i);
		if (gate_verdict_ok(gate_admit(g, &a, now + i / 1000, &t))) {
			passed++;
			gate_release(g, &t);
		}
	}
	t1 = now_ns();
	now += n / 1000 + 1;
	nkept = 0;
	for (i = 0; i < KEPT; i++) {
		a = addr_of(n + i);
		if (gate_admit(g, &a, now, &t) == GATE_LIMIT_CONN)
			nkept++;
		gate_release(g, &t);	/* a no-op for a refusal */
	}
	for (i = 0; i < BLOCKED; i++) {
		a = addr_of(n + KEPT + i);
		if (gate_admit(g, &a, now, &t) == GATE_TEMPBLOCK)
			nblocked++;
		gate_release(g, &t);
	}
	gate_stats(g, &st);
	printf("admits=%u ns_per_admit=%.0f evictions=%llu used=%u slots=%u "
	    "kept=%d/%d blocked=%d/%d sessions=%u table_full=%llu passed=%d\n",
	    n, (double)(t1 - t0) / n, (unsigned long long)st.evictions,
	    st.used, st.slots, nkept, KEPT, nblocked, BLOCKED, st.sessions,
	    (unsigned long long)st.table_full, passed);
	for (i = 0; i < KEPT; i++)
		gate_release(g, &kept[i]);
	return nkept == KEPT && nblocked == BLOCKED && st.used <= st.slots &&
	    st.sessions == KEPT && (n <= nslots || st.evictions > 0) ? 0 : 1;
usage:
	fputs("usage: gatebench [-n addrs] [-s slots]\n", stderr);
	return 100;
}
