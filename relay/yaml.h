/*
 * yaml.h — the subset of YAML that cloud-init seeds are written in
 * (meta-data, user-data "#cloud-config", network-config), parsed into a
 * tree. Pure: bytes in, tree or error out.
 *
 * Taken: block mappings and sequences by indentation (spaces), a sequence
 * item that opens a mapping ("- name: x"), plain, 'single' and "double"
 * quoted scalars, block scalars (| |- |+ > >-), flow sequences and
 * mappings on one line ([a, b], {k: v}), comments, a leading "---".
 * Refused with the line number: tabs in indentation, anchors, aliases,
 * tags, multi-line flow collections, duplicate keys, several documents,
 * and anything beyond the limits below. Nothing is guessed: a scalar
 * stays a string (true, 10 and ~ included); the reader decides.
 */
#ifndef MXGATE_YAML_H
#define MXGATE_YAML_H

#include <stddef.h>

#define YAML_MAX_BYTES	(256 * 1024)
#define YAML_MAX_NODES	8192
#define YAML_MAX_DEPTH	32

enum ytype { Y_STR, Y_SEQ, Y_MAP };

struct ynode {
	enum ytype	 t;
	char		*key;		/* an entry of a mapping: its key */
	char		*str;		/* Y_STR: the scalar */
	struct ynode	*kids;		/* Y_SEQ, Y_MAP: in order */
	struct ynode	*next;
	int		 line;		/* where it starts (1-based) */
};

/* 0 and *root (an empty document is an empty Y_MAP), or -1 with
 * "line N: why" in err. */
int yaml_parse(const char *text, size_t len, struct ynode **root, char *err,
    size_t errlen);
void yaml_free(struct ynode *n);

/* The value of key in a mapping (NULL when n is no mapping or has no
 * such key); yaml_str: that value's string, NULL unless a scalar. */
const struct ynode *yaml_get(const struct ynode *n, const char *key);
const char *yaml_str(const struct ynode *n, const char *key);

#endif
