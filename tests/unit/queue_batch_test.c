/*
 * queue_batch_test.c — group commit: queue_put_many() stores a batch in
 * one transaction, all or none; the queue owner relies on it to take many
 * outage messages per fsync; queue_update_many() writes a pass's
 * deferrals the same way.
 */
#include <stdio.h>
#include <string.h>

#include "queue.h"
#include "queue_util.h"
#include "tap.h"

struct sink {
	char	buf[4096];
	size_t	len;
};

static int
collect(void *arg, const void *data, size_t len)
{
	struct sink *s = arg;

	if (s->len + len > sizeof(s->buf))
		return 1;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

int
main(void)
{
	const char *root = tq_mkroot();
	char dir[600], err[256], text[8][64];
	struct queue_msg msg[8], *m[8];
	struct iovec iov[8];
	struct queue *q;
	struct sink got;
	int i, st, total, n;
	int64_t next;
	char (*ids)[QUEUE_ID_LEN + 1] = calloc(16, sizeof(*ids));

	snprintf(dir, sizeof(dir), "%s/q", root);
	is_int(queue_open(&q, dir, NULL, 8u << 20, QUEUE_CREATE, err,
	    sizeof(err)), QUEUE_OK, "open a new queue");
	for (i = 0; i < 8; i++) {
		queue_msg_init(&msg[i]);
		snprintf(msg[i].from, sizeof(msg[i].from), "s%d@sender.test", i);
		snprintf(msg[i].route_domain, sizeof(msg[i].route_domain),
		    "example.test");
		queue_msg_add_rcpt(&msg[i], "alice@example.test");
		snprintf(text[i], sizeof(text[i]), "Subject: %d\r\n\r\nbody %d\r\n",
		    i, i);
		iov[i].iov_base = text[i];
		iov[i].iov_len = strlen(text[i]);
		m[i] = &msg[i];
	}
	st = queue_put_many(q, m, iov, 5);
	is_int(st, QUEUE_OK, "five messages in one transaction");
	for (i = 0; i < 5; i++)
		ok(msg[i].id[0] != '\0', "message %d got an id", i);
	for (i = 0; i < 5; i++) {
		memset(&got, 0, sizeof(got));
		ok(queue_get_body(q, msg[i].id, collect, &got) == QUEUE_OK &&
		    got.len == iov[i].iov_len &&
		    memcmp(got.buf, text[i], got.len) == 0,
		    "message %d reads back byte-exact", i);
	}
	/* all or none: one bad envelope aborts the whole batch */
	msg[6].rcpt[0].addr[0] = '\0';
	msg[6].nrcpt = 0;
	st = queue_put_many(q, &m[5], &iov[5], 3);
	ok(st != QUEUE_OK, "a batch with a bad envelope is refused");
	n = queue_due(q, INT64_MAX / 2, ids, 16, &next, &total);
	is_int(total, 5, "and none of it was stored");
	ok(n == 5, "the five good ones are due later");
	is_int(queue_put_many(q, m, iov, 0), QUEUE_EINVAL, "empty batch");

	/* deferrals together: one deferred, one removed meanwhile, one
	 * delivered */
	{
		struct queue_msg u[3], *up[3];
		int ust[3], due0;
		int64_t later = INT64_MAX / 2 + 1000;

		for (i = 0; i < 3; i++) {
			queue_msg_init(&u[i]);
			is_int(queue_get(q, msg[i].id, &u[i]), QUEUE_OK,
			    "read message %d back", i);
			u[i].attempts++;
			u[i].next_try_us = later;
			up[i] = &u[i];
		}
		queue_set_result(&u[2], 0, QRCPT_SENT, "2.0.0", "250 ok");
		is_int(queue_delete(q, msg[1].id), QUEUE_OK, "delete message 1");
		due0 = queue_due(q, INT64_MAX / 2, ids, 16, &next, &total);
		st = queue_update_many(q, up, 3, ust);
		is_int(st, QUEUE_OK, "three updates in one transaction");
		ok(ust[0] == QUEUE_OK && ust[1] == QUEUE_NOTFOUND &&
		    ust[2] == QUEUE_DONE, "each with its status: ok, removed "
		    "meanwhile, done");
		n = queue_due(q, INT64_MAX / 2, ids, 16, &next, &total);
		if (!ok(due0 == 4 && n == 2 && total == 3 && next == later,
		    "the deferred one left the due ones, the delivered one "
		    "is gone"))
			printf("# due0 %d n %d total %d next %lld\n", due0, n,
			    total, (long long)next);
		u[0].nrcpt = 2;		/* not the stored envelope: refused */
		st = queue_update_many(q, up, 1, ust);
		ok(st != QUEUE_OK, "a bad update refuses the batch");
		u[0].nrcpt = 1;
		for (i = 0; i < 3; i++)
			queue_msg_free(&u[i]);
	}
	for (i = 0; i < 8; i++)
		queue_msg_free(&msg[i]);
	queue_close(q);
	free(ids);
	tq_rmtree(root);
	return done_testing();
}
