/*
 * smtp_client.c — see smtp_client.h. Owns nothing but the client state;
 * never writes a command line that holds CR or LF (one line could carry
 * a second command to the customer) and never trusts a reply's length.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_client.h"
#include "util.h"

void
smtp_client_init(struct smtp_client *c, struct buf *out)
{
	memset(c, 0, sizeof(*c));
	c->out = out;
	c->fifo[0] = COP_GREETING;
	c->count = 1;
}

int
smtp_client_expect(struct smtp_client *c, enum smtp_cop op)
{
	if (c->count == SMTP_CLIENT_FIFO)
		return -1;
	c->fifo[(c->head + c->count) % SMTP_CLIENT_FIFO] = op;
	c->count++;
	return 0;
}

int
smtp_client_send(struct smtp_client *c, enum smtp_cop op, const char *line)
{
	size_t n = strlen(line);
	char *p;

	if (strpbrk(line, "\r\n") != NULL) {
		errno = EINVAL;		/* never sent, nothing queued */
		return -1;
	}
	if (c->count == SMTP_CLIENT_FIFO || n > SMTP_CLIENT_LINE_MAX - 2) {
		errno = ENOBUFS;
		return -1;
	}
	if ((p = buf_space(c->out, n + 2)) == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	memcpy(p, line, n);
	p[n] = '\r';
	p[n + 1] = '\n';
	buf_commit(c->out, n + 2);
	if (op == COP_EHLO)
		c->cap_pipelining = c->cap_8bitmime = c->cap_starttls =
		    c->cap_size = c->cap_dsn = c->cap_smtputf8 =
		    c->cap_chunking = 0;
	return smtp_client_expect(c, op);
}

int
smtp_client_pending(const struct smtp_client *c)
{
	return c->count;
}

static void
parse_capability(struct smtp_client *c, const char *kw, size_t n)
{
	char word[64];
	const char *arg;
	uint64_t v;

	if (n >= sizeof(word))
		return;
	memcpy(word, kw, n);
	word[n] = '\0';
	arg = strchr(word, ' ');
	if (strcasecmp(word, "PIPELINING") == 0)
		c->cap_pipelining = 1;
	else if (strcasecmp(word, "8BITMIME") == 0)
		c->cap_8bitmime = 1;
	else if (strcasecmp(word, "STARTTLS") == 0)
		c->cap_starttls = 1;
	else if (strcasecmp(word, "DSN") == 0)
		c->cap_dsn = 1;
	else if (strcasecmp(word, "SMTPUTF8") == 0)
		c->cap_smtputf8 = 1;
	else if (strcasecmp(word, "CHUNKING") == 0)
		c->cap_chunking = 1;
	else if (strncasecmp(word, "SIZE", 4) == 0 &&
	    (word[4] == '\0' || word[4] == ' ')) {
		c->cap_size = 1;
		c->max_size = 0;
		if (arg && parse_uint(arg + 1, 0, UINT64_MAX, &v) == 0)
			c->max_size = v;
	}
}

int
smtp_client_feed(struct smtp_client *c, struct buf *in, struct smtp_reply *r)
{
	for (;;) {
		const char *p = buf_ptr(in), *nl;
		size_t len, tlen;
		int code, last;

		if (c->error)
			return -1;
		if (in->len == 0)
			return 0;
		nl = memchr(p, '\n', in->len);
		if (nl == NULL) {
			if (in->len > SMTP_CLIENT_LINE_MAX)
				return c->error = 1, -1;
			return 0;
		}
		len = (size_t)(nl - p) + 1;
		if (len < 5 || len > SMTP_CLIENT_LINE_MAX || nl[-1] != '\r' ||
		    p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9' ||
		    (p[3] != ' ' && p[3] != '-' && (p[3] != '\r' || len != 5)) ||
		    c->count == 0 || ++c->lines > SMTP_CLIENT_MAX_LINES)
			return c->error = 1, -1;
		code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (c->lines == 1)
			c->code = code;
		else if (code != c->code)
			return c->error = 1, -1;	/* "250-a" then "550 b" */
		last = p[3] != '-';
		tlen = len >= 6 ? len - 6 : 0;	/* "DDD " + text + CRLF */
		if (c->fifo[c->head] == COP_EHLO && c->lines > 1 && tlen > 0)
			parse_capability(c, p + 4, tlen);
		if (!last) {
			buf_consume(in, len);
			continue;
		}
		r->op = c->fifo[c->head];
		r->code = code;
		if (tlen > SMTP_CLIENT_TEXT_MAX)
			tlen = SMTP_CLIENT_TEXT_MAX;
		memcpy(r->text, p + 4 > nl ? nl : p + 4, tlen);
		r->text[tlen] = '\0';
		for (size_t i = 0; i < tlen; i++)
			if ((unsigned char)r->text[i] < 32 ||
			    (unsigned char)r->text[i] > 126)
				r->text[i] = '?';
		buf_consume(in, len);
		c->head = (c->head + 1) % SMTP_CLIENT_FIFO;
		c->count--;
		c->lines = 0;
		return 1;
	}
}

void
smtp_reply_status(int code, const char *p, char *status, size_t size)
{
	int parts = 0, digits = 0;
	size_t n;

	if (p[0] - '0' == code / 100 && p[1] == '.') {
		for (n = 0; p[n] != '\0' && p[n] != ' '; n++) {
			if (p[n] == '.') {
				if (digits == 0 || digits > 3)
					break;
				parts++;
				digits = 0;
			} else if (p[n] >= '0' && p[n] <= '9')
				digits++;
			else
				break;
		}
		if ((p[n] == '\0' || p[n] == ' ') && parts == 2 &&
		    digits >= 1 && digits <= 3 && n < size) {
			memcpy(status, p, n);
			status[n] = '\0';
			return;
		}
	}
	if (size >= 6) {
		memcpy(status, "4.0.0", 6);
		status[0] = (char)('0' + (code / 100 % 10));
	}
}

int
smtp_client_mail_line(const struct smtp_client *c, char *line, size_t size,
    const char *from, uint64_t msg_size, int eightbit, const char *params)
{
	char sz[32] = "";
	const char *p = params ? params : "";
	size_t off;
	int n;

	if (msg_size > 0 && c->cap_size)
		snprintf(sz, sizeof(sz), " SIZE=%llu",
		    (unsigned long long)msg_size);
	n = snprintf(line, size, "MAIL FROM:<%s>%s%s", from, sz,
	    eightbit && c->cap_8bitmime ? " BODY=8BITMIME" : "");
	if (n < 0 || (size_t)n >= size)
		return -1;
	off = (size_t)n;
	/* each of the sender's parameters, if the server knows it */
	while (*p) {
		size_t k = strcspn(p, " ");
		int utf8 = k == 8 && strncmp(p, "SMTPUTF8", 8) == 0;

		if (utf8 ? c->cap_smtputf8 : c->cap_dsn) {
			if (off + 1 + k >= size)
				return -1;
			line[off++] = ' ';
			memcpy(line + off, p, k);
			off += k;
			line[off] = '\0';
		}
		p += k;
		while (*p == ' ')
			p++;
	}
	return 0;
}

int
smtp_params_smtputf8(const char *params)
{
	const char *p = params;

	while (p != NULL && *p) {
		size_t k = strcspn(p, " ");

		if (k == 8 && strncmp(p, "SMTPUTF8", 8) == 0)
			return 1;
		p += k;
		while (*p == ' ')
			p++;
	}
	return 0;
}

int
smtp_client_rcpt_line(const struct smtp_client *c, char *line, size_t size,
    const char *to, const char *dsn)
{
	int d = c->cap_dsn && dsn != NULL && dsn[0] != '\0';
	int n = snprintf(line, size, "RCPT TO:<%s>%s%s", to, d ? " " : "",
	    d ? dsn : "");

	return n >= 0 && (size_t)n < size ? 0 : -1;
}
