/*
 * qsched.h — the outage queue's scheduler, inside the queue owner (the
 * one process that holds the store and its key): it scans the store for
 * due messages, unseals each and hands it to the runner over IPC (a
 * memfd: envelope.h), a few at a time (IPC_DELIVER_INFLIGHT), and writes
 * the runner's report back — erased when the customer accepted it,
 * rescheduled with backoff on 4xx / timeout / connection failure,
 * reported to the postmaster (a DSN queued through queue_bounce()) on
 * 5xx or expiry. It also expires messages past queue_lifetime and sets
 * aside records it cannot read.
 *
 * It never talks to the network: the runner (runner.h) does, without
 * the store or the key.
 */
#ifndef MXGATE_QSCHED_H
#define MXGATE_QSCHED_H

#include "config.h"
#include "queue.h"

#define QSCHED_BATCH		512	/* due messages handled per scan */
#define QSCHED_SKIP_MAX		256	/* records set aside (unreadable...) */
#define QSCHED_RESCAN_MS	1000	/* longest sleep: a flush is seen */
#define QSCHED_STORE_BACKOFF_S	60	/* after a store error on a record */
#define QSCHED_DEFER_BATCH	64	/* deferrals written in one transaction */

struct qsched;

struct qsched *qsched_new(const struct config *cf, struct queue *q);
void qsched_free(struct qsched *s);

/* The runner said hello on fd (fd stays the caller's). */
void qsched_runner_up(struct qsched *s, int fd);
/* Its channel closed: a message in flight stays queued as it was (its
 * record says an attempt began: the next one logs a possible duplicate). */
void qsched_runner_down(struct qsched *s);
/* IPC_DELIVERED for job id: the report is in the job's memfd. */
void qsched_delivered(struct qsched *s, uint32_t id, uint32_t report_len);
/* Scan at once (a customer answers again, or an admin flushed). */
void qsched_wake(struct qsched *s);
/* The queue owner stored messages, the first due at due_us, in commits
 * transactions of its own (-1: one failed) that took the store from
 * transaction before to after (queue_txnid()): the scheduler need not
 * scan the store for them. Between its scans it scans again only when the
 * store changed otherwise (an admin's flush, hold or release) or something
 * is due. */
void qsched_stored(struct qsched *s, int64_t due_us, uint64_t before,
    uint64_t after, int commits);

/* Does what is due; returns the milliseconds until it wants to be
 * called again, or -1 (until the runner answers or comes back). */
int qsched_run(struct qsched *s);

#endif
