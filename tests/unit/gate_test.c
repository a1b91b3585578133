/*
 * gate_test.c — the admission table: every verdict reached with the right
 * reply and log line, token buckets refilling with time, temporary blocks
 * and the passed-client memory expiring, eviction keeping the table
 * bounded, the dead-owner lock recovery, and two processes hammering one
 * shared region without ever exceeding a concurrency limit. Prints the
 * measured cost of gate_admit() as a diagnostic.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gate.h"
#include "util.h"
#include "tap.h"

static void *
region(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fatal(1, "mmap");
	return p;
}

static struct netaddr
ip(const char *s)
{
	struct netaddr a;

	if (net_parse_ip(s, &a) != 0)
		fatalx(1, "bad ip %s", s);
	return a;
}

static struct config *
conf(const char *text)
{
	struct config *cf = config_new();

	if (config_parse(cf, "t.conf", text, strlen(text), stderr) != 0)
		fatalx(1, "config");
	return cf;
}

#define BASE "listen 127.0.0.1:2525\nroute example.test 127.0.0.1:2526\n"

static void
test_verdicts(void)
{
	struct config *cf = conf(BASE
	    "allow 192.0.2.0/24\nallow 2001:db8:1::/48\n"
	    "block 198.51.100.0/24\nblock 198.51.100.7\nblock 2001:db8:bad::/48\n"
	    "allow 203.0.113.5\nmax_sessions 5\n");
	size_t sz = gate_region_size(1024);
	void *mem = region(sz);
	struct gate *g = gate_new(cf, mem, sz);
	struct gate_ticket t, held[16];
	struct netaddr a;
	char line[256], reply[256];
	int i;

	ok(g != NULL, "gate_new on a mmap'd region");
	ok(gate_new(cf, mem, 100) == NULL, "too small a region refused");
	{
		struct gate *g2 = gate_attach(cf, mem, sz);
		struct gate_stats st;
		ok(g2 != NULL, "gate_attach to an initialised region");
		ok(gate_attach(cf, mem, 1000) == NULL,
		    "gate_attach with a short size refused");
		gate_stats(g2, &st);
		is_int(st.slots, 1024, "attached handle sees the table");
		gate_free(g2);
	}
	is_int(gate_conf(g)->max_sessions, 5, "max_sessions from config");

	a = ip("192.0.2.77");
	is_int(gate_admit(g, &a, 1000, &t), GATE_ALLOW, "allow CIDR");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "ALLOW [192.0.2.77] cidr 192.0.2.0/24", "allow log line");
	is_int(gate_reply(g, &t, reply, sizeof(reply)), 0, "allow: no reply");
	gate_release(g, &t);

	a = ip("2001:db8:1:2::9");
	is_int(gate_admit(g, &a, 1000, &t), GATE_ALLOW, "IPv6 allow CIDR");
	gate_release(g, &t);

	a = ip("198.51.100.7");
	is_int(gate_admit(g, &a, 1000, &t), GATE_BLOCK, "block CIDR");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "BLOCK [198.51.100.7] cidr 198.51.100.7/32",
	    "block log line names the longest match");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 1 &&
	    strcmp(reply, "554 5.7.1 Service unavailable; client "
	    "[198.51.100.7] blocked by local policy\r\n") == 0,
	    "block reply 554 5.7.1");
	gate_release(g, &t);	/* a no-op for refusals */
	a = ip("2001:db8:bad::1");
	is_int(gate_admit(g, &a, 1000, &t), GATE_BLOCK, "IPv6 block CIDR");

	/* PASS, then PASS OLD once marked, until pass_ttl runs out */
	a = ip("10.1.2.3");
	is_int(gate_admit(g, &a, 1000, &t), GATE_PASS, "new client: PASS");
	is_str(gate_log_line(&t, line, sizeof(line)), "PASS NEW [10.1.2.3]",
	    "pass log line");
	gate_mark_passed(g, &a, 1000);
	gate_release(g, &t);
	is_int(gate_admit(g, &a, 2000, &t), GATE_PASS_OLD,
	    "passed client: PASS OLD");
	gate_release(g, &t);
	is_int(gate_admit(g, &a, 1000 + 3600 * 1000 + 1, &t), GATE_PASS,
	    "PASS OLD forgotten after pass_ttl");
	gate_release(g, &t);

	/* global cap: 5 sessions (allowlisted ones count too) */
	for (i = 0; i < 5; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.9.%d.1", i);
		a = ip(s);
		gate_admit(g, &a, 5000, &held[i]);
	}
	a = ip("10.10.10.10");
	is_int(gate_admit(g, &a, 5000, &t), GATE_LIMIT_GLOBAL, "session cap");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 1 &&
	    strncmp(reply, "421 4.7.0 ", 10) == 0, "cap reply 421 4.7.0");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "LIMIT global [10.10.10.10] sessions 5/5", "cap log line");
	a = ip("192.0.2.1");
	is_int(gate_admit(g, &a, 5000, &t), GATE_ALLOW,
	    "allowlisted client passes the cap");
	gate_release(g, &t);
	gate_release(g, &held[0]);
	gate_release(g, &held[0]);	/* double release is harmless */
	a = ip("10.10.10.10");
	is_int(gate_admit(g, &a, 5000, &t), GATE_PASS, "room again");
	gate_release(g, &t);
	for (i = 1; i < 5; i++)
		gate_release(g, &held[i]);
	{
		struct gate_stats st;
		gate_stats(g, &st);
		is_int(st.sessions, 0, "every session released");
		ok(st.verdicts[GATE_ALLOW] == 3 && st.verdicts[GATE_BLOCK] == 2 &&
		    st.verdicts[GATE_LIMIT_GLOBAL] == 1, "verdict counters");
	}

	/* temporary block */
	a = ip("10.20.0.1");
	ok(gate_tempblock(g, &a, 60, "dictionary attack", 10000) == 0,
	    "tempblock set");
	is_int(gate_admit(g, &a, 10000 + 59000, &t), GATE_TEMPBLOCK,
	    "temp-blocked client refused");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "TEMPBLOCK [10.20.0.1] dictionary attack, 1 s left",
	    "tempblock log line");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 1 &&
	    strncmp(reply, "421 4.7.0 ", 10) == 0, "tempblock reply 421");
	{
		struct gate_entry e[4];
		int n = gate_list_entries(g, 10000, 1, e, 4);
		ok(n == 1 && e[0].block_left_ms == 60000 &&
		    strcmp(e[0].why, "dictionary attack") == 0,
		    "tempblock listed");
	}
	is_int(gate_admit(g, &a, 10000 + 60000, &t), GATE_PASS,
	    "tempblock expires");
	gate_release(g, &t);
	gate_tempblock(g, &a, 60, "x", 80000);
	ok(gate_unblock(g, &a) == 0 && gate_admit(g, &a, 80001, &t) ==
	    GATE_PASS, "unblock lifts it");
	gate_release(g, &t);

	/* run-time lists */
	{
		struct cidr c;
		char why[64];
		net_parse_cidr("10.30.0.0/16", &c, why, sizeof(why));
		a = ip("10.30.1.1");
		ok(gate_cidr_add(g, GATE_LIST_BLOCK, &c) == 0 &&
		    gate_admit(g, &a, 90000, &t) == GATE_BLOCK,
		    "run-time block entry");
		ok(gate_cidr_del(g, GATE_LIST_BLOCK, &c) == 0 &&
		    gate_admit(g, &a, 90000, &t) == GATE_PASS,
		    "run-time block entry removed");
		gate_release(g, &t);
		ok(gate_cidr_del(g, GATE_LIST_BLOCK, &c) == -1,
		    "removing an absent entry fails");
		gate_cidr_add(g, GATE_LIST_ALLOW, &c);
		ok(gate_admit(g, &a, 90000, &t) == GATE_ALLOW,
		    "run-time allow entry");
		gate_release(g, &t);
	}

	/* drop action */
	{
		struct gate_conf gc;
		gate_conf_from_config(cf, &gc);
		gc.block_action = GATE_BLOCK_DROP;
		gate_reload(g, cf, &gc);
		a = ip("198.51.100.9");
		is_int(gate_admit(g, &a, 1000, &t), GATE_BLOCK,
		    "block after reload");
		is_int(gate_reply(g, &t, reply, sizeof(reply)), 0,
		    "block_action drop: silent close");
	}
	gate_free(g);
	munmap(mem, sz);
	config_free(cf);
}

static void
test_limits(void)
{
	struct gate_conf gc;
	size_t sz = gate_region_size(1024);
	void *mem = region(sz);
	struct gate *g;
	struct gate_ticket t, h[64];
	struct netaddr a;
	char line[256];
	int i, n;

	gate_conf_default(&gc);
	gc.ip_concurrency = 3;
	gc.net_concurrency = 5;
	gc.ip_rate = 0;
	gc.net_rate = 0;
	g = gate_new_conf(NULL, &gc, mem, sz);

	a = ip("10.0.0.1");
	for (i = 0; i < 3; i++)
		gate_admit(g, &a, 0, &h[i]);
	is_int(gate_admit(g, &a, 0, &t), GATE_LIMIT_CONN, "4th from one IP");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "LIMIT conn [10.0.0.1] ip 3/3", "conn limit log line");
	a = ip("10.0.0.2");
	gate_admit(g, &a, 0, &h[3]);
	gate_admit(g, &a, 0, &h[4]);
	a = ip("10.0.0.3");
	is_int(gate_admit(g, &a, 0, &t), GATE_LIMIT_CONN, "6th from one /24");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "LIMIT conn [10.0.0.3] net /24 5/5", "net limit log line");
	a = ip("10.0.1.3");
	is_int(gate_admit(g, &a, 0, &t), GATE_PASS, "next /24 unaffected");
	gate_release(g, &t);
	gate_release(g, &h[0]);
	a = ip("10.0.0.3");
	is_int(gate_admit(g, &a, 0, &t), GATE_PASS, "room after a release");
	gate_release(g, &t);
	for (i = 1; i < 5; i++)
		gate_release(g, &h[i]);

	/* IPv6 /64 */
	for (i = 0; i < 5; i++) {
		char s[64];
		snprintf(s, sizeof(s), "2001:db8:0:1::%x", i + 1);
		a = ip(s);
		is_int(gate_admit(g, &a, 0, &h[i]), GATE_PASS, "v6 %s", s);
	}
	a = ip("2001:db8:0:1:ffff::1");
	is_int(gate_admit(g, &a, 0, &t), GATE_LIMIT_CONN,
	    "6th from one IPv6 /64");
	a = ip("2001:db8:0:2::1");
	is_int(gate_admit(g, &a, 0, &t), GATE_PASS, "another /64 passes");
	gate_release(g, &t);
	for (i = 0; i < 5; i++)
		gate_release(g, &h[i]);

	/* a dead worker's connections are forgotten */
	gate_set_worker(g, 3);
	a = ip("10.50.0.1");
	for (i = 0; i < 3; i++)
		gate_admit(g, &a, 0, &h[i]);
	gate_set_worker(g, 0);
	is_int(gate_admit(g, &a, 0, &t), GATE_LIMIT_CONN,
	    "worker 3 holds the IP's 3 slots");
	gate_worker_reset(g, 3);
	is_int(gate_admit(g, &a, 0, &t), GATE_PASS, "freed by worker reset");
	gate_release(g, &t);

	/* rates: 30/min per IP, 120/min per /24 */
	gate_conf_default(&gc);
	gc.ip_rate = 30;
	gc.net_rate = 120;
	gate_reload(g, NULL, &gc);
	a = ip("10.60.0.1");
	for (i = n = 0; i < 40; i++) {
		if (gate_admit(g, &a, 100000, &t) == GATE_PASS)
			n++;
		gate_release(g, &t);
	}
	is_int(n, 30, "30 connections in the same ms, then the bucket is dry");
	is_int(gate_admit(g, &a, 100000, &t), GATE_LIMIT_RATE, "LIMIT rate");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "LIMIT rate [10.60.0.1] ip 30/min", "rate log line");
	is_int(gate_admit(g, &a, 101999, &t), GATE_LIMIT_RATE,
	    "no token after 1.999 s");
	is_int(gate_admit(g, &a, 102000, &t), GATE_PASS,
	    "one token after 2 s (30/min)");
	gate_release(g, &t);
	for (i = n = 0; i < 200; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.61.0.%d", i);
		a = ip(s);
		if (gate_admit(g, &a, 200000, &t) == GATE_PASS)
			n++;
		gate_release(g, &t);
	}
	is_int(n, 120, "120 per /24 per minute");
	gate_free(g);
	munmap(mem, sz);
}

static void
test_table(void)
{
	struct gate_conf gc;
	size_t sz = gate_region_size(GATE_MIN_SLOTS);
	void *mem = region(sz);
	struct gate *g;
	struct gate_ticket t, *held;
	struct gate_stats st;
	struct gate_entry top[3];
	struct netaddr a;
	int i, full = 0, passed = 0;

	gate_conf_default(&gc);
	gc.max_sessions = 100000;
	g = gate_new_conf(NULL, &gc, mem, sz);
	for (i = 0; i < 5000; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.%d.%d.1", i / 256, i % 256);
		a = ip(s);
		if (gate_admit(g, &a, i, &t) == GATE_PASS)
			passed++;
		gate_release(g, &t);
	}
	gate_stats(g, &st);
	ok(passed == 5000 && st.used <= GATE_MIN_SLOTS && st.evictions > 0,
	    "5000 clients through 256 slots: bounded, %llu evictions",
	    (unsigned long long)st.evictions);

	/* message counters: since start, and per UTC day */
	gate_count_message(g, GATE_MSG_RELAYED, 86400 * 20000 + 10);
	gate_count_message(g, GATE_MSG_RELAYED, 86400 * 20000 + 86399);
	gate_count_message(g, GATE_MSG_QUEUED, 86400 * 20000 + 5);
	gate_count_message(g, GATE_NMSG, 86400 * 20000 + 5);	/* ignored */
	gate_stats(g, &st);
	ok(st.msgs[GATE_MSG_RELAYED] == 2 && st.msgs[GATE_MSG_QUEUED] == 1 &&
	    st.msgs_today[GATE_MSG_RELAYED] == 2 && st.today == 20000,
	    "messages counted, since start and for the day");
	gate_count_message(g, GATE_MSG_REFUSED, 86400 * 20001);
	gate_stats(g, &st);
	ok(st.msgs[GATE_MSG_RELAYED] == 2 && st.msgs_today[GATE_MSG_RELAYED]
	    == 0 && st.msgs_today[GATE_MSG_REFUSED] == 1 && st.today == 20001,
	    "at 00:00 UTC the day's counters start again");

	/* pin every slot with live connections: admits fail closed */
	held = calloc(4096, sizeof(*held));
	for (i = 0; i < 4096; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.%d.%d.9", 100 + i / 256, i % 256);
		a = ip(s);
		if (gate_admit(g, &a, 10000, &held[i]) == GATE_LIMIT_GLOBAL)
			full++;
	}
	gate_stats(g, &st);
	ok(full > 0 && st.table_full > 0,
	    "a pinned window refuses (LIMIT global, table full): %d", full);
	is_int(gate_list_entries(g, 10000, 0, top, 3), 3, "top talkers");
	ok(top[0].conns >= top[1].conns && top[1].conns >= top[2].conns,
	    "top talkers sorted by live connections");
	for (i = 0; i < 4096; i++)
		gate_release(g, &held[i]);
	gate_stats(g, &st);
	is_int(st.sessions, 0, "all released");
	free(held);
	gate_free(g);
	munmap(mem, sz);
}

static void
test_session(void)
{
	struct gate_conf gc;
	size_t sz = gate_region_size(GATE_MIN_SLOTS);
	void *mem = region(sz);
	struct gate *g;
	struct gate_session s;
	struct gate_ticket t;
	struct netaddr a = ip("10.70.0.1");
	char reply[256], line[256];
	int i, cut = 0;

	gate_conf_default(&gc);
	gc.max_unknown_rcpt = 5;
	gc.tempblock_ms = 120000;
	g = gate_new_conf(NULL, &gc, mem, sz);
	gate_admit(g, &a, 0, &t);
	memset(&s, 0, sizeof(s));
	for (i = 1; i <= 5 && !cut; i++)
		cut = gate_unknown_rcpt(g, &s, &t, 1000);
	is_int(i - 1, 5, "dictionary limit reached at the 5th unknown rcpt");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 1 &&
	    strncmp(reply, "421 4.7.0 Too many unknown", 26) == 0,
	    "dictionary reply");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "DICTIONARY [10.70.0.1] 5 unknown recipients, blocked 120 s",
	    "dictionary log line");
	gate_release(g, &t);
	is_int(gate_admit(g, &a, 2000, &t), GATE_TEMPBLOCK,
	    "the attacker is blocked on its next connection");

	memset(&s, 0, sizeof(s));
	s.data_start_ms = 0;
	s.data_bytes = 100;
	ok(!gate_data_too_slow(g, &s, 5000), "slow but within the grace");
	ok(gate_data_too_slow(g, &s, 20000), "5 bytes/s after 20 s: cut");
	s.data_bytes = 1 << 20;
	ok(!gate_data_too_slow(g, &s, 20000), "fast sender fine");

	gate_note(g, &t, GATE_PREGREET, "after 120 ms");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 0,
	    "pregreet: dropped without reply");
	is_str(gate_log_line(&t, line, sizeof(line)),
	    "PREGREET [10.70.0.1] after 120 ms", "pregreet log line");
	gate_note(g, &t, GATE_DNSBL, "rank 3 bl.test(3)");
	ok(gate_reply(g, &t, reply, sizeof(reply)) == 1 &&
	    strncmp(reply, "554 5.7.1 ", 10) == 0, "dnsbl reply 554 5.7.1");
	is_str(gate_verdict_name(GATE_LIMIT_RATE), "LIMIT rate", "names");
	gate_free(g);
	munmap(mem, sz);
}

/* A process died holding the lock: the next one takes it over. */
static void
test_dead_owner(void)
{
	size_t sz = gate_region_size(GATE_MIN_SLOTS);
	void *mem = region(sz);
	struct gate *g = gate_new_conf(NULL, &(struct gate_conf){ 0 }, mem, sz);
	struct gate_conf gc;
	struct gate_ticket t;
	struct netaddr a = ip("10.80.0.1");
	pid_t pid;
	int64_t t0;

	gate_conf_default(&gc);
	gate_reload(g, NULL, &gc);
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	/* the lock word follows magic, version, nslots, pad */
	atomic_store((_Atomic int32_t *)((char *)mem + 16), (int32_t)pid);
	t0 = mono_ms();
	is_int(gate_admit(g, &a, 0, &t), GATE_PASS,
	    "lock of a dead process recovered");
	printf("# recovered in %lld ms\n", (long long)(mono_ms() - t0));
	gate_release(g, &t);
	gate_free(g);
	munmap(mem, sz);
}

/*
 * Two processes share one region and hammer admit/release on 3 IPs of
 * one /24. Each counts its live tickets in a shared array after admit and
 * before release, so the array never exceeds what the gate counts: any
 * value over the limit is a violation.
 */
struct hammer {
	_Atomic int	live_ip[3];
	_Atomic int	live_net;
	_Atomic int	max_ip, max_net, violations;
	_Atomic long	admitted, refused;
};

static void
hammer(struct gate *g, struct hammer *h, int worker, int rounds)
{
	struct gate_ticket t[8];
	int nt = 0, i, k, held_ip[8];
	unsigned seed = (unsigned)worker * 7919u + 1;
	static const char *ips[3] = { "10.90.0.1", "10.90.0.2", "10.90.0.3" };

	gate_set_worker(g, worker);
	for (i = 0; i < rounds; i++) {
		seed = seed * 1103515245u + 12345u;
		if (nt < 8 && (nt == 0 || (seed >> 16) % 2 == 0)) {
			struct netaddr a;
			k = (int)((seed >> 8) % 3);
			net_parse_ip(ips[k], &a);
			if (gate_admit(g, &a, 0, &t[nt]) == GATE_PASS) {
				int v = atomic_fetch_add(&h->live_ip[k], 1) + 1;
				int n = atomic_fetch_add(&h->live_net, 1) + 1;
				if (v > 4 || n > 6)
					atomic_fetch_add(&h->violations, 1);
				if (v > atomic_load(&h->max_ip))
					atomic_store(&h->max_ip, v);
				if (n > atomic_load(&h->max_net))
					atomic_store(&h->max_net, n);
				held_ip[nt++] = k;
				atomic_fetch_add(&h->admitted, 1);
			} else
				atomic_fetch_add(&h->refused, 1);
		} else {
			k = (int)((seed >> 8) % (unsigned)nt);
			atomic_fetch_sub(&h->live_ip[held_ip[k]], 1);
			atomic_fetch_sub(&h->live_net, 1);
			gate_release(g, &t[k]);
			t[k] = t[nt - 1];
			held_ip[k] = held_ip[nt - 1];
			nt--;
		}
	}
	while (nt > 0) {
		nt--;
		atomic_fetch_sub(&h->live_ip[held_ip[nt]], 1);
		atomic_fetch_sub(&h->live_net, 1);
		gate_release(g, &t[nt]);
	}
}

static void
test_processes(void)
{
	struct gate_conf gc;
	size_t sz = gate_region_size(GATE_MIN_SLOTS);
	void *mem = region(sz);
	struct hammer *h = region(sizeof(*h));
	struct gate *g;
	struct gate_stats st;
	pid_t pid[2];
	int i, status, clean = 1;

	gate_conf_default(&gc);
	gc.ip_concurrency = 4;
	gc.net_concurrency = 6;
	gc.ip_rate = gc.net_rate = 0;
	g = gate_new_conf(NULL, &gc, mem, sz);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			hammer(g, h, i + 1, 200000);
			_exit(0);
		}
	}
	for (i = 0; i < 2; i++) {
		waitpid(pid[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			clean = 0;
	}
	ok(clean, "both workers ran to the end");
	is_int(atomic_load(&h->violations), 0,
	    "limits never exceeded across 2 processes");
	is_int(atomic_load(&h->max_ip), 4, "per-IP limit reached exactly (4)");
	is_int(atomic_load(&h->max_net), 6, "per-/24 limit reached exactly (6)");
	ok(atomic_load(&h->refused) > 0, "some admits refused (%ld of %ld)",
	    (long)atomic_load(&h->refused),
	    (long)(atomic_load(&h->admitted) + atomic_load(&h->refused)));
	gate_stats(g, &st);
	is_int(st.sessions, 0, "no session left counted");
	ok(st.verdicts[GATE_PASS] == (uint64_t)atomic_load(&h->admitted) &&
	    st.verdicts[GATE_LIMIT_CONN] == (uint64_t)atomic_load(&h->refused),
	    "shared counters match both processes' view");
	gate_free(g);
	munmap(mem, sz);
	munmap(h, sizeof(*h));
}

static double
ns_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e9 +
	    (double)(b.tv_nsec - a->tv_nsec);
}

/* The per-connection cost, printed as diagnostics (not a pass/fail
 * threshold beyond a generous sanity bound). */
static void
test_cost(void)
{
	enum { N = 1000000 };
	struct config *cf = config_new();
	struct gate_conf gc;
	size_t sz = gate_region_size(GATE_DEFAULT_SLOTS);
	void *mem = region(sz);
	struct gate *g;
	struct gate_ticket t;
	struct netaddr a[1024];
	struct timespec t0;
	double ns, ns_pair, ns_lists;
	int i;

	gate_conf_default(&gc);
	gc.max_sessions = 100000;
	gc.ip_rate = gc.net_rate = 0;
	g = gate_new_conf(NULL, &gc, mem, sz);
	for (i = 0; i < 1024; i++) {
		char s[32];
		snprintf(s, sizeof(s), "10.%d.%d.%d", i % 7, i / 7, i % 250);
		net_parse_ip(s, &a[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < N; i++) {
		gate_admit(g, &a[i & 1023], i, &t);
		gate_release(g, &t);
	}
	ns_pair = ns_since(&t0) / N;
	/* admit alone: refusals at the per-IP limit cost the same lookups */
	gc.ip_concurrency = 1;
	gate_reload(g, NULL, &gc);
	for (i = 0; i < 1024; i++)
		gate_admit(g, &a[i], 0, &t);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < N; i++)
		gate_admit(g, &a[i & 1023], i, &t);
	ns = ns_since(&t0) / N;
	/* with 4096 allow and 4096 block entries of mixed lengths */
	for (i = 0; i < CONF_MAX_CIDRS; i++) {
		char s[64], why[64];
		snprintf(s, sizeof(s), "172.%d.%d.0/%d", 16 + i % 16,
		    (i / 16) % 256, 24);
		net_parse_cidr(s, &cf->block[cf->nblock++], why, sizeof(why));
		snprintf(s, sizeof(s), "2001:db8:%x::/%d", i, 48 + i % 17);
		if (net_parse_cidr(s, &cf->allow[cf->nallow], why,
		    sizeof(why)) == 0)
			cf->nallow++;
	}
	gc.ip_concurrency = 1000;
	gate_reload(g, cf, &gc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < N; i++) {
		gate_admit(g, &a[i & 1023], i, &t);
		gate_release(g, &t);
	}
	ns_lists = ns_since(&t0) / N;
	printf("# gate_admit+gate_release: %.0f ns per connection\n", ns_pair);
	printf("# gate_admit alone (refused at the IP limit): %.0f ns\n", ns);
	printf("# admit+release with %d block + %d allow CIDRs: %.0f ns\n",
	    cf->nblock, cf->nallow, ns_lists);
	ok(ns_pair < 20000 && ns_lists < 20000,
	    "admission costs well under 20 us per connection");
	gate_free(g);
	munmap(mem, sz);
	config_free(cf);
}

int
main(void)
{
	test_verdicts();
	test_limits();
	test_table();
	test_session();
	test_dead_owner();
	test_processes();
	test_cost();
	return done_testing();
}
