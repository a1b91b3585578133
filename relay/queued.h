/*
 * queued.h — the queue owner role: the one process that writes outage
 * mail into the LMDB store (queue.c) for the SMTP workers. A worker sends
 * IPC_QUEUE_PUT with the envelope and message in a memfd; the owner stores
 * it durably (fsync'd commit) and only then answers IPC_QUEUE_REP, so the
 * worker's 250 always follows the commit. It also schedules the outage
 * queue (qsched.h): due messages are unsealed here and handed to the
 * runner, which has neither the store nor the key. It never opens a
 * socket and never parses SMTP.
 */
#ifndef MXGATE_QUEUED_H
#define MXGATE_QUEUED_H

#include "config.h"
#include "queue.h"
#include "sandbox.h"


/* ctl: the parent's channel (IPC_ADD_CHANNEL for each worker and for
 * the runner, IPC_PEER_RUNNER). q was
 * opened by this process before it is sandboxed. Returns when the parent
 * and every worker and runner channel are gone. */
int queued_main(const struct config *cf, struct queue *q, int ctl,
    const struct sandbox_ids *ids);

#endif
