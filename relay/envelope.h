/*
 * envelope.h — the two formats that carry a message between roles in a
 * memfd, with one encoder and one decoder each (and no other code that
 * knows them):
 *
 *  the envelope   worker -> queue owner (IPC_QUEUE_PUT) and queue owner
 *                 -> runner (IPC_DELIVER): NUL-terminated strings —
 *                 sender ("" for <>), route domain, the sender's DSN
 *                 parameters ("" for none), then per recipient (nrcpt)
 *                 its address and its DSN parameters — followed in the
 *                 memfd by the message in wire form;
 *  the report     runner -> queue owner (IPC_DELIVERED), written after
 *                 the message: NUL-terminated strings — relay
 *                 ("host[ip]:port" or ""), result (the reply or local
 *                 reason of the attempt), route-down flag ("0"/"1"), then
 *                 per recipient of the envelope, in order, its state
 *                 ("P" pending, "S" sent, "F" failed), enhanced status and
 *                 reply text.
 *
 * Decoders trust nothing: every string is length-checked, every address
 * validated again (addr.c), every state and status checked, and the
 * count must match exactly. Pure: no I/O.
 */
#ifndef MXGATE_ENVELOPE_H
#define MXGATE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* Largest envelope: sender, domain, parameters and QUEUE_RCPT_MAX
 * recipients with theirs. */
#define ENVELOPE_MAX \
	((size_t)(QUEUE_RCPT_MAX + 1) * (ADDR_PATH_MAX + 1) + ADDR_DOMAIN_MAX + \
	1 + QUEUE_MAIL_PARAMS_MAX + (size_t)QUEUE_RCPT_MAX * QUEUE_RCPT_PARAMS_MAX)
/* Largest report: three strings and QUEUE_RCPT_MAX results. */
#define REPORT_MAX \
	((size_t)QUEUE_RELAY_MAX + QUEUE_TEXT_MAX + 2 + \
	(size_t)QUEUE_RCPT_MAX * (2 + QUEUE_STATUS_MAX + QUEUE_TEXT_MAX))

/* Writes the envelope of from/domain/params and rcpt[0..n-1] with
 * rparams[0..n-1] (NULL: none has any) into out. Returns its length, or
 * 0 when it does not fit or a string is too long. */
size_t envelope_encode(char *out, size_t size, const char *from,
    const char *domain, const char *params, const char *const *rcpt,
    const char *const *rparams, int n);

/* Parses len bytes holding exactly nrcpt recipients into m (initialised
 * by the caller, which frees it in any case). 0, or -1 for anything
 * malformed or invalid. */
int envelope_decode(const char *env, size_t len, uint32_t nrcpt,
    struct queue_msg *m);

/* The outcome of one delivery attempt of an envelope's recipients: the
 * recipients of m (their state, status, last_error) plus these. */
struct delivery_report {
	char	relay[QUEUE_RELAY_MAX];		/* "" if no connection */
	char	result[QUEUE_TEXT_MAX];		/* reply or local reason */
	int	route_down;			/* no server of the route took
						   the connection: result says
						   why */
};

/* Writes the report for m's recipients into out; its length, or 0 when
 * it does not fit. */
size_t report_encode(char *out, size_t size, const struct delivery_report *d,
    const struct queue_msg *m);

/* Parses a report for the m->nrcpt recipients of m (from the envelope it
 * answers) into d and m's recipient states. 0, or -1 (m's states then
 * undefined: the caller discards m). */
int report_decode(const char *in, size_t len, struct delivery_report *d,
    struct queue_msg *m);

#endif
