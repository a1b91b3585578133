/*
 * dsn_fuzz.c — the delivery report builder (relay/dsn.c) on hostile
 * inputs: the original header block, the remote replies and hosts, the
 * addresses and ids; and the header collector fed the same bytes in
 * chunks. Invariants: a built report is CRLF lines of at most
 * DSN_LINE_MAX octets, has no NUL and no line "." alone (it is sent as
 * DATA), and fits its bound; a header block already in clean wire form
 * (CRLF lines, short, none "." alone) is attached byte for byte, so no
 * line is stuffed twice; the collector keeps a prefix of its input.
 *
 * Input: byte 0 options (bit 0 failure instead of expiry, bit 1 headers
 * cut, bit 2 a second recipient, bit 3 DSN parameters), then
 * NUL-separated fields: reporting MTA, postmaster, queue id, sender,
 * recipient, status, diagnostic, remote MTA, (bit 3) the sender's and the
 * recipient's DSN parameters; the rest is the header block.
 */
#include <string.h>

#include "dsn.h"
#include "fuzz.h"

static char out[DSN_SIZE_MAX];
static struct dsn_headers hc;

/* 1 when needle stands in s at the start of a line */
static int
has_lines(const char *s, size_t len, const uint8_t *needle, size_t n)
{
	size_t i;

	for (i = 1; n <= len && i <= len - n; i++)
		if (s[i - 1] == '\n' && memcmp(s + i, needle, n) == 0)
			return 1;
	return 0;
}

/* CRLF lines of at most 900 octets, ending in CRLF, none "." alone. */
static int
clean_wire(const uint8_t *h, size_t len)
{
	size_t i, col = 0;

	if (len < 2 || h[len - 2] != '\r' || h[len - 1] != '\n' ||
	    !fuzz_crlf_only((const char *)h, len) ||
	    !fuzz_no_dot_line((const char *)h, len))
		return 0;
	for (i = 0; i < len; i++)
		if ((col = h[i] == '\n' ? 0 : col + 1) > 900)
			return 0;
	return 1;
}

static const char *
field(struct fuzz_in *in, char *buf, size_t size)
{
	const uint8_t *nul = memchr(in->p, '\0', in->len);
	size_t n = nul ? (size_t)(nul - in->p) : in->len;

	if (n >= size)
		n = size - 1;
	memcpy(buf, in->p, n);
	buf[n] = '\0';
	n = nul ? (size_t)(nul - in->p) + 1 : in->len;
	in->p += n;
	in->len -= n;
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_u8(&in);
	char f[10][600];
	struct dsn_rcpt r[2];
	struct dsn_input di;
	size_t i, n;
	long len;
	int eb;

	memset(&di, 0, sizeof(di));
	di.reporting_mta = field(&in, f[0], sizeof(f[0]));
	di.postmaster = field(&in, f[1], sizeof(f[1]));
	di.queue_id = field(&in, f[2], sizeof(f[2]));
	di.from = field(&in, f[3], sizeof(f[3]));
	memset(r, 0, sizeof(r));
	r[0].addr = field(&in, f[4], sizeof(f[4]));
	r[0].status = field(&in, f[5], sizeof(f[5]));
	r[0].diag = field(&in, f[6], sizeof(f[6]));
	r[0].remote_mta = field(&in, f[7], sizeof(f[7]));
	r[0].last_attempt_us = 1700000000000000LL;
	if (opt & 8) {		/* DSN parameters, any bytes */
		di.params = field(&in, f[8], sizeof(f[8]));
		r[0].params = field(&in, f[9], sizeof(f[9]));
	}
	r[1] = r[0];
	r[1].status = NULL;
	r[1].diag = NULL;
	di.arrival_us = 1690000000000000LL;
	di.now_us = 1700000000000000LL;
	di.reason = opt & 1 ? DSN_FAILED : DSN_EXPIRED;
	di.rcpt = r;
	di.nrcpt = opt & 4 ? 2 : 1;
	di.headers = (const char *)in.p;
	di.headers_len = in.len;
	di.headers_cut = opt & 2;
	len = dsn_build(&di, out, sizeof(out), &eb);
	if (len >= 0) {
		FUZZ_ASSERT((size_t)len <= sizeof(out));
		FUZZ_ASSERT(fuzz_crlf_only(out, (size_t)len));
		FUZZ_ASSERT(fuzz_no_dot_line(out, (size_t)len));
		for (i = 0, n = 0; i < (size_t)len; i++) {
			n = out[i] == '\n' ? 0 : n + 1;
			FUZZ_ASSERT(n <= DSN_LINE_MAX + 1);	/* + CR */
		}
		if (clean_wire(in.p, in.len))
			FUZZ_ASSERT(has_lines(out, (size_t)len, in.p, in.len));
	}
	/* the collector, fed in chunks of 7 */
	dsn_headers_init(&hc);
	for (i = 0; i < in.len; i += 7)
		if (dsn_headers_collect(&hc, in.p + i,
		    in.len - i < 7 ? in.len - i : 7) != 0)
			break;
	FUZZ_ASSERT(hc.len <= sizeof(hc.buf) && hc.len <= in.len);
	FUZZ_ASSERT(memcmp(hc.buf, in.p, hc.len) == 0);
	return 0;
}
