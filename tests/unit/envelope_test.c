/*
 * envelope_test.c — the formats between roles (envelope.h): encode and
 * decode round trips of the envelope and the runner's report, and the
 * queue owner's envelope check: a worker's
 * envelope is stored only when every address passes addr.c again, so no
 * string the runner later writes into MAIL FROM or RCPT TO can carry CR,
 * LF, NUL, a second '@' or a second hop; and addr_check() itself.
 */
#define _GNU_SOURCE
#include <string.h>

#include "addr.h"
#include "queue.h"
#include "envelope.h"
#include "tap.h"

/* Parses an envelope given as one C literal with embedded NULs. */
static int
parse(const char *env, size_t len, uint32_t nrcpt, struct queue_msg *m)
{
	int rc;

	queue_msg_init(m);
	rc = envelope_decode(env, len, nrcpt, m);
	return rc;
}

#define ENV(lit)	lit, sizeof(lit) - 1

int
main(void)
{
	static const struct {
		const char	*env;
		size_t		 len;
		uint32_t	 nrcpt;
		const char	*name;
	} bad[] = {
		{ ENV("a@s.test\0example.test\0\0b@example.test\r\nDATA\0\0"), 1,
		    "CR LF in a recipient" },
		{ ENV("a@s.test>\r\nRCPT TO:<x@evil.test\0example.test\0\0"
		    "b@example.test\0\0"), 1, "CR LF in the sender" },
		{ ENV("a@s.test\0example.test\0\0b@example.test>x\0\0"), 1,
		    "'>' after a recipient" },
		{ ENV("a@s.test\0example.test\0\0b@evil.test@example.test\0\0"),
		    1, "two '@'" },
		{ ENV("a@s.test\0example.test\0\0b%evil.test@example.test\0\0"),
		    1, "'%' hack" },
		{ ENV("a@s.test\0example.test\0\0@x:b@example.test\0\0"), 1,
		    "source route" },
		{ ENV("a@s.test\0example.test\0\0b\0\0"), 1, "no domain" },
		{ ENV("a@s.test\0example.test\0\0b@Example.TEST\0\0"), 1,
		    "not the canonical form (domain case)" },
		{ ENV("a@s.test\0example.test\0\0\0\0"), 1, "empty recipient" },
		{ ENV("a@s.test\0ex ample.test\0\0b@example.test\0\0"), 1,
		    "bad route domain" },
		{ ENV("a@s.test\0\0\0b@example.test\0\0"), 1,
		    "empty route domain" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0\0junk"), 1,
		    "bytes after the last recipient" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0\0"), 2,
		    "fewer recipients than announced" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0"), 1,
		    "a recipient's parameters missing" },
		{ ENV("a@s.test\0example.test\0\0b@example.test"), 1,
		    "last string not terminated" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0\0"), 0,
		    "no recipient" },
		{ ENV("a@s.test\0example.test\0RET=FULL\r\nRSET\0"
		    "b@example.test\0\0"), 1, "CR LF in the sender's parameters" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0"
		    "NOTIFY=NEVER\r\nDATA\0"), 1,
		    "CR LF in a recipient's parameters" },
		{ ENV("a@s.test\0example.test\0\0b@example.test\0"
		    "ORCPT=rfc822;\xc3\xa9\0"), 1,
		    "8-bit octets in a recipient's parameters" },
	};
	struct queue_msg m;
	size_t i;

	is_int(parse(ENV("a@s.test\0example.test\0RET=HDRS ENVID=x+2B\0"
	    "b@example.test\0\0\"c.d\"@sub.example.test\0NOTIFY=NEVER\0"), 2,
	    &m), 0, "good envelope");
	ok(strcmp(m.from, "a@s.test") == 0 &&
	    strcmp(m.route_domain, "example.test") == 0 && m.nrcpt == 2 &&
	    strcmp(m.rcpt[1].addr, "\"c.d\"@sub.example.test") == 0 &&
	    strcmp(m.params, "RET=HDRS ENVID=x+2B") == 0 &&
	    strcmp(m.rcpt[0].params, "") == 0 &&
	    strcmp(m.rcpt[1].params, "NOTIFY=NEVER") == 0,
	    "... its fields, the DSN parameters among them");
	queue_msg_free(&m);
	is_int(parse(ENV("\0example.test\0\0b@example.test\0\0"), 1, &m), 0,
	    "null sender");
	queue_msg_free(&m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(parse(bad[i].env, bad[i].len, bad[i].nrcpt, &m), -1,
		    "refused: %s", bad[i].name);
		queue_msg_free(&m);
	}

	/* encode -> decode round trip */
	{
		static char buf[ENVELOPE_MAX];
		const char *rc[2] = { "b@example.test", "\"c..d\"@example.test" };
		const char *rp[2] = { "NOTIFY=SUCCESS ORCPT=rfc822;b@x.test", "" };
		size_t n = envelope_encode(buf, sizeof(buf), "", "example.test",
		    "ENVID=1", rc, rp, 2);

		ok(n == 1 + 13 + 8 + 15 + 37 + 20 + 1, "encode: %zu bytes", n);
		queue_msg_init(&m);
		ok(n > 0 && envelope_decode(buf, n, 2, &m) == 0 &&
		    m.from[0] == '\0' && m.nrcpt == 2 &&
		    strcmp(m.rcpt[1].addr, rc[1]) == 0 &&
		    strcmp(m.params, "ENVID=1") == 0 &&
		    strcmp(m.rcpt[0].params, rp[0]) == 0, "decode(encode())");
		queue_msg_free(&m);
		n = envelope_encode(buf, sizeof(buf), "", "example.test", NULL,
		    rc, NULL, 2);
		queue_msg_init(&m);
		ok(n == 1 + 13 + 1 + 15 + 1 + 20 + 1 &&
		    envelope_decode(buf, n, 2, &m) == 0 && m.params[0] == '\0' &&
		    m.rcpt[0].params[0] == '\0', "no parameters: empty strings");
		queue_msg_free(&m);
		is_int((int)envelope_encode(buf, 10, "", "example.test", NULL, rc,
		    NULL, 2), 0, "encode: does not fit -> 0");
		is_int((int)envelope_encode(buf, sizeof(buf), "", "example.test",
		    NULL, rc, NULL, 0), 0, "encode: no recipient -> 0");
	}
	/* the runner's report */
	{
		static char buf[REPORT_MAX];
		struct delivery_report d = { "10.0.0.1[10.0.0.1]:25",
		    "250 2.0.0 Ok", 0 }, d2;
		struct queue_msg a, b;
		size_t n;

		queue_msg_init(&a);
		queue_msg_add_rcpt(&a, "x@example.test");
		queue_msg_add_rcpt(&a, "y@example.test");
		queue_msg_add_rcpt(&a, "z@example.test");
		queue_set_result(&a, 0, QRCPT_SENT, "2.0.0", "250 2.0.0 Ok");
		queue_set_result(&a, 1, QRCPT_FAILED, "5.1.1", "550 5.1.1 no");
		queue_set_result(&a, 2, QRCPT_PENDING, "4.4.2", "lost");
		n = report_encode(buf, sizeof(buf), &d, &a);
		ok(n > 0, "report encoded: %zu bytes", n);
		queue_msg_init(&b);
		queue_msg_add_rcpt(&b, "x@example.test");
		queue_msg_add_rcpt(&b, "y@example.test");
		queue_msg_add_rcpt(&b, "z@example.test");
		ok(report_decode(buf, n, &d2, &b) == 0 &&
		    strcmp(d2.relay, d.relay) == 0 &&
		    strcmp(d2.result, d.result) == 0 && !d2.route_down &&
		    b.rcpt[0].state == QRCPT_SENT &&
		    b.rcpt[1].state == QRCPT_FAILED &&
		    strcmp(b.rcpt[1].status, "5.1.1") == 0 &&
		    strcmp(b.rcpt[1].last_error, "550 5.1.1 no") == 0 &&
		    b.rcpt[2].state == QRCPT_PENDING, "report round trip");
		is_int(report_decode(buf, n - 1, &d2, &b), -1,
		    "report: truncated -> refused");
		buf[n - 1] = 'x';
		is_int(report_decode(buf, n, &d2, &b), -1,
		    "report: unterminated -> refused");
		buf[n - 1] = '\0';
		b.nrcpt = 2;
		is_int(report_decode(buf, n, &d2, &b), -1,
		    "report: more results than recipients -> refused");
		b.nrcpt = 3;
		{
			char *st = memchr(buf, 'S', n);
			*st = 'Q';
			is_int(report_decode(buf, n, &d2, &b), -1,
			    "report: unknown state -> refused");
			*st = 'S';
		}
		{
			char *st = memmem(buf, n, "5.1.1", 5);
			st[0] = '9';
			is_int(report_decode(buf, n, &d2, &b), -1,
			    "report: bad enhanced status -> refused");
			st[0] = '5';
		}
		is_int(report_decode(buf, n, &d2, &b), 0, "report: restored");
		queue_msg_free(&a);
		queue_msg_free(&b);
	}

	is_int(addr_check("a@example.test", 0), ADDR_OK, "addr_check: plain");
	is_int(addr_check("", 1), ADDR_OK, "addr_check: null where allowed");
	is_int(addr_check("", 0), ADDR_NULL_NOT_ALLOWED,
	    "addr_check: null where not");
	is_int(addr_check("a@example.test>", 0), ADDR_SYNTAX,
	    "addr_check: trailing '>'");
	is_int(addr_check("a@b.test> SIZE=1", 0), ADDR_SYNTAX,
	    "addr_check: parameters");
	is_int(addr_check("a\r\n@example.test", 0), ADDR_SYNTAX,
	    "addr_check: CR LF");
	return done_testing();
}
