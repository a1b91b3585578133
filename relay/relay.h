/*
 * relay.h — the relay daemon's processes: the privileged parent
 * (master.c) and the SMTP front workers (worker.c); the jail is jail.h.
 */
#ifndef MXGATE_RELAY_H
#define MXGATE_RELAY_H

#include "config.h"

/* master.c: the parent; runs until SIGTERM, returns the exit code.
 * Takes cf. */
int relay_main(struct config *cf, const char *config_path);

struct sandbox_ids;
/* worker.c: one SMTP front worker (runs in a child of the parent). */
int worker_main(struct config *cf, const int *lfd, int nlisten,
    int jail_fd, int queue_fd, int slot, int nworkers,
    const struct sandbox_ids *ids);

#endif
