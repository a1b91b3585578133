/*
 * smtp_server_test.c — the pure SMTP server machine, fed bytes directly:
 * replies for every command path, pipelined batches answered in order,
 * DATA framing proven for every split of the input (byte by byte and at
 * every cut point), every smuggling ending refused, dot-stuffed lines
 * passed through unchanged, refused messages whose lines are never read
 * as commands; BDAT chunks turned into the same wire form at every cut,
 * framed as strictly, and read to their end when refused.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_server.h"
#include "tap.h"
#include "util.h"

struct t {
	struct smtp_server	 s;
	struct smtp_limits	 lim;
	struct buf		 in, out;
	char			 content[1 << 16];
	size_t			 clen;
	int			 eoms, closes, mails, rcpts, datas, helos, rsets;
	int			 starttls;
	enum smtp_msg_error	 msg_error;
	uint64_t		 eom_size;
	const char		*eom_reply;	/* answer to EOM; NULL: by error */
	const char		*rcpt_reply;
	const char		*data_reply;	/* answer to DATA; NULL: 354 */
	char			 params[SMTP_RCPT_PARAMS_MAX];	/* last MAIL/RCPT */
};

static void
t_init(struct t *t, uint64_t max_size, int max_errors)
{
	memset(t, 0, sizeof(*t));
	t->lim.hostname = "mx.example.test";
	t->lim.max_size = max_size;
	t->lim.max_recipients = 3;
	t->lim.max_errors = max_errors;
	buf_init(&t->in, 1 << 20);
	buf_init(&t->out, 1 << 20);
	smtp_server_init(&t->s, &t->lim, &t->out);
	smtp_server_banner(&t->s);
}

static void
t_free(struct t *t)
{
	buf_free(&t->in);
	buf_free(&t->out);
}

/* Steps until the machine needs input, answering decisions like a
 * customer that accepts everything. */
static void
t_run(struct t *t)
{
	struct smtp_event ev;
	int guard = 0;

	while (guard++ < 100000) {
		switch (smtp_server_step(&t->s, &t->in, &ev)) {
		case SMTP_EV_NONE:
			return;
		case SMTP_EV_HELO:
			t->helos++;
			break;
		case SMTP_EV_MAIL:
			t->mails++;
			str_copy(t->params, ev.params, sizeof(t->params));
			smtp_server_reply(&t->s, "250 2.1.0 Ok");
			break;
		case SMTP_EV_RCPT:
			t->rcpts++;
			str_copy(t->params, ev.params, sizeof(t->params));
			smtp_server_reply(&t->s, t->rcpt_reply ? t->rcpt_reply :
			    "250 2.1.5 Ok");
			break;
		case SMTP_EV_DATA:
			t->datas++;
			smtp_server_reply(&t->s, t->data_reply ? t->data_reply :
			    "354 go ahead");
			break;
		case SMTP_EV_CONTENT:
			if (t->clen + ev.len < sizeof(t->content)) {
				memcpy(t->content + t->clen, ev.data, ev.len);
				t->clen += ev.len;
			}
			break;
		case SMTP_EV_EOM:
			t->eoms++;
			t->msg_error = ev.msg_error;
			t->eom_size = ev.size;
			smtp_server_reply(&t->s, ev.msg_error == SMTP_MSG_OK ?
			    (t->eom_reply ? t->eom_reply : "250 2.0.0 Ok: queued") :
			    smtp_msg_error_reply(ev.msg_error));
			break;
		case SMTP_EV_RSET:
			t->rsets++;
			break;
		case SMTP_EV_STARTTLS:
			t->starttls++;
			return;
		case SMTP_EV_CLOSE:
			t->closes++;
			return;
		}
	}
}

static void
feed(struct t *t, const char *p, size_t n)
{
	buf_append(&t->in, p, n);
	t_run(t);
}

static void
feeds(struct t *t, const char *str)
{
	feed(t, str, strlen(str));
}

/* The replies written so far, as a string; then forgotten. */
static char outstr[1 << 16];
static const char *
out(struct t *t)
{
	size_t n = t->out.len < sizeof(outstr) - 1 ? t->out.len :
	    sizeof(outstr) - 1;

	memcpy(outstr, buf_ptr(&t->out), n);
	outstr[n] = '\0';
	buf_consume(&t->out, t->out.len);
	return outstr;
}

#define GREET	"EHLO client.test\r\nMAIL FROM:<b@s.test>\r\n" \
		"RCPT TO:<a@example.test>\r\nDATA\r\n"

/* A session in DATA, replies cleared. */
static void
in_data(struct t *t)
{
	t_init(t, 100000, 10);
	out(t);
	feeds(t, GREET);
	out(t);
}

static void
test_commands(void)
{
	struct t t;

	t_init(&t, 100000, 50);
	is_str(out(&t), "220 mx.example.test ESMTP\r\n", "banner");
	feeds(&t, "MAIL FROM:<b@s.test>\r\n");
	is_str(out(&t), "503 5.5.1 Error: send HELO/EHLO first\r\n",
	    "MAIL before HELO");
	feeds(&t, "HELO\r\n");
	is_str(out(&t), "501 5.5.4 Syntax: HELO hostname\r\n", "HELO without name");
	feeds(&t, "HELO client.test\r\n");
	is_str(out(&t), "250 mx.example.test\r\n", "HELO");
	ok(!t.s.esmtp && t.helos == 1, "HELO: not ESMTP, one HELO event");
	feeds(&t, "EHLO client.test\r\n");
	is_str(out(&t), "250-mx.example.test\r\n250-PIPELINING\r\n"
	    "250-SIZE 100000\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
	    "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
	    "EHLO capabilities (no STARTTLS when TLS is not available)");
	is_str(t.s.helo, "client.test", "HELO name kept");
	feeds(&t, "RCPT TO:<a@example.test>\r\n");
	is_str(out(&t), "503 5.5.1 Error: need MAIL command\r\n", "RCPT before MAIL");
	feeds(&t, "DATA\r\n");
	is_str(out(&t), "503 5.5.1 Error: need MAIL command\r\n", "DATA before MAIL");
	feeds(&t, "MAIL FROM:<b@s.test> SIZE=100001\r\n");
	is_str(out(&t), "552 5.3.4 Message size exceeds fixed limit\r\n",
	    "SIZE over the limit");
	feeds(&t, "MAIL FROM:<b@s.test> SIZE=x\r\n");
	is_str(out(&t), "501 5.5.4 Bad SIZE parameter\r\n", "bad SIZE");
	feeds(&t, "MAIL FROM:<b@s.test> AUTH=<>\r\n");
	is_str(out(&t), "555 5.5.4 Unsupported option: AUTH=<>\r\n",
	    "unsupported MAIL parameter");
	feeds(&t, "MAIL FROM:<b%x@s.test>\r\n");
	is_str(out(&t), "501 5.1.7 Bad sender address syntax: '%' routing is "
	    "not accepted\r\n", "bad sender path");
	feeds(&t, "MAIL FROM:<b@s.test> SIZE=10 BODY=8BITMIME\r\n");
	is_str(out(&t), "250 2.1.0 Ok\r\n", "MAIL with SIZE and BODY");
	feeds(&t, "MAIL FROM:<b@s.test>\r\n");
	is_str(out(&t), "503 5.5.1 Error: nested MAIL command\r\n", "nested MAIL");
	feeds(&t, "DATA\r\n");
	is_str(out(&t), "503 5.5.1 Error: need RCPT command\r\n", "DATA before RCPT");
	feeds(&t, "RCPT TO:<>\r\n");
	is_str(out(&t), "501 5.1.3 Bad recipient address syntax: null address "
	    "not allowed here\r\n", "null recipient");
	feeds(&t, "RCPT TO:<a@example.test> XFORWARD=1\r\n");
	is_str(out(&t), "555 5.5.4 Unsupported option: XFORWARD=1\r\n",
	    "RCPT parameter");
	t.rcpt_reply = "550 5.1.1 no such user";
	feeds(&t, "RCPT TO:<x@example.test>\r\n");
	is_str(out(&t), "550 5.1.1 no such user\r\n", "refused RCPT passed through");
	feeds(&t, "DATA\r\n");
	is_str(out(&t), "554 5.5.1 Error: no valid recipients\r\n",
	    "DATA after only refused recipients");
	t.rcpt_reply = NULL;
	feeds(&t, "RCPT TO:<1@example.test>\r\nRCPT TO:<2@example.test>\r\n"
	    "RCPT TO:<3@example.test>\r\nRCPT TO:<4@example.test>\r\n");
	is_str(out(&t), "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n", "max_recipients");
	feeds(&t, "RSET\r\n");
	is_str(out(&t), "250 2.0.0 Ok\r\n", "RSET");
	is_int(t.rsets, 1, "RSET of a transaction is an event");
	feeds(&t, "RSET x\r\nNOOP\r\nVRFY a\r\nHELP\r\nEXPN a\r\nTURN\r\n"
	    "STARTTLS\r\nFOO\r\n\r\n");
	is_str(out(&t), "501 5.5.4 Syntax: RSET\r\n250 2.0.0 Ok\r\n"
	    "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
	    "delivery\r\n"
	    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT "
	    "VRFY\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "502 5.5.1 Error: command not implemented\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n",
	    "pipelined replies-only commands: all answered from one feed");
	feeds(&t, "QUIT\r\nNOOP\r\n");
	is_str(out(&t), "221 2.0.0 Bye\r\n", "QUIT, and nothing after it");
	is_int(t.s.state, SMTP_CLOSED, "closed after QUIT");
	{
		char counts[256];
		smtp_server_counts(&t.s, counts, sizeof(counts));
		is_str(counts, "ehlo=1 helo=2 mail=1 rcpt=4 rset=2 noop=1 "
		    "vrfy=1 quit=1 starttls=1 help=1 unknown=4 commands=19",
		    "per-verb counts for the disconnect line");
	}
	t_free(&t);
}

static void
test_errors_and_limits(void)
{
	struct t t;
	char line[600];

	t_init(&t, 100000, 3);
	out(&t);
	feeds(&t, "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n");
	is_str(out(&t), "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "421 4.7.0 mx.example.test Error: too many errors\r\n",
	    "max_errors: third error, then 421");
	is_int(t.closes, 1, "max_errors: close event");
	t_free(&t);

	t_init(&t, 100000, 50);
	out(&t);
	for (int i = 0; i < 101; i++)
		feeds(&t, "NOOP\r\n");
	ok(strstr(out(&t), "250 2.0.0 Ok\r\n421 4.7.0 mx.example.test Error: "
	    "too many junk commands\r\n") != NULL, "101st NOOP: 421 junk limit");
	t_free(&t);

	/* 512 octets with CRLF is the longest command line */
	t_init(&t, 100000, 50);
	out(&t);
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 510, "\r\n", 2);
	feed(&t, line, 512);
	is_str(out(&t), "250 2.0.0 Ok\r\n", "512-octet command accepted");
	memcpy(line + 510, "x\r\n", 3);
	feed(&t, line, 513);
	is_str(out(&t), "500 5.5.2 Error: line too long\r\n",
	    "513-octet command refused");
	/* a long line arriving in pieces: one refusal, its tail skipped */
	feed(&t, line, 510);
	feed(&t, line, 510);
	feeds(&t, "QUIT\r\nNOOP\r\n");
	is_str(out(&t), "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n",
	    "over-long line in pieces: one 500, tail (\"QUIT\") skipped");
	feed(&t, "NOOP\0x\r\n", 8);
	is_str(out(&t), "500 5.5.2 Error: NUL character in command\r\n",
	    "NUL in a command refused");
	memset(line, 'y', sizeof(line));	/* no line end: skipped */
	feed(&t, line, sizeof(line));
	feeds(&t, "y\rz");
	ok(strstr(out(&t), "521 5.5.2 mx.example.test Error: bare <CR> "
	    "received\r\n") != NULL, "bare CR inside a skipped over-long line");
	is_int(t.closes, 1, "... closes");
	t_free(&t);

	t_init(&t, 100000, 50);
	out(&t);
	feeds(&t, "NOOP\n");
	is_str(out(&t), "521 5.5.2 mx.example.test Error: bare <LF> received\r\n",
	    "bare LF ending a command");
	t_free(&t);

	t_init(&t, 100000, 50);
	out(&t);
	feeds(&t, "NO\rOP\r\n");
	is_str(out(&t), "521 5.5.2 mx.example.test Error: bare <CR> received\r\n",
	    "bare CR inside a command");
	t_free(&t);

	/* the caller's 421 closes */
	t_init(&t, 100000, 50);
	out(&t);
	t.rcpt_reply = "421 4.4.2 going away";
	feeds(&t, "EHLO c\r\nMAIL FROM:<b@s.test>\r\nRCPT TO:<a@e.test>\r\n"
	    "NOOP\r\n");
	ok(strstr(out(&t), "250 2.1.0 Ok\r\n421 4.4.2 going away\r\n") != NULL &&
	    t.s.state == SMTP_CLOSED, "a 421 decision closes the session");
	t_free(&t);

	/* STARTTLS when available: 220, then every state is reset */
	t_init(&t, 100000, 50);
	t.s.lim.tls_available = 1;
	out(&t);
	feeds(&t, "EHLO c\r\n");
	ok(strstr(out(&t), "250-STARTTLS\r\n") != NULL, "STARTTLS offered");
	feeds(&t, "STARTTLS\r\nEHLO injected\r\n");
	is_str(out(&t), "220 2.0.0 Ready to start TLS\r\n", "STARTTLS: 220");
	is_int(t.starttls, 1, "STARTTLS event stops the stepping");
	t_run(&t);	/* another event (the customer's) makes it step */
	is_str(out(&t), "", "stepped again before the handshake: the "
	    "plaintext after STARTTLS is not processed");
	is_int(t.helos, 1, "... no HELO event from it");
	buf_consume(&t.in, t.in.len);	/* the caller discards it */
	smtp_server_tls_started(&t.s);
	feeds(&t, "MAIL FROM:<b@s.test>\r\n");
	is_str(out(&t), "503 5.5.1 Error: send HELO/EHLO first\r\n",
	    "after TLS: HELO state again");
	feeds(&t, "EHLO c\r\n");
	ok(strstr(out(&t), "STARTTLS") == NULL, "after TLS: not offered again");
	t_free(&t);

	/* a decision pending when TLS starts is discarded with the rest:
	 * its verdict, arriving late, never reaches the client */
	t_init(&t, 100000, 50);
	t.s.lim.tls_available = 1;
	feeds(&t, "EHLO c\r\nMAIL FROM:<b@s.test>\r\n");
	out(&t);
	{
		struct smtp_event ev;

		buf_append(&t.in, "RCPT TO:<a@e.test>\r\n", 20);
		ok(smtp_server_step(&t.s, &t.in, &ev) == SMTP_EV_RCPT &&
		    t.s.pending == SMTP_EV_RCPT, "RCPT: decision pending");
	}
	smtp_server_tls_started(&t.s);
	ok(t.s.pending == SMTP_EV_NONE && t.s.state == SMTP_HELO,
	    "TLS started: no decision pending, HELO state");
	smtp_server_reply(&t.s, "250 2.1.5 Ok");
	smtp_server_relay_reply(&t.s, "550 5.1.1 late");
	is_str(out(&t), "", "the late verdicts are not sent");
	feeds(&t, "RCPT TO:<a@e.test>\r\n");
	is_str(out(&t), "503 5.5.1 Error: need MAIL command\r\n",
	    "... and the transaction is gone");
	t_free(&t);
}

static const char MSG[] =
    "Subject: test\r\n"
    "\r\n"
    "..leading dot, stuffed\r\n"
    "...\r\n"
    ". \r\n"
    ".x.\r\n"
    "\xff\xfe 8-bit\r\n"
    "end\r\n";

static void
test_data_framing(void)
{
	struct t t, ref;
	size_t i, n = strlen(MSG);
	char wire[sizeof(MSG) + 8];
	int all_ok = 1, early = 0;

	/* reference: in one piece */
	in_data(&ref);
	feeds(&ref, MSG);
	feeds(&ref, ".\r\n");
	is_int(ref.eoms, 1, "one EOM");
	is_int(ref.clen, n, "content length");
	ok(ref.clen == n && memcmp(ref.content, MSG, n) == 0,
	    "content is the wire form, dot-stuffed lines unchanged");
	is_int(ref.eom_size, n - 4, "EOM size counts the message, not the "
	    "4 transparency dots of its wire form (RFC 1870)");
	is_str(out(&ref), "250 2.0.0 Ok: queued\r\n", "EOM answered");
	t_free(&ref);

	/* byte by byte: EOM exactly at the last byte, content identical */
	in_data(&t);
	memcpy(wire, MSG, n);
	memcpy(wire + n, ".\r\n", 3);
	for (i = 0; i < n + 3; i++) {
		feed(&t, wire + i, 1);
		if (i < n + 2 && t.eoms != 0)
			early = 1;
	}
	ok(!early, "byte by byte: no EOM before the final LF");
	is_int(t.eoms, 1, "byte by byte: exactly one EOM");
	ok(t.clen == n && memcmp(t.content, MSG, n) == 0,
	    "byte by byte: content identical");
	t_free(&t);

	/* every cut point in two pieces */
	for (i = 1; i < n + 3; i++) {
		in_data(&t);
		feed(&t, wire, i);
		feed(&t, wire + i, n + 3 - i);
		if (t.eoms != 1 || t.clen != n || memcmp(t.content, MSG, n) != 0 ||
		    t.msg_error != SMTP_MSG_OK) {
			all_ok = 0;
			printf("# cut at %zu: eoms=%d clen=%zu\n", i, t.eoms, t.clen);
		}
		t_free(&t);
	}
	ok(all_ok, "split at every one of %zu points: same content, one EOM",
	    n + 2);

	/* after EOM the next transaction, pipelined in the same feed */
	in_data(&t);
	feeds(&t, "a\r\n.\r\nMAIL FROM:<c@s.test>\r\nRCPT TO:<d@example.test>\r\n"
	    "DATA\r\nb\r\n.\r\nQUIT\r\n");
	is_str(out(&t), "250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 go ahead\r\n250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
	    "two pipelined transactions answered in order");
	ok(t.clen == 6 && memcmp(t.content, "a\r\nb\r\n", 6) == 0,
	    "... their contents apart");
	t_free(&t);
}

static void
test_smuggling(void)
{
	static const struct {
		const char	*name;
		const char	*ending;
		size_t		 len;
		const char	*reply;	/* expected final reply */
	} e[] = {
#define E(name, ending, reply) { name, ending, sizeof(ending) - 1, reply }
		E("<LF>.<LF>", "\n.\n", "bare <LF>"),
		E("<LF>.<CR><LF>", "\n.\r\n", "bare <LF>"),
		E("<CR>.<CR>", "\r.\r", "bare <CR>"),
		E("<CR><LF>.<LF>", "\r\n.\n", "bare <LF>"),
		E("<CR>.<CR><LF>", "\r.\r\n", "bare <CR>"),
		E("<CR><LF>.<CR>x", "\r\n.\rx", "bare <CR>"),
		E("<CR><LF>.<NUL><CR><LF>", "\r\n.\0\r\n", "NUL character"),
		E("<CR><LF><NUL>.<CR><LF>", "\r\n\0.\r\n", "NUL character"),
		E("<CR><LF>.<NUL><LF>", "\r\n.\0\n", "bare <LF>"),
		E("<NUL><LF>.<LF>", "\0\n.\n", "bare <LF>"),
		E("<CR><NUL><LF>.<CR><LF>", "\r\0\n.\r\n", "bare <"),
#undef E
	};
	static const char smuggled[] = "MAIL FROM:<evil@evil.test>\r\n"
	    "RCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n";
	char wire[256];
	size_t i, j, n;

	for (i = 0; i < ARRAY_LEN(e); i++) {
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct t t;
			const char *o;

			in_data(&t);
			n = 0;
			memcpy(wire, "body", 4);
			n += 4;
			memcpy(wire + n, e[i].ending, e[i].len);
			n += e[i].len;
			memcpy(wire + n, smuggled, sizeof(smuggled) - 1);
			n += sizeof(smuggled) - 1;
			memcpy(wire + n, "\r\n.\r\n", 5);
			n += 5;
			if (bytewise)
				for (j = 0; j < n; j++)
					feed(&t, wire + j, 1);
			else
				feed(&t, wire, n);
			o = out(&t);
			if (strstr(o, e[i].reply) == NULL)
				printf("# out: %s\n", o);
			ok(strstr(o, e[i].reply) != NULL && strncmp(o, "5", 1) == 0,
			    "%s%s: refused (%s)", e[i].name,
			    bytewise ? " byte by byte" : "", e[i].reply);
			ok(t.mails == 1 && t.rcpts == 1 && t.datas == 1,
			    "%s%s: no smuggled command executed", e[i].name,
			    bytewise ? " byte by byte" : "");
			ok(t.eoms == 0 || t.msg_error != SMTP_MSG_OK,
			    "%s%s: no message accepted", e[i].name,
			    bytewise ? " byte by byte" : "");
			t_free(&t);
		}
	}
}

/* Lines dropped for an error must leave with the ".", never reach the
 * command parser (a smuggling path found by tests/relay/dialogues). */
static void
test_refused_lines_not_commands(void)
{
	struct t t;
	char longline[1100];

	memset(longline, 'x', sizeof(longline));
	in_data(&t);
	feed(&t, longline, sizeof(longline));
	feeds(&t, "abcMAIL FROM:<evil@evil.test>\r\n.\r\nRCPT TO:<v@example.test>\r\n");
	is_int(t.msg_error, SMTP_MSG_LONG_LINE, "long line: refused at EOM");
	is_str(out(&t), "554 5.6.0 Error: message line longer than 998 octets\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n",
	    "long line: its tail is not a command");
	is_int(t.mails, 1, "long line: no second MAIL");
	t_free(&t);

	in_data(&t);
	feed(&t, "a\0b\r\n", 5);
	feeds(&t, "MAIL FROM:<evil@evil.test>\r\n.\r\n");
	is_str(out(&t), "554 5.6.0 Error: NUL character in message\r\n",
	    "NUL: refused, and the line after it was content");
	is_int(t.mails, 1, "NUL: no second MAIL");
	t_free(&t);

	t_init(&t, 50, 10);
	out(&t);
	feeds(&t, GREET);
	out(&t);
	feeds(&t, "0123456789012345678901234567890123456789\r\n");
	feeds(&t, "0123456789012345678901234567890123456789\r\n"
	    "MAIL FROM:<evil@evil.test>\r\n.\r\n");
	is_str(out(&t), "552 5.3.4 Error: message file too big\r\n",
	    "too big: refused, later lines were content");
	is_int(t.mails, 1, "too big: no second MAIL");
	t_free(&t);
}

static void
test_data_limits(void)
{
	struct t t;
	char line[1002];

	/* 1000 octets with CRLF pass, 1001 do not */
	in_data(&t);
	memset(line, 'a', sizeof(line));
	memcpy(line + 998, "\r\n", 2);
	feed(&t, line, 1000);
	feeds(&t, ".\r\n");
	is_int(t.msg_error, SMTP_MSG_OK, "1000-octet line accepted");
	t_free(&t);
	in_data(&t);
	memset(line, 'a', sizeof(line));
	memcpy(line + 999, "\r\n", 2);
	feed(&t, line, 1001);
	feeds(&t, ".\r\n");
	is_int(t.msg_error, SMTP_MSG_LONG_LINE, "1001-octet line refused");
	is_int(t.clen, 0, "... and not handed out");
	t_free(&t);

	/* a transparency dot is not part of the line (RFC 5321 4.5.3.1.6):
	 * a legal 998-octet line beginning with '.' is 1001 octets on the
	 * wire; one octet more is over the limit */
	{
		char dl[1003];

		in_data(&t);
		memset(dl, 'a', sizeof(dl));
		dl[0] = dl[1] = '.';
		memcpy(dl + 999, "\r\n", 2);
		feed(&t, dl, 1001);
		feeds(&t, ".\r\n");
		is_int(t.msg_error, SMTP_MSG_OK, "998 octets + CRLF after a "
		    "transparency dot: accepted");
		is_int(t.clen, 1001, "... handed out as transmitted");
		t_free(&t);
		in_data(&t);
		memset(dl, 'a', sizeof(dl));
		dl[0] = dl[1] = '.';
		memcpy(dl + 1000, "\r\n", 2);
		feed(&t, dl, 1002);
		feeds(&t, ".\r\n");
		is_int(t.msg_error, SMTP_MSG_LONG_LINE, "999 octets + CRLF after "
		    "a transparency dot: refused");
		t_free(&t);
	}

	/* size counts the message, not its transparency dots (RFC 1870):
	 * exactly max_size with two stuffed lines passes, one more fails */
	t_init(&t, 20, 10);
	out(&t);
	feeds(&t, GREET);
	feeds(&t, "..2345678\r\n..2345678\r\n.\r\n");
	is_int(t.msg_error, SMTP_MSG_OK, "exactly max_size after unstuffing: "
	    "accepted");
	is_int(t.eom_size, 20, "... size 20");
	t_free(&t);
	t_init(&t, 20, 10);
	out(&t);
	feeds(&t, GREET);
	feeds(&t, "..2345678\r\n..23456789\r\n.\r\n");
	is_int(t.msg_error, SMTP_MSG_TOO_BIG, "max_size + 1 after unstuffing: "
	    "refused");
	t_free(&t);

	/* size */
	t_init(&t, 20, 10);
	out(&t);
	feeds(&t, GREET);
	feeds(&t, "0123456789\r\n0123456789\r\n.\r\n");
	is_int(t.msg_error, SMTP_MSG_TOO_BIG, "over max_size: refused at EOM");
	ok(strstr(out(&t), "552 5.3.4 Error: message file too big\r\n") != NULL,
	    "552");
	t_free(&t);

	/* memory budget from the caller */
	in_data(&t);
	feeds(&t, "a\r\n");
	smtp_server_set_msg_error(&t.s, SMTP_MSG_NO_MEMORY);
	feeds(&t, "b\r\n.\r\n");
	is_int(t.msg_error, SMTP_MSG_NO_MEMORY, "caller's memory error reported");
	ok(strstr(out(&t), "452 4.3.1 ") != NULL, "452 for memory");
	t_free(&t);
}

/* Pipelined input never overflows the reply buffer: the machine stops
 * stepping while `out` lacks SMTP_REPLY_ROOM; flushed, it goes on. And
 * RCPTs past max_recipients: 452, then errors once they overshoot by as
 * many again. */
static void
test_reply_room_and_overshoot(void)
{
	struct t t;
	int i, rounds = 0;
	size_t got = 0;
	const char *p;

	t_init(&t, 100000, 10);
	buf_free(&t.out);
	buf_init(&t.out, 4096);
	feeds(&t, "EHLO c\r\n");
	buf_consume(&t.out, t.out.len);
	/* 90 VRFY (under the junk limit): 90 replies of 79 octets, about
	 * 7 KiB of answers to one read, more than the 4 KiB buffer holds */
	for (i = 0; i < 90; i++)
		buf_append(&t.in, "VRFY x\r\n", 8);
	while (t.in.len > 0 && rounds++ < 1000) {
		t_run(&t);
		if (t.out.len > t.out.max || t.s.state == SMTP_CLOSED)
			break;
		buf_append(&t.out, "", 1);	/* NUL-terminate for strstr */
		for (p = strstr(buf_ptr(&t.out), "252 "); p != NULL;
		    p = strstr(p + 1, "252 "))
			got++;
		buf_consume(&t.out, t.out.len);	/* the caller's flush */
	}
	ok(t.s.state != SMTP_CLOSED, "90 pipelined VRFY with a 4 KiB "
	    "reply buffer: the session is not closed");
	is_int(got, 90, "... every one answered, in rounds of what fits");
	ok(rounds > 1, "... over several flushes (%d)", rounds);
	t_free(&t);

	t_init(&t, 100000, 5);	/* max_recipients 3, max_errors 5 */
	out(&t);
	feeds(&t, "EHLO c\r\nMAIL FROM:<b@s.test>\r\n");
	out(&t);
	for (i = 0; i < 3; i++)
		feeds(&t, "RCPT TO:<a@example.test>\r\n");
	is_int(t.rcpts, 3, "three recipients accepted");
	out(&t);
	for (i = 0; i < 3; i++)
		feeds(&t, "RCPT TO:<a@example.test>\r\n");
	is_str(out(&t), "452 4.5.3 Error: too many recipients\r\n"
	    "452 4.5.3 Error: too many recipients\r\n"
	    "452 4.5.3 Error: too many recipients\r\n",
	    "the next three: 452, the session goes on");
	for (i = 0; i < 4; i++)
		feeds(&t, "RCPT TO:<a@example.test>\r\n");
	ok(t.s.state != SMTP_CLOSED, "overshooting by 4 more: still open "
	    "(4 errors)");
	feeds(&t, "RCPT TO:<a@example.test>\r\n");
	ok(t.s.state == SMTP_CLOSED, "the 5th error closes it");
	ok(strstr(out(&t), "421 4.7.0 mx.example.test Error: too many "
	    "errors\r\n") != NULL, "... with 421");
	t_free(&t);
}

/* MSG without its transparency dots: the message as BDAT carries it */
static size_t
unstuffed(char *m)
{
	const char *p = MSG;
	size_t n = 0;
	int bol = 1;

	for (; *p; p++) {
		if (!(bol && *p == '.'))
			m[n++] = *p;
		bol = *p == '\n';
	}
	return n;
}

/* The wire form of m: a dot before each line that begins with one (MSG
 * has dots a client needed not send, ". " and ".x.", which the server
 * removes all the same: so this is shorter than MSG) */
static size_t
stuffed(const char *m, size_t n, char *w)
{
	size_t i, k = 0;
	int bol = 1;

	for (i = 0; i < n; i++) {
		if (bol && m[i] == '.')
			w[k++] = '.';
		w[k++] = m[i];
		bol = m[i] == '\n';
	}
	return k;
}

/* A session in a transaction (EHLO, MAIL, RCPT done), replies cleared. */
static void
in_tx(struct t *t, uint64_t max_size)
{
	t_init(t, max_size, 10);
	feeds(t, "EHLO client.test\r\nMAIL FROM:<b@s.test>\r\n"
	    "RCPT TO:<a@example.test>\r\n");
	out(t);
}

static void
test_bdat_wire_form(void)
{
	struct t t;
	char m[sizeof(MSG)], cmd[128], wire[sizeof(MSG) + 128];
	char canon[2 * sizeof(MSG)];
	size_t n = unstuffed(m), cn = stuffed(m, n, canon), i, j, w;
	int all_ok = 1;

	t_init(&t, 100000, 10);
	feeds(&t, "EHLO client.test\r\n");
	ok(strstr(out(&t), "250-SMTPUTF8\r\n250 CHUNKING\r\n") != NULL,
	    "EHLO offers CHUNKING");
	t_free(&t);

	/* one chunk: the content is MSG's wire form, size the message's */
	in_tx(&t, 100000);
	snprintf(cmd, sizeof(cmd), "BDAT %zu LAST\r\n", n);
	feeds(&t, cmd);
	feed(&t, m, n);
	is_int(t.datas, 1, "BDAT: the first chunk asks the DATA decision");
	ok(t.clen == cn && memcmp(t.content, canon, cn) == 0,
	    "BDAT: content handed out in wire form (dot-stuffed), "
	    "as DATA would");
	is_int(t.eom_size, n, "BDAT: EOM size counts the message octets");
	is_str(out(&t), "250 2.0.0 Ok: queued\r\n",
	    "BDAT LAST answered by the EOM decision (no 354 sent)");
	t_free(&t);

	/* two chunks cut at every point, each fed at every split */
	for (i = 0; i <= n; i++) {
		for (j = 0; j < 2; j++) {
			w = (size_t)snprintf(wire, sizeof(wire),
			    "BDAT %zu\r\n", i);
			memcpy(wire + w, m, i);
			w += i;
			w += (size_t)snprintf(wire + w, sizeof(wire) - w,
			    "BDAT %zu LAST\r\n", n - i);
			memcpy(wire + w, m + i, n - i);
			w += n - i;
			in_tx(&t, 100000);
			if (j == 0) {
				feed(&t, wire, w);
			} else {
				size_t k;
				for (k = 0; k < w; k++)
					feed(&t, wire + k, 1);
			}
			snprintf(cmd, sizeof(cmd), "250 2.0.0 %zu octets "
			    "received\r\n250 2.0.0 Ok: queued\r\n", i);
			if (t.eoms != 1 || t.clen != cn ||
			    memcmp(t.content, canon, cn) != 0 ||
			    t.msg_error != SMTP_MSG_OK || t.datas != 1 ||
			    strcmp(out(&t), cmd) != 0) {
				all_ok = 0;
				printf("# cut at %zu (%s): eoms=%d clen=%zu\n",
				    i, j ? "bytewise" : "whole", t.eoms, t.clen);
			}
			t_free(&t);
		}
	}
	ok(all_ok, "BDAT in two chunks cut at each of %zu points, fed whole "
	    "and byte by byte: same wire form, one EOM, replies in order",
	    n + 1);

	/* a last line without CRLF gets one; an empty message is empty */
	in_tx(&t, 100000);
	feeds(&t, "BDAT 3\r\nabcBDAT 2 LAST\r\n\r\nBDAT");
	is_str(out(&t), "250 2.0.0 3 octets received\r\n"
	    "250 2.0.0 Ok: queued\r\n", "pipelined chunks answered in order");
	ok(t.clen == 5 && memcmp(t.content, "abc\r\n", 5) == 0,
	    "a CRLF split across chunks is one line end");
	feeds(&t, " 1\r\nx");
	is_str(out(&t), "503 5.5.1 Error: need MAIL command\r\n",
	    "a chunk after the message ended: read, then 503");
	feeds(&t, "MAIL FROM:<b@s.test>\r\nRCPT TO:<a@example.test>\r\n"
	    ".x\r\nBDAT 4 LAST\r\n.end");
	ok(strstr(out(&t), "500 5.5.2 Error: command not recognized") != NULL,
	    "... its octet was not read as a command, the next line was");
	ok(t.clen == 5 + 7 && memcmp(t.content + 5, "..end\r\n", 7) == 0,
	    "a last line without CRLF gets one, and its dot is stuffed");
	is_int(t.eom_size, 4, "... the size is the octets sent");
	t_free(&t);

	in_tx(&t, 100000);
	feeds(&t, "BDAT 0 LAST\r\n");
	ok(t.eoms == 1 && t.clen == 0 && t.eom_size == 0,
	    "BDAT 0 LAST: an empty message");
	t_free(&t);
}

static void
test_bdat_refusals(void)
{
	struct t t;
	char big[1200];

	/* framing: bare LF, bare CR across chunks, a CR at the very end */
	in_tx(&t, 100000);
	feeds(&t, "BDAT 4\r\nab\ncd");
	ok(t.closes == 1 && strstr(out(&t), "521 5.5.2 mx.example.test Error: "
	    "bare <LF> received") != NULL, "BDAT: a bare LF closes with 521");
	t_free(&t);
	in_tx(&t, 100000);
	feeds(&t, "BDAT 3\r\nab\rBDAT 1 LAST\r\nc");
	ok(t.closes == 1 && strstr(out(&t), "bare <CR> received") != NULL,
	    "BDAT: a CR at a chunk's end not followed by LF in the next "
	    "is bare");
	t_free(&t);
	in_tx(&t, 100000);
	feeds(&t, "BDAT 3 LAST\r\nab\r");
	ok(t.closes == 1 && t.eoms == 0, "BDAT: a message ending in CR is "
	    "refused, never ended");
	t_free(&t);

	/* limits: a line over 998 octets across chunks; the size */
	in_tx(&t, 100000);
	memset(big, 'a', sizeof(big));
	feeds(&t, "BDAT 600\r\n");
	feed(&t, big, 600);
	feeds(&t, "BDAT 401 LAST\r\n");
	feed(&t, big, 399);
	feeds(&t, "\r\n");
	ok(t.eoms == 1 && t.msg_error == SMTP_MSG_LONG_LINE,
	    "a 999-octet line split over chunks: refused");
	t_free(&t);
	in_tx(&t, 100000);
	feeds(&t, "BDAT 600\r\n");
	feed(&t, big, 600);
	feeds(&t, "BDAT 400 LAST\r\n");
	feed(&t, big, 398);
	feeds(&t, "\r\n");
	ok(t.eoms == 1 && t.msg_error == SMTP_MSG_OK,
	    "... a 998-octet one passes");
	t_free(&t);
	in_tx(&t, 10);
	feeds(&t, "BDAT 11\r\n0123456789\nBDAT 1 LAST\r\nx");
	/* the bare LF is the 11th octet: framing first */
	ok(t.closes == 1, "a bare LF past the size limit still closes");
	t_free(&t);
	in_tx(&t, 10);
	feeds(&t, "BDAT 12\r\n0123456789\r\nBDAT 1 LAST\r\nx");
	ok(t.eoms == 1 && t.msg_error == SMTP_MSG_TOO_BIG && t.clen == 0,
	    "over max_size: the message ends at that chunk with 552, "
	    "nothing handed out");
	ok(strstr(out(&t), "552 5.3.4 Error: message file too big\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n") != NULL,
	    "... the chunk pipelined after it is read and refused");
	t_free(&t);

	/* a chunk the caller refuses is read, then answered */
	in_tx(&t, 100000);
	t.data_reply = "451 4.4.1 customer unavailable";
	feeds(&t, "BDAT 9\r\nQUIT\r\nabcNOOP\r\n");
	is_str(out(&t), "451 4.4.1 customer unavailable\r\n250 2.0.0 Ok\r\n",
	    "a refused first chunk: read to its end (a QUIT inside is "
	    "content), then the refusal");
	ok(t.clen == 0 && t.s.state == SMTP_MAIL, "... nothing handed out, "
	    "the transaction stays");
	t_free(&t);

	/* out of place: no MAIL, no recipient, DATA or RCPT after BDAT */
	t_init(&t, 100000, 10);
	feeds(&t, "EHLO c.test\r\n");
	out(&t);
	feeds(&t, "BDAT 6\r\nRSET\r\nNOOP\r\n");
	is_str(out(&t), "503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.0.0 Ok\r\n", "BDAT without MAIL: chunk read, 503");
	t.rcpt_reply = "550 5.1.1 unknown";
	feeds(&t, "MAIL FROM:<b@s.test>\r\nRCPT TO:<a@example.test>\r\n"
	    "BDAT 2\r\nxy");
	ok(strstr(out(&t), "554 5.5.1 Error: no valid recipients\r\n") != NULL,
	    "BDAT without a valid recipient: 554");
	t.rcpt_reply = NULL;
	feeds(&t, "RCPT TO:<a@example.test>\r\nBDAT 2\r\nxyDATA\r\n"
	    "RCPT TO:<c@example.test>\r\n");
	is_str(out(&t), "250 2.1.5 Ok\r\n250 2.0.0 2 octets received\r\n"
	    "503 5.5.1 Error: DATA after BDAT in one transaction\r\n"
	    "503 5.5.1 Error: RCPT after BDAT in one transaction\r\n",
	    "DATA and RCPT after a chunk: 503");
	feeds(&t, "RSET\r\nBDAT 1 LAST\r\nz");
	ok(t.rsets == 1 && t.eoms == 0 && strstr(out(&t), "503 5.5.1 Error: "
	    "need MAIL command") != NULL, "RSET drops the chunked message");
	t_free(&t);

	/* a BDAT that does not parse cannot be framed: the session ends */
	in_tx(&t, 100000);
	feeds(&t, "BDAT 5 LASTX\r\n");
	ok(t.closes == 1 && strstr(out(&t), "501 5.5.4 Syntax: BDAT chunk-size "
	    "[LAST]") != NULL, "BDAT syntax error: 501, closed");
	t_free(&t);
	in_tx(&t, 100000);
	feeds(&t, "BDAT 99999999999999999999\r\n");
	ok(t.closes == 1, "BDAT with an out-of-range size: closed");
	t_free(&t);
}

static void
test_dsn_params(void)
{
	static const struct {
		const char	*cmd, *reply, *params;
	} c[] = {
		{ "MAIL FROM:<b@s.test> RET=hdrs ENVID=QQ+2B1", "250", "RET=HDRS ENVID=QQ+2B1" },
		{ "RCPT TO:<a@example.test> notify=delay,Failure ORCPT=rfc822;a+2Bb@x.test",
		  "250", "NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@x.test" },
		{ "RCPT TO:<a@example.test> NOTIFY=NEVER", "250", "NOTIFY=NEVER" },
		{ "RCPT TO:<a@example.test>", "250", "" },
		{ "RCPT TO:<a@example.test> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY", NULL },
		{ "RCPT TO:<a@example.test> NOTIFY=SUCCESS,SUCCESS", "501 5.5.4 Bad NOTIFY", NULL },
		{ "RCPT TO:<a@example.test> NOTIFY=SUCCESS,", "501 5.5.4 Bad NOTIFY", NULL },
		{ "RCPT TO:<a@example.test> NOTIFY=", "501 5.5.4 Bad NOTIFY", NULL },
		{ "RCPT TO:<a@example.test> ORCPT=a@x.test", "501 5.5.4 Bad ORCPT", NULL },
		{ "RCPT TO:<a@example.test> ORCPT=rfc822;a=b", "501 5.5.4 Bad ORCPT", NULL },
		{ "RCPT TO:<a@example.test> ORCPT=rfc822;a+2b", "501 5.5.4 Bad ORCPT", NULL },
		{ "RCPT TO:<a@example.test> ORCPT=rfc822;a+2", "501 5.5.4 Bad ORCPT", NULL },
		{ "RCPT TO:<a@example.test> ORCPT=;a@x.test", "501 5.5.4 Bad ORCPT", NULL },
		{ "RCPT TO:<a@example.test> NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4 Parameter given twice", NULL },
		{ "RCPT TO:<a@example.test> RET=FULL", "555 5.5.4 Unsupported option: RET=FULL", NULL },
		{ "RSET", "250", NULL },
		{ "MAIL FROM:<b@s.test> RET=ALL", "501 5.5.4 Bad RET", NULL },
		{ "MAIL FROM:<b@s.test> ENVID=a b", "555", NULL },
		{ "MAIL FROM:<b@s.test> ENVID=", "501 5.5.4 Bad ENVID", NULL },
		{ "MAIL FROM:<b@s.test> RET=FULL RET=FULL", "501 5.5.4 Parameter given twice", NULL },
		{ "MAIL FROM:<b@s.test> NOTIFY=NEVER", "555", NULL },
		/* SMTPUTF8 (RFC 6531) */
		{ "MAIL FROM:<j\xc3\xb6rg@s.test>", "553 5.6.7 Must declare SMTPUTF8", NULL },
		{ "MAIL FROM:<b@s.test> SMTPUTF8=1", "555", NULL },
		{ "MAIL FROM:<j\xc3\xb6rg@s.test> smtputf8 ENVID=x", "250", "SMTPUTF8 ENVID=x" },
		{ "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@example.test>", "250", "" },
		{ "RCPT TO:<\"\xc3\xa9" "t\"@example.test>", "250", "" },
		{ "RCPT TO:<a\xc0\xaf" "b@example.test>", "501 5.1.3 Bad recipient address syntax: bad address syntax", NULL },
		{ "RCPT TO:<a\xed\xa0\x80@example.test>", "501 5.1.3", NULL },
		{ "RCPT TO:<a\xc2\x85@example.test>", "501 5.1.3", NULL },
		{ "RCPT TO:<a\xc3@example.test>", "501 5.1.3", NULL },
		{ "RSET", "250", NULL },
		{ "MAIL FROM:<b@s.test>", "250", "" },
		{ "RCPT TO:<j\xc3\xb6rg@example.test>", "553 5.6.7 Must declare SMTPUTF8", NULL },
		{ "RCPT TO:<a@ex\xc3\xa4mple.test>", "553 5.6.7", NULL },
	};
	char line[1024], envid[128];
	struct t t;
	size_t i;

	t_init(&t, 100000, 50);
	feeds(&t, "EHLO client.test\r\n");
	ok(strstr(out(&t), "250-DSN\r\n") != NULL, "EHLO offers DSN");
	for (i = 0; i < ARRAY_LEN(c); i++) {
		t.params[0] = '\0';
		snprintf(line, sizeof(line), "%s\r\n", c[i].cmd);
		feeds(&t, line);
		ok(strncmp(out(&t), c[i].reply, strlen(c[i].reply)) == 0,
		    "%s: %s", c[i].cmd, c[i].reply);
		if (c[i].params != NULL)
			is_str(t.params, c[i].params, "... parameters handed on "
			    "as \"%s\"", c[i].params);
	}
	/* the lengths: ENVID 100 octets, ORCPT 500 (within the 512 of a
	 * command line here: a shorter one) */
	feeds(&t, "RSET\r\n");
	out(&t);
	memset(envid, 'e', 100);
	envid[100] = '\0';
	snprintf(line, sizeof(line), "MAIL FROM:<b@s.test> ENVID=%s\r\n",
	    envid);
	feeds(&t, line);
	ok(strncmp(out(&t), "250", 3) == 0, "ENVID of 100 octets");
	feeds(&t, "RSET\r\n");
	out(&t);
	snprintf(line, sizeof(line), "MAIL FROM:<b@s.test> ENVID=%se\r\n",
	    envid);
	feeds(&t, line);
	ok(strncmp(out(&t), "501 5.5.4 Bad ENVID", 19) == 0,
	    "ENVID of 101 octets: refused");
	t_free(&t);
}

int
main(void)
{
	test_commands();
	test_errors_and_limits();
	test_data_framing();
	test_smuggling();
	test_refused_lines_not_commands();
	test_data_limits();
	test_reply_room_and_overshoot();
	test_bdat_wire_form();
	test_bdat_refusals();
	test_dsn_params();
	return done_testing();
}
