/*
 * syslog5424_fuzz.c — the RFC 5424 framing of local log lines
 * (relay/syslog5424.c) that mxgate-logfwd sends to the log server, on
 * hostile lines (a log line holds bytes a client sent). Invariants: a
 * frame fits the buffer; its decimal length prefix counts exactly the
 * octets after its space; the header (PRI to the end of STRUCTURED-DATA)
 * is printable US-ASCII; the frame holds no LF (one line, one message);
 * the message ends with the line's last byte.
 *
 * Input: byte 0 the output size (its low 12 bits, with byte 1), then the
 * line.
 */
#include <string.h>

#include "fuzz.h"
#include "syslog5424.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t outsz = ((size_t)fuzz_u8(&in) << 8 | fuzz_u8(&in)) % 4096 + 1;
	static char out[4096];
	size_t n, len, i, spaces;
	char *end;
	const char *line = (const char *)in.p;

	/* a line never holds its own LF: the forwarder cuts at it */
	if (memchr(line, '\n', in.len) != NULL)
		return 0;
	n = syslog5424_frame(line, in.len, "mxgate", "mx.example.test", out,
	    outsz);
	if (n == 0)
		return 0;
	FUZZ_ASSERT(n <= outsz);
	len = strtoul(out, &end, 10);
	FUZZ_ASSERT(*end == ' ');
	FUZZ_ASSERT((size_t)(end + 1 - out) + len == n);
	FUZZ_ASSERT(memchr(out, '\n', n) == NULL);
	/* "<PRI>1 TS HOST APP PID MSGID SD": seven fields before MSG */
	for (i = (size_t)(end + 1 - out), spaces = 0; i < n && spaces < 7;
	    i++) {
		FUZZ_ASSERT(out[i] >= 32 && out[i] <= 126);
		if (out[i] == ' ')
			spaces++;
	}
	if (in.len > 0 && i < n)
		FUZZ_ASSERT(out[n - 1] == line[in.len - 1]);
	return 0;
}
