/*
 * outbound.h — the only way mxgate opens a connection: to a server named
 * in a route, nowhere else (SPEC 3.5). Called only by the jail process;
 * the SMTP workers ask the jail over IPC (jail.c) and get the socket back.
 */
#ifndef MXGATE_OUTBOUND_H
#define MXGATE_OUTBOUND_H

#include <sys/socket.h>

#include "config.h"

/* 1 if ss (address and port) is a server of some route in cf. */
int outbound_allowed(const struct config *cf, const struct sockaddr_storage *ss);

/* Starts a non-blocking TCP connection to ss, which must be allowed.
 * Returns the socket (connect in progress or done) or -1 with errno;
 * EPERM for an address that is not a route server. */
int outbound_connect(const struct config *cf, const struct sockaddr_storage *ss);

#endif
