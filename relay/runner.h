/*
 * runner.h — the queue runner role: the process that delivers the
 * outage queue (SPEC 3.2 item 4, docs/QUEUE.md) to the customer's
 * servers. The queue owner (qsched.h) hands it each message already
 * unsealed, in a memfd (envelope.h), the next one while the last is
 * still on the wire (IPC_DELIVER_INFLIGHT; they are worked in order);
 * the runner connects through the jail with the outbound engine
 * (upstream.h), replays the message over SMTP byte for byte and writes a
 * report of every recipient's outcome back into the memfd. It keeps one
 * connection per route open between consecutive messages and hangs up
 * when the queue owner says the pass is over.
 *
 * What it never has: the store, the queue key, a listening socket, a
 * socket of its own (the jail connects), a file open. Its sandbox
 * (ROLE_RUNNER) allows neither open nor socket.
 *
 * Contract for the parent (master.c):
 *  - jail_fd: our end of a channel the jail serves (IPC_CONNECT_REQ /
 *    IPC_CONNECT_REP); queue_fd: our end of a channel the queue owner
 *    serves as IPC_PEER_RUNNER (IPC_RUNNER_HELLO, IPC_DELIVER,
 *    IPC_DELIVERED, IPC_RUNNER_IDLE);
 *  - ids: sandbox_lookup(ROLE_RUNNER, ...); runner_main() enters the
 *    sandbox first thing;
 *  - signals: SIGTERM: the messages handed over are finished (within the
 *    bounded SMTP timeouts), the connection closed with QUIT, and
 *    runner_main() returns EXIT_OK. SIGPIPE and SIGHUP are ignored.
 *
 * Returns EXIT_TEMP (111) when the jail or the queue owner is gone (the
 * parent restarts it with new channels).
 */
#ifndef MXGATE_RUNNER_H
#define MXGATE_RUNNER_H

#include "config.h"
#include "sandbox.h"

#define RUNNER_REUSE_MAX	1000	/* transactions per connection */

struct tls_client;

int runner_main(const struct config *cf, int jail_fd, int queue_fd,
    struct tls_client *tls_cli, const struct sandbox_ids *ids);

#endif
