/*
 * outbound.h — the only way mxgate opens a connection: to a server named
 * in a route, nowhere else. Today a function in the relay process; it is
 * the seam that moves behind IPC into the jail process (SPEC 3.5), so its
 * callers already treat it as a request that returns a descriptor.
 */
#ifndef MXGATE_OUTBOUND_H
#define MXGATE_OUTBOUND_H

#include "config.h"

/* Starts a non-blocking TCP connection to server `index` of `route`.
 * Returns the socket (connect in progress or done) or -1 with errno;
 * EPERM when the route/index pair is not in cf's route table. */
int outbound_connect(const struct config *cf, const struct route *route,
    int index);

#endif
