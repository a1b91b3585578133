/*
 * syslog5424_test.c — local log lines as RFC 5424 messages in octet-
 * counting framing (relay/syslog5424.h): the relay's own lines (host,
 * program, pid taken over), s6-log-stamped lines of other services
 * (fraction cut to 6 digits, UTC), lines without a stamp, header fields
 * that are not printable ASCII, the facilities, and a frame that does
 * not fit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslog5424.h"
#include "tap.h"

static char out[SYSLOG5424_MAX];

/* The message of the frame, after checking that its length prefix
 * counts exactly the octets that follow it. */
static const char *
frame(const char *line, const char *source)
{
	size_t n = syslog5424_frame(line, strlen(line), source, "mx.local",
	    out, sizeof(out) - 1);
	char *sp;

	out[n] = '\0';
	if (n == 0 || (sp = strchr(out, ' ')) == NULL)
		return "(none)";
	if (strtoul(out, NULL, 10) != strlen(sp + 1))
		return "(the length prefix is wrong)";
	return sp + 1;
}

int
main(void)
{
	char small[40];

	is_str(frame("2026-12-05T10:00:01+00:00 mx.example.net mxgate/smtpd"
	    "[1001]: 0A1B: client=x[192.0.2.1]", "mxgate"),
	    "<22>1 2026-12-05T10:00:01+00:00 mx.example.net mxgate/smtpd "
	    "1001 - - 0A1B: client=x[192.0.2.1]",
	    "the relay's line: its stamp, host, program, pid; mail.info");
	is_str(frame("2026-12-05T10:00:01.123456789  kernel: nft drop",
	    "kernel"),
	    "<6>1 2026-12-05T10:00:01.123456Z mx.local kernel - - - "
	    "kernel: nft drop",
	    "an s6-log stamp: 6 fraction digits, UTC; kern.info");
	is_str(frame("login[77]: root login on 'ttyS0'", "syslog"),
	    "<38>1 - mx.local syslog - - - login[77]: root login on "
	    "'ttyS0'", "no stamp: NILVALUE time, our host; auth.info");
	is_str(frame("2026-12-05T10:00:01Z text", "init"),
	    "<30>1 2026-12-05T10:00:01Z mx.local init - - - text",
	    "a zoned stamp without the relay's shape; daemon.info");
	is_str(frame("2026-12-05T10:00:01+00:00 h\xc3\xa9st prog[1]: x",
	    "mxgate"),
	    "<22>1 2026-12-05T10:00:01+00:00 mx.local mxgate - - - "
	    "h\xc3\xa9st prog[1]: x",
	    "a host that is not ASCII: the generic shape, the text kept");
	is_str(frame("2026-12-05T10:00:01+00:00 host prog[1]:", "mxgate"),
	    "<22>1 2026-12-05T10:00:01+00:00 host prog 1 - -",
	    "an empty message: no trailing space");
	is_str(frame("2026-13", "mxgate"), "<22>1 - mx.local mxgate - - - "
	    "2026-13", "a broken stamp is text");
	is_str(frame("x", "a service name longer than forty-eight characters "
	    "is NIL"), "<30>1 - mx.local - - - - x",
	    "APP-NAME over 48 characters: NILVALUE");
	is_int((int)syslog5424_frame("", 0, "mxgate", "h", out, sizeof(out)),
	    0, "an empty line: no frame");
	is_int((int)syslog5424_frame("a long enough line of text", 26,
	    "mxgate", "mx.local", small, sizeof(small)), 0,
	    "a frame that does not fit: 0");
	return done_testing();
}
