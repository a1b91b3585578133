/*
 * syslog5424.c — see syslog5424.h.
 */
#include <stdio.h>
#include <string.h>

#include "syslog5424.h"

enum { FAC_KERN = 0, FAC_MAIL = 2, FAC_DAEMON = 3, FAC_AUTH = 4 };
#define SEV_INFO	6

static int
digits(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* Length of an RFC 3339 stamp at p ("YYYY-MM-DDTHH:MM:SS", an optional
 * fraction of 1-9 digits, an optional "Z" or "+HH:MM"/"-HH:MM"), 0 if
 * there is none; *zoned says whether it carries its zone. */
static size_t
stamp_len(const char *p, size_t n, int *zoned)
{
	size_t i = 19, f;

	*zoned = 0;
	if (n < 19 || !digits(p, 4) || p[4] != '-' || !digits(p + 5, 2) ||
	    p[7] != '-' || !digits(p + 8, 2) || p[10] != 'T' ||
	    !digits(p + 11, 2) || p[13] != ':' || !digits(p + 14, 2) ||
	    p[16] != ':' || !digits(p + 17, 2))
		return 0;
	if (i < n && p[i] == '.') {
		for (f = 0; i + 1 + f < n && f < 9 && p[i + 1 + f] >= '0' &&
		    p[i + 1 + f] <= '9'; f++)
			;
		if (f == 0)
			return 0;
		i += 1 + f;
		/* RFC 5424 allows 6 fraction digits at most */
	}
	if (i < n && p[i] == 'Z') {
		*zoned = 1;
		return i + 1;
	}
	if (i + 6 <= n && (p[i] == '+' || p[i] == '-') && digits(p + i + 1, 2) &&
	    p[i + 3] == ':' && digits(p + i + 4, 2)) {
		*zoned = 1;
		return i + 6;
	}
	return i;
}

/* a header field: 1..max printable US-ASCII octets, no space */
static int
field_ok(const char *p, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < 33 || p[i] > 126)
			return 0;
	return 1;
}

static int
facility(const char *source)
{
	if (strcmp(source, "kernel") == 0)
		return FAC_KERN;
	if (strcmp(source, "syslog") == 0)
		return FAC_AUTH;
	if (strcmp(source, "mxgate") == 0)
		return FAC_MAIL;
	return FAC_DAEMON;
}

size_t
syslog5424_frame(const char *line, size_t n, const char *source,
    const char *hostname, char *out, size_t outsz)
{
	char ts[40], host[256], app[49], pid[129], hdr[512];
	const char *msg = line;
	size_t sl, len, mlen = n, hl;
	int zoned, r, w;

	if (n == 0 || outsz == 0)
		return 0;
	snprintf(ts, sizeof(ts), "-");
	snprintf(host, sizeof(host), "%s", field_ok(hostname, strlen(hostname),
	    255) ? hostname : "-");
	snprintf(app, sizeof(app), "%s", field_ok(source, strlen(source), 48) ?
	    source : "-");
	snprintf(pid, sizeof(pid), "-");
	if ((sl = stamp_len(line, n, &zoned)) > 0) {
		/* the stamp, its fraction cut to 6 digits, UTC when unzoned */
		const char *dot = memchr(line, '.', sl);
		size_t keep = sl, frac_end = sl;

		if (dot != NULL) {
			frac_end = (size_t)(dot - line) + 1;
			while (frac_end < sl && line[frac_end] >= '0' &&
			    line[frac_end] <= '9')
				frac_end++;
			keep = (size_t)(dot - line) + 1 + 6;
			if (keep > frac_end)
				keep = frac_end;
		}
		snprintf(ts, sizeof(ts), "%.*s%.*s%s", (int)keep, line,
		    (int)(sl - frac_end), line + frac_end, zoned ? "" : "Z");
		msg = line + sl;
		mlen = n - sl;
		while (mlen > 0 && *msg == ' ') {
			msg++;
			mlen--;
		}
		/* the relay's shape: HOST APP[PID]: TEXT */
		const char *sp = memchr(msg, ' ', mlen);
		if (zoned && sp != NULL) {
			size_t hn = (size_t)(sp - msg);
			const char *a = sp + 1, *end = msg + mlen;
			const char *br = memchr(a, '[', (size_t)(end - a));
			const char *cl = br ? memchr(br, ']', (size_t)(end - br))
			    : NULL;
			if (br != NULL && cl != NULL && cl + 2 < end + 1 &&
			    cl + 1 < end && cl[1] == ':' &&
			    field_ok(msg, hn, 255) &&
			    field_ok(a, (size_t)(br - a), 48) &&
			    field_ok(br + 1, (size_t)(cl - br - 1), 128)) {
				snprintf(host, sizeof(host), "%.*s", (int)hn,
				    msg);
				snprintf(app, sizeof(app), "%.*s",
				    (int)(br - a), a);
				snprintf(pid, sizeof(pid), "%.*s",
				    (int)(cl - br - 1), br + 1);
				msg = cl + 2;
				mlen = (size_t)(end - msg);
				if (mlen > 0 && *msg == ' ') {
					msg++;
					mlen--;
				}
			}
		}
	}
	r = snprintf(hdr, sizeof(hdr), "<%d>1 %s %s %s %s - -%s",
	    facility(source) * 8 + SEV_INFO, ts, host, app, pid,
	    mlen > 0 ? " " : "");
	if (r < 0 || (size_t)r >= sizeof(hdr))
		return 0;
	hl = (size_t)r;
	len = hl + mlen;
	w = snprintf(out, outsz, "%zu ", len);
	if (w < 0 || (size_t)w + len > outsz)
		return 0;
	memcpy(out + w, hdr, hl);
	memcpy(out + w + hl, msg, mlen);
	return (size_t)w + len;
}
