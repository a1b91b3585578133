/*
 * json.c — see json.h. A recursive descent, one function per value
 * kind; the position only moves forward and the line of an error is
 * counted from the last one known.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

struct pj {
	const char	*p, *end, *lpos;
	int		 line, nodes, failed;
	char		*err;
	size_t		 errlen;
};

static int
line_now(struct pj *j)
{
	for (; j->lpos < j->p; j->lpos++)
		if (*j->lpos == '\n')
			j->line++;
	return j->line;
}

static int
fail(struct pj *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->failed)
		return -1;
	j->failed = 1;
	n = snprintf(j->err, j->errlen, "line %d: ", line_now(j));
	if (n < 0 || (size_t)n >= j->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(j->err + n, j->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void
skip_ws(struct pj *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
	    *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static struct ynode *
node(struct pj *j, enum ytype t)
{
	struct ynode *n;

	if (++j->nodes > YAML_MAX_NODES) {
		fail(j, "more than %d values", YAML_MAX_NODES);
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->t = t;
	n->line = line_now(j);
	return n;
}

static void
put(char **s, size_t *n, size_t *cap, const char *b, size_t len)
{
	*s = xgrow(*s, cap, *n + len + 1, 1, 32);
	memcpy(*s + *n, b, len);
	*n += len;
	(*s)[*n] = '\0';
}

static int
hex4(struct pj *j, uint32_t *v)
{
	int i, c;

	*v = 0;
	if (j->end - j->p < 4)
		return fail(j, "a short \\u escape");
	for (i = 0; i < 4; i++) {
		c = (unsigned char)*j->p++;
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return fail(j, "a bad \\u escape");
	}
	return 0;
}

static void
put_utf8(char **s, size_t *n, size_t *cap, uint32_t cp)
{
	char u[4];

	put(s, n, cap, u, utf8_encode(cp, u));
}

/* At '"': the decoded string into *out. */
static int
string(struct pj *j, char **out)
{
	char *s = NULL, one;
	size_t n = 0, cap = 0;
	uint32_t cp, lo;
	int c;

	j->p++;
	put(&s, &n, &cap, "", 0);
	for (;;) {
		if (j->p >= j->end) {
			free(s);
			return fail(j, "an unterminated string");
		}
		c = (unsigned char)*j->p;
		if (c == '"') {
			j->p++;
			*out = s;
			return 0;
		}
		if (c < 0x20) {
			free(s);
			return fail(j, "control character 0x%02x in a string", c);
		}
		if (c != '\\') {
			put(&s, &n, &cap, j->p++, 1);
			continue;
		}
		if (++j->p >= j->end)
			continue;	/* unterminated: said above */
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"': case '\\': case '/':
			one = (char)c;
			put(&s, &n, &cap, &one, 1);
			break;
		case 'b': put(&s, &n, &cap, "\b", 1); break;
		case 'f': put(&s, &n, &cap, "\f", 1); break;
		case 'n': put(&s, &n, &cap, "\n", 1); break;
		case 'r': put(&s, &n, &cap, "\r", 1); break;
		case 't': put(&s, &n, &cap, "\t", 1); break;
		case 'u':
			if (hex4(j, &cp) != 0)
				goto bad;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(j, "an unpaired surrogate");
				goto bad;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->end - j->p < 2 || j->p[0] != '\\' ||
				    j->p[1] != 'u') {
					fail(j, "an unpaired surrogate");
					goto bad;
				}
				j->p += 2;
				if (hex4(j, &lo) != 0)
					goto bad;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(j, "an unpaired surrogate");
					goto bad;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			if (cp == 0) {
				fail(j, "\\u0000 in a string");
				goto bad;
			}
			put_utf8(&s, &n, &cap, cp);
			break;
		default:
			fail(j, "a bad escape \\%c", c);
			goto bad;
		}
	}
bad:
	free(s);
	return -1;
}

/* A number as RFC 8259 writes it, kept as its text. */
static int
number(struct pj *j, char **out)
{
	const char *from = j->p;
	int digits;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else {
		for (digits = 0; j->p < j->end && *j->p >= '0' &&
		    *j->p <= '9'; j->p++)
			digits++;
		if (digits == 0)
			return fail(j, "a value expected");
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		for (digits = 0; j->p < j->end && *j->p >= '0' &&
		    *j->p <= '9'; j->p++)
			digits++;
		if (digits == 0)
			return fail(j, "digits expected after '.'");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		for (digits = 0; j->p < j->end && *j->p >= '0' &&
		    *j->p <= '9'; j->p++)
			digits++;
		if (digits == 0)
			return fail(j, "digits expected in an exponent");
	}
	if (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		return fail(j, "a leading zero");
	*out = xcalloc((size_t)(j->p - from) + 1, 1);
	memcpy(*out, from, (size_t)(j->p - from));
	return 0;
}

static int value(struct pj *j, int depth, struct ynode **out);

/* At '{' or '[': the members or elements, in order. */
static int
collection(struct pj *j, int depth, struct ynode *n)
{
	char close = n->t == Y_MAP ? '}' : ']';
	struct ynode **tail = &n->kids, *k, *o;
	char *key = NULL;
	int rc;

	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;;) {
		skip_ws(j);
		if (n->t == Y_MAP) {
			if (j->p >= j->end || *j->p != '"')
				return fail(j, "a key (a string) expected");
			if (string(j, &key) != 0)
				return -1;
			for (o = n->kids; o != NULL; o = o->next)
				if (strcmp(o->key, key) == 0) {
					fail(j, "key \"%s\" twice", key);
					free(key);
					return -1;
				}
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':') {
				free(key);
				return fail(j, "':' expected after a key");
			}
			j->p++;
		}
		rc = value(j, depth + 1, &k);
		if (k != NULL) {	/* in the tree, so freed with it */
			k->key = key;
			key = NULL;
			*tail = k;
			tail = &k->next;
		}
		free(key);
		key = NULL;
		if (rc != 0)
			return -1;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			skip_ws(j);
			if (j->p < j->end && *j->p == close)
				return fail(j, "a trailing comma");
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return fail(j, "',' or '%c' expected", close);
	}
}

static int
value(struct pj *j, int depth, struct ynode **out)
{
	static const char *const lit[] = { "true", "false", "null" };
	struct ynode *n;
	size_t i, len;

	*out = NULL;
	if (depth > YAML_MAX_DEPTH)
		return fail(j, "nested deeper than %d", YAML_MAX_DEPTH);
	skip_ws(j);
	if (j->p >= j->end)
		return fail(j, "a value expected");
	if (*j->p == '{' || *j->p == '[') {
		if ((n = node(j, *j->p == '{' ? Y_MAP : Y_SEQ)) == NULL)
			return -1;
		*out = n;
		return collection(j, depth, n);
	}
	if ((n = node(j, Y_STR)) == NULL)
		return -1;
	*out = n;
	if (*j->p == '"')
		return string(j, &n->str);
	for (i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		len = strlen(lit[i]);
		if ((size_t)(j->end - j->p) >= len &&
		    memcmp(j->p, lit[i], len) == 0) {
			j->p += len;
			n->str = xstrdup(lit[i]);
			return 0;
		}
	}
	return number(j, &n->str);
}

int
json_parse(const char *text, size_t len, struct ynode **root, char *err,
    size_t errlen)
{
	struct pj j;

	memset(&j, 0, sizeof(j));
	j.p = j.lpos = text;
	j.end = text + len;
	j.line = 1;
	j.err = err;
	j.errlen = errlen;
	*root = NULL;
	if (len > YAML_MAX_BYTES)
		return fail(&j, "more than %d bytes", YAML_MAX_BYTES);
	if (value(&j, 1, root) != 0 || (skip_ws(&j), j.p < j.end &&
	    fail(&j, "text after the value") != 0)) {
		yaml_free(*root);
		*root = NULL;
		return -1;
	}
	return 0;
}
