/*
 * ydump.h — the trees of yaml.h (from yaml.c and json.c) in one canonical
 * line for the unit tests to compare: {k:v,...}, [a,...], strings in
 * quotes with \n for newlines; ytree_parses() makes one test point of a
 * document and the line it must dump as. Header-only, test code only.
 */
#ifndef MXGATE_YDUMP_H
#define MXGATE_YDUMP_H

#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "yaml.h"

static size_t
dump(const struct ynode *n, char *out, size_t size, size_t o)
{
	const struct ynode *k;
	const char *s;

	if (o + 8 >= size)
		return o;
	if (n->t == Y_STR) {
		out[o++] = '"';
		for (s = n->str; *s != '\0' && o + 4 < size; s++) {
			if (*s == '\n') {
				out[o++] = '\\';
				out[o++] = 'n';
			} else
				out[o++] = *s;
		}
		out[o++] = '"';
		out[o] = '\0';
		return o;
	}
	out[o++] = n->t == Y_MAP ? '{' : '[';
	for (k = n->kids; k != NULL; k = k->next) {
		if (k != n->kids)
			out[o++] = ',';
		if (n->t == Y_MAP)
			o += (size_t)snprintf(out + o, size - o, "%s:", k->key);
		o = dump(k, out, size, o);
		if (o + 8 >= size)
			return o;
	}
	out[o++] = n->t == Y_MAP ? '}' : ']';
	out[o] = '\0';
	return o;
}

/* One test point: text parses (with yaml_parse or json_parse) and dumps
 * as want. */
static void __attribute__((unused))
ytree_parses(int (*parse)(const char *, size_t, struct ynode **, char *,
    size_t), const char *text, const char *want, const char *name)
{
	struct ynode *root;
	char err[256], got[4096] = "";

	if (parse(text, strlen(text), &root, err, sizeof(err)) != 0) {
		ok(0, "%s: parses (%s)", name, err);
		return;
	}
	dump(root, got, sizeof(got), 0);
	is_str(got, want, "%s", name);
	yaml_free(root);
}

#endif
