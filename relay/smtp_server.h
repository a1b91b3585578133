/*
 * smtp_server.h — the SMTP server protocol machine (RFC 5321, with
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS, CHUNKING, DSN,
 * SMTPUTF8).
 *
 * Pure: bytes in, replies and events out. It never touches a descriptor,
 * a clock or the configuration beyond the limits it is given. The caller
 * (session.c) owns the input buffer and the reply buffer and calls
 * smtp_server_step() until it returns SMTP_EV_NONE. Some events need a
 * decision (MAIL, RCPT, DATA, EOM): the machine then stops consuming input
 * until the caller answers with smtp_server_reply(), which is how
 * pipelined commands wait, in order, for the customer's verdict.
 *
 * Framing is strict (SPEC 3.3): a bare LF or bare CR anywhere closes the
 * session with 521 (SMTP smuggling cannot cross us); NUL and over-long
 * lines are refused; a message line "." only ends DATA as CR LF . CR LF.
 * Message content is passed through in wire form (still dot-stuffed).
 *
 * BDAT (RFC 3030) is framed as strictly as DATA, across chunk boundaries
 * (a CR at the end of one chunk pairs only with an LF at the start of the
 * next), and its content is handed out in the same wire form: a line
 * that begins with "." gets its transparency dot (as a CONTENT event of
 * its own), and a message whose last line has no CRLF gets one, so the
 * caller never knows which verb carried the message. The first BDAT of a
 * transaction asks the DATA decision (a 354 answer starts the chunk and
 * is not sent); a refused or out-of-place chunk is still read to its
 * end, then answered.
 *
 * DSN (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT are
 * checked (syntax, xtext, lengths, no repeats) and handed out as one
 * canonical parameter string per command, ready to be passed on; so is
 * SMTPUTF8 (RFC 6531) on MAIL, which lets the transaction's addresses
 * hold UTF-8 (addr.h); one that does without it gets 553 5.6.7.
 */
#ifndef MXGATE_SMTP_SERVER_H
#define MXGATE_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "buf.h"

#define SMTP_CMD_LINE_MAX	512	/* RFC 5321 4.5.3.1.4, with CRLF */
/* Room one command's answer may need in `out` (an error reply and a 421
 * after it, or the EHLO list): the machine steps no further command while
 * `out` has less, so pipelined input never overflows the reply buffer;
 * the caller flushes and steps again. */
#define SMTP_REPLY_ROOM		(2 * (SMTP_CMD_LINE_MAX + 2) + 512)
#define SMTP_DATA_LINE_MAX	1000	/* RFC 5321 4.5.3.1.6, with CRLF */
#define SMTP_HELO_MAX		255
#define SMTP_JUNK_MAX		100	/* NOOP/RSET/VRFY/HELP per session */

enum smtp_state {
	SMTP_GREETING,		/* banner not sent: input is a pregreet */
	SMTP_HELO,		/* waiting for EHLO/HELO */
	SMTP_IDLE,		/* greeted, no transaction */
	SMTP_MAIL,		/* sender accepted; RCPT/DATA may follow */
	SMTP_DATA,		/* reading message content */
	SMTP_CLOSED,		/* QUIT or fatal error: flush, then close */
};

enum smtp_ev {
	SMTP_EV_NONE,		/* need input, or a decision is pending */
	SMTP_EV_HELO,		/* greeted (reply sent); ev->helo set */
	SMTP_EV_MAIL,		/* decide: ev->path is the sender */
	SMTP_EV_RCPT,		/* decide: ev->path is a recipient */
	SMTP_EV_DATA,		/* decide: 354 or refuse */
	SMTP_EV_CONTENT,	/* ev->data, ev->len: message bytes */
	SMTP_EV_EOM,		/* decide: end of message, ev->msg_error */
	SMTP_EV_RSET,		/* the transaction was dropped */
	SMTP_EV_STARTTLS,	/* 220 queued: flush it, discard input,
				   start TLS, then smtp_server_tls_started() */
	SMTP_EV_CLOSE,		/* flush the queued reply, then close */
};

enum smtp_msg_error {
	SMTP_MSG_OK = 0,
	SMTP_MSG_TOO_BIG,	/* over max_size */
	SMTP_MSG_LONG_LINE,	/* a line over SMTP_DATA_LINE_MAX */
	SMTP_MSG_NUL,		/* a NUL byte */
	SMTP_MSG_NO_MEMORY,	/* the caller's memory budget (set_msg_error) */
};

#define SMTP_BDAT_REPLY_MAX	128	/* a reply owed after a chunk */
#define SMTP_ENVID_MAX		100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 4.2 */
/* "SMTPUTF8 RET=HDRS ENVID=<100>", with NUL */
#define SMTP_MAIL_PARAMS_MAX	\
	(sizeof("SMTPUTF8 RET=HDRS ENVID=") + SMTP_ENVID_MAX)
/* "NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=<500>", with NUL */
#define SMTP_RCPT_PARAMS_MAX	\
	(sizeof("NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=") + SMTP_ORCPT_MAX)

struct smtp_event {
	enum smtp_ev		 type;
	struct smtp_path	 path;		/* MAIL, RCPT */
	uint64_t		 size;		/* MAIL: SIZE=, EOM: bytes */
	int			 body_8bit;	/* MAIL: BODY=8BITMIME */
	/* MAIL: "SMTPUTF8 RET=... ENVID=...", RCPT: "NOTIFY=... ORCPT=...",
	 * each part only when given, in the order given; "" when none */
	char			 params[SMTP_RCPT_PARAMS_MAX];
	const char		*data;		/* CONTENT */
	size_t			 len;
	enum smtp_msg_error	 msg_error;	/* EOM */
	const char		*close_reason;	/* CLOSE: for the log */
};

/* Per-verb counters, for the "disconnect from" log line. */
enum smtp_verb {
	V_EHLO, V_HELO, V_MAIL, V_RCPT, V_DATA, V_RSET, V_NOOP, V_VRFY,
	V_QUIT, V_STARTTLS, V_HELP, V_BDAT, V_UNKNOWN, V_COUNT
};

struct smtp_limits {
	const char	*hostname;
	uint64_t	 max_size;
	int		 max_recipients;
	int		 max_errors;
	int		 tls_available;	/* offer STARTTLS */
};

struct smtp_server {
	enum smtp_state		 state;
	struct smtp_limits	 lim;
	struct buf		*out;		/* replies (caller's) */
	enum smtp_ev		 pending;	/* decision awaited, or NONE */
	int			 esmtp;		/* greeted with EHLO */
	int			 tls;		/* TLS is active */
	char			 helo[SMTP_HELO_MAX + 1];
	int			 nrcpt;		/* accepted in transaction */
	int			 rcpt_tried;
	int			 overshoot;	/* RCPTs past max_recipients */
	uint64_t		 size;		/* DATA bytes so far */
	enum smtp_msg_error	 msg_error;
	int			 discard_line;	/* skipping an over-long line */
	int			 at_line_start;	/* DATA: next byte starts a line */
	int			 smtputf8;	/* MAIL said SMTPUTF8 */
	/* BDAT */
	int			 bdat;		/* the message comes in chunks */
	int			 in_chunk;	/* reading a chunk's octets */
	uint64_t		 chunk_left;	/* octets of it still to read */
	uint64_t		 chunk_size;	/* as the BDAT command said */
	int			 chunk_last;	/* BDAT ... LAST */
	int			 chunk_discard;	/* read it, then send chunk_reply */
	int			 chunk_counts;	/* chunk_reply is a client error */
	char			 chunk_reply[SMTP_BDAT_REPLY_MAX];
	int			 cr;		/* the last octet read was CR */
	size_t			 line_len;	/* octets of the line so far */
	int			 dot_done;	/* this line's dot is handed out */
	int			 crlf_done;	/* the final CRLF is handed out */
	int			 errors, junk;
	unsigned		 count[V_COUNT];
	const char		*close_reason;
};

void smtp_server_init(struct smtp_server *s, const struct smtp_limits *lim,
    struct buf *out);

/* Queues "220 HOST ESMTP" and leaves the GREETING state. */
void smtp_server_banner(struct smtp_server *s);

/* Processes input from `in` (consuming what it uses) and returns the next
 * event. Call repeatedly until SMTP_EV_NONE. CONTENT data points into
 * `in` and is valid until the next call. */
enum smtp_ev smtp_server_step(struct smtp_server *s, struct buf *in,
    struct smtp_event *ev);

/* Answers the pending decision with a complete reply line without CRLF,
 * e.g. "250 2.1.5 Ok". The reply class decides the transition: 2xx/3xx
 * accept (354 for DATA), 4xx/5xx refuse. A 421 closes the session.
 * Without a pending decision (none asked, or one discarded by
 * smtp_server_tls_started()) it does nothing: no reply goes out. */
void smtp_server_reply(struct smtp_server *s, const char *line);
/* (After SMTP_EV_STARTTLS the machine steps nothing until
 * smtp_server_tls_started(); it is not answered with a reply.) */

/* The same for a verdict that is the customer's, not ours (its refusal
 * of a recipient or of the sender, passed through): a 4xx/5xx here is no
 * error of the client's and does not count toward max_errors; the caller
 * counts refused recipients toward its own dictionary-attack limit. */
void smtp_server_relay_reply(struct smtp_server *s, const char *line);

/* Marks the message being received as refused (memory budget); its
 * content is discarded and EOM reports the error. */
void smtp_server_set_msg_error(struct smtp_server *s, enum smtp_msg_error e);

/* Whether message octets are being read (DATA, or a BDAT chunk): the
 * caller's timeouts and data-rate limits apply to them. */
static inline int
smtp_server_in_message(const struct smtp_server *s)
{
	return s->state == SMTP_DATA || s->in_chunk;
}

/* After STARTTLS: the whole SMTP state is reset (RFC 3207 4.2). */
void smtp_server_tls_started(struct smtp_server *s);

/* Queues a reply and closes (timeouts, shutdown): "421 4.4.2 ...". */
void smtp_server_close(struct smtp_server *s, const char *line,
    const char *reason);

/* Standard reply for a refused message at EOM. */
const char *smtp_msg_error_reply(enum smtp_msg_error e);

/* "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5" */
void smtp_server_counts(const struct smtp_server *s, char *buf, size_t size);

#endif
