/*
 * addr.c — see addr.h. Strict envelope path parsing: owns no state, never
 * allocates, never accepts a byte of a path without looking at it (an
 * escaped byte in a quoted local part included: RFC 5321 quoted-pairSMTP
 * is %d92 %d32-126 only) and never accepts a domain literal that is not
 * an IPv4 or IPv6 address.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "util.h"

static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	/* RFC 5322 atext minus '%' and '!', which we refuse separately */
	return strchr("#$&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

size_t
addr_utf8_char(const unsigned char *p, size_t n, unsigned *out)
{
	size_t len, i;
	unsigned cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;	/* ASCII, a continuation byte, C0/C1, F5.. */
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	*out = cp;
	return len;
}

/* The length of the well-formed UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned cp;

	return addr_utf8_char(p, n, &cp);
}

int
addr_is_utf8(const char *addr)
{
	for (; *addr; addr++)
		if ((unsigned char)*addr >= 128)
			return 1;
	return 0;
}

/* LDH labels; with utf8, a label may also hold UTF-8 (a U-label, its
 * length counted in octets). */
static int
domain_valid(const char *d, int utf8)
{
	size_t len = strlen(d), label = 0, u;
	const char *p;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return 0;
	for (p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 128 && utf8 &&
		    (u = utf8_len((const unsigned char *)p, strlen(p))) > 0) {
			if ((label += u) > 63)
				return 0;
			p += u - 1;
			continue;
		}
		if (c == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
		if (c == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && p[-1] != '-';
}

int
addr_domain_valid(const char *d)
{
	return domain_valid(d, 0);
}

/* "[1.2.3.4]" or "[IPv6:...]" (RFC 5321 4.1.3) holding an address that
 * parses: kept as a literal, never routed. General address literals
 * ("[tag:...]") and anything else are refused. */
static int
domain_literal_valid(const char *d, size_t len)
{
	char ip[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	size_t n;

	if (len < 3 || d[0] != '[' || d[len - 1] != ']')
		return 0;
	d++;
	n = len - 2;
	if (n > 5 && strncasecmp(d, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(ip))
			return 0;
		memcpy(ip, d + 5, n - 5);
		ip[n - 5] = '\0';
		return inet_pton(AF_INET6, ip, bin) == 1;
	}
	if (n >= sizeof(ip))
		return 0;
	memcpy(ip, d, n);
	ip[n] = '\0';
	return inet_pton(AF_INET, ip, bin) == 1;
}

enum addr_status
addr_parse_path(const char *s, size_t len, int flags,
    struct smtp_path *out, size_t *consumed)
{
	const char *end, *at = NULL, *p, *dom;
	size_t inner, llen, dlen, u;
	int quoted = 0, utf8 = flags & ADDR_UTF8;

	memset(out, 0, sizeof(*out));
	if (len < 2 || s[0] != '<')
		return ADDR_SYNTAX;
	/* find the closing '>' outside quotes; reject 8-bit (but UTF-8 in
	 * an SMTPUTF8 transaction), CTLs */
	for (p = s + 1; p < s + len; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 128) {
			if (!utf8)
				return ADDR_NON_ASCII;
			u = utf8_len((const unsigned char *)p,
			    (size_t)(s + len - p));
			if (u == 0)
				return ADDR_SYNTAX;
			p += u - 1;
			continue;
		}
		if (c < 32 || c == 127)
			return ADDR_SYNTAX;
		if (c == '"' )
			quoted = !quoted;
		else if (c == '\\' && quoted) {
			/* the escaped byte: quoted-pairSMTP, %d32-126 */
			if (++p >= s + len)
				return ADDR_SYNTAX;
			c = (unsigned char)*p;
			if (c >= 128)
				return ADDR_NON_ASCII;
			if (c < 32 || c == 127)
				return ADDR_SYNTAX;
		} else if (c == '>' && !quoted)
			break;
	}
	if (p >= s + len)
		return ADDR_SYNTAX;
	end = p;
	inner = (size_t)(end - s - 1);
	*consumed = inner + 2;
	if (inner == 0) {
		if (!(flags & ADDR_ALLOW_NULL))
			return ADDR_NULL_NOT_ALLOWED;
		out->is_null = 1;
		return ADDR_OK;
	}
	if (inner > ADDR_PATH_MAX)
		return ADDR_TOO_LONG;
	if (s[1] == '@')
		return ADDR_SOURCE_ROUTE;

	/* local part */
	p = s + 1;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if (*p == '@' || *p == '%' || *p == '!')
				return ADDR_QUOTED_HIDDEN;
			if (*p == ' ' || *p == '\\')
				return ADDR_QUOTED_HIDDEN;
		}
		if (p >= end)
			return ADDR_SYNTAX;
		p++;
		if (p >= end || *p != '@')
			return p >= end ? ADDR_NO_DOMAIN : ADDR_SYNTAX;
		at = p;
	} else {
		const char *q;
		for (q = p; q < end; q++) {
			if (*q == '@') {
				if (at != NULL)
					return ADDR_MULTI_AT;
				at = q;
			} else if (*q == '%' && at == NULL)
				return ADDR_PERCENT;
			else if (*q == '!' && at == NULL)
				return ADDR_BANG;
			else if (*q == ':' && at == NULL)
				return ADDR_SOURCE_ROUTE;
		}
		if (at == NULL)
			return ADDR_NO_DOMAIN;
		if (at == p || *p == '.' || at[-1] == '.')
			return ADDR_SYNTAX;
		for (q = p; q < at; q++) {
			if (*q == '.' && q[1] == '.')
				return ADDR_SYNTAX;
			if (*q != '.' && !is_atext((unsigned char)*q) &&
			    !(utf8 && (unsigned char)*q >= 128))
				return ADDR_SYNTAX;
		}
	}
	if (memchr(at + 1, '@', (size_t)(end - at - 1)) != NULL)
		return ADDR_MULTI_AT;
	llen = (size_t)(at - (s + 1));
	if (llen > ADDR_LOCAL_MAX)	/* quotes included (RFC 5321 4.5.3.1.1) */
		return ADDR_TOO_LONG;
	dom = at + 1;
	dlen = (size_t)(end - dom);
	if (dlen == 0)
		return ADDR_NO_DOMAIN;
	if (dlen > ADDR_DOMAIN_MAX)
		return ADDR_TOO_LONG;
	if (memchr(dom, '%', dlen) || memchr(dom, '!', dlen))
		return ADDR_BAD_DOMAIN;
	memcpy(out->domain, dom, dlen);
	out->domain[dlen] = '\0';
	if (out->domain[0] == '[') {
		if (!domain_literal_valid(out->domain, dlen))
			return ADDR_BAD_DOMAIN;
	} else if (!domain_valid(out->domain, utf8))
		return ADDR_BAD_DOMAIN;
	str_lower(out->domain);
	memcpy(out->local, s + 1, llen);
	out->local[llen] = '\0';
	memcpy(out->addr, s + 1, llen);
	out->addr[llen] = '@';
	memcpy(out->addr + llen + 1, out->domain, dlen + 1);
	return ADDR_OK;
}

enum addr_status
addr_check(const char *addr, int allow_null)
{
	char path[ADDR_PATH_MAX + 3];
	struct smtp_path p;
	size_t n = strnlen(addr, ADDR_PATH_MAX + 1), used;
	enum addr_status st;

	if (n > ADDR_PATH_MAX)
		return ADDR_TOO_LONG;
	path[0] = '<';
	memcpy(path + 1, addr, n);
	path[n + 1] = '>';
	st = addr_parse_path(path, n + 2, ADDR_UTF8 |
	    (allow_null ? ADDR_ALLOW_NULL : 0), &p, &used);
	if (st != ADDR_OK)
		return st;
	if (used != n + 2 || strcmp(p.addr, addr) != 0)
		return ADDR_SYNTAX;	/* not in the form we hand on */
	return ADDR_OK;
}

const char *
addr_status_text(enum addr_status st)
{
	switch (st) {
	case ADDR_OK:		return "ok";
	case ADDR_SYNTAX:	return "bad address syntax";
	case ADDR_SOURCE_ROUTE:	return "source routes are not accepted";
	case ADDR_PERCENT:	return "'%' routing is not accepted";
	case ADDR_BANG:		return "'!' paths are not accepted";
	case ADDR_MULTI_AT:	return "more than one '@' in address";
	case ADDR_QUOTED_HIDDEN:
		return "quoted local part with '@', '%', '!', space or '\\' "
		    "is not accepted";
	case ADDR_TOO_LONG:	return "address too long";
	case ADDR_NON_ASCII:	return "non-ASCII address without SMTPUTF8";
	case ADDR_NO_DOMAIN:	return "address must have a domain";
	case ADDR_BAD_DOMAIN:	return "bad domain in address";
	case ADDR_NULL_NOT_ALLOWED: return "null address not allowed here";
	}
	return "bad address";
}
