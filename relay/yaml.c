/*
 * yaml.c — see yaml.h. Line-oriented: the text is cut into lines with
 * their indentation first, then a recursive descent reads blocks by
 * column. A sequence item's content ("- key: v") is a block whose column
 * is where that content starts, so the same code reads both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml.h"

struct line {
	const char	*s;	/* the whole line, without its newline */
	size_t		 len;
	int		 indent;	/* leading spaces */
	int		 blank;		/* nothing but spaces or a comment */
	int		 spaces;	/* nothing but spaces */
};

struct parser {
	struct line	*l;
	int		 n, pos;	/* lines; the current one */
	int		 col;		/* where the current line's content starts */
	int		 nodes;
	char		*err;
	size_t		 errlen;
	int		 failed;
};

static void
fail(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	p->failed = 1;
	n = snprintf(p->err, p->errlen, "line %d: ", line);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static struct ynode *
node_new(struct parser *p, enum ytype t, int line)
{
	struct ynode *y;

	if (++p->nodes > YAML_MAX_NODES) {
		fail(p, line, "more than %d nodes", YAML_MAX_NODES);
		return NULL;
	}
	if ((y = calloc(1, sizeof(*y))) == NULL) {
		fail(p, line, "out of memory");
		return NULL;
	}
	y->t = t;
	y->line = line;
	return y;
}

static char *
dup_n(struct parser *p, const char *s, size_t n, int line)
{
	char *d = malloc(n + 1);

	if (d == NULL) {
		fail(p, line, "out of memory");
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static struct ynode *
scalar_node(struct parser *p, char *str, int line)
{
	struct ynode *y;

	if (str == NULL)
		return NULL;
	if ((y = node_new(p, Y_STR, line)) == NULL) {
		free(str);
		return NULL;
	}
	y->str = str;
	return y;
}

void
yaml_free(struct ynode *n)
{
	struct ynode *k, *next;

	if (n == NULL)
		return;
	for (k = n->kids; k != NULL; k = next) {
		next = k->next;
		yaml_free(k);
	}
	free(n->key);
	free(n->str);
	free(n);
}

static void
append(struct ynode *parent, struct ynode **tail, struct ynode *kid)
{
	if (*tail == NULL)
		parent->kids = kid;
	else
		(*tail)->next = kid;
	*tail = kid;
}

/* --- scalars ----------------------------------------------------------- */

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A quoted scalar at s[0] (its quote); *used: bytes through the closing
 * quote. The unescaped text, or NULL (failed). */
static char *
quoted(struct parser *p, const char *s, size_t n, size_t *used, int line)
{
	char q = s[0], *out = malloc(n + 1);
	size_t i = 1, o = 0;
	int h1, h2;

	if (out == NULL) {
		fail(p, line, "out of memory");
		return NULL;
	}
	while (i < n) {
		char c = s[i++];
		if (c == q) {
			if (q == '\'' && i < n && s[i] == '\'') {
				out[o++] = '\'';
				i++;
				continue;
			}
			out[o] = '\0';
			*used = i;
			return out;
		}
		if (q == '"' && c == '\\') {
			if (i >= n)
				break;
			switch ((c = s[i++])) {
			case '\\': case '"': case '/': out[o++] = c; break;
			case 'n': out[o++] = '\n'; break;
			case 't': out[o++] = '\t'; break;
			case 'r': out[o++] = '\r'; break;
			case '0': out[o++] = '\0'; break;
			case 'x':
				if (i + 2 > n || (h1 = hexval(s[i])) < 0 ||
				    (h2 = hexval(s[i + 1])) < 0)
					goto bad;
				out[o++] = (char)(h1 << 4 | h2);
				i += 2;
				break;
			default:
				goto bad;
			}
			continue;
		}
		out[o++] = c;
	}
	fail(p, line, "a quoted string does not end on its line");
	free(out);
	return NULL;
bad:
	fail(p, line, "an escape sequence that is not taken (\\\\ \\\" \\/ "
	    "\\n \\t \\r \\0 \\xHH)");
	free(out);
	return NULL;
}

/* s without trailing spaces and without a " #" comment */
static size_t
plain_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '#' && (i == 0 || s[i - 1] == ' '))
			break;
	while (i > 0 && s[i - 1] == ' ')
		i--;
	return i;
}

static int
only_comment(const char *s, size_t n)
{
	while (n > 0 && *s == ' ')
		s++, n--;
	return n == 0 || *s == '#';
}

/* --- flow collections (one line) ------------------------------------------ */

static struct ynode *flow_value(struct parser *p, const char *s, size_t n,
    size_t *i, int line, int depth, const char *stops);

static void
skip_sp(const char *s, size_t n, size_t *i)
{
	while (*i < n && s[*i] == ' ')
		(*i)++;
}

static struct ynode *
flow_collection(struct parser *p, const char *s, size_t n, size_t *i,
    int line, int depth)
{
	char close = s[*i] == '[' ? ']' : '}';
	struct ynode *y, *tail = NULL, *v, *k;
	size_t used;

	if (depth > YAML_MAX_DEPTH) {
		fail(p, line, "nested deeper than %d", YAML_MAX_DEPTH);
		return NULL;
	}
	if ((y = node_new(p, close == ']' ? Y_SEQ : Y_MAP, line)) == NULL)
		return NULL;
	(*i)++;
	for (;;) {
		skip_sp(s, n, i);
		if (*i >= n) {
			fail(p, line, "a flow collection must end on its line");
			break;
		}
		if (s[*i] == close) {
			(*i)++;
			return y;
		}
		if (close == ']') {
			if ((v = flow_value(p, s, n, i, line, depth + 1,
			    ",]")) == NULL)
				break;
			append(y, &tail, v);
		} else {
			char *key;
			if (s[*i] == '"' || s[*i] == '\'') {
				if ((key = quoted(p, s + *i, n - *i, &used,
				    line)) == NULL)
					break;
				*i += used;
			} else {
				size_t st = *i;
				while (*i < n && s[*i] != ':' && s[*i] != ',' &&
				    s[*i] != '}')
					(*i)++;
				if ((key = dup_n(p, s + st, plain_len(s + st,
				    *i - st), line)) == NULL)
					break;
			}
			skip_sp(s, n, i);
			if (*i >= n || s[*i] != ':') {
				fail(p, line, "'%s' in a flow mapping has no "
				    "':'", key);
				free(key);
				break;
			}
			(*i)++;
			for (k = y->kids; k != NULL; k = k->next)
				if (strcmp(k->key, key) == 0)
					break;
			if (k != NULL) {
				fail(p, line, "duplicate key '%s'", key);
				free(key);
				break;
			}
			if ((v = flow_value(p, s, n, i, line, depth + 1,
			    ",}")) == NULL) {
				free(key);
				break;
			}
			v->key = key;
			append(y, &tail, v);
		}
		skip_sp(s, n, i);
		if (*i < n && s[*i] == ',')
			(*i)++;
		else if (*i >= n || s[*i] != close) {
			fail(p, line, "',' or '%c' expected in a flow "
			    "collection", close);
			break;
		}
	}
	yaml_free(y);
	return NULL;
}

static struct ynode *
flow_value(struct parser *p, const char *s, size_t n, size_t *i, int line,
    int depth, const char *stops)
{
	size_t st, used;
	char *str;

	skip_sp(s, n, i);
	if (*i < n && (s[*i] == '[' || s[*i] == '{'))
		return flow_collection(p, s, n, i, line, depth);
	if (*i < n && (s[*i] == '"' || s[*i] == '\'')) {
		if ((str = quoted(p, s + *i, n - *i, &used, line)) == NULL)
			return NULL;
		*i += used;
		return scalar_node(p, str, line);
	}
	if (*i < n && (s[*i] == '&' || s[*i] == '*' || s[*i] == '!')) {
		fail(p, line, "anchors, aliases and tags are not taken");
		return NULL;
	}
	st = *i;
	while (*i < n && strchr(stops, s[*i]) == NULL)
		(*i)++;
	return scalar_node(p, dup_n(p, s + st, plain_len(s + st, *i - st),
	    line), line);
}

/* --- blocks -------------------------------------------------------------- */

static struct ynode *block(struct parser *p, int col, int depth);

/* Is the content at column col of line l a sequence item ("-" alone or
 * followed by a space)? */
static int
dash_at(const struct line *l, int col)
{
	return l->len > (size_t)col && l->s[col] == '-' &&
	    (l->len == (size_t)col + 1 || l->s[col + 1] == ' ');
}


/* Moves to the next line that holds something; 0 at the end, or at a
 * document marker (--- or ..., which yaml_parse reports). */
static int
next_content(struct parser *p)
{
	const struct line *l;

	while (p->pos < p->n && p->l[p->pos].blank)
		p->pos++;
	if (p->pos >= p->n)
		return 0;
	l = &p->l[p->pos];
	p->col = l->indent;
	return !(l->len >= 3 && (strncmp(l->s, "---", 3) == 0 ||
	    strncmp(l->s, "...", 3) == 0) && (l->len == 3 || l->s[3] == ' '));
}

/* A block scalar after its indicator (| or >, then - or +): the lines
 * below the current one that are blank or indented more than col; its
 * indentation is that of its first non-blank line. */
static struct ynode *
block_scalar(struct parser *p, const char *ind, size_t indn, int col)
{
	int line = p->pos + 1, bind = -1, folded = ind[0] == '>', i, end;
	int joined = 0;
	size_t hdr = 1, o = 0, cap = 1;
	char chomp = 'c', *out;

	if (indn > 1 && (ind[1] == '-' || ind[1] == '+')) {
		chomp = ind[1];
		hdr = 2;
	}
	if (!only_comment(ind + hdr, indn - hdr) || (hdr < indn &&
	    ind[hdr] != ' ' && ind[hdr] != '#')) {
		fail(p, line, "a block scalar's header is | or > with an "
		    "optional - or +");
		return NULL;
	}
	for (end = p->pos + 1; end < p->n; end++) {
		const struct line *l = &p->l[end];
		if (l->spaces)
			continue;
		if (bind < 0)
			bind = l->indent;
		if (l->indent < bind || bind <= col)
			break;
	}
	if (bind <= col)	/* nothing indented below: empty */
		end = p->pos + 1;
	for (i = p->pos + 1; i < end; i++)
		cap += p->l[i].len + 1;
	if ((out = malloc(cap)) == NULL) {
		fail(p, line, "out of memory");
		return NULL;
	}
	for (i = p->pos + 1; i < end; i++) {
		const struct line *l = &p->l[i];
		size_t k;

		if (l->spaces) {
			/* folded: the break before a blank line is dropped,
			 * the blank line is the newline */
			if (!(folded && joined))
				out[o++] = '\n';
			joined = 0;
			continue;
		}
		if (folded && joined)
			out[o - 1] = ' ';	/* folded into the line before */
		k = l->len - (size_t)bind;
		memcpy(out + o, l->s + bind, k);
		o += k;
		out[o++] = '\n';
		joined = 1;
	}
	if (chomp == '-')
		while (o > 0 && out[o - 1] == '\n')
			o--;
	else if (chomp == 'c')
		while (o > 1 && out[o - 1] == '\n' && out[o - 2] == '\n')
			o--;
	out[o] = '\0';
	p->pos = end;
	return scalar_node(p, out, line);
}

/* The value after "key:" or "- " on the current line: s (n bytes, the
 * rest of the line). It may open a block below (col: the column of the
 * key or dash). Leaves p->pos on the next unread line. */
static struct ynode *
value(struct parser *p, const char *s, size_t n, int col, int depth)
{
	int line = p->pos + 1;
	size_t i = 0, used;
	struct ynode *y;
	char *str;

	while (i < n && s[i] == ' ')
		i++;
	s += i;
	n -= i;
	if (only_comment(s, n)) {
		/* nothing here: a block below, more indented (or a
		 * sequence at the key's own column), else an empty value */
		p->pos++;
		if (next_content(p) && (p->l[p->pos].indent > col ||
		    (p->l[p->pos].indent == col && dash_at(&p->l[p->pos],
		    col))))
			return block(p, p->l[p->pos].indent, depth + 1);
		return scalar_node(p, dup_n(p, "", 0, line), line);
	}
	if (s[0] == '|' || s[0] == '>')
		return block_scalar(p, s, n, col);
	if (s[0] == '&' || s[0] == '*' || s[0] == '!') {
		fail(p, line, "anchors, aliases and tags are not taken");
		return NULL;
	}
	if (s[0] == '[' || s[0] == '{') {
		i = 0;
		if ((y = flow_collection(p, s, n, &i, line, depth)) != NULL &&
		    !only_comment(s + i, n - i)) {
			fail(p, line, "text after a flow collection");
			yaml_free(y);
			y = NULL;
		}
		p->pos++;
		return y;
	}
	if (s[0] == '"' || s[0] == '\'') {
		if ((str = quoted(p, s, n, &used, line)) == NULL)
			return NULL;
		if (!only_comment(s + used, n - used)) {
			fail(p, line, "text after a quoted string");
			free(str);
			return NULL;
		}
		p->pos++;
		return scalar_node(p, str, line);
	}
	p->pos++;
	return scalar_node(p, dup_n(p, s, plain_len(s, n), line), line);
}

/* Where "key:" ends in s (the index of the ':'), or -1: not a key. */
static long
key_end(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
		char q = s[0];
		for (i = 1; i < n; i++) {
			if (q == '"' && s[i] == '\\') {
				i++;
				continue;
			}
			if (s[i] == q) {
				if (q == '\'' && i + 1 < n && s[i + 1] == '\'') {
					i++;
					continue;
				}
				break;
			}
		}
		if (i >= n)
			return -1;
		for (i++; i < n && s[i] == ' '; i++)
			;
		return i < n && s[i] == ':' && (i + 1 == n ||
		    s[i + 1] == ' ') ? (long)i : -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '#' && i > 0 && s[i - 1] == ' ')
			return -1;
		if (s[i] == ':' && (i + 1 == n || s[i + 1] == ' '))
			return (long)i;
	}
	return -1;
}

enum next { NEXT_END, NEXT_ITEM, NEXT_OTHER };

/* After an entry of the block at column col: moves to the next line
 * with content and says whether the block goes on there, with an item
 * or another entry; NEXT_END at the end, at a line less indented, or at
 * one indented more (an error, what: what it is more indented than). */
static enum next
next_in_block(struct parser *p, int col, const char *what)
{
	if (p->failed || !next_content(p) || p->l[p->pos].indent < col)
		return NEXT_END;
	if (p->l[p->pos].indent > col) {
		fail(p, p->pos + 1, "indented more than %s", what);
		return NEXT_END;
	}
	return dash_at(&p->l[p->pos], col) ? NEXT_ITEM : NEXT_OTHER;
}

static struct ynode *
mapping(struct parser *p, int col, int depth)
{
	struct ynode *y, *tail = NULL, *v, *k;
	int line = p->pos + 1;

	if ((y = node_new(p, Y_MAP, line)) == NULL)
		return NULL;
	for (;;) {
		const struct line *l = &p->l[p->pos];
		const char *s = l->s + p->col;
		size_t n = l->len - (size_t)p->col, used;
		long ke = key_end(s, n);
		char *key;

		line = p->pos + 1;
		if (ke < 0) {
			fail(p, line, "'key: value' expected");
			break;
		}
		if (s[0] == '"' || s[0] == '\'')
			key = quoted(p, s, n, &used, line);
		else
			key = dup_n(p, s, plain_len(s, (size_t)ke), line);
		if (key == NULL)
			break;
		for (k = y->kids; k != NULL; k = k->next)
			if (strcmp(k->key, key) == 0)
				break;
		if (k != NULL) {
			fail(p, line, "duplicate key '%s'", key);
			free(key);
			break;
		}
		if ((v = value(p, s + ke + 1, n - (size_t)ke - 1, col,
		    depth)) == NULL) {
			free(key);
			break;
		}
		v->key = key;
		append(y, &tail, v);
		/* the next key, unless the parent's next item or less */
		if (next_in_block(p, col, "the key above it (a plain value "
		    "goes on one line: quote it or use |)") != NEXT_OTHER)
			break;
	}
	if (p->failed) {
		yaml_free(y);
		return NULL;
	}
	return y;
}

static struct ynode *
sequence(struct parser *p, int col, int depth)
{
	struct ynode *y, *tail = NULL, *v;
	int line = p->pos + 1;

	if ((y = node_new(p, Y_SEQ, line)) == NULL)
		return NULL;
	for (;;) {
		const struct line *l = &p->l[p->pos];
		const char *s = l->s + p->col + 1;	/* after the '-' */
		size_t n = l->len - (size_t)p->col - 1, i = 0;

		while (i < n && s[i] == ' ')
			i++;
		if (i < n && !only_comment(s + i, n - i) && s[i] != '[' &&
		    s[i] != '{' && s[i] != '|' && s[i] != '>' &&
		    (key_end(s + i, n - i) >= 0 || (s[i] == '-' &&
		    (i + 1 == n || s[i + 1] == ' ')))) {
			/* "- key: v" or "- - x": a block at this column */
			p->col += 1 + (int)i;
			v = block(p, p->col, depth + 1);
		} else
			v = value(p, s, n, p->col, depth);
		if (v == NULL)
			break;
		append(y, &tail, v);
		/* the next item, unless the parent mapping's next key */
		if (next_in_block(p, col, "the item above") != NEXT_ITEM)
			break;
	}
	if (p->failed) {
		yaml_free(y);
		return NULL;
	}
	return y;
}

/* The block whose first content is at column col of the current line. */
static struct ynode *
block(struct parser *p, int col, int depth)
{
	const struct line *l = &p->l[p->pos];
	const char *s = l->s + col;
	size_t n = l->len - (size_t)col;

	if (depth > YAML_MAX_DEPTH) {
		fail(p, p->pos + 1, "nested deeper than %d", YAML_MAX_DEPTH);
		return NULL;
	}
	p->col = col;
	if (dash_at(l, col))
		return sequence(p, col, depth);
	if (key_end(s, n) >= 0)
		return mapping(p, col, depth);
	return value(p, s, n, col, depth);
}

/* --- the document ---------------------------------------------------------- */

static int
split_lines(struct parser *p, const char *text, size_t len)
{
	size_t i, start = 0;
	int n = 0;

	for (i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	if ((p->l = calloc((size_t)n + 2, sizeof(*p->l))) == NULL)
		return -1;
	for (i = 0; i <= len; i++) {
		struct line *l;
		size_t k;

		if (i < len && text[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		l = &p->l[p->n++];
		l->s = text + start;
		l->len = i - start;
		if (l->len > 0 && l->s[l->len - 1] == '\r')
			l->len--;
		for (k = 0; k < l->len && l->s[k] == ' '; k++)
			;
		l->indent = (int)k;
		l->spaces = k == l->len;
		l->blank = l->spaces || l->s[k] == '#';
		if (!l->blank && k < l->len && l->s[k] == '\t') {
			fail(p, p->n, "a tab in the indentation (spaces only)");
			return -1;
		}
		start = i + 1;
	}
	return 0;
}

/* After the document: nothing, or "..." and nothing. */
static void
document_end(struct parser *p)
{
	if (next_content(p)) {
		fail(p, p->pos + 1, "text after the document's end (wrong "
		    "indentation?)");
		return;
	}
	if (p->pos < p->n && strncmp(p->l[p->pos].s, "...", 3) == 0) {
		p->pos++;
		(void)next_content(p);
	}
	if (p->pos < p->n)
		fail(p, p->pos + 1, "a second document (one per file)");
}

int
yaml_parse(const char *text, size_t len, struct ynode **root, char *err,
    size_t errlen)
{
	struct parser p;
	struct ynode *y = NULL;

	memset(&p, 0, sizeof(p));
	p.err = err;
	p.errlen = errlen;
	*root = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (len > YAML_MAX_BYTES) {
		fail(&p, 1, "longer than %d bytes", YAML_MAX_BYTES);
		return -1;
	}
	if (memchr(text, '\0', len) != NULL) {
		fail(&p, 1, "a NUL byte");
		return -1;
	}
	if (split_lines(&p, text, len) != 0) {
		if (!p.failed)
			fail(&p, 1, "out of memory");
		free(p.l);
		return -1;
	}
	/* a leading "---" opens the one document */
	if (!next_content(&p) && p.pos < p.n &&
	    strncmp(p.l[p.pos].s, "---", 3) == 0) {
		p.pos++;
		(void)next_content(&p);
	}
	if (p.pos >= p.n)
		y = node_new(&p, Y_MAP, 1);
	else if (!next_content(&p))
		fail(&p, p.pos + 1, "a document marker where the document "
		    "should be");
	else if (p.l[p.pos].indent != 0)
		fail(&p, p.pos + 1, "the document starts indented");
	else if ((y = block(&p, 0, 0)) != NULL && !p.failed)
		document_end(&p);
	if (p.failed) {
		yaml_free(y);
		y = NULL;
	}
	free(p.l);
	if (p.failed) {
		yaml_free(y);
		return -1;
	}
	*root = y;
	return y != NULL ? 0 : -1;
}

const struct ynode *
yaml_get(const struct ynode *n, const char *key)
{
	const struct ynode *k;

	if (n == NULL || n->t != Y_MAP)
		return NULL;
	for (k = n->kids; k != NULL; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

const char *
yaml_str(const struct ynode *n, const char *key)
{
	const struct ynode *v = yaml_get(n, key);

	return v != NULL && v->t == Y_STR ? v->str : NULL;
}
