/*
 * tls_tool.c — a test helper on relay/tls.h, for tests/relay/tls_*.t.
 * Never shipped. Listens and connects on 127.0.0.1 only; every run is
 * bounded in time.
 *
 *   tls_tool selfsigned CERT KEY HOST
 *       tls_selfsigned_ensure(); prints "created FP" or "exists FP".
 *   tls_tool serve CERT KEY [MINVER [SECONDS]]
 *       plain TLS echo server (no STARTTLS) on 127.0.0.1:<ephemeral>;
 *       prints "port N", then one line per connection: "conn VERSION
 *       CIPHER" or "fail ERROR"; echoes lines, "QUIT" closes; up to 64
 *       connections at once; exits after SECONDS (default 60) or on
 *       SIGTERM. MINVER is hex (0x0303) or 0 for the default.
 *   tls_tool connect PORT [-n NAME] [-c CAFILE] [-v] [-M MAXVER] [-H]
 *       handshake, send "hello", expect it back, send QUIT (-H: only
 *       the handshake, then close_notify); prints
 *       "ok VERSION CIPHER verified=0|1" or "fail ERROR" (exit 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tls.h"

#define MAXC	64

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	stop = 1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static short
to_poll(uint32_t ev)
{
	return (short)(((ev & EPOLLIN) ? POLLIN : 0) |
	    ((ev & EPOLLOUT) ? POLLOUT : 0));
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int
cmd_selfsigned(int argc, char **argv)
{
	char fp[65], err[512];
	int r;

	if (argc != 5)
		return 2;
	r = tls_selfsigned_ensure(argv[2], argv[3], argv[4], fp, err,
	    sizeof(err));
	if (r < 0) {
		printf("fail %s\n", err);
		return 1;
	}
	printf("%s %s\n", r == 1 ? "created" : "exists", fp);
	return 0;
}

struct sconn {
	int		 fd;
	struct tls_conn	*tc;
	int		 announced;
	char		 line[1024];
	size_t		 llen;
	char		 out[4096];
	size_t		 olen;
	int		 closing;
};

static void
sconn_end(struct sconn *s, const char *why)
{
	if (!s->announced)
		printf("fail %s\n", why ? why : "closed before handshake");
	else if (why)
		printf("end %s\n", why);
	fflush(stdout);
	tls_conn_free(s->tc);
	close(s->fd);
	s->fd = -1;
	s->tc = NULL;
}

/* One step of a server connection; returns when it would block. */
static void
sconn_step(struct sconn *s)
{
	char buf[2048];
	ssize_t n;
	size_t i;

	for (;;) {
		if (!s->announced && tls_handshake_done(s->tc)) {
			printf("conn %s %s\n", tls_version(s->tc),
			    tls_cipher(s->tc));
			fflush(stdout);
			s->announced = 1;
		}
		if (s->olen > 0) {
			n = tls_write(s->tc, s->fd, s->out, s->olen);
			if (n < 0) {
				if (errno != EAGAIN)
					sconn_end(s, tls_error(s->tc));
				return;
			}
			memmove(s->out, s->out + n, s->olen - (size_t)n);
			s->olen -= (size_t)n;
			continue;
		}
		if (tls_want(s->tc) & EPOLLOUT) {
			if (tls_flush(s->tc, s->fd) < 0) {
				if (errno != EAGAIN)
					sconn_end(s, tls_error(s->tc));
				return;
			}
		}
		if (s->closing) {
			if (tls_close(s->tc, s->fd) == 0 || errno != EAGAIN)
				sconn_end(s, NULL);
			return;
		}
		n = tls_read(s->tc, s->fd, buf, sizeof(buf));
		if (n == 0) {
			sconn_end(s, tls_error(s->tc));
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN)
				sconn_end(s, tls_error(s->tc));
			return;
		}
		for (i = 0; i < (size_t)n; i++) {
			if (s->llen < sizeof(s->line))
				s->line[s->llen++] = buf[i];
			if (buf[i] != '\n')
				continue;
			if (s->llen >= 4 && memcmp(s->line, "QUIT", 4) == 0)
				s->closing = 1;
			else if (s->olen + s->llen <= sizeof(s->out)) {
				memcpy(s->out + s->olen, s->line, s->llen);
				s->olen += s->llen;
			}
			s->llen = 0;
		}
	}
}

static int
cmd_serve(int argc, char **argv)
{
	struct tls_server *srv;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct sconn c[MAXC];
	struct pollfd pfd[MAXC + 1];
	char err[512];
	int lfd, minv = 0, secs = 60, i, n, one = 1;
	int64_t end;

	if (argc < 4)
		return 2;
	if (argc > 4)
		minv = (int)strtol(argv[4], NULL, 0);
	if (argc > 5)
		secs = atoi(argv[5]);
	if (tls_server_new(&srv, argv[2], argv[3], minv, err,
	    sizeof(err)) == -1) {
		printf("fail %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 64) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
		printf("fail listen: %s\n", strerror(errno));
		return 1;
	}
	nonblock(lfd);
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	for (i = 0; i < MAXC; i++)
		c[i].fd = -1;
	end = now_ms() + (int64_t)secs * 1000;
	while (!stop && now_ms() < end) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		for (i = 0; i < MAXC; i++) {
			pfd[i + 1].fd = c[i].fd;
			pfd[i + 1].events = c[i].fd >= 0 ?
			    to_poll(tls_want(c[i].tc)) : 0;
		}
		if ((n = poll(pfd, MAXC + 1, 200)) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);

			for (i = 0; fd >= 0 && i < MAXC && c[i].fd >= 0; i++)
				;
			if (fd >= 0 && i == MAXC)
				close(fd);
			else if (fd >= 0) {
				memset(&c[i], 0, sizeof(c[i]));
				nonblock(fd);
				c[i].fd = fd;
				if ((c[i].tc = tls_conn_server(srv)) == NULL) {
					close(fd);
					c[i].fd = -1;
				}
			}
		}
		for (i = 0; i < MAXC; i++)
			if (c[i].fd >= 0 && pfd[i + 1].fd >= 0 &&
			    pfd[i + 1].revents)
				sconn_step(&c[i]);
	}
	for (i = 0; i < MAXC; i++)
		if (c[i].fd >= 0)
			sconn_end(&c[i], "server stopping");
	tls_server_free(srv);
	close(lfd);
	return 0;
}

/* Waits until fd is ready for what the connection wants; -1 timeout. */
static int
wait_want(struct tls_conn *tc, int fd, int64_t end)
{
	struct pollfd p = { .fd = fd, .events = to_poll(tls_want(tc)) };
	int64_t left = end - now_ms();

	if (left <= 0 || p.events == 0)
		return -1;
	return poll(&p, 1, (int)left) > 0 ? 0 : -1;
}

static int
cmd_connect(int argc, char **argv)
{
	struct tls_client *cl;
	struct tls_conn *tc;
	struct sockaddr_in sin;
	const char *name = NULL, *ca = NULL, *msg = "hello\nQUIT\n";
	char err[512], got[64];
	size_t glen = 0, sent = 0;
	int fd, verify = 0, maxv = 0, i, hs_only = 0;
	int64_t end = now_ms() + 10000;
	ssize_t n;

	if (argc < 3)
		return 2;
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verify = 1;
		else if (strcmp(argv[i], "-H") == 0)
			hs_only = 1;
		else if (strcmp(argv[i], "-M") == 0 && i + 1 < argc)
			maxv = (int)strtol(argv[++i], NULL, 0);
		else
			return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (tls_client_new(&cl, ca, maxv && maxv < TLS_V12 ? TLS_V10 : 0, err,
	    sizeof(err)) == -1) {
		printf("fail %s\n", err);
		return 1;
	}
	if (maxv)
		tls_client_set_versions(cl, TLS_V10, maxv);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		printf("fail connect: %s\n", strerror(errno));
		return 1;
	}
	nonblock(fd);
	if ((tc = tls_conn_client(cl, name, verify)) == NULL) {
		printf("fail tls_conn_client: %s\n", strerror(errno));
		return 1;
	}
	while (tls_handshake(tc, fd) != 1) {
		if (errno != EAGAIN || wait_want(tc, fd, end) == -1)
			goto fail;
	}
	if (hs_only) {
		while (tls_close(tc, fd) != 0)
			if (errno != EAGAIN || wait_want(tc, fd, end) == -1)
				break;
		goto done;
	}
	while (sent < strlen(msg)) {
		n = tls_write(tc, fd, msg + sent, strlen(msg) - sent);
		if (n > 0)
			sent += (size_t)n;
		else if (errno != EAGAIN || wait_want(tc, fd, end) == -1)
			goto fail;
	}
	while (tls_flush(tc, fd) != 0)
		if (errno != EAGAIN || wait_want(tc, fd, end) == -1)
			goto fail;
	while (glen < 6) {
		n = tls_read(tc, fd, got + glen, sizeof(got) - 1 - glen);
		if (n > 0)
			glen += (size_t)n;
		else if (n == 0 || errno != EAGAIN ||
		    wait_want(tc, fd, end) == -1)
			goto fail;
	}
	got[glen] = '\0';
	if (strncmp(got, "hello\n", 6) != 0) {
		printf("fail echo mismatch\n");
		return 1;
	}
done:
	printf("ok %s %s verified=%d\n", tls_version(tc), tls_cipher(tc),
	    tls_peer_verified(tc));
	tls_conn_free(tc);
	tls_client_free(cl);
	close(fd);
	return 0;
fail:
	printf("fail %s\n", tls_error(tc) ? tls_error(tc) : "timeout");
	tls_conn_free(tc);
	tls_client_free(cl);
	close(fd);
	return 1;
}

int
main(int argc, char **argv)
{
	int r = 2;

	if (argc >= 2 && strcmp(argv[1], "selfsigned") == 0)
		r = cmd_selfsigned(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		r = cmd_serve(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "connect") == 0)
		r = cmd_connect(argc, argv);
	if (r == 2)
		fprintf(stderr, "usage: tls_tool selfsigned|serve|connect ...\n");
	return r;
}
