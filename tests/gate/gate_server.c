/*
 * gate_server.c — test helper and reference for the session's use of the
 * gate: a parent maps the shared gate region, opens one SO_REUSEPORT
 * listener per worker on 127.0.0.1 and forks N workers; each worker runs
 * the pre-banner admission exactly as relay sessions must (gate_admit at
 * accept, pregreet wait and DNSBL check in parallel, gate_mark_passed,
 * banner; gate_unknown_rcpt per unknown RCPT; gate_release at close) and
 * a toy SMTP dialogue after the banner. One verdict line per connection
 * on stdout: "workerN: VERDICT [IP] detail". Not installed, not mxgate.
 *
 *   gate_server -f CONFIG -w WORKERS [-p PORT] [-P PREGREET_MS]
 *       [-i IP_CONC] [-n NET_CONC] [-r IP_RATE] [-R NET_RATE]
 *       [-u MAX_UNKNOWN_RCPT] [-d] [-T DNSBL_TIMEOUT_MS] [-C IDLE_MS]
 *
 * A recipient whose local part starts with "unknown" is unknown. Prints
 * "ready PORT" once listening; ends on SIGTERM (workers with it).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "dnsbl.h"
#include "gate.h"
#include "loop.h"
#include "util.h"

enum { ST_WAIT, ST_CMD, ST_DATA };

struct conn {
	struct watch		 w;
	struct timer		 t;
	struct gate_ticket	 tk;
	struct gate_session	 gs;
	struct dnsbl_check	*chk;
	struct dnsbl_result	 dr;
	int			 dnsbl_done, pregreet_over, state;
	char			 in[1024];
	size_t			 n;
};

static struct loop *L;
static struct gate *G;
static struct dnsbl_client *D;
static int W;			/* this worker's index */
static int64_t pregreet_ms, idle_ms = 30000;
static const char *hostname = "gate.test";
static volatile sig_atomic_t stop;
static pid_t kids[GATE_MAX_WORKERS];
static int kidw[GATE_MAX_WORKERS];	/* worker index of kids[i] */
static int nkids;

static void
say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One log line, one write(): lines of the workers never interleave. */
static void
say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "worker%d: ", W);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, (size_t)n) < 0)
		_exit(EXIT_TEMP);
}

static void
send_str(struct conn *c, const char *s)
{
	if (write(c->w.fd, s, strlen(s)) < 0)
		return;		/* the read side sees the close */
}

static void
conn_close(struct conn *c)
{
	int fd = c->w.fd;

	loop_del(L, &c->w);
	close(fd);
	loop_timer_cancel(L, &c->t);
	if (c->chk != NULL)
		dnsbl_cancel(c->chk);
	gate_release(G, &c->tk);
	free(c);
}

static void
verdict(struct conn *c)
{
	char line[GATE_DETAIL_MAX + 80];

	say("%s", gate_log_line(&c->tk, line, sizeof(line)));
}

static void on_idle(struct timer *t);

static void
banner(struct conn *c)
{
	char b[300];

	snprintf(b, sizeof(b), "220 %s ESMTP\r\n", hostname);
	send_str(c, b);
	c->state = ST_CMD;
	loop_timer_set(L, &c->t, mono_ms() + idle_ms, on_idle, c);
}

/* Pregreet wait over and DNSBL answered: the pre-banner decision. */
static void
decide(struct conn *c)
{
	char text[600], reply[300];

	if (c->dr.listed) {
		gate_note(G, &c->tk, GATE_DNSBL,
		    dnsbl_result_format(D, &c->dr, text, sizeof(text)));
		verdict(c);
		if (gate_reply(G, &c->tk, reply, sizeof(reply)))
			send_str(c, reply);
		conn_close(c);
		return;
	}
	gate_mark_passed(G, &c->tk.ip, mono_ms());
	if (D != NULL)
		gate_note(G, &c->tk, GATE_PASS, dnsbl_result_format(D, &c->dr,
		    text, sizeof(text)));
	verdict(c);
	banner(c);
}

static void
on_dnsbl(void *arg, const struct dnsbl_result *r)
{
	struct conn *c = arg;

	c->chk = NULL;
	c->dr = *r;
	c->dnsbl_done = 1;
	if (c->pregreet_over)
		decide(c);
}

static void
on_pregreet_over(struct timer *t)
{
	struct conn *c = t->arg;

	c->pregreet_over = 1;
	if (c->dnsbl_done)
		decide(c);
}

static void
on_idle(struct timer *t)
{
	struct conn *c = t->arg;

	send_str(c, "421 4.4.2 idle timeout\r\n");
	conn_close(c);
}

/* One command line (CRLF stripped). 0 go on, -1 close. */
static int
command(struct conn *c, char *line)
{
	char reply[300];

	if (c->state == ST_DATA) {
		if (strcmp(line, ".") == 0) {
			c->state = ST_CMD;
			send_str(c, "250 2.0.0 Ok: queued\r\n");
		}
		return 0;
	}
	if (strncasecmp(line, "RCPT TO:<unknown", 16) == 0) {
		if (gate_unknown_rcpt(G, &c->gs, &c->tk, mono_ms())) {
			verdict(c);
			if (gate_reply(G, &c->tk, reply, sizeof(reply)))
				send_str(c, reply);
			return -1;
		}
		send_str(c, "550 5.1.1 unknown recipient\r\n");
		return 0;
	}
	if (strcasecmp(line, "DATA") == 0) {
		c->state = ST_DATA;
		send_str(c, "354 go ahead\r\n");
		return 0;
	}
	if (strcasecmp(line, "QUIT") == 0) {
		send_str(c, "221 2.0.0 bye\r\n");
		return -1;
	}
	send_str(c, "250 ok\r\n");
	return 0;
}

static void
on_read(struct watch *w, uint32_t ev)
{
	struct conn *c = w->arg;
	ssize_t r = read(w->fd, c->in + c->n, sizeof(c->in) - 1 - c->n);
	char *nl;

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	if (c->state == ST_WAIT) {
		char d[64];
		snprintf(d, sizeof(d), "after %lld ms",
		    (long long)(mono_ms() - c->tk.admitted_ms));
		gate_note(G, &c->tk, GATE_PREGREET, d);
		verdict(c);
		conn_close(c);
		return;
	}
	c->n += (size_t)r;
	c->in[c->n] = '\0';
	while ((nl = strstr(c->in, "\r\n")) != NULL) {
		size_t used = (size_t)(nl - c->in) + 2;
		*nl = '\0';
		if (command(c, c->in) != 0) {
			conn_close(c);
			return;
		}
		memmove(c->in, c->in + used, c->n - used + 1);
		c->n -= used;
	}
	if (c->n == sizeof(c->in) - 1) {
		send_str(c, "500 5.5.0 line too long\r\n");
		conn_close(c);
		return;
	}
	loop_timer_set(L, &c->t, mono_ms() + idle_ms, on_idle, c);
}

static void
on_accept(struct watch *w, uint32_t ev)
{
	int i;

	for (i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct netaddr a;
		struct conn *c;
		char reply[300];
		int fd = accept4(w->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		netaddr_from_sockaddr((struct sockaddr *)&ss, &a);
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		loop_add(L, &c->w, fd, EPOLLIN, on_read, c);
		switch (gate_admit(G, &a, mono_ms(), &c->tk)) {
		case GATE_ALLOW:
		case GATE_PASS_OLD:
			verdict(c);
			banner(c);
			break;
		case GATE_PASS:
			c->state = ST_WAIT;
			if (D != NULL && (c->chk = dnsbl_check(D, &a, on_dnsbl,
			    c)) == NULL)
				say("dnsbl check not started for this client");
			c->dnsbl_done = c->chk == NULL;
			if (pregreet_ms > 0)
				loop_timer_set(L, &c->t, mono_ms() + pregreet_ms,
				    on_pregreet_over, c);
			else
				c->pregreet_over = 1;
			if (c->pregreet_over && c->dnsbl_done)
				decide(c);
			break;
		default:
			verdict(c);
			if (gate_reply(G, &c->tk, reply, sizeof(reply)))
				send_str(c, reply);
			conn_close(c);
		}
	}
}

static void
on_term(int sig)
{
	int i;

	stop = 1;
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
}

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: gate_server -f CONFIG -w WORKERS [-p PORT] [-P MS] "
	    "[-i N] [-n N] [-r N] [-R N] [-u N] [-d] [-T MS] [-C MS]\n",
	    stderr);
	exit(EXIT_PERM);
}

int
main(int argc, char **argv)
{
	struct config *cf;
	struct gate_conf gc;
	struct dnsbl_conf dc;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *path = NULL;
	int lfd[GATE_MAX_WORKERS], ch, i, workers = 2, port = 0;
	int64_t dnsbl_timeout = 0;
	size_t sz;
	void *mem;
	char err[200];
	uint64_t v;

	gate_conf_default(&gc);
	while ((ch = getopt(argc, argv, "f:w:p:P:i:n:r:R:u:dT:C:")) != -1) {
		if (ch != 'f' && ch != 'd' &&
		    parse_uint(optarg, 0, 1000000, &v) != 0)
			usage();
		switch (ch) {
		case 'f': path = optarg; break;
		case 'w': workers = (int)v; break;
		case 'p': port = (int)v; break;
		case 'P': pregreet_ms = (int64_t)v; break;
		case 'i': gc.ip_concurrency = (int)v; break;
		case 'n': gc.net_concurrency = (int)v; break;
		case 'r': gc.ip_rate = (int)v; break;
		case 'R': gc.net_rate = (int)v; break;
		case 'u': gc.max_unknown_rcpt = (int)v; break;
		case 'd': gc.block_action = GATE_BLOCK_DROP; break;
		case 'T': dnsbl_timeout = (int64_t)v; break;
		case 'C': idle_ms = (int64_t)v; break;
		default: usage();
		}
	}
	if (path == NULL || workers < 1 || workers > GATE_MAX_WORKERS)
		usage();
	if ((cf = config_load(path, stderr)) == NULL)
		return EXIT_PERM;
	gc.max_sessions = cf->max_sessions;
	gc.pregreet_wait_ms = pregreet_ms;
	/* the parent: one shared region, then the workers */
	sz = gate_region_size(GATE_DEFAULT_SLOTS);
	mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (mem == MAP_FAILED || (G = gate_new_conf(cf, &gc, mem, sz)) == NULL)
		fatal(EXIT_TEMP, "gate region");
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < workers; i++) {
		int one = 1;
		socklen_t sl = sizeof(sin);
		sin.sin_port = htons((uint16_t)port);
		lfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (lfd[i] < 0 || setsockopt(lfd[i], SOL_SOCKET, SO_REUSEPORT,
		    &one, sizeof(one)) != 0 ||
		    bind(lfd[i], (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
		    listen(lfd[i], 4096) != 0 ||
		    getsockname(lfd[i], (struct sockaddr *)&sin, &sl) != 0)
			fatal(EXIT_TEMP, "listen");
		port = ntohs(sin.sin_port);
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			fatal(EXIT_TEMP, "fork");
		if (pid > 0) {
			kidw[nkids] = i;
			kids[nkids++] = pid;
			continue;
		}
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		W = i;
		gate_set_worker(G, i);
		if ((L = loop_new()) == NULL)
			fatal(EXIT_TEMP, "loop");
		if (cf->ndnsbl > 0) {
			if (dnsbl_conf_from_config(cf, &dc, err,
			    sizeof(err)) != 0)
				fatalx(EXIT_PERM, "%s", err);
			if (dnsbl_timeout > 0)
				dc.timeout_ms = dnsbl_timeout;
			if ((D = dnsbl_client_new(L, &dc, err,
			    sizeof(err))) == NULL)
				fatalx(EXIT_TEMP, "%s", err);
		}
		{
			struct watch lw;
			loop_add(L, &lw, lfd[i], EPOLLIN, on_accept, NULL);
			for (;;)
				if (loop_run_once(L, -1) != 0)
					fatal(EXIT_TEMP, "loop");
		}
	}
	printf("ready %d\n", port);
	fflush(stdout);
	while (nkids > 0) {
		int status;
		pid_t pid = wait(&status);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		for (i = 0; i < nkids; i++)
			if (kids[i] == pid) {
				if (!stop)
					gate_worker_reset(G, kidw[i]);
				nkids--;
				kids[i] = kids[nkids];
				kidw[i] = kidw[nkids];
			}
		if (!stop)
			fprintf(stderr, "gate_server: worker %d ended\n",
			    (int)pid);
	}
	return EXIT_OK;
}
