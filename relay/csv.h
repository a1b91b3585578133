/*
 * csv.h — a strict reader of comma-separated values (RFC 4180) as the
 * directory exports an admin brings produce them (Microsoft 365 /
 * Exchange, Active Directory, Google Workspace): quoted fields with ""
 * for a quote and embedded commas or line breaks, CRLF or LF line ends,
 * a UTF-8 byte order mark at the start. Pure: no I/O, no allocation.
 *
 * Refused with a reason and the line it starts on: a quote inside an
 * unquoted field, anything but a comma or a line end after a closing
 * quote, a quoted field still open at the end, a NUL byte, a record
 * longer than the caller's scratch buffer or with more fields than it
 * can take.
 */
#ifndef MXGATE_CSV_H
#define MXGATE_CSV_H

#include <stddef.h>

struct csv {
	const char	*p, *end;
	size_t		 line;		/* of the next record, from 1 */
	const char	*err;		/* after csv_next() returned -1 */
};

void csv_init(struct csv *c, const char *buf, size_t len);

/*
 * The next record: its fields, unquoted, NUL-terminated, in scratch
 * (size bytes), pointed to by field[0..n-1] (at most max). Returns n
 * (>= 1), 0 at the end, -1 with c->err (the reader then stops). *line
 * is the line the record starts on. An empty line is a record of one
 * empty field.
 */
int csv_next(struct csv *c, char *scratch, size_t size, char **field,
    int max, size_t *line);

#endif
