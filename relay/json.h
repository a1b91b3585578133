/*
 * json.h — JSON (RFC 8259) as an OpenStack config drive writes it
 * (meta_data.json, network_data.json), parsed into the same tree as the
 * YAML of cloud-init seeds (yaml.h), so one reader serves both. Pure:
 * bytes in, tree or error out.
 *
 * An object is a Y_MAP, an array a Y_SEQ, everything else a Y_STR: a
 * string decoded (escapes, \uXXXX and surrogate pairs to UTF-8), a
 * number, true, false and null kept as written; the reader decides.
 * Refused with the line number: anything RFC 8259 does not allow
 * (comments, trailing commas, single quotes, a control character or an
 * unpaired surrogate in a string, a leading zero), \u0000, a key twice in
 * an object, text after the value, and the limits of yaml.h
 * (YAML_MAX_BYTES, YAML_MAX_NODES, YAML_MAX_DEPTH).
 */
#ifndef MXGATE_JSON_H
#define MXGATE_JSON_H

#include <stddef.h>

#include "yaml.h"

/* 0 and *root (yaml_free it), or -1, *root NULL, "line N: why" in err. */
int json_parse(const char *text, size_t len, struct ynode **root, char *err,
    size_t errlen);

#endif
