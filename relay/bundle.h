/*
 * bundle.h — the plaintext of a configuration export (ctl_backup.c): a
 * sequence of entries
 *
 *   kind(1) be16(name length) name be32(mode) be32(data length) data
 *
 * kinds: 'C' a configuration file (name: its file name), 'T' the TLS
 * certificate, 'K' its key, 'Q' the queue key (name: the file's base
 * name). A name is 1..255 bytes, no NUL, no '/', not starting with '.';
 * a mode is its permission bits (0777 at most); data is at most
 * BUNDLE_ENTRY_MAX bytes; at most BUNDLE_ENTRIES_MAX entries.
 *
 * Owns: that format, one encoder and one decoder. Pure: no I/O; the
 * encoder's buffer grows with realloc (exits 111 when memory runs out,
 * like every start-up allocation of mxgatectl).
 */
#ifndef MXGATE_BUNDLE_H
#define MXGATE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_ENTRY_MAX	(64u << 20)
#define BUNDLE_ENTRIES_MAX	128
#define BUNDLE_NAME_MAX		255

struct bundle {
	uint8_t	*p;
	size_t	 len, cap;
};

struct bundle_entry {
	char		 kind;
	char		 name[BUNDLE_NAME_MAX + 1];
	uint32_t	 mode;
	const uint8_t	*data;		/* inside the parsed buffer */
	size_t		 len;
};

/* Appends one entry; -1 when kind, name, mode or length are not valid
 * (nothing appended). */
int bundle_add(struct bundle *b, char kind, const char *name, uint32_t mode,
    const void *data, size_t len);

/* Splits p (len bytes) into at most max entries (n of them); 0, or -1
 * when it does not parse in full. */
int bundle_parse(const uint8_t *p, size_t len, struct bundle_entry *e,
    int max, int *n);

/* Frees the encoder's buffer (wiped first: it holds keys). */
void bundle_free(struct bundle *b);

#endif
