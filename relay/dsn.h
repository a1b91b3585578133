/*
 * dsn.h — the delivery status notification sent to the postmaster when a
 * queued message expires or is refused permanently during retry (RFC 3464
 * multipart/report; report-type=delivery-status, RFC 3462/6522, with the
 * original headers attached as text/rfc822-headers).
 *
 * Pure: bytes in, bytes out; no clock, no I/O, no randomness. Owns no
 * state. Never: includes the original body, emits a bare CR or LF or a
 * line over DSN_LINE_MAX, or cuts its output silently (a too small
 * buffer is an error; over-long original headers are cut at a line
 * boundary and the report says so).
 *
 * Output is in the queue's wire form: CRLF lines, dot-stuffed, without
 * the final ".CRLF", ready for queue_put() with the null sender <> and
 * the postmaster as the one recipient. A report is never generated for a
 * message whose own sender was <> (the caller's rule; see docs/QUEUE.md).
 */
#ifndef MXGATE_DSN_H
#define MXGATE_DSN_H

#include <stddef.h>
#include <stdint.h>

#define DSN_LINE_MAX	998		/* octets before CRLF (RFC 5322) */
#define DSN_HEADERS_MAX	(64u * 1024)	/* original header bytes attached */
#define DSN_SIZE_MAX	(DSN_HEADERS_MAX * 2 + 1024u * 1024)	/* a safe
					   output buffer for any input */

enum dsn_reason {
	DSN_EXPIRED,	/* queue_lifetime reached */
	DSN_FAILED,	/* permanent (5xx) refusal during retry */
};

struct dsn_rcpt {
	const char	*addr;		/* local@domain */
	const char	*status;	/* "5.1.1"; NULL/"": 4.4.7 or 5.0.0 */
	const char	*diag;		/* last reply or reason; may be NULL */
	const char	*remote_mta;	/* customer host; may be NULL */
	const char	*params;	/* its DSN parameters as received
					   ("NOTIFY=... ORCPT=..."); ORCPT
					   becomes Original-Recipient; may
					   be NULL */
	int64_t		 last_attempt_us;	/* 0: none */
};

struct dsn_input {
	const char		*reporting_mta;	/* our host name */
	const char		*postmaster;	/* local@domain */
	const char		*queue_id;
	const char		*from;		/* original sender, "" is <> */
	const char		*params;	/* the sender's DSN parameters
						   ("RET=... ENVID=..."); ENVID
						   becomes Original-Envelope-Id;
						   may be NULL */
	int64_t			 arrival_us;
	int64_t			 now_us;
	enum dsn_reason		 reason;
	const struct dsn_rcpt	*rcpt;
	int			 nrcpt;		/* 1 .. QUEUE_RCPT_MAX */
	const char		*headers;	/* original header block, wire */
	size_t			 headers_len;	/*   form; NULL/0: none */
	int			 headers_cut;	/* set by dsn_headers_collect */
};

/*
 * Writes the report into buf. Returns its length, or -1 when buf is too
 * small (DSN_SIZE_MAX is always enough for QUEUE_RCPT_MAX recipients with
 * bounded texts) or the input is invalid. *eightbit (may be NULL) is set
 * when the attached headers hold 8-bit bytes, so the caller sends it with
 * BODY=8BITMIME.
 */
long dsn_build(const struct dsn_input *in, char *buf, size_t size,
    int *eightbit);

/* RFC 5322 date, "Thu, 21 Nov 2018 15:18:43 +0000", for a wall time in
 * microseconds. buf needs 32 bytes. */
void dsn_date(int64_t us, char *buf, size_t size);

/* A queue_body_fn (see queue.h) that keeps the header block of a message
 * streamed by queue_get_body(): stops (returns 1) at the empty line or
 * after DSN_HEADERS_MAX bytes (then cut at the last complete header and
 * `cut` is set). */
struct dsn_headers {
	char	buf[DSN_HEADERS_MAX];
	size_t	len;		/* bytes kept */
	int	complete;	/* the empty line was seen */
	int	cut;		/* headers longer than DSN_HEADERS_MAX */
};
void dsn_headers_init(struct dsn_headers *h);
int  dsn_headers_collect(void *arg, const void *data, size_t len);

#endif
