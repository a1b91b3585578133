/*
 * relay.c — the relay process: binds the listeners, accepts sessions,
 * handles signals and runs the one event loop.
 *
 *   SIGHUP   re-read the configuration; a bad one is refused (logged) and
 *            the old one kept. Sessions finish under the configuration
 *            they started with. Listener changes need a restart.
 *   SIGTERM  stop accepting; idle sessions get 421, busy ones finish their
 *            message first (at most DRAIN_MAX_MS); exit 0.
 *
 * Single-process today: the seams for the process split (SPEC 3.8) are
 * the pure protocol machines, this one loop and outbound_connect().
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "session.h"
#include "util.h"
#include "version.h"

#define ACCEPT_BATCH	64	/* accepts per readiness event */
#define LISTEN_BACKLOG	1024

static struct relay R;

void
cfg_release(struct cfg *c)
{
	if (--c->refs == 0) {
		config_free(c->cf);
		free(c);
	}
}

static struct cfg *
cfg_new(struct config *cf)
{
	struct cfg *c = xcalloc(1, sizeof(*c));

	c->cf = cf;
	c->refs = 1;
	return c;
}

static int
listen_on(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	char name[NET_ENDPOINTLEN];
	int fd, one = 1;

	endpoint_format(ss, name, sizeof(name));
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		fatal(EXIT_TEMP, "socket for %s", name);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0)
		fatal(EXIT_TEMP, "bind %s", name);
	if (listen(fd, LISTEN_BACKLOG) != 0)
		fatal(EXIT_TEMP, "listen %s", name);
	log_msg("master", "listening on %s", name);
	return fd;
}

static void
on_accept(struct watch *w, uint32_t events)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && !R.draining; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_msg("master", "accept: %s", strerror(errno));
			return;
		}
		session_accept(&R, fd, &ss);
	}
}

static void
reload(void)
{
	struct config *cf;
	FILE *errs;
	char *text = NULL;
	size_t len = 0;

	errs = open_memstream(&text, &len);
	cf = config_load(R.config_path, errs ? errs : stderr);
	if (errs)
		fclose(errs);
	if (cf == NULL) {
		char *line, *save = NULL;
		log_msg("master", "reload of %s refused; keeping the running "
		    "configuration", R.config_path);
		for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
		    line = strtok_r(NULL, "\n", &save))
			log_msg("master", "config error: %s", line);
		free(text);
		return;
	}
	free(text);
	if (cf->nlisten != R.cfg->cf->nlisten ||
	    memcmp(cf->listen, R.cfg->cf->listen,
	    sizeof(cf->listen[0]) * (size_t)cf->nlisten) != 0)
		log_msg("master", "listen addresses changed: they take effect "
		    "at the next restart");
	cfg_release(R.cfg);
	R.cfg = cfg_new(cf);
	log_init(cf->hostname);
	log_msg("master", "reloaded %s (%d routes)", R.config_path,
	    cf->nroutes);
}

static void
start_drain(void)
{
	struct session *s, *next;
	int i;

	if (R.draining)
		return;
	R.draining = 1;
	R.drain_deadline = mono_ms() + DRAIN_MAX_MS;
	log_msg("master", "terminating: no new sessions, %d draining",
	    R.nsessions);
	for (i = 0; i < R.nlisten; i++) {
		loop_del(R.loop, &R.lw[i]);
		close(R.lfd[i]);
	}
	for (s = R.sessions; s; s = next) {
		next = s->next;
		session_drain(s);
	}
}

static void
on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload();
			break;
		case SIGTERM:
		case SIGINT:
			start_drain();
			break;
		}
	}
}

int
relay_main(struct config *cf, const char *config_path)
{
	sigset_t mask;
	int i;

	signal(SIGPIPE, SIG_IGN);
	memset(&R, 0, sizeof(R));
	R.config_path = config_path;
	R.cfg = cfg_new(cf);
	log_init(cf->hostname);
	if ((R.loop = loop_new()) == NULL)
		fatal(EXIT_TEMP, "epoll");

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	R.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (R.sigfd < 0 || loop_add(R.loop, &R.sigw, R.sigfd, EPOLLIN,
	    on_signal, NULL) != 0)
		fatal(EXIT_TEMP, "signalfd");

	for (i = 0; i < cf->nlisten; i++) {
		R.lfd[i] = listen_on(&cf->listen[i]);
		if (loop_add(R.loop, &R.lw[i], R.lfd[i], EPOLLIN, on_accept,
		    NULL) != 0)
			fatal(EXIT_TEMP, "epoll_ctl");
	}
	R.nlisten = cf->nlisten;
	log_msg("master", "mxgate %s ready: %d listener%s, %d route%s",
	    MXGATE_VERSION, R.nlisten, R.nlisten == 1 ? "" : "s",
	    cf->nroutes, cf->nroutes == 1 ? "" : "s");

	for (;;) {
		if (loop_run_once(R.loop, R.draining ? 200 : -1) != 0)
			fatal(EXIT_TEMP, "epoll_wait");
		if (R.draining && (R.nsessions == 0 ||
		    mono_ms() >= R.drain_deadline))
			break;
	}
	if (R.nsessions > 0)
		log_msg("master", "drain deadline: closing %d sessions "
		    "(their senders keep the messages)", R.nsessions);
	while (R.sessions)
		session_close(R.sessions, "shutdown");
	log_msg("master", "stopped");
	cfg_release(R.cfg);
	loop_free(R.loop);
	return EXIT_OK;
}
