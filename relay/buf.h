/*
 * buf.h — a growable byte buffer with a hard capacity limit. Used for
 * session input/output and message content. Appends beyond `max` fail
 * (never truncate); consumed bytes are reclaimed by buf_compact().
 */
#ifndef MXGATE_BUF_H
#define MXGATE_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 off;	/* first unconsumed byte */
	size_t	 len;	/* bytes in use after off */
	size_t	 cap;	/* allocated */
	size_t	 max;	/* hard limit on cap */
};

void   buf_init(struct buf *b, size_t max);
void   buf_free(struct buf *b);
/* 0 ok; -1 when the result would exceed max or memory is short. */
int    buf_append(struct buf *b, const void *p, size_t n);
int    buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Makes room for n more bytes and returns where to write them (then call
 * buf_commit), or NULL. */
char  *buf_space(struct buf *b, size_t n);
void   buf_commit(struct buf *b, size_t n);
void   buf_consume(struct buf *b, size_t n);
void   buf_reset(struct buf *b);
/* The unconsumed bytes. Never NULL: a buffer never allocated gives ""
 * (NULL + 0 is undefined behaviour in C). */
static inline const char *buf_ptr(const struct buf *b)
{
	return b->data != NULL ? b->data + b->off : "";
}

#endif
