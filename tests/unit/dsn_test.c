/*
 * dsn_test.c — the RFC 3464 report builder (dsn.h): a golden report for
 * an expired message, structure and limits (CRLF only, lines <= 998,
 * the body never included), hostile diagnostics, a too small buffer, and
 * the header collector.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "dsn.h"
#include "tap.h"
#include "util.h"

static const char golden[] =
"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
"To: <postmaster@example.test>\r\n"
"Subject: Undelivered Mail: queue lifetime expired (queue id 0123456789ABCDEF01)\r\n"
"Date: Wed, 15 Nov 2023 22:13:20 +0000\r\n"
"Message-ID: <0123456789ABCDEF01.1700086400000000@mx.example.net>\r\n"
"Auto-Submitted: auto-replied\r\n"
"MIME-Version: 1.0\r\n"
"Content-Type: multipart/report; report-type=delivery-status;\r\n"
"\tboundary=\"=_mxgate/0123456789ABCDEF01/1700086400000000.0\"\r\n"
"\r\n"
"This is a MIME-encapsulated message.\r\n"
"\r\n"
"--=_mxgate/0123456789ABCDEF01/1700086400000000.0\r\n"
"Content-Description: Notification\r\n"
"Content-Type: text/plain; charset=us-ascii\r\n"
"\r\n"
"This is the mail gateway at mx.example.net.\r\n"
"\r\n"
"A message for your users reached the gateway on\r\n"
"Tue, 31 Oct 2023 22:13:20 +0000, but your mail server did not accept it before the\r\n"
"queue lifetime expired.\r\n"
"The message has been removed from the gateway's queue.\r\n"
"\r\n"
"Queue ID: 0123456789ABCDEF01\r\n"
"Sender: <alice@ext.example>\r\n"
"\r\n"
"<bob@example.test>: 451 4.3.0 try again later\r\n"
"<carol@example.test>: delivery time expired\r\n"
"\r\n"
"--=_mxgate/0123456789ABCDEF01/1700086400000000.0\r\n"
"Content-Description: Delivery report\r\n"
"Content-Type: message/delivery-status\r\n"
"\r\n"
"Reporting-MTA: dns; mx.example.net\r\n"
"X-Mxgate-Queue-ID: 0123456789ABCDEF01\r\n"
"X-Mxgate-Sender: rfc822; alice@ext.example\r\n"
"Arrival-Date: Tue, 31 Oct 2023 22:13:20 +0000\r\n"
"\r\n"
"Final-Recipient: rfc822; bob@example.test\r\n"
"Action: failed\r\n"
"Status: 4.3.0\r\n"
"Remote-MTA: dns; mail.example.test\r\n"
"Diagnostic-Code: smtp; 451 4.3.0 try again later\r\n"
"Last-Attempt-Date: Wed, 15 Nov 2023 21:13:20 +0000\r\n"
"Will-Retry-Until: Wed, 15 Nov 2023 22:13:20 +0000\r\n"
"\r\n"
"Final-Recipient: rfc822; carol@example.test\r\n"
"Action: failed\r\n"
"Status: 4.4.7\r\n"
"Will-Retry-Until: Wed, 15 Nov 2023 22:13:20 +0000\r\n"
"\r\n"
"--=_mxgate/0123456789ABCDEF01/1700086400000000.0\r\n"
"Content-Description: Undelivered Message Headers\r\n"
"Content-Type: text/rfc822-headers\r\n"
"\r\n"
"Received: from client.ext.example\r\n"
"Subject: hello\r\n"
"\r\n"
"--=_mxgate/0123456789ABCDEF01/1700086400000000.0--\r\n";

static int
lines_ok(const char *s, size_t len, size_t *longest)
{
	size_t i, col = 0;

	*longest = 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			if (i + 1 >= len || s[i + 1] != '\n')
				return 0;
			i++;
			col = 0;
			continue;
		}
		if (s[i] == '\n')
			return 0;
		if (++col > *longest)
			*longest = col;
	}
	return col == 0 && *longest <= DSN_LINE_MAX;
}

int
main(void)
{
	static char out[DSN_SIZE_MAX], big[DSN_HEADERS_MAX + 5000];
	static struct dsn_headers h;
	const char *hdrs = "Received: from client.ext.example\r\nSubject: hello\r\n";
	struct dsn_rcpt r[2] = {
		{ .addr = "bob@example.test", .status = "4.3.0",
		  .diag = "451 4.3.0 try again later",
		  .remote_mta = "mail.example.test",
		  .last_attempt_us = 1700082800000000LL },
		{ .addr = "carol@example.test" },
	};
	struct dsn_input in = {
		.reporting_mta = "mx.example.net",
		.postmaster = "postmaster@example.test",
		.queue_id = "0123456789ABCDEF01", .from = "alice@ext.example",
		.arrival_us = 1698790400000000LL,
		.now_us = 1700086400000000LL, .reason = DSN_EXPIRED,
		.rcpt = r, .nrcpt = 2,
	};
	char hostile[700], date[40];
	size_t longest, i;
	long n;
	int eb;

	in.headers = hdrs;
	in.headers_len = strlen(hdrs);
	n = dsn_build(&in, out, sizeof(out), &eb);
	ok(n == (long)strlen(golden) && memcmp(out, golden, (size_t)n) == 0,
	    "golden report for an expired message");
	if (n > 0 && (n != (long)strlen(golden) ||
	    memcmp(out, golden, (size_t)n) != 0))
		printf("# got:\n%.*s\n", (int)n, out);
	ok(lines_ok(out, (size_t)n, &longest), "CRLF only, longest line %zu",
	    longest);
	is_int(eb, 0, "7-bit headers");
	is_int(dsn_build(&in, out, (size_t)n - 1, NULL), -1,
	    "one byte short: an error, not a cut report");
	is_int(dsn_build(&in, out, (size_t)n, NULL), n, "exact size fits");

	/* a permanent failure, hostile diagnostics and odd headers */
	memset(hostile, 'A', sizeof(hostile) - 1);
	hostile[sizeof(hostile) - 1] = '\0';
	memcpy(hostile, "550 5.1.1 x\r\nInjected: yes\x01\xff ", 29);
	r[0].status = "5.1.1";
	r[0].diag = hostile;
	r[0].remote_mta = "evil\r\nX-Injected: 1";
	r[1].status = "9.9.9";	/* not a status: replaced */
	r[1].diag = "connect to 127.0.0.1:2526: Connection refused";
	in.reason = DSN_FAILED;
	memset(big, 'h', sizeof(big));
	memcpy(big, "X-Long: ", 8);
	memcpy(big + 1500, "\r\n.dotted: x\r\nY: \xc3\xa9\nZ: bare", 28);
	in.headers = big;
	in.headers_len = 1500 + 28;
	n = dsn_build(&in, out, sizeof(out), &eb);
	ok(n > 0, "report with hostile input built");
	ok(lines_ok(out, (size_t)n, &longest), "still CRLF only and lines "
	    "<= %d (longest %zu)", DSN_LINE_MAX, longest);
	ok(strstr(out, "\r\nInjected") == NULL &&
	    strstr(out, "\r\nX-Injected") == NULL,
	    "CR LF in a diagnostic cannot inject a field");
	ok(strstr(out, "Diagnostic-Code: smtp; 550 5.1.1 x  Injected: yes??")
	    != NULL, "controls and 8-bit bytes in diagnostics replaced");
	ok(strstr(out, "Status: 5.1.1\r\n") != NULL &&
	    strstr(out, "Status: 5.0.0\r\n") != NULL &&
	    strstr(out, "9.9.9") == NULL, "bad status replaced by 5.0.0");
	ok(strstr(out, "Diagnostic-Code: X-Mxgate; connect to") != NULL,
	    "a local reason is not labelled smtp");
	ok(strstr(out, "\r\n..dotted: x\r\n") == NULL &&
	    strstr(out, "\r\n.dotted: x\r\n") != NULL,
	    "headers in wire form are kept as stuffed");
	ok(strstr(out, "\r\nZ: bare\r\n") != NULL, "bare LF became CRLF");
	is_int(eb, 1, "8-bit header bytes flagged");
	ok(strstr(out, "Content-Transfer-Encoding: 8bit") != NULL,
	    "8-bit part declared");
	ok(strstr(out, "refused it permanently") != NULL &&
	    strstr(out, "Will-Retry-Until") == NULL, "failure wording");

	in.from = "";
	ok(dsn_build(&in, out, sizeof(out), NULL) > 0 &&
	    strstr(out, "Sender: <>\r\n") != NULL, "null sender shown as <>");
	in.postmaster = "bad address";
	is_int(dsn_build(&in, out, sizeof(out), NULL), -1,
	    "invalid postmaster refused");
	in.postmaster = "postmaster@example.test";
	in.nrcpt = 0;
	is_int(dsn_build(&in, out, sizeof(out), NULL), -1, "no recipient");
	in.nrcpt = 2;

	/* no line "." alone, whatever the header bytes; wire lines are
	 * stuffed once */
	{
		static const struct {
			const char *h, *want, *name;
		} d[] = {
			{ "A: b\r\r\n.\nC: d\r\n", "\r\n..\r\nC: d\r\n",
			    "bare CR, CRLF, '.', bare LF" },
			{ "A: b\r\n.", "A: b\r\n..\r\n\r\n--",
			    "a cut last line '.'" },
			{ ".", "headers\r\n\r\n..\r\n\r\n--", "only '.'" },
			{ "A: b\n.\r\n", "A: b\r\n..\r\n\r\n--",
			    "bare LF then '.' CRLF" },
			{ "..x: y\r\nB: c\r\n", "\r\n\r\n..x: y\r\nB: c\r\n",
			    "first line stuffed once, not twice" },
			{ "A: b\n.x\r\n", "A: b\r\n..x\r\n",
			    "a line we create is stuffed" },
		};
		size_t k;

		for (k = 0; k < sizeof(d) / sizeof(d[0]); k++) {
			in.headers = d[k].h;
			in.headers_len = strlen(d[k].h);
			n = dsn_build(&in, out, sizeof(out) - 1, NULL);
			if (n >= 0)
				out[n] = '\0';
			ok(n > 0 && strncmp(out, ".\r\n", 3) != 0 &&
			    strstr(out, "\n.\r\n") == NULL &&
			    lines_ok(out, (size_t)n, &longest) &&
			    strstr(out, d[k].want) != NULL, "headers: %s",
			    d[k].name);
		}
	}

	/* a header containing the boundary moves the boundary */
	{
		static char hb[256];
		snprintf(hb, sizeof(hb), "X: =_mxgate/0123456789ABCDEF01/"
		    "1700086400000000.0\r\n");
		in.headers = hb;
		in.headers_len = strlen(hb);
		n = dsn_build(&in, out, sizeof(out), NULL);
		ok(n > 0 && strstr(out, "boundary=\"=_mxgate/0123456789ABCDEF01/"
		    "1700086400000000.1\"") != NULL,
		    "boundary never occurs in the attached headers");
	}

	dsn_date(0, date, sizeof(date));
	is_str(date, "Thu, 1 Jan 1970 00:00:00 +0000", "date: epoch");
	dsn_date(951782400000000LL, date, sizeof(date));
	is_str(date, "Tue, 29 Feb 2000 00:00:00 +0000", "date: leap day");

	/* the collector, fed in small pieces */
	dsn_headers_init(&h);
	{
		const char *msg = "A: 1\r\nB: 2\r\n\r\nbody " "SECRET\r\n";
		int stop = 0;
		for (i = 0; i < strlen(msg) && !stop; i += 3)
			stop = dsn_headers_collect(&h, msg + i,
			    strlen(msg) - i < 3 ? strlen(msg) - i : 3);
		ok(stop && h.complete && h.len == 12 &&
		    memcmp(h.buf, "A: 1\r\nB: 2\r\n", 12) == 0,
		    "collector stops at the empty line, body not kept");
	}
	dsn_headers_init(&h);
	for (i = 0; i + 10 <= sizeof(big); i += 10)
		memcpy(big + i, "X: 12345\r\n", 10);
	ok(dsn_headers_collect(&h, big, sizeof(big)) == 1 && h.cut &&
	    h.len <= DSN_HEADERS_MAX && h.len % 10 == 0,
	    "over-long headers: cut at a field boundary, flagged");

	/* the sender's DSN identifiers reach the report */
	{
		char v[64];

		ok(kv_get("RET=HDRS ENVID=a+2Bb", ' ', "ENVID", v, sizeof(v)) == 0 &&
		    strcmp(v, "a+2Bb") == 0, "kv_get: ENVID found");
		ok(kv_get("NOTIFY=NEVER ORCPT=rfc822;x@y", ' ', "ORCPT", v,
		    sizeof(v)) == 0 && strcmp(v, "rfc822;x@y") == 0,
		    "kv_get: ORCPT found");
		ok(kv_get("XENVID=1 ENVIDX=2", ' ', "ENVID", v, sizeof(v)) == -1 &&
		    v[0] == '\0', "kv_get: no prefix or suffix match");
		ok(kv_get(NULL, ' ', "ENVID", v, sizeof(v)) == -1,
		    "kv_get: no parameters");
		ok(kv_get("ENVID=0123456789", ' ', "ENVID", v, 5) == -1,
		    "kv_get: a value that does not fit is absent");
		r[0].params = "NOTIFY=FAILURE ORCPT=rfc822;bob+40old@example.test";
		r[1].params = "";
		in.params = "RET=HDRS ENVID=QQ314159";
		in.reason = DSN_FAILED;
		in.headers = hdrs;
		in.headers_len = strlen(hdrs);
		n = dsn_build(&in, out, sizeof(out), NULL);
		ok(n > 0 && strstr(out, "\r\n\r\nOriginal-Envelope-Id: QQ314159"
		    "\r\nReporting-MTA: dns; mx.example.net\r\n") != NULL,
		    "ENVID: Original-Envelope-Id, first of the message fields");
		ok(n > 0 && strstr(out, "\r\n\r\nOriginal-Recipient: rfc822;"
		    "bob+40old@example.test\r\nFinal-Recipient: rfc822; "
		    "bob@example.test\r\n") != NULL,
		    "ORCPT: Original-Recipient, before Final-Recipient");
		{
			const char *p = out;
			int count = 0;

			while ((p = strstr(p, "Original-Recipient:")) != NULL) {
				count++;
				p++;
			}
			is_int(count, 1, "a recipient without ORCPT gets no "
			    "Original-Recipient");
		}
	}
	/* SMTPUTF8 addresses: RFC 6533 utf-8 type, 7-bit, lines in bounds */
	{
		char longaddr[ADDR_PATH_MAX + 1];
		size_t k;

		r[0].addr = "j\xc3\xb6rg+x@example.test";
		in.from = "\xe7\x94\xa8@sender.test";
		in.nrcpt = 1;
		n = dsn_build(&in, out, sizeof(out), &eb);
		ok(n > 0 && strstr(out, "\r\nFinal-Recipient: utf-8; "
		    "j\\x{F6}rg\\x{2B}x@example.test\r\n") != NULL,
		    "a UTF-8 recipient: Final-Recipient: utf-8; with \\x{...}");
		ok(n > 0 && strstr(out, "X-Mxgate-Sender: utf-8; "
		    "\\x{7528}@sender.test\r\n") != NULL,
		    "... the sender the same way");
		for (k = 0; n > 0 && k < (size_t)n; k++)
			if ((unsigned char)out[k] > 0x7f)
				break;
		ok(n > 0 && k == (size_t)n, "... and the report stays 7-bit");
		/* the longest rendering: 64 '+' (6 characters each) and a
		 * domain of 2-octet characters (7 each) */
		memset(longaddr, 0, sizeof(longaddr));
		memset(longaddr, '+', 64);
		longaddr[64] = '@';
		for (k = 65; k + 62 < ADDR_PATH_MAX; ) {
			size_t j;

			for (j = 0; j < 31; j++, k += 2)
				memcpy(longaddr + k, "\xc3\xa9", 2);
			longaddr[k++] = '.';
		}
		longaddr[k - 1] = '\0';
		r[0].addr = longaddr;
		n = dsn_build(&in, out, sizeof(out), NULL);
		k = n > 0 && lines_ok(out, (size_t)n, &longest);
		ok(k, "a %zu-octet UTF-8 address: every line within bounds "
		    "(longest %zu)", strlen(longaddr), longest);
		{
			const char *fr = n > 0 ? strstr(out,
			    "Final-Recipient: utf-8; \\x{2B}") : NULL;
			const char *eol = fr ? strstr(fr, "\r\n") : NULL;

			ok(eol != NULL && eol - fr > 800 &&
			    memcmp(eol - 3, "...", 3) == 0,
			    "... its rendering cut at %d characters, ending in "
			    "\"...\"", eol && fr ? (int)(eol - fr) : -1);
		}
		r[0].addr = "a\xc3@example.test";
		n = dsn_build(&in, out, sizeof(out), NULL);
		ok(n > 0 && strstr(out, "a\\x{FFFD}@example.test") != NULL,
		    "a broken sequence is shown as U+FFFD");
	}
	return done_testing();
}
