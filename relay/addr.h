/*
 * addr.h — strict parsing of SMTP envelope paths (RFC 5321 4.1.2) and
 * domain names. Pure functions over bytes.
 *
 * Contract: whatever this accepts is a plain "local@domain" that cannot
 * name a second hop. Source routes, '%' and '!' paths, several '@', quoted
 * local parts hiding '@' (or '%', '!'), control or non-ASCII bytes (escaped
 * ones too), domain literals other than a parsing [IPv4] or [IPv6:...],
 * and over-long parts are refused with a reason, so the routing decision in the session only ever
 * sees the one domain that will receive the message.
 *
 * With ADDR_UTF8 (an SMTPUTF8 transaction, RFC 6531 3.3) the local part,
 * a quoted string and the domain's labels may also hold UTF-8: well-formed
 * sequences only (RFC 3629: no overlong form, no surrogate, nothing above
 * U+10FFFF, no C1 control); a quoted-pair stays ASCII. Nothing is
 * normalised: an address is kept byte for byte, its domain lower-cased in
 * ASCII only, and a U-label is not checked against IDNA2008.
 */
#ifndef MXGATE_ADDR_H
#define MXGATE_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, without < > */

enum addr_status {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not <...>, bad characters, empty parts */
	ADDR_SOURCE_ROUTE,	/* <@a,@b:user@c> */
	ADDR_PERCENT,		/* user%other@domain */
	ADDR_BANG,		/* host!user@domain */
	ADDR_MULTI_AT,		/* a@b@c */
	ADDR_QUOTED_HIDDEN,	/* "a@b"@c, "a%b"@c */
	ADDR_TOO_LONG,
	ADDR_NON_ASCII,
	ADDR_NO_DOMAIN,		/* <user> */
	ADDR_BAD_DOMAIN,
	ADDR_NULL_NOT_ALLOWED,	/* <> where a recipient is needed */
};

struct smtp_path {
	int	is_null;			/* <> */
	char	local[ADDR_LOCAL_MAX + 3];	/* as given (quotes kept) */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lower-cased */
	char	addr[ADDR_PATH_MAX + 1];	/* local@domain */
};

/* addr_parse_path() flags */
#define ADDR_ALLOW_NULL	0x1	/* <> is a valid path here */
#define ADDR_UTF8	0x2	/* UTF-8 allowed (SMTPUTF8) */

/*
 * Parses "<path>" at s (len bytes, not NUL-terminated). On ADDR_OK,
 * *consumed is the number of bytes up to and including '>'.
 */
enum addr_status addr_parse_path(const char *s, size_t len, int flags,
    struct smtp_path *out, size_t *consumed);

/* The non-ASCII character at p (at most n bytes there): the length of
 * its well-formed UTF-8 sequence with *cp its code point, or 0 (RFC
 * 3629: no overlong form, surrogate or code point above U+10FFFF; C1
 * controls refused too). */
size_t addr_utf8_char(const unsigned char *p, size_t n, unsigned *cp);

/* 1 if the address holds a byte outside ASCII (it needs SMTPUTF8). */
int addr_is_utf8(const char *addr);

/*
 * Checks a bare "local@domain" ("" for the null path when allow_null) as
 * struct smtp_path.addr holds it, for a process that receives addresses
 * from another one: the same rules as addr_parse_path() with ADDR_UTF8
 * (the message says whether it may hold one: not this check's business),
 * and the exact form it produces (domain in lower case). ADDR_OK or why
 * not.
 */
enum addr_status addr_check(const char *addr, int allow_null);

/* A reply text fragment for a refused path, e.g. "source routes are not
 * accepted". */
const char *addr_status_text(enum addr_status st);

/* 1 if d is a syntactically valid domain name (LDH labels, 1-63 octets
 * each, at most 255 in all, no leading/trailing dot), else 0. */
int addr_domain_valid(const char *d);

#endif
