/*
 * queue_fuzz.c — the queue's record formats on hostile bytes: the
 * unsealed envelope decoder and the "meta" record decoder (relay/queue.c)
 * followed by the policy and the log line computed from what came out
 * (the clear header is not authenticated, so its times may be anything),
 * and the envelope a worker hands the queue owner (relay/queued.c), whose
 * addresses the runner later writes into command lines. Invariants: a
 * decoded envelope stays within its bounds; a queue owner's envelope
 * yields only addresses that pass addr_check() and, with their DSN
 * parameters, make command lines the SMTP client accepts; no time computation overflows (UBSan).
 *
 * The runner's report (envelope.c) as the queue owner reads it: a
 * decoded report encodes back to the same bytes.
 *
 * Input: byte 0 selects (0 envelope, 1 record, 2 worker envelope,
 * 3 runner report), byte 1 the recipient count (2, 3), then the bytes.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"
#include "queue.h"
#include "envelope.h"
#include "smtp_client.h"

static const int64_t nows[] = {
	INT64_MIN, -1, 0, 1700000000000000LL, INT64_MAX,
};

static void
policy(const struct queue_msg *m)
{
	char line[2048];
	size_t i;
	int ev;

	for (i = 0; i < sizeof(nows) / sizeof(nows[0]); i++) {
		FUZZ_ASSERT(queue_age_us(m, nows[i]) >= 0);
		(void)queue_expired(m, nows[i], 15 * 86400);
		(void)queue_expired(m, nows[i], 0);
		for (ev = QEV_QUEUED; ev <= QEV_REMOVED; ev++)
			if (queue_log_line(line, sizeof(line), m, ev, 0,
			    "mx[192.0.2.1]:25", nows[i]) >= 0)
				FUZZ_ASSERT(strpbrk(line, "\r\n") == NULL);
	}
	FUZZ_ASSERT(queue_retry_delay_us(m->attempts, m->attempts) > 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[QCRYPT_KEY_LEN] = { 1, 2, 3 };
	struct fuzz_in in = { data, size };
	unsigned sel = fuzz_u8(&in) % 4, nrcpt = fuzz_u8(&in);
	struct queue_msg m;
	struct smtp_client c;
	struct buf out;
	char line[ADDR_PATH_MAX + 16 + QUEUE_RCPT_PARAMS_MAX];
	int i, st;

	queue_msg_init(&m);
	switch (sel) {
	case 0:
		if (queue_envelope_decode(in.p, in.len, &m) == QUEUE_OK) {
			FUZZ_ASSERT(m.nrcpt >= 1 && m.nrcpt <= QUEUE_RCPT_MAX);
			FUZZ_ASSERT(m.nhist >= 0 && m.nhist <= QUEUE_HIST_MAX);
			for (i = 0; i < m.nrcpt; i++)
				FUZZ_ASSERT(m.rcpt[i].state >= QRCPT_PENDING &&
				    m.rcpt[i].state <= QRCPT_FAILED);
			policy(&m);
		}
		break;
	case 1:
		st = queue_record_decode(key, "0123456789ABCDEF01", in.p,
		    in.len, &m);
		FUZZ_ASSERT(st == QUEUE_OK || st == QUEUE_EAUTH ||
		    st == QUEUE_ECORRUPT);
		policy(&m);
		break;
	case 2:
		if (envelope_decode((const char *)in.p, in.len, nrcpt,
		    &m) != 0)
			break;
		FUZZ_ASSERT(m.nrcpt == (int)nrcpt);
		FUZZ_ASSERT(addr_check(m.from, 1) == ADDR_OK);
		FUZZ_ASSERT(addr_domain_valid(m.route_domain));
		buf_init(&out, 1 << 16);
		smtp_client_init(&c, &out);
		c.cap_dsn = 1;		/* the parameters go out too */
		FUZZ_ASSERT(smtp_client_mail_line(&c, line, sizeof(line),
		    m.from, 0, 0, m.params) == 0);
		FUZZ_ASSERT(smtp_client_send(&c, COP_MAIL, line) == 0);
		for (i = 0; i < m.nrcpt; i++) {
			FUZZ_ASSERT(addr_check(m.rcpt[i].addr, 0) == ADDR_OK);
			FUZZ_ASSERT(smtp_client_rcpt_line(&c, line,
			    sizeof(line), m.rcpt[i].addr, m.rcpt[i].params)
			    == 0);
			buf_consume(&out, out.len);
			smtp_client_init(&c, &out);	/* a FIFO per line */
			c.cap_dsn = 1;
			FUZZ_ASSERT(smtp_client_send(&c, COP_RCPT, line) == 0);
			FUZZ_ASSERT(fuzz_crlf_only(buf_ptr(&out), out.len));
		}
		buf_free(&out);
		policy(&m);
		break;
	case 3: {
		static char again[REPORT_MAX];
		struct delivery_report d;
		size_t n;

		for (i = 0; i < (int)(nrcpt % 8) + 1; i++)
			FUZZ_ASSERT(queue_msg_add_rcpt(&m, "r@example.test") ==
			    0);
		if (report_decode((const char *)in.p, in.len, &d, &m) != 0)
			break;
		for (i = 0; i < m.nrcpt; i++)
			FUZZ_ASSERT(m.rcpt[i].state >= QRCPT_PENDING &&
			    m.rcpt[i].state <= QRCPT_FAILED);
		n = report_encode(again, sizeof(again), &d, &m);
		FUZZ_ASSERT(n == in.len && memcmp(again, in.p, n) == 0);
		break;
	}
	}
	queue_msg_free(&m);
	return 0;
}
