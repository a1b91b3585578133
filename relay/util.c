/*
 * util.c — see util.h. Bounded string helpers, clocks, fatal exits.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

size_t
str_copy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void
str_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s += 'a' - 'A';
}

int
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal(EXIT_TEMP, "calloc");
	return p;
}

void *
xgrow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t n = *cap ? *cap : first;

	if (need <= *cap)
		return p;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			fatalx(EXIT_TEMP, "out of memory");
		n *= 2;
	}
	if ((p = realloc(p, n * elem)) == NULL)
		fatal(EXIT_TEMP, "realloc");
	*cap = n;
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal(EXIT_TEMP, "strdup");
	return p;
}

int
account_name_valid(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > 31 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

uint32_t
be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t
utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int
path_beside(const char *dir, const char *name, char *out, size_t size)
{
	char tmp[1024], *slash;
	size_t n = str_copy(tmp, dir, sizeof(tmp));
	int r;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	if ((slash = strrchr(tmp, '/')) == NULL)
		r = snprintf(out, size, "%s", name);
	else {
		*slash = '\0';		/* "/queue" leaves "", the root */
		r = snprintf(out, size, "%s/%s", tmp, name);
	}
	return r < 0 || (size_t)r >= size ? -1 : 0;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char tmp[1024];
	size_t i, n = str_copy(tmp, path, sizeof(tmp));

	if (n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST)
			return -1;
		tmp[i] = i < n ? '/' : '\0';
	}
	return 0;
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void __attribute__((noreturn))
vdie(int code, int with_errno, const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno, n;
	size_t len;

	/* one write(2): the line never interleaves with another process's */
	n = snprintf(line, sizeof(line), "mxgate: ");
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
	if (with_errno)
		len += (size_t)snprintf(line + len, sizeof(line) - len - 1,
		    ": %s", strerror(saved));
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	(void)write_all(2, line, len);
	exit(code);
}

void
fatal(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(code, 1, fmt, ap);
}

void
fatalx(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdie(code, 0, fmt, ap);
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
kv_get(const char *list, char sep, const char *key, char *out, size_t size)
{
	size_t k = strlen(key), n;
	const char *p = list;
	char seps[2] = { sep, '\0' };

	if (size > 0)
		out[0] = '\0';
	while (p != NULL && *p) {
		n = strcspn(p, seps);
		if (n > k && strncmp(p, key, k) == 0 && p[k] == '=') {
			if (n - k - 1 >= size)
				return -1;
			memcpy(out, p + k + 1, n - k - 1);
			out[n - k - 1] = '\0';
			return 0;
		}
		p += n;
		while (*p == sep)
			p++;
	}
	return -1;
}
