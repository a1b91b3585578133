/*
 * dns_fuzz.c — the DNS codec (relay/dns.c) on hostile replies: a reply
 * to the query for Q (A or TXT, the id taken from the packet so the
 * parser goes past the id check), every name in it decoded, and a query
 * built from the input's text. Invariants: nothing read out of bounds
 * (ASan), kept answers within their arrays and NUL-terminated, decoded
 * names bounded and lower case, a built query no longer than its bound.
 *
 * Input: byte 0 options (bit 0 TXT, bit 1 decode at every offset), then
 * the reply packet.
 */
#include <string.h>

#include "dns.h"
#include "fuzz.h"

#define Q	"2.0.0.127.zen.example.test"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_u8(&in);
	const uint8_t *msg = in.p;
	size_t len = in.len, off, i;
	uint16_t qtype = opt & 1 ? DNS_T_TXT : DNS_T_A;
	struct dns_reply r;
	char name[DNS_TEXT_MAX + 1], text[DNS_TEXT_MAX + 8];
	uint8_t q[DNS_QUERY_MAX];
	int e, k;

	e = dns_reply_parse(msg, len, len >= 2 ? (uint16_t)(msg[0] << 8 |
	    msg[1]) : 0, Q, qtype, &r);
	FUZZ_ASSERT(e <= 0 && e >= DNS_E_ARG);
	FUZZ_ASSERT(dns_err_text(e) != NULL);
	if (e == DNS_OK) {
		FUZZ_ASSERT(r.nanswers >= 0 && r.nanswers <= DNS_MAX_ANSWERS);
		FUZZ_ASSERT(dns_rcode_name(r.rcode) != NULL);
		for (k = 0; k < r.nanswers; k++) {
			FUZZ_ASSERT(r.an[k].type == qtype);
			FUZZ_ASSERT(r.an[k].ttl <= 0x7fffffffu);
			if (qtype == DNS_T_TXT) {
				FUZZ_ASSERT(r.an[k].txtlen <= DNS_TXT_KEEP);
				FUZZ_ASSERT(strlen(r.an[k].txt) ==
				    r.an[k].txtlen);
			}
		}
	}
	/* names: at the question, or at every offset */
	for (off = DNS_HEADER_LEN; off < len;
	    off = opt & 2 ? off + 1 : len) {
		size_t o = off;

		if (dns_name_decode(msg, len, &o, name, sizeof(name)) == DNS_OK) {
			FUZZ_ASSERT(o > off && o <= len);
			FUZZ_ASSERT(strlen(name) < DNS_TEXT_MAX);
			for (i = 0; name[i]; i++)
				FUZZ_ASSERT(!(name[i] >= 'A' &&
				    name[i] <= 'Z'));
			FUZZ_ASSERT(dns_name_equal(name, name));
		}
	}
	/* a query for the input as text */
	i = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
	memcpy(text, msg, i);
	text[i] = '\0';
	e = dns_query_build(q, sizeof(q), 0x1234, text, qtype);
	FUZZ_ASSERT(e == DNS_E_ARG || (e > DNS_HEADER_LEN &&
	    (size_t)e <= sizeof(q)));
	if (e > 0) {
		off = DNS_HEADER_LEN;
		FUZZ_ASSERT(dns_name_decode(q, (size_t)e, &off, name,
		    sizeof(name)) == DNS_OK);
		FUZZ_ASSERT(dns_name_equal(name, text) ||
		    (text[0] && text[strlen(text) - 1] == '.'));
	}
	return 0;
}
