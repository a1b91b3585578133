/*
 * envelope.c — see envelope.h. Both directions are NUL-terminated
 * strings; a string is read only up to its bound, never past the end of
 * what was received.
 */
#include <string.h>

#include "addr.h"
#include "envelope.h"
#include "util.h"

/* Appends s and its NUL to out at *len; -1 when it does not fit or s is
 * longer than max. */
static int
put_string(char *out, size_t size, size_t *len, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || n + 1 > size - *len)
		return -1;
	memcpy(out + *len, s, n + 1);
	*len += n + 1;
	return 0;
}

/* Next NUL-terminated string of at most max bytes in [*p, end). */
static const char *
get_string(const char **p, const char *end, size_t max)
{
	const char *s = *p, *nul = memchr(s, '\0', (size_t)(end - s));

	if (nul == NULL || (size_t)(nul - s) > max)
		return NULL;
	*p = nul + 1;
	return s;
}

size_t
envelope_encode(char *out, size_t size, const char *from, const char *domain,
    const char *params, const char *const *rcpt, const char *const *rparams,
    int n)
{
	size_t len = 0;
	int i;

	if (n <= 0 || n > QUEUE_RCPT_MAX ||
	    put_string(out, size, &len, from, ADDR_PATH_MAX) != 0 ||
	    put_string(out, size, &len, domain, ADDR_DOMAIN_MAX) != 0 ||
	    put_string(out, size, &len, params ? params : "",
	    QUEUE_MAIL_PARAMS_MAX - 1) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (put_string(out, size, &len, rcpt[i], ADDR_PATH_MAX) != 0 ||
		    put_string(out, size, &len, rparams ? rparams[i] : "",
		    QUEUE_RCPT_PARAMS_MAX - 1) != 0)
			return 0;
	return len;
}


int
envelope_decode(const char *env, size_t len, uint32_t nrcpt,
    struct queue_msg *m)
{
	const char *end = env + len, *s;
	uint32_t i;

	if (nrcpt == 0 || nrcpt > QUEUE_RCPT_MAX)
		return -1;
	if ((s = get_string(&env, end, ADDR_PATH_MAX)) == NULL ||
	    addr_check(s, 1) != ADDR_OK)
		return -1;
	str_copy(m->from, s, sizeof(m->from));
	if ((s = get_string(&env, end, ADDR_DOMAIN_MAX)) == NULL ||
	    !addr_domain_valid(s))
		return -1;
	str_copy(m->route_domain, s, sizeof(m->route_domain));
	if ((s = get_string(&env, end, QUEUE_MAIL_PARAMS_MAX - 1)) == NULL ||
	    !queue_params_valid(s))
		return -1;
	str_copy(m->params, s, sizeof(m->params));
	for (i = 0; i < nrcpt; i++) {
		if ((s = get_string(&env, end, ADDR_PATH_MAX)) == NULL ||
		    addr_check(s, 0) != ADDR_OK ||
		    queue_msg_add_rcpt(m, s) != 0)
			return -1;
		if ((s = get_string(&env, end, QUEUE_RCPT_PARAMS_MAX - 1)) ==
		    NULL || !queue_params_valid(s))
			return -1;
		str_copy(m->rcpt[i].params, s, sizeof(m->rcpt[i].params));
	}
	return env == end ? 0 : -1;
}

static const char state_char[] = {
	[QRCPT_PENDING] = 'P', [QRCPT_SENT] = 'S', [QRCPT_FAILED] = 'F'
};

size_t
report_encode(char *out, size_t size, const struct delivery_report *d,
    const struct queue_msg *m)
{
	size_t len = 0;
	char st[2] = { 0, 0 };
	int i;

	if (put_string(out, size, &len, d->relay, QUEUE_RELAY_MAX - 1) != 0 ||
	    put_string(out, size, &len, d->result, QUEUE_TEXT_MAX - 1) != 0 ||
	    put_string(out, size, &len, d->route_down ? "1" : "0", 1) != 0)
		return 0;
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		if (r->state < 0 || r->state > QRCPT_FAILED)
			return 0;
		st[0] = state_char[r->state];
		if (put_string(out, size, &len, st, 1) != 0 ||
		    put_string(out, size, &len, r->status,
		    QUEUE_STATUS_MAX - 1) != 0 ||
		    put_string(out, size, &len, r->last_error,
		    QUEUE_TEXT_MAX - 1) != 0)
			return 0;
	}
	return len;
}

/* "C.D.D" with C in 2,4,5 and 1-3 digits after each dot, or "". */
static int
status_valid(const char *s)
{
	int parts = 0, digits = 0;

	if (*s == '\0')
		return 1;
	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	for (s += 2; ; s++) {
		if (*s >= '0' && *s <= '9') {
			if (++digits > 3)
				return 0;
		} else if (*s == '.' || *s == '\0') {
			if (digits == 0)
				return 0;
			parts++;
			digits = 0;
			if (*s == '\0')
				break;
		} else
			return 0;
	}
	return parts == 2;
}

int
report_decode(const char *in, size_t len, struct delivery_report *d,
    struct queue_msg *m)
{
	const char *end = in + len, *relay, *result, *down, *st, *status, *text;
	int i;

	if ((relay = get_string(&in, end, QUEUE_RELAY_MAX - 1)) == NULL ||
	    (result = get_string(&in, end, QUEUE_TEXT_MAX - 1)) == NULL ||
	    (down = get_string(&in, end, 1)) == NULL ||
	    (strcmp(down, "0") != 0 && strcmp(down, "1") != 0))
		return -1;
	str_copy(d->relay, relay, sizeof(d->relay));
	str_copy(d->result, result, sizeof(d->result));
	d->route_down = down[0] == '1';
	for (i = 0; i < m->nrcpt; i++) {
		struct queue_rcpt *r = &m->rcpt[i];

		if ((st = get_string(&in, end, 1)) == NULL ||
		    (status = get_string(&in, end, QUEUE_STATUS_MAX - 1))
		    == NULL || !status_valid(status) ||
		    (text = get_string(&in, end, QUEUE_TEXT_MAX - 1)) == NULL)
			return -1;
		if (strcmp(st, "P") == 0)
			r->state = QRCPT_PENDING;
		else if (strcmp(st, "S") == 0)
			r->state = QRCPT_SENT;
		else if (strcmp(st, "F") == 0)
			r->state = QRCPT_FAILED;
		else
			return -1;
		str_copy(r->status, status, sizeof(r->status));
		str_copy(r->last_error, text, sizeof(r->last_error));
	}
	return in == end ? 0 : -1;
}
