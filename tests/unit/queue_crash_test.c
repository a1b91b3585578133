/*
 * queue_crash_test.c — kill -9 at random moments: a child puts messages
 * in a loop and reports each id over a pipe only after queue_put()
 * returned QUEUE_OK (the moment the relay would say 250). The parent
 * kills it, reopens the queue and checks that every reported message is
 * present and byte-exact, and that no record in the store is damaged.
 * Bounded: ROUNDS rounds of at most 300 ms each.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "util.h"
#include "tap.h"
#include "queue_util.h"

#define ROUNDS		6
#define REC_MAX		20000
#define LINE_LEN	64

static char dir[600];

struct rec {
	char		id[QUEUE_ID_LEN + 1];
	unsigned	seq;
	size_t		size;
};

static void __attribute__((noreturn))
child(int fd, unsigned base)
{
	struct queue *q;
	struct queue_msg m;
	struct iovec iov;
	char err[256], line[LINE_LEN];
	unsigned seq;
	char *body;
	size_t size;
	int n;

	if (queue_open(&q, dir, NULL, 256ull << 20, QUEUE_CREATE, err,
	    sizeof(err)) != QUEUE_OK) {
		fprintf(stderr, "child: %s\n", err);
		_exit(3);
	}
	for (seq = base; seq < base + 100000; seq++) {
		size = 200 + (seq * 7919u) % 30000;
		body = tq_body(size, seq);
		queue_msg_init(&m);
		str_copy(m.from, "crash@ext.example", sizeof(m.from));
		queue_msg_add_rcpt(&m, "rcpt@example.test");
		iov.iov_base = body;
		iov.iov_len = size;
		if (queue_put(q, &m, &iov, 1) != QUEUE_OK)
			_exit(4);
		/* only now would the sender get its 250 */
		n = snprintf(line, sizeof(line), "%s %u %zu\n", m.id, seq, size);
		if (write(fd, line, (size_t)n) != n)
			_exit(5);
		queue_msg_free(&m);
		free(body);
	}
	_exit(0);
}

struct cmp {
	const char	*want;
	size_t		 off, len;
	int		 bad;
};

static int
cmp_fn(void *arg, const void *buf, size_t len)
{
	struct cmp *c = arg;

	if (c->off + len > c->len || memcmp(c->want + c->off, buf, len) != 0)
		c->bad = 1;
	c->off += len;
	return 0;
}

static int
list_fn(void *arg, const struct queue_msg *m, int status)
{
	int *n = arg;

	n[0]++;
	if (status != QUEUE_OK)
		n[1]++;
	return 0;
}

int
main(void)
{
	static struct rec recs[REC_MAX];
	static char buf[REC_MAX * LINE_LEN];
	struct queue *q;
	struct timespec ts;
	char err[256];
	size_t have = 0;
	int nrec = 0, round, fds[2], status, missing = 0, damaged = 0;
	int counts[2] = { 0, 0 }, killed = 0, i;
	pid_t pid;
	ssize_t r;

	tq_mkroot();
	snprintf(dir, sizeof(dir), "%s/queue", tq_root);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	for (round = 0; round < ROUNDS; round++) {
		if (pipe(fds) != 0)
			return 2;
		if ((pid = fork()) == 0) {
			close(fds[0]);
			child(fds[1], (unsigned)round * 100000u);
		}
		close(fds[1]);
		ts.tv_sec = 0;
		ts.tv_nsec = (50 + rand() % 250) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			killed++;
		else
			printf("# round %d: child exited with status %d\n",
			    round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		for (;;) {	/* bounded: the pipe holds what the child wrote */
			r = read(fds[0], buf + have, sizeof(buf) - have - 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			have += (size_t)r;
		}
		close(fds[0]);
	}
	buf[have] = '\0';
	{
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL && nrec < REC_MAX) {
			*nl = '\0';
			if (sscanf(line, "%18s %u %zu", recs[nrec].id,
			    &recs[nrec].seq, &recs[nrec].size) == 3)
				nrec++;
			line = nl + 1;
		}
	}
	ok(killed == ROUNDS, "the writer was killed with -9 %d times", killed);
	ok(nrec > 0, "%d puts reported durable before the kills", nrec);

	status = queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	if (!ok(status == QUEUE_OK, "queue reopens after kill -9"))
		printf("# %s\n", err);
	if (status != QUEUE_OK)
		return done_testing();
	for (i = 0; i < nrec; i++) {
		struct cmp c = { 0 };
		char *want = tq_body(recs[i].size, recs[i].seq);
		int st;
		c.want = want;
		c.len = recs[i].size;
		st = queue_get_body(q, recs[i].id, cmp_fn, &c);
		if (st == QUEUE_NOTFOUND)
			missing++;
		else if (st != QUEUE_OK || c.bad || c.off != c.len)
			damaged++;
		free(want);
	}
	is_int(missing, 0, "every acknowledged message is present");
	is_int(damaged, 0, "every acknowledged message is byte-exact");
	is_int(queue_list(q, list_fn, counts), QUEUE_OK, "list the survivors");
	ok(counts[0] >= nrec && counts[0] <= nrec + ROUNDS, "%d stored: the "
	    "acknowledged ones plus at most one unacknowledged per kill",
	    counts[0]);
	is_int(counts[1], 0, "no damaged record");
	queue_close(q);
	tq_rmtree(tq_root);
	return done_testing();
}
