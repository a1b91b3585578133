/*
 * mxload.c — the benchmark's own SMTP client (host tool, never shipped).
 *
 * smtp-source cannot time single messages, cannot speak STARTTLS and
 * cannot hold sessions open, so `make bench` uses this program for those
 * three jobs; throughput runs still use smtp-source.
 *
 *   mxload [-s SESS] [-m MSGS] [-l BYTES] [-1] [-T [-R]] [-o CSV] [-t SECS]
 *          [-f FROM] [-r RCPT] HOST:PORT
 *       SESS threads each run one SMTP session (no pipelining, like
 *       smtp-source) and take messages from a shared counter until MSGS
 *       were tried; -1 opens a new session for every message (churn);
 *       -T does STARTTLS (no certificate check) before MAIL; with -R
 *       each thread offers the TLS session of its previous connection
 *       (resumption; "resumed=N" on the summary line counts the
 *       handshakes the server resumed). Every
 *       message carries "X-Bench-Id: N". With -o, one line per message:
 *       "N,T_MAIL,T_ACCEPT,T_SINK" (CLOCK_REALTIME ns; T_MAIL just before
 *       MAIL FROM is written, T_ACCEPT when the 250 for the final dot is
 *       read, 0 when it failed). With -W DIR (smtp-sink's -d dump
 *       directory) a thread watches DIR with inotify and T_SINK is the
 *       moment smtp-sink closed the dump file holding "X-Bench-Id: N"
 *       (0 if it never came); after sending, mxload waits up to -w SECS
 *       (default 60) for the missing ones.
 *   mxload -I COUNT [-t SECS] HOST:PORT
 *       open COUNT sessions (banner read, EHLO answered; 8 openers in
 *       parallel, each stops at its first failure), print
 *       "ready N" on stdout, hold them until stdin reaches EOF or SECS
 *       pass, then QUIT them all and print "quit N": how many were
 *       still open (answered 221).
 *
 * Bounds: MSGS and COUNT are capped; every socket read has a 30 s
 * timeout; -t (default 300 s) ends the whole run. Exit 0 when every
 * message got 250 (or every idle session opened), 1 otherwise, 100 usage.
 * Owns nothing but its sockets; talks to the address it is given only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_SESS	2000
#define MAX_MSGS	1000000
#define MAX_IDLE	20000
#define MAX_BODY	(10 * 1024 * 1024)
#define LINE_MAX_	4096

struct conn {
	int	 fd;
	SSL	*ssl;
	SSL_SESSION *sess;	/* -R: the last connection's, to offer */
	char	 buf[LINE_MAX_];
	size_t	 len;
};

static struct sockaddr_in peer;
static int	 nsess = 1, nmsgs = 1, churn, use_tls, resume;
static size_t	 bodylen = 1024;
static char	*body;
static const char *from = "bench@source.test", *rcpt = "user@bench.test";
static SSL_CTX	*ctx;
static int	 io_timeout = 30;	/* seconds, every socket read/write */
static atomic_int next_msg, n_ok, n_fail, n_resumed;
static uint64_t	*t_mail, *t_accept;
static _Atomic uint64_t *t_sink;
static atomic_int n_sink, stop_watch;
static const char *watch_dir;
static int	 wait_secs = 60;

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: mxload [-s sess] [-m msgs] [-l bytes] [-1] [-T [-R]] [-o csv]"
	    " [-W dir [-w secs]] [-t secs] [-f from] [-r rcpt] host:port\n"
	    "       mxload -I count [-t secs] host:port\n", stderr);
	exit(100);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
c_write(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;

		if (c->ssl != NULL) {
			w = SSL_write(c->ssl, p, (int)(n > 1 << 30 ? 1 << 30 : n));
			if (w <= 0)
				return -1;
		} else {
			w = write(c->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one reply (all its lines); returns its code or -1. */
static int
c_reply(struct conn *c, char *last, size_t lastsz)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf) + 1;
			int code = -1, more;

			if (l >= 4 && c->buf[0] >= '2' && c->buf[0] <= '5')
				code = atoi(c->buf);
			more = l >= 4 && c->buf[3] == '-';
			if (last != NULL && lastsz > 0) {
				size_t k = l < lastsz ? l : lastsz - 1;
				memcpy(last, c->buf, k);
				last[k] = '\0';
			}
			memmove(c->buf, c->buf + l, c->len - l);
			c->len -= l;
			if (code < 0)
				return -1;
			if (!more)
				return code;
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -1;	/* line too long */
		ssize_t r;
		if (c->ssl != NULL)
			r = SSL_read(c->ssl, c->buf + c->len,
			    (int)(sizeof(c->buf) - c->len));
		else
			r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r < 0 && c->ssl == NULL && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int
c_cmd(struct conn *c, const char *cmd, char *last, size_t lastsz)
{
	if (c_write(c, cmd, strlen(cmd)) < 0)
		return -1;
	return c_reply(c, last, lastsz);
}

static void
c_close(struct conn *c)
{
	if (c->ssl != NULL) {
		/* kept at the end: a TLS 1.3 ticket comes after the handshake */
		if (resume && SSL_is_init_finished(c->ssl)) {
			SSL_SESSION_free(c->sess);	/* NULL is fine */
			c->sess = SSL_get1_session(c->ssl);
		}
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Connects, reads the banner, EHLO, optional STARTTLS + EHLO. */
static int
c_open(struct conn *c, int tls)
{
	struct timeval tv = { io_timeout, 0 };
	char last[512];
	int one = 1;

	c->ssl = NULL;
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&peer, sizeof(peer)) < 0)
		goto fail;
	if (c_reply(c, last, sizeof(last)) != 220)
		goto fail;
	if (c_cmd(c, "EHLO load.source.test\r\n", last, sizeof(last)) != 250)
		goto fail;
	if (!tls)
		return 0;
	if (c_cmd(c, "STARTTLS\r\n", last, sizeof(last)) != 220)
		goto fail;
	c->len = 0;	/* nothing buffered before TLS survives */
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    (c->sess != NULL && SSL_set_session(c->ssl, c->sess) != 1) ||
	    SSL_connect(c->ssl) != 1)
		goto fail;
	if (SSL_session_reused(c->ssl))
		atomic_fetch_add(&n_resumed, 1);
	if (c_cmd(c, "EHLO load.source.test\r\n", last, sizeof(last)) != 250)
		goto fail;
	return 0;
fail:
	c_close(c);
	return -1;
}

/* One transaction; 0 when the final dot got 250. */
static int
c_send(struct conn *c, int id, uint64_t *t0, uint64_t *t1)
{
	char cmd[600], hdr[512], last[512];
	int n;

	*t0 = now_ns();
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", from);
	if (c_cmd(c, cmd, last, sizeof(last)) != 250)
		return -1;
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", rcpt);
	if (c_cmd(c, cmd, last, sizeof(last)) != 250)
		return -1;
	if (c_cmd(c, "DATA\r\n", last, sizeof(last)) != 354)
		return -1;
	n = snprintf(hdr, sizeof(hdr),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\n"
	    "Message-ID: <bench.%d.%llu@source.test>\r\n"
	    "X-Bench-Id: %d\r\n\r\n",
	    from, rcpt, id, id, (unsigned long long)*t0, id);
	if (c_write(c, hdr, (size_t)n) < 0 || c_write(c, body, bodylen) < 0)
		return -1;
	if (c_cmd(c, ".\r\n", last, sizeof(last)) != 250)
		return -1;
	*t1 = now_ns();
	return 0;
}

static void *
worker(void *arg)
{
	struct conn c = { .fd = -1 };
	int open_ = 0;

	(void)arg;
	for (;;) {
		int id = atomic_fetch_add(&next_msg, 1);
		uint64_t t0, t1;

		if (id >= nmsgs)
			break;
		if (!open_) {
			if (c_open(&c, use_tls) < 0) {
				atomic_fetch_add(&n_fail, 1);
				continue;
			}
			open_ = 1;
		}
		if (c_send(&c, id, &t0, &t1) < 0) {
			atomic_fetch_add(&n_fail, 1);
			c_close(&c);
			open_ = 0;
			continue;
		}
		atomic_fetch_add(&n_ok, 1);
		t_mail[id] = t0;
		t_accept[id] = t1;
		if (churn) {
			c_cmd(&c, "QUIT\r\n", NULL, 0);
			c_close(&c);
			open_ = 0;
		}
	}
	if (open_) {
		c_cmd(&c, "QUIT\r\n", NULL, 0);
		c_close(&c);
	}
	SSL_SESSION_free(c.sess);
	return NULL;
}

/* Stamps each dump file smtp-sink closes in watch_dir. */
static void *
watcher(void *arg)
{
	int fd = *(int *)arg;
	char ev[16 * 1024] __attribute__((aligned(8)));
	char path[4096], head[8192];

	while (!atomic_load(&stop_watch)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n, off;

		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((n = read(fd, ev, sizeof(ev))) <= 0)
			continue;
		uint64_t t = now_ns();
		for (off = 0; off < n; ) {
			struct inotify_event *e = (struct inotify_event *)(ev + off);
			off += (ssize_t)sizeof(*e) + e->len;
			if (e->len == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", watch_dir, e->name);
			FILE *f = fopen(path, "r");
			if (f == NULL)
				continue;
			size_t r = fread(head, 1, sizeof(head) - 1, f);
			fclose(f);
			head[r] = '\0';
			char *h = strstr(head, "\nX-Bench-Id: ");
			if (h == NULL)
				continue;
			long id = strtol(h + 13, NULL, 10);
			uint64_t zero = 0;
			if (id >= 0 && id < nmsgs &&
			    atomic_compare_exchange_strong(&t_sink[id], &zero, t))
				atomic_fetch_add(&n_sink, 1);
		}
	}
	return NULL;
}

static void
on_alarm(int sig)
{
	static const char m[] = "mxload: time limit reached\n";

	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

struct idle_part {
	struct conn	*cs;
	int		 n, ok;
};

/* opens part->n sessions one after the other; stops at the first that
 * the server does not open (a session cap) */
static void *
idle_opener(void *arg)
{
	struct idle_part *p = arg;

	for (int i = 0; i < p->n; i++) {
		if (c_open(&p->cs[i], 0) < 0)
			break;
		p->ok++;
	}
	return NULL;
}

#define IDLE_THREADS	8

static int
run_idle(int count, int secs)
{
	struct conn *cs = calloc((size_t)count, sizeof(*cs));
	struct idle_part part[IDLE_THREADS];
	pthread_t th[IDLE_THREADS];
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	int i, ok = 0, alive = 0, per = (count + IDLE_THREADS - 1) / IDLE_THREADS;
	char junk[256];

	if (cs == NULL)
		return 1;
	for (i = 0; i < count; i++)
		cs[i].fd = -1;
	/* 8 openers in parallel: a forking server gets its bursts */
	for (i = 0; i < IDLE_THREADS; i++) {
		int first = i * per;
		part[i].cs = cs + (first < count ? first : count);
		part[i].n = first >= count ? 0
		    : (first + per > count ? count - first : per);
		part[i].ok = 0;
		if (pthread_create(&th[i], NULL, idle_opener, &part[i]) != 0)
			return 1;
	}
	for (i = 0; i < IDLE_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += part[i].ok;
	}
	printf("ready %d\n", ok);
	fflush(stdout);
	/* hold until stdin closes or the time limit */
	for (;;) {
		int r = poll(&pfd, 1, secs * 1000);

		if (r <= 0)
			break;
		if (read(0, junk, sizeof(junk)) <= 0)
			break;
	}
	/* the sessions still there answer QUIT with 221 */
	for (i = 0; i < count; i++)
		if (cs[i].fd >= 0) {
			if (c_cmd(&cs[i], "QUIT\r\n", NULL, 0) == 221)
				alive++;
			c_close(&cs[i]);
		}
	printf("quit %d\n", alive);
	free(cs);
	return ok == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const char *csvpath = NULL;
	char host[64], *colon;
	int ch, secs = 300, idle = 0, i;
	pthread_t *th, wt;
	uint64_t t0, t1;

	while ((ch = getopt(argc, argv, "s:m:l:1TRo:t:f:r:I:W:w:")) != -1) {
		switch (ch) {
		case 's': nsess = atoi(optarg); break;
		case 'm': nmsgs = atoi(optarg); break;
		case 'l': bodylen = (size_t)atol(optarg); break;
		case '1': churn = 1; break;
		case 'T': use_tls = 1; break;
		case 'R': resume = 1; break;
		case 'o': csvpath = optarg; break;
		case 't': secs = atoi(optarg); break;
		case 'f': from = optarg; break;
		case 'r': rcpt = optarg; break;
		case 'I': idle = atoi(optarg); break;
		case 'W': watch_dir = optarg; break;
		case 'w': wait_secs = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || nsess < 1 || nsess > MAX_SESS ||
	    nmsgs < 1 || nmsgs > MAX_MSGS || bodylen > MAX_BODY ||
	    idle < 0 || idle > MAX_IDLE || secs < 1 || secs > 3600 ||
	    wait_secs < 0 || wait_secs > 600 || (resume && !use_tls) ||
	    strlen(from) > 256 || strlen(rcpt) > 256)
		usage();
	snprintf(host, sizeof(host), "%s", argv[optind]);
	if ((colon = strrchr(host, ':')) == NULL)
		usage();
	*colon = '\0';
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &peer.sin_addr) != 1)
		usage();

	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)secs + (idle ? 60 : (unsigned)wait_secs));
	if (idle) {
		io_timeout = 30;
		return run_idle(idle, secs);
	}

	/* body: 76 'x' + CRLF lines, exactly bodylen bytes, ending in CRLF */
	if ((body = malloc(bodylen + 2)) == NULL)
		return 1;
	for (size_t k = 0; k < bodylen; k++)
		body[k] = (k % 78 == 76) ? '\r' : (k % 78 == 77) ? '\n' : 'x';
	if (bodylen >= 2) {
		body[bodylen - 2] = '\r';
		body[bodylen - 1] = '\n';
	}
	if (use_tls) {
		OPENSSL_init_ssl(0, NULL);
		if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			return 1;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	t_mail = calloc((size_t)nmsgs, sizeof(*t_mail));
	t_accept = calloc((size_t)nmsgs, sizeof(*t_accept));
	t_sink = calloc((size_t)nmsgs, sizeof(*t_sink));
	if ((th = calloc((size_t)nsess, sizeof(*th))) == NULL ||
	    t_mail == NULL || t_accept == NULL || t_sink == NULL)
		return 1;
	if (watch_dir != NULL) {
		static int ifd;
		if ((ifd = inotify_init1(IN_CLOEXEC)) < 0 ||
		    inotify_add_watch(ifd, watch_dir, IN_CLOSE_WRITE) < 0) {
			perror(watch_dir);
			return 1;
		}
		if (pthread_create(&wt, NULL, watcher, &ifd) != 0)
			return 1;
	}
	t0 = now_ns();
	for (i = 0; i < nsess; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			return 1;
	for (i = 0; i < nsess; i++)
		pthread_join(th[i], NULL);
	t1 = now_ns();
	if (watch_dir != NULL) {
		/* store-and-forward peers deliver after the 250 */
		uint64_t until = now_ns() + (uint64_t)wait_secs * 1000000000u;
		while (atomic_load(&n_sink) < atomic_load(&n_ok) &&
		    now_ns() < until)
			usleep(10000);
		atomic_store(&stop_watch, 1);
		pthread_join(wt, NULL);
	}
	if (csvpath != NULL) {
		FILE *csv = fopen(csvpath, "w");
		if (csv == NULL) {
			perror(csvpath);
			return 1;
		}
		for (i = 0; i < nmsgs; i++)
			fprintf(csv, "%d,%llu,%llu,%llu\n", i,
			    (unsigned long long)t_mail[i],
			    (unsigned long long)t_accept[i],
			    (unsigned long long)atomic_load(&t_sink[i]));
		fclose(csv);
	}
	printf("sent=%d failed=%d seconds=%.3f sink=%d resumed=%d\n",
	    atomic_load(&n_ok), atomic_load(&n_fail), (double)(t1 - t0) / 1e9,
	    atomic_load(&n_sink), atomic_load(&n_resumed));
	return atomic_load(&n_fail) == 0 ? 0 : 1;
}
