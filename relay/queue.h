/*
 * queue.h — the outage queue (SPEC 3.2 items 4-5): an LMDB store
 * of the messages that could not be relayed in session because no server
 * of their route answered. One environment in the `queue` directory, one
 * owner process that writes (the daemon's queue owner role, SPEC 3.8);
 * mxgatectl may open the same environment for admin operations (LMDB is
 * multi-process safe).
 *
 * What it owns: the environment, the per-message keys and the appliance
 * key that wraps them (see qcrypt.h), the record format, the retry and
 * expiry policy (pure functions below). It never opens a socket, never
 * parses SMTP and never logs: it returns data and statuses, the caller
 * logs (queue_log_line() formats the Postfix-style line).
 *
 * Durability: every function that changes the store commits one LMDB
 * write transaction, fsync'd (the environment is never opened with
 * MDB_NOSYNC or MDB_NOMETASYNC), before it returns QUEUE_OK. A message
 * for which queue_put() returned QUEUE_OK survives kill -9 and power loss.
 *
 * Sealing: body chunks and the envelope (sender, recipients, their
 * states and replies, route domain, attempt history) are sealed with
 * ChaCha20-Poly1305 under a random per-message key; that key is stored
 * wrapped by the appliance key. In clear remain only the id, sizes,
 * times, the attempt counter and the held/in-flight flags, so hold,
 * release and flush work without touching the keys. See docs/QUEUE.md.
 *
 * Record layout (sub-databases of the one environment):
 *   "info"  version, key check (a MAC under the appliance key)
 *   "meta"  ID -> clear header + wrapped key + sealed envelope
 *   "body"  ID || be32(chunk) -> sealed chunk of at most QUEUE_CHUNK bytes
 *   "due"   be64(next_try_us) || ID -> empty, for each message not held:
 *           the scheduler's index, kept in the same transaction as "meta"
 *
 * Threads: a struct queue is used by one thread at a time. Callbacks run
 * inside a read transaction and must not call queue functions.
 *
 * Integration (for the relay):
 *   queue on outage   queue_msg_init(); fill from/route_domain;
 *                     queue_msg_add_rcpt() per accepted recipient;
 *                     st = queue_put(q, &m, iov, n);  QUEUE_OK -> 250
 *                     "queued as ID"; QUEUE_FULL -> "452 4.3.1";
 *                     anything else -> "451 4.3.0"; queue_msg_free().
 *   delivery loop     n = queue_due(q, now, ids, max, &next); per id:
 *                     queue_get(), queue_attempt_begin() (optional),
 *                     queue_get_body() streaming to the customer, then
 *                     queue_set_result() per recipient,
 *                     queue_msg_add_attempt(), attempts++, next_try_us =
 *                     now + queue_retry_delay_us(attempts, random);
 *                     queue_update() -> QUEUE_DONE when nothing is
 *                     pending (the record and its key are then gone).
 *   5xx or expiry     mark the recipients QRCPT_FAILED (queue_expired()
 *                     says when), dsn_build() a report to postmaster and
 *                     queue_bounce(q, &m, &dsnmeta, iov, n): the report
 *                     is queued and the original updated or removed in
 *                     the same transaction. A message from <> gets no
 *                     report (queue_update() only).
 */
#ifndef MXGATE_QUEUE_H
#define MXGATE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "addr.h"
#include "qcrypt.h"

#define QUEUE_ID_LEN		18	/* uppercase hex: 14 time + 4 random */
#define QUEUE_RCPT_MAX		1000	/* recipients per message */
#define QUEUE_TEXT_MAX		512	/* a reply or reason, with NUL */
#define QUEUE_RELAY_MAX		64	/* "host[addr]:port", with NUL */
#define QUEUE_STATUS_MAX	12	/* "4.4.1" ... "5.123.123", with NUL */
#define QUEUE_HIST_MAX		8	/* attempts remembered (the latest) */
#define QUEUE_MAIL_PARAMS_MAX	128	/* "RET=.. ENVID=..", with NUL */
#define QUEUE_RCPT_PARAMS_MAX	544	/* "NOTIFY=.. ORCPT=..", with NUL */
#define QUEUE_CHUNK		(256u * 1024)	/* body bytes per record */
#define QUEUE_BODY_MAX		(256ull << 20)	/* largest message */
#define QUEUE_MAPSIZE_DEFAULT	(2ull << 30)	/* LMDB map: 2 GiB */
#define QUEUE_MAPSIZE_MIN	(256ull << 10)

/* Retry policy (see queue_retry_delay_us). */
#define QUEUE_RETRY_FIRST_S	60	/* first retry within a minute */
#define QUEUE_RETRY_CAP_S	3600	/* never more than an hour apart */

enum queue_status {
	QUEUE_OK = 0,
	QUEUE_DONE,		/* update: nothing pending, record removed */
	QUEUE_NOTFOUND,		/* no such id */
	QUEUE_FULL,		/* map full or disk full: answer 452 4.3.1 */
	QUEUE_EAUTH,		/* wrong appliance key or tampered record */
	QUEUE_ECORRUPT,		/* a record that does not parse */
	QUEUE_EINVAL,		/* a bad argument (too many rcpts, too big) */
	QUEUE_ERR,		/* any other local fault (errno kept) */
	QUEUE_STOPPED,		/* a callback asked to stop */
};

/* queue_open() flags */
#define QUEUE_CREATE	0x1	/* create the directory and a new key if
				   the queue does not exist yet */
#define QUEUE_REINDEX	0x2	/* rebuild the "due" index from every
				   record (the owner, once at start) */

/* Message flags (clear, changed by admin operations). */
#define QMSG_HELD	0x1	/* never due until released */
#define QMSG_INFLIGHT	0x2	/* a delivery attempt started, no result */

enum queue_rcpt_state {
	QRCPT_PENDING = 0,	/* still to be delivered */
	QRCPT_SENT,		/* the customer accepted it */
	QRCPT_FAILED,		/* permanent failure or expired */
};

struct queue_rcpt {
	char	addr[ADDR_PATH_MAX + 1];	/* local@domain */
	int	state;				/* enum queue_rcpt_state */
	char	status[QUEUE_STATUS_MAX];	/* enhanced code, "" if none */
	char	last_error[QUEUE_TEXT_MAX];	/* last reply/reason, or "" */
	char	params[QUEUE_RCPT_PARAMS_MAX];	/* its DSN parameters, or "" */
};

struct queue_attempt {
	int64_t	at_us;				/* wall clock */
	char	relay[QUEUE_RELAY_MAX];		/* "" if no connection */
	char	result[QUEUE_TEXT_MAX];		/* reply or local reason */
};

struct queue_msg {
	char			id[QUEUE_ID_LEN + 1];	/* set by queue_put (a
						   well-formed free id the
						   caller put here is kept) */
	char			from[ADDR_PATH_MAX + 1];	/* "" is <> */
	char			route_domain[ADDR_DOMAIN_MAX + 1];
	char			params[QUEUE_MAIL_PARAMS_MAX];	/* the sender's
						   DSN parameters, or "" */
	struct queue_rcpt	*rcpt;		/* owned; queue_msg_free */
	int			nrcpt;
	int			rcpt_cap;
	int64_t			arrival_us;	/* 0 at put: now */
	int64_t			next_try_us;	/* 0 at put: first retry */
	int64_t			last_try_us;	/* 0: never tried */
	uint32_t		attempts;
	int			flags;		/* QMSG_* */
	uint64_t		size;		/* body bytes, set by put/get */
	struct queue_attempt	hist[QUEUE_HIST_MAX];	/* oldest first */
	int			nhist;
};

struct queue;

/* --- the message structure ------------------------------------------ */

void queue_msg_init(struct queue_msg *m);
void queue_msg_free(struct queue_msg *m);	/* then init again to reuse */
/* Appends a pending recipient. 0 ok; -1 too many (QUEUE_RCPT_MAX),
 * too long or empty, out of memory. */
int  queue_msg_add_rcpt(struct queue_msg *m, const char *addr);
/* 1 if p may be a message's or a recipient's DSN parameter string: it
 * goes into a command line, so printable ASCII and spaces only. */
int  queue_params_valid(const char *p);
/* Records the outcome for recipient i. status and text are copied; a text
 * longer than QUEUE_TEXT_MAX-1 is cut and ends in "..." (never silently).
 */
void queue_set_result(struct queue_msg *m, int i, enum queue_rcpt_state st,
    const char *status, const char *text);
/* Appends an attempt to the history, dropping the oldest beyond
 * QUEUE_HIST_MAX; long texts are cut with "...". */
void queue_msg_add_attempt(struct queue_msg *m, int64_t at_us,
    const char *relay, const char *result);
/* Number of recipients still QRCPT_PENDING. */
int  queue_msg_pending(const struct queue_msg *m);

/* --- the store -------------------------------------------------------- */

/*
 * Opens (with QUEUE_CREATE: creates) the queue in dir. keyfile NULL means
 * the default, queue_default_keyfile(dir). mapsize 0 keeps the existing
 * map size (or LMDB's default for a new queue). The appliance key is
 * generated only when the key file is missing AND the queue has never
 * been keyed; a queue keyed under another key is refused (QUEUE_EAUTH),
 * a keyed queue whose key file is missing is refused (QUEUE_ERR). On any
 * failure *qp is NULL and err holds a one-line reason.
 */
int queue_open(struct queue **qp, const char *dir, const char *keyfile,
    uint64_t mapsize, int flags, char *err, size_t errlen);
void queue_close(struct queue *q);		/* wipes the key */

/* "DIR/../queue.key" made canonical by string ops: the key lives beside,
 * not inside, the queue directory. 0 ok, -1 too long. */
int queue_default_keyfile(const char *dir, char *out, size_t size);

/*
 * Stores a new message: envelope m (1..QUEUE_RCPT_MAX recipients) and its
 * bytes, the exact wire form the relay would send (CRLF, dot-stuffed,
 * without the final ".CRLF"). Assigns m->id and m->size; sets
 * arrival_us/next_try_us when 0. Durable on QUEUE_OK. QUEUE_FULL when the
 * map or the disk is full (the store stays readable), QUEUE_EINVAL for a
 * bad envelope or a message over QUEUE_BODY_MAX.
 */
int queue_put(struct queue *q, struct queue_msg *m, const struct iovec *iov,
    int iovcnt);

/* Group commit: stores n messages (one iovec each) in ONE fsync'd
 * transaction — all or none. QUEUE_OK: every m[i]->id is set and every
 * message is durable. Any other status: none was stored (the caller may
 * retry them one by one with queue_put() to learn which one failed). */
int queue_put_many(struct queue *q, struct queue_msg **m,
    const struct iovec *iov, int n);

/* Reads and unseals the envelope of id into m (initialised or freed
 * before). QUEUE_EAUTH if it does not authenticate. */
int queue_get(struct queue *q, const char *id, struct queue_msg *m);

/* Streams the body of id, chunk by chunk (each at most QUEUE_CHUNK
 * bytes, authenticated before it is passed on). fn returns 0 to go on,
 * non-zero to stop (QUEUE_STOPPED). Each chunk is read in its own short
 * read transaction, so a slow consumer does not pin old pages. */
typedef int queue_body_fn(void *arg, const void *buf, size_t len);
int queue_get_body(struct queue *q, const char *id, queue_body_fn *fn,
    void *arg);

/*
 * Writes back the outcome of a delivery attempt: per-recipient state,
 * status and text, attempts, next_try_us, last_try_us and the history of
 * m. Sender, route and recipient addresses are taken from the store, not
 * from m (they cannot be changed); the held flag is kept as stored (an
 * admin may have held it meanwhile); QMSG_INFLIGHT is cleared. When no
 * recipient is pending any more, the message is shredded in the same
 * transaction and QUEUE_DONE is returned.
 */
int queue_update(struct queue *q, const struct queue_msg *m);

/* queue_update() of n messages in ONE fsync'd transaction. QUEUE_OK:
 * st[i] holds each one's status (QUEUE_OK, QUEUE_DONE or QUEUE_NOTFOUND,
 * a message removed meanwhile); any other status: none was written (the
 * caller may update them one by one to learn which one failed). */
int queue_update_many(struct queue *q, struct queue_msg *const *m, int n,
    int *st);

/* queue_update(m) and queue_put(dsn, iov) in one transaction: a report
 * is never lost and never sent for a message that stays. dsn->id is set. */
int queue_bounce(struct queue *q, const struct queue_msg *m,
    struct queue_msg *dsn, const struct iovec *iov, int iovcnt);

/* Removes the message and its wrapped key (crypto-shredding). */
int queue_delete(struct queue *q, const char *id);

/* Admin state. hold: never due until release. flush: due at now_us (id
 * NULL: every message that is not held); *count gets how many. */
int queue_hold(struct queue *q, const char *id);
int queue_release(struct queue *q, const char *id);
int queue_flush(struct queue *q, const char *id, int64_t now_us, int *count);
/* Sets QMSG_INFLIGHT before an attempt, so a crash between the
 * customer's 250 and queue_update() is visible (possible duplicate). */
int queue_attempt_begin(struct queue *q, const char *id, int64_t now_us);

/*
 * The scheduler's scan (clear fields only, no decryption): writes into
 * ids[0..max-1] the messages that are not held and whose next_try_us <=
 * now_us, earliest first (then in id order), and returns how many
 * (>= 0), or -QUEUE_* on error. It reads the head of the "due" index,
 * so its cost follows what it returns, not the size of the queue. *next_us gets the earliest next_try_us of the
 * messages not returned and not held (INT64_MAX when none), so the
 * caller knows how long to sleep. *total (may be NULL) gets the count of
 * all messages.
 */
int queue_due(struct queue *q, int64_t now_us, char (*ids)[QUEUE_ID_LEN + 1],
    int max, int64_t *next_us, int *total);

/* The id of the store's last committed write transaction, whoever made it
 * (this process, an admin's mxgatectl): unchanged means the store is
 * unchanged. */
uint64_t queue_txnid(struct queue *q);

/* Every message in id order. m has the clear fields and, when status is
 * QUEUE_OK, the unsealed envelope; with QUEUE_EAUTH/QUEUE_ECORRUPT only
 * the clear ones. fn returns non-zero to stop (QUEUE_STOPPED). */
typedef int queue_list_fn(void *arg, const struct queue_msg *m, int status);
int queue_list(struct queue *q, queue_list_fn *fn, void *arg);

/* Map usage: bytes used by pages in use and the map size. */
int queue_usage(struct queue *q, uint64_t *used, uint64_t *mapsize);

const char *queue_strerror(int status);

/* --- pure policy -------------------------------------------------------- */

/*
 * Delay before the next try after `attempts` failed attempts (>= 1):
 * d = min(QUEUE_RETRY_FIRST_S * 2^(attempts-1), QUEUE_RETRY_CAP_S)
 * seconds, jittered into [d/2, d] by rnd (any 32-bit random value). So
 * the first retry comes within 30-60 s and no two are over an hour apart.
 */
int64_t queue_retry_delay_us(uint32_t attempts, uint32_t rnd);

/* now_us - m->arrival_us, clamped to 0 .. INT64_MAX: the arrival time is
 * a clear, unauthenticated field and may hold anything. */
int64_t queue_age_us(const struct queue_msg *m, int64_t now_us);

/* 1 when m has been queued for at least lifetime_s seconds at now_us. */
int queue_expired(const struct queue_msg *m, int64_t now_us,
    uint64_t lifetime_s);

/* --- the record format (the store's own; exported for its tests) --- */

/* Decodes a "meta" record of id (rec, len bytes as stored) under the
 * appliance key into m, like queue_get(): QUEUE_ECORRUPT, QUEUE_EAUTH
 * (then m holds the clear fields only) or QUEUE_OK. */
int queue_record_decode(const uint8_t key[QCRYPT_KEY_LEN], const char *id,
    const void *rec, size_t len, struct queue_msg *m);

/* Decodes an unsealed envelope into m (initialised before): QUEUE_OK or
 * QUEUE_ECORRUPT. */
int queue_envelope_decode(const void *env, size_t len, struct queue_msg *m);

/* --- log lines ------------------------------------------------------------ */

enum queue_event {
	QEV_QUEUED,	/* ID: from=<s>, size=N, nrcpt=N (queue active) */
	QEV_SENT,	/* ID: to=<r>, relay=R, delay=D, dsn=X, status=sent (T) */
	QEV_DEFERRED,	/* ... status=deferred (T) */
	QEV_BOUNCED,	/* ... status=bounced (T) */
	QEV_EXPIRED,	/* ... status=expired, returned to postmaster (T) */
	QEV_REMOVED,	/* ID: removed */
};

/*
 * Formats one Postfix-style line (without the "TIME HOST mxgate/qmgr[PID]: "
 * prefix, which is the log module's) into buf. rcpt is the recipient index
 * for the per-recipient events, relay may be NULL ("none"). Control
 * characters are replaced with '?'. Returns the length, or -1 when buf
 * is too small (nothing is cut silently).
 */
int queue_log_line(char *buf, size_t size, const struct queue_msg *m,
    enum queue_event ev, int rcpt, const char *relay, int64_t now_us);

#endif
