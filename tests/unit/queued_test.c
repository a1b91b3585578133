/*
 * queued_test.c — the queue owner's envelope check (queued.h): a worker's
 * envelope is stored only when every address passes addr.c again, so no
 * string the runner later writes into MAIL FROM or RCPT TO can carry CR,
 * LF, NUL, a second '@' or a second hop; and addr_check() itself.
 */
#include <string.h>

#include "addr.h"
#include "queue.h"
#include "queued.h"
#include "tap.h"

/* Parses an envelope given as one C literal with embedded NULs. */
static int
parse(const char *env, size_t len, uint32_t nrcpt, struct queue_msg *m)
{
	int rc;

	queue_msg_init(m);
	rc = queued_envelope_parse(env, len, nrcpt, m);
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
		{ ENV("a@s.test\0example.test\0b@example.test\r\nDATA\0"), 1,
		    "CR LF in a recipient" },
		{ ENV("a@s.test>\r\nRCPT TO:<x@evil.test\0example.test\0"
		    "b@example.test\0"), 1, "CR LF in the sender" },
		{ ENV("a@s.test\0example.test\0b@example.test>x\0"), 1,
		    "'>' after a recipient" },
		{ ENV("a@s.test\0example.test\0b@evil.test@example.test\0"), 1,
		    "two '@'" },
		{ ENV("a@s.test\0example.test\0b%evil.test@example.test\0"), 1,
		    "'%' hack" },
		{ ENV("a@s.test\0example.test\0@x:b@example.test\0"), 1,
		    "source route" },
		{ ENV("a@s.test\0example.test\0b\0"), 1, "no domain" },
		{ ENV("a@s.test\0example.test\0b@Example.TEST\0"), 1,
		    "not the canonical form (domain case)" },
		{ ENV("a@s.test\0example.test\0\0"), 1, "empty recipient" },
		{ ENV("a@s.test\0ex ample.test\0b@example.test\0"), 1,
		    "bad route domain" },
		{ ENV("a@s.test\0\0b@example.test\0"), 1, "empty route domain" },
		{ ENV("a@s.test\0example.test\0b@example.test\0junk"), 1,
		    "bytes after the last recipient" },
		{ ENV("a@s.test\0example.test\0b@example.test\0"), 2,
		    "fewer recipients than announced" },
		{ ENV("a@s.test\0example.test\0b@example.test"), 1,
		    "last string not terminated" },
		{ ENV("a@s.test\0example.test\0b@example.test\0"), 0,
		    "no recipient" },
	};
	struct queue_msg m;
	size_t i;

	is_int(parse(ENV("a@s.test\0example.test\0b@example.test\0"
	    "\"c.d\"@sub.example.test\0"), 2, &m), 0, "good envelope");
	ok(strcmp(m.from, "a@s.test") == 0 &&
	    strcmp(m.route_domain, "example.test") == 0 && m.nrcpt == 2 &&
	    strcmp(m.rcpt[1].addr, "\"c.d\"@sub.example.test") == 0,
	    "... its fields");
	queue_msg_free(&m);
	is_int(parse(ENV("\0example.test\0b@example.test\0"), 1, &m), 0,
	    "null sender");
	queue_msg_free(&m);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(parse(bad[i].env, bad[i].len, bad[i].nrcpt, &m), -1,
		    "refused: %s", bad[i].name);
		queue_msg_free(&m);
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
