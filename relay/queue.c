/*
 * queue.c — see queue.h. The LMDB outage queue: record format, sealing
 * of envelopes and bodies, the admin state changes, the scheduler scan,
 * and the pure retry/expiry policy and log line formatter.
 *
 * Owns the LMDB environment handle and the appliance key for as long as
 * the queue is open. Never: writes a message byte or an address in
 * clear to the store, returns a body chunk that did not authenticate,
 * commits with sync disabled, or logs.
 *
 * The clear header (flags, times, attempts) is deliberately not bound
 * into any associated data: hold, release and flush change it without the
 * keys, and every record written so far stays readable. So its times are
 * untrusted numbers: they are only ever compared, and an age is computed
 * by queue_age_us(), which saturates instead of overflowing. A rewritten
 * time can make a message due or expired early, never undefined.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "qcrypt.h"
#include "queue.h"
#include "util.h"

/* Clear header of a "meta" record; all integers big-endian. */
#define H_MAGIC		0	/* "MXQ1" */
#define H_FLAGS		4	/* u32 QMSG_* */
#define H_ARRIVAL	8	/* i64 */
#define H_NEXT		16	/* i64 */
#define H_LAST		24	/* i64 */
#define H_ATTEMPTS	32	/* u32 */
#define H_NRCPT		36	/* u32 */
#define H_SIZE		40	/* u64 body bytes */
#define H_NCHUNKS	48	/* u32 */
#define H_WNONCE	52	/* wrap nonce [12] */
#define H_WKEY		64	/* wrapped message key [32] */
#define H_WTAG		96	/* [16] */
#define H_ENONCE	112	/* envelope nonce [12] */
#define H_ETAG		124	/* [16] */
#define H_ELEN		140	/* u32 sealed envelope length */
#define H_LEN		144	/* then the sealed envelope */

#define MAGIC		"MXQ1"
#define BODY_KEY_LEN	(QUEUE_ID_LEN + 4)
#define MAX_CHUNKS	((uint32_t)(QUEUE_BODY_MAX / QUEUE_CHUNK) + 1)
#define ENV_MAX		(4u << 20)	/* sealed envelope bound */
#define ID_TRIES	16

/* Nonce domains under one message key: body chunks use a counter,
 * envelope seals are random; the first byte keeps them apart. */
#define NONCE_BODY	0x01
#define NONCE_ENV	0x02
#define NONCE_WRAP	0x03

#define KEYCHECK_AAD	"mxgate queue key check v1"

/* The "due" index: one empty record per message that is not held, keyed
 * be64(next_try_us with the sign bit flipped, so it sorts as a signed
 * number) || id. The scheduler reads its head, not every record; it is
 * written in the same transaction as the record it indexes, and rebuilt
 * from "meta" when the owner opens the store (QUEUE_REINDEX), so a store
 * written by a build without it is indexed again. */
#define DUE_KEY_LEN	(8 + QUEUE_ID_LEN)
#define DUE_BIAS	(1ull << 63)

struct queue {
	MDB_env		*env;
	MDB_dbi		 info, meta, body, due;
	uint8_t		 key[QCRYPT_KEY_LEN];	/* appliance key */
	uint8_t		*chunk;			/* QUEUE_CHUNK + tag */
};

static int due_rebuild(struct queue *, MDB_txn *);

/* --- encoding helpers ----------------------------------------------- */

static void
put64(uint8_t *p, uint64_t v)
{
	be32_put(p, (uint32_t)(v >> 32));
	be32_put(p + 4, (uint32_t)v);
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)be32_get(p) << 32 | be32_get(p + 4);
}

struct wbuf {
	uint8_t	*p;
	size_t	 len, cap;
	int	 bad;
};

static void
w_bytes(struct wbuf *w, const void *s, size_t n)
{
	if (w->bad || n > w->cap - w->len) {
		w->bad = 1;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void
w_u8(struct wbuf *w, unsigned v)
{
	uint8_t b = (uint8_t)v;

	w_bytes(w, &b, 1);
}

static void
w_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	w_bytes(w, b, 8);
}

/* A string as u16 length + bytes; s must fit its field (max with NUL). */
static void
w_str(struct wbuf *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	uint8_t b[2];

	if (n >= max || n > 0xffff) {
		w->bad = 1;
		return;
	}
	b[0] = n >> 8;
	b[1] = n;
	w_bytes(w, b, 2);
	w_bytes(w, s, n);
}

struct rbuf {
	const uint8_t	*p;
	size_t		 len, off;
	int		 bad;
};

static const uint8_t *
r_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static unsigned
r_u8(struct rbuf *r)
{
	const uint8_t *p = r_bytes(r, 1);

	return p ? p[0] : 0;
}

static uint64_t
r_u64(struct rbuf *r)
{
	const uint8_t *p = r_bytes(r, 8);

	return p ? get64(p) : 0;
}

/* Reads a string into dst[max]; a string that does not fit or holds a
 * NUL makes the record corrupt. */
static void
r_str(struct rbuf *r, char *dst, size_t max)
{
	const uint8_t *p = r_bytes(r, 2);
	size_t n;

	dst[0] = '\0';
	if (p == NULL)
		return;
	n = (size_t)p[0] << 8 | p[1];
	if (n >= max) {
		r->bad = 1;
		return;
	}
	if ((p = r_bytes(r, n)) == NULL)
		return;
	if (memchr(p, '\0', n) != NULL) {
		r->bad = 1;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* --- the message structure -------------------------------------------- */

void
queue_msg_init(struct queue_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void
queue_msg_free(struct queue_msg *m)
{
	if (m->rcpt != NULL) {
		qcrypt_wipe(m->rcpt, (size_t)m->rcpt_cap * sizeof(*m->rcpt));
		free(m->rcpt);
	}
	qcrypt_wipe(m, sizeof(*m));
}

static int
msg_reserve(struct queue_msg *m, int n)
{
	struct queue_rcpt *r;
	int cap;

	if (n <= m->rcpt_cap)
		return 0;
	if (n > QUEUE_RCPT_MAX)
		return -1;
	cap = m->rcpt_cap ? m->rcpt_cap : 4;
	while (cap < n)
		cap *= 2;
	if (cap > QUEUE_RCPT_MAX)
		cap = QUEUE_RCPT_MAX;
	r = calloc((size_t)cap, sizeof(*r));
	if (r == NULL)
		return -1;
	if (m->rcpt != NULL) {
		memcpy(r, m->rcpt, (size_t)m->nrcpt * sizeof(*r));
		qcrypt_wipe(m->rcpt, (size_t)m->rcpt_cap * sizeof(*r));
		free(m->rcpt);
	}
	m->rcpt = r;
	m->rcpt_cap = cap;
	return 0;
}

int
queue_msg_add_rcpt(struct queue_msg *m, const char *addr)
{
	struct queue_rcpt *r;
	size_t n = strlen(addr);

	if (n == 0 || n > ADDR_PATH_MAX || m->nrcpt >= QUEUE_RCPT_MAX ||
	    msg_reserve(m, m->nrcpt + 1) != 0)
		return -1;
	r = &m->rcpt[m->nrcpt++];
	memset(r, 0, sizeof(*r));
	memcpy(r->addr, addr, n + 1);
	r->state = QRCPT_PENDING;
	return 0;
}

/* Copies src into dst[size]; a longer text ends in "..." instead. */
static void
text_copy(char *dst, const char *src, size_t size)
{
	if (src == NULL)
		src = "";
	if (str_copy(dst, src, size) >= size && size > 4)
		memcpy(dst + size - 4, "...", 4);
}

void
queue_set_result(struct queue_msg *m, int i, enum queue_rcpt_state st,
    const char *status, const char *text)
{
	if (i < 0 || i >= m->nrcpt)
		return;
	m->rcpt[i].state = st;
	text_copy(m->rcpt[i].status, status, sizeof(m->rcpt[i].status));
	text_copy(m->rcpt[i].last_error, text, sizeof(m->rcpt[i].last_error));
}

void
queue_msg_add_attempt(struct queue_msg *m, int64_t at_us, const char *relay,
    const char *result)
{
	struct queue_attempt *a;

	if (m->nhist == QUEUE_HIST_MAX) {
		memmove(&m->hist[0], &m->hist[1],
		    (QUEUE_HIST_MAX - 1) * sizeof(m->hist[0]));
		m->nhist--;
	}
	a = &m->hist[m->nhist++];
	a->at_us = at_us;
	text_copy(a->relay, relay, sizeof(a->relay));
	text_copy(a->result, result, sizeof(a->result));
}

int
queue_msg_pending(const struct queue_msg *m)
{
	int i, n = 0;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QRCPT_PENDING)
			n++;
	return n;
}

/* --- envelope (sealed part) ------------------------------------------- */

static size_t
env_bound(const struct queue_msg *m)
{
	return 2 + sizeof(m->from) + 2 + sizeof(m->route_domain) + 2 +
	    (size_t)m->nrcpt * (2 + ADDR_PATH_MAX + 1 + 2 + QUEUE_STATUS_MAX +
	    2 + QUEUE_TEXT_MAX) + 1 +
	    QUEUE_HIST_MAX * (8 + 2 + QUEUE_RELAY_MAX + 2 + QUEUE_TEXT_MAX) +
	    1 + 2 + QUEUE_MAIL_PARAMS_MAX +
	    (size_t)m->nrcpt * (2 + QUEUE_RCPT_PARAMS_MAX);
}

/* The DSN parameters follow the history as an extension (tag ENV_PARAMS)
 * only when a message has any: a record without them stays readable by
 * a build that predates them. */
#define ENV_PARAMS	'P'

static int
has_params(const struct queue_msg *m)
{
	int i;

	if (m->params[0] != '\0')
		return 1;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].params[0] != '\0')
			return 1;
	return 0;
}

int
queue_params_valid(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			return 0;
	return 1;
}

static void
env_write(struct wbuf *w, const struct queue_msg *m)
{
	int i;

	w_str(w, m->from, sizeof(m->from));
	w_str(w, m->route_domain, sizeof(m->route_domain));
	w_u8(w, (unsigned)m->nrcpt >> 8);
	w_u8(w, (unsigned)m->nrcpt & 0xff);
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];
		w_str(w, r->addr, sizeof(r->addr));
		w_u8(w, (unsigned)r->state);
		w_str(w, r->status, sizeof(r->status));
		w_str(w, r->last_error, sizeof(r->last_error));
	}
	w_u8(w, (unsigned)m->nhist);
	for (i = 0; i < m->nhist; i++) {
		const struct queue_attempt *a = &m->hist[i];
		w_u64(w, (uint64_t)a->at_us);
		w_str(w, a->relay, sizeof(a->relay));
		w_str(w, a->result, sizeof(a->result));
	}
	if (!has_params(m))
		return;
	w_u8(w, ENV_PARAMS);
	w_str(w, m->params, sizeof(m->params));
	for (i = 0; i < m->nrcpt; i++)
		w_str(w, m->rcpt[i].params, sizeof(m->rcpt[i].params));
}

static int
env_read(struct rbuf *r, struct queue_msg *m)
{
	int i, n;

	r_str(r, m->from, sizeof(m->from));
	r_str(r, m->route_domain, sizeof(m->route_domain));
	n = (int)(r_u8(r) << 8);
	n |= (int)r_u8(r);
	if (r->bad || n < 1 || n > QUEUE_RCPT_MAX || msg_reserve(m, n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct queue_rcpt *rc = &m->rcpt[i];
		r_str(r, rc->addr, sizeof(rc->addr));
		rc->state = (int)r_u8(r);
		if (rc->state > QRCPT_FAILED)
			r->bad = 1;
		r_str(r, rc->status, sizeof(rc->status));
		r_str(r, rc->last_error, sizeof(rc->last_error));
	}
	m->nrcpt = n;
	n = (int)r_u8(r);
	if (n > QUEUE_HIST_MAX)
		r->bad = 1;
	for (i = 0; i < n && !r->bad; i++) {
		struct queue_attempt *a = &m->hist[i];
		a->at_us = (int64_t)r_u64(r);
		r_str(r, a->relay, sizeof(a->relay));
		r_str(r, a->result, sizeof(a->result));
	}
	m->nhist = r->bad ? 0 : n;
	if (!r->bad && r->off < r->len) {
		if (r_u8(r) != ENV_PARAMS)
			return -1;
		r_str(r, m->params, sizeof(m->params));
		if (!queue_params_valid(m->params))
			r->bad = 1;
		for (i = 0; i < m->nrcpt && !r->bad; i++) {
			r_str(r, m->rcpt[i].params, sizeof(m->rcpt[i].params));
			if (!queue_params_valid(m->rcpt[i].params))
				r->bad = 1;
		}
	}
	if (r->bad || r->off != r->len)
		return -1;
	return 0;
}

/* --- ids, nonces, associated data ------------------------------------- */

static int
id_valid(const char *id)
{
	int i;

	if (id == NULL)
		return 0;
	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return id[QUEUE_ID_LEN] == '\0';
}

static void
id_make(int64_t arrival_us, uint16_t rnd, char id[QUEUE_ID_LEN + 1])
{
	snprintf(id, QUEUE_ID_LEN + 1, "%014llX%04X",
	    (unsigned long long)arrival_us & 0xffffffffffffffull,
	    (unsigned)rnd);
}

static void
nonce_fill(uint8_t nonce[QCRYPT_NONCE_LEN], int domain, uint32_t ctr,
    int random)
{
	memset(nonce, 0, QCRYPT_NONCE_LEN);
	if (random && qcrypt_random(nonce, QCRYPT_NONCE_LEN) != 0)
		fatal(EXIT_TEMP, "queue: no randomness");
	nonce[0] = (uint8_t)domain;
	if (!random)
		be32_put(nonce + 1, ctr);
}

/* AAD: a tag letter, the id, and for body chunks their position. */
static size_t
aad_make(uint8_t *aad, char what, const char *id, uint32_t chunk,
    uint32_t nchunks, uint64_t size)
{
	aad[0] = (uint8_t)what;
	memcpy(aad + 1, id, QUEUE_ID_LEN);
	if (what != 'B')
		return 1 + QUEUE_ID_LEN;
	be32_put(aad + 1 + QUEUE_ID_LEN, chunk);
	be32_put(aad + 5 + QUEUE_ID_LEN, nchunks);
	put64(aad + 9 + QUEUE_ID_LEN, size);
	return 17 + QUEUE_ID_LEN;
}

#define AAD_MAX	(17 + QUEUE_ID_LEN)

static void
body_key(uint8_t *k, const char *id, uint32_t chunk)
{
	memcpy(k, id, QUEUE_ID_LEN);
	be32_put(k + QUEUE_ID_LEN, chunk);
}

/* --- LMDB glue ----------------------------------------------------------- */

static int
status_of(int rc)
{
	switch (rc) {
	case 0:
		return QUEUE_OK;
	case MDB_NOTFOUND:
		return QUEUE_NOTFOUND;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case ENOSPC:
	case EDQUOT:
		return QUEUE_FULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_BAD_VALSIZE:
		return QUEUE_ECORRUPT;
	default:
		errno = rc > 0 ? rc : EIO;
		return QUEUE_ERR;
	}
}

static int
txn_begin(struct queue *q, int rdonly, MDB_txn **txn)
{
	int rc = mdb_txn_begin(q->env, NULL, rdonly ? MDB_RDONLY : 0, txn);

	if (rc == MDB_MAP_RESIZED) {
		/* another process grew the map: adopt its size */
		if ((rc = mdb_env_set_mapsize(q->env, 0)) == 0)
			rc = mdb_txn_begin(q->env, NULL,
			    rdonly ? MDB_RDONLY : 0, txn);
	}
	return rc;
}

static int
txn_commit(MDB_txn *txn, int st)
{
	int rc;

	if (st != QUEUE_OK && st != QUEUE_DONE) {
		mdb_txn_abort(txn);
		return st;
	}
	rc = mdb_txn_commit(txn);	/* fsync'd: no MDB_NOSYNC */
	return rc == 0 ? st : status_of(rc);
}

/* --- open and close ------------------------------------------------------ */

int
queue_default_keyfile(const char *dir, char *out, size_t size)
{
	return path_beside(dir, "queue.key", out, size);
}

static int
keycheck(struct queue *q, MDB_txn *txn, int have_key, int may_create,
    const char *keyfile, char *err, size_t errlen)
{
	MDB_val k = { 8, (void *)"keycheck" }, v;
	uint8_t rec[QCRYPT_NONCE_LEN + QCRYPT_TAG_LEN], tag[QCRYPT_TAG_LEN];
	int rc;

	rc = mdb_get(txn, q->info, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		snprintf(err, errlen, "queue: %s", mdb_strerror(rc));
		return status_of(rc);
	}
	if (rc == 0) {
		if (!have_key) {
			snprintf(err, errlen, "%s: missing, and this queue was "
			    "sealed with it: restore the key (a new one cannot "
			    "read the queue)", keyfile);
			return QUEUE_ERR;
		}
		if (v.mv_size != sizeof(rec)) {
			snprintf(err, errlen, "queue: bad key check record");
			return QUEUE_ECORRUPT;
		}
		memcpy(rec, v.mv_data, sizeof(rec));
		if (qcrypt_open(q->key, rec, KEYCHECK_AAD,
		    sizeof(KEYCHECK_AAD) - 1, NULL, 0,
		    rec + QCRYPT_NONCE_LEN) != 0) {
			snprintf(err, errlen, "%s: this is not the key the "
			    "queue was sealed with", keyfile);
			return QUEUE_EAUTH;
		}
		return QUEUE_OK;
	}
	if (!have_key) {
		if (!may_create) {
			snprintf(err, errlen, "%s: no queue key", keyfile);
			return QUEUE_ERR;
		}
		if (qcrypt_key_create(keyfile, q->key, err, errlen) != 0)
			return QUEUE_ERR;
	}
	nonce_fill(rec, NONCE_WRAP, 0, 1);
	qcrypt_seal(q->key, rec, KEYCHECK_AAD, sizeof(KEYCHECK_AAD) - 1,
	    NULL, 0, tag);
	memcpy(rec + QCRYPT_NONCE_LEN, tag, sizeof(tag));
	v.mv_size = sizeof(rec);
	v.mv_data = rec;
	if ((rc = mdb_put(txn, q->info, &k, &v, 0)) != 0) {
		snprintf(err, errlen, "queue: %s", mdb_strerror(rc));
		return status_of(rc);
	}
	return QUEUE_OK;
}

int
queue_open(struct queue **qp, const char *dir, const char *keyfile,
    uint64_t mapsize, int flags, char *err, size_t errlen)
{
	char defkey[PATH_MAX], data[PATH_MAX];
	struct queue *q;
	struct stat st;
	MDB_txn *txn;
	int rc, have, status = QUEUE_ERR, dead;
	long pg = sysconf(_SC_PAGESIZE);

	*qp = NULL;
	if (keyfile == NULL) {
		if (queue_default_keyfile(dir, defkey, sizeof(defkey)) != 0) {
			snprintf(err, errlen, "%s: path too long", dir);
			return QUEUE_EINVAL;
		}
		keyfile = defkey;
	}
	if ((size_t)snprintf(data, sizeof(data), "%s/data.mdb", dir) >=
	    sizeof(data)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return QUEUE_EINVAL;
	}
	if (flags & QUEUE_CREATE) {
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			return QUEUE_ERR;
		}
	} else if (stat(data, &st) != 0) {
		snprintf(err, errlen, "%s: no queue here (%s)", dir,
		    strerror(errno));
		return errno == ENOENT ? QUEUE_NOTFOUND : QUEUE_ERR;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->chunk = malloc(QUEUE_CHUNK + QCRYPT_TAG_LEN)) == NULL) {
		snprintf(err, errlen, "queue: out of memory");
		free(q);
		return QUEUE_ERR;
	}
	if ((rc = mdb_env_create(&q->env)) != 0)
		goto lmdb_fail;
	if ((rc = mdb_env_set_maxdbs(q->env, 4)) != 0)
		goto lmdb_fail;
	if (mapsize != 0) {
		if (mapsize < QUEUE_MAPSIZE_MIN)
			mapsize = QUEUE_MAPSIZE_MIN;
		if (pg > 0)
			mapsize = (mapsize + (uint64_t)pg - 1) /
			    (uint64_t)pg * (uint64_t)pg;
		if ((rc = mdb_env_set_mapsize(q->env, (size_t)mapsize)) != 0)
			goto lmdb_fail;
	}
	/* Durable commits: neither MDB_NOSYNC nor MDB_NOMETASYNC. */
	if ((rc = mdb_env_open(q->env, dir, 0, 0600)) != 0)
		goto lmdb_fail;
	(void)mdb_reader_check(q->env, &dead);	/* readers killed by -9 */
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		goto lmdb_fail;
	if ((rc = mdb_dbi_open(txn, "info", MDB_CREATE, &q->info)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &q->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "body", MDB_CREATE, &q->body)) != 0 ||
	    (rc = mdb_dbi_open(txn, "due", MDB_CREATE, &q->due)) != 0 ||
	    ((flags & QUEUE_REINDEX) && (rc = due_rebuild(q, txn)) != 0)) {
		mdb_txn_abort(txn);
		goto lmdb_fail;
	}
	have = qcrypt_key_load(keyfile, q->key, err, errlen);
	if (have < 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	status = keycheck(q, txn, have == 0, (flags & QUEUE_CREATE) != 0,
	    keyfile, err, errlen);
	if (status != QUEUE_OK) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto lmdb_fail;
	*qp = q;
	return QUEUE_OK;
lmdb_fail:
	snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
	status = status_of(rc);
fail:
	queue_close(q);
	return status;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->env != NULL)
		mdb_env_close(q->env);
	if (q->chunk != NULL) {
		qcrypt_wipe(q->chunk, QUEUE_CHUNK + QCRYPT_TAG_LEN);
		free(q->chunk);
	}
	qcrypt_wipe(q, sizeof(*q));
	free(q);
}

/* --- records ------------------------------------------------------------- */

static void
hdr_clear_fields(const uint8_t *h, struct queue_msg *m)
{
	m->flags = (int)be32_get(h + H_FLAGS);
	m->arrival_us = (int64_t)get64(h + H_ARRIVAL);
	m->next_try_us = (int64_t)get64(h + H_NEXT);
	m->last_try_us = (int64_t)get64(h + H_LAST);
	m->attempts = be32_get(h + H_ATTEMPTS);
	m->size = get64(h + H_SIZE);
}

static int
hdr_check(const uint8_t *h, size_t len)
{
	if (len < H_LEN || memcmp(h, MAGIC, 4) != 0 ||
	    be32_get(h + H_ELEN) != len - H_LEN)
		return -1;
	return 0;
}

/* The index key of the record (id, h, len) into k: 1, or 0 when it has
 * none (held, or a header that does not parse). */
static int
due_key(const char *id, const uint8_t *h, size_t len,
    uint8_t k[DUE_KEY_LEN])
{
	if (hdr_check(h, len) != 0 || (be32_get(h + H_FLAGS) & QMSG_HELD))
		return 0;
	put64(k, get64(h + H_NEXT) ^ DUE_BIAS);
	memcpy(k + 8, id, QUEUE_ID_LEN);
	return 1;
}

/* Moves a message's index entry from old to new (either may be absent:
 * had/has 0). An LMDB error code, 0 ok. */
static int
due_move(struct queue *q, MDB_txn *txn, int had,
    const uint8_t old[DUE_KEY_LEN], int has, const uint8_t new[DUE_KEY_LEN])
{
	MDB_val k = { DUE_KEY_LEN, NULL }, v = { 0, NULL };
	int rc;

	if (had && has && memcmp(old, new, DUE_KEY_LEN) == 0)
		return 0;
	if (had) {
		k.mv_data = (void *)old;
		if ((rc = mdb_del(txn, q->due, &k, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			return rc;
	}
	if (has) {
		k.mv_data = (void *)new;
		return mdb_put(txn, q->due, &k, &v, 0);
	}
	return 0;
}

/* Writes record (k, v) of "meta" and its index entry; old is the record
 * it replaces (NULL: a new one). Through cursor c when it is not NULL (a
 * scan that rewrites the records it passes: flags MDB_CURRENT), else
 * mdb_put with flags. */
static int
meta_put(struct queue *q, MDB_txn *txn, MDB_cursor *c, MDB_val *k,
    MDB_val *v, const MDB_val *old, unsigned flags)
{
	uint8_t ok[DUE_KEY_LEN], nk[DUE_KEY_LEN];
	int had = 0, has, rc;

	/* old may point into the page the write replaces: keys first */
	if (old != NULL)
		had = due_key(k->mv_data, old->mv_data, old->mv_size, ok);
	has = due_key(k->mv_data, v->mv_data, v->mv_size, nk);
	rc = c != NULL ? mdb_cursor_put(c, k, v, flags) :
	    mdb_put(txn, q->meta, k, v, flags);
	if (rc != 0)
		return rc;
	return due_move(q, txn, had, ok, has, nk);
}

/* Empties the index and fills it from every record of "meta". */
static int
due_rebuild(struct queue *q, MDB_txn *txn)
{
	uint8_t dk[DUE_KEY_LEN];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_drop(txn, q->due, 0)) != 0 ||
	    (rc = mdb_cursor_open(txn, q->meta, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size == QUEUE_ID_LEN &&
		    due_key(k.mv_data, v.mv_data, v.mv_size, dk) &&
		    (rc = due_move(q, txn, 0, NULL, 1, dk)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Unwraps the message key of record h (id) under the appliance key.
 * 0 ok, -1 not authentic. */
static int
key_unwrap(const uint8_t akey[QCRYPT_KEY_LEN], const char *id,
    const uint8_t *h, uint8_t mkey[QCRYPT_KEY_LEN])
{
	uint8_t aad[AAD_MAX];
	size_t alen = aad_make(aad, 'K', id, 0, 0, 0);

	memcpy(mkey, h + H_WKEY, QCRYPT_KEY_LEN);
	return qcrypt_open(akey, h + H_WNONCE, aad, alen, mkey,
	    QCRYPT_KEY_LEN, h + H_WTAG);
}

int
queue_envelope_decode(const void *env, size_t len, struct queue_msg *m)
{
	struct rbuf r = { env, len, 0, 0 };

	return env_read(&r, m) == 0 ? QUEUE_OK : QUEUE_ECORRUPT;
}

/* Decodes record h (len bytes) of id into m (which is freed/initialised
 * by us). */
static int
record_decode(const uint8_t akey[QCRYPT_KEY_LEN], const char *id,
    const uint8_t *h, size_t len, struct queue_msg *m,
    uint8_t mkey_out[QCRYPT_KEY_LEN])
{
	uint8_t mkey[QCRYPT_KEY_LEN], aad[AAD_MAX];
	uint8_t *env;
	size_t elen, alen;
	int st = QUEUE_OK;

	queue_msg_free(m);
	queue_msg_init(m);
	memcpy(m->id, id, QUEUE_ID_LEN);
	if (hdr_check(h, len) != 0)
		return QUEUE_ECORRUPT;
	hdr_clear_fields(h, m);
	if (key_unwrap(akey, id, h, mkey) != 0)
		return QUEUE_EAUTH;
	elen = len - H_LEN;
	if (elen > ENV_MAX || (env = malloc(elen ? elen : 1)) == NULL) {
		qcrypt_wipe(mkey, sizeof(mkey));
		return elen > ENV_MAX ? QUEUE_ECORRUPT : QUEUE_ERR;
	}
	memcpy(env, h + H_LEN, elen);
	alen = aad_make(aad, 'E', id, 0, 0, 0);
	if (qcrypt_open(mkey, h + H_ENONCE, aad, alen, env, elen,
	    h + H_ETAG) != 0)
		st = QUEUE_EAUTH;
	else if (queue_envelope_decode(env, elen, m) != QUEUE_OK ||
	    (uint32_t)m->nrcpt != be32_get(h + H_NRCPT))
		st = QUEUE_ECORRUPT;
	qcrypt_wipe(env, elen);
	free(env);
	if (st == QUEUE_OK && mkey_out != NULL)
		memcpy(mkey_out, mkey, QCRYPT_KEY_LEN);
	qcrypt_wipe(mkey, sizeof(mkey));
	if (st != QUEUE_OK) {
		/* keep only the clear fields */
		struct queue_msg clear = *m;
		clear.rcpt = NULL;
		clear.nrcpt = clear.rcpt_cap = 0;
		clear.nhist = 0;
		memset(clear.hist, 0, sizeof(clear.hist));
		clear.from[0] = clear.route_domain[0] = '\0';
		queue_msg_free(m);
		*m = clear;
	}
	return st;
}

static int
decode(const struct queue *q, const char *id, const MDB_val *v,
    struct queue_msg *m, uint8_t mkey_out[QCRYPT_KEY_LEN])
{
	return record_decode(q->key, id, v->mv_data, v->mv_size, m, mkey_out);
}

int
queue_record_decode(const uint8_t key[QCRYPT_KEY_LEN], const char *id,
    const void *rec, size_t len, struct queue_msg *m)
{
	if (!id_valid(id))
		return QUEUE_EINVAL;
	return record_decode(key, id, rec, len, m, NULL);
}

/*
 * Builds a meta record for m (clear fields from m, flags as given) with
 * the wrapped key and the envelope sealed under mkey with a fresh nonce.
 * *rec is malloc'd; the caller frees it.
 */
static int
encode(const struct queue *q, const struct queue_msg *m, int flags,
    uint32_t nchunks, const uint8_t mkey[QCRYPT_KEY_LEN],
    const uint8_t *wrap /* H_WNONCE..H_ENONCE of an old record, or NULL */,
    uint8_t **rec, size_t *reclen)
{
	uint8_t aad[AAD_MAX], *h;
	struct wbuf w;
	size_t bound = env_bound(m), alen;

	if (bound > ENV_MAX)
		return QUEUE_EINVAL;
	if ((h = malloc(H_LEN + bound)) == NULL)
		return QUEUE_ERR;
	memset(h, 0, H_LEN);
	w.p = h + H_LEN;
	w.len = 0;
	w.cap = bound;
	w.bad = 0;
	env_write(&w, m);
	if (w.bad) {
		qcrypt_wipe(h, H_LEN + bound);
		free(h);
		return QUEUE_EINVAL;
	}
	memcpy(h + H_MAGIC, MAGIC, 4);
	be32_put(h + H_FLAGS, (uint32_t)flags);
	put64(h + H_ARRIVAL, (uint64_t)m->arrival_us);
	put64(h + H_NEXT, (uint64_t)m->next_try_us);
	put64(h + H_LAST, (uint64_t)m->last_try_us);
	be32_put(h + H_ATTEMPTS, m->attempts);
	be32_put(h + H_NRCPT, (uint32_t)m->nrcpt);
	put64(h + H_SIZE, m->size);
	be32_put(h + H_NCHUNKS, nchunks);
	if (wrap != NULL)
		memcpy(h + H_WNONCE, wrap, H_ENONCE - H_WNONCE);
	else {
		alen = aad_make(aad, 'K', m->id, 0, 0, 0);
		nonce_fill(h + H_WNONCE, NONCE_WRAP, 0, 1);
		memcpy(h + H_WKEY, mkey, QCRYPT_KEY_LEN);
		qcrypt_seal(q->key, h + H_WNONCE, aad, alen, h + H_WKEY,
		    QCRYPT_KEY_LEN, h + H_WTAG);
	}
	alen = aad_make(aad, 'E', m->id, 0, 0, 0);
	nonce_fill(h + H_ENONCE, NONCE_ENV, 0, 1);
	qcrypt_seal(mkey, h + H_ENONCE, aad, alen, h + H_LEN, w.len,
	    h + H_ETAG);
	be32_put(h + H_ELEN, (uint32_t)w.len);
	*rec = h;
	*reclen = H_LEN + w.len;
	return QUEUE_OK;
}

static int
envelope_valid(const struct queue_msg *m)
{
	int i;

	if (m->nrcpt < 1 || m->nrcpt > QUEUE_RCPT_MAX || m->rcpt == NULL ||
	    memchr(m->from, '\0', sizeof(m->from)) == NULL ||
	    memchr(m->route_domain, '\0', sizeof(m->route_domain)) == NULL ||
	    m->nhist < 0 || m->nhist > QUEUE_HIST_MAX)
		return 0;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].addr[0] == '\0' ||
		    memchr(m->rcpt[i].addr, '\0', sizeof(m->rcpt[i].addr))
		    == NULL)
			return 0;
	return 1;
}

static int
put_txn(struct queue *q, MDB_txn *txn, struct queue_msg *m,
    const struct iovec *iov, int iovcnt)
{
	uint8_t mkey[QCRYPT_KEY_LEN], bk[BODY_KEY_LEN], aad[AAD_MAX];
	uint8_t nonce[QCRYPT_NONCE_LEN], *rec = NULL;
	uint64_t total = 0, done = 0;
	uint32_t nchunks, i, rnd;
	size_t reclen, alen, off = 0;
	MDB_val k, v;
	int rc, st, tries, vi = 0;

	if (!envelope_valid(m) || iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return QUEUE_EINVAL;
	for (i = 0; i < (uint32_t)iovcnt; i++) {
		if (iov[i].iov_len > QUEUE_BODY_MAX - total)
			return QUEUE_EINVAL;
		total += iov[i].iov_len;
	}
	nchunks = (uint32_t)((total + QUEUE_CHUNK - 1) / QUEUE_CHUNK);
	if (m->arrival_us == 0)
		m->arrival_us = wall_us();
	if (qcrypt_random(&rnd, sizeof(rnd)) != 0)
		return QUEUE_ERR;
	if (m->next_try_us == 0)
		m->next_try_us = m->arrival_us +
		    queue_retry_delay_us(m->attempts ? m->attempts : 1, rnd);
	m->size = total;

	/* the caller's id when it proposes a well-formed one (the session's,
	 * so one id names a message in every log line), else a fresh one:
	 * arrival time + 16 random bits; never one in use */
	for (tries = id_valid(m->id) ? -1 : 0; ; tries++) {
		if (tries == ID_TRIES)
			return QUEUE_ERR;
		if (qcrypt_random(&rnd, sizeof(rnd)) != 0)
			return QUEUE_ERR;
		if (tries >= 0)
			id_make(m->arrival_us + tries, (uint16_t)rnd, m->id);
		k.mv_size = QUEUE_ID_LEN;
		k.mv_data = m->id;
		rc = mdb_get(txn, q->meta, &k, &v);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0)
			return status_of(rc);
	}
	if (qcrypt_random(mkey, sizeof(mkey)) != 0)
		return QUEUE_ERR;

	for (i = 0; i < nchunks; i++) {
		size_t clen = total - done > QUEUE_CHUNK ? QUEUE_CHUNK :
		    (size_t)(total - done), got = 0;
		uint8_t *dst;

		body_key(bk, m->id, i);
		k.mv_size = sizeof(bk);
		k.mv_data = bk;
		v.mv_size = clen + QCRYPT_TAG_LEN;
		v.mv_data = NULL;
		rc = mdb_put(txn, q->body, &k, &v, MDB_RESERVE |
		    MDB_NOOVERWRITE);
		if (rc != 0) {
			st = status_of(rc);
			goto out;
		}
		dst = v.mv_data;
		while (got < clen) {		/* bounded by total */
			size_t n = iov[vi].iov_len - off;
			if (n == 0) {
				vi++;
				off = 0;
				continue;
			}
			if (n > clen - got)
				n = clen - got;
			memcpy(dst + got, (const uint8_t *)iov[vi].iov_base +
			    off, n);
			got += n;
			off += n;
		}
		nonce_fill(nonce, NONCE_BODY, i, 0);
		alen = aad_make(aad, 'B', m->id, i, nchunks, total);
		qcrypt_seal(mkey, nonce, aad, alen, dst, clen, dst + clen);
		done += clen;
	}
	st = encode(q, m, m->flags & QMSG_HELD, nchunks, mkey, NULL, &rec,
	    &reclen);
	if (st != QUEUE_OK)
		goto out;
	k.mv_size = QUEUE_ID_LEN;
	k.mv_data = m->id;
	v.mv_size = reclen;
	v.mv_data = rec;
	st = status_of(meta_put(q, txn, NULL, &k, &v, NULL, MDB_NOOVERWRITE));
out:
	qcrypt_wipe(mkey, sizeof(mkey));
	if (rec != NULL) {
		qcrypt_wipe(rec, reclen);
		free(rec);
	}
	return st;
}

int
queue_put(struct queue *q, struct queue_msg *m, const struct iovec *iov,
    int iovcnt)
{
	MDB_txn *txn;
	int rc;

	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	return txn_commit(txn, put_txn(q, txn, m, iov, iovcnt));
}

int
queue_put_many(struct queue *q, struct queue_msg **m, const struct iovec *iov,
    int n)
{
	MDB_txn *txn;
	int rc, i, st = QUEUE_OK;

	if (n <= 0)
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	for (i = 0; i < n && st == QUEUE_OK; i++)
		st = put_txn(q, txn, m[i], &iov[i], 1);
	return txn_commit(txn, st);
}

/* Removes meta and body records of id inside txn. */
static int
delete_txn(struct queue *q, MDB_txn *txn, const char *id)
{
	uint8_t bk[BODY_KEY_LEN];
	MDB_cursor *c;
	uint8_t dk[DUE_KEY_LEN];
	MDB_val k = { QUEUE_ID_LEN, (void *)id }, v;
	uint32_t n;
	int rc, had;

	if ((rc = mdb_get(txn, q->meta, &k, &v)) != 0)
		return status_of(rc);
	had = due_key(id, v.mv_data, v.mv_size, dk);
	if ((rc = mdb_del(txn, q->meta, &k, NULL)) != 0 ||
	    (rc = due_move(q, txn, had, dk, 0, NULL)) != 0)
		return status_of(rc);
	if ((rc = mdb_cursor_open(txn, q->body, &c)) != 0)
		return status_of(rc);
	body_key(bk, id, 0);
	k.mv_size = sizeof(bk);
	k.mv_data = bk;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (n = 0; rc == 0 && n <= MAX_CHUNKS; n++) {
		if (k.mv_size != BODY_KEY_LEN ||
		    memcmp(k.mv_data, id, QUEUE_ID_LEN) != 0)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		if (rc == MDB_NOTFOUND || rc == EINVAL)
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? QUEUE_OK : status_of(rc);
}

int
queue_delete(struct queue *q, const char *id)
{
	MDB_txn *txn;
	int rc;

	if (!id_valid(id))
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	return txn_commit(txn, delete_txn(q, txn, id));
}

static int
update_txn(struct queue *q, MDB_txn *txn, const struct queue_msg *m)
{
	struct queue_msg old;
	uint8_t mkey[QCRYPT_KEY_LEN], wrap[H_ENONCE - H_WNONCE], *rec = NULL;
	MDB_val k = { QUEUE_ID_LEN, (void *)m->id }, v, was;
	size_t reclen;
	uint32_t nchunks;
	int rc, st, i, flags;

	if (!id_valid(m->id) || m->nhist < 0 || m->nhist > QUEUE_HIST_MAX)
		return QUEUE_EINVAL;
	if ((rc = mdb_get(txn, q->meta, &k, &v)) != 0)
		return status_of(rc);
	was = v;
	queue_msg_init(&old);
	if ((st = decode(q, m->id, &v, &old, mkey)) != QUEUE_OK) {
		queue_msg_free(&old);
		return st;
	}
	nchunks = be32_get((const uint8_t *)v.mv_data + H_NCHUNKS);
	memcpy(wrap, (const uint8_t *)v.mv_data + H_WNONCE, sizeof(wrap));
	if (m->nrcpt != old.nrcpt) {
		st = QUEUE_EINVAL;
		goto out;
	}
	for (i = 0; i < old.nrcpt; i++) {
		if (strcmp(old.rcpt[i].addr, m->rcpt[i].addr) != 0 ||
		    m->rcpt[i].state < QRCPT_PENDING ||
		    m->rcpt[i].state > QRCPT_FAILED) {
			st = QUEUE_EINVAL;
			goto out;
		}
		old.rcpt[i].state = m->rcpt[i].state;
		text_copy(old.rcpt[i].status, m->rcpt[i].status,
		    sizeof(old.rcpt[i].status));
		text_copy(old.rcpt[i].last_error, m->rcpt[i].last_error,
		    sizeof(old.rcpt[i].last_error));
	}
	if (queue_msg_pending(&old) == 0) {
		st = delete_txn(q, txn, m->id);
		if (st == QUEUE_OK)
			st = QUEUE_DONE;
		goto out;
	}
	old.attempts = m->attempts;
	old.next_try_us = m->next_try_us;
	old.last_try_us = m->last_try_us;
	memcpy(old.hist, m->hist, sizeof(old.hist));
	old.nhist = m->nhist;
	flags = old.flags & QMSG_HELD;
	st = encode(q, &old, flags, nchunks, mkey, wrap, &rec, &reclen);
	if (st != QUEUE_OK)
		goto out;
	v.mv_size = reclen;
	v.mv_data = rec;
	st = status_of(meta_put(q, txn, NULL, &k, &v, &was, 0));
out:
	qcrypt_wipe(mkey, sizeof(mkey));
	queue_msg_free(&old);
	if (rec != NULL) {
		qcrypt_wipe(rec, reclen);
		free(rec);
	}
	return st;
}

int
queue_update(struct queue *q, const struct queue_msg *m)
{
	MDB_txn *txn;
	int rc;

	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	return txn_commit(txn, update_txn(q, txn, m));
}

int
queue_update_many(struct queue *q, struct queue_msg *const *m, int n,
    int *st)
{
	MDB_txn *txn;
	int rc, i, bad = QUEUE_OK;

	if (n <= 0)
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	for (i = 0; i < n; i++) {
		st[i] = update_txn(q, txn, m[i]);
		if (st[i] != QUEUE_OK && st[i] != QUEUE_DONE &&
		    st[i] != QUEUE_NOTFOUND) {
			bad = st[i];
			break;
		}
	}
	return txn_commit(txn, bad);
}

int
queue_bounce(struct queue *q, const struct queue_msg *m,
    struct queue_msg *dsn, const struct iovec *iov, int iovcnt)
{
	MDB_txn *txn;
	int rc, st, st2;

	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	st = update_txn(q, txn, m);
	if (st == QUEUE_OK || st == QUEUE_DONE) {
		st2 = put_txn(q, txn, dsn, iov, iovcnt);
		if (st2 != QUEUE_OK)
			st = st2;
	}
	return txn_commit(txn, st);
}

int
queue_get(struct queue *q, const char *id, struct queue_msg *m)
{
	MDB_txn *txn;
	MDB_val k = { QUEUE_ID_LEN, (void *)id }, v;
	int rc, st;

	if (!id_valid(id))
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 1, &txn)) != 0)
		return status_of(rc);
	if ((rc = mdb_get(txn, q->meta, &k, &v)) != 0)
		st = status_of(rc);
	else
		st = decode(q, id, &v, m, NULL);
	mdb_txn_abort(txn);
	return st;
}

int
queue_get_body(struct queue *q, const char *id, queue_body_fn *fn,
    void *arg)
{
	uint8_t mkey[QCRYPT_KEY_LEN], bk[BODY_KEY_LEN], aad[AAD_MAX];
	uint8_t nonce[QCRYPT_NONCE_LEN], hdr[H_LEN];
	MDB_txn *txn;
	MDB_val k = { QUEUE_ID_LEN, (void *)id }, v;
	uint64_t size, done = 0;
	uint32_t nchunks, i;
	size_t alen;
	int rc, st = QUEUE_OK;

	if (!id_valid(id))
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 1, &txn)) != 0)
		return status_of(rc);
	if ((rc = mdb_get(txn, q->meta, &k, &v)) != 0) {
		mdb_txn_abort(txn);
		return status_of(rc);
	}
	if (hdr_check(v.mv_data, v.mv_size) != 0) {
		mdb_txn_abort(txn);
		return QUEUE_ECORRUPT;
	}
	memcpy(hdr, v.mv_data, H_LEN);
	if (key_unwrap(q->key, id, hdr, mkey) != 0) {
		mdb_txn_abort(txn);
		return QUEUE_EAUTH;
	}
	size = get64(hdr + H_SIZE);
	nchunks = be32_get(hdr + H_NCHUNKS);
	if (size > QUEUE_BODY_MAX || nchunks != (size + QUEUE_CHUNK - 1) /
	    QUEUE_CHUNK) {
		st = QUEUE_ECORRUPT;
		goto out;
	}
	for (i = 0; i < nchunks; i++) {
		size_t clen = size - done > QUEUE_CHUNK ? QUEUE_CHUNK :
		    (size_t)(size - done);

		if (i > 0) {		/* one short read txn per chunk */
			mdb_txn_reset(txn);
			if ((rc = mdb_txn_renew(txn)) != 0) {
				st = status_of(rc);
				goto out;
			}
		}
		body_key(bk, id, i);
		k.mv_size = sizeof(bk);
		k.mv_data = bk;
		if ((rc = mdb_get(txn, q->body, &k, &v)) != 0) {
			st = rc == MDB_NOTFOUND ? QUEUE_NOTFOUND :
			    status_of(rc);
			goto out;
		}
		if (v.mv_size != clen + QCRYPT_TAG_LEN) {
			st = QUEUE_ECORRUPT;
			goto out;
		}
		memcpy(q->chunk, v.mv_data, v.mv_size);
		nonce_fill(nonce, NONCE_BODY, i, 0);
		alen = aad_make(aad, 'B', id, i, nchunks, size);
		if (qcrypt_open(mkey, nonce, aad, alen, q->chunk, clen,
		    q->chunk + clen) != 0) {
			st = QUEUE_EAUTH;
			goto out;
		}
		done += clen;
		if (fn(arg, q->chunk, clen) != 0) {
			st = QUEUE_STOPPED;
			goto out;
		}
	}
out:
	mdb_txn_abort(txn);
	qcrypt_wipe(q->chunk, QUEUE_CHUNK + QCRYPT_TAG_LEN);
	qcrypt_wipe(mkey, sizeof(mkey));
	return st;
}

/* --- admin state (clear header only) --------------------------------- */

#define NEXT_KEEP	INT64_MIN

static void
hdr_modify(uint8_t *h, int set, int clr, int64_t next)
{
	uint32_t f = be32_get(h + H_FLAGS);

	f = (f | (uint32_t)set) & ~(uint32_t)clr;
	be32_put(h + H_FLAGS, f);
	if (next != NEXT_KEEP)
		put64(h + H_NEXT, (uint64_t)next);
}

static int
modify_one(struct queue *q, const char *id, int set, int clr, int64_t next)
{
	MDB_txn *txn;
	MDB_val k = { QUEUE_ID_LEN, (void *)id }, v, was;
	uint8_t *copy;
	int rc, st;

	if (!id_valid(id))
		return QUEUE_EINVAL;
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	if ((rc = mdb_get(txn, q->meta, &k, &v)) != 0)
		return txn_commit(txn, status_of(rc));
	if (hdr_check(v.mv_data, v.mv_size) != 0)
		return txn_commit(txn, QUEUE_ECORRUPT);
	if ((copy = malloc(v.mv_size)) == NULL)
		return txn_commit(txn, QUEUE_ERR);
	memcpy(copy, v.mv_data, v.mv_size);
	hdr_modify(copy, set, clr, next);
	was = v;
	v.mv_data = copy;
	st = status_of(meta_put(q, txn, NULL, &k, &v, &was, 0));
	free(copy);
	return txn_commit(txn, st);
}

int
queue_hold(struct queue *q, const char *id)
{
	return modify_one(q, id, QMSG_HELD, 0, NEXT_KEEP);
}

int
queue_release(struct queue *q, const char *id)
{
	return modify_one(q, id, 0, QMSG_HELD, NEXT_KEEP);
}

int
queue_attempt_begin(struct queue *q, const char *id, int64_t now_us)
{
	(void)now_us;
	return modify_one(q, id, QMSG_INFLIGHT, 0, NEXT_KEEP);
}

int
queue_flush(struct queue *q, const char *id, int64_t now_us, int *count)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	uint8_t *copy = NULL;
	size_t n = 0, limit;
	int rc, st = QUEUE_OK;

	*count = 0;
	if (id != NULL) {
		MDB_val kk = { QUEUE_ID_LEN, (void *)id };
		if (!id_valid(id))
			return QUEUE_EINVAL;
		if ((rc = txn_begin(q, 1, &txn)) != 0)
			return status_of(rc);
		rc = mdb_get(txn, q->meta, &kk, &v);
		st = rc != 0 ? status_of(rc) : hdr_check(v.mv_data, v.mv_size) != 0 ?
		    QUEUE_ECORRUPT : (be32_get((uint8_t *)v.mv_data + H_FLAGS) &
		    QMSG_HELD) ? QUEUE_OK : -1;
		mdb_txn_abort(txn);
		if (st != -1)
			return st;	/* held: stays held, count 0 */
		st = modify_one(q, id, 0, 0, now_us);
		if (st == QUEUE_OK)
			*count = 1;
		return st;
	}
	if ((rc = txn_begin(q, 0, &txn)) != 0)
		return status_of(rc);
	if ((rc = mdb_stat(txn, q->meta, &ms)) != 0 ||
	    (rc = mdb_cursor_open(txn, q->meta, &c)) != 0)
		return txn_commit(txn, status_of(rc));
	limit = ms.ms_entries;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0 && n <= limit; n++) {
		if (k.mv_size == QUEUE_ID_LEN &&
		    hdr_check(v.mv_data, v.mv_size) == 0 &&
		    !(be32_get((uint8_t *)v.mv_data + H_FLAGS) & QMSG_HELD) &&
		    (int64_t)get64((uint8_t *)v.mv_data + H_NEXT) > now_us) {
			MDB_val was = v;

			if ((copy = malloc(v.mv_size)) == NULL) {
				rc = ENOMEM;
				break;
			}
			memcpy(copy, v.mv_data, v.mv_size);
			hdr_modify(copy, 0, 0, now_us);
			v.mv_data = copy;
			rc = meta_put(q, txn, c, &k, &v, &was, MDB_CURRENT);
			free(copy);
			if (rc != 0)
				break;
			(*count)++;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		st = rc == 0 ? QUEUE_ERR : status_of(rc);
	return txn_commit(txn, st);
}

/* --- scans ---------------------------------------------------------------- */

uint64_t
queue_txnid(struct queue *q)
{
	MDB_envinfo info;

	if (mdb_env_info(q->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

int
queue_due(struct queue *q, int64_t now_us, char (*ids)[QUEUE_ID_LEN + 1],
    int max, int64_t *next_us, int *total)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	int rc, got = 0;

	*next_us = INT64_MAX;
	if ((rc = txn_begin(q, 1, &txn)) != 0)
		return -status_of(rc);
	if ((rc = mdb_stat(txn, q->meta, &ms)) != 0 ||
	    (rc = mdb_cursor_open(txn, q->due, &c)) != 0) {
		mdb_txn_abort(txn);
		return -status_of(rc);
	}
	/* the index in due order: the head is all that is read */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int64_t next;

		if (k.mv_size != DUE_KEY_LEN)
			continue;
		next = (int64_t)(get64(k.mv_data) ^ DUE_BIAS);
		if (next > now_us || got == max) {
			*next_us = next;
			break;
		}
		memcpy(ids[got], (const uint8_t *)k.mv_data + 8,
		    QUEUE_ID_LEN);
		ids[got][QUEUE_ID_LEN] = '\0';
		got++;
	}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (total != NULL)
		*total = ms.ms_entries > INT_MAX ? INT_MAX : (int)ms.ms_entries;
	if (rc != MDB_NOTFOUND && rc != 0)
		return -status_of(rc);
	return got;
}

int
queue_list(struct queue *q, queue_list_fn *fn, void *arg)
{
	struct queue_msg m;
	char id[QUEUE_ID_LEN + 1];
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	size_t n = 0;
	int rc, st = QUEUE_OK;

	if ((rc = txn_begin(q, 1, &txn)) != 0)
		return status_of(rc);
	if ((rc = mdb_stat(txn, q->meta, &ms)) != 0 ||
	    (rc = mdb_cursor_open(txn, q->meta, &c)) != 0) {
		mdb_txn_abort(txn);
		return status_of(rc);
	}
	queue_msg_init(&m);
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (; rc == 0 && n <= ms.ms_entries; n++) {
		int s;

		if (k.mv_size != QUEUE_ID_LEN) {
			st = QUEUE_ECORRUPT;
			break;
		}
		memcpy(id, k.mv_data, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		s = decode(q, id, &v, &m, NULL);
		if (s != QUEUE_OK && s != QUEUE_EAUTH && s != QUEUE_ECORRUPT) {
			st = s;
			break;
		}
		if (fn(arg, &m, s) != 0) {
			st = QUEUE_STOPPED;
			break;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	queue_msg_free(&m);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	if (st == QUEUE_OK && rc != MDB_NOTFOUND && rc != 0)
		st = status_of(rc);
	return st;
}

int
queue_usage(struct queue *q, uint64_t *used, uint64_t *mapsize)
{
	MDB_envinfo ei;
	MDB_stat ms;
	int rc;

	if ((rc = mdb_env_info(q->env, &ei)) != 0 ||
	    (rc = mdb_env_stat(q->env, &ms)) != 0)
		return status_of(rc);
	*used = (uint64_t)(ei.me_last_pgno + 1) * ms.ms_psize;
	*mapsize = ei.me_mapsize;
	return QUEUE_OK;
}

const char *
queue_strerror(int status)
{
	switch (status) {
	case QUEUE_OK:		return "ok";
	case QUEUE_DONE:	return "done, message removed";
	case QUEUE_NOTFOUND:	return "no such message";
	case QUEUE_FULL:	return "queue storage full";
	case QUEUE_EAUTH:	return "authentication failed (wrong key "
				    "or tampered record)";
	case QUEUE_ECORRUPT:	return "corrupt record";
	case QUEUE_EINVAL:	return "invalid argument";
	case QUEUE_ERR:		return "local error";
	case QUEUE_STOPPED:	return "stopped";
	}
	return "unknown status";
}

/* --- pure policy ------------------------------------------------------------ */

int64_t
queue_retry_delay_us(uint32_t attempts, uint32_t rnd)
{
	uint64_t d = QUEUE_RETRY_FIRST_S, dus, half;
	uint32_t i;

	for (i = 1; i < attempts && d < QUEUE_RETRY_CAP_S; i++)
		d *= 2;
	if (d > QUEUE_RETRY_CAP_S)
		d = QUEUE_RETRY_CAP_S;
	dus = d * 1000000;
	half = dus / 2;
	return (int64_t)(half + rnd % (dus - half + 1));
}

int64_t
queue_age_us(const struct queue_msg *m, int64_t now_us)
{
	if (m->arrival_us >= now_us)
		return 0;
	if (m->arrival_us < 0 && now_us > INT64_MAX + m->arrival_us)
		return INT64_MAX;
	return now_us - m->arrival_us;
}

int
queue_expired(const struct queue_msg *m, int64_t now_us, uint64_t lifetime_s)
{
	if (lifetime_s > (uint64_t)INT64_MAX / 1000000)
		return 0;
	return queue_age_us(m, now_us) >= (int64_t)(lifetime_s * 1000000);
}

/* --- log lines ------------------------------------------------------------- */

int
queue_log_line(char *buf, size_t size, const struct queue_msg *m,
    enum queue_event ev, int rcpt, const char *relay, int64_t now_us)
{
	const struct queue_rcpt *r;
	const char *status, *dflt, *text;
	char delay[32];
	double secs;
	int n;
	size_t i;

	if (size == 0)
		return -1;
	switch (ev) {
	case QEV_QUEUED:
		n = snprintf(buf, size, "%s: from=<%s>, size=%llu, nrcpt=%d "
		    "(queue active)", m->id, m->from,
		    (unsigned long long)m->size, m->nrcpt);
		break;
	case QEV_REMOVED:
		n = snprintf(buf, size, "%s: removed", m->id);
		break;
	case QEV_SENT:
	case QEV_DEFERRED:
	case QEV_BOUNCED:
	case QEV_EXPIRED:
		if (rcpt < 0 || rcpt >= m->nrcpt)
			return -1;
		r = &m->rcpt[rcpt];
		secs = (double)queue_age_us(m, now_us) / 1e6;
		if (secs < 100)
			snprintf(delay, sizeof(delay), "%.2f", secs);
		else
			snprintf(delay, sizeof(delay), "%.0f", secs);
		dflt = ev == QEV_SENT ? "2.0.0" : ev == QEV_BOUNCED ?
		    "5.0.0" : ev == QEV_EXPIRED ? "4.4.7" : "4.0.0";
		status = ev == QEV_SENT ? "sent" : ev == QEV_DEFERRED ?
		    "deferred" : ev == QEV_BOUNCED ? "bounced" :
		    "expired, returned to postmaster";
		text = r->last_error[0] ? r->last_error :
		    ev == QEV_EXPIRED ? "message expired" : "";
		n = snprintf(buf, size, "%s: to=<%s>, relay=%s, delay=%s, "
		    "dsn=%s, status=%s (%s)", m->id, r->addr,
		    relay && *relay ? relay : "none", delay,
		    r->status[0] ? r->status : dflt, status, text);
		break;
	default:
		return -1;
	}
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return -1;
	}
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return n;
}
