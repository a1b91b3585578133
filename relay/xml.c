/*
 * xml.c — see xml.h. A recursive descent over the bytes, one function
 * per production (misc, element, attribute, reference); the position
 * only moves forward, and the line of an error or an element is counted
 * from the last one known, so the whole parse stays linear.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xml.h"

struct px {
	const char	*p, *end;
	const char	*lpos;		/* line counted up to here */
	int		 line;
	int		 nodes;
	char		*err;
	size_t		 errlen;
	int		 failed;
};

/* a growing string: an attribute value, or a reference checked in text */
struct sbuf {
	char		*s;
	size_t		 n, cap;
};

static int
line_now(struct px *x)
{
	for (; x->lpos < x->p; x->lpos++)
		if (*x->lpos == '\n')
			x->line++;
	return x->line;
}

static int
fail(struct px *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->failed)
		return -1;
	x->failed = 1;
	n = snprintf(x->err, x->errlen, "line %d: ", line_now(x));
	if (n < 0 || (size_t)n >= x->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	b->s = xgrow(b->s, &b->cap, b->n + n + 1, 1, 64);
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
name_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    c == ':' || c >= 0x80;
}

static int
name_char(int c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' ||
	    c == '.';
}

static int
at(const struct px *x, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static int
skip_ws(struct px *x)
{
	const char *from = x->p;

	while (x->p < x->end && is_ws((unsigned char)*x->p))
		x->p++;
	return x->p != from;
}

/* Tab, CR and LF pass; every other byte below 0x20, and DEL, is refused. */
static int
plain_char(struct px *x)
{
	unsigned char c = (unsigned char)*x->p;

	if ((c < 0x20 && !is_ws(c)) || c == 0x7f)
		return fail(x, "control character 0x%02x", c);
	return 0;
}

/* Up to and past end (a comment, a PI, a CDATA section). */
static int
skip_past(struct px *x, const char *end, const char *what)
{
	while (x->p < x->end) {
		if (at(x, end)) {
			x->p += strlen(end);
			return 0;
		}
		if (plain_char(x) != 0)
			return -1;
		x->p++;
	}
	return fail(x, "unterminated %s", what);
}

static int
name(struct px *x, char **out)
{
	const char *from = x->p;
	char *s;

	if (x->p >= x->end || !name_start((unsigned char)*x->p))
		return fail(x, "a name expected");
	while (x->p < x->end && name_char((unsigned char)*x->p))
		x->p++;
	s = xcalloc((size_t)(x->p - from) + 1, 1);
	memcpy(s, from, (size_t)(x->p - from));
	*out = s;
	return 0;
}

static void
utf8_put(struct sbuf *b, uint32_t cp)
{
	char u[4];

	sb_add(b, u, utf8_encode(cp, u));
}

/* At '&': one of the five predefined entities or a character
 * reference, appended to b. */
static int
reference(struct px *x, struct sbuf *b)
{
	static const struct {
		const char *name, *text;
	} pre[] = { { "&lt;", "<" }, { "&gt;", ">" }, { "&amp;", "&" },
	    { "&quot;", "\"" }, { "&apos;", "'" } };
	uint32_t cp = 0;
	size_t i;
	int hex, digits = 0;

	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (at(x, pre[i].name)) {
			x->p += strlen(pre[i].name);
			sb_add(b, pre[i].text, 1);
			return 0;
		}
	if (!at(x, "&#"))
		return fail(x, "an entity other than lt, gt, amp, quot, apos");
	x->p += 2;
	hex = x->p < x->end && *x->p == 'x';
	x->p += hex;
	for (; x->p < x->end && *x->p != ';'; x->p++, digits++) {
		int c = (unsigned char)*x->p, d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return fail(x, "a bad character reference");
		cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		if (cp > 0x10ffff)
			return fail(x, "a character reference beyond "
			    "U+10FFFF");
	}
	if (x->p >= x->end || digits == 0)
		return fail(x, "a bad character reference");
	x->p++;
	if ((cp < 0x20 && cp != 9 && cp != 10 && cp != 13) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return fail(x, "a reference to a character XML does not allow "
		    "(U+%04X)", (unsigned)cp);
	utf8_put(b, cp);
	return 0;
}

/* Whitespace, comments and processing instructions (before and after
 * the root). */
static int
misc(struct px *x)
{
	for (;;) {
		skip_ws(x);
		if (at(x, "<!--")) {
			x->p += 4;
			if (skip_past(x, "-->", "comment") != 0)
				return -1;
		} else if (at(x, "<?")) {
			x->p += 2;
			if (skip_past(x, "?>", "processing instruction") != 0)
				return -1;
		} else if (at(x, "<!")) {
			return fail(x, "a DOCTYPE or declaration is not "
			    "accepted");
		} else
			return 0;
	}
}

static int
attribute(struct px *x, struct xnode *n)
{
	struct sbuf v = { NULL, 0, 0 };
	size_t cap = (size_t)n->nattr;
	char *an = NULL, q;
	int i;

	if (n->nattr >= XML_MAX_ATTRS)
		return fail(x, "more than %d attributes on <%s>", XML_MAX_ATTRS,
		    n->name);
	if (name(x, &an) != 0)
		return -1;
	for (i = 0; i < n->nattr; i++)
		if (strcmp(n->attr[i].name, an) == 0) {
			fail(x, "attribute %s twice on <%s>", an, n->name);
			goto bad;
		}
	skip_ws(x);
	if (x->p >= x->end || *x->p != '=') {
		fail(x, "'=' expected after attribute %s", an);
		goto bad;
	}
	x->p++;
	skip_ws(x);
	if (x->p >= x->end || (*x->p != '"' && *x->p != '\'')) {
		fail(x, "a quoted value expected for attribute %s", an);
		goto bad;
	}
	q = *x->p++;
	sb_add(&v, "", 0);
	while (x->p < x->end && *x->p != q) {
		if (*x->p == '<') {
			fail(x, "'<' in the value of attribute %s", an);
			goto bad;
		}
		if (*x->p == '&') {
			if (reference(x, &v) != 0)
				goto bad;
			continue;
		}
		if (plain_char(x) != 0)
			goto bad;
		/* normalised: a tab, CR or LF is a space */
		sb_add(&v, is_ws((unsigned char)*x->p) ? " " : x->p, 1);
		x->p++;
	}
	if (x->p >= x->end) {
		fail(x, "unterminated value of attribute %s", an);
		goto bad;
	}
	x->p++;
	n->attr = xgrow(n->attr, &cap, (size_t)n->nattr + 1, sizeof(*n->attr),
	    4);
	n->attr[n->nattr].name = an;
	n->attr[n->nattr++].value = v.s;
	return 0;
bad:
	free(an);
	free(v.s);
	return -1;
}

static int element(struct px *x, int depth, struct xnode *n);

/* Character data, comments, CDATA, PIs and child elements, up to the
 * end tag of n. */
static int
content(struct px *x, int depth, struct xnode *n)
{
	struct xnode **tail = &n->kids, *k;
	struct sbuf scratch = { NULL, 0, 0 };
	char *en = NULL;
	int rc = -1;

	for (;;) {
		if (x->p >= x->end) {
			fail(x, "<%s> is not closed", n->name);
			break;
		}
		if (at(x, "</")) {
			x->p += 2;
			if (name(x, &en) != 0)
				break;
			if (strcmp(en, n->name) != 0) {
				fail(x, "</%s> closes <%s>", en, n->name);
				break;
			}
			skip_ws(x);
			if (x->p >= x->end || *x->p != '>') {
				fail(x, "'>' expected after </%s", en);
				break;
			}
			x->p++;
			rc = 0;
			break;
		}
		if (at(x, "<!--")) {
			x->p += 4;
			if (skip_past(x, "-->", "comment") != 0)
				break;
		} else if (at(x, "<![CDATA[")) {
			x->p += 9;
			if (skip_past(x, "]]>", "CDATA section") != 0)
				break;
		} else if (at(x, "<?")) {
			x->p += 2;
			if (skip_past(x, "?>", "processing instruction") != 0)
				break;
		} else if (at(x, "<!")) {
			fail(x, "a declaration inside an element");
			break;
		} else if (*x->p == '<') {
			k = xcalloc(1, sizeof(*k));
			*tail = k;
			tail = &k->next;
			if (element(x, depth + 1, k) != 0)
				break;
		} else if (*x->p == '&') {
			scratch.n = 0;
			if (reference(x, &scratch) != 0)
				break;
		} else {
			if (plain_char(x) != 0)
				break;
			x->p++;
		}
	}
	free(en);
	free(scratch.s);
	return rc;
}

/* At '<' of a start tag: n gets its name, attributes and children. */
static int
element(struct px *x, int depth, struct xnode *n)
{
	int space;

	if (++x->nodes > XML_MAX_NODES)
		return fail(x, "more than %d elements", XML_MAX_NODES);
	if (depth > XML_MAX_DEPTH)
		return fail(x, "elements nested more than %d deep",
		    XML_MAX_DEPTH);
	x->p++;
	n->line = line_now(x);
	if (name(x, &n->name) != 0)
		return -1;
	for (;;) {
		space = skip_ws(x);
		if (x->p >= x->end)
			return fail(x, "unterminated tag <%s", n->name);
		if (at(x, "/>")) {
			x->p += 2;
			return 0;
		}
		if (*x->p == '>') {
			x->p++;
			return content(x, depth, n);
		}
		if (!space)
			return fail(x, "a space expected before an attribute "
			    "of <%s>", n->name);
		if (attribute(x, n) != 0)
			return -1;
	}
}

int
xml_parse(const char *text, size_t len, struct xnode **root, char *err,
    size_t errlen)
{
	struct px x;

	memset(&x, 0, sizeof(x));
	x.p = x.lpos = text;
	x.end = text + len;
	x.line = 1;
	x.err = err;
	x.errlen = errlen;
	*root = NULL;
	if (len > XML_MAX_BYTES)
		return fail(&x, "more than %d bytes", XML_MAX_BYTES);
	if (at(&x, "\xef\xbb\xbf"))		/* a UTF-8 byte order mark */
		x.p += 3;
	if (misc(&x) != 0)
		return -1;
	if (x.p >= x.end || *x.p != '<')
		return fail(&x, "no root element");
	*root = xcalloc(1, sizeof(**root));
	if (element(&x, 1, *root) != 0 || misc(&x) != 0 ||
	    (x.p < x.end && fail(&x, "content after the root element <%s>",
	    (*root)->name) != 0)) {
		xml_free(*root);
		*root = NULL;
		return -1;
	}
	return 0;
}

void
xml_free(struct xnode *n)
{
	struct xnode *next;
	int i;

	for (; n != NULL; n = next) {
		next = n->next;
		xml_free(n->kids);
		for (i = 0; i < n->nattr; i++) {
			free(n->attr[i].name);
			free(n->attr[i].value);
		}
		free(n->attr);
		free(n->name);
		free(n);
	}
}

const char *
xml_local(const char *name)
{
	const char *c = strrchr(name, ':');

	return c != NULL ? c + 1 : name;
}

const char *
xml_attr(const struct xnode *n, const char *local)
{
	int i;

	for (i = 0; i < n->nattr; i++)
		if (strcmp(xml_local(n->attr[i].name), local) == 0)
			return n->attr[i].value;
	return NULL;
}
