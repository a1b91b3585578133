/*
 * jail.h — the jail role: the one process allowed to open outbound
 * connections, and only to route servers. It serves the SMTP workers'
 * IPC_CONNECT_REQ messages, checks each address against the route table
 * (outbound.c), connects and passes the socket back with SCM_RIGHTS. It
 * never reads mail or parses SMTP.
 */
#ifndef MXGATE_JAIL_H
#define MXGATE_JAIL_H

#include "config.h"
#include "sandbox.h"

#define JAIL_MAX_CHANNELS	64

/* ctl: the parent's channel (IPC_ADD_CHANNEL); chan[n]: worker channels.
 * Returns when every channel is closed. */
int jail_main(const struct config *cf, int ctl, const int *chan, int n,
    const struct sandbox_ids *ids);

#endif
