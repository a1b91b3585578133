/*
 * csv.c — see csv.h. One pass over the bytes; a record's fields are
 * copied (quotes undone) into the caller's scratch buffer.
 */
#include <string.h>

#include "csv.h"

void
csv_init(struct csv *c, const char *buf, size_t len)
{
	c->p = buf;
	c->end = buf + len;
	c->line = 1;
	c->err = NULL;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		c->p += 3;
}

static int
fail(struct csv *c, const char *why)
{
	c->err = why;
	c->p = c->end;
	return -1;
}

int
csv_next(struct csv *c, char *scratch, size_t size, char **field, int max,
    size_t *line)
{
	size_t w = 0;
	int n = 0;

	if (c->err != NULL || c->p >= c->end || size == 0 || max < 1)
		return c->err ? -1 : 0;
	*line = c->line;
	for (;;) {
		int quoted = 0, closed = 0;

		if (n == max)
			return fail(c, "too many fields");
		field[n++] = scratch + w;
		if (c->p < c->end && *c->p == '"') {
			quoted = 1;
			c->p++;
		}
		for (;;) {
			char ch;

			if (c->p >= c->end) {
				if (quoted && !closed)
					return fail(c, "a quoted field is not "
					    "closed");
				break;
			}
			ch = *c->p;
			if (ch == '\0')
				return fail(c, "a NUL byte");
			if (quoted && !closed) {
				if (ch == '"') {
					if (c->p + 1 < c->end &&
					    c->p[1] == '"') {
						c->p++;	/* "" is one quote */
					} else {
						closed = 1;
						c->p++;
						continue;
					}
				} else if (ch == '\n')
					c->line++;
			} else {
				if (ch == ',' || ch == '\n' || (ch == '\r' &&
				    c->p + 1 < c->end && c->p[1] == '\n') ||
				    (ch == '\r' && c->p + 1 == c->end))
					break;
				if (closed)
					return fail(c, "text after a closing "
					    "quote");
				if (ch == '"')
					return fail(c, "a quote inside an "
					    "unquoted field");
			}
			if (w + 1 >= size)
				return fail(c, "record too long");
			scratch[w++] = ch;
			c->p++;
		}
		scratch[w++] = '\0';
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			if (w >= size)
				return fail(c, "record too long");
			continue;
		}
		/* the end of the record: CRLF, LF, a lone CR at the end, EOF */
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p < c->end && *c->p == '\n')
			c->p++;
		c->line++;
		return n;
	}
}
