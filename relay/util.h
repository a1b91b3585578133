/*
 * util.h — small helpers shared by every mxgate file: bounded string
 * copies, checked allocation for start-up paths, monotonic and wall time,
 * fatal exits with the documented exit codes.
 *
 * Nothing here parses input from the network or touches mail.
 */
#ifndef MXGATE_UTIL_H
#define MXGATE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define EXIT_OK    0	/* success */
#define EXIT_PERM  100	/* permanent failure or usage error */
#define EXIT_TEMP  111	/* temporary failure */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Copies at most size-1 bytes and terminates; returns strlen(src) so the
 * caller can detect truncation (result >= size). */
size_t str_copy(char *dst, const char *src, size_t size);

/* Lower-cases ASCII letters in place. */
void str_lower(char *s);

/* Parses a decimal unsigned integer in [min, max]; 0 on success. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Start-up allocation: exits 111 when memory is exhausted. Never used on
 * a per-session path (those check and answer 4xx instead). */
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
/* p (an array of elem-byte elements, room for *cap) made to hold at
 * least need: doubled from first (at least); exits 111 when memory is
 * exhausted. For the admin tool's growing lists, never a session's. */
void *xgrow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

/* A console account's name: a lower-case letter or _, then lower-case
 * letters, digits, _ or -, at most 31 (mxgatectl user, cloud-init
 * seeds). */
int account_name_valid(const char *s);

/* Big-endian 32-bit integers in byte strings (the queue's records, log
 * archives, config bundles and exports all store them so). */
uint32_t be32_get(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
/* The code point cp (at most U+10FFFF) as UTF-8 into out: its length. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* "NAME beside DIR": the directory containing dir, then name, e.g.
 * ("/data/queue/", "queue.key") -> "/data/queue.key", ("/queue",
 * "gate.table") -> "/gate.table", ("queue", "x") -> "x". The queue's key,
 * the audit log, the default certificate and the gate table all live
 * beside the queue. 0, or -1 when out is too small or dir is empty. */
int path_beside(const char *dir, const char *name, char *out, size_t size);

/* mkdir -p path, each created directory with mode; 0, or -1 with errno
 * (ENAMETOOLONG for a path of 1024 bytes or more). */
int mkdir_p(const char *path, unsigned mode);

/* Writes all n bytes (retrying short writes and EINTR); 0 or -1. */
int write_all(int fd, const void *p, size_t n);

/* strcmp of two char * for qsort()/bsearch() over arrays of strings. */
int str_ptr_cmp(const void *a, const void *b);

/* The value of "KEY=value" in a list of such items separated by sep
 * (' ' for SMTP parameters, '\n' for text lines), copied into out: 0, or
 * -1 when absent or longer than out (out is then ""). list may be NULL. */
int kv_get(const char *list, char sep, const char *key, char *out,
    size_t size);

int64_t mono_ms(void);		/* monotonic clock, milliseconds */
int64_t wall_us(void);		/* wall clock, microseconds since the epoch */

/* Print "mxgate: message" to stderr and exit(code). fatal() appends
 * strerror(errno); fatalx() does not. */
void fatal(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void fatalx(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
