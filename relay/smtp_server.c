/*
 * smtp_server.c — see smtp_server.h. One handler per verb, dispatched
 * from a table; one framing function for commands, one for DATA and one
 * for BDAT chunks; one parameter reader for MAIL and RCPT.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_server.h"
#include "util.h"

static void
reply(struct smtp_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply(struct smtp_server *s, const char *fmt, ...)
{
	char line[SMTP_CMD_LINE_MAX + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	/* The caller keeps `out` drained below its limit before stepping;
	 * a failure here means the peer stopped reading: close. */
	if (buf_append(s->out, line, (size_t)n) != 0) {
		s->state = SMTP_CLOSED;
		s->close_reason = "reply buffer full";
	}
}

void
smtp_server_init(struct smtp_server *s, const struct smtp_limits *lim,
    struct buf *out)
{
	memset(s, 0, sizeof(*s));
	s->lim = *lim;
	s->out = out;
	s->state = SMTP_GREETING;
	s->pending = SMTP_EV_NONE;
}

void
smtp_server_banner(struct smtp_server *s)
{
	reply(s, "220 %s ESMTP", s->lim.hostname);
	if (s->state == SMTP_GREETING)
		s->state = SMTP_HELO;
}

void
smtp_server_close(struct smtp_server *s, const char *line,
    const char *reason)
{
	if (s->state == SMTP_CLOSED)
		return;
	reply(s, "%s", line);
	s->state = SMTP_CLOSED;
	s->pending = SMTP_EV_NONE;
	s->close_reason = reason;
}

static enum smtp_ev
close_with(struct smtp_server *s, struct smtp_event *ev, const char *line,
    const char *reason)
{
	smtp_server_close(s, line, reason);
	ev->type = SMTP_EV_CLOSE;
	ev->close_reason = reason;
	return SMTP_EV_CLOSE;
}

/* Counts an error reply; too many close the session. */
static enum smtp_ev
error_reply(struct smtp_server *s, struct smtp_event *ev, const char *line)
{
	char buf[SMTP_CMD_LINE_MAX];

	reply(s, "%s", line);
	if (++s->errors >= s->lim.max_errors) {
		snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: too many errors",
		    s->lim.hostname);
		return close_with(s, ev, buf, "too many errors");
	}
	return SMTP_EV_NONE;
}

static enum smtp_ev
junk(struct smtp_server *s, struct smtp_event *ev)
{
	char buf[SMTP_CMD_LINE_MAX];

	if (++s->junk > SMTP_JUNK_MAX) {
		snprintf(buf, sizeof(buf),
		    "421 4.7.0 %s Error: too many junk commands",
		    s->lim.hostname);
		return close_with(s, ev, buf, "too many junk commands");
	}
	return SMTP_EV_NONE;
}

/* --- verbs ---------------------------------------------------------- */

static int
helo_name_valid(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > SMTP_HELO_MAX)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= 32 || (unsigned char)*a >= 127)
			return 0;
	return 1;
}

static enum smtp_ev
cmd_helo_common(struct smtp_server *s, const char *args,
    struct smtp_event *ev, int esmtp)
{
	if (!helo_name_valid(args))
		return error_reply(s, ev, esmtp ?
		    "501 5.5.4 Syntax: EHLO hostname" :
		    "501 5.5.4 Syntax: HELO hostname");
	str_copy(s->helo, args, sizeof(s->helo));
	s->esmtp = esmtp;
	s->state = SMTP_IDLE;
	s->nrcpt = s->rcpt_tried = s->overshoot = 0;
	s->bdat = 0;
	if (!esmtp) {
		reply(s, "250 %s", s->lim.hostname);
	} else {
		reply(s, "250-%s", s->lim.hostname);
		reply(s, "250-PIPELINING");
		reply(s, "250-SIZE %llu", (unsigned long long)s->lim.max_size);
		if (s->lim.tls_available && !s->tls)
			reply(s, "250-STARTTLS");
		reply(s, "250-ENHANCEDSTATUSCODES");
		reply(s, "250-8BITMIME");
		reply(s, "250-DSN");
		reply(s, "250-SMTPUTF8");
		reply(s, "250 CHUNKING");
	}
	ev->type = SMTP_EV_HELO;
	return SMTP_EV_HELO;
}

static enum smtp_ev
cmd_ehlo(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	return cmd_helo_common(s, args, ev, 1);
}

static enum smtp_ev
cmd_helo(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	return cmd_helo_common(s, args, ev, 0);
}

/* Matches "FROM:" / "TO:" case-insensitively, then optional blanks. */
static const char *
skip_keyword(const char *args, const char *kw)
{
	size_t n = strlen(kw);

	if (strncasecmp(args, kw, n) != 0)
		return NULL;
	args += n;
	while (*args == ' ')
		args++;
	return args;
}

/* xtext (RFC 3461 4): "!".."~" but "+" and "=", or "+" and two
 * upper-case hex digits; 1..max octets. */
static int
xtext_valid(const char *p, size_t max)
{
	size_t n = strlen(p), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '+') {
			if (!strchr("0123456789ABCDEF", p[i + 1]) ||
			    p[i + 1] == '\0' || !strchr("0123456789ABCDEF",
			    p[i + 2]) || p[i + 2] == '\0')
				return 0;
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return 0;
		}
	}
	return 1;
}

/* NOTIFY=NEVER, or a list of SUCCESS, FAILURE, DELAY without repeats
 * (RFC 3461 4.1); its canonical upper-case form into out. */
static int
notify_parse(const char *v, char *out, size_t size)
{
	static const char *const kw[] = { "SUCCESS", "FAILURE", "DELAY" };
	int seen[3] = { 0, 0, 0 }, never = 0, any = 0, i;
	char item[16];

	while (*v) {
		size_t n = strcspn(v, ",");

		if (n == 0 || n >= sizeof(item))
			return -1;
		memcpy(item, v, n);
		item[n] = '\0';
		v += n;
		if (*v == ',' && *++v == '\0')
			return -1;
		if (strcasecmp(item, "NEVER") == 0) {
			if (never++)
				return -1;
			continue;
		}
		for (i = 0; i < 3; i++)
			if (strcasecmp(item, kw[i]) == 0)
				break;
		if (i == 3 || seen[i]++)
			return -1;
		any = 1;
	}
	if (never == any)	/* NEVER alone, or a list without it */
		return -1;
	out[0] = '\0';
	if (never) {
		str_copy(out, "NEVER", size);
		return 0;
	}
	for (i = 0; i < 3; i++)
		if (seen[i]) {
			if (out[0] != '\0')
				strncat(out, ",", size - strlen(out) - 1);
			strncat(out, kw[i], size - strlen(out) - 1);
		}
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 4.2): an atom, ";", xtext. */
static int
orcpt_valid(const char *v)
{
	const char *semi = strchr(v, ';');
	const char *p;

	if (semi == NULL || semi == v || strlen(v) > SMTP_ORCPT_MAX)
		return 0;
	for (p = v; p < semi; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	return xtext_valid(semi + 1, SMTP_ORCPT_MAX);
}

/* Appends "KEY=value" (or "KEY", value NULL) to the canonical parameter
 * string. */
static void
param_add(char *params, size_t size, const char *key, const char *value)
{
	size_t n = strlen(params);

	snprintf(params + n, size - n, "%s%s%s%s", n ? " " : "", key,
	    value ? "=" : "", value ? value : "");
}

/* One parameter of MAIL or RCPT ("KEY=value" or "KEY"): 0 when taken,
 * else the reply's text. Each keyword at most once (`seen`). */
static const char *
param_take(struct smtp_server *s, struct smtp_event *ev, int is_mail,
    char *word, unsigned *seen)
{
	char *eq = strchr(word, '='), canon[40];
	const char *key = word, *val = eq ? eq + 1 : NULL;
	unsigned bit;

	if (eq)
		*eq = '\0';
	if (is_mail && strcasecmp(key, "SIZE") == 0 && val) {
		bit = 1;
		if (parse_uint(val, 0, UINT64_MAX / 2, &ev->size) != 0)
			return "501 5.5.4 Bad SIZE parameter";
		if (ev->size > s->lim.max_size)
			return "552 5.3.4 Message size exceeds fixed limit";
	} else if (is_mail && strcasecmp(key, "BODY") == 0 && val) {
		bit = 2;
		if (strcasecmp(val, "8BITMIME") == 0)
			ev->body_8bit = 1;
		else if (strcasecmp(val, "7BIT") == 0)
			ev->body_8bit = 0;
		else
			return "501 5.5.4 Bad BODY parameter";
	} else if (is_mail && strcasecmp(key, "RET") == 0 && val) {
		bit = 4;
		if (strcasecmp(val, "FULL") != 0 && strcasecmp(val, "HDRS") != 0)
			return "501 5.5.4 Bad RET parameter";
		param_add(ev->params, sizeof(ev->params), "RET",
		    strcasecmp(val, "FULL") == 0 ? "FULL" : "HDRS");
	} else if (is_mail && strcasecmp(key, "ENVID") == 0 && val) {
		bit = 8;
		if (!xtext_valid(val, SMTP_ENVID_MAX))
			return "501 5.5.4 Bad ENVID parameter";
		param_add(ev->params, sizeof(ev->params), "ENVID", val);
	} else if (is_mail && strcasecmp(key, "SMTPUTF8") == 0 && !val) {
		bit = 64;
		s->smtputf8 = 1;
		param_add(ev->params, sizeof(ev->params), "SMTPUTF8", NULL);
	} else if (!is_mail && strcasecmp(key, "NOTIFY") == 0 && val) {
		bit = 16;
		if (notify_parse(val, canon, sizeof(canon)) != 0)
			return "501 5.5.4 Bad NOTIFY parameter";
		param_add(ev->params, sizeof(ev->params), "NOTIFY", canon);
	} else if (!is_mail && strcasecmp(key, "ORCPT") == 0 && val) {
		bit = 32;
		if (!orcpt_valid(val))
			return "501 5.5.4 Bad ORCPT parameter";
		param_add(ev->params, sizeof(ev->params), "ORCPT", val);
	} else {
		return "555 5.5.4 Unsupported option";
	}
	if (*seen & bit)
		return "501 5.5.4 Parameter given twice";
	*seen |= bit;
	return NULL;
}

/* The parameters after a path: SP-separated; each taken or refused
 * (NULL, or the reply, formatted in line). */
static const char *
params_read(struct smtp_server *s, struct smtp_event *ev, int is_mail,
    const char *param, char *line, size_t size)
{
	char word[SMTP_CMD_LINE_MAX];
	const char *err;
	unsigned seen = 0;

	while (*param) {
		size_t n;

		if (*param != ' ')
			return is_mail ?
			    "501 5.5.4 Syntax: MAIL FROM:<address> [params]" :
			    "501 5.5.4 Syntax: RCPT TO:<address> [params]";
		while (*param == ' ')
			param++;
		n = strcspn(param, " ");
		if (n == 0)
			break;
		memcpy(word, param, n);
		word[n] = '\0';
		param += n;
		if ((err = param_take(s, ev, is_mail, word, &seen)) != NULL) {
			if (strncmp(err, "555", 3) != 0)
				return err;
			snprintf(line, size, "%s: %.*s", err, (int)(n > 64 ? 64 : n),
			    param - n);
			return line;
		}
	}
	return NULL;
}

static enum smtp_ev
cmd_mail(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	char line[SMTP_CMD_LINE_MAX];
	const char *p, *param, *err;
	enum addr_status st;
	size_t used;

	if (s->state == SMTP_HELO)
		return error_reply(s, ev,
		    "503 5.5.1 Error: send HELO/EHLO first");
	if (s->state == SMTP_MAIL)
		return error_reply(s, ev, "503 5.5.1 Error: nested MAIL command");
	if ((p = skip_keyword(args, "FROM:")) == NULL)
		return error_reply(s, ev, "501 5.5.4 Syntax: MAIL FROM:<address>");
	memset(ev, 0, sizeof(*ev));
	/* UTF-8 is looked at here and refused below unless SMTPUTF8 is
	 * among the parameters that follow the path */
	st = addr_parse_path(p, strlen(p), ADDR_ALLOW_NULL | ADDR_UTF8,
	    &ev->path, &used);
	if (st != ADDR_OK) {
		snprintf(line, sizeof(line),
		    "501 5.1.7 Bad sender address syntax: %s",
		    addr_status_text(st));
		return error_reply(s, ev, line);
	}
	s->smtputf8 = 0;
	param = p + used;
	if ((err = params_read(s, ev, 1, param, line, sizeof(line))) != NULL)
		return error_reply(s, ev, err);
	if (!s->smtputf8 && addr_is_utf8(ev->path.addr))
		return error_reply(s, ev, "553 5.6.7 Must declare SMTPUTF8 to "
		    "send a UTF-8 address");
	s->count[V_MAIL]++;
	s->pending = SMTP_EV_MAIL;
	ev->type = SMTP_EV_MAIL;
	return SMTP_EV_MAIL;
}

static enum smtp_ev
cmd_rcpt(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	char line[SMTP_CMD_LINE_MAX];
	const char *p, *err;
	enum addr_status st;
	size_t used;

	if (s->state != SMTP_MAIL)
		return error_reply(s, ev, "503 5.5.1 Error: need MAIL command");
	if (s->bdat)
		return error_reply(s, ev,
		    "503 5.5.1 Error: RCPT after BDAT in one transaction");
	if ((p = skip_keyword(args, "TO:")) == NULL)
		return error_reply(s, ev, "501 5.5.4 Syntax: RCPT TO:<address>");
	memset(ev, 0, sizeof(*ev));
	st = addr_parse_path(p, strlen(p), s->smtputf8 ? ADDR_UTF8 : 0,
	    &ev->path, &used);
	if (st == ADDR_NON_ASCII)
		return error_reply(s, ev, "553 5.6.7 Must declare SMTPUTF8 to "
		    "send a UTF-8 address");
	if (st != ADDR_OK) {
		snprintf(line, sizeof(line),
		    "501 5.1.3 Bad recipient address syntax: %s",
		    addr_status_text(st));
		return error_reply(s, ev, line);
	}
	if ((err = params_read(s, ev, 0, p + used, line, sizeof(line))) != NULL)
		return error_reply(s, ev, err);
	/* Past max_recipients a client gets 452 and sends the rest in a new
	 * transaction (RFC 5321 4.5.3.1.10); a client that overshoots by as
	 * many again is not doing that: each further RCPT counts as an error,
	 * so max_errors ends it */
	if (s->nrcpt >= s->lim.max_recipients) {
		if (++s->overshoot > s->lim.max_recipients)
			return error_reply(s, ev,
			    "452 4.5.3 Error: too many recipients");
		reply(s, "452 4.5.3 Error: too many recipients");
		return SMTP_EV_NONE;
	}
	s->rcpt_tried++;
	s->count[V_RCPT]++;
	s->pending = SMTP_EV_RCPT;
	ev->type = SMTP_EV_RCPT;
	return SMTP_EV_RCPT;
}

static enum smtp_ev
cmd_data(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	if (s->state != SMTP_MAIL)
		return error_reply(s, ev, "503 5.5.1 Error: need MAIL command");
	if (*args)
		return error_reply(s, ev, "501 5.5.4 Syntax: DATA");
	if (s->bdat)
		return error_reply(s, ev,
		    "503 5.5.1 Error: DATA after BDAT in one transaction");
	if (s->nrcpt == 0)
		return error_reply(s, ev, s->rcpt_tried ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command");
	s->count[V_DATA]++;
	s->pending = SMTP_EV_DATA;
	ev->type = SMTP_EV_DATA;
	return SMTP_EV_DATA;
}

/* Starts reading a chunk of `size` octets. A chunk that is not taken
 * (discard) is still read to its end, then answered with `line`, which
 * counts as the client's error when `counts`. */
static void
chunk_begin(struct smtp_server *s, uint64_t size, int last, int discard,
    const char *line, int counts)
{
	s->in_chunk = 1;
	s->chunk_left = s->chunk_size = size;
	s->chunk_last = last;
	s->chunk_discard = discard;
	s->chunk_counts = counts;
	str_copy(s->chunk_reply, discard ? line : "", sizeof(s->chunk_reply));
}

/* The message-wide state of a BDAT message, at its first chunk. */
static void
message_begin(struct smtp_server *s)
{
	s->size = 0;
	s->msg_error = SMTP_MSG_OK;
	s->discard_line = 0;
	s->cr = 0;
	s->line_len = 0;
	s->dot_done = s->crlf_done = 0;
}

/* BDAT SP chunk-size [SP "LAST"] (RFC 3030 2). A command that does not
 * parse cannot say how many octets follow it: the session ends. */
static enum smtp_ev
cmd_bdat(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	char num[24];
	size_t n = strspn(args, "0123456789");
	uint64_t size;
	int last = 0;

	s->count[V_BDAT]++;
	if (n == 0 || n >= sizeof(num))
		goto syntax;
	memcpy(num, args, n);
	num[n] = '\0';
	if (parse_uint(num, 0, UINT64_MAX / 2, &size) != 0)
		goto syntax;
	if (args[n] == ' ' && strcasecmp(args + n + 1, "LAST") == 0)
		last = 1;
	else if (args[n] != '\0')
		goto syntax;
	if (s->state != SMTP_MAIL) {
		chunk_begin(s, size, last, 1,
		    "503 5.5.1 Error: need MAIL command", 1);
		return SMTP_EV_NONE;
	}
	if (s->nrcpt == 0) {
		chunk_begin(s, size, last, 1, s->rcpt_tried ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command", 1);
		return SMTP_EV_NONE;
	}
	if (s->bdat) {		/* a further chunk of the message */
		chunk_begin(s, size, last, 0, NULL, 0);
		return SMTP_EV_NONE;
	}
	/* the first chunk: the caller decides as for DATA; the chunk is
	 * read once it answers (answer()) */
	s->bdat = 1;
	s->in_chunk = 0;
	s->chunk_left = s->chunk_size = size;
	s->chunk_last = last;
	s->pending = SMTP_EV_DATA;
	ev->type = SMTP_EV_DATA;
	return SMTP_EV_DATA;
syntax:
	return close_with(s, ev, "501 5.5.4 Syntax: BDAT chunk-size [LAST]",
	    "bad BDAT command");
}

static enum smtp_ev
cmd_rset(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	int had_tx = s->state == SMTP_MAIL;

	if (*args)
		return error_reply(s, ev, "501 5.5.4 Syntax: RSET");
	reply(s, "250 2.0.0 Ok");
	if (s->state == SMTP_MAIL)
		s->state = SMTP_IDLE;
	s->nrcpt = s->rcpt_tried = s->overshoot = 0;
	s->bdat = 0;
	if (junk(s, ev) == SMTP_EV_CLOSE)
		return SMTP_EV_CLOSE;
	if (had_tx) {
		ev->type = SMTP_EV_RSET;
		return SMTP_EV_RSET;
	}
	return SMTP_EV_NONE;
}

static enum smtp_ev
cmd_noop(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	reply(s, "250 2.0.0 Ok");
	return junk(s, ev);
}

static enum smtp_ev
cmd_vrfy(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	/* RFC 5321 3.5.3: 252, and nothing disclosed */
	reply(s, "252 2.0.0 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
	return junk(s, ev);
}

static enum smtp_ev
cmd_help(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET "
	    "NOOP QUIT VRFY%s", s->lim.tls_available ? " STARTTLS" : "");
	return junk(s, ev);
}

static enum smtp_ev
cmd_quit(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	return close_with(s, ev, "221 2.0.0 Bye", "quit");
}

static enum smtp_ev
cmd_starttls(struct smtp_server *s, const char *args, struct smtp_event *ev)
{
	if (!s->lim.tls_available)
		return error_reply(s, ev,
		    "502 5.5.1 Error: command not implemented");
	if (s->tls)
		return error_reply(s, ev, "554 5.5.1 Error: TLS already active");
	if (*args)
		return error_reply(s, ev, "501 5.5.4 Syntax: STARTTLS");
	if (s->state == SMTP_MAIL)
		return error_reply(s, ev,
		    "503 5.5.1 Error: STARTTLS inside a mail transaction");
	reply(s, "220 2.0.0 Ready to start TLS");
	/* nothing more is stepped until smtp_server_tls_started(): what
	 * follows STARTTLS in the clear is the caller's to discard, even
	 * when another event makes it step before the 220 is out */
	s->pending = SMTP_EV_STARTTLS;
	ev->type = SMTP_EV_STARTTLS;
	return SMTP_EV_STARTTLS;
}

static enum smtp_ev
cmd_not_implemented(struct smtp_server *s, const char *args,
    struct smtp_event *ev)
{
	return error_reply(s, ev, "502 5.5.1 Error: command not implemented");
}

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
	enum smtp_ev	(*fn)(struct smtp_server *, const char *,
			    struct smtp_event *);
} verbs[] = {
	{ "EHLO",	V_EHLO,		cmd_ehlo },
	{ "HELO",	V_HELO,		cmd_helo },
	{ "MAIL",	V_COUNT,	cmd_mail },	/* counted when valid */
	{ "RCPT",	V_COUNT,	cmd_rcpt },
	{ "DATA",	V_COUNT,	cmd_data },
	{ "RSET",	V_RSET,		cmd_rset },
	{ "NOOP",	V_NOOP,		cmd_noop },
	{ "VRFY",	V_VRFY,		cmd_vrfy },
	{ "HELP",	V_HELP,		cmd_help },
	{ "QUIT",	V_QUIT,		cmd_quit },
	{ "STARTTLS",	V_STARTTLS,	cmd_starttls },
	{ "EXPN",	V_UNKNOWN,	cmd_not_implemented },
	{ "ETRN",	V_UNKNOWN,	cmd_not_implemented },
	{ "AUTH",	V_UNKNOWN,	cmd_not_implemented },
	{ "BDAT",	V_COUNT,	cmd_bdat },	/* counted there */
	{ "TURN",	V_UNKNOWN,	cmd_not_implemented },
};

static enum smtp_ev
dispatch(struct smtp_server *s, char *line, struct smtp_event *ev)
{
	size_t vlen = strcspn(line, " "), i;
	const char *args = line + vlen;

	if (*args == ' ')
		args++;
	for (i = 0; i < ARRAY_LEN(verbs); i++) {
		if (strlen(verbs[i].name) == vlen &&
		    strncasecmp(line, verbs[i].name, vlen) == 0) {
			if (verbs[i].verb != V_COUNT)
				s->count[verbs[i].verb]++;
			return verbs[i].fn(s, args, ev);
		}
	}
	s->count[V_UNKNOWN]++;
	return error_reply(s, ev, "500 5.5.2 Error: command not recognized");
}

/* --- framing -------------------------------------------------------- */

static enum smtp_ev
bare_newline(struct smtp_server *s, struct smtp_event *ev, int lf)
{
	char line[SMTP_CMD_LINE_MAX];

	snprintf(line, sizeof(line), "521 5.5.2 %s Error: bare <%s> received",
	    s->lim.hostname, lf ? "LF" : "CR");
	return close_with(s, ev, line, lf ? "bare LF" : "bare CR");
}

static enum smtp_ev
command_step(struct smtp_server *s, struct buf *in, struct smtp_event *ev)
{
	char line[SMTP_CMD_LINE_MAX + 1];
	const char *p = buf_ptr(in), *nl;
	size_t n = in->len, len;

	if (n == 0)
		return SMTP_EV_NONE;
	nl = memchr(p, '\n', n);
	if (s->discard_line) {
		/* skipped, but still framed: a bare CR or LF in it closes */
		if (nl == NULL) {
			if (memchr(p, '\r', n - 1) != NULL)
				return bare_newline(s, ev, 0);
			/* keep a final CR: it may pair with the next LF */
			buf_consume(in, p[n - 1] == '\r' ? n - 1 : n);
			return SMTP_EV_NONE;
		}
		if (nl == p || nl[-1] != '\r')
			return bare_newline(s, ev, 1);
		if (memchr(p, '\r', (size_t)(nl - p) - 1) != NULL)
			return bare_newline(s, ev, 0);
		buf_consume(in, (size_t)(nl - p) + 1);
		s->discard_line = 0;
		return command_step(s, in, ev);
	}
	if (nl == NULL) {
		if (memchr(p, '\r', n - 1) != NULL)
			return bare_newline(s, ev, 0);
		if (n < SMTP_CMD_LINE_MAX)
			return SMTP_EV_NONE;
		s->discard_line = 1;
		buf_consume(in, p[n - 1] == '\r' ? n - 1 : n);
		return error_reply(s, ev, "500 5.5.2 Error: line too long");
	}
	len = (size_t)(nl - p) + 1;
	if (len < 2 || nl[-1] != '\r')
		return bare_newline(s, ev, 1);
	if (len > 2 && memchr(p, '\r', len - 2) != NULL)
		return bare_newline(s, ev, 0);
	if (len > SMTP_CMD_LINE_MAX) {
		buf_consume(in, len);
		return error_reply(s, ev, "500 5.5.2 Error: line too long");
	}
	memcpy(line, p, len - 2);
	line[len - 2] = '\0';
	buf_consume(in, len);
	if (memchr(p, '\0', len - 2) != NULL)
		return error_reply(s, ev,
		    "500 5.5.2 Error: NUL character in command");
	return dispatch(s, line, ev);
}

static void
msg_error(struct smtp_server *s, enum smtp_msg_error e)
{
	if (s->msg_error == SMTP_MSG_OK)
		s->msg_error = e;
}

static enum smtp_ev
data_step(struct smtp_server *s, struct buf *in, struct smtp_event *ev)
{
	const char *p = buf_ptr(in), *nl;
	size_t n = in->len, pos = 0, chunk = 0, len;

	while (pos < n) {
		/* a line's transparency dot is transmission encoding, not
		 * message: it counts toward neither the line limit (RFC 5321
		 * 4.5.3.1.6) nor the size (RFC 1870). `stuff` is 1 for it. */
		size_t stuff = !s->discard_line && p[pos] == '.';

		nl = memchr(p + pos, '\n', n - pos);
		if (nl == NULL) {
			size_t rem = n - pos;
			if (rem > 1 && memchr(p + pos, '\r', rem - 1) != NULL)
				return bare_newline(s, ev, 0);
			if (!s->discard_line && rem <= SMTP_DATA_LINE_MAX + stuff)
				break;
			/* inside an over-long line: drop it, keep a CR */
			msg_error(s, SMTP_MSG_LONG_LINE);
			s->discard_line = 1;
			len = p[n - 1] == '\r' ? n - 1 : n;
			s->size += len - pos;
			pos = len;
			break;
		}
		len = (size_t)(nl - (p + pos)) + 1;
		if (len < 2 || nl[-1] != '\r')
			return bare_newline(s, ev, 1);
		if (len > 2 && memchr(p + pos, '\r', len - 2) != NULL)
			return bare_newline(s, ev, 0);
		if (s->discard_line) {
			s->discard_line = 0;
			s->size += len;
			pos += len;
			continue;
		}
		if (len == 3 && p[pos] == '.') {
			if (chunk > 0)
				break;	/* hand out the content first */
			/* lines before it (pos > 0) were dropped for an
			 * error: they go too, never to the command parser */
			buf_consume(in, pos + 3);
			s->pending = SMTP_EV_EOM;
			ev->type = SMTP_EV_EOM;
			ev->msg_error = s->msg_error;
			ev->size = s->size;
			return SMTP_EV_EOM;
		}
		if (len - stuff > SMTP_DATA_LINE_MAX)
			msg_error(s, SMTP_MSG_LONG_LINE);
		if (memchr(p + pos, '\0', len) != NULL)
			msg_error(s, SMTP_MSG_NUL);
		s->size += len - stuff;
		if (s->size > s->lim.max_size)
			msg_error(s, SMTP_MSG_TOO_BIG);
		if (s->msg_error == SMTP_MSG_OK && chunk == pos)
			chunk += len;
		pos += len;
	}
	buf_consume(in, pos);
	if (chunk > 0) {
		ev->type = SMTP_EV_CONTENT;
		ev->data = p;
		ev->len = chunk;
		return SMTP_EV_CONTENT;
	}
	return SMTP_EV_NONE;	/* what is left is a partial line */
}

/* The end of a chunk: its reply, or the end of the message. */
static enum smtp_ev
chunk_end(struct smtp_server *s, struct smtp_event *ev)
{
	char line[SMTP_CMD_LINE_MAX];

	s->in_chunk = 0;
	if (s->chunk_discard) {
		s->chunk_discard = 0;
		if (s->chunk_counts)
			return error_reply(s, ev, s->chunk_reply);
		reply(s, "%s", s->chunk_reply);
		return SMTP_EV_NONE;
	}
	if (s->chunk_last && s->cr)	/* the message ends in a CR */
		return bare_newline(s, ev, 0);
	if (s->chunk_last && s->line_len > 0 && !s->crlf_done &&
	    s->msg_error == SMTP_MSG_OK) {
		/* the last line lacks its CRLF: the message in wire form
		 * gets one, as the DATA end needs it */
		s->in_chunk = 1;
		s->crlf_done = 1;
		ev->type = SMTP_EV_CONTENT;
		ev->data = "\r\n";
		ev->len = 2;
		return SMTP_EV_CONTENT;
	}
	if (s->chunk_last || s->msg_error != SMTP_MSG_OK) {
		/* the message ends here: on its LAST chunk, or at the
		 * chunk that broke a limit (the transaction fails, RFC
		 * 3030 2: chunks pipelined after it find no MAIL) */
		s->bdat = 0;
		s->pending = SMTP_EV_EOM;
		ev->type = SMTP_EV_EOM;
		ev->msg_error = s->msg_error;
		ev->size = s->size;
		return SMTP_EV_EOM;
	}
	snprintf(line, sizeof(line), "250 2.0.0 %llu octets received",
	    (unsigned long long)s->chunk_size);
	reply(s, "%s", line);
	return SMTP_EV_NONE;
}

/*
 * Reads the current chunk: the same framing and limits as data_step(),
 * octet by octet because a line may span chunks. Content goes out in
 * wire form: runs of the input, and a "." of its own before a line that
 * begins with one.
 */
static enum smtp_ev
chunk_step(struct smtp_server *s, struct buf *in, struct smtp_event *ev)
{
	const char *p = buf_ptr(in);
	size_t n, i;

	if (s->chunk_left == 0)
		return chunk_end(s, ev);
	n = in->len < s->chunk_left ? in->len : (size_t)s->chunk_left;
	if (n == 0)
		return SMTP_EV_NONE;
	if (s->chunk_discard) {
		buf_consume(in, n);
		s->chunk_left -= n;
		return s->chunk_left == 0 ? chunk_end(s, ev) : SMTP_EV_NONE;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (s->cr && c != '\n')
			return bare_newline(s, ev, 0);
		if (c == '\n' && !s->cr)
			return bare_newline(s, ev, 1);
		if (s->line_len == 0 && c == '.' && !s->dot_done &&
		    s->msg_error == SMTP_MSG_OK) {
			if (i > 0)
				break;	/* hand out the run before it */
			s->dot_done = 1;
			ev->type = SMTP_EV_CONTENT;
			ev->data = ".";
			ev->len = 1;
			return SMTP_EV_CONTENT;
		}
		s->cr = c == '\r';
		if (c == '\n') {
			s->line_len = 0;
			s->dot_done = 0;
		} else if (c != '\r' && ++s->line_len > SMTP_DATA_LINE_MAX - 2) {
			msg_error(s, SMTP_MSG_LONG_LINE);
		}
		if (c == '\0')
			msg_error(s, SMTP_MSG_NUL);
		if (++s->size > s->lim.max_size)
			msg_error(s, SMTP_MSG_TOO_BIG);
	}
	buf_consume(in, i);
	s->chunk_left -= i;
	if (s->msg_error != SMTP_MSG_OK || i == 0)
		return s->chunk_left == 0 ? chunk_end(s, ev) : SMTP_EV_NONE;
	ev->type = SMTP_EV_CONTENT;
	ev->data = p;
	ev->len = i;
	return SMTP_EV_CONTENT;
}

enum smtp_ev
smtp_server_step(struct smtp_server *s, struct buf *in,
    struct smtp_event *ev)
{
	enum smtp_ev e;
	size_t before;
	int was_chunk;

	/* A command answered without an event (NOOP, an error reply, ...)
	 * consumed its line but needs nothing from the caller: go on with
	 * the next pipelined one, so NONE only ever means "need input" or
	 * "decision pending", as the header promises. */
	do {
		ev->type = SMTP_EV_NONE;
		if (s->state == SMTP_CLOSED || s->state == SMTP_GREETING ||
		    s->pending != SMTP_EV_NONE)
			return SMTP_EV_NONE;
		if (s->state != SMTP_DATA && !s->in_chunk &&
		    s->out->max - s->out->len < SMTP_REPLY_ROOM)
			return SMTP_EV_NONE;	/* flush the replies first */
		before = in->len;
		was_chunk = s->in_chunk;
		if (s->in_chunk)
			e = chunk_step(s, in, ev);
		else if (s->state == SMTP_DATA)
			e = data_step(s, in, ev);
		else
			e = command_step(s, in, ev);
	} while (e == SMTP_EV_NONE && (in->len < before ||
	    s->in_chunk != was_chunk));
	return e;
}

static void answer(struct smtp_server *s, const char *line,
    int client_error);

void
smtp_server_reply(struct smtp_server *s, const char *line)
{
	answer(s, line, 1);
}

void
smtp_server_relay_reply(struct smtp_server *s, const char *line)
{
	answer(s, line, 0);
}

static void
answer(struct smtp_server *s, const char *line, int client_error)
{
	enum smtp_ev was = s->pending;
	char cls = line[0];

	if (s->state == SMTP_CLOSED) {
		s->pending = SMTP_EV_NONE;
		return;
	}
	/* nothing awaits a verdict (one was discarded by STARTTLS): a late
	 * one never reaches the client */
	if (was == SMTP_EV_NONE || was == SMTP_EV_STARTTLS)
		return;
	s->pending = SMTP_EV_NONE;
	if (strncmp(line, "421", 3) == 0) {
		smtp_server_close(s, line, "421 sent");
		return;
	}
	if (was == SMTP_EV_DATA && s->bdat) {
		/* the first chunk: a 354 says take it (and is not sent),
		 * anything else is its answer once it has been read */
		int take = strncmp(line, "354", 3) == 0;

		if (take)
			message_begin(s);
		else
			s->bdat = 0;
		chunk_begin(s, s->chunk_left, s->chunk_last, !take, line, 0);
	} else {
		reply(s, "%s", line);
	}
	switch (was) {
	case SMTP_EV_MAIL:
		if (cls == '2') {
			s->state = SMTP_MAIL;
			s->nrcpt = s->rcpt_tried = s->overshoot = 0;
		}
		break;
	case SMTP_EV_RCPT:
		if (cls == '2')
			s->nrcpt++;
		break;
	case SMTP_EV_DATA:
		if (strncmp(line, "354", 3) == 0 && !s->bdat) {
			s->state = SMTP_DATA;
			s->size = 0;
			s->msg_error = SMTP_MSG_OK;
			s->discard_line = 0;
		}
		break;
	case SMTP_EV_EOM:
		s->state = SMTP_IDLE;
		s->nrcpt = s->rcpt_tried = s->overshoot = 0;
		break;
	default:
		break;
	}
	if (client_error && cls != '2' && cls != '3' && was != SMTP_EV_EOM &&
	    ++s->errors >= s->lim.max_errors) {
		char buf[SMTP_CMD_LINE_MAX];
		snprintf(buf, sizeof(buf), "421 4.7.0 %s Error: too many errors",
		    s->lim.hostname);
		smtp_server_close(s, buf, "too many errors");
	}
}

void
smtp_server_set_msg_error(struct smtp_server *s, enum smtp_msg_error e)
{
	msg_error(s, e);
}

void
smtp_server_tls_started(struct smtp_server *s)
{
	s->tls = 1;
	s->pending = SMTP_EV_NONE;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->nrcpt = s->rcpt_tried = s->overshoot = 0;
	s->discard_line = 0;
	s->bdat = s->in_chunk = 0;
	s->state = SMTP_HELO;
}

const char *
smtp_msg_error_reply(enum smtp_msg_error e)
{
	switch (e) {
	case SMTP_MSG_OK:
		return "250 2.0.0 Ok";
	case SMTP_MSG_TOO_BIG:
		return "552 5.3.4 Error: message file too big";
	case SMTP_MSG_LONG_LINE:
		return "554 5.6.0 Error: message line longer than 998 octets";
	case SMTP_MSG_NUL:
		return "554 5.6.0 Error: NUL character in message";
	case SMTP_MSG_NO_MEMORY:
		return "452 4.3.1 Error: insufficient system resources, "
		    "try again later";
	}
	return "451 4.3.0 Error: local error";
}

void
smtp_server_counts(const struct smtp_server *s, char *buf, size_t size)
{
	static const char *names[V_COUNT] = {
		"ehlo", "helo", "mail", "rcpt", "data", "rset", "noop",
		"vrfy", "quit", "starttls", "help", "bdat", "unknown"
	};
	size_t off = 0;
	unsigned total = 0;
	int i, r;

	buf[0] = '\0';
	for (i = 0; i < V_COUNT; i++) {
		if (s->count[i] == 0)
			continue;
		total += s->count[i];
		r = snprintf(buf + off, size - off, "%s=%u ", names[i],
		    s->count[i]);
		if (r < 0 || (size_t)r >= size - off)
			return;
		off += (size_t)r;
	}
	snprintf(buf + off, size - off, "commands=%u", total);
}
