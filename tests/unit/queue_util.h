/*
 * queue_util.h — helpers shared by the queue unit tests: a scratch
 * directory under $MXGATE_OUT/tmp (or /tmp) removed at the end, and file
 * scanning. Header-only; include once per test program.
 */
#ifndef MXGATE_QUEUE_UTIL_H
#define MXGATE_QUEUE_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tq_root[512];

/* Creates the scratch directory; returns its path. */
static __attribute__((unused)) const char *
tq_mkroot(void)
{
	const char *out = getenv("MXGATE_OUT");
	char base[400];

	if (out != NULL && *out) {
		snprintf(base, sizeof(base), "%s/tmp", out);
		mkdir(base, 0755);
	} else
		snprintf(base, sizeof(base), "/tmp");
	snprintf(tq_root, sizeof(tq_root), "%s/qtest-XXXXXX", base);
	if (mkdtemp(tq_root) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	return tq_root;
}

/* Removes a directory tree two levels deep (queue dir + files). */
static __attribute__((unused)) void
tq_rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[1024];
	struct stat st;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			tq_rmtree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

/* 1 if the file at path contains needle (len bytes). */
static __attribute__((unused)) int
tq_file_has(const char *path, const void *needle, size_t len)
{
	FILE *f = fopen(path, "rb");
	static char buf[1 << 20];
	size_t keep = 0, n, i;
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && (n = fread(buf + keep, 1, sizeof(buf) - keep, f)) > 0) {
		n += keep;
		for (i = 0; i + len <= n; i++)
			if (memcmp(buf + i, needle, len) == 0) {
				found = 1;
				break;
			}
		keep = n >= len ? len - 1 : n;
		memmove(buf, buf + n - keep, keep);
	}
	fclose(f);
	return found;
}

/* A deterministic pseudo-random body of len bytes in wire form: CRLF
 * lines of up to 76 characters, seeded by seed. */
static __attribute__((unused)) char *
tq_body(size_t len, unsigned seed)
{
	char *b = malloc(len ? len : 1);
	size_t i, col = 0;
	unsigned x = seed * 2654435761u + 1;

	if (b == NULL)
		exit(2);
	for (i = 0; i < len; i++) {
		if (col == 76 && i + 1 < len) {
			b[i++] = '\r';
			b[i] = '\n';
			col = 0;
			continue;
		}
		x = x * 1103515245u + 12345u;
		b[i] = (char)('A' + (x >> 16) % 26);
		col++;
	}
	return b;
}

#endif
