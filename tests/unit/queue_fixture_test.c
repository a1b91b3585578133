/*
 * queue_fixture_test.c — a small known queue for the mxgatectl tests.
 *
 *   queue_fixture_test.t --populate DIR   creates the queue in DIR (key
 *                                         beside it), prints the 3 ids
 *   queue_fixture_test.t                  self-test (TAP) in a scratch dir
 *
 * Test-only: never built into mxgate or mxgatectl.
 */
#include <string.h>

#include "queue.h"
#include "util.h"
#include "tap.h"
#include "queue_util.h"

static int
add(struct queue *q, const char *from, const char *rcpt1, const char *rcpt2,
    const char *body, uint32_t attempts, const char *why, FILE *ids)
{
	struct queue_msg m;
	struct iovec iov = { (void *)body, strlen(body) };
	int64_t now = wall_us();
	int st, i;

	queue_msg_init(&m);
	str_copy(m.from, from, sizeof(m.from));
	str_copy(m.route_domain, "example.test", sizeof(m.route_domain));
	queue_msg_add_rcpt(&m, rcpt1);
	if (rcpt2 != NULL)
		queue_msg_add_rcpt(&m, rcpt2);
	m.arrival_us = now - 7200LL * 1000000;	/* two hours old */
	m.next_try_us = now + 1800LL * 1000000;
	m.attempts = attempts;
	for (i = 0; i < m.nrcpt && why != NULL; i++)
		queue_set_result(&m, i, QRCPT_PENDING, "4.3.0", why);
	if (why != NULL)
		queue_msg_add_attempt(&m, now - 600LL * 1000000,
		    "127.0.0.1:2526", why);
	st = queue_put(q, &m, &iov, 1);
	if (st == QUEUE_OK && ids != NULL)
		fprintf(ids, "%s\n", m.id);
	queue_msg_free(&m);
	return st;
}

static int
populate(const char *dir, FILE *ids)
{
	struct queue *q;
	char err[256];
	int st;

	if ((st = queue_open(&q, dir, NULL, 64ull << 20, QUEUE_CREATE, err,
	    sizeof(err))) != QUEUE_OK) {
		fprintf(stderr, "fixture: %s\n", err);
		return st;
	}
	st = add(q, "alice@ext.example", "bob@example.test",
	    "carol@example.test", "Received: from client.ext.example\r\n"
	    "Subject: fixture one\r\n\r\nBODY-MARKER-ONE\r\n", 2,
	    "451 4.3.0 try later", ids);
	if (st == QUEUE_OK)
		st = add(q, "", "postmaster@example.test", NULL,
		    "Subject: fixture two\r\n\r\nBODY-MARKER-TWO\r\n", 1,
		    "connect to 127.0.0.1:2526: Connection refused", ids);
	if (st == QUEUE_OK)
		st = add(q, "dave@ext.example", "erin@example.test", NULL,
		    "Subject: fixture three\r\n\r\nBODY-MARKER-THREE\r\n", 1,
		    NULL, ids);
	queue_close(q);
	return st;
}

static int
count_fn(void *arg, const struct queue_msg *m, int status)
{
	if (status == QUEUE_OK)
		(*(int *)arg)++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct queue *q;
	char dir[600], err[256];
	int n = 0;

	if (argc == 3 && strcmp(argv[1], "--populate") == 0)
		return populate(argv[2], stdout) == QUEUE_OK ? 0 : 1;
	tq_mkroot();
	snprintf(dir, sizeof(dir), "%s/queue", tq_root);
	is_int(populate(dir, NULL), QUEUE_OK, "fixture populates");
	ok(queue_open(&q, dir, NULL, 0, 0, err, sizeof(err)) == QUEUE_OK &&
	    queue_list(q, count_fn, &n) == QUEUE_OK && n == 3,
	    "fixture holds 3 readable messages");
	queue_close(q);
	tq_rmtree(tq_root);
	return done_testing();
}
