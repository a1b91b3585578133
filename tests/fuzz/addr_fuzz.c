/*
 * addr_fuzz.c — envelope paths and network literals on hostile bytes:
 * addr_parse_path() and addr_domain_valid() (relay/addr.c), and the
 * IP, endpoint and CIDR parsers the configuration and `mxgatectl gate`
 * use (relay/net.c). Invariants: an accepted path is plain printable
 * ASCII (or, with ADDR_UTF8, UTF-8 too) with exactly the one '@' that
 * splits it, a valid domain or an address literal, and passes
 * addr_check() as it is handed on; an
 * accepted CIDR has no host bits and matches its own network; a parsed
 * address formats and parses back to itself.
 *
 * Input: byte 0 options (bit 0 null path allowed, bit 1 UTF-8 allowed),
 * then the bytes.
 */
#include <string.h>

#include "addr.h"
#include "fuzz.h"
#include "net.h"

static void
check_path(const struct smtp_path *p, int allow_null, int utf8)
{
	size_t i, n = strlen(p->addr), at = 0, ats = 0;
	int quoted = 0;

	FUZZ_ASSERT(addr_check(p->addr, allow_null) == ADDR_OK);
	if (p->is_null) {
		FUZZ_ASSERT(allow_null && n == 0);
		return;
	}
	FUZZ_ASSERT(n > 0 && n <= ADDR_PATH_MAX);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p->addr[i];
		FUZZ_ASSERT(c > 32 || (c == 32 && quoted));
		FUZZ_ASSERT(c < 127 || (c > 127 && utf8));
		if (c == '"')
			quoted = !quoted;
		else if (c == '\\' && quoted)
			i++;
		else if (c == '@' && !quoted) {
			at = i;
			ats++;
		}
	}
	FUZZ_ASSERT(ats == 1);
	FUZZ_ASSERT(strcmp(p->addr + at + 1, p->domain) == 0);
	FUZZ_ASSERT(p->domain[0] == '[' || addr_domain_valid(p->domain) ||
	    (utf8 && addr_is_utf8(p->domain)));
	FUZZ_ASSERT(strchr(p->domain, '%') == NULL &&
	    strchr(p->domain, '!') == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_u8(&in);
	int allow_null = opt & 1, utf8 = (opt & 2) != 0;
	char text[600], back[NET_ENDPOINTLEN];
	struct smtp_path p;
	struct netaddr a, b;
	struct sockaddr_storage ss;
	struct cidr c;
	char why[256];
	size_t used = 0, n;

	if (addr_parse_path((const char *)in.p, in.len,
	    (allow_null ? ADDR_ALLOW_NULL : 0) | (utf8 ? ADDR_UTF8 : 0), &p,
	    &used) == ADDR_OK) {
		FUZZ_ASSERT(used >= 2 && used <= in.len);
		FUZZ_ASSERT(in.p[used - 1] == '>');
		check_path(&p, allow_null, utf8);
	}
	n = in.len < sizeof(text) - 1 ? in.len : sizeof(text) - 1;
	memcpy(text, in.p, n);
	text[n] = '\0';
	if (addr_domain_valid(text))
		FUZZ_ASSERT(strlen(text) <= ADDR_DOMAIN_MAX);
	if (net_parse_ip(text, &a) == 0) {
		netaddr_format(&a, back, sizeof(back));
		FUZZ_ASSERT(net_parse_ip(back, &b) == 0);
		FUZZ_ASSERT(a.family == b.family &&
		    memcmp(a.a, b.a, sizeof(a.a)) == 0);
	}
	if (net_parse_endpoint(text, 25, &ss, why, sizeof(why)) == 0) {
		endpoint_format(&ss, back, sizeof(back));
		FUZZ_ASSERT(sockaddr_port(&ss) >= 0 && back[0] != '\0');
	}
	if (net_parse_cidr(text, &c, why, sizeof(why)) == 0) {
		FUZZ_ASSERT(c.prefix >= 0 && c.prefix <=
		    (c.net.family == AF_INET ? 32 : 128));
		FUZZ_ASSERT(cidr_match(&c, &c.net));
	}
	return 0;
}
