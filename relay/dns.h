/*
 * dns.h — a pure DNS message encoder and decoder (RFC 1035), just enough
 * for DNSBL lookups: build one A (or TXT) query, parse its reply strictly,
 * form the reverse names DNSBLs use for IPv4 and IPv6 clients.
 *
 * Owns nothing: the caller gives every buffer. Never does I/O, never
 * allocates, never trusts a count or a pointer in a message: every read is
 * bounds-checked, name decompression follows only backward pointers and at
 * most DNS_MAX_JUMPS of them, every count is checked against what the
 * message can hold.
 */
#ifndef MXGATE_DNS_H
#define MXGATE_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

#define DNS_HEADER_LEN	12
#define DNS_NAME_MAX	255	/* wire form, RFC 1035 2.3.4 */
#define DNS_TEXT_MAX	254	/* text form, no trailing dot, with NUL */
#define DNS_LABEL_MAX	63
#define DNS_UDP_MAX	512	/* we send no EDNS: servers truncate here */
#define DNS_TCP_MAX	4096	/* largest TCP reply we accept (DNSBL) */
#define DNS_QUERY_MAX	(DNS_HEADER_LEN + DNS_NAME_MAX + 4)
#define DNS_MAX_JUMPS	16	/* compression pointers per name */
#define DNS_MAX_ANSWERS	8	/* answer records kept */
#define DNS_MAX_CNAMES	8	/* CNAME hops followed in the answer */
#define DNS_TXT_KEEP	128	/* bytes of TXT kept per record */

#define DNS_T_A		1
#define DNS_T_CNAME	5
#define DNS_T_SOA	6
#define DNS_T_TXT	16
#define DNS_C_IN	1

#define DNS_R_NOERROR	0
#define DNS_R_FORMERR	1
#define DNS_R_SERVFAIL	2
#define DNS_R_NXDOMAIN	3
#define DNS_R_NOTIMP	4
#define DNS_R_REFUSED	5

/* Parse errors (negative returns of dns_reply_parse). */
enum dns_err {
	DNS_OK = 0,
	DNS_E_SHORT = -1,	/* message ends inside a field */
	DNS_E_NOTREPLY = -2,	/* QR clear or opcode not QUERY */
	DNS_E_ID = -3,		/* id differs from the query's */
	DNS_E_QUESTION = -4,	/* question missing or not ours */
	DNS_E_NAME = -5,	/* bad label, loop, forward pointer, too long */
	DNS_E_COUNT = -6,	/* counts larger than the message can hold */
	DNS_E_RDATA = -7,	/* record data of the wrong size */
	DNS_E_ARG = -8,		/* bad argument (name to encode, buffer) */
};

struct dns_rr {
	uint16_t	type;		/* DNS_T_A or DNS_T_TXT */
	uint32_t	ttl;		/* seconds, as received (clamped 2^31-1) */
	uint8_t		a[4];		/* A: network order */
	uint8_t		txtlen;		/* TXT: bytes kept in txt */
	char		txt[DNS_TXT_KEEP + 1];	/* first string, NUL-terminated,
					 * non-printable bytes as '?' */
};

struct dns_reply {
	uint16_t	id;
	int		rcode;		/* DNS_R_* */
	int		tc;		/* truncated: retry over TCP */
	int		aa;
	int		nanswers;	/* records kept in an[] */
	struct dns_rr	an[DNS_MAX_ANSWERS];
	int		have_soa;	/* SOA in authority (negative TTL) */
	uint32_t	soa_ttl;	/* min(SOA TTL, SOA MINIMUM), RFC 2308 */
};

/*
 * Writes a query for `name` (text form, dots between labels, an optional
 * trailing dot) with recursion desired into buf. Returns the length, or
 * DNS_E_ARG when the name is invalid or buf is smaller than needed.
 */
int dns_query_build(uint8_t *buf, size_t size, uint16_t id,
    const char *name, uint16_t qtype);

/*
 * Parses a reply of len bytes to the query (id, name, qtype). On DNS_OK
 * *out holds the header bits and every answer record of type qtype owned
 * by name (or by the end of a CNAME chain starting at it, which is
 * followed at most DNS_MAX_CNAMES hops); records beyond DNS_MAX_ANSWERS are
 * ignored. With tc set the answer section is not parsed. Other records
 * and the additional section are skipped (checked for bounds only).
 */
int dns_reply_parse(const uint8_t *msg, size_t len, uint16_t id,
    const char *name, uint16_t qtype, struct dns_reply *out);

/*
 * Decodes the (possibly compressed) name at *off in msg into out (text,
 * lower case, no trailing dot; "" for the root) and advances *off past
 * it in the original position. DNS_OK or a dns_err.
 */
int dns_name_decode(const uint8_t *msg, size_t len, size_t *off,
    char *out, size_t size);

/*
 * The DNSBL name for a: "4.3.2.1.zone" for 1.2.3.4, and the 32 reversed
 * nibbles of an IPv6 address followed by ".zone". 0, or -1 when out is too
 * small or the result is longer than a domain name may be.
 */
int dns_reverse_name(const struct netaddr *a, const char *zone, char *out,
    size_t size);

/* Case-insensitive compare of two text names (ASCII only). 1 if equal. */
int dns_name_equal(const char *a, const char *b);

const char *dns_err_text(int err);
const char *dns_rcode_name(int rcode);

#endif
