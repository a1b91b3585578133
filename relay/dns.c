/*
 * dns.c — see dns.h. RFC 1035 messages for DNSBL lookups: one query out,
 * one strictly parsed reply in. Pure: no I/O, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "dns.h"

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

int
dns_name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int
dns_query_build(uint8_t *buf, size_t size, uint16_t id, const char *name,
    uint16_t qtype)
{
	size_t pos = DNS_HEADER_LEN, nlen = strlen(name), i = 0;

	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || size < DNS_QUERY_MAX)
		return DNS_E_ARG;
	memset(buf, 0, DNS_HEADER_LEN);
	put16(buf, id);
	buf[2] = 0x01;			/* RD */
	put16(buf + 4, 1);		/* QDCOUNT */
	while (i < nlen) {
		size_t start = i, l;
		while (i < nlen && name[i] != '.') {
			int c = (unsigned char)name[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return DNS_E_ARG;
			i++;
		}
		l = i - start;
		if (l == 0 || l > DNS_LABEL_MAX)
			return DNS_E_ARG;
		/* the wire name, root label included, stays <= 255 */
		if (pos - DNS_HEADER_LEN + 1 + l + 1 > DNS_NAME_MAX)
			return DNS_E_ARG;
		buf[pos++] = (uint8_t)l;
		memcpy(buf + pos, name + start, l);
		pos += l;
		if (i < nlen)
			i++;	/* the dot */
		if (i == nlen && name[i - 1] == '.')
			return DNS_E_ARG;	/* "a..b" ends up here too */
	}
	buf[pos++] = 0;
	put16(buf + pos, qtype);
	put16(buf + pos + 2, DNS_C_IN);
	return (int)(pos + 4);
}

int
dns_name_decode(const uint8_t *msg, size_t len, size_t *off, char *out,
    size_t size)
{
	size_t pos = *off, lowest = *off, after = 0, wire = 0, o = 0;
	int jumps = 0;

	if (size == 0)
		return DNS_E_ARG;
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return DNS_E_SHORT;
		c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;
			if (pos + 1 >= len)
				return DNS_E_SHORT;
			ptr = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			if (jumps == 0)
				after = pos + 2;
			/* only strictly backward, below everything seen:
			 * this alone rules out loops; the count bounds work */
			if (++jumps > DNS_MAX_JUMPS || ptr >= lowest)
				return DNS_E_NAME;
			pos = lowest = ptr;
			continue;
		}
		if (c & 0xc0)
			return DNS_E_NAME;	/* 0x40, 0x80: reserved */
		if (c == 0) {
			pos++;
			break;
		}
		if (pos + 1 + c > len)
			return DNS_E_SHORT;
		wire += 1u + c;
		if (wire + 1 > DNS_NAME_MAX)
			return DNS_E_NAME;
		if (o + (o > 0) + c + 1 > size)
			return DNS_E_NAME;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < c; k++) {
			int ch = msg[pos + 1 + k];
			/* keep text unambiguous: no dots, controls or 8-bit */
			out[o++] = (ch <= 0x20 || ch >= 0x7f || ch == '.') ?
			    '?' : (char)lower(ch);
		}
		pos += 1u + c;
	}
	out[o] = '\0';
	*off = jumps ? after : pos;
	return DNS_OK;
}

/* Skips (and checks) one resource record header; fills the fixed part. */
struct rrhdr {
	char		owner[DNS_TEXT_MAX + 1];
	uint16_t	type, class;
	uint32_t	ttl;
	size_t		rdoff, rdlen;
};

static int
rr_read(const uint8_t *msg, size_t len, size_t *off, struct rrhdr *h)
{
	int e;

	if ((e = dns_name_decode(msg, len, off, h->owner,
	    sizeof(h->owner))) != DNS_OK)
		return e;
	if (*off + 10 > len)
		return DNS_E_SHORT;
	h->type = get16(msg + *off);
	h->class = get16(msg + *off + 2);
	h->ttl = get32(msg + *off + 4);
	if (h->ttl > 0x7fffffffu)	/* RFC 2181 8: treat as zero */
		h->ttl = 0;
	h->rdlen = get16(msg + *off + 8);
	h->rdoff = *off + 10;
	if (h->rdoff + h->rdlen > len)
		return DNS_E_SHORT;
	*off = h->rdoff + h->rdlen;
	return DNS_OK;
}

int
dns_reply_parse(const uint8_t *msg, size_t len, uint16_t id,
    const char *name, uint16_t qtype, struct dns_reply *out)
{
	char qname[DNS_TEXT_MAX + 1], want[DNS_TEXT_MAX + 1];
	size_t off = DNS_HEADER_LEN, left;
	unsigned qd, an, ns, ar, i;
	struct rrhdr h;
	int e, cnames = 0;

	memset(out, 0, sizeof(*out));
	if (len < DNS_HEADER_LEN)
		return DNS_E_SHORT;
	out->id = get16(msg);
	if (out->id != id)
		return DNS_E_ID;
	if (!(msg[2] & 0x80) || ((msg[2] >> 3) & 0x0f) != 0)
		return DNS_E_NOTREPLY;
	out->aa = (msg[2] & 0x04) != 0;
	out->tc = (msg[2] & 0x02) != 0;
	out->rcode = msg[3] & 0x0f;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	ns = get16(msg + 8);
	ar = get16(msg + 10);
	if (qd != 1)
		return DNS_E_QUESTION;
	/* smallest question is 5 bytes, smallest record 11 */
	left = len - DNS_HEADER_LEN;
	if (5 + ((size_t)an + ns + ar) * 11 > left && !out->tc)
		return DNS_E_COUNT;
	if ((e = dns_name_decode(msg, len, &off, qname, sizeof(qname))) != 0)
		return e;
	if (off + 4 > len)
		return DNS_E_SHORT;
	if (!dns_name_equal(qname, name) || get16(msg + off) != qtype ||
	    get16(msg + off + 2) != DNS_C_IN)
		return DNS_E_QUESTION;
	off += 4;
	if (out->tc)
		return DNS_OK;	/* the rest may be cut anywhere: use TCP */
	if (strlen(name) >= sizeof(want))
		return DNS_E_ARG;
	memcpy(want, name, strlen(name) + 1);

	for (i = 0; i < an; i++) {
		if ((e = rr_read(msg, len, &off, &h)) != DNS_OK)
			return e;
		if (h.class != DNS_C_IN || !dns_name_equal(h.owner, want))
			continue;
		if (h.type == DNS_T_CNAME && qtype != DNS_T_CNAME) {
			size_t r = h.rdoff;
			char target[DNS_TEXT_MAX + 1];
			if ((e = dns_name_decode(msg, len, &r, target,
			    sizeof(target))) != DNS_OK)
				return e;
			if (r != h.rdoff + h.rdlen)
				return DNS_E_RDATA;
			if (++cnames > DNS_MAX_CNAMES)
				return DNS_E_NAME;
			memcpy(want, target, sizeof(want));
			continue;
		}
		if (h.type != qtype || out->nanswers >= DNS_MAX_ANSWERS)
			continue;
		struct dns_rr *rr = &out->an[out->nanswers];
		rr->type = h.type;
		rr->ttl = h.ttl;
		if (h.type == DNS_T_A) {
			if (h.rdlen != 4)
				return DNS_E_RDATA;
			memcpy(rr->a, msg + h.rdoff, 4);
		} else if (h.type == DNS_T_TXT) {
			size_t sl, k;
			if (h.rdlen < 1 || (sl = msg[h.rdoff]) + 1 > h.rdlen)
				return DNS_E_RDATA;
			if (sl > DNS_TXT_KEEP)
				sl = DNS_TXT_KEEP;
			for (k = 0; k < sl; k++) {
				int c = msg[h.rdoff + 1 + k];
				rr->txt[k] = (c < 0x20 || c >= 0x7f) ?
				    '?' : (char)c;
			}
			rr->txt[sl] = '\0';
			rr->txtlen = (uint8_t)sl;
		}
		out->nanswers++;
	}
	for (i = 0; i < ns; i++) {
		if ((e = rr_read(msg, len, &off, &h)) != DNS_OK)
			return e;
		if (h.type == DNS_T_SOA && h.class == DNS_C_IN &&
		    !out->have_soa) {
			char tmp[DNS_TEXT_MAX + 1];
			size_t r = h.rdoff;
			uint32_t min;
			if ((e = dns_name_decode(msg, len, &r, tmp,
			    sizeof(tmp))) != DNS_OK ||
			    (e = dns_name_decode(msg, len, &r, tmp,
			    sizeof(tmp))) != DNS_OK)
				return e;
			if (r + 20 != h.rdoff + h.rdlen)
				return DNS_E_RDATA;
			min = get32(msg + r + 16);
			if (min > 0x7fffffffu)
				min = 0;
			out->have_soa = 1;
			out->soa_ttl = h.ttl < min ? h.ttl : min;
		}
	}
	for (i = 0; i < ar; i++)
		if ((e = rr_read(msg, len, &off, &h)) != DNS_OK)
			return e;
	return DNS_OK;
}

int
dns_reverse_name(const struct netaddr *a, const char *zone, char *out,
    size_t size)
{
	static const char hex[] = "0123456789abcdef";
	char buf[DNS_TEXT_MAX + 1 + 64 + 1];
	size_t o = 0, zl = strlen(zone);
	int i;

	if (zl > 0 && zone[zl - 1] == '.')
		zl--;
	if (zl == 0 || zl > DNS_TEXT_MAX)
		return -1;
	if (a->family == AF_INET)
		o = (size_t)snprintf(buf, sizeof(buf), "%u.%u.%u.%u.",
		    a->a[3], a->a[2], a->a[1], a->a[0]);
	else if (a->family == AF_INET6)
		for (i = 15; i >= 0; i--) {
			buf[o++] = hex[a->a[i] & 0x0f];
			buf[o++] = '.';
			buf[o++] = hex[a->a[i] >> 4];
			buf[o++] = '.';
		}
	else
		return -1;
	if (o + zl > DNS_TEXT_MAX - 1 || o + zl + 1 > size)
		return -1;
	memcpy(buf + o, zone, zl);
	buf[o + zl] = '\0';
	memcpy(out, buf, o + zl + 1);
	return 0;
}

const char *
dns_err_text(int err)
{
	switch (err) {
	case DNS_OK: return "ok";
	case DNS_E_SHORT: return "message truncated";
	case DNS_E_NOTREPLY: return "not a reply";
	case DNS_E_ID: return "id mismatch";
	case DNS_E_QUESTION: return "question mismatch";
	case DNS_E_NAME: return "bad name";
	case DNS_E_COUNT: return "bad record counts";
	case DNS_E_RDATA: return "bad record data";
	case DNS_E_ARG: return "bad argument";
	}
	return "unknown error";
}

const char *
dns_rcode_name(int rcode)
{
	switch (rcode) {
	case DNS_R_NOERROR: return "NOERROR";
	case DNS_R_FORMERR: return "FORMERR";
	case DNS_R_SERVFAIL: return "SERVFAIL";
	case DNS_R_NXDOMAIN: return "NXDOMAIN";
	case DNS_R_NOTIMP: return "NOTIMP";
	case DNS_R_REFUSED: return "REFUSED";
	}
	return "RCODE?";
}
