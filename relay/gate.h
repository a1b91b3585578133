/*
 * gate.h — connection admission (SPEC 3.4): allow/block CIDR lists,
 * temporary blocks, per-IP and per-netblock concurrency limits and
 * connection-rate token buckets, the global session cap, the memory of
 * recently passed clients, and the in-session abuse counters.
 *
 * Owns: a fixed-size open-addressing table inside a region the caller
 * provides (the parent maps the `gate_file` MAP_SHARED before forking the
 * front workers, so every limit holds across N workers, and mxgatectl
 * maps the same file), and a private
 * per-process handle (the configuration's CIDR sets, the limits).
 * Every operation on the shared table takes one spinlock held for a
 * bounded number of steps (at most GATE_PROBE slots per key).
 *
 * Never does I/O, never allocates after gate_new(), never grows: when the
 * table is full the oldest idle entry of the probe window is evicted;
 * entries with live connections or an active temporary block are never
 * evicted.
 */
#ifndef MXGATE_GATE_H
#define MXGATE_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

struct config;

#define GATE_MAX_WORKERS	16	/* front workers sharing a region */
#define GATE_PROBE		16	/* slots looked at per key */
#define GATE_MIN_SLOTS		256
#define GATE_DEFAULT_SLOTS	16384	/* ~2.6 MB: see gate_region_size() */
#define GATE_MAX_DYN		256	/* allow/block entries added at run time */
#define GATE_WHY_MAX		48	/* reason kept with a temporary block */
#define GATE_DETAIL_MAX		160	/* text after the IP in a verdict line */

enum gate_verdict {
	/* gate_admit() */
	GATE_ALLOW,		/* allowlisted: no test at all */
	GATE_PASS,		/* new client: run pregreet and DNSBL */
	GATE_PASS_OLD,		/* passed recently: banner at once */
	GATE_BLOCK,		/* block list: 554 5.7.1 or silent close */
	GATE_TEMPBLOCK,		/* temporarily blocked: 421 4.7.0 */
	GATE_LIMIT_CONN,	/* per-IP or per-netblock concurrency */
	GATE_LIMIT_RATE,	/* per-IP or per-netblock connection rate */
	GATE_LIMIT_GLOBAL,	/* session cap (or table full): 421 4.7.0 */
	/* decided later by the session, named and counted here */
	GATE_PREGREET,		/* talked before the banner: dropped */
	GATE_DNSBL,		/* DNSBL score reached the threshold */
	GATE_DICTIONARY,	/* too many unknown recipients */
	GATE_NVERDICTS
};

/* What became of a message, counted for `mxgatectl status`. */
enum gate_msg {
	GATE_MSG_RELAYED,	/* the customer took it in session */
	GATE_MSG_QUEUED,	/* stored for an outage (250 after commit) */
	GATE_MSG_REFUSED,	/* refused at its end (ours or the customer's) */
	GATE_NMSG
};

enum gate_block_action { GATE_BLOCK_REPLY, GATE_BLOCK_DROP };
enum gate_list { GATE_LIST_ALLOW = 1, GATE_LIST_BLOCK = 2 };

/* Tunables. gate_conf_default() fills the defaults; every bound is listed
 * in docs/GATING.md with the config directive that sets it. */
struct gate_conf {
	int		ip_concurrency;	/* 10; 1..10000 */
	int		net_concurrency;	/* 50; 1..60000 */
	int		ip_rate;	/* conn/min per IP, 30; 0 = off */
	int		net_rate;	/* conn/min per netblock, 120; 0 = off */
	int		net4_prefix;	/* 24; 8..32 */
	int		net6_prefix;	/* 64; 16..128 */
	int		max_sessions;	/* config max_sessions (1000) */
	int64_t		pass_ttl_ms;	/* 1 h; 0 = never remember */
	int64_t		pregreet_wait_ms;	/* 2 s; 0 = no pregreet test */
	enum gate_block_action block_action;	/* reply */
	int		max_unknown_rcpt;	/* 10 per session; 0 = off */
	int		max_refused_rcpt;	/* 30 per session; 0 = off */
	int64_t		tempblock_ms;	/* 10 min */
	uint64_t	min_data_rate;	/* bytes/s, 256; 0 = off */
	int64_t		data_rate_grace_ms;	/* 10 s before it applies */
};

/* What gate_admit() hands the session; give it back to gate_release(). */
struct gate_ticket {
	struct netaddr		ip;
	enum gate_verdict	verdict;
	int64_t			admitted_ms;
	uint8_t			worker;		/* index at admit time */
	uint8_t			counted;	/* GATE_COUNTED_* */
	char			detail[GATE_DETAIL_MAX];	/* "cidr ..." */
};
#define GATE_COUNTED_SESSION	1
#define GATE_COUNTED_IP		2
#define GATE_COUNTED_NET	4

/* Per-session abuse counters (embedded in the session, zeroed at start). */
struct gate_session {
	int		unknown_rcpt;
	int		refused_rcpt;	/* 5xx from the customer's server */
	int64_t		data_start_ms;
	uint64_t	data_bytes;
};

struct gate_stats {
	uint64_t	verdicts[GATE_NVERDICTS];
	uint64_t	msgs[GATE_NMSG];	/* since the table was made */
	uint64_t	msgs_today[GATE_NMSG];	/* during day `today` */
	int64_t		today;		/* UTC day number (epoch days) */
	uint32_t	sessions;	/* live, all workers */
	uint32_t	slots, used;	/* table size and entries in use */
	uint64_t	evictions;	/* idle entries recycled */
	uint64_t	table_full;	/* admits refused: window pinned */
	uint32_t	ndyn;		/* run-time allow/block entries */
};

struct gate_entry {
	struct netaddr	addr;
	int		is_net;		/* a netblock entry (masked) */
	uint32_t	conns;		/* live connections, all workers */
	uint32_t	total;		/* admitted since the entry exists */
	uint32_t	rejected;	/* refused since the entry exists */
	int64_t		block_left_ms;	/* > 0: temporarily blocked */
	int64_t		pass_left_ms;	/* > 0: remembered as passed */
	char		why[GATE_WHY_MAX];
};

struct gate;

void gate_conf_default(struct gate_conf *gc);
/* Defaults, then what struct config already carries (max_sessions). */
void gate_conf_from_config(const struct config *cf, struct gate_conf *gc);

/* Bytes a region of nslots (a power of two >= GATE_MIN_SLOTS) needs. */
size_t gate_region_size(uint32_t nslots);

/*
 * Initialises the region mem (size bytes, zeroed or not; its largest
 * power-of-two slot count is used) and returns this process's handle with
 * cf's allow/block lists and limits (gate_conf_from_config). The parent
 * calls it once before forking; each child then calls gate_set_worker().
 * NULL when size is below gate_region_size(GATE_MIN_SLOTS) or memory for
 * the handle is exhausted. gate_new_conf() takes explicit tunables (cf
 * still gives the CIDR lists; cf may be NULL for none).
 */
struct gate *gate_new(const struct config *cf, void *mem, size_t size);
struct gate *gate_new_conf(const struct config *cf,
    const struct gate_conf *gc, void *mem, size_t size);
/* A handle on a region another process initialised with gate_new()
 * (e.g. mxgatectl mapping a file-backed region under /run): checks the
 * magic, version and size, initialises nothing. NULL when they differ. */
struct gate *gate_attach(const struct config *cf, void *mem, size_t size);
void gate_free(struct gate *g);	/* the handle only, never the region */

/* Worker index 0..GATE_MAX_WORKERS-1 for the counts this process takes;
 * also records getpid() for the lock's dead-owner recovery. */
int gate_set_worker(struct gate *g, int worker);

/* SIGHUP: new lists and limits from cf; the shared state stays. 0, or -1
 * (memory) leaving the old settings in place. */
int gate_reload(struct gate *g, const struct config *cf,
    const struct gate_conf *gc);

const struct gate_conf *gate_conf(const struct gate *g);

/*
 * Admission at accept time, before anything is written to the client.
 * Fills *t (always) and returns its verdict. For GATE_ALLOW, GATE_PASS and
 * GATE_PASS_OLD the connection is counted and the caller must call
 * gate_release(t) when it closes; for the others nothing is counted and
 * gate_release() is a no-op. The verdict counter is incremented.
 */
enum gate_verdict gate_admit(struct gate *g, const struct netaddr *ip,
    int64_t now_ms, struct gate_ticket *t);
void gate_release(struct gate *g, struct gate_ticket *t);

/* The session's own verdicts (PREGREET, DNSBL, DICTIONARY): counts it and
 * stores detail ("after 120 ms", "rank 5 bl.test(3) ...") in the ticket
 * for gate_log_line() and gate_reply(). */
void gate_note(struct gate *g, struct gate_ticket *t, enum gate_verdict v,
    const char *detail);

/* The client passed pregreet and DNSBL: PASS_OLD for pass_ttl. */
void gate_mark_passed(struct gate *g, const struct netaddr *ip,
    int64_t now_ms);

/* Blocks ip for seconds (GATE_TEMPBLOCK at the next admit). 0, or -1 when
 * no slot could be had (the probe window is pinned). */
int gate_tempblock(struct gate *g, const struct netaddr *ip, int seconds,
    const char *why, int64_t now_ms);
int gate_unblock(struct gate *g, const struct netaddr *ip);

/* Run-time allow/block entries (mxgatectl gate allow|block|remove),
 * shared by every worker. 0, or -1 when the list is full (add) or the
 * entry is absent (del). The caller writes the audit log. */
int gate_cidr_add(struct gate *g, enum gate_list list, const struct cidr *c);
int gate_cidr_del(struct gate *g, enum gate_list list, const struct cidr *c);

/*
 * In-session: one unknown recipient. Returns 1 when max_unknown_rcpt is
 * reached: the IP is then temporarily blocked for tempblock_ms, the verdict
 * DICTIONARY is noted in t, and the session answers gate_reply() and
 * closes. 0 otherwise.
 */
int gate_unknown_rcpt(struct gate *g, struct gate_session *s,
    struct gate_ticket *t, int64_t now_ms);

/*
 * In-session: one recipient the customer's server refused with a 5xx (the
 * mailbox list is the customer's own there). The same as above with its
 * own counter and limit, max_refused_rcpt: a sender whose list is a little
 * stale is normal, hundreds of refusals in one session are a dictionary
 * attack run through the customer. Never counted as the client's error.
 */
int gate_refused_rcpt(struct gate *g, struct gate_session *s,
    struct gate_ticket *t, int64_t now_ms);

/* In DATA: 1 when, past the grace period, the average rate since
 * data_start_ms is below min_data_rate (a slow-drip sender). */
int gate_data_too_slow(const struct gate *g, const struct gate_session *s,
    int64_t now_ms);

/* Worker `worker` died: forget its live connections everywhere. Parent
 * only, O(slots). */
void gate_worker_reset(struct gate *g, int worker);

void gate_stats(struct gate *g, struct gate_stats *st);

/* A message ended as m (wall_s: seconds since the epoch; the daily
 * counters start again at 00:00 UTC). */
/* The log disk guard's verdict (logdisk.h), set by the master each
 * second, read by every worker at MAIL: no lock, one word each. */
void gate_set_log_disk(struct gate *g, int refuse, int pct);
int gate_log_disk_refuses(const struct gate *g);

void gate_count_message(struct gate *g, enum gate_msg m, int64_t wall_s);

/* Top talkers (most live, then most total connections) or, with
 * blocks_only, the temporary blocks; at most max entries into out,
 * returns how many. */
int gate_list_entries(struct gate *g, int64_t now_ms, int blocks_only,
    struct gate_entry *out, int max);

/* "PASS", "PASS OLD", "LIMIT conn", ... as in the log line. */
const char *gate_verdict_name(enum gate_verdict v);

/* 1 when the verdict lets the session go on (ALLOW, PASS, PASS_OLD). */
int gate_verdict_ok(enum gate_verdict v);

/*
 * The reply for a refusing verdict, CRLF-terminated, into buf: 554 5.7.1
 * (BLOCK, DNSBL) or 421 4.7.0 (TEMPBLOCK, LIMIT_*, DICTIONARY). Returns 1
 * when it must be sent, 0 when the connection is closed silently
 * (PREGREET, BLOCK with block_action drop, or an accepting verdict).
 */
int gate_reply(const struct gate *g, const struct gate_ticket *t, char *buf,
    size_t size);

/* The verdict line without prefix: "PASS NEW [192.0.2.1]",
 * "BLOCK [198.51.100.7] cidr 198.51.100.0/24", "LIMIT rate [...] ip 30/min".
 * Returns buf. */
char *gate_log_line(const struct gate_ticket *t, char *buf, size_t size);

#endif
