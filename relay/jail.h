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


/* ctl: the parent's channel (IPC_ADD_CHANNEL for each worker or
 * runner). Returns when the parent and every peer are gone. */
int jail_main(const struct config *cf, int ctl, const struct sandbox_ids *ids);

#endif
