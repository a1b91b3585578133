/*
 * log.h — one line per event, in the Postfix style the customer's tools
 * (pflogsumm) already read (SPEC 3.7):
 *
 *   2026-11-27T21:31:36+00:00 HOST mxgate/smtpd[PID]: QUEUEID: client=...
 *
 * The time is RFC 3339 with "+00:00" (the SPEC's example writes "+0000",
 * which pflogsumm 1.1.5 does not parse; readable by pflogsumm wins).
 *
 * Lines go to stderr with a single write(2) each, so concurrent
 * processes never interleave inside a line; s6-log stores them. Control
 * characters in the formatted text are replaced with '?'. Passwords and
 * message content are never passed here.
 */
#ifndef MXGATE_LOG_H
#define MXGATE_LOG_H

#define LOG_LINE_MAX	2048

void log_init(const char *hostname);
/* service: "smtpd", "smtp", "qmgr", "gate", "master" ... */
void log_msg(const char *service, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
