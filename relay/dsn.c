/*
 * dsn.c — see dsn.h. The RFC 3464 report builder, the RFC 5322 date and
 * the header collector. Pure functions over caller-owned buffers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "dsn.h"
#include "queue.h"
#include "util.h"

#define TEXT_MAX	512	/* a diagnostic or host name after cleaning */
#define BOUNDARY_TRIES	16

struct out {
	char	*p;
	size_t	 len, size;
	size_t	 col;		/* octets on the current line */
	int	 bad;		/* buffer too small or a line too long */
};

static void
emit(struct out *o, const char *s, size_t n)
{
	size_t i;

	if (o->bad)
		return;
	if (n > o->size - o->len) {
		o->bad = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '\n')
			o->col = 0;
		else if (s[i] != '\r' && ++o->col > DSN_LINE_MAX)
			o->bad = 1;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* a string literal */
#define EMITS(o, lit)	emit((o), (lit), sizeof(lit) - 1)

static void emitf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
emitf(struct out *o, const char *fmt, ...)
{
	char line[2 * TEXT_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		o->bad = 1;
		return;
	}
	emit(o, line, (size_t)n);
}

void
dsn_date(int64_t us, char *buf, size_t size)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, size, "Thu, 1 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Copies untrusted text (a remote reply) as one line of printable ASCII:
 * controls, CR, LF and 8-bit bytes become '?' or ' '; longer than the
 * buffer ends in "...". */
static void
clean(char *dst, size_t size, const char *src)
{
	size_t i, n = 0;

	if (src == NULL)
		src = "";
	for (i = 0; src[i] != '\0' && n + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[n++] = c == '\r' || c == '\n' || c == '\t' ? ' ' :
		    c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	dst[n] = '\0';
	if (src[i] != '\0' && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

/* An address we put in a header: no blanks, controls or '<' '>', not
 * empty; with utf8, octets above 0x7f too (they are rendered, below). */
static int
addr_ok(const char *a, int allow_empty, int utf8)
{
	size_t n = 0;

	if (a == NULL)
		return 0;
	for (; a[n] != '\0'; n++)
		if ((unsigned char)a[n] <= 0x20 || (unsigned char)a[n] == 0x7f ||
		    ((unsigned char)a[n] > 0x7f && !utf8) ||
		    a[n] == '<' || a[n] == '>' || n > ADDR_PATH_MAX)
			return 0;
	return n > 0 || allow_empty;
}

/* An address as the 7-bit report shows it: as it is ("rfc822"), or, when
 * it holds UTF-8 (SMTPUTF8), RFC 6533's utf-8-addr-xtext ("utf-8"): each
 * non-ASCII character and '+', '=', '\' as \x{HEX}; a byte that is not
 * well-formed UTF-8 as \x{FFFD}. dst holds ADDR_RENDER_MAX. */
#define ADDR_RENDER_MAX	900	/* a line stays under DSN_LINE_MAX: the
				   longest rendering (a 255-octet U-label
				   domain) is cut there, ending in "..." */
static const char *
addr_render(char *dst, const char *a)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)a;
	int utf8 = 0;

	for (; *p; p++)
		if (*p > 0x7f)
			utf8 = 1;
	p = (const unsigned char *)a;
	while (*p && n + 11 < ADDR_RENDER_MAX) {
		unsigned cp = *p;
		size_t len = 1;

		if (!utf8 || (cp < 0x80 && cp != '+' && cp != '=' &&
		    cp != '\\')) {
			dst[n++] = (char)*p++;
			continue;
		}
		/* addr.c's decoder: what it refuses is shown as U+FFFD */
		if (cp >= 0x80 && (len = addr_utf8_char(p,
		    strlen((const char *)p), &cp)) == 0) {
			cp = 0xfffd;
			len = 1;
		}
		n += (size_t)snprintf(dst + n, ADDR_RENDER_MAX - n, "\\x{%X}", cp);
		p += len;
	}
	if (*p)
		memcpy(dst + n - 3, "...", 3);
	dst[n] = '\0';
	return utf8 ? "utf-8" : "rfc822";
}

/* "d.ddd.ddd" with a class of 2, 4 or 5. */
static int
status_ok(const char *s)
{
	int part, digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

/* "NNN" reply codes are SMTP diagnostics, anything else is ours. */
static int
is_smtp_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' ||
	    s[3] == '\0');
}

static int
mem_has(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= len && i <= len - n; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/*
 * The attached headers: CRLF everywhere, lines folded before
 * DSN_LINE_MAX, and no line of the report ever "." alone. The input is in
 * wire form: a line of it that starts with '.' is already stuffed and is
 * kept as it is, unless the '.' is all of it (a cut last line, or one
 * before a bare CR or LF), which is stuffed; a line we create (after a
 * bare CR, LF or NUL) is stuffed whenever it starts with '.'.
 */
static void
emit_headers(struct out *o, const char *h, size_t len, int *eightbit)
{
	size_t i;
	int sol = 1;	/* at the start of an output line */
	int wire = 1;	/* ... which starts a line of the input */

	for (i = 0; i < len && !o->bad; i++) {
		char c = h[i];

		if ((unsigned char)c >= 0x80)
			*eightbit = 1;
		if (c == '\r' && i + 1 < len && h[i + 1] == '\n') {
			emit(o, "\r\n", 2);
			i++;
			sol = wire = 1;
			continue;
		}
		if (c == '\r' || c == '\n' || c == '\0') {
			emit(o, "\r\n", 2);	/* bare CR/LF never leave */
			sol = 1;
			wire = 0;
			continue;
		}
		if (o->col >= DSN_LINE_MAX - 1) {
			emit(o, "\r\n ", 3);	/* fold */
			sol = 0;
		}
		if (sol && c == '.' && (!wire || i + 1 == len ||
		    h[i + 1] == '\r' || h[i + 1] == '\n' || h[i + 1] == '\0'))
			emit(o, ".", 1);
		sol = wire = 0;
		emit(o, &c, 1);
	}
	if (len > 0 && o->col != 0)
		emit(o, "\r\n", 2);
}

long
dsn_build(const struct dsn_input *in, char *buf, size_t size, int *eightbit)
{
	struct out o = { buf, 0, size, 0, 0 };
	char date[40], arr[40], last[40], boundary[96], diag[TEXT_MAX];
	char mta[TEXT_MAX], from[ADDR_RENDER_MAX], addr[ADDR_RENDER_MAX];
	const char *hdr = in->headers ? in->headers : "", *from_type, *type;
	size_t hlen = in->headers ? in->headers_len : 0;
	int i, tries, eb = 0;

	if (eightbit != NULL)
		*eightbit = 0;
	if (in->nrcpt < 1 || in->nrcpt > QUEUE_RCPT_MAX || in->rcpt == NULL ||
	    !addr_ok(in->postmaster, 0, 0) || !addr_ok(in->from, 1, 1) ||
	    in->queue_id == NULL || strlen(in->queue_id) > QUEUE_ID_LEN ||
	    !addr_ok(in->queue_id, 0, 0) || !addr_ok(in->reporting_mta, 0, 0) ||
	    strlen(in->reporting_mta) > 255)
		return -1;
	for (i = 0; i < in->nrcpt; i++)
		if (!addr_ok(in->rcpt[i].addr, 0, 1))
			return -1;
	from_type = addr_render(from, in->from);

	for (tries = 0; ; tries++) {
		if (tries == BOUNDARY_TRIES)
			return -1;
		snprintf(boundary, sizeof(boundary), "=_mxgate/%s/%lld.%d",
		    in->queue_id, (long long)in->now_us, tries);
		if (!mem_has(hdr, hlen, boundary))
			break;
	}
	dsn_date(in->now_us, date, sizeof(date));
	dsn_date(in->arrival_us, arr, sizeof(arr));

	emitf(&o, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    in->reporting_mta);
	emitf(&o, "To: <%s>\r\n", in->postmaster);
	emitf(&o, "Subject: Undelivered Mail: %s (queue id %s)\r\n",
	    in->reason == DSN_EXPIRED ? "queue lifetime expired" :
	    "refused by your server", in->queue_id);
	emitf(&o, "Date: %s\r\n", date);
	emitf(&o, "Message-ID: <%s.%lld@%s>\r\n", in->queue_id,
	    (long long)in->now_us, in->reporting_mta);
	EMITS(&o, "Auto-Submitted: auto-replied\r\n");
	EMITS(&o, "MIME-Version: 1.0\r\n");
	emitf(&o, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary);
	EMITS(&o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* 1. the human-readable part */
	emitf(&o, "--%s\r\n", boundary);
	EMITS(&o, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	emitf(&o, "This is the mail gateway at %s.\r\n\r\n", in->reporting_mta);
	emitf(&o, "A message for your users reached the gateway on\r\n"
	    "%s, but your mail server %s.\r\n"
	    "The message has been removed from the gateway's queue.\r\n\r\n",
	    arr, in->reason == DSN_EXPIRED ?
	    "did not accept it before the\r\nqueue lifetime expired" :
	    "refused it permanently");
	emitf(&o, "Queue ID: %s\r\nSender: <%s>\r\n\r\n", in->queue_id,
	    from);
	for (i = 0; i < in->nrcpt; i++) {
		clean(diag, sizeof(diag), in->rcpt[i].diag);
		addr_render(addr, in->rcpt[i].addr);
		/* a long (UTF-8) address and a long reply share the line:
		 * the reply is cut to fit (it is whole in Diagnostic-Code) */
		emitf(&o, "<%s>: %.*s\r\n", addr,
		    (int)(DSN_LINE_MAX - 4 - strlen(addr)),
		    diag[0] ? diag : in->reason == DSN_EXPIRED ?
		    "delivery time expired" : "refused");
	}
	if (in->headers_cut)
		emitf(&o, "\r\nThe original headers are longer than %u bytes "
		    "and were cut.\r\n", DSN_HEADERS_MAX);
	EMITS(&o, "\r\n");

	/* 2. the machine-readable part (RFC 3464) */
	emitf(&o, "--%s\r\n", boundary);
	EMITS(&o, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n");
	/* the sender's own identifiers (RFC 3464 2.2.1, 2.3.1), as xtext,
	 * which is printable ASCII already; clean() makes sure of it */
	if (kv_get(in->params, ' ', "ENVID", diag, sizeof(diag)) == 0) {
		clean(mta, sizeof(mta), diag);
		emitf(&o, "Original-Envelope-Id: %s\r\n", mta);
	}
	emitf(&o, "Reporting-MTA: dns; %s\r\n", in->reporting_mta);
	emitf(&o, "X-Mxgate-Queue-ID: %s\r\n", in->queue_id);
	emitf(&o, "X-Mxgate-Sender: %s; %s\r\n", from_type, from);
	emitf(&o, "Arrival-Date: %s\r\n", arr);
	for (i = 0; i < in->nrcpt; i++) {
		const struct dsn_rcpt *r = &in->rcpt[i];
		const char *st = status_ok(r->status) ? r->status :
		    in->reason == DSN_EXPIRED ? "4.4.7" : "5.0.0";

		EMITS(&o, "\r\n");
		if (kv_get(r->params, ' ', "ORCPT", diag, sizeof(diag)) == 0) {
			char orcpt[TEXT_MAX];

			clean(orcpt, sizeof(orcpt), diag);
			emitf(&o, "Original-Recipient: %s\r\n", orcpt);
		}
		type = addr_render(addr, r->addr);
		emitf(&o, "Final-Recipient: %s; %s\r\n", type, addr);
		EMITS(&o, "Action: failed\r\n");
		emitf(&o, "Status: %s\r\n", st);
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0') {
			clean(mta, sizeof(mta), r->remote_mta);
			emitf(&o, "Remote-MTA: dns; %s\r\n", mta);
		}
		clean(diag, sizeof(diag), r->diag);
		if (diag[0] != '\0')
			emitf(&o, "Diagnostic-Code: %s; %s\r\n",
			    is_smtp_reply(diag) ? "smtp" : "X-Mxgate", diag);
		if (r->last_attempt_us != 0) {
			dsn_date(r->last_attempt_us, last, sizeof(last));
			emitf(&o, "Last-Attempt-Date: %s\r\n", last);
		}
		if (in->reason == DSN_EXPIRED)
			emitf(&o, "Will-Retry-Until: %s\r\n", date);
	}
	EMITS(&o, "\r\n");

	/* 3. the original headers, never the body */
	emitf(&o, "--%s\r\n", boundary);
	EMITS(&o, "Content-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n");
	/* the 8-bit check runs over the headers first */
	for (i = 0; (size_t)i < hlen; i++)
		if ((unsigned char)hdr[i] >= 0x80) {
			eb = 1;
			break;
		}
	if (eb)
		EMITS(&o, "Content-Transfer-Encoding: 8bit\r\n");
	EMITS(&o, "\r\n");
	emit_headers(&o, hdr, hlen, &eb);
	emitf(&o, "\r\n--%s--\r\n", boundary);

	if (o.bad)
		return -1;
	if (eightbit != NULL)
		*eightbit = eb;
	return (long)o.len;
}

void
dsn_headers_init(struct dsn_headers *h)
{
	h->len = 0;
	h->complete = 0;
	h->cut = 0;
}

int
dsn_headers_collect(void *arg, const void *data, size_t len)
{
	struct dsn_headers *h = arg;
	size_t room = sizeof(h->buf) - h->len, n = len < room ? len : room;
	size_t i, from = h->len >= 3 ? h->len - 3 : 0;

	if (h->complete || h->cut)
		return 1;
	memcpy(h->buf + h->len, data, n);
	h->len += n;
	if (h->len >= 2 && from == 0 && h->buf[0] == '\r' && h->buf[1] == '\n') {
		h->len = 0;		/* no headers at all */
		h->complete = 1;
		return 1;
	}
	for (i = from; i + 4 <= h->len; i++)
		if (memcmp(h->buf + i, "\r\n\r\n", 4) == 0) {
			h->len = i + 2;
			h->complete = 1;
			return 1;
		}
	if (h->len < sizeof(h->buf))
		return 0;
	/* too long: keep whole header fields only */
	h->cut = 1;
	for (i = h->len - 2; i > 0; i--)
		if (h->buf[i] == '\r' && h->buf[i + 1] == '\n' &&
		    i + 2 < h->len && h->buf[i + 2] != ' ' &&
		    h->buf[i + 2] != '\t') {
			h->len = i + 2;
			return 1;
		}
	h->len = 0;
	return 1;
}
