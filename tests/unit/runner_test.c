/*
 * runner_test.c — the outage queue's delivery: the queue owner with its
 * scheduler (relay/queued.c, qsched.c) and the keyless runner
 * (relay/runner.c) against real peers: the real jail in a forked child
 * (its sandbox on, unprivileged) and Postfix's smtp-sink as the
 * customer's servers, loopback only.
 *
 *  (a) nothing listening: every message stays, attempts 1, next try in
 *      30-60 s, status=deferred logged;
 *  (b) the customer is back, an admin flushes: everything is delivered
 *      byte for byte on one connection, the queue is empty;
 *  (c) the customer refuses RCPT with 5xx: the message is bounced, a
 *      report to the postmaster is queued, then delivered (multipart/
 *      report at the postmaster's sink), the original removed;
 *  (d) a message past queue_lifetime: expired, reported, removed; one
 *      from <> is removed without a report;
 *  SIGTERM: the runner exits 0 (bounded).
 *
 * Every wait is bounded; every child is killed at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "jail.h"
#include "queue.h"
#include "queued.h"
#include "runner.h"
#include "sandbox.h"
#include "tap.h"
#include "queue_util.h"
#include "util.h"

static char root[512], qdir[600], logpath[600];
static struct queue *q;

/* --- processes ----------------------------------------------------------- */

struct sink {
	pid_t	pid;
	int	port;
	char	dir[600];
};

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		exit(2);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
listening(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r;

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	sin.sin_port = htons((uint16_t)port);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return r;
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Polls cond every 50 ms for at most ms; returns its last value. */
static int
wait_for(int (*cond)(void *), void *arg, int ms)
{
	int64_t end = mono_ms() + ms;

	while (!cond(arg)) {
		if (mono_ms() > end)
			return cond(arg);
		msleep(50);
	}
	return 1;
}

static int
cond_listening(void *arg)
{
	return listening(*(int *)arg);
}

/* smtp-sink dumping every message into its own file under root/name;
 * port 0: a free one. */
static void
sink_start(struct sink *s, const char *name, int port, const char *fail)
{
	char tmpl[700], addr[64], logf[700];

	snprintf(s->dir, sizeof(s->dir), "%s/%s", root, name);
	mkdir(s->dir, 0777);	/* smtp-sink writes as root with -u root */
	s->port = port ? port : free_port();
	snprintf(tmpl, sizeof(tmpl), "%s/m.", s->dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->port);
	snprintf(logf, sizeof(logf), "%s.log", s->dir);
	if ((s->pid = fork()) == 0) {
		const char *argv[16];
		int n = 0, fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		argv[n++] = "smtp-sink";
		if (geteuid() == 0) {
			argv[n++] = "-u";
			argv[n++] = "root";
		}
		argv[n++] = "-d";
		argv[n++] = tmpl;
		argv[n++] = "-t";
		argv[n++] = "10";
		if (fail) {
			argv[n++] = "-f";
			argv[n++] = fail;
		}
		argv[n++] = addr;
		argv[n++] = "100";
		argv[n] = NULL;
		execvp("smtp-sink", (char *const *)argv);
		_exit(127);
	}
	ok(wait_for(cond_listening, &s->port, 5000), "smtp-sink %s%s%s on "
	    "port %d", name, fail ? " -f " : "", fail ? fail : "", s->port);
}

static void
stop_pid(pid_t pid, int ms, int *status)
{
	int64_t end = mono_ms() + ms;
	int st = -1;

	kill(pid, SIGTERM);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (mono_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			st = -1;
			break;
		}
		msleep(20);
	}
	if (status)
		*status = st;
}

/* Complete dumps in s->dir (smtp-sink appends an empty line at the
 * end of a finished transaction). */
static int
sink_files(const struct sink *s, char (*out)[700], int max)
{
	char cmd[800];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/ 2>/dev/null", s->dir);
	if ((p = popen(cmd, "r")) == NULL)
		return 0;
	while (n < max && fgets(out[n], 700, p) != NULL) {
		char path[800];
		size_t l = strlen(out[n]);
		struct stat st;
		FILE *f;
		char tail[2];

		if (l && out[n][l - 1] == '\n')
			out[n][--l] = '\0';
		snprintf(path, sizeof(path), "%s/%s", s->dir, out[n]);
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		if (stat(path, &st) == 0 && st.st_size >= 2 &&
		    fseek(f, -2, SEEK_END) == 0 && fread(tail, 1, 2, f) == 2 &&
		    tail[0] == '\n' && tail[1] == '\n')
			str_copy(out[n++], path, 700);
		fclose(f);
	}
	pclose(p);
	return n;
}

static int
sink_count(const struct sink *s)
{
	static char names[64][700];

	return sink_files(s, names, 64);
}

struct count_arg {
	const struct sink	*s;
	int			 n;
};

static int
cond_sink_count(void *arg)
{
	struct count_arg *a = arg;

	return sink_count(a->s) >= a->n;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	long n;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL) {
		*len = fread(b, 1, (size_t)n, f);
		b[*len] = '\0';
	}
	fclose(f);
	return b;
}

/* The dump in s holding needle, or NULL (malloc'd). */
static char *
sink_find(const struct sink *s, const char *needle, size_t *len)
{
	static char names[64][700];
	int i, n = sink_files(s, names, 64);

	for (i = 0; i < n; i++) {
		char *d = read_all(names[i], len);
		if (d && memmem(d, *len, needle, strlen(needle)))
			return d;
		free(d);
	}
	return NULL;
}

/* --- the queue ------------------------------------------------------------ */

struct scan {
	int	n;
	int	attempts_min, attempts_max;
	int64_t	next_min, next_max;
};

static int
scan_fn(void *arg, const struct queue_msg *m, int status)
{
	struct scan *s = arg;

	(void)status;
	if (s->n == 0 || (int)m->attempts < s->attempts_min)
		s->attempts_min = (int)m->attempts;
	if (s->n == 0 || (int)m->attempts > s->attempts_max)
		s->attempts_max = (int)m->attempts;
	if (s->n == 0 || m->next_try_us < s->next_min)
		s->next_min = m->next_try_us;
	if (s->n == 0 || m->next_try_us > s->next_max)
		s->next_max = m->next_try_us;
	s->n++;
	return 0;
}

static struct scan
scan(void)
{
	struct scan s;

	memset(&s, 0, sizeof(s));
	queue_list(q, scan_fn, &s);
	return s;
}

static int
cond_all_tried(void *arg)
{
	struct scan s = scan();

	return s.n == *(int *)arg && s.attempts_min >= 1;
}

static int
cond_queue_count(void *arg)
{
	return scan().n == *(int *)arg;
}

static int
has_msg(const char *id)
{
	struct queue_msg m;
	int st;

	queue_msg_init(&m);
	st = queue_get(q, id, &m);
	queue_msg_free(&m);
	return st == QUEUE_OK;
}

/* A message in wire form (CRLF, ends in CRLF, no line starting with a
 * dot) of about size bytes. */
static char *
make_msg(int n, size_t size, int eightbit, size_t *len)
{
	char *b = malloc(size + 1024);
	size_t o = 0;
	unsigned x = (unsigned)n * 2654435761u + 7;

	o += (size_t)sprintf(b + o, "From: <bob@sender.test>\r\n"
	    "To: <alice@example.test>\r\nSubject: runner test %d\r\n"
	    "Message-ID: <runner-%d@sender.test>\r\n\r\n", n, n);
	if (eightbit)
		o += (size_t)sprintf(b + o, "caf\xc3\xa9 cr\xc3\xa8me\r\n");
	while (o < size) {
		int col;
		for (col = 0; col < 70; col++) {
			x = x * 1103515245u + 12345u;
			b[o++] = (char)('a' + (x >> 16) % 26);
		}
		b[o++] = '\r';
		b[o++] = '\n';
	}
	*len = o;
	return b;
}

static void
put(const char *route, const char *from, const char *const *rcpts,
    const char *data, size_t len, int64_t arrival, int64_t next, char *id)
{
	struct queue_msg m;
	struct iovec iov = { (void *)data, len };
	int i, st;

	queue_msg_init(&m);
	str_copy(m.from, from, sizeof(m.from));
	str_copy(m.route_domain, route, sizeof(m.route_domain));
	for (i = 0; rcpts[i]; i++)
		queue_msg_add_rcpt(&m, rcpts[i]);
	m.arrival_us = arrival;
	m.next_try_us = next;
	st = queue_put(q, &m, &iov, 1);
	if (st != QUEUE_OK) {
		printf("# queue_put: %s\n", queue_strerror(st));
		exit(2);
	}
	str_copy(id, m.id, QUEUE_ID_LEN + 1);
	queue_msg_free(&m);
}

/* LF for CRLF, as smtp-sink writes its dumps. */
static char *
crlf_to_lf(const char *s, size_t len, size_t *out)
{
	char *d = malloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		d[o++] = s[i];
	}
	d[o] = '\0';
	*out = o;
	return d;
}

/* The dump is smtp-sink's own header lines, then exactly the message
 * (LF line ends), then the empty line it appends. */
static int
dump_matches(const char *dump, size_t dlen, const char *wire, size_t wlen)
{
	size_t elen;
	char *e = crlf_to_lf(wire, wlen, &elen);
	int r;

	r = dlen >= elen + 1 && memcmp(dump + dlen - elen - 1, e, elen) == 0 &&
	    dump[dlen - 1] == '\n' &&
	    memmem(dump, dlen - elen - 1, "(smtp-sink)", 11) != NULL &&
	    (dlen - elen - 1 == 0 || dump[dlen - elen - 2] == '\n');
	free(e);
	return r;
}

/* --- the log -------------------------------------------------------------- */

static int
log_has(const char *needle)
{
	size_t len;
	char *l = read_all(logpath, &len);
	int r = l && strstr(l, needle) != NULL;

	free(l);
	return r;
}

static int
log_count(const char *needle)
{
	size_t len;
	char *l = read_all(logpath, &len), *p;
	int n = 0;

	for (p = l; p && (p = strstr(p, needle)) != NULL; p++)
		n++;
	free(l);
	return n;
}

static int
cond_log(void *arg)
{
	return log_has(arg);
}

/* --- main ----------------------------------------------------------------- */

int
main(void)
{
	static const char *const to_alice[] = { "alice@example.test", NULL };
	static const char *const to_two[] = { "carol@example.test",
	    "dave@example.test", NULL };
	static const char *const to_bad[] = { "eve@bad.test", NULL };
	struct sandbox_ids ids = { .privileged = 0 };
	struct ipc_add_channel add = { .worker = 7 };
	struct sink sa, sb, sc;
	struct config *cf = config_new();
	char text[1024], errs[512], err[256], id[8][QUEUE_ID_LEN + 1];
	char *msg[3];
	size_t mlen[3];
	int ctl[2], ch[2], qctl[2], rch[2], port_a, st, i, n, lfd;
	struct ipc_add_channel radd = { .worker = IPC_PEER_RUNNER };
	pid_t jail, runner, owner;
	int64_t now, t0;
	FILE *ef;

	if (system("command -v smtp-sink >/dev/null 2>&1") != 0) {
		printf("1..0 # SKIP smtp-sink (Postfix) is not installed\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	str_copy(root, tq_mkroot(), sizeof(root));
	chmod(root, 0777);
	snprintf(qdir, sizeof(qdir), "%s/queue", root);
	snprintf(logpath, sizeof(logpath), "%s/mxgate.log", root);

	/* route B: the postmaster's server; route C: refuses recipients */
	sink_start(&sb, "pm", 0, NULL);
	sink_start(&sc, "bad", 0, "RCPT");
	port_a = free_port();	/* the customer: down for now */
	snprintf(text, sizeof(text), "hostname mx.runner.test\n"
	    "listen 127.0.0.1:1\nqueue %s\n"
	    "route example.test 127.0.0.1:%d\n"
	    "route ops.test 127.0.0.1:%d\n"
	    "route bad.test 127.0.0.1:%d\n"
	    "postmaster postmaster@ops.test\n"
	    "queue_lifetime 60\nrelay_timeout 5\nconnect_timeout 2\n",
	    qdir, port_a, sb.port, sc.port);
	ef = fmemopen(errs, sizeof(errs), "w");
	n = config_parse(cf, "runner.conf", text, strlen(text), ef);
	fclose(ef);
	if (!ok(n == 0, "config parses"))
		printf("# %s\n", errs);

	st = queue_open(&q, qdir, NULL, 0, QUEUE_CREATE, err, sizeof(err));
	if (!ok(st == QUEUE_OK, "queue created"))
		return printf("# %s\n", err), done_testing();

	/* three messages for the customer: one 8-bit, one over a chunk
	 * (several sealed chunks), one with two recipients */
	msg[0] = make_msg(0, 2000, 0, &mlen[0]);
	msg[1] = make_msg(1, 4000, 1, &mlen[1]);
	msg[2] = make_msg(2, QUEUE_CHUNK + 50000, 0, &mlen[2]);
	now = wall_us();
	put("example.test", "bob@sender.test", to_alice, msg[0], mlen[0], 0,
	    now - 1, id[0]);
	put("example.test", "bob@sender.test", to_alice, msg[1], mlen[1], 0,
	    now - 1, id[1]);
	put("example.test", "", to_two, msg[2], mlen[2], 0, now - 1, id[2]);

	/* the jail, as the parent starts it; then our channel */
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl);
	socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ch);
	lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
	fflush(stdout);
	if ((jail = fork()) == 0) {
		close(ctl[0]);
		close(ch[0]);
		close(ch[1]);
		dup2(lfd, 2);
		_exit(jail_main(cf, ctl[1], &ids));
	}
	close(ctl[1]);
	ok(ipc_send(ctl[0], IPC_ADD_CHANNEL, &add, sizeof(add), ch[1]) == 0,
	    "the runner's channel is handed to the jail");
	close(ch[1]);

	/* the queue owner: opens its own handle after the fork, like the
	 * parent; it schedules and hands messages to the runner */
	/* close-on-exec: the smtp-sinks started later must not hold the
	 * owner's control channel open */
	socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, qctl);
	socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rch);
	if ((owner = fork()) == 0) {
		struct queue *oq;

		close(ctl[0]);
		close(ch[0]);
		close(qctl[0]);
		close(rch[0]);
		close(rch[1]);
		dup2(lfd, 2);
		if (queue_open(&oq, qdir, NULL, 0, 0, err, sizeof(err)) !=
		    QUEUE_OK)
			_exit(3);
		_exit(queued_main(cf, oq, qctl[1], &ids));
	}
	close(qctl[1]);
	ok(ipc_send(qctl[0], IPC_ADD_CHANNEL, &radd, sizeof(radd), rch[1])
	    == 0, "the runner's channel is handed to the queue owner");
	close(rch[1]);

	/* the runner: a channel to the jail and one to the queue owner,
	 * no store */
	if ((runner = fork()) == 0) {
		close(ctl[0]);
		close(qctl[0]);
		dup2(lfd, 2);
		_exit(runner_main(cf, ch[0], rch[0], NULL, &ids));
	}
	close(ch[0]);
	close(rch[0]);

	/* (a) nothing listening */
	t0 = wall_us();
	n = 3;
	ok(wait_for(cond_all_tried, &n, 8000), "(a) down: each message was "
	    "tried once");
	{
		struct scan s = scan();
		is_int(s.n, 3, "(a) all three stay queued");
		ok(s.attempts_min == 1 && s.attempts_max == 1,
		    "(a) attempts == 1 (%d..%d)", s.attempts_min,
		    s.attempts_max);
		ok(s.next_min >= t0 + 29000000 &&
		    s.next_max <= wall_us() + 60000000,
		    "(a) next try in 30-60 s (%+.1f .. %+.1f s)",
		    (double)(s.next_min - t0) / 1e6,
		    (double)(s.next_max - t0) / 1e6);
	}
	ok(log_has("runner ready"), "(a) runner ready logged");
	is_int(log_count("status=deferred"), 4, "(a) status=deferred logged "
	    "for each of the 4 recipients");
	ok(log_has("dsn=4.4.1, status=deferred (connect to 127.0.0.1"),
	    "(a) the reason is the refused connect");
	ok(log_has("delivery temporarily suspended"), "(a) the route is not "
	    "retried for every message in the same pass");

	/* (b) the customer comes back; an admin flushes */
	{
		struct count_arg ca;
		int cnt = 0, zero = 0;
		size_t dlen;
		char *d;

		/* smtp-sink on the route's port */
		sink_start(&sa, "customer", port_a, NULL);
		st = queue_flush(q, NULL, wall_us(), &cnt);
		ok(st == QUEUE_OK && cnt == 3, "(b) queue flush: 3 messages");
		t0 = wall_us();
		st = wait_for(cond_queue_count, &zero, 8000);
		ok(st, "(b) the queue is empty %.1f s after the flush",
		    (double)(wall_us() - t0) / 1e6);
		ca.s = &sa;
		ca.n = 3;
		ok(wait_for(cond_sink_count, &ca, 3000), "(b) the customer "
		    "got three messages");
		for (i = 0; i < 3; i++) {
			char needle[64];
			snprintf(needle, sizeof(needle), "Subject: runner test "
			    "%d\n", i);
			d = sink_find(&sa, needle, &dlen);
			ok(d && dump_matches(d, dlen, msg[i], mlen[i]),
			    "(b) message %d arrived byte for byte (%zu bytes)",
			    i, mlen[i]);
			free(d);
		}
		is_int(log_count("status=sent"), 4, "(b) status=sent for the "
		    "4 recipients");
		ok(log_has(id[2]) && log_count(": removed") == 3,
		    "(b) three records removed");
	}

	/* (c) 5xx for the recipient: a report to the postmaster */
	{
		struct count_arg ca = { &sb, 1 };
		char needle[128];
		size_t dlen;
		char *d;
		int zero = 0;

		put("bad.test", "bob@sender.test", to_bad, msg[0], mlen[0], 0,
		    wall_us() - 1, id[3]);
		ok(wait_for(cond_sink_count, &ca, 8000), "(c) the postmaster's "
		    "server got a report");
		ok(wait_for(cond_queue_count, &zero, 5000), "(c) the original "
		    "and the report are gone from the queue");
		ok(!has_msg(id[3]), "(c) original removed");
		snprintf(needle, sizeof(needle), "%s: to=<eve@bad.test>", id[3]);
		ok(log_has(needle) && log_has("dsn=5.3.0, status=bounced (500 5.3.0"),
		    "(c) status=bounced logged with the 5xx reply");
		snprintf(needle, sizeof(needle), "%s: postmaster non-delivery "
		    "notification: ", id[3]);
		ok(log_has(needle), "(c) the report's queue id is logged");
		d = sink_find(&sb, "eve@bad.test", &dlen);
		ok(d && memmem(d, dlen, "multipart/report", 16) &&
		    memmem(d, dlen, "report-type=delivery-status", 27) &&
		    memmem(d, dlen, "Final-Recipient: rfc822; eve@bad.test",
		    37) && memmem(d, dlen, "Subject: runner test 0", 22),
		    "(c) it is a multipart/report naming the recipient, with "
		    "the original headers");
		free(d);
	}

	/* (d) expiry: arrived 2 minutes ago, lifetime 60 s */
	{
		struct count_arg ca = { &sb, 2 };
		char needle[128];
		size_t dlen;
		char *d;
		int zero = 0, before = sink_count(&sa);

		now = wall_us();
		put("example.test", "bob@sender.test", to_alice, msg[1],
		    mlen[1], now - 120000000, now - 1, id[4]);
		put("example.test", "", to_alice, msg[0], mlen[0],
		    now - 120000000, now - 1, id[5]);
		ok(wait_for(cond_sink_count, &ca, 8000), "(d) a second report "
		    "reached the postmaster");
		ok(wait_for(cond_queue_count, &zero, 5000), "(d) the expired "
		    "messages are gone");
		snprintf(needle, sizeof(needle), "%s: to=<alice@example.test>, "
		    "relay=none", id[4]);
		ok(log_has(needle) && log_has("dsn=4.4.7, status=expired, "
		    "returned to postmaster (message expired"),
		    "(d) status=expired, returned to postmaster logged");
		snprintf(needle, sizeof(needle), "%s: removed", id[4]);
		ok(log_has(needle), "(d) expired message removed");
		snprintf(needle, sizeof(needle), "%s: removed", id[5]);
		ok(log_has(needle), "(d) expired message from <> removed");
		snprintf(needle, sizeof(needle), "%s: postmaster non-delivery",
		    id[5]);
		ok(!log_has(needle), "(d) ... without a report");
		is_int(sink_count(&sa), before, "(d) nothing expired was "
		    "delivered to the customer");
		d = sink_find(&sb, "Subject: runner test 1", &dlen);
		ok(d && memmem(d, dlen, "multipart/report", 16) &&
		    memmem(d, dlen, "Status: 4.4.7", 13),
		    "(d) the report says 4.4.7");
		free(d);
		is_int(sink_count(&sb), 2, "(d) exactly two reports in all");
	}

	/* SIGTERM: finish, exit 0 */
	t0 = mono_ms();
	stop_pid(runner, 5000, &st);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: the runner exits "
	    "0 (status %d, %lld ms)", st, (long long)(mono_ms() - t0));
	ok(wait_for(cond_log, "runner stopped", 1000), "runner stopped logged");
	ok(!log_has("mxgate: "), "no fatal message in the log");

	close(qctl[0]);
	for (t0 = mono_ms(), st = -1; mono_ms() - t0 < 3000 &&
	    waitpid(owner, &st, WNOHANG) == 0; st = -1)
		msleep(20);
	if (st == -1)
		stop_pid(owner, 100, NULL);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the queue owner ends with "
	    "its channels (status %d)", st);
	close(ctl[0]);
	stop_pid(jail, 3000, NULL);
	stop_pid(sa.pid, 3000, NULL);
	stop_pid(sb.pid, 3000, NULL);
	stop_pid(sc.pid, 3000, NULL);
	if (tap_failed) {
		size_t len;
		char *l = read_all(logpath, &len);
		printf("# log:\n");
		for (char *p = l, *e; p && *p; p = e + 1) {
			if ((e = strchr(p, '\n')) == NULL)
				break;
			printf("#  %.*s\n", (int)(e - p), p);
		}
		free(l);
	}
	queue_close(q);
	for (i = 0; i < 3; i++)
		free(msg[i]);
	config_free(cf);
	tq_rmtree(root);
	return done_testing();
}
