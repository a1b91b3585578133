/*
 * smtp_server_fuzz.c — the SMTP server machine (relay/smtp_server.c) fed
 * a client's bytes in chunks of varying size, answering every decision
 * like a customer. Invariants: a message handed on at end of DATA never
 * holds a bare CR, bare LF or NUL, nor a line "." alone; content comes
 * only between an accepted DATA (or first BDAT chunk) and its end, so one
 * DATA never yields two messages, and a refused one none; every reply
 * written is CRLF-terminated "DDD" lines. A message in BDAT chunks ends
 * at its EOM, or is dropped by RSET or a new EHLO.
 *
 * Input: byte 0 options (bit 0 STARTTLS offered, bit 1 refuse RCPT,
 * bit 2 refuse the message, bit 3 small size limit, bit 4 refuse DATA),
 * byte 1 seed of the chunk sizes, then the client's bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "smtp_server.h"

static void
check_replies(struct buf *out)
{
	const char *p = buf_ptr(out);
	size_t i, start = 0;

	FUZZ_ASSERT(fuzz_crlf_only(p, out->len));
	for (i = 0; i < out->len; i++)
		if (p[i] == '\n') {
			FUZZ_ASSERT(i - start >= 4);
			FUZZ_ASSERT(p[start] >= '2' && p[start] <= '5');
			FUZZ_ASSERT(p[start + 3] == ' ' || p[start + 3] == '-' ||
			    p[start + 3] == '\r');
			start = i + 1;
		}
	FUZZ_ASSERT(start == out->len);		/* whole lines only */
	buf_consume(out, out->len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned opt = fuzz_u8(&in), seed = fuzz_u8(&in) | 1;
	struct smtp_limits lim = {
		.hostname = "mx.example.test",
		.max_size = opt & 8 ? 64 : 1 << 20,
		.max_recipients = 4,
		.max_errors = 20,
		.tls_available = opt & 1,
	};
	struct smtp_server s;
	struct smtp_event ev;
	struct buf ib, out, msg;
	int in_data = 0, closed = 0, guard = 0;

	buf_init(&ib, 1 << 16);
	buf_init(&out, 1 << 16);
	buf_init(&msg, 2 << 20);
	smtp_server_init(&s, &lim, &out);
	smtp_server_banner(&s);
	while (!closed && guard++ < 100000) {
		size_t n;
		const uint8_t *p;
		enum smtp_ev e;

		seed = seed * 1103515245u + 12345u;
		p = fuzz_take(&in, 1 + (seed >> 16) % 97, &n);
		if (n > 0 && buf_append(&ib, p, n) != 0)
			break;
		while ((e = smtp_server_step(&s, &ib, &ev)) != SMTP_EV_NONE) {
			switch (e) {
			case SMTP_EV_MAIL:
				FUZZ_ASSERT(!in_data);
				smtp_server_reply(&s, "250 2.1.0 Ok");
				break;
			case SMTP_EV_RCPT:
				FUZZ_ASSERT(!in_data && !ev.path.is_null);
				FUZZ_ASSERT(strchr(ev.path.addr, '\r') == NULL &&
				    strchr(ev.path.addr, '\n') == NULL);
				smtp_server_reply(&s, opt & 2 ?
				    "550 5.1.1 unknown" : "250 2.1.5 Ok");
				break;
			case SMTP_EV_DATA:
				FUZZ_ASSERT(!in_data);
				if (opt & 16) {
					smtp_server_reply(&s,
					    "451 4.4.1 try later");
					break;
				}
				smtp_server_reply(&s, "354 go ahead");
				in_data = 1;
				buf_reset(&msg);
				break;
			case SMTP_EV_HELO:
			case SMTP_EV_RSET:
				in_data = 0;
				break;
			case SMTP_EV_CONTENT:
				FUZZ_ASSERT(in_data);
				if (buf_append(&msg, ev.data, ev.len) != 0)
					smtp_server_set_msg_error(&s,
					    SMTP_MSG_NO_MEMORY);
				break;
			case SMTP_EV_EOM:
				FUZZ_ASSERT(in_data);	/* one DATA, one EOM */
				in_data = 0;
				if (ev.msg_error == SMTP_MSG_OK) {
					FUZZ_ASSERT(fuzz_crlf_only(buf_ptr(&msg),
					    msg.len));
					FUZZ_ASSERT(fuzz_no_dot_line(
					    buf_ptr(&msg), msg.len));
					/* ends with its line end, whichever
					 * verb carried it */
					FUZZ_ASSERT(msg.len == 0 ||
					    (msg.len >= 2 && memcmp(buf_ptr(&msg)
					    + msg.len - 2, "\r\n", 2) == 0));
				}
				smtp_server_reply(&s, ev.msg_error !=
				    SMTP_MSG_OK ?
				    smtp_msg_error_reply(ev.msg_error) :
				    opt & 4 ? "554 5.7.1 no" : "250 2.0.0 Ok");
				break;
			case SMTP_EV_STARTTLS:
				FUZZ_ASSERT(!in_data);
				check_replies(&out);
				buf_reset(&ib);
				smtp_server_tls_started(&s);
				break;
			case SMTP_EV_CLOSE:
				closed = 1;
				break;
			default:
				break;
			}
			if (closed)
				break;
		}
		check_replies(&out);
		if (in.len == 0 && !closed) {
			/* the client is gone: what the loop does on EOF */
			smtp_server_close(&s, "421 4.4.2 timeout", "fuzz");
			check_replies(&out);
			break;
		}
	}
	buf_free(&ib);
	buf_free(&out);
	buf_free(&msg);
	return 0;
}
