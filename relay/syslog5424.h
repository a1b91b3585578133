/*
 * syslog5424.h — one local log line as one RFC 5424 syslog message in
 * RFC 6587 / RFC 5425 octet-counting framing ("LEN SP MSG"), for the log
 * forwarder (logfwd.c).
 *
 * Local lines come in two shapes: the relay's own
 *   2026-12-05T16:00:00+00:00 HOST mxgate/smtpd[123]: TEXT
 * (its stamp, host, program and pid become TIMESTAMP, HOSTNAME, APP-NAME
 * and PROCID), and anything else a service wrote through s6-log's
 * stamp ("2026-12-05T16:00:00.123456789  TEXT", local time = UTC on the
 * appliance) or none: then HOSTNAME is ours, APP-NAME the service's name
 * and TIMESTAMP the line's stamp, or NILVALUE when it has none. The
 * facility follows the service: kern for "kernel", auth for "syslog",
 * mail for "mxgate", daemon otherwise; severity info. MSGID and
 * STRUCTURED-DATA are NILVALUE; TEXT goes as MSG, byte for byte (the
 * framing counts octets, so any byte but the line's own LF is safe).
 *
 * Pure: no I/O, no allocation. Header fields that are not printable
 * US-ASCII within RFC 5424's lengths fall back to the generic shape.
 */
#ifndef MXGATE_SYSLOG5424_H
#define MXGATE_SYSLOG5424_H

#include <stddef.h>

#define SYSLOG5424_MAX	(2048 + 512)	/* a frame of a longest line */

/* Frames line (n bytes, without its LF) from service `source` of host
 * `hostname` into out; returns the frame's length, or 0 when it does not
 * fit (an empty line gives no frame either). */
size_t syslog5424_frame(const char *line, size_t n, const char *source,
    const char *hostname, char *out, size_t outsz);

#endif
