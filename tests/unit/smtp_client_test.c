/*
 * smtp_client_test.c — the reply parser used toward the customer's
 * server: single and multi-line replies tagged with the command they
 * answer, EHLO capabilities, any split of the input, and every malformed
 * reply refused (bare LF, bad code, mixed codes, over-long, too many
 * lines, unsolicited) with the error sticky; command lines holding CR or
 * LF never written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client.h"
#include "tap.h"
#include "util.h"

struct c {
	struct smtp_client	cli;
	struct buf		in, out;
};

static void
c_init(struct c *c)
{
	buf_init(&c->in, 1 << 16);
	buf_init(&c->out, 1 << 16);
	smtp_client_init(&c->cli, &c->out);
}

static void
c_free(struct c *c)
{
	buf_free(&c->in);
	buf_free(&c->out);
}

/* Feeds text and parses one reply: 1, 0 or -1 like smtp_client_feed. */
static int
one(struct c *c, const char *text, struct smtp_reply *r)
{
	buf_append(&c->in, text, strlen(text));
	return smtp_client_feed(&c->cli, &c->in, r);
}

static void
test_replies(void)
{
	struct c c;
	struct smtp_reply r;
	const char *ehlo = "250-mx.customer.test greets you\r\n"
	    "250-PIPELINING\r\n250-SIZE 20480000\r\n250-8BITMIME\r\n"
	    "250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n";

	c_init(&c);
	is_int(smtp_client_pending(&c.cli), 1, "the greeting is awaited first");
	is_int(one(&c, "220 mx.customer.test ESMTP\r\n", &r), 1, "greeting");
	is_int(r.op, COP_GREETING, "greeting: op");
	is_int(r.code, 220, "greeting: code");
	is_str(r.text, "mx.customer.test ESMTP", "greeting: text");
	is_int(smtp_client_send(&c.cli, COP_EHLO, "EHLO mx.example.test"), 0,
	    "EHLO queued");
	ok(c.out.len == 22 && memcmp(buf_ptr(&c.out), "EHLO mx.example.test\r\n",
	    22) == 0, "EHLO written with CRLF");
	is_int(one(&c, ehlo, &r), 1, "multi-line EHLO reply");
	ok(r.op == COP_EHLO && r.code == 250, "EHLO: op and code");
	is_str(r.text, "ENHANCEDSTATUSCODES", "EHLO: text of the final line");
	ok(c.cli.cap_pipelining && c.cli.cap_8bitmime && c.cli.cap_starttls &&
	    c.cli.cap_size, "EHLO: capabilities");
	is_int(c.cli.max_size, 20480000, "EHLO: SIZE value");
	ok(!c.cli.cap_dsn, "EHLO: no DSN offered");
	{
		char line[1024];

		ok(smtp_client_mail_line(&c.cli, line, sizeof(line), "b@s.test",
		    100, 1, "RET=HDRS ENVID=x") == 0 && strcmp(line,
		    "MAIL FROM:<b@s.test> SIZE=100 BODY=8BITMIME") == 0,
		    "MAIL line: no DSN parameters to a server without DSN");
		ok(smtp_client_rcpt_line(&c.cli, line, sizeof(line),
		    "a@example.test", "NOTIFY=NEVER") == 0 &&
		    strcmp(line, "RCPT TO:<a@example.test>") == 0,
		    "RCPT line: none either");
		c.cli.cap_dsn = 1;
		ok(smtp_client_mail_line(&c.cli, line, sizeof(line), "b@s.test",
		    0, 0, "RET=HDRS ENVID=x") == 0 && strcmp(line,
		    "MAIL FROM:<b@s.test> RET=HDRS ENVID=x") == 0,
		    "MAIL line: DSN parameters to a server offering DSN");
		ok(smtp_client_rcpt_line(&c.cli, line, sizeof(line),
		    "a@example.test", "NOTIFY=NEVER") == 0 &&
		    strcmp(line, "RCPT TO:<a@example.test> NOTIFY=NEVER") == 0,
		    "RCPT line: with its parameters");
		ok(smtp_client_rcpt_line(&c.cli, line, sizeof(line),
		    "a@example.test", "") == 0 &&
		    strcmp(line, "RCPT TO:<a@example.test>") == 0,
		    "RCPT line: a recipient without parameters");
		is_int(smtp_client_rcpt_line(&c.cli, line, 20, "a@example.test",
		    ""), -1, "RCPT line that does not fit: -1");
		ok(smtp_client_mail_line(&c.cli, line, sizeof(line), "b@s.test",
		    0, 0, "SMTPUTF8 RET=FULL") == 0 && strcmp(line,
		    "MAIL FROM:<b@s.test> RET=FULL") == 0,
		    "MAIL line: SMTPUTF8 only to a server offering it");
		c.cli.cap_smtputf8 = 1;
		c.cli.cap_dsn = 0;
		ok(smtp_client_mail_line(&c.cli, line, sizeof(line), "b@s.test",
		    0, 0, "SMTPUTF8 RET=FULL") == 0 && strcmp(line,
		    "MAIL FROM:<b@s.test> SMTPUTF8") == 0,
		    "MAIL line: SMTPUTF8 without DSN: RET dropped");
		is_int(smtp_client_mail_line(&c.cli, line, 25, "b@s.test", 0, 0,
		    "SMTPUTF8"), -1, "MAIL line that does not fit: -1");
		ok(smtp_params_smtputf8("RET=FULL SMTPUTF8") &&
		    smtp_params_smtputf8("SMTPUTF8") &&
		    !smtp_params_smtputf8("SMTPUTF8X ENVID=SMTPUTF8") &&
		    !smtp_params_smtputf8(""), "smtp_params_smtputf8");
		c.cli.cap_smtputf8 = 0;
	}

	/* pipelined: three replies in one read, in order */
	smtp_client_send(&c.cli, COP_MAIL, "MAIL FROM:<b@s.test>");
	smtp_client_send(&c.cli, COP_RCPT, "RCPT TO:<a@example.test>");
	smtp_client_send(&c.cli, COP_DATA, "DATA");
	{
		const char *three = "250 2.1.0 Ok\r\n"
		    "550 5.1.1 <a@example.test>: no\r\n354 go\r\n";
		buf_append(&c.in, three, strlen(three));
	}
	is_int(smtp_client_feed(&c.cli, &c.in, &r), 1, "first of three");
	ok(r.op == COP_MAIL && r.code == 250, "MAIL 250");
	is_int(smtp_client_feed(&c.cli, &c.in, &r), 1, "second of three");
	ok(r.op == COP_RCPT && r.code == 550, "RCPT 550");
	is_str(r.text, "5.1.1 <a@example.test>: no", "RCPT text kept for the sender");
	is_int(smtp_client_feed(&c.cli, &c.in, &r), 1, "third of three");
	ok(r.op == COP_DATA && r.code == 354, "DATA 354");
	is_int(smtp_client_feed(&c.cli, &c.in, &r), 0, "nothing more");
	is_int(smtp_client_expect(&c.cli, COP_DOT), 0, "expect the dot's reply");
	is_int(one(&c, "250\r\n", &r), 1, "reply without text");
	ok(r.op == COP_DOT && r.code == 250 && r.text[0] == '\0',
	    "DOT 250, empty text");
	smtp_client_send(&c.cli, COP_QUIT, "QUIT");
	is_int(one(&c, "221 bye\x01\xff\r\n", &r), 1, "control bytes in text");
	is_str(r.text, "bye??", "... replaced for the logs");
	c_free(&c);

	/* EHLO again resets the capabilities */
	c_init(&c);
	one(&c, "220 x\r\n", &r);
	smtp_client_send(&c.cli, COP_EHLO, "EHLO a");
	one(&c, "250-x\r\n250 SIZE\r\n", &r);
	ok(c.cli.cap_size && c.cli.max_size == 0 && !c.cli.cap_pipelining,
	    "SIZE without a value; no PIPELINING");
	c_free(&c);

	/* long text is cut for the logs, not refused */
	c_init(&c);
	{
		char line[600];
		memset(line, 'a', sizeof(line));
		memcpy(line, "220 ", 4);
		memcpy(line + 598, "\r\n", 2);
		buf_append(&c.in, line, sizeof(line));
		is_int(smtp_client_feed(&c.cli, &c.in, &r), 1, "600-octet reply line");
		is_int(strlen(r.text), SMTP_CLIENT_TEXT_MAX, "text cut at %d",
		    SMTP_CLIENT_TEXT_MAX);
	}
	c_free(&c);
}

static void
test_splits(void)
{
	const char *wire = "220 hi\r\n250-a\r\n250-PIPELINING\r\n250 SIZE 99\r\n"
	    "250 2.1.0 Ok\r\n";
	size_t n = strlen(wire), i, j;
	int all_ok = 1;

	for (i = 1; i <= n; i++) {
		struct c c;
		struct smtp_reply r;
		int got[3] = { 0, 0, 0 }, k = 0, rc;

		c_init(&c);
		smtp_client_send(&c.cli, COP_EHLO, "EHLO x");
		smtp_client_send(&c.cli, COP_MAIL, "MAIL FROM:<>");
		for (j = 0; j < n; j += i) {
			size_t len = j + i <= n ? i : n - j;
			buf_append(&c.in, wire + j, len);
			while ((rc = smtp_client_feed(&c.cli, &c.in, &r)) == 1 &&
			    k < 3)
				got[k++] = r.code;
			if (rc < 0)
				all_ok = 0;
		}
		if (k != 3 || got[0] != 220 || got[1] != 250 || got[2] != 250 ||
		    !c.cli.cap_pipelining || c.cli.max_size != 99) {
			all_ok = 0;
			printf("# chunks of %zu: %d replies\n", i, k);
		}
		c_free(&c);
	}
	ok(all_ok, "the same three replies for input cut in chunks of 1..%zu", n);
}

static void
test_malformed(void)
{
	static const struct {
		const char *name, *text;
	} bad[] = {
		{ "bare LF", "250 ok\n" },
		{ "bare LF, continuation", "250-ok\n250 ok\r\n" },
		{ "1xx code", "150 ok\r\n" },
		{ "6xx code", "650 ok\r\n" },
		{ "letters in the code", "2x0 ok\r\n" },
		{ "no separator", "250ok\r\n" },
		{ "short line", "25\r\n" },
		{ "empty line", "\r\n" },
		{ "codes differ between lines", "250-first\r\n550 second\r\n" },
		{ "code then CR inside", "250\rx\r\n" },
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		struct c c;
		struct smtp_reply r;

		c_init(&c);
		is_int(one(&c, bad[i].text, &r), -1, "refused: %s", bad[i].name);
		is_int(one(&c, "220 ok\r\n", &r), -1, "%s: the error is sticky",
		    bad[i].name);
		c_free(&c);
	}

	{
		struct c c;
		struct smtp_reply r;
		char line[1100];

		c_init(&c);
		memset(line, 'a', sizeof(line));
		memcpy(line, "220 ", 4);
		buf_append(&c.in, line, sizeof(line));
		is_int(smtp_client_feed(&c.cli, &c.in, &r), -1,
		    "over-long line without LF");
		c_free(&c);

		c_init(&c);
		memcpy(line + 1001, "\r\n", 2);
		buf_append(&c.in, line, 1003);
		is_int(smtp_client_feed(&c.cli, &c.in, &r), -1,
		    "over-long line with CRLF");
		c_free(&c);

		c_init(&c);
		is_int(one(&c, "220 ok\r\n", &r), 1, "greeting");
		is_int(one(&c, "250 unsolicited\r\n", &r), -1,
		    "a reply nobody asked for");
		c_free(&c);

		c_init(&c);
		for (int k = 0; k < SMTP_CLIENT_MAX_LINES; k++)
			buf_append(&c.in, "220-x\r\n", 7);
		buf_append(&c.in, "220 x\r\n", 7);
		is_int(smtp_client_feed(&c.cli, &c.in, &r), -1,
		    "more than %d lines in one reply", SMTP_CLIENT_MAX_LINES);
		c_free(&c);

		c_init(&c);
		for (int k = 0; k < SMTP_CLIENT_MAX_LINES - 1; k++)
			buf_append(&c.in, "220-x\r\n", 7);
		buf_append(&c.in, "220 x\r\n", 7);
		is_int(smtp_client_feed(&c.cli, &c.in, &r), 1,
		    "exactly %d lines is fine", SMTP_CLIENT_MAX_LINES);
		c_free(&c);

		c_init(&c);
		for (int k = 1; k < SMTP_CLIENT_FIFO; k++)
			is_int(smtp_client_send(&c.cli, COP_RSET, "RSET"), 0,
			    "command %d queued", k + 1);
		is_int(smtp_client_send(&c.cli, COP_RSET, "RSET"), -1,
		    "FIFO of %d full: refused", SMTP_CLIENT_FIFO);
		c_free(&c);
	}
}

/* A command line with CR or LF is never written: it could carry a
 * second command (an address smuggled from a bad envelope). */
static void
test_command_lines(void)
{
	static const char *const bad[] = {
		"RCPT TO:<a@example.test>\r\nRCPT TO:<x@evil.test>",
		"RCPT TO:<a@example.test>\nDATA",
		"MAIL FROM:<a\r@example.test>",
	};
	struct c c;
	size_t i;

	c_init(&c);
	for (i = 0; i < ARRAY_LEN(bad); i++) {
		errno = 0;
		is_int(smtp_client_send(&c.cli, COP_RCPT, bad[i]), -1,
		    "command %zu with CR/LF refused", i);
		ok(errno == EINVAL && c.out.len == 0 &&
		    smtp_client_pending(&c.cli) == 1,
		    "... EINVAL, nothing written, nothing awaited");
	}
	is_int(smtp_client_send(&c.cli, COP_RCPT, "RCPT TO:<a@example.test>"),
	    0, "a clean command is still queued");
	c_free(&c);
}

int
main(void)
{
	test_command_lines();
	test_replies();
	test_splits();
	test_malformed();
	return done_testing();
}
