/*
 * log.c — see log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static char log_host[256] = "localhost";

void
log_init(const char *hostname)
{
	str_copy(log_host, hostname, sizeof(log_host));
}

void
log_msg(const char *service, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	size_t n, i, start;
	int r;

	gmtime_r(&now, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	r = snprintf(line + n, sizeof(line) - n, " %s mxgate/%s[%ld]: ",
	    log_host, service, (long)getpid());
	if (r < 0)
		return;
	n += (size_t)r;
	start = n;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* cut, never overflow */
	for (i = start; i < n; i++)
		if ((unsigned char)line[i] < 32 || (unsigned char)line[i] == 127)
			line[i] = '?';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;	/* nowhere left to report it */
}
