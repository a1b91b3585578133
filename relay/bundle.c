/*
 * bundle.c — see bundle.h.
 */
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "qcrypt.h"
#include "util.h"

static int
valid(char kind, const char *name, size_t nl, uint32_t mode, size_t len)
{
	return kind != '\0' && strchr("CTKQ", kind) != NULL && nl > 0 &&
	    nl <= BUNDLE_NAME_MAX && memchr(name, '\0', nl) == NULL &&
	    memchr(name, '/', nl) == NULL && name[0] != '.' &&
	    (mode & ~0777u) == 0 && len <= BUNDLE_ENTRY_MAX;
}

static void
put(struct bundle *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		if ((np = malloc(cap)) == NULL)
			fatal(EXIT_TEMP, "bundle: out of memory");
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		bundle_free(b);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
put32(struct bundle *b, uint32_t v)
{
	uint8_t x[4];

	be32_put(x, v);
	put(b, x, 4);
}

int
bundle_add(struct bundle *b, char kind, const char *name, uint32_t mode,
    const void *data, size_t len)
{
	size_t nl = strlen(name);
	uint8_t h[3] = { (uint8_t)kind, (uint8_t)(nl >> 8), (uint8_t)nl };

	if (!valid(kind, name, nl, mode, len))
		return -1;
	put(b, h, 3);
	put(b, name, nl);
	put32(b, mode);
	put32(b, (uint32_t)len);
	if (len > 0)
		put(b, data, len);
	return 0;
}

int
bundle_parse(const uint8_t *p, size_t len, struct bundle_entry *e, int max,
    int *n)
{
	size_t off = 0;

	*n = 0;
	while (off < len) {
		struct bundle_entry *x;
		size_t nl;

		if (*n == max || len - off < 3)
			return -1;
		x = &e[(*n)++];
		x->kind = (char)p[off];
		nl = (size_t)p[off + 1] << 8 | p[off + 2];
		off += 3;
		if (nl == 0 || nl > BUNDLE_NAME_MAX || len - off < nl + 8)
			return -1;
		memcpy(x->name, p + off, nl);
		x->name[nl] = '\0';
		off += nl;
		x->mode = be32_get(p + off);
		x->len = be32_get(p + off + 4);
		off += 8;
		if (x->len > BUNDLE_ENTRY_MAX || len - off < x->len ||
		    !valid(x->kind, (const char *)p + off - 8 - nl, nl,
		    x->mode, x->len))
			return -1;
		x->data = p + off;
		off += x->len;
	}
	return 0;
}

void
bundle_free(struct bundle *b)
{
	if (b->p != NULL)
		qcrypt_wipe(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
