/*
 * smtp_client.h — the SMTP client protocol machine used toward the
 * customer's servers. Pure: the caller queues commands (appended to its
 * output buffer) and feeds the server's bytes; complete replies come back
 * as events tagged with the command they answer, in order.
 *
 * Replies are parsed strictly: "DDD-text" continuation lines and a final
 * "DDD text" line, all with the same code (RFC 5321 4.2.1), CRLF only (a
 * bare LF is a protocol error), at most
 * SMTP_CLIENT_LINE_MAX octets per line and SMTP_CLIENT_MAX_LINES lines per
 * reply. EHLO replies fill in the server's capabilities.
 */
#ifndef MXGATE_SMTP_CLIENT_H
#define MXGATE_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SMTP_CLIENT_LINE_MAX	1000	/* generous: RFC says 512 */
#define SMTP_CLIENT_MAX_LINES	100
#define SMTP_CLIENT_TEXT_MAX	400	/* reply text kept for logs */
#define SMTP_CLIENT_FIFO	8	/* commands awaiting replies */

enum smtp_cop {
	COP_GREETING, COP_EHLO, COP_HELO, COP_STARTTLS, COP_MAIL, COP_RCPT,
	COP_DATA, COP_DOT, COP_RSET, COP_QUIT
};

struct smtp_reply {
	enum smtp_cop	op;		/* the command answered */
	int		code;		/* 200..599 */
	char		text[SMTP_CLIENT_TEXT_MAX + 1]; /* final line after
					   the code, e.g. "2.0.0 Ok" */
};

struct smtp_client {
	struct buf	*out;		/* caller's: commands to send */
	enum smtp_cop	 fifo[SMTP_CLIENT_FIFO];
	int		 head, count;
	/* capabilities from the last EHLO reply */
	int		 cap_pipelining, cap_8bitmime, cap_starttls, cap_size;
	int		 cap_dsn, cap_smtputf8, cap_chunking;
	uint64_t	 max_size;
	int		 lines;		/* of the reply being read */
	int		 code;		/* its code, the same on every line */
	int		 error;		/* protocol error seen: unusable */
};

void smtp_client_init(struct smtp_client *c, struct buf *out);

/* Queue a command (text without CRLF; the machine adds it) and record the
 * reply it expects. -1 with errno ENOBUFS when the FIFO or the output
 * buffer is full, EINVAL when the line holds a CR or LF (it could smuggle
 * a second command; nothing is queued). The line is a C string, so it
 * cannot hold a NUL: an address with one must be refused before it is
 * formatted into a command (addr_check()). */
int smtp_client_send(struct smtp_client *c, enum smtp_cop op,
    const char *line);

/* 1 if a sender's parameter string (as above) holds SMTPUTF8. */
int smtp_params_smtputf8(const char *params);

/* Records that the caller wrote the message body and the final ".":
 * the next reply answers COP_DOT. */
int smtp_client_expect(struct smtp_client *c, enum smtp_cop op);

/* Number of commands still awaiting a reply. */
int smtp_client_pending(const struct smtp_client *c);

/* Parses one reply from in (consuming it). Returns 1 with *r filled, 0
 * when more input is needed, -1 on a protocol error (unexpected reply,
 * bad syntax, over-long) — the connection must then be dropped. */
int smtp_client_feed(struct smtp_client *c, struct buf *in,
    struct smtp_reply *r);

/* The enhanced status code ("D.D.D", RFC 3463) at the start of a reply's
 * text when its class matches code, else "C.0.0" for the code's class.
 * status holds at least 12 bytes. */
void smtp_reply_status(int code, const char *text, char *status,
    size_t size);

/* "MAIL FROM:<from>" with SIZE= (when size > 0 and the server offers
 * SIZE), BODY=8BITMIME (when eightbit and the server offers it) and the
 * sender's parameters ("SMTPUTF8 RET=... ENVID=...", "" for none):
 * SMTPUTF8 when the server offers it (the caller checks first that a
 * message that needs it goes only to a server that does), RET and ENVID
 * when it offers DSN. Returns 0, or -1 when it does not fit. */
int smtp_client_mail_line(const struct smtp_client *c, char *line,
    size_t size, const char *from, uint64_t msg_size, int eightbit,
    const char *dsn);

/* "RCPT TO:<to>" with the recipient's DSN parameters ("NOTIFY=...
 * ORCPT=...", "" for none) when the server offers DSN. 0, or -1 when it
 * does not fit. */
int smtp_client_rcpt_line(const struct smtp_client *c, char *line,
    size_t size, const char *to, const char *dsn);

#endif
