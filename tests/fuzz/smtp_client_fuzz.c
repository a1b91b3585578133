/*
 * smtp_client_fuzz.c — the reply parser used toward the customer
 * (relay/smtp_client.c) fed a server's bytes in chunks, with commands
 * kept queued as a pipelining client would. Invariants: every reply
 * answers the oldest command still awaited, its code is 200..599, its
 * text printable and bounded; after an error nothing more is parsed; a
 * command line holding CR or LF is never written.
 *
 * Input: byte 0 seed of the chunk sizes, bytes 1-40 a command line to
 * try (cut at NUL), then the server's bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "smtp_client.h"

static const struct {
	enum smtp_cop	 op;
	const char	*line;
} cmds[] = {
	{ COP_EHLO, "EHLO mx.example.test" }, { COP_MAIL, "MAIL FROM:<a@b.test>" },
	{ COP_RCPT, "RCPT TO:<c@example.test>" }, { COP_DATA, "DATA" },
	{ COP_DOT, NULL }, { COP_RSET, "RSET" }, { COP_STARTTLS, "STARTTLS" },
	{ COP_HELO, "HELO mx.example.test" }, { COP_QUIT, "QUIT" },
};
#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned seed = fuzz_u8(&in) | 1;
	enum smtp_cop fifo[64];
	size_t head = 0, count = 1, next = 0, n, i;
	struct smtp_client c;
	struct smtp_reply r;
	struct buf ib, out;
	char line[41];
	const uint8_t *p;
	int rc = 0, guard = 0;

	buf_init(&ib, 1 << 16);
	buf_init(&out, 1 << 16);
	smtp_client_init(&c, &out);
	fifo[0] = COP_GREETING;

	p = fuzz_take(&in, 40, &n);
	memcpy(line, p, n);
	line[n] = '\0';
	if (smtp_client_send(&c, COP_RSET, line) == 0) {
		FUZZ_ASSERT(strpbrk(line, "\r\n") == NULL);
		FUZZ_ASSERT(fuzz_crlf_only(buf_ptr(&out), out.len));
		fifo[(head + count++) % 64] = COP_RSET;
	}
	while (rc >= 0 && in.len > 0 && guard++ < 100000) {
		/* keep a few commands awaited, like a pipelining client */
		while (smtp_client_pending(&c) < 4) {
			int k = (int)(next++ % NCMDS);
			int s = cmds[k].line ?
			    smtp_client_send(&c, cmds[k].op, cmds[k].line) :
			    smtp_client_expect(&c, cmds[k].op);
			FUZZ_ASSERT(s == 0);
			fifo[(head + count++) % 64] = cmds[k].op;
		}
		FUZZ_ASSERT(smtp_client_pending(&c) == (int)count);
		buf_consume(&out, out.len);
		seed = seed * 1103515245u + 12345u;
		p = fuzz_take(&in, 1 + (seed >> 16) % 200, &n);
		if (buf_append(&ib, p, n) != 0)
			break;
		while ((rc = smtp_client_feed(&c, &ib, &r)) == 1) {
			FUZZ_ASSERT(count > 0 && r.op == fifo[head % 64]);
			head++;
			count--;
			FUZZ_ASSERT(r.code >= 200 && r.code <= 599);
			FUZZ_ASSERT(strlen(r.text) <= SMTP_CLIENT_TEXT_MAX);
			for (i = 0; r.text[i]; i++)
				FUZZ_ASSERT(r.text[i] >= 32 && r.text[i] < 127);
		}
	}
	if (rc < 0)
		FUZZ_ASSERT(smtp_client_feed(&c, &ib, &r) == -1);  /* sticky */
	buf_free(&ib);
	buf_free(&out);
	return 0;
}
