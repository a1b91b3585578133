/*
 * queue_store_test.c — the outage queue store (queue.h): byte-exact round
 * trips (including a 10 MB body), sealing at rest (no marker in
 * data.mdb, per-message keys, wrong key and tampering detected), shredding,
 * the admin state (hold, release, flush), the scheduler scan, updates and
 * bounces, the retry policy and the log lines.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "qcrypt.h"
#include "queue.h"
#include "util.h"
#include "tap.h"
#include "queue_util.h"

#define MARKER	"MXGATE-SECRET-MARKER-7f3a9c"

static char dir[600], keyfile[600], datafile[700];

struct sink {
	char	*buf;
	size_t	 len, cap;
	int	 calls;
	size_t	 maxchunk;
};

static int
sink_fn(void *arg, const void *data, size_t len)
{
	struct sink *s = arg;

	if (s->len + len > s->cap) {
		size_t cap = (s->len + len) * 2;
		char *b = realloc(s->buf, cap);
		if (b == NULL)
			return -1;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->calls++;
	if (len > s->maxchunk)
		s->maxchunk = len;
	return 0;
}

static void
sink_reset(struct sink *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static void
envelope(struct queue_msg *m, const char *from, int nrcpt)
{
	char addr[64];
	int i;

	queue_msg_init(m);
	str_copy(m->from, from, sizeof(m->from));
	str_copy(m->route_domain, "example.test", sizeof(m->route_domain));
	for (i = 0; i < nrcpt; i++) {
		snprintf(addr, sizeof(addr), "user%d@example.test", i);
		queue_msg_add_rcpt(m, addr);
	}
	m->attempts = 1;
}

static int
put_simple(struct queue *q, const char *body, int64_t next, char *id)
{
	struct queue_msg m;
	struct iovec iov = { (void *)body, strlen(body) };
	int st;

	envelope(&m, "sender@ext.example", 2);
	m.next_try_us = next;
	st = queue_put(q, &m, &iov, 1);
	if (id != NULL)
		memcpy(id, m.id, QUEUE_ID_LEN + 1);
	queue_msg_free(&m);
	return st;
}

/* Raw LMDB access (the queue must be closed): find or change records. */
static int
raw_count_prefix(const char *dbname, const char *prefix)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	int n = 0, rc, guard = 0;

	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
	    mdb_env_open(env, dir, MDB_RDONLY, 0600))
		return -1;
	mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (mdb_dbi_open(txn, dbname, 0, &dbi) == 0 &&
	    mdb_cursor_open(txn, dbi, &c) == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		while (rc == 0 && guard++ < 100000) {
			if (k.mv_size >= strlen(prefix) &&
			    memcmp(k.mv_data, prefix, strlen(prefix)) == 0)
				n++;
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(c);
	} else
		n = -1;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

/* Copies (op 0) or flips a byte in (op 1) a record's value. */
static int
raw_record(const char *dbname, const void *key, size_t klen, size_t at,
    unsigned char *out, size_t outlen, int flip)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { klen, (void *)key }, v;
	unsigned char *copy;
	int rc;

	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
	    mdb_env_open(env, dir, 0, 0600))
		return -1;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0 &&
	    (rc = mdb_dbi_open(txn, dbname, 0, &dbi)) == 0 &&
	    (rc = mdb_get(txn, dbi, &k, &v)) == 0) {
		if (out != NULL)
			memcpy(out, v.mv_data, outlen < v.mv_size ? outlen :
			    v.mv_size);
		if (flip && at < v.mv_size) {
			copy = malloc(v.mv_size);
			memcpy(copy, v.mv_data, v.mv_size);
			copy[at] ^= 0x5a;
			v.mv_data = copy;
			rc = mdb_put(txn, dbi, &k, &v, 0);
			free(copy);
		}
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

static int
list_count(void *arg, const struct queue_msg *m, int status)
{
	int *n = arg;

	n[0]++;
	if (status != QUEUE_OK)
		n[1]++;
	return 0;
}

static int
id_ok(const char *id)
{
	size_t i;

	if (strlen(id) != QUEUE_ID_LEN)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return 1;
}

static void
test_policy(void)
{
	uint32_t a, rnds[] = { 0, 1, 77, 123456789, UINT32_MAX };
	int64_t lo_prev = 0, d;
	size_t r;
	int bad = 0, monotone = 1, capped = 1;

	for (r = 0; r < ARRAY_LEN(rnds); r++) {
		d = queue_retry_delay_us(1, rnds[r]);
		if (d < 30000000 || d > 60000000)
			bad++;
	}
	ok(bad == 0, "first retry comes within 30-60 s for every jitter");
	for (a = 1; a <= 40; a++) {
		int64_t lo = INT64_MAX, hi = 0;
		for (r = 0; r < ARRAY_LEN(rnds); r++) {
			d = queue_retry_delay_us(a, rnds[r]);
			if (d < lo) lo = d;
			if (d > hi) hi = d;
		}
		if (hi > 3600000000LL)
			capped = 0;
		if (lo < lo_prev)
			monotone = 0;
		lo_prev = lo;
	}
	ok(capped, "no delay is ever over an hour (attempts 1-40)");
	ok(monotone, "the lower bound never shrinks with more attempts");
	is_int(queue_retry_delay_us(2, 0), 60000000, "attempt 2: at least 60 s");
	is_int(queue_retry_delay_us(2, 60000000), 120000000,
	    "attempt 2: at most 120 s");
	is_int(queue_retry_delay_us(20, 0), 1800000000, "late: at least 30 min");
	is_int(queue_retry_delay_us(UINT32_MAX, 1800000000u), 3600000000LL,
	    "huge attempt count: capped at 1 h, no overflow");
	ok(queue_retry_delay_us(5, 1) != queue_retry_delay_us(5, 99991),
	    "jitter spreads retries");
	{
		struct queue_msg m;
		int64_t now = 1700000000000000LL;
		queue_msg_init(&m);
		m.arrival_us = now - 15LL * 86400 * 1000000;
		ok(queue_expired(&m, now, 15 * 86400), "expired at 15 d");
		ok(!queue_expired(&m, now - 1000000, 15 * 86400),
		    "not expired a second before");
		ok(!queue_expired(&m, now, UINT64_MAX), "huge lifetime: never");
		/* the arrival time is clear and may have been rewritten */
		m.arrival_us = INT64_MIN;
		is_int(queue_age_us(&m, now), INT64_MAX,
		    "arrival INT64_MIN: age saturates");
		ok(queue_expired(&m, now, 15 * 86400),
		    "arrival INT64_MIN: expired, no overflow");
		is_int(queue_age_us(&m, INT64_MAX), INT64_MAX,
		    "now INT64_MAX: age saturates");
		m.arrival_us = INT64_MAX;
		is_int(queue_age_us(&m, INT64_MIN), 0,
		    "arrival in the future: age 0");
		ok(!queue_expired(&m, now, 1), "arrival INT64_MAX: not expired");
	}
}

static void
test_log_lines(void)
{
	struct queue_msg m;
	char buf[512];
	int n;

	envelope(&m, "alice@ext.example", 2);
	memcpy(m.id, "0123456789ABCDEF01", QUEUE_ID_LEN + 1);
	m.arrival_us = 1000000;
	m.size = 10240;
	n = queue_log_line(buf, sizeof(buf), &m, QEV_QUEUED, 0, NULL, 0);
	is_str(buf, "0123456789ABCDEF01: from=<alice@ext.example>, size=10240, "
	    "nrcpt=2 (queue active)", "log: queued");
	ok(n == (int)strlen(buf), "log: length returned");
	queue_set_result(&m, 0, QRCPT_PENDING, "4.4.1",
	    "connect to 127.0.0.1:2526: Connection refused\r\n");
	queue_log_line(buf, sizeof(buf), &m, QEV_DEFERRED, 0, NULL, 3500000);
	is_str(buf, "0123456789ABCDEF01: to=<user0@example.test>, relay=none, "
	    "delay=2.50, dsn=4.4.1, status=deferred (connect to "
	    "127.0.0.1:2526: Connection refused?" "?)", "log: deferred, "
	    "controls replaced");
	queue_set_result(&m, 1, QRCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued");
	queue_log_line(buf, sizeof(buf), &m, QEV_SENT, 1,
	    "mx.example.test[127.0.0.1]:2526", 601000000);
	is_str(buf, "0123456789ABCDEF01: to=<user1@example.test>, "
	    "relay=mx.example.test[127.0.0.1]:2526, delay=600, dsn=2.0.0, "
	    "status=sent (250 2.0.0 Ok: queued)", "log: sent");
	queue_set_result(&m, 0, QRCPT_FAILED, "", "");
	queue_log_line(buf, sizeof(buf), &m, QEV_EXPIRED, 0, NULL, 1000000);
	is_str(buf, "0123456789ABCDEF01: to=<user0@example.test>, relay=none, "
	    "delay=0.00, dsn=4.4.7, status=expired, returned to postmaster "
	    "(message expired)", "log: expired");
	queue_log_line(buf, sizeof(buf), &m, QEV_REMOVED, 0, NULL, 0);
	is_str(buf, "0123456789ABCDEF01: removed", "log: removed");
	is_int(queue_log_line(buf, 20, &m, QEV_QUEUED, 0, NULL, 0), -1,
	    "log: too small a buffer is an error, not a cut");
	is_int(queue_log_line(buf, sizeof(buf), &m, QEV_SENT, 5, NULL, 0), -1,
	    "log: bad recipient index");
	queue_msg_free(&m);
}

static void
test_msg_api(void)
{
	struct queue_msg m;
	char longtext[2000], addr[64];
	int i, fails = 0;

	queue_msg_init(&m);
	for (i = 0; i < QUEUE_RCPT_MAX; i++) {
		snprintf(addr, sizeof(addr), "u%d@example.test", i);
		if (queue_msg_add_rcpt(&m, addr) != 0)
			fails++;
	}
	is_int(fails, 0, "%d recipients accepted", QUEUE_RCPT_MAX);
	is_int(queue_msg_add_rcpt(&m, "one@more.test"), -1,
	    "recipient %d refused", QUEUE_RCPT_MAX + 1);
	is_int(queue_msg_add_rcpt(&m, ""), -1, "empty recipient refused");
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	queue_set_result(&m, 3, QRCPT_PENDING, "4.0.0", longtext);
	ok(strlen(m.rcpt[3].last_error) == QUEUE_TEXT_MAX - 1 &&
	    strcmp(m.rcpt[3].last_error + QUEUE_TEXT_MAX - 4, "...") == 0,
	    "a long reply is cut visibly with '...'");
	for (i = 0; i < QUEUE_HIST_MAX + 3; i++) {
		snprintf(addr, sizeof(addr), "try %d", i);
		queue_msg_add_attempt(&m, i, "", addr);
	}
	ok(m.nhist == QUEUE_HIST_MAX && strcmp(m.hist[0].result, "try 3") == 0
	    && strcmp(m.hist[QUEUE_HIST_MAX - 1].result, "try 10") == 0,
	    "history keeps the latest %d attempts", QUEUE_HIST_MAX);
	queue_msg_free(&m);
}

/* Empties the "due" index as a build without it would leave it (the
 * queue must be closed). 0 ok. */
static int
raw_drop_due(void)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	int rc;

	if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
	    mdb_env_open(env, dir, 0, 0600))
		return -1;
	rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0 && (rc = mdb_dbi_open(txn, "due", 0, &dbi)) == 0 &&
	    (rc = mdb_drop(txn, dbi, 0)) == 0)
		rc = mdb_txn_commit(txn);
	else if (rc == 0)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0 ? 0 : -1;
}

/* The scheduler's index: due order, held messages left out, every change
 * of a record carried into it, and rebuilt on QUEUE_REINDEX. */
static void
test_due_index(void)
{
	struct queue *q;
	struct queue_msg g;
	char err[256], a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	char c[QUEUE_ID_LEN + 1], d[QUEUE_ID_LEN + 1], e[QUEUE_ID_LEN + 1];
	char due[8][QUEUE_ID_LEN + 1];
	int64_t now = wall_us(), next;
	int n, total;

	snprintf(dir, sizeof(dir), "%s/due", tq_root);
	if (!ok(queue_open(&q, dir, NULL, 16ull << 20, QUEUE_CREATE, err,
	    sizeof(err)) == QUEUE_OK, "index: queue created")) {
		printf("# %s\n", err);
		return;
	}
	put_simple(q, "Subject: a\r\n\r\na\r\n", now - 10000000, a);
	put_simple(q, "Subject: b\r\n\r\nb\r\n", now - 30000000, b);
	put_simple(q, "Subject: c\r\n\r\nc\r\n", now - 20000000, c);
	put_simple(q, "Subject: d\r\n\r\nd\r\n", now + 100000000, d);
	put_simple(q, "Subject: e\r\n\r\ne\r\n", now - 40000000, e);
	is_int(queue_hold(q, e), QUEUE_OK, "index: hold e");
	n = queue_due(q, now, due, 8, &next, &total);
	ok(n == 3 && strcmp(due[0], b) == 0 && strcmp(due[1], c) == 0 &&
	    strcmp(due[2], a) == 0 && next == now + 100000000 && total == 5,
	    "index: due earliest first, the held one left out, next is d's");
	n = queue_due(q, now, due, 2, &next, NULL);
	ok(n == 2 && strcmp(due[1], c) == 0 && next == now - 10000000,
	    "index: max 2, next is the first one not returned");
	queue_close(q);
	is_int(raw_count_prefix("due", ""), 4, "index: 4 entries (not e)");

	ok(raw_drop_due() == 0, "index: emptied, as an older build leaves it");
	queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	n = queue_due(q, now, due, 8, &next, &total);
	ok(n == 0 && total == 5, "index: the scan reads the index only");
	queue_close(q);
	ok(queue_open(&q, dir, NULL, 0, QUEUE_REINDEX, err, sizeof(err)) ==
	    QUEUE_OK, "index: QUEUE_REINDEX");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 3 && strcmp(due[0], b) == 0 && strcmp(due[2], a) == 0,
	    "index: rebuilt from the records");

	is_int(queue_hold(q, b), QUEUE_OK, "index: hold b");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 2 && strcmp(due[0], c) == 0, "index: held b leaves it");
	is_int(queue_release(q, e), QUEUE_OK, "index: release e");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 3 && strcmp(due[0], e) == 0, "index: released e is back first");
	is_int(queue_flush(q, NULL, now, &n), QUEUE_OK, "index: flush all");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 4 && strcmp(due[3], d) == 0 && next == INT64_MAX,
	    "index: flushed d is due, last");
	queue_msg_init(&g);
	queue_get(q, c, &g);
	g.attempts++;
	g.next_try_us = now + 5000000;
	is_int(queue_update(q, &g), QUEUE_OK, "index: c deferred 5 s");
	queue_msg_free(&g);
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 3 && next == now + 5000000, "index: c moved to its new time");
	queue_msg_init(&g);
	queue_get(q, a, &g);
	queue_set_result(&g, 0, QRCPT_SENT, "2.0.0", "250 ok");
	queue_set_result(&g, 1, QRCPT_SENT, "2.0.0", "250 ok");
	is_int(queue_update(q, &g), QUEUE_DONE, "index: a delivered");
	queue_msg_free(&g);
	is_int(queue_delete(q, d), QUEUE_OK, "index: d deleted");
	is_int(queue_delete(q, b), QUEUE_OK, "index: held b deleted");
	n = queue_due(q, now, due, 8, &next, &total);
	ok(n == 1 && strcmp(due[0], e) == 0 && next == now + 5000000 &&
	    total == 2, "index: e due, c next");
	queue_close(q);
	is_int(raw_count_prefix("due", ""), 2, "index: 2 entries left");
}

int
main(void)
{
	struct queue *q;
	struct queue_msg m, g;
	struct sink s = { 0 };
	struct iovec iov[3];
	char err[512], id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	char id3[QUEUE_ID_LEN + 1], wrongkey[700], due[8][QUEUE_ID_LEN + 1];
	char *big, *body;
	unsigned char c1[64], c2[64], bk[QUEUE_ID_LEN + 4];
	struct stat st;
	int64_t now, next;
	int rc, n, total, counts[2], i;
	size_t bigsz = 10u * 1024 * 1024 + 12345;

	tq_mkroot();
	snprintf(dir, sizeof(dir), "%s/queue", tq_root);
	snprintf(keyfile, sizeof(keyfile), "%s/queue.key", tq_root);
	snprintf(datafile, sizeof(datafile), "%s/data.mdb", dir);

	test_msg_api();
	test_policy();
	test_log_lines();

	ok(queue_default_keyfile("/var/lib/mxgate/queue/", err, sizeof(err))
	    == 0 && strcmp(err, "/var/lib/mxgate/queue.key") == 0,
	    "default key file is beside the queue dir");
	rc = queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	is_int(rc, QUEUE_NOTFOUND, "no queue and no QUEUE_CREATE: not found");

	rc = queue_open(&q, dir, NULL, 64ull << 20, QUEUE_CREATE, err,
	    sizeof(err));
	if (!ok(rc == QUEUE_OK, "queue created"))
		printf("# %s\n", err);
	ok(stat(keyfile, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	    st.st_size == QCRYPT_KEY_LEN, "appliance key generated, mode 0600,"
	    " 32 bytes, beside the queue");

	/* round trip, two iovecs, with envelope and history */
	body = "Received: from client.ext.example\r\nSubject: " MARKER
	    "\r\n\r\nHello " MARKER "\r\n..leading dot stuffed\r\n";
	envelope(&m, "alice@ext.example", 2);
	queue_msg_add_attempt(&m, 1234567, "127.0.0.1:2526",
	    "connect: Connection refused");
	iov[0].iov_base = body;
	iov[0].iov_len = 20;
	iov[1].iov_base = body + 20;
	iov[1].iov_len = strlen(body) - 20;
	now = wall_us();
	is_int(queue_put(q, &m, iov, 2), QUEUE_OK, "put");
	ok(id_ok(m.id), "id is %d uppercase hex digits: %s", QUEUE_ID_LEN,
	    m.id);
	ok(m.arrival_us >= now && m.next_try_us >= m.arrival_us + 30000000 &&
	    m.next_try_us <= m.arrival_us + 60000000,
	    "arrival set, first retry due in 30-60 s");
	memcpy(id, m.id, sizeof(id));
	queue_msg_init(&g);
	is_int(queue_get(q, id, &g), QUEUE_OK, "get");
	ok(strcmp(g.from, "alice@ext.example") == 0 && g.nrcpt == 2 &&
	    strcmp(g.rcpt[1].addr, "user1@example.test") == 0 &&
	    g.rcpt[0].state == QRCPT_PENDING && g.attempts == 1 &&
	    strcmp(g.route_domain, "example.test") == 0 && g.nhist == 1 &&
	    strcmp(g.hist[0].result, "connect: Connection refused") == 0 &&
	    g.hist[0].at_us == 1234567 && g.size == strlen(body) &&
	    g.arrival_us == m.arrival_us && g.next_try_us == m.next_try_us,
	    "envelope, state and history read back");
	queue_msg_free(&g);
	is_int(queue_get_body(q, id, sink_fn, &s), QUEUE_OK, "get_body");
	ok(s.len == strlen(body) && memcmp(s.buf, body, s.len) == 0,
	    "body byte-exact");
	sink_reset(&s);
	queue_msg_free(&m);

	/* the DSN parameters, when a message has them, come back too */
	envelope(&m, "carol@ext.example", 2);
	str_copy(m.params, "RET=HDRS ENVID=Q+2B7", sizeof(m.params));
	str_copy(m.rcpt[1].params, "NOTIFY=FAILURE,DELAY ORCPT=rfc822;u+2Bx@"
	    "example.test", sizeof(m.rcpt[1].params));
	iov[0].iov_base = body;
	iov[0].iov_len = strlen(body);
	is_int(queue_put(q, &m, iov, 1), QUEUE_OK, "put with DSN parameters");
	queue_msg_init(&g);
	is_int(queue_get(q, m.id, &g), QUEUE_OK, "get it");
	ok(strcmp(g.params, "RET=HDRS ENVID=Q+2B7") == 0 &&
	    g.rcpt[0].params[0] == '\0' && strcmp(g.rcpt[1].params,
	    "NOTIFY=FAILURE,DELAY ORCPT=rfc822;u+2Bx@example.test") == 0,
	    "... the sender's and each recipient's DSN parameters read back");
	is_int(queue_update(q, &g), QUEUE_OK, "update keeps them");
	queue_msg_free(&g);
	queue_msg_init(&g);
	ok(queue_get(q, m.id, &g) == QUEUE_OK && strcmp(g.rcpt[1].params,
	    "NOTIFY=FAILURE,DELAY ORCPT=rfc822;u+2Bx@example.test") == 0,
	    "... and they are still there after the update");
	queue_delete(q, m.id);
	queue_msg_free(&g);
	queue_msg_free(&m);

	/* 10 MB in three odd-sized pieces */
	big = tq_body(bigsz, 42);
	memcpy(big + 5000000, MARKER, strlen(MARKER));
	envelope(&m, "bob@ext.example", 1);
	iov[0].iov_base = big;
	iov[0].iov_len = 1;
	iov[1].iov_base = big + 1;
	iov[1].iov_len = 3333333;
	iov[2].iov_base = big + 3333334;
	iov[2].iov_len = bigsz - 3333334;
	is_int(queue_put(q, &m, iov, 3), QUEUE_OK, "put 10 MB");
	memcpy(id2, m.id, sizeof(id2));
	ok(strcmp(id, id2) != 0, "ids differ");
	queue_msg_free(&m);
	is_int(queue_get_body(q, id2, sink_fn, &s), QUEUE_OK, "get 10 MB");
	ok(s.len == bigsz && memcmp(s.buf, big, bigsz) == 0,
	    "10 MB body byte-exact");
	ok(s.maxchunk <= QUEUE_CHUNK && s.calls ==
	    (int)((bigsz + QUEUE_CHUNK - 1) / QUEUE_CHUNK),
	    "streamed in %d chunks of at most %u bytes", s.calls, QUEUE_CHUNK);
	sink_reset(&s);

	/* the same body twice: different ciphertexts (per-message keys) */
	envelope(&m, "carol@ext.example", 1);
	iov[0].iov_base = body;
	iov[0].iov_len = strlen(body);
	queue_put(q, &m, iov, 1);
	memcpy(id3, m.id, sizeof(id3));
	queue_msg_free(&m);
	envelope(&m, "carol@ext.example", 1);
	queue_put(q, &m, iov, 1);
	memcpy(due[0], m.id, sizeof(due[0]));
	queue_msg_free(&m);
	queue_close(q);

	memcpy(bk, id3, QUEUE_ID_LEN);
	memset(bk + QUEUE_ID_LEN, 0, 4);
	raw_record("body", bk, sizeof(bk), 0, c1, sizeof(c1), 0);
	memcpy(bk, due[0], QUEUE_ID_LEN);
	raw_record("body", bk, sizeof(bk), 0, c2, sizeof(c2), 0);
	ok(memcmp(c1, c2, sizeof(c1)) != 0,
	    "same body, same nonce position: ciphertexts differ, so the "
	    "per-message keys differ");
	raw_record("meta", id3, QUEUE_ID_LEN, 0, c1, sizeof(c1), 0);
	raw_record("meta", due[0], QUEUE_ID_LEN, 0, c2, sizeof(c2), 0);
	ok(memcmp(c1 + 52, c2 + 52, 12) != 0,
	    "wrapped keys use different nonces");
	is_int(tq_file_has(datafile, MARKER, strlen(MARKER)), 0,
	    "marker string from header and body not in data.mdb");
	is_int(tq_file_has(datafile, "alice@ext.example", 17), 0,
	    "sender address not in data.mdb");
	is_int(tq_file_has(datafile, "user0@example.test", 18), 0,
	    "recipient address not in data.mdb");

	/* wrong and missing keys */
	snprintf(wrongkey, sizeof(wrongkey), "%s/wrong.key", tq_root);
	{
		int fd = open(wrongkey, O_WRONLY | O_CREAT | O_EXCL, 0600);
		unsigned char k[QCRYPT_KEY_LEN];
		memset(k, 0x42, sizeof(k));
		(void)!write(fd, k, sizeof(k));
		close(fd);
	}
	rc = queue_open(&q, dir, wrongkey, 0, 0, err, sizeof(err));
	ok(rc == QUEUE_EAUTH && q == NULL, "wrong appliance key: "
	    "authentication failure at open (%s)", err);
	rc = queue_open(&q, dir, "/nonexistent/q.key", 0, QUEUE_CREATE, err,
	    sizeof(err));
	ok(rc == QUEUE_ERR && strstr(err, "missing") != NULL,
	    "missing key for a keyed queue: refused, no new key (%s)", err);
	chmod(wrongkey, 0644);
	rc = queue_open(&q, dir, wrongkey, 0, 0, err, sizeof(err));
	ok(rc != QUEUE_OK && strstr(err, "mode") != NULL,
	    "key readable by others: refused (%s)", err);

	/* tampering: one body byte, one envelope byte */
	memcpy(bk, id3, QUEUE_ID_LEN);
	memset(bk + QUEUE_ID_LEN, 0, 4);
	raw_record("body", bk, sizeof(bk), 10, NULL, 0, 1);
	raw_record("meta", due[0], QUEUE_ID_LEN, 150, NULL, 0, 1);
	rc = queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	is_int(rc, QUEUE_OK, "reopen with the right key");
	is_int(queue_get_body(q, id3, sink_fn, &s), QUEUE_EAUTH,
	    "tampered body: authentication failure");
	is_int(s.len, 0, "no unauthenticated byte handed out");
	sink_reset(&s);
	queue_msg_init(&g);
	is_int(queue_get(q, due[0], &g), QUEUE_EAUTH,
	    "tampered envelope: authentication failure");
	ok(g.nrcpt == 0 && g.from[0] == '\0', "nothing of it is returned");
	queue_msg_free(&g);
	counts[0] = counts[1] = 0;
	is_int(queue_list(q, list_count, counts), QUEUE_OK, "list");
	ok(counts[0] == 4 && counts[1] == 1, "list: 4 messages, 1 unreadable "
	    "(%d, %d)", counts[0], counts[1]);

	/* shredding */
	is_int(queue_delete(q, id3), QUEUE_OK, "delete");
	is_int(queue_delete(q, due[0]), QUEUE_OK, "delete another");
	is_int(queue_delete(q, id2), QUEUE_OK, "delete the 10 MB one");
	queue_msg_init(&g);
	is_int(queue_get(q, id2, &g), QUEUE_NOTFOUND, "deleted: not found");
	is_int(queue_get_body(q, id2, sink_fn, &s), QUEUE_NOTFOUND,
	    "deleted: no body");
	is_int(queue_delete(q, id2), QUEUE_NOTFOUND, "delete twice");
	is_int(queue_delete(q, "nonsense"), QUEUE_EINVAL, "bad id");
	queue_close(q);
	is_int(raw_count_prefix("meta", id2), 0,
	    "shredded: no meta record (wrapped key) left");
	is_int(raw_count_prefix("body", id2), 0,
	    "shredded: none of the 41 body records left");
	is_int(raw_count_prefix("body", id), 1, "other message untouched");

	/* scheduler scan, hold, release, flush */
	rc = queue_open(&q, dir, NULL, 0, 0, err, sizeof(err));
	queue_delete(q, id);
	now = wall_us();
	put_simple(q, "Subject: a\r\n\r\na\r\n", now + 3600000000LL, id);
	put_simple(q, "Subject: b\r\n\r\nb\r\n", now + 1800000000LL, id2);
	put_simple(q, "Subject: c\r\n\r\nc\r\n", now + 7200000000LL, id3);
	n = queue_due(q, now, due, 8, &next, &total);
	ok(n == 0 && next == now + 1800000000LL && total == 3,
	    "nothing due; next wake-up is the earliest retry");
	is_int(queue_flush(q, id, now, &n), QUEUE_OK, "flush one");
	is_int(n, 1, "flush one: count 1");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 1 && strcmp(due[0], id) == 0, "flushed message is due");
	is_int(queue_hold(q, id2), QUEUE_OK, "hold");
	is_int(queue_flush(q, NULL, now, &n), QUEUE_OK, "flush all");
	is_int(n, 1, "flush all skips held and already-due messages");
	n = queue_due(q, now, due, 8, &next, &total);
	ok(n == 2 && strcmp(due[0], id) == 0 && strcmp(due[1], id3) == 0 &&
	    next == INT64_MAX && total == 3, "due: two, the held one not");
	n = queue_due(q, now, due, 1, &next, NULL);
	is_int(n, 1, "due respects max");
	is_int(queue_flush(q, id2, now, &n), QUEUE_OK, "flush a held one");
	is_int(n, 0, "a held message stays held");
	is_int(queue_release(q, id2), QUEUE_OK, "release");
	n = queue_due(q, now, due, 8, &next, NULL);
	ok(n == 2 && next == now + 1800000000LL,
	    "released: scheduled as before");
	is_int(queue_hold(q, "000000000000000000"), QUEUE_NOTFOUND,
	    "hold unknown id");

	/* update: partial result, then done */
	is_int(queue_attempt_begin(q, id, now), QUEUE_OK, "attempt begin");
	queue_hold(q, id);	/* an admin holds it meanwhile */
	queue_msg_init(&g);
	queue_get(q, id, &g);
	ok(g.flags == (QMSG_HELD | QMSG_INFLIGHT), "in flight and held");
	queue_set_result(&g, 0, QRCPT_SENT, "2.0.0", "250 ok");
	queue_set_result(&g, 1, QRCPT_PENDING, "4.2.0", "452 4.2.0 busy");
	queue_msg_add_attempt(&g, now, "127.0.0.1:2526", "452 4.2.0 busy");
	g.attempts++;
	g.last_try_us = now;
	g.next_try_us = now + queue_retry_delay_us(g.attempts, 5);
	is_int(queue_update(q, &g), QUEUE_OK, "update");
	queue_msg_free(&g);
	queue_msg_init(&g);
	queue_get(q, id, &g);
	ok(g.rcpt[0].state == QRCPT_SENT && g.rcpt[1].state == QRCPT_PENDING
	    && strcmp(g.rcpt[1].last_error, "452 4.2.0 busy") == 0 &&
	    g.attempts == 2 && g.nhist == 1 && g.flags == QMSG_HELD,
	    "update stored; held kept, in-flight cleared");
	str_copy(g.rcpt[1].addr, "evil@elsewhere.test", sizeof(g.rcpt[1].addr));
	is_int(queue_update(q, &g), QUEUE_EINVAL,
	    "update cannot change a recipient address");
	str_copy(g.rcpt[1].addr, "user1@example.test", sizeof(g.rcpt[1].addr));
	queue_set_result(&g, 1, QRCPT_SENT, "2.0.0", "250 ok");
	is_int(queue_update(q, &g), QUEUE_DONE, "last recipient sent: done");
	queue_msg_free(&g);
	queue_msg_init(&g);
	is_int(queue_get(q, id, &g), QUEUE_NOTFOUND, "done: removed");
	queue_msg_free(&g);

	/* bounce: the report is queued and the original removed at once */
	queue_msg_init(&g);
	queue_get(q, id2, &g);
	queue_set_result(&g, 0, QRCPT_FAILED, "5.1.1", "550 5.1.1 no such user");
	queue_set_result(&g, 1, QRCPT_FAILED, "5.1.1", "550 5.1.1 no such user");
	queue_msg_init(&m);
	str_copy(m.route_domain, "example.test", sizeof(m.route_domain));
	queue_msg_add_rcpt(&m, "postmaster@example.test");
	iov[0].iov_base = "Subject: report\r\n\r\nreport\r\n";
	iov[0].iov_len = strlen(iov[0].iov_base);
	is_int(queue_bounce(q, &g, &m, iov, 1), QUEUE_DONE,
	    "bounce: original removed");
	queue_msg_free(&g);
	queue_msg_init(&g);
	ok(queue_get(q, id2, &g) == QUEUE_NOTFOUND, "original gone");
	queue_msg_free(&g);
	queue_msg_init(&g);
	ok(queue_get(q, m.id, &g) == QUEUE_OK && g.from[0] == '\0' &&
	    strcmp(g.rcpt[0].addr, "postmaster@example.test") == 0,
	    "report queued from <> to the postmaster");
	queue_msg_free(&g);
	/* a bounce whose report cannot be stored changes nothing */
	queue_msg_init(&g);
	queue_get(q, id3, &g);
	queue_set_result(&g, 0, QRCPT_FAILED, "5.0.0", "550 no");
	queue_set_result(&g, 1, QRCPT_FAILED, "5.0.0", "550 no");
	queue_msg_free(&m);
	queue_msg_init(&m);	/* no recipient: invalid */
	is_int(queue_bounce(q, &g, &m, iov, 1), QUEUE_EINVAL,
	    "bounce with a bad report fails");
	queue_msg_free(&g);
	queue_msg_init(&g);
	ok(queue_get(q, id3, &g) == QUEUE_OK &&
	    g.rcpt[0].state == QRCPT_PENDING, "... and the original stays "
	    "as it was");
	queue_msg_free(&g);
	queue_msg_free(&m);

	/* latency of a durable put of a 10 KB message (diagnostic) */
	{
		char *b10 = tq_body(10240, 7);
		int64_t t0, samples[50], tmp;
		int j, k;
		for (i = 0; i < 50; i++) {
			envelope(&m, "perf@ext.example", 1);
			iov[0].iov_base = b10;
			iov[0].iov_len = 10240;
			t0 = wall_us();
			rc = queue_put(q, &m, iov, 1);
			samples[i] = wall_us() - t0;
			queue_msg_free(&m);
			if (rc != QUEUE_OK)
				break;
		}
		is_int(rc, QUEUE_OK, "50 puts of 10 KB");
		for (j = 1; j < i; j++)
			for (k = j; k > 0 && samples[k] < samples[k - 1]; k--) {
				tmp = samples[k];
				samples[k] = samples[k - 1];
				samples[k - 1] = tmp;
			}
		printf("# put 10 KB with fsync: median %lld us, max %lld us\n",
		    (long long)samples[i / 2], (long long)samples[i - 1]);
		free(b10);
	}
	{
		uint64_t used, map;
		ok(queue_usage(q, &used, &map) == QUEUE_OK && used > 0 &&
		    map >= (64ull << 20), "usage: %llu of %llu bytes",
		    (unsigned long long)used, (unsigned long long)map);
	}
	queue_close(q);
	free(big);
	test_due_index();
	tq_rmtree(tq_root);
	return done_testing();
}
