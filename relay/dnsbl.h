/*
 * dnsbl.h — asynchronous DNSBL lookups on the process's event loop: one
 * A query per configured zone for a client address, all in parallel,
 * over UDP to the configured resolvers (retry, rotation, deadline), TCP
 * when a reply is truncated, answers cached by TTL, and one callback per
 * check with the weighted score.
 *
 * Owns: one connected UDP socket per resolver (opened by
 * dnsbl_client_new(), so before any sandbox), the TCP sockets of
 * truncated replies (opened on demand, at most DNSBL_MAX_TCP), a bounded
 * cache and a bounded pool of in-flight queries.
 *
 * Never talks to any address but the configured resolvers (there is no
 * default resolver), never blocks, never calls back from inside
 * dnsbl_check(), never lets a lookup outlive its deadline: a zone that
 * has not answered by then counts as not listed and is reported as a
 * timeout.
 */
#ifndef MXGATE_DNSBL_H
#define MXGATE_DNSBL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "net.h"

struct config;

#define DNSBL_MAX_ZONES		32	/* = CONF_MAX_DNSBL */
#define DNSBL_MAX_RESOLVERS	4	/* = CONF_MAX_RESOLVERS */
#define DNSBL_MAX_FILTERS	8	/* answer ranges per zone */
#define DNSBL_ZONE_MAX		253	/* text, without trailing dot */
#define DNSBL_SPEC_MAX		(DNSBL_ZONE_MAX + 1 + DNSBL_MAX_FILTERS * 24)
#define DNSBL_MAX_INFLIGHT	1024	/* queries on the wire */
#define DNSBL_MAX_TCP		16	/* concurrent TCP fallbacks */
#define DNSBL_MAX_CHECKS	65536	/* checks waiting for answers */
#define DNSBL_CACHE_MIN		64
#define DNSBL_CACHE_MAX		(1u << 20)

/* One zone: `dnsbl ZONE[=FILTER] WEIGHT` or `dnsbl_allow ZONE[=FILTER]
 * -WEIGHT`. FILTER is a comma list of 127.x.y.z or 127.x.y.[a..b]; with
 * none, any answer in 127.0.0.0/8 except 127.255.255.0/24 (the error
 * codes some lists return) means listed. */
struct dnsbl_zone {
	char		zone[DNSBL_ZONE_MAX + 1];	/* lower case */
	int		weight;		/* -1000..1000; < 0 for allow zones */
	int		allow;		/* from dnsbl_allow */
	int		nfilter;
	struct {
		uint32_t lo, hi;	/* host order, inclusive */
	}		filter[DNSBL_MAX_FILTERS];
};

/*
 * Parses "bl.example" or "bl.example=127.0.0.2,127.0.0.[4..7]" into *out
 * with weight and the allow flag. An allow zone needs a negative weight.
 * 0, or -1 with a reason in err ("dnsbl: ..." is up to the caller).
 */
int dnsbl_zone_parse(const char *spec, int weight, int allow,
    struct dnsbl_zone *out, char *err, size_t errlen);

/* 1 when the A answer a (network order) lists the client for z. */
int dnsbl_zone_match(const struct dnsbl_zone *z, const uint8_t a[4]);

typedef void dnsbl_log_fn(void *arg, const char *line);

struct dnsbl_conf {
	struct dnsbl_zone	zone[DNSBL_MAX_ZONES];
	int			nzones;
	struct sockaddr_storage	resolver[DNSBL_MAX_RESOLVERS];
	int			nresolvers;
	int			threshold;	/* listed when score >= it */
	int64_t			timeout_ms;	/* per check: 2000 */
	int64_t			retry_ms;	/* resend to next resolver: 400 */
	uint32_t		cache_size;	/* entries: 8192 */
	uint32_t		ttl_min, ttl_max;	/* seconds: 10, 3600 */
	uint32_t		neg_ttl;	/* NXDOMAIN without SOA: 300 */
	int			tcp;		/* TCP on TC=1 (default 0: a
						   sandboxed worker has no
						   socket()) */
	dnsbl_log_fn		*log;		/* problems, or NULL */
	void			*log_arg;
};

void dnsbl_conf_default(struct dnsbl_conf *c);

/* Defaults, then cf's zones (cf->dnsbl[i].zone parsed with
 * dnsbl_zone_parse(); a negative weight marks an allow zone until config
 * carries the flag), resolvers and dnsbl_threshold. 0, or -1 with err. */
int dnsbl_conf_from_config(const struct config *cf, struct dnsbl_conf *c,
    char *err, size_t errlen);

enum dnsbl_state {
	DNSBL_CLEAN,		/* NXDOMAIN, NODATA, or filtered out */
	DNSBL_LISTED,
	DNSBL_TIMEOUT,		/* deadline passed: counts as clean */
	DNSBL_ERROR,		/* SERVFAIL, bad replies, no resources */
};

struct dnsbl_result {
	int		score;		/* sum of weights of listing zones */
	int		listed;		/* score >= threshold */
	int		nzones;
	uint8_t		state[DNSBL_MAX_ZONES];	/* enum dnsbl_state */
	uint8_t		answer[DNSBL_MAX_ZONES][4];	/* LISTED: the A */
	int		nlisted, ntimeout, nerror;
	int64_t		elapsed_ms;
};

typedef void dnsbl_cb(void *arg, const struct dnsbl_result *r);

struct dnsbl_stats {
	uint64_t	checks, queries, sent, replies, bad_replies;
	uint64_t	timeouts, errors, tcp, cache_hits, cache_joins;
	uint64_t	evictions;
	uint32_t	inflight, cached;
};

struct dnsbl_client;
struct dnsbl_check;

/* Opens the resolver sockets and registers them with l. NULL with a
 * reason in err (no resolver, socket failure, memory). A client with no
 * zone is valid: every check then completes at once with score 0. */
struct dnsbl_client *dnsbl_client_new(struct loop *l,
    const struct dnsbl_conf *c, char *err, size_t errlen);
/* Closes everything; pending checks are dropped without callback. */
void dnsbl_client_free(struct dnsbl_client *cl);

/*
 * Starts a check of ip against every zone; cb(arg, result) is called
 * exactly once, from the loop (never from inside this call), at the
 * latest timeout_ms later. Returns a handle valid until cb runs or
 * dnsbl_cancel(); NULL when DNSBL_MAX_CHECKS are waiting or memory is
 * exhausted (the caller treats the client as not listed and logs it).
 */
struct dnsbl_check *dnsbl_check(struct dnsbl_client *cl,
    const struct netaddr *ip, dnsbl_cb *cb, void *arg);

/* The session closed first: no callback. The queries go on and fill the
 * cache. */
void dnsbl_cancel(struct dnsbl_check *chk);

/* "rank 5 bl.test(3)=127.0.0.2 two.test(2)=127.0.0.4 timeout slow.test"
 * (listing zones, then timeouts and errors by name); returns buf. */
char *dnsbl_result_format(const struct dnsbl_client *cl,
    const struct dnsbl_result *r, char *buf, size_t size);

void dnsbl_stats(const struct dnsbl_client *cl, struct dnsbl_stats *st);
const char *dnsbl_state_name(enum dnsbl_state s);

#endif
