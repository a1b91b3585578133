/*
 * dns_test.c — the DNS message codec: queries byte for byte, replies
 * parsed from crafted packets, and hostile packets (compression loops,
 * forward pointers, truncation at every byte, oversize counts, spoofed
 * ids and questions) refused without reading out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "tap.h"
#include "../gate/dnstest.h"

#define Q "2.0.0.127.bl.test"

static void
test_query(void)
{
	uint8_t buf[DNS_QUERY_MAX];
	static const uint8_t want[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		1, '2', 1, '0', 1, '0', 3, '1', '2', '7', 2, 'b', 'l',
		4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	char big[400];
	int n;

	n = dns_query_build(buf, sizeof(buf), 0x1234, Q, DNS_T_A);
	is_int(n, sizeof(want), "query length");
	ok(n == (int)sizeof(want) && memcmp(buf, want, sizeof(want)) == 0,
	    "query bytes (id, RD, QDCOUNT 1, labels, A IN)");
	is_int(dns_query_build(buf, sizeof(buf), 1, Q ".", DNS_T_A), n,
	    "trailing dot accepted");
	is_int(dns_query_build(buf, sizeof(buf), 1, "a..b", DNS_T_A),
	    DNS_E_ARG, "empty label refused");
	is_int(dns_query_build(buf, sizeof(buf), 1, "", DNS_T_A), DNS_E_ARG,
	    "empty name refused");
	is_int(dns_query_build(buf, sizeof(buf), 1, "a b.test", DNS_T_A),
	    DNS_E_ARG, "space refused");
	memset(big, 'a', 64);
	strcpy(big + 64, ".test");
	is_int(dns_query_build(buf, sizeof(buf), 1, big, DNS_T_A), DNS_E_ARG,
	    "64-byte label refused");
	for (n = 0; n < 130; n++) {
		big[2 * n] = 'a';
		big[2 * n + 1] = '.';
	}
	strcpy(big + 260, "t");
	is_int(dns_query_build(buf, sizeof(buf), 1, big, DNS_T_A), DNS_E_ARG,
	    "name over 255 bytes refused");
	is_int(dns_query_build(buf, 20, 1, Q, DNS_T_A), DNS_E_ARG,
	    "small buffer refused");
}

static void
test_reverse(void)
{
	struct netaddr a;
	char out[DNS_TEXT_MAX + 1];

	net_parse_ip("192.0.2.1", &a);
	ok(dns_reverse_name(&a, "bl.test", out, sizeof(out)) == 0 &&
	    strcmp(out, "1.2.0.192.bl.test") == 0, "IPv4 reverse name");
	net_parse_ip("2001:db8::567:89ab", &a);
	ok(dns_reverse_name(&a, "bl.test.", out, sizeof(out)) == 0,
	    "IPv6 reverse name");
	is_str(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
	    "1.0.0.2.bl.test", "IPv6 nibbles, zone without trailing dot");
	ok(dns_reverse_name(&a, "bl.test", out, 20) == -1,
	    "small buffer refused");
}

static int
parse(struct mb *m, struct dns_reply *r)
{
	return dns_reply_parse(m->b, m->n, 0x4242, Q, DNS_T_A, r);
}

static void
test_replies(void)
{
	struct mb m;
	struct dns_reply r;
	size_t cut;
	int e, all_short = 1;

	mb_header(&m, 0x4242, 0, 0, 1, 2, 0, 0);
	mb_question(&m, Q, 1);
	mb_a(&m, 300, 127, 0, 0, 2);
	mb_a(&m, 100, 127, 0, 0, 4);
	is_int(parse(&m, &r), DNS_OK, "two A answers parse");
	is_int(r.nanswers, 2, "two answers kept");
	ok(r.an[0].a[3] == 2 && r.an[1].a[3] == 4, "answer addresses");
	is_int(r.an[1].ttl, 100, "answer TTL");
	is_int(r.rcode, DNS_R_NOERROR, "NOERROR");

	/* every shorter prefix is refused, none read past the end */
	for (cut = 0; cut < m.n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, m.b, cut);
		e = dns_reply_parse(copy, cut, 0x4242, Q, DNS_T_A, &r);
		if (e == DNS_OK)
			all_short = 0;
		free(copy);
	}
	ok(all_short, "every truncation of a good reply is refused");

	mb_reply(&m, 0x4242, Q, 0, 120, 0);
	is_int(parse(&m, &r), DNS_OK, "NXDOMAIN with SOA parses");
	is_int(r.rcode, DNS_R_NXDOMAIN, "rcode NXDOMAIN");
	ok(r.have_soa && r.soa_ttl == 120, "negative TTL from SOA");

	mb_reply(&m, 0x4242, Q, 0, 0, 1);
	is_int(parse(&m, &r), DNS_OK, "TC reply parses");
	ok(r.tc && r.nanswers == 0, "TC flag seen, answers not read");

	/* CNAME chain */
	mb_header(&m, 0x4242, 0, 0, 1, 2, 0, 0);
	mb_question(&m, Q, 1);
	mb_ptr(&m, 12); mb_u16(&m, 5); mb_u16(&m, 1); mb_u32(&m, 60);
	mb_u16(&m, 8); mb_name(&m, "x.test");	/* 1+1+1+4+1 bytes */
	mb_name(&m, "x.test"); mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 60);
	mb_u16(&m, 4); mb_u8(&m, 127); mb_u8(&m, 0); mb_u8(&m, 0); mb_u8(&m, 9);
	e = parse(&m, &r);
	if (!ok(e == DNS_OK && r.nanswers == 1 && r.an[0].a[3] == 9,
	    "A found through a CNAME"))
		printf("# e=%d n=%d\n", e, r.nanswers);

	/* records for other names are ignored */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	mb_name(&m, "other.test"); mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 9);
	mb_u16(&m, 4); mb_u32(&m, 0x7f000002);
	ok(parse(&m, &r) == DNS_OK && r.nanswers == 0,
	    "answer for another owner ignored");

	/* TXT */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, DNS_T_TXT);
	mb_ptr(&m, 12); mb_u16(&m, 16); mb_u16(&m, 1); mb_u32(&m, 9);
	mb_u16(&m, 7); mb_u8(&m, 6);
	memcpy(m.b + m.n, "why\x01us", 6); m.n += 6;
	e = dns_reply_parse(m.b, m.n, 0x4242, Q, DNS_T_TXT, &r);
	ok(e == DNS_OK && r.nanswers == 1 && strcmp(r.an[0].txt, "why?us") == 0,
	    "TXT record, control byte masked");
}

static void
test_hostile(void)
{
	struct mb m;
	struct dns_reply r;
	char name[DNS_TEXT_MAX + 1];
	size_t off;

	mb_reply(&m, 0x4243, Q, 2, 60, 0);
	is_int(parse(&m, &r), DNS_E_ID, "wrong id refused");

	mb_reply(&m, 0x4242, "3.0.0.127.bl.test", 2, 60, 0);
	is_int(parse(&m, &r), DNS_E_QUESTION, "answer to another question");

	mb_reply(&m, 0x4242, Q, 2, 60, 0);
	m.b[2] &= 0x7f;
	is_int(parse(&m, &r), DNS_E_NOTREPLY, "QR clear refused");

	mb_reply(&m, 0x4242, Q, 2, 60, 0);
	m.b[5] = 2;
	is_int(parse(&m, &r), DNS_E_QUESTION, "QDCOUNT 2 refused");

	mb_reply(&m, 0x4242, Q, 2, 60, 0);
	m.b[6] = 0xff; m.b[7] = 0xff;
	is_int(parse(&m, &r), DNS_E_COUNT, "ANCOUNT 65535 refused");

	mb_reply(&m, 0x4242, Q, 2, 60, 0);
	m.b[7] = 3;	/* says 3, holds 1 (and enough bytes for none) */
	ok(parse(&m, &r) < 0, "ANCOUNT beyond the records refused");

	/* a pointer to itself */
	mb_header(&m, 0x4242, 0, 0, 1, 0, 0, 0);
	mb_ptr(&m, 12);
	mb_u16(&m, 1); mb_u16(&m, 1);
	is_int(parse(&m, &r), DNS_E_NAME, "self-pointer refused");

	/* two pointers pointing at each other (owner name of an answer) */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	{
		size_t at = m.n;
		mb_ptr(&m, (unsigned)at + 2);
		mb_ptr(&m, (unsigned)at);
		mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 1); mb_u16(&m, 4);
		mb_u32(&m, 0x7f000002);
	}
	is_int(parse(&m, &r), DNS_E_NAME, "pointer loop refused");

	/* a forward pointer */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	mb_ptr(&m, (unsigned)m.n + 10);
	mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 1); mb_u16(&m, 4);
	mb_u32(&m, 0x7f000002);
	is_int(parse(&m, &r), DNS_E_NAME, "forward pointer refused");

	/* a chain of 17 backward pointers (each one legal on its own) */
	m.n = 0;
	mb_u8(&m, 1); mb_u8(&m, 'a'); mb_u8(&m, 0);
	for (int i = 0; i < 17; i++)
		mb_ptr(&m, i == 0 ? 0 : (unsigned)(3 + 2 * (i - 1)));
	off = m.n - 2;
	is_int(dns_name_decode(m.b, m.n, &off, name, sizeof(name)),
	    DNS_E_NAME, "more than DNS_MAX_JUMPS pointers refused");
	off = 3 + 2 * 14;	/* 16 jumps: allowed */
	ok(dns_name_decode(m.b, m.n, &off, name, sizeof(name)) == DNS_OK &&
	    strcmp(name, "a") == 0 && off == 3 + 2 * 15,
	    "16 pointers followed, offset after the first");

	/* reserved label types 0x40 / 0x80 */
	mb_header(&m, 0x4242, 0, 0, 1, 0, 0, 0);
	mb_u8(&m, 0x41);
	mb_u16(&m, 1); mb_u16(&m, 1);
	is_int(parse(&m, &r), DNS_E_NAME, "label type 0x40 refused");

	/* a name longer than 255 through compression */
	m.n = 0;
	for (int i = 0; i < 5; i++) {
		mb_u8(&m, 63);
		for (int k = 0; k < 63; k++)
			mb_u8(&m, 'x');
	}
	mb_u8(&m, 0);
	off = 0;
	is_int(dns_name_decode(m.b, m.n, &off, name, sizeof(name)),
	    DNS_E_NAME, "name over 255 bytes refused");

	/* A record with rdlength 5 */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	mb_ptr(&m, 12); mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 1);
	mb_u16(&m, 5); mb_u32(&m, 0x7f000002); mb_u8(&m, 0);
	is_int(parse(&m, &r), DNS_E_RDATA, "A with rdlength 5 refused");

	/* rdlength past the end */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	mb_ptr(&m, 12); mb_u16(&m, 1); mb_u16(&m, 1); mb_u32(&m, 1);
	mb_u16(&m, 400); mb_u32(&m, 0x7f000002);
	is_int(parse(&m, &r), DNS_E_SHORT, "rdlength past the end refused");

	/* TTL with the top bit set reads as 0 */
	mb_header(&m, 0x4242, 0, 0, 1, 1, 0, 0);
	mb_question(&m, Q, 1);
	mb_a(&m, 0x80000001u, 127, 0, 0, 2);
	ok(parse(&m, &r) == DNS_OK && r.an[0].ttl == 0, "TTL >= 2^31 is 0");

	/* more answers than kept */
	mb_header(&m, 0x4242, 0, 0, 1, 20, 0, 0);
	mb_question(&m, Q, 1);
	for (int i = 0; i < 20; i++)
		mb_a(&m, 60, 127, 0, 0, (unsigned)i);
	ok(parse(&m, &r) == DNS_OK && r.nanswers == DNS_MAX_ANSWERS,
	    "answers beyond DNS_MAX_ANSWERS dropped");

	/* random garbage never crashes and is never accepted as ours */
	{
		unsigned seed = 12345, accepted = 0;
		for (int i = 0; i < 20000; i++) {
			size_t len = 12 + (seed % 200);
			for (size_t k = 0; k < len; k++) {
				seed = seed * 1103515245u + 12345u;
				m.b[k] = (uint8_t)(seed >> 16);
			}
			m.b[0] = 0x42; m.b[1] = 0x42;
			if (dns_reply_parse(m.b, len, 0x4242, Q, DNS_T_A, &r) ==
			    DNS_OK)
				accepted++;
		}
		is_int(accepted, 0, "20000 random packets refused");
	}
	/* mutate every byte of a good reply: no crash (ASan-free check:
	 * the parse is only required to return) */
	{
		struct mb good;
		int done = 1;
		mb_reply(&good, 0x4242, Q, 2, 60, 0);
		for (size_t k = 0; k < good.n; k++)
			for (int v = 0; v < 256; v += 17) {
				m = good;
				m.b[k] = (uint8_t)v;
				(void)parse(&m, &r);
				if (r.nanswers > DNS_MAX_ANSWERS)
					done = 0;
			}
		ok(done, "every single-byte mutation parsed within bounds");
	}
}

int
main(void)
{
	test_query();
	test_reverse();
	test_replies();
	test_hostile();
	ok(dns_name_equal("A.Test.", "a.test"), "names compare case-free");
	ok(!dns_name_equal("a.test", "a.tes"), "different names differ");
	is_str(dns_rcode_name(3), "NXDOMAIN", "rcode name");
	return done_testing();
}
