/*
 * backlog.c — LD_PRELOAD shim for the OpenSMTPD bench peer, nothing else.
 *
 * OpenSMTPD 6.8 calls listen(fd, SMTPD_BACKLOG) with a compiled-in 5 and
 * no configuration knob. With 20 or 100 sessions opening at once most
 * SYNs overflow that queue, are dropped, and the clients retry after 1 s,
 * 3 s, 7 s: the measurement becomes one of TCP's retransmission timer.
 * This shim raises the backlog of every listen() to $BENCH_LISTEN_BACKLOG
 * (when larger) and changes nothing else. `make bench` uses it unless
 * BENCH_OPENSMTPD_BACKLOG=0; docs/BENCHMARKS.md says so next to the table.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int
listen(int fd, int backlog)
{
	static int (*real_listen)(int, int);
	const char *e = getenv("BENCH_LISTEN_BACKLOG");
	int want = e != NULL ? atoi(e) : 0;

	if (real_listen == NULL)
		real_listen = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
	if (real_listen == NULL)
		return -1;
	if (want > backlog && want <= 65535)
		backlog = want;
	return real_listen(fd, backlog);
}
