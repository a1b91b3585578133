/*
 * dnstest.h — a tiny DNS message builder for the gate tests (dns_test,
 * dnsbl_test): header, question, records, compression pointers, all by
 * hand so a test can also write what no server should ever send.
 * Header-only; test code, never linked into mxgate.
 */
#ifndef MXGATE_DNSTEST_H
#define MXGATE_DNSTEST_H

#include <stdint.h>
#include <string.h>

struct mb {
	uint8_t	b[8192];
	size_t	n;
};

static void __attribute__((unused))
mb_u8(struct mb *m, unsigned v)
{
	if (m->n < sizeof(m->b))
		m->b[m->n++] = (uint8_t)v;
}

static void __attribute__((unused))
mb_u16(struct mb *m, unsigned v)
{
	mb_u8(m, v >> 8);
	mb_u8(m, v);
}

static void __attribute__((unused))
mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, v >> 16);
	mb_u16(m, v & 0xffff);
}

/* Uncompressed name ("" is the root). */
static void __attribute__((unused))
mb_name(struct mb *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		mb_u8(m, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			mb_u8(m, (unsigned char)name[i]);
		name += l;
		if (*name == '.')
			name++;
	}
	mb_u8(m, 0);
}

static void __attribute__((unused))
mb_ptr(struct mb *m, unsigned off)
{
	mb_u16(m, 0xc000 | off);
}

/* Header with flags: QR set, RD and RA set, rcode, tc. */
static void __attribute__((unused))
mb_header(struct mb *m, unsigned id, int rcode, int tc, unsigned qd,
    unsigned an, unsigned ns, unsigned ar)
{
	m->n = 0;
	mb_u16(m, id);
	mb_u8(m, 0x81 | (tc ? 0x02 : 0));
	mb_u8(m, 0x80 | (unsigned)rcode);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void __attribute__((unused))
mb_question(struct mb *m, const char *name, unsigned type)
{
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, 1);
}

/* An A record owned by the question name (pointer to offset 12). */
static void __attribute__((unused))
mb_a(struct mb *m, uint32_t ttl, unsigned a, unsigned b, unsigned c,
    unsigned d)
{
	mb_ptr(m, 12);
	mb_u16(m, 1);
	mb_u16(m, 1);
	mb_u32(m, ttl);
	mb_u16(m, 4);
	mb_u8(m, a); mb_u8(m, b); mb_u8(m, c); mb_u8(m, d);
}

/* An SOA record for zone (uncompressed) with the given TTL and MINIMUM. */
static void __attribute__((unused))
mb_soa(struct mb *m, const char *zone, uint32_t ttl, uint32_t minimum)
{
	size_t rdlen_at;

	mb_name(m, zone);
	mb_u16(m, 6);
	mb_u16(m, 1);
	mb_u32(m, ttl);
	rdlen_at = m->n;
	mb_u16(m, 0);
	mb_name(m, "ns.test");
	mb_name(m, "hostmaster.test");
	mb_u32(m, 1); mb_u32(m, 3600); mb_u32(m, 600); mb_u32(m, 86400);
	mb_u32(m, minimum);
	m->b[rdlen_at] = (uint8_t)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (uint8_t)(m->n - rdlen_at - 2);
}

/* The standard reply: listed (a != 0: one A 127.0.0.a) or NXDOMAIN with
 * an SOA (negative TTL = min(ttl, minimum)). */
static void __attribute__((unused))
mb_reply(struct mb *m, unsigned id, const char *qname, unsigned a,
    uint32_t ttl, int tc)
{
	if (a) {
		mb_header(m, id, 0, tc, 1, tc ? 0 : 1, 0, 0);
		mb_question(m, qname, 1);
		if (!tc)
			mb_a(m, ttl, 127, 0, 0, a);
	} else {
		mb_header(m, id, 3, tc, 1, 0, tc ? 0 : 1, 0);
		mb_question(m, qname, 1);
		if (!tc)
			mb_soa(m, "test", ttl, ttl);
	}
}

#endif
