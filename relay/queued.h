/*
 * queued.h — the queue owner role: the one process that writes outage
 * mail into the LMDB store (queue.c) for the SMTP workers. A worker sends
 * IPC_QUEUE_PUT with the envelope and message in a memfd; the owner stores
 * it durably (fsync'd commit) and only then answers IPC_QUEUE_REP, so the
 * worker's 250 always follows the commit. It never opens a socket and
 * never parses SMTP.
 */
#ifndef MXGATE_QUEUED_H
#define MXGATE_QUEUED_H

#include "config.h"
#include "queue.h"
#include "sandbox.h"


/* Parses the envelope of an IPC_QUEUE_PUT (len bytes: sender, route
 * domain, nrcpt recipients, each NUL-terminated) into m (initialised),
 * validating every address with addr_check() and the route domain with
 * addr_domain_valid(). 0, or -1 for anything else (m then holds whatever
 * was parsed; the caller frees it). */
int queued_envelope_parse(const char *env, size_t len, uint32_t nrcpt,
    struct queue_msg *m);

/* ctl: the parent's channel (IPC_ADD_CHANNEL for each worker). q was
 * opened by this process before it is sandboxed. Returns when the parent
 * and every worker channel are gone. */
int queued_main(const struct config *cf, struct queue *q, int ctl,
    const struct sandbox_ids *ids);

#endif
