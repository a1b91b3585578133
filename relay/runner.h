/*
 * runner.h — the queue runner role: the process that retries the outage
 * queue (SPEC 3.2 item 4, docs/QUEUE.md). It scans the store for due
 * messages, asks the jail for a socket to the route's servers (in
 * order), replays each message over SMTP byte for byte, and writes the
 * outcome back: erased when the customer accepted it, rescheduled with
 * backoff on 4xx/timeout/connection failure, reported to the postmaster
 * (a DSN queued through queue_bounce()) on 5xx or expiry.
 *
 * What it owns: one connection at a time to a customer server (reused
 * for consecutive due messages of the same route), its in-memory skip
 * list of unreadable records. It never opens a socket itself (the jail
 * does), never listens, never parses inbound SMTP, never changes a
 * record's addresses, and never sends a report to the original sender.
 *
 * Contract for the parent (master.c):
 *  - fork; in the child open the store with queue_open() (as root, before
 *    any sandboxing; LMDB environments must not cross a fork), then call
 *    runner_main() and _exit() with its result;
 *  - jail_fd: our end of a SOCK_SEQPACKET channel the jail serves (handed
 *    to the jail with IPC_ADD_CHANNEL); the runner sends IPC_CONNECT_REQ
 *    and receives IPC_CONNECT_REP (+ socket) on it, nothing else;
 *  - ids: sandbox_lookup(ROLE_QUEUE, ...); runner_main() enters the
 *    sandbox first thing (chroot, uid, no-new-privs, seccomp);
 *  - signals: runner_main() installs its own SIGTERM handler and ignores
 *    SIGPIPE and SIGHUP. SIGTERM: the message in progress is finished (at
 *    most the bounded SMTP timeouts), the connection is closed with QUIT,
 *    the store closed, and runner_main() returns EXIT_OK (0).
 *
 * Returns EXIT_OK after SIGTERM, EXIT_TEMP (111) when the jail channel is
 * gone (the parent should restart the runner with a new channel). Fatal
 * IPC errors (a malformed message from the jail) end the process (111).
 */
#ifndef MXGATE_RUNNER_H
#define MXGATE_RUNNER_H

#include "config.h"
#include "queue.h"
#include "sandbox.h"

#define RUNNER_BATCH		64	/* due messages handled per scan */
#define RUNNER_SKIP_MAX		256	/* records set aside (unreadable...) */
#define RUNNER_RESCAN_MS	1000	/* longest sleep: flush is seen */
#define RUNNER_STORE_BACKOFF_S	60	/* after a store error on a record */
#define RUNNER_REUSE_MAX	1000	/* transactions per connection */
#define RUNNER_IO_MAX		(64u * 1024)	/* SMTP reply/command buffer */

struct tls_client;
/* The outbound TLS policy objects, loaded by the parent before fork
 * (NULL: no STARTTLS; routes with tls encrypt/verify then defer). */
void runner_set_tls(struct tls_client *cl);

int runner_main(const struct config *cf, struct queue *q, int jail_fd,
    const struct sandbox_ids *ids);

#endif
