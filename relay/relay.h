/*
 * relay.h — the relay daemon's main loop: listeners, sessions, the
 * in-session relay toward the customer's servers, signals.
 */
#ifndef MXGATE_RELAY_H
#define MXGATE_RELAY_H

#include "config.h"

/* Runs until SIGTERM; returns the process exit code. Takes cf. */
int relay_main(struct config *cf, const char *config_path);

#endif
