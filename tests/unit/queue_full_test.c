/*
 * queue_full_test.c — a full LMDB map: queue_put() returns the distinct
 * QUEUE_FULL (the relay's 452 4.3.1), nothing half-written stays, every
 * message stored before remains readable, and space freed by a delete
 * is usable again.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "util.h"
#include "tap.h"
#include "queue_util.h"

#define N_MAX	200

static int
count_fn(void *arg, const struct queue_msg *m, int status)
{
	int *n = arg;

	if (status == QUEUE_OK)
		(*n)++;
	return 0;
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
put(struct queue *q, const char *body, size_t len, char *id)
{
	struct queue_msg m;
	struct iovec iov = { (void *)body, len };
	int st;

	queue_msg_init(&m);
	str_copy(m.from, "a@ext.example", sizeof(m.from));
	queue_msg_add_rcpt(&m, "b@example.test");
	st = queue_put(q, &m, &iov, 1);
	memcpy(id, m.id, QUEUE_ID_LEN + 1);
	queue_msg_free(&m);
	return st;
}

int
main(void)
{
	static char ids[N_MAX][QUEUE_ID_LEN + 1];
	struct queue *q;
	char dir[600], err[256], spare[QUEUE_ID_LEN + 1];
	size_t len = 100 * 1024;
	char *body = tq_body(len, 9);
	int i, n, st = QUEUE_OK, listed = 0, bad = 0;
	struct cmp c;

	tq_mkroot();
	snprintf(dir, sizeof(dir), "%s/queue", tq_root);
	st = queue_open(&q, dir, NULL, 1u << 20, QUEUE_CREATE, err,
	    sizeof(err));
	if (!ok(st == QUEUE_OK, "1 MiB queue created"))
		printf("# %s\n", err);
	for (n = 0; n < N_MAX; n++) {
		st = put(q, body, len, ids[n]);
		if (st != QUEUE_OK)
			break;
	}
	ok(n > 0 && n < N_MAX, "%d messages of 100 KB fit", n);
	is_int(st, QUEUE_FULL, "then queue_put returns QUEUE_FULL");
	is_int(put(q, body, len, spare), QUEUE_FULL, "and again");
	is_int(put(q, body, len, spare), QUEUE_FULL, "and again, no leak");
	is_int(queue_list(q, count_fn, &listed), QUEUE_OK,
	    "full queue: list works");
	is_int(listed, n, "every stored message listed, no partial one");
	for (i = 0; i < n; i++) {
		memset(&c, 0, sizeof(c));
		c.want = body;
		c.len = len;
		if (queue_get_body(q, ids[i], cmp_fn, &c) != QUEUE_OK ||
		    c.bad || c.off != len)
			bad++;
	}
	is_int(bad, 0, "full queue: every body reads back byte-exact");
	is_int(queue_delete(q, ids[0]), QUEUE_OK, "delete works when full");
	is_int(queue_delete(q, ids[1]), QUEUE_OK, "delete another");
	/* freed pages are reusable once no reader needs them */
	for (i = 0; i < 3 && (st = put(q, "x", 1, spare)) == QUEUE_OK; i++)
		;	/* commits that let LMDB recycle the freed pages */
	is_int(st, QUEUE_OK, "small puts work");
	is_int(put(q, body, len, spare), QUEUE_OK, "space is reused");
	queue_close(q);
	st = queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	if (st != QUEUE_OK)
		printf("# %s\n", err);
	listed = 0;
	ok(st == QUEUE_OK && queue_list(q, count_fn, &listed) == QUEUE_OK &&
	    listed == n + 2, "reopened: %d messages", listed);
	queue_close(q);
	free(body);
	tq_rmtree(tq_root);
	return done_testing();
}
