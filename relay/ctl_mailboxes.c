/*
 * ctl_mailboxes.c — `mxgatectl mailboxes`: the list of recipients the
 * relay accepts (the `mailboxes` file of the configuration), changed in
 * the configuration's candidate (ctl_config.c), so a change is applied
 * by `mxgatectl config commit` and recorded as a revision.
 *
 *   mailboxes list
 *   mailboxes add ADDR... | remove ADDR...
 *   mailboxes import FILE [--column NAME|N] [--skip-bad]
 *   mailboxes export FILE
 *
 * import reads a directory export as CSV (csv.c): Microsoft 365 /
 * Exchange (PrimarySmtpAddress, ProxyAddresses with smtp:/SMTP:
 * entries separated by ';'), Active Directory (mail, proxyAddresses),
 * Google Workspace (Email Address [Required]), or a plain file of one
 * address per line. The imported addresses replace the list (entries
 * for a whole domain, "@domain", are kept). Every bad row is reported
 * FILE:LINE; nothing changes unless every row is good, or --skip-bad.
 * Addresses are stored lower-cased, as the relay compares them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "csv.h"
#include "ctl.h"
#include "util.h"

#define RECORD_MAX	65536		/* bytes of one CSV record */
#define FIELDS_MAX	512

struct list {
	char	**a;
	size_t	 n, cap;
};

static void
list_add(struct list *l, const char *s)
{
	l->a = xgrow(l->a, &l->cap, l->n + 1, sizeof(*l->a), 256);
	l->a[l->n++] = xstrdup(s);
}

static void
list_free(struct list *l)
{
	while (l->n > 0)
		free(l->a[--l->n]);
	free(l->a);
	l->a = NULL;
	l->cap = 0;
}

/* Sorted, duplicates removed. */
static void
list_uniq(struct list *l)
{
	size_t i, w = 0;

	qsort(l->a, l->n, sizeof(*l->a), str_ptr_cmp);
	for (i = 0; i < l->n; i++) {
		if (w > 0 && strcmp(l->a[w - 1], l->a[i]) == 0) {
			free(l->a[i]);
			continue;
		}
		l->a[w++] = l->a[i];
	}
	l->n = w;
}

static int
list_has(const struct list *l, const char *s)
{
	return bsearch(&s, l->a, l->n, sizeof(*l->a), str_ptr_cmp) != NULL;
}

/* An address as the list stores it (lower case), or NULL with why. */
static const char *
normalize(const char *in, char *out, size_t size, const char **why)
{
	struct smtp_path p;
	char buf[ADDR_PATH_MAX + 8];
	size_t used, n = strlen(in);
	enum addr_status st;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	while (n > 0 && (*in == ' ' || *in == '\t')) {
		in++;
		n--;
	}
	if (n == 0) {
		*why = "no address";
		return NULL;
	}
	if (n > ADDR_PATH_MAX) {
		*why = "longer than 256 bytes";
		return NULL;
	}
	snprintf(buf, sizeof(buf), "<%.*s>", (int)n, in);
	st = addr_parse_path(buf, strlen(buf), ADDR_UTF8, &p, &used);
	if (st != ADDR_OK || used != strlen(buf)) {
		*why = st != ADDR_OK ? addr_status_text(st) : "not an address";
		return NULL;
	}
	str_copy(out, p.addr, size);
	str_lower(out);
	return out;
}

/* The list file: addresses (and "@domain" lines) without comments. */
static int
read_list(const char *path, struct list *l)
{
	FILE *f = fopen(path, "r");
	char line[ADDR_PATH_MAX + 64], *h, *s, *e;

	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((h = strchr(line, '#')) != NULL)
			*h = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && (e[-1] == '\n' ||
		    e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (*s != '\0')
			list_add(l, s);
	}
	fclose(f);
	return 0;
}

static int
write_list(const char *path, const struct list *l, const char *header)
{
	char tmp[4200];
	FILE *f;
	size_t i;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	if (header)
		fprintf(f, "# %s\n", header);
	for (i = 0; i < l->n; i++)
		fprintf(f, "%s\n", l->a[i]);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* --- import ------------------------------------------------------------- */

enum col_kind { COL_NONE, COL_PLAIN, COL_PROXY };

/* Known header names: the plain address columns, then the proxy ones. */
static enum col_kind
header_kind(const char *h)
{
	static const char *plain[] = { "PrimarySmtpAddress", "mail",
	    "Email Address [Required]", "EmailAddress", "Email",
	    "E-mail Address", "WindowsEmailAddress" };
	static const char *proxy[] = { "ProxyAddresses", "EmailAddresses" };
	size_t i;

	for (i = 0; i < ARRAY_LEN(plain); i++)
		if (strcasecmp(h, plain[i]) == 0)
			return COL_PLAIN;
	for (i = 0; i < ARRAY_LEN(proxy); i++)
		if (strcasecmp(h, proxy[i]) == 0)
			return COL_PROXY;
	return COL_NONE;
}

struct import {
	const char	*file;
	struct list	 got;
	int		 bad, rows;
};

static void
bad_row(struct import *im, size_t line, const char *value, const char *why)
{
	im->bad++;
	fprintf(stderr, "%s:%zu: '%.80s': %s\n", im->file, line, value, why);
}

/* One cell: an address, or (proxy) "smtp:a;SMTP:b;X500:..." where only
 * the smtp: entries are addresses. 0, or -1 (reported). */
static int
take_cell(struct import *im, size_t line, const char *cell,
    enum col_kind kind)
{
	char addr[ADDR_PATH_MAX + 1], item[ADDR_PATH_MAX + 16];
	const char *why, *p = cell;
	int found = 0;

	if (kind == COL_PLAIN && strncasecmp(cell, "smtp:", 5) != 0) {
		if (normalize(cell, addr, sizeof(addr), &why) == NULL) {
			bad_row(im, line, cell, why);
			return -1;
		}
		list_add(&im->got, addr);
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ";");
		const char *next = p + n + (p[n] == ';');

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n > 5 && strncasecmp(p, "smtp:", 5) == 0) {
			snprintf(item, sizeof(item), "%.*s", (int)(n - 5) <
			    (int)sizeof(item) - 1 ? (int)(n - 5) :
			    (int)sizeof(item) - 1, p + 5);
			if (normalize(item, addr, sizeof(addr), &why) == NULL) {
				bad_row(im, line, item, why);
				return -1;
			}
			list_add(&im->got, addr);
			found++;
		}
		p = next;
	}
	if (found == 0 && kind == COL_PROXY)
		return 1;		/* no smtp: entry here */
	return 0;
}

static int
import(struct import *im, const char *text, size_t len, const char *column)
{
	static char scratch[RECORD_MAX];
	char *f[FIELDS_MAX];
	enum col_kind kind[FIELDS_MAX];
	struct csv c;
	size_t line;
	int n, i, ncols = 0, any = 0, plain_file = 0, colno = 0;

	csv_init(&c, text, len);
	do	/* blank and comment lines before the first record */
		n = csv_next(&c, scratch, sizeof(scratch), f, FIELDS_MAX,
		    &line);
	while (n == 1 && (f[0][0] == '\0' || f[0][0] == '#'));
	if (n <= 0) {
		fprintf(stderr, "%s: %s\n", im->file, n == 0 ? "empty" :
		    c.err);
		return -1;
	}
	ncols = n;
	if (column != NULL && column[0] >= '1' && column[0] <= '9')
		colno = atoi(column);
	for (i = 0; i < n; i++) {
		kind[i] = COL_NONE;
		if (colno > 0)
			kind[i] = i + 1 == colno ? COL_PLAIN : COL_NONE;
		else if (column != NULL)
			kind[i] = strcasecmp(f[i], column) == 0 ? COL_PLAIN :
			    COL_NONE;
		else
			kind[i] = header_kind(f[i]);
		if (kind[i] != COL_NONE)
			any = 1;
	}
	if (colno > ncols) {
		fprintf(stderr, "%s: there is no column %d (the first record "
		    "has %d)\n", im->file, colno, ncols);
		return -1;
	}
	if (!any && column != NULL) {
		fprintf(stderr, "%s: no column named '%s' in the first "
		    "record\n", im->file, column);
		return -1;
	}
	if (!any) {
		if (n != 1 || strchr(f[0], '@') == NULL) {
			fprintf(stderr, "%s: no address column recognised (use "
			    "--column NAME or N)\n", im->file);
			return -1;
		}
		plain_file = 1;		/* one address per line, no header */
	}
	if (plain_file || colno > 0) {
		/* the first record is data too (a plain list, or columns
		 * chosen by number: a header, if any, is reported as bad
		 * unless it is not an address-like cell) */
		if (plain_file) {
			im->rows++;
			take_cell(im, line, f[0], COL_PLAIN);
		} else if (strchr(f[colno - 1], '@') != NULL) {
			im->rows++;
			take_cell(im, line, f[colno - 1], COL_PLAIN);
		}
	}
	while ((n = csv_next(&c, scratch, sizeof(scratch), f, FIELDS_MAX,
	    &line)) > 0) {
		int took = 0, r;

		if (n == 1 && f[0][0] == '\0')
			continue;			/* an empty line */
		if (plain_file && f[0][0] == '#')
			continue;
		im->rows++;
		if (plain_file) {
			if (n != 1) {
				bad_row(im, line, f[0], "more than one field "
				    "in a one-address-per-line file");
				continue;
			}
			take_cell(im, line, f[0], COL_PLAIN);
			continue;
		}
		if (n != ncols) {
			bad_row(im, line, f[0], "not as many fields as the "
			    "header");
			continue;
		}
		for (i = 0; i < n; i++) {
			if (kind[i] == COL_NONE)
				continue;
			if (kind[i] == COL_PLAIN && f[i][0] == '\0')
				continue;	/* an empty primary cell */
			r = take_cell(im, line, f[i], kind[i]);
			if (r < 0) {
				took = -1;
				break;
			}
			if (r == 0)
				took = 1;
		}
		if (took == 0)
			bad_row(im, line, f[0], "no address in this row");
	}
	if (n < 0) {
		fprintf(stderr, "%s:%zu: %s\n", im->file, c.line, c.err);
		return -1;
	}
	return 0;
}

/* --- the subcommand -------------------------------------------------------- */

const char *
ctl_mailbox_normalize(const char *in, char *out, size_t size,
    const char **why)
{
	return normalize(in, out, size, why);
}

char *
ctl_mailboxes_read_export(const char *file, size_t *count)
{
	struct import im;
	char *text, *out;
	size_t len, i, n = 0;
	int rc;

	memset(&im, 0, sizeof(im));
	im.file = file;
	if ((text = ctl_read_file(file, &len)) == NULL) {
		fprintf(stderr, "%s: %s\n", file, errno == EFBIG ?
		    "larger than 64 MiB" : strerror(errno));
		return NULL;
	}
	rc = import(&im, text, len, NULL);
	free(text);
	if (rc != 0 || im.bad > 0 || im.got.n == 0) {
		if (rc == 0 && im.bad == 0)
			fprintf(stderr, "%s: no address found\n", file);
		list_free(&im.got);
		return NULL;
	}
	list_uniq(&im.got);
	for (i = 0; i < im.got.n; i++)
		n += strlen(im.got.a[i]) + 1;
	out = xcalloc(n + 1, 1);
	for (i = 0, n = 0; i < im.got.n; i++)
		n += (size_t)sprintf(out + n, "%s\n", im.got.a[i]);
	*count = im.got.n;
	list_free(&im.got);
	return out;
}

static int
usage_err(void)
{
	fputs("usage: mxgatectl mailboxes list | add ADDR... | remove ADDR... "
	    "|\n       import FILE [--column NAME|N] [--skip-bad] | export "
	    "FILE\n", stderr);
	return EXIT_PERM;
}

int
ctl_mailboxes(struct ctl *c, int argc, char **argv)
{
	struct config *cf = ctl_config(c);
	const char *sub = argc > 1 ? argv[1] : "list";
	char cand[4200], run[4200], result[160], arg[256];
	struct list cur = { NULL, 0, 0 };
	size_t i;
	int change = strcmp(sub, "list") != 0 && strcmp(sub, "export") != 0;

	if (cf->mailboxes_file[0] == '\0') {
		fprintf(stderr, "mxgatectl: the configuration has no "
		    "`mailboxes` file: every recipient of a route is "
		    "accepted\n");
		return EXIT_PERM;
	}
	if (change)
		ctl_audit_open(c);
	if (ctl_config_file(c, cf->mailboxes_file, change, cand, run,
	    sizeof(cand)) != 0) {
		if (change)
			ctl_audit(c, "mailboxes", sub, "refused");
		return change ? EXIT_TEMP : EXIT_PERM;
	}
	if (strcmp(sub, "list") == 0) {
		if (read_list(cand, &cur) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", cand,
			    strerror(errno));
			return EXIT_TEMP;
		}
		for (i = 0; i < cur.n; i++)
			printf("%s\n", cur.a[i]);
		list_free(&cur);
		return EXIT_OK;
	}
	if (strcmp(sub, "export") == 0) {
		if (argc != 3)
			return usage_err();
		ctl_audit_open(c);
		if (read_list(run, &cur) != 0 ||
		    write_list(argv[2], &cur, "mxgate mailbox list") != 0) {
			fprintf(stderr, "mxgatectl: export to %s: %s\n",
			    argv[2], strerror(errno));
			ctl_audit(c, "mailboxes.export", argv[2], "failed");
			list_free(&cur);
			return EXIT_TEMP;
		}
		snprintf(result, sizeof(result), "ok count=%zu", cur.n);
		ctl_audit(c, "mailboxes.export", argv[2], result);
		printf("%zu entries written to %s\n", cur.n, argv[2]);
		list_free(&cur);
		return EXIT_OK;
	}
	if (read_list(cand, &cur) != 0) {
		fprintf(stderr, "mxgatectl: %s: %s\n", cand, strerror(errno));
		return EXIT_TEMP;
	}
	list_uniq(&cur);
	if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0) {
		struct list next = { NULL, 0, 0 };
		char addr[ADDR_PATH_MAX + 1];
		const char *why;
		int add = strcmp(sub, "add") == 0, changed = 0, k;

		if (argc < 3)
			return usage_err();
		for (k = 2; k < argc; k++)
			if (argv[k][0] != '@' && normalize(argv[k], addr,
			    sizeof(addr), &why) == NULL) {
				fprintf(stderr, "mxgatectl: '%s': %s\n", argv[k],
				    why);
				ctl_audit(c, add ? "mailboxes.add" :
				    "mailboxes.remove", argv[k], "refused");
				list_free(&cur);
				return EXIT_PERM;
			}
		for (i = 0; i < cur.n; i++) {
			int drop = 0;
			for (k = 2; !add && k < argc; k++) {
				const char *a = argv[k][0] == '@' ? argv[k] :
				    normalize(argv[k], addr, sizeof(addr), &why);
				if (a && strcmp(cur.a[i], a) == 0)
					drop = 1;
			}
			if (drop)
				changed++;
			else
				list_add(&next, cur.a[i]);
		}
		for (k = 2; add && k < argc; k++) {
			const char *a = argv[k][0] == '@' ? argv[k] :
			    normalize(argv[k], addr, sizeof(addr), &why);
			if (!list_has(&cur, a)) {
				list_add(&next, a);
				changed++;
			}
		}
		list_uniq(&next);
		snprintf(arg, sizeof(arg), "%s%s", argv[2], argc > 3 ?
		    " ..." : "");
		if (write_list(cand, &next, NULL) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", cand,
			    strerror(errno));
			ctl_audit(c, add ? "mailboxes.add" : "mailboxes.remove",
			    arg, "failed");
			list_free(&cur);
			list_free(&next);
			return EXIT_TEMP;
		}
		snprintf(result, sizeof(result), "ok %s=%d (candidate)",
		    add ? "added" : "removed", changed);
		ctl_audit(c, add ? "mailboxes.add" : "mailboxes.remove", arg,
		    result);
		printf("%d %s in the candidate; apply with mxgatectl config "
		    "commit\n", changed, add ? "added" : "removed");
		list_free(&cur);
		list_free(&next);
		return EXIT_OK;
	}
	if (strcmp(sub, "import") == 0) {
		struct import im;
		const char *column = NULL;
		int skip_bad = 0, k, added = 0, removed = 0;
		struct list next = { NULL, 0, 0 };
		char *text, hdr[512];
		size_t len;

		if (argc < 3)
			return usage_err();
		for (k = 3; k < argc; k++) {
			if (strcmp(argv[k], "--skip-bad") == 0)
				skip_bad = 1;
			else if (strcmp(argv[k], "--column") == 0 &&
			    k + 1 < argc)
				column = argv[++k];
			else
				return usage_err();
		}
		memset(&im, 0, sizeof(im));
		im.file = argv[2];
		if ((text = ctl_read_file(argv[2], &len)) == NULL) {
			fprintf(stderr, "mxgatectl: %s: %s\n", argv[2],
			    errno == EFBIG ? "larger than 64 MiB" :
			    strerror(errno));
			ctl_audit(c, "mailboxes.import", argv[2],
			    "failed: unreadable");
			list_free(&cur);
			return EXIT_PERM;
		}
		k = import(&im, text, len, column);
		free(text);
		if (k != 0 || (im.bad > 0 && !skip_bad) || im.got.n == 0) {
			if (k == 0 && im.got.n == 0 && im.bad == 0)
				fprintf(stderr, "%s: no address found\n",
				    im.file);
			snprintf(result, sizeof(result), "refused: bad=%d "
			    "rows=%d", im.bad, im.rows);
			ctl_audit(c, "mailboxes.import", im.file, result);
			printf("nothing changed: %d bad row(s) of %d%s\n", im.bad,
			    im.rows, im.bad ? " (fix them, or --skip-bad)" : "");
			list_free(&im.got);
			list_free(&cur);
			return EXIT_PERM;
		}
		list_uniq(&im.got);
		for (i = 0; i < cur.n; i++) {
			if (cur.a[i][0] == '@')
				list_add(&next, cur.a[i]);	/* domains stay */
			else if (!list_has(&im.got, cur.a[i]))
				removed++;
		}
		for (i = 0; i < im.got.n; i++) {
			if (!list_has(&cur, im.got.a[i]))
				added++;
			list_add(&next, im.got.a[i]);
		}
		list_uniq(&next);
		snprintf(hdr, sizeof(hdr), "imported from %s", im.file);
		if (write_list(cand, &next, hdr) != 0) {
			fprintf(stderr, "mxgatectl: %s: %s\n", cand,
			    strerror(errno));
			ctl_audit(c, "mailboxes.import", im.file, "failed");
			list_free(&im.got);
			list_free(&cur);
			list_free(&next);
			return EXIT_TEMP;
		}
		snprintf(result, sizeof(result), "ok addresses=%zu added=%d "
		    "removed=%d skipped=%d (candidate)", im.got.n, added,
		    removed, im.bad);
		ctl_audit(c, "mailboxes.import", im.file, result);
		printf("%zu addresses (%d added, %d removed%s) in the candidate; "
		    "apply with mxgatectl config commit\n", im.got.n, added,
		    removed, im.bad ? ", bad rows skipped" : "");
		if (im.bad)
			printf("%d bad row(s) skipped\n", im.bad);
		list_free(&im.got);
		list_free(&cur);
		list_free(&next);
		return EXIT_OK;
	}
	list_free(&cur);
	return usage_err();
}
