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
struct tls_server;
struct tls_client;
struct gate;

/* What the parent hands a new SMTP worker (all opened before fork). */
struct worker_env {
	struct config			*cf;
	const int			*lfd;		/* listeners */
	int				 nlisten;
	int				 jail_fd;	/* channel to the jail */
	int				 queue_fd;	/* to the queue owner, or -1 */
	int				 slot, nworkers;
	const struct sandbox_ids	*ids;
	struct tls_server		*tls_srv;	/* NULL: no STARTTLS */
	struct tls_client		*tls_cli;
	struct gate			*gate;		/* shared admission table */
	int				 gate_slot;	/* 0..GATE_MAX_WORKERS-1 */
};

/* worker.c: one SMTP front worker (runs in a child of the parent). */
int worker_main(const struct worker_env *env);

#endif
