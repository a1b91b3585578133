/*
 * dnsbl.c — see dnsbl.h. Zone specs, the cache, the queries on the wire
 * (UDP with retry and rotation, TCP on truncation) and the checks that
 * wait for them.
 *
 * Object lifetimes: a cache entry is PENDING while its one query is in
 * flight, then DONE (in the LRU list) until it expires or is evicted; an
 * error or timeout is never cached. A check holds one waiter per zone on
 * the entries it waits for. Every callback runs from the check's own
 * timer, so no list is ever walked while a user callback can change it.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "dns.h"
#include "dnsbl.h"
#include "util.h"

#define ID_BUCKETS	1024
#define RECV_BATCH	64	/* datagrams read per readiness event */
#define NIL		0u	/* index + 1 links: 0 is "none" */

enum { CE_FREE, CE_PENDING, CE_DONE };

struct dnsbl_check;

struct waiter {
	struct waiter		*prev, *next;
	struct dnsbl_check	*chk;
	int			 zi;
	int			 linked;
};

struct query;

struct centry {
	uint8_t		 state;		/* CE_* */
	uint8_t		 zi;
	uint8_t		 result;	/* DNSBL_CLEAN or DNSBL_LISTED */
	uint8_t		 a[4];
	struct netaddr	 addr;
	int64_t		 expires;
	uint32_t	 hnext;		/* hash chain */
	uint32_t	 lprev, lnext;	/* LRU (DONE only), head = newest */
	struct query	*q;
	struct waiter	*waiters;
};

enum { TCP_NONE, TCP_CONNECTING, TCP_WRITING, TCP_READING };

struct query {
	struct dnsbl_client	*cl;
	struct centry		*ce;
	struct query		*idnext;
	uint16_t		 id;
	char			 name[DNS_TEXT_MAX + 1];
	uint8_t			 msg[DNS_QUERY_MAX];
	size_t			 msglen;
	int			 tries, rnext;
	unsigned		 sent;		/* resolvers asked (bits) */
	int64_t			 give_up;
	struct timer		 timer;
	int			 tcp_state, tcp_resolver;
	struct watch		 tw;
	uint8_t			*tbuf;		/* 2 + DNS_TCP_MAX */
	size_t			 tlen, toff;
	int			 inuse;
};

struct rsock {
	struct dnsbl_client	*cl;
	int			 idx;
	struct watch		 w;
};

struct dnsbl_check {
	struct dnsbl_client	*cl;
	dnsbl_cb		*cb;
	void			*arg;
	struct netaddr		 addr;
	int64_t			 start;
	int			 pending;
	struct dnsbl_result	 res;
	struct waiter		 w[DNSBL_MAX_ZONES];
	struct timer		 timer;
	struct dnsbl_check	*prev, *next;	/* the client's checks */
};

struct dnsbl_client {
	struct loop		*loop;
	struct dnsbl_conf	 conf;
	struct rsock		 rs[DNSBL_MAX_RESOLVERS];
	struct centry		*ce;
	uint32_t		 ncache, nbuckets, *buckets;
	uint32_t		 freelist, lru_head, lru_tail, nused;
	struct query		*qpool, *idtab[ID_BUCKETS];
	int			 ninflight, ntcp, nchecks;
	struct dnsbl_check	*checks;
	uint16_t		 rnd[64];
	int			 nrnd;
	uint64_t		 hkey;
	struct dnsbl_stats	 st;
};

static void q_send(struct query *q);
static void q_finish(struct query *q, int state, const uint8_t *a,
    uint32_t ttl);

static void
logf_(struct dnsbl_client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
logf_(struct dnsbl_client *cl, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (cl->conf.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cl->conf.log(cl->conf.log_arg, line);
}

/* --- zone specs ------------------------------------------------------ */

/* "127.0.0.2" or "127.0.0.[4..7]" into [lo, hi]. */
static int
filter_item(const char *s, uint32_t *lo, uint32_t *hi)
{
	char buf[32], *last;
	struct netaddr a;
	uint64_t x, y;
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	if ((last = strchr(buf, '[')) != NULL) {
		if (last == buf || last[-1] != '.')
			return -1;
		last--;
	} else if ((last = strrchr(buf, '.')) == NULL)
		return -1;
	if (last[1] == '[') {
		char *dots = strstr(last, ".."), *end = strchr(last, ']');
		if (dots == NULL || end == NULL || end[1] != '\0' ||
		    dots < last + 2)
			return -1;
		*dots = '\0';
		*end = '\0';
		if (parse_uint(last + 2, 0, 255, &x) != 0 ||
		    parse_uint(dots + 2, 0, 255, &y) != 0 || x > y)
			return -1;
		memcpy(last + 1, "0", 2);
	} else
		x = y = 256;
	if (net_parse_ip(buf, &a) != 0 || a.family != AF_INET)
		return -1;
	*lo = ((uint32_t)a.a[0] << 24) | ((uint32_t)a.a[1] << 16) |
	    ((uint32_t)a.a[2] << 8) | a.a[3];
	*hi = *lo;
	if (x != 256) {
		*lo = (*lo & 0xffffff00u) | (uint32_t)x;
		*hi = (*lo & 0xffffff00u) | (uint32_t)y;
	}
	if ((*lo >> 24) != 127)
		return -1;
	return 0;
}

int
dnsbl_zone_parse(const char *spec, int weight, int allow,
    struct dnsbl_zone *out, char *err, size_t errlen)
{
	char buf[DNSBL_SPEC_MAX + 1], *eq, *item, *save = NULL;

	memset(out, 0, sizeof(*out));
	if (strlen(spec) > DNSBL_SPEC_MAX) {
		snprintf(err, errlen, "'%.40s...' is too long", spec);
		return -1;
	}
	memcpy(buf, spec, strlen(spec) + 1);
	if ((eq = strchr(buf, '=')) != NULL)
		*eq++ = '\0';
	if (strlen(buf) > DNSBL_ZONE_MAX || !addr_domain_valid(buf)) {
		snprintf(err, errlen, "'%s' is not a valid zone", buf);
		return -1;
	}
	if (weight < -1000 || weight > 1000) {
		snprintf(err, errlen, "weight %d is not in -1000..1000", weight);
		return -1;
	}
	if (allow && weight >= 0) {
		snprintf(err, errlen, "allow zone '%s' needs a negative weight "
		    "(e.g. -5)", buf);
		return -1;
	}
	str_copy(out->zone, buf, sizeof(out->zone));
	str_lower(out->zone);
	out->weight = weight;
	out->allow = allow;
	if (eq == NULL)
		return 0;
	if (*eq == '\0') {
		snprintf(err, errlen, "empty answer filter after '='");
		return -1;
	}
	for (item = strtok_r(eq, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if (out->nfilter >= DNSBL_MAX_FILTERS) {
			snprintf(err, errlen, "at most %d answer filters",
			    DNSBL_MAX_FILTERS);
			return -1;
		}
		if (filter_item(item, &out->filter[out->nfilter].lo,
		    &out->filter[out->nfilter].hi) != 0) {
			snprintf(err, errlen, "bad answer filter '%s' "
			    "(127.X.Y.Z or 127.X.Y.[A..B])", item);
			return -1;
		}
		out->nfilter++;
	}
	if (out->nfilter == 0) {
		snprintf(err, errlen, "empty answer filter after '='");
		return -1;
	}
	return 0;
}

int
dnsbl_zone_match(const struct dnsbl_zone *z, const uint8_t a[4])
{
	uint32_t v = ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) |
	    ((uint32_t)a[2] << 8) | a[3];
	int i;

	if (z->nfilter == 0)
		return (v >> 24) == 127 && (v & 0xffffff00u) != 0x7fffff00u;
	for (i = 0; i < z->nfilter; i++)
		if (v >= z->filter[i].lo && v <= z->filter[i].hi)
			return 1;
	return 0;
}

void
dnsbl_conf_default(struct dnsbl_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->threshold = 1;
	c->timeout_ms = 2000;
	c->retry_ms = 400;
	c->cache_size = 8192;
	c->ttl_min = 10;
	c->ttl_max = 3600;
	c->neg_ttl = 300;
	c->tcp = 0;	/* the worker may not open sockets: UDP unless asked */
}

int
dnsbl_conf_from_config(const struct config *cf, struct dnsbl_conf *c,
    char *err, size_t errlen)
{
	int i;

	dnsbl_conf_default(c);
	if (cf->ndnsbl > DNSBL_MAX_ZONES || cf->nresolvers > DNSBL_MAX_RESOLVERS) {
		snprintf(err, errlen, "too many zones or resolvers");
		return -1;
	}
	for (i = 0; i < cf->ndnsbl; i++)
		if (dnsbl_zone_parse(cf->dnsbl[i].zone, cf->dnsbl[i].weight,
		    cf->dnsbl[i].weight < 0, &c->zone[i], err, errlen) != 0)
			return -1;
	c->nzones = cf->ndnsbl;
	for (i = 0; i < cf->nresolvers; i++)
		c->resolver[i] = cf->resolver[i];
	c->nresolvers = cf->nresolvers;
	c->threshold = cf->dnsbl_threshold;
	if (cf->dnsbl_timeout_ms > 0)
		c->timeout_ms = (int64_t)cf->dnsbl_timeout_ms;
	return 0;
}

/* --- randomness ------------------------------------------------------ */

static uint16_t
rnd16(struct dnsbl_client *cl)
{
	if (cl->nrnd == 0) {
		if (getrandom(cl->rnd, sizeof(cl->rnd), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(cl->rnd)) {
			/* should not happen after boot; still unpredictable
			 * enough for a loopback or LAN resolver */
			uint64_t x = (uint64_t)wall_us() ^ cl->hkey;
			for (int i = 0; i < 64; i++) {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				cl->rnd[i] = (uint16_t)(x >> 24);
			}
			cl->hkey = x;
		}
		cl->nrnd = 64;
	}
	return cl->rnd[--cl->nrnd];
}

/* --- the cache ------------------------------------------------------- */

static uint32_t
ce_hash(const struct dnsbl_client *cl, int zi, const struct netaddr *a)
{
	uint64_t w0, w1, x;

	memcpy(&w0, a->a, 8);
	memcpy(&w1, a->a + 8, 8);
	x = (w0 ^ cl->hkey) * 0x9e3779b97f4a7c15ull;
	x ^= (w1 + (uint64_t)zi * 31 + (uint64_t)a->family) *
	    0xc2b2ae3d27d4eb4full;
	x ^= x >> 29;
	return (uint32_t)(x & (cl->nbuckets - 1));
}

#define CE(cl, i)	(&(cl)->ce[(i) - 1])
#define CEI(cl, e)	((uint32_t)((e) - (cl)->ce) + 1)

static void
lru_unlink(struct dnsbl_client *cl, struct centry *e)
{
	if (e->lprev)
		CE(cl, e->lprev)->lnext = e->lnext;
	else if (cl->lru_head == CEI(cl, e))
		cl->lru_head = e->lnext;
	if (e->lnext)
		CE(cl, e->lnext)->lprev = e->lprev;
	else if (cl->lru_tail == CEI(cl, e))
		cl->lru_tail = e->lprev;
	e->lprev = e->lnext = NIL;
}

static void
lru_push(struct dnsbl_client *cl, struct centry *e)
{
	uint32_t i = CEI(cl, e);

	e->lprev = NIL;
	e->lnext = cl->lru_head;
	if (cl->lru_head)
		CE(cl, cl->lru_head)->lprev = i;
	cl->lru_head = i;
	if (cl->lru_tail == NIL)
		cl->lru_tail = i;
}

static struct centry *
ce_find(struct dnsbl_client *cl, int zi, const struct netaddr *a)
{
	uint32_t i = cl->buckets[ce_hash(cl, zi, a)];

	while (i != NIL) {
		struct centry *e = CE(cl, i);
		if (e->zi == zi && e->addr.family == a->family &&
		    memcmp(e->addr.a, a->a, 16) == 0)
			return e;
		i = e->hnext;
	}
	return NULL;
}

/* Unhashes and frees e (no query, no waiters). */
static void
ce_free(struct dnsbl_client *cl, struct centry *e)
{
	uint32_t *p = &cl->buckets[ce_hash(cl, e->zi, &e->addr)];
	uint32_t i = CEI(cl, e);

	while (*p != NIL && *p != i)
		p = &CE(cl, *p)->hnext;
	if (*p == i)
		*p = e->hnext;
	if (e->state == CE_DONE)
		lru_unlink(cl, e);
	memset(e, 0, sizeof(*e));
	e->hnext = cl->freelist;
	cl->freelist = i;
	cl->nused--;
}

/* A new PENDING entry, evicting the least recently used DONE entry when
 * the cache is full; NULL when every entry is pending. */
static struct centry *
ce_new(struct dnsbl_client *cl, int zi, const struct netaddr *a)
{
	struct centry *e;
	uint32_t i, h;

	if (cl->freelist == NIL) {
		if (cl->lru_tail == NIL)
			return NULL;
		ce_free(cl, CE(cl, cl->lru_tail));
		cl->st.evictions++;
	}
	i = cl->freelist;
	e = CE(cl, i);
	cl->freelist = e->hnext;
	memset(e, 0, sizeof(*e));
	e->state = CE_PENDING;
	e->zi = (uint8_t)zi;
	e->addr = *a;
	h = ce_hash(cl, zi, a);
	e->hnext = cl->buckets[h];
	cl->buckets[h] = i;
	cl->nused++;
	return e;
}

/* --- checks ------------------------------------------------------------ */

static void
waiter_unlink(struct centry *e, struct waiter *w)
{
	if (!w->linked)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		e->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->linked = 0;
}

static void chk_fire(struct timer *t);

/* Zone zi of chk is decided; the callback runs from the timer. */
static void
chk_zone(struct dnsbl_check *chk, int zi, int state, const uint8_t *a)
{
	struct dnsbl_client *cl = chk->cl;

	chk->res.state[zi] = (uint8_t)state;
	if (a != NULL)
		memcpy(chk->res.answer[zi], a, 4);
	if (--chk->pending == 0)
		loop_timer_set(cl->loop, &chk->timer, mono_ms(), chk_fire, chk);
}

static void
chk_detach(struct dnsbl_check *chk)
{
	struct dnsbl_client *cl = chk->cl;
	int zi;

	for (zi = 0; zi < cl->conf.nzones; zi++)
		if (chk->w[zi].linked) {
			struct centry *e = ce_find(cl, zi, &chk->addr);
			if (e == NULL)
				fatalx(EXIT_TEMP, "dnsbl: waiter without entry");
			waiter_unlink(e, &chk->w[zi]);
		}
	loop_timer_cancel(cl->loop, &chk->timer);
	if (chk->prev)
		chk->prev->next = chk->next;
	else
		cl->checks = chk->next;
	if (chk->next)
		chk->next->prev = chk->prev;
	cl->nchecks--;
}

static void
chk_fire(struct timer *t)
{
	struct dnsbl_check *chk = t->arg;
	struct dnsbl_client *cl = chk->cl;
	struct dnsbl_result r;
	dnsbl_cb *cb = chk->cb;
	void *arg = chk->arg;
	int zi;

	for (zi = 0; zi < cl->conf.nzones; zi++)
		if (chk->w[zi].linked)
			chk->res.state[zi] = DNSBL_TIMEOUT;
	chk_detach(chk);
	r = chk->res;
	r.nzones = cl->conf.nzones;
	for (zi = 0; zi < r.nzones; zi++) {
		switch (r.state[zi]) {
		case DNSBL_LISTED:
			r.score += cl->conf.zone[zi].weight;
			r.nlisted++;
			break;
		case DNSBL_TIMEOUT: r.ntimeout++; break;
		case DNSBL_ERROR: r.nerror++; break;
		default: break;
		}
	}
	r.listed = r.score >= cl->conf.threshold && r.nlisted > 0;
	cl->st.timeouts += (uint64_t)r.ntimeout;
	r.elapsed_ms = mono_ms() - chk->start;
	free(chk);
	cb(arg, &r);
}

struct dnsbl_check *
dnsbl_check(struct dnsbl_client *cl, const struct netaddr *ip, dnsbl_cb *cb,
    void *arg)
{
	struct dnsbl_check *chk;
	int64_t now = mono_ms();
	int zi;

	if (cl->nchecks >= DNSBL_MAX_CHECKS ||
	    (chk = calloc(1, sizeof(*chk))) == NULL)
		return NULL;
	cl->nchecks++;
	cl->st.checks++;
	chk->cl = cl;
	chk->cb = cb;
	chk->arg = arg;
	chk->addr = *ip;
	chk->start = now;
	chk->next = cl->checks;
	if (cl->checks)
		cl->checks->prev = chk;
	cl->checks = chk;
	chk->pending = 1;	/* held until the loop below is done */
	for (zi = 0; zi < cl->conf.nzones; zi++) {
		struct centry *e = ce_find(cl, zi, ip);
		struct waiter *w = &chk->w[zi];

		chk->pending++;
		if (e != NULL && e->state == CE_DONE && e->expires <= now) {
			ce_free(cl, e);
			e = NULL;
		}
		if (e != NULL && e->state == CE_DONE) {
			cl->st.cache_hits++;
			lru_unlink(cl, e);
			lru_push(cl, e);
			chk_zone(chk, zi, e->result, e->a);
			continue;
		}
		if (e == NULL) {
			struct query *q = NULL;
			int i;
			if (cl->ninflight < DNSBL_MAX_INFLIGHT)
				for (i = 0; i < DNSBL_MAX_INFLIGHT; i++)
					if (!cl->qpool[i].inuse) {
						q = &cl->qpool[i];
						break;
					}
			if (q == NULL || (e = ce_new(cl, zi, ip)) == NULL) {
				logf_(cl, "dnsbl: %s: no room for a query",
				    cl->conf.zone[zi].zone);
				cl->st.errors++;
				chk_zone(chk, zi, DNSBL_ERROR, NULL);
				continue;
			}
			memset(q, 0, sizeof(*q));
			q->inuse = 1;
			q->cl = cl;
			q->ce = e;
			e->q = q;
			cl->ninflight++;
			if (dns_reverse_name(ip, cl->conf.zone[zi].zone, q->name,
			    sizeof(q->name)) != 0) {
				q_finish(q, DNSBL_ERROR, NULL, 0);
				chk_zone(chk, zi, DNSBL_ERROR, NULL);
				continue;
			}
			q->give_up = now + cl->conf.timeout_ms;
			q->rnext = (int)(rnd16(cl) % (unsigned)cl->conf.nresolvers);
			q_send(q);
			if (e->state != CE_PENDING) {	/* failed at once */
				chk_zone(chk, zi, DNSBL_ERROR, NULL);
				continue;
			}
		} else
			cl->st.cache_joins++;
		w->chk = chk;
		w->zi = zi;
		w->prev = NULL;
		w->next = e->waiters;
		if (e->waiters)
			e->waiters->prev = w;
		e->waiters = w;
		w->linked = 1;
	}
	if (--chk->pending == 0)
		loop_timer_set(cl->loop, &chk->timer, now, chk_fire, chk);
	else
		loop_timer_set(cl->loop, &chk->timer, now + cl->conf.timeout_ms,
		    chk_fire, chk);
	return chk;
}

void
dnsbl_cancel(struct dnsbl_check *chk)
{
	if (chk == NULL)
		return;
	chk_detach(chk);
	free(chk);
}

/* --- queries ----------------------------------------------------------- */

static void q_timer(struct timer *t);

static void
id_unlink(struct dnsbl_client *cl, struct query *q)
{
	struct query **p = &cl->idtab[q->id % ID_BUCKETS];

	while (*p != NULL && *p != q)
		p = &(*p)->idnext;
	if (*p == q)
		*p = q->idnext;
	q->idnext = NULL;
}

static struct query *
id_find(struct dnsbl_client *cl, uint16_t id)
{
	struct query *q;

	for (q = cl->idtab[id % ID_BUCKETS]; q != NULL; q = q->idnext)
		if (q->id == id)
			return q;
	return NULL;
}

static void
tcp_close(struct query *q)
{
	struct dnsbl_client *cl = q->cl;

	if (q->tcp_state == TCP_NONE)
		return;
	if (q->tw.fd >= 0) {
		int fd = q->tw.fd;
		loop_del(cl->loop, &q->tw);
		close(fd);
	}
	free(q->tbuf);
	q->tbuf = NULL;
	q->tcp_state = TCP_NONE;
	cl->ntcp--;
}

/*
 * The query's answer: caches CLEAN/LISTED for ttl (clamped), tells every
 * waiter, frees the query. ERROR and TIMEOUT are not cached.
 */
static void
q_finish(struct query *q, int state, const uint8_t *a, uint32_t ttl)
{
	struct dnsbl_client *cl = q->cl;
	struct centry *e = q->ce;
	struct waiter *w, *next;

	tcp_close(q);
	loop_timer_cancel(cl->loop, &q->timer);
	if (q->msglen > 0)
		id_unlink(cl, q);
	q->inuse = 0;
	cl->ninflight--;
	e->q = NULL;
	/* chk_zone() only records and arms a timer: the list is stable */
	for (w = e->waiters; w != NULL; w = next) {
		next = w->next;
		w->linked = 0;
		w->prev = w->next = NULL;
		chk_zone(w->chk, w->zi, state, a);
	}
	e->waiters = NULL;
	if (state == DNSBL_CLEAN || state == DNSBL_LISTED) {
		if (ttl < cl->conf.ttl_min)
			ttl = cl->conf.ttl_min;
		if (ttl > cl->conf.ttl_max)
			ttl = cl->conf.ttl_max;
		e->state = CE_DONE;
		e->result = (uint8_t)state;
		if (a != NULL)
			memcpy(e->a, a, 4);
		e->expires = mono_ms() + (int64_t)ttl * 1000;
		lru_push(cl, e);
	} else
		ce_free(cl, e);
}

/* Decides a parsed reply. */
static void
q_reply(struct query *q, const struct dns_reply *rep, int from)
{
	struct dnsbl_client *cl = q->cl;
	const struct dnsbl_zone *z = &cl->conf.zone[q->ce->zi];
	uint32_t ttl = UINT32_MAX;
	int i;

	cl->st.replies++;
	if (rep->rcode == DNS_R_NXDOMAIN ||
	    (rep->rcode == DNS_R_NOERROR && rep->nanswers == 0)) {
		q_finish(q, DNSBL_CLEAN, NULL,
		    rep->have_soa ? rep->soa_ttl : cl->conf.neg_ttl);
		return;
	}
	if (rep->rcode != DNS_R_NOERROR) {
		logf_(cl, "dnsbl: %s: %s from resolver %d", q->name,
		    dns_rcode_name(rep->rcode), from + 1);
		/* another resolver may do better before the deadline */
		if (q->tcp_state == TCP_NONE &&
		    __builtin_popcount(q->sent) < cl->conf.nresolvers) {
			q_send(q);
			return;
		}
		cl->st.errors++;
		q_finish(q, DNSBL_ERROR, NULL, 0);
		return;
	}
	for (i = 0; i < rep->nanswers; i++)
		if (rep->an[i].ttl < ttl)
			ttl = rep->an[i].ttl;
	for (i = 0; i < rep->nanswers; i++)
		if (dnsbl_zone_match(z, rep->an[i].a)) {
			q_finish(q, DNSBL_LISTED, rep->an[i].a, ttl);
			return;
		}
	if (z->nfilter == 0)
		logf_(cl, "dnsbl: %s: answer %u.%u.%u.%u is not a listing "
		    "code, ignored", q->name, rep->an[0].a[0], rep->an[0].a[1],
		    rep->an[0].a[2], rep->an[0].a[3]);
	q_finish(q, DNSBL_CLEAN, NULL, ttl);
}

static void
tcp_event(struct watch *w, uint32_t events)
{
	struct query *q = w->arg;
	struct dnsbl_client *cl = q->cl;
	struct dns_reply rep;
	ssize_t n;
	int e;

	if (q->tcp_state == TCP_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
		    soerr != 0) {
			logf_(cl, "dnsbl: %s: TCP connect: %s", q->name,
			    strerror(soerr ? soerr : errno));
			goto fail;
		}
		q->tcp_state = TCP_WRITING;
	}
	if (q->tcp_state == TCP_WRITING) {
		n = write(w->fd, q->tbuf + q->toff, q->tlen - q->toff);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			goto fail;
		q->toff += (size_t)n;
		if (q->toff < q->tlen)
			return;
		q->tcp_state = TCP_READING;
		q->toff = 0;
		q->tlen = 2;
		loop_mod(cl->loop, w, EPOLLIN);
		return;
	}
	n = read(w->fd, q->tbuf + q->toff, q->tlen - q->toff);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		logf_(cl, "dnsbl: %s: TCP reply cut short", q->name);
		goto fail;
	}
	q->toff += (size_t)n;
	if (q->toff < q->tlen)
		return;
	if (q->tlen == 2) {
		size_t len = ((size_t)q->tbuf[0] << 8) | q->tbuf[1];
		if (len < DNS_HEADER_LEN || len > DNS_TCP_MAX) {
			logf_(cl, "dnsbl: %s: TCP reply of %zu bytes refused",
			    q->name, len);
			goto fail;
		}
		q->tlen = 2 + len;
		return;
	}
	e = dns_reply_parse(q->tbuf + 2, q->tlen - 2, q->id, q->name, DNS_T_A,
	    &rep);
	if (e != DNS_OK || rep.tc) {
		cl->st.bad_replies++;
		logf_(cl, "dnsbl: %s: bad TCP reply: %s", q->name,
		    e != DNS_OK ? dns_err_text(e) : "truncated again");
		goto fail;
	}
	q_reply(q, &rep, q->tcp_resolver);
	return;
fail:
	cl->st.errors++;
	q_finish(q, DNSBL_ERROR, NULL, 0);
}

static void
tcp_start(struct query *q, int r)
{
	struct dnsbl_client *cl = q->cl;
	const struct sockaddr_storage *ss = &cl->conf.resolver[r];
	socklen_t sl = ss->ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd;

	if (!cl->conf.tcp || cl->ntcp >= DNSBL_MAX_TCP) {
		logf_(cl, "dnsbl: %s: truncated reply and no TCP fallback "
		    "available", q->name);
		goto fail;
	}
	if ((q->tbuf = malloc(2 + DNS_TCP_MAX)) == NULL)
		goto fail;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		free(q->tbuf);
		q->tbuf = NULL;
		logf_(cl, "dnsbl: %s: TCP socket: %s", q->name,
		    strerror(errno));
		goto fail;
	}
	cl->ntcp++;
	cl->st.tcp++;
	q->tcp_state = TCP_CONNECTING;
	q->tcp_resolver = r;
	q->tw.fd = -1;
	q->tbuf[0] = (uint8_t)(q->msglen >> 8);
	q->tbuf[1] = (uint8_t)q->msglen;
	memcpy(q->tbuf + 2, q->msg, q->msglen);
	q->tlen = 2 + q->msglen;
	q->toff = 0;
	if ((connect(fd, (const struct sockaddr *)ss, sl) != 0 &&
	    errno != EINPROGRESS) ||
	    loop_add(cl->loop, &q->tw, fd, EPOLLOUT, tcp_event, q) != 0) {
		logf_(cl, "dnsbl: %s: TCP connect: %s", q->name,
		    strerror(errno));
		close(fd);
		q->tw.fd = -1;
		goto fail;
	}
	return;
fail:
	cl->st.errors++;
	q_finish(q, DNSBL_ERROR, NULL, 0);
}

/* Sends (or resends) q over UDP to its next resolver and arms the retry. */
static void
q_send(struct query *q)
{
	struct dnsbl_client *cl = q->cl;
	int64_t now = mono_ms(), next;
	int r, tries = 0;
	int len;

	if (q->msglen == 0) {
		do {
			q->id = rnd16(cl);
		} while (id_find(cl, q->id) != NULL && ++tries < 16);
		if (id_find(cl, q->id) != NULL ||
		    (len = dns_query_build(q->msg, sizeof(q->msg), q->id,
		    q->name, DNS_T_A)) < 0) {
			cl->st.errors++;
			q_finish(q, DNSBL_ERROR, NULL, 0);
			return;
		}
		q->msglen = (size_t)len;
		q->idnext = cl->idtab[q->id % ID_BUCKETS];
		cl->idtab[q->id % ID_BUCKETS] = q;
		cl->st.queries++;
	}
	r = q->rnext;
	q->rnext = (q->rnext + 1) % cl->conf.nresolvers;
	q->tries++;
	if (send(cl->rs[r].w.fd, q->msg, q->msglen, 0) == (ssize_t)q->msglen) {
		q->sent |= 1u << r;
		cl->st.sent++;
	} else
		logf_(cl, "dnsbl: %s: send to resolver %d: %s", q->name, r + 1,
		    strerror(errno));
	next = now + cl->conf.retry_ms;
	if (next > q->give_up)
		next = q->give_up;
	loop_timer_set(cl->loop, &q->timer, next, q_timer, q);
}

static void
q_timer(struct timer *t)
{
	struct query *q = t->arg;

	if (mono_ms() >= q->give_up) {
		logf_(q->cl, "dnsbl: %s: no answer after %d tries", q->name,
		    q->tries);
		q_finish(q, DNSBL_TIMEOUT, NULL, 0);
		return;
	}
	if (q->tcp_state != TCP_NONE) {
		loop_timer_set(q->cl->loop, &q->timer, q->give_up, q_timer, q);
		return;
	}
	q_send(q);
}

static void
udp_event(struct watch *w, uint32_t events)
{
	struct rsock *rs = w->arg;
	struct dnsbl_client *cl = rs->cl;
	uint8_t buf[DNS_UDP_MAX * 2];
	struct dns_reply rep;
	int i, e;

	for (i = 0; i < RECV_BATCH; i++) {
		ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_TRUNC);
		struct query *q;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;	/* ICMP: the retry handles it */
			logf_(cl, "dnsbl: resolver %d: recv: %s", rs->idx + 1,
			    strerror(errno));
			return;
		}
		if ((size_t)n > sizeof(buf) || n < DNS_HEADER_LEN) {
			cl->st.bad_replies++;
			continue;
		}
		q = id_find(cl, (uint16_t)((buf[0] << 8) | buf[1]));
		if (q == NULL || !(q->sent & (1u << rs->idx)) ||
		    q->tcp_state != TCP_NONE) {
			cl->st.bad_replies++;	/* late, spoofed or stray */
			continue;
		}
		e = dns_reply_parse(buf, (size_t)n, q->id, q->name, DNS_T_A,
		    &rep);
		if (e != DNS_OK) {
			cl->st.bad_replies++;
			logf_(cl, "dnsbl: %s: bad reply from resolver %d: %s",
			    q->name, rs->idx + 1, dns_err_text(e));
			continue;
		}
		if (rep.tc) {
			tcp_start(q, rs->idx);
			continue;
		}
		q_reply(q, &rep, rs->idx);
	}
}

/* --- the client ---------------------------------------------------------- */

struct dnsbl_client *
dnsbl_client_new(struct loop *l, const struct dnsbl_conf *c, char *err,
    size_t errlen)
{
	struct dnsbl_client *cl;
	uint32_t i;
	int r;

	if (c->nresolvers < 1 || c->nresolvers > DNSBL_MAX_RESOLVERS) {
		snprintf(err, errlen, "dnsbl needs 1 to %d resolvers "
		    "(no public resolver is ever used)", DNSBL_MAX_RESOLVERS);
		return NULL;
	}
	if (c->nzones < 0 || c->nzones > DNSBL_MAX_ZONES ||
	    c->cache_size < DNSBL_CACHE_MIN || c->cache_size > DNSBL_CACHE_MAX ||
	    c->timeout_ms < 1 || c->retry_ms < 1 || c->ttl_min > c->ttl_max) {
		snprintf(err, errlen, "dnsbl: bad settings");
		return NULL;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		goto nomem;
	cl->loop = l;
	cl->conf = *c;
	for (r = 0; r < DNSBL_MAX_RESOLVERS; r++)
		cl->rs[r].w.fd = -1;
	cl->ncache = c->cache_size;
	for (cl->nbuckets = 64; cl->nbuckets < cl->ncache; cl->nbuckets *= 2)
		;
	cl->ce = calloc(cl->ncache, sizeof(*cl->ce));
	cl->buckets = calloc(cl->nbuckets, sizeof(*cl->buckets));
	cl->qpool = calloc(DNSBL_MAX_INFLIGHT, sizeof(*cl->qpool));
	if (cl->ce == NULL || cl->buckets == NULL || cl->qpool == NULL)
		goto nomem;
	for (i = cl->ncache; i > 0; i--) {
		cl->ce[i - 1].hnext = cl->freelist;
		cl->freelist = i;
	}
	if (getrandom(&cl->hkey, sizeof(cl->hkey), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(cl->hkey))
		cl->hkey = (uint64_t)wall_us() * 0x9e3779b97f4a7c15ull;
	for (r = 0; r < c->nresolvers; r++) {
		const struct sockaddr_storage *ss = &c->resolver[r];
		socklen_t sl = ss->ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		int fd = socket(ss->ss_family,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (const struct sockaddr *)ss, sl) != 0) {
			snprintf(err, errlen, "dnsbl: resolver %d: %s", r + 1,
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			dnsbl_client_free(cl);
			return NULL;
		}
		cl->rs[r].cl = cl;
		cl->rs[r].idx = r;
		if (loop_add(l, &cl->rs[r].w, fd, EPOLLIN, udp_event,
		    &cl->rs[r]) != 0) {
			snprintf(err, errlen, "dnsbl: epoll: %s",
			    strerror(errno));
			close(fd);
			cl->rs[r].w.fd = -1;
			dnsbl_client_free(cl);
			return NULL;
		}
	}
	return cl;
nomem:
	snprintf(err, errlen, "dnsbl: out of memory");
	dnsbl_client_free(cl);
	return NULL;
}

void
dnsbl_client_free(struct dnsbl_client *cl)
{
	int i;

	if (cl == NULL)
		return;
	if (cl->qpool != NULL)
		for (i = 0; i < DNSBL_MAX_INFLIGHT; i++) {
			struct query *q = &cl->qpool[i];
			if (!q->inuse)
				continue;
			tcp_close(q);
			loop_timer_cancel(cl->loop, &q->timer);
		}
	while (cl->checks != NULL) {
		struct dnsbl_check *chk = cl->checks;
		chk_detach(chk);
		free(chk);
	}
	for (i = 0; i < DNSBL_MAX_RESOLVERS; i++)
		if (cl->rs[i].w.fd >= 0) {
			int fd = cl->rs[i].w.fd;
			loop_del(cl->loop, &cl->rs[i].w);
			close(fd);
		}
	free(cl->ce);
	free(cl->buckets);
	free(cl->qpool);
	free(cl);
}

/* --- reporting ------------------------------------------------------------ */

const char *
dnsbl_state_name(enum dnsbl_state s)
{
	switch (s) {
	case DNSBL_CLEAN: return "clean";
	case DNSBL_LISTED: return "listed";
	case DNSBL_TIMEOUT: return "timeout";
	case DNSBL_ERROR: return "error";
	}
	return "?";
}

char *
dnsbl_result_format(const struct dnsbl_client *cl,
    const struct dnsbl_result *r, char *buf, size_t size)
{
	size_t o;
	int zi, pass;

	if (size == 0)
		return buf;
	o = (size_t)snprintf(buf, size, "rank %d", r->score);
	for (pass = 0; pass < 3; pass++)
		for (zi = 0; zi < r->nzones && o < size; zi++) {
			const struct dnsbl_zone *z = &cl->conf.zone[zi];
			int st = r->state[zi];
			if (pass == 0 && st == DNSBL_LISTED)
				o += (size_t)snprintf(buf + o, size - o,
				    " %s(%d)=%u.%u.%u.%u", z->zone, z->weight,
				    r->answer[zi][0], r->answer[zi][1],
				    r->answer[zi][2], r->answer[zi][3]);
			else if (pass == 1 && st == DNSBL_TIMEOUT)
				o += (size_t)snprintf(buf + o, size - o,
				    " timeout %s", z->zone);
			else if (pass == 2 && st == DNSBL_ERROR)
				o += (size_t)snprintf(buf + o, size - o,
				    " error %s", z->zone);
		}
	return buf;
}

void
dnsbl_stats(const struct dnsbl_client *cl, struct dnsbl_stats *st)
{
	*st = cl->st;
	st->inflight = (uint32_t)cl->ninflight;
	st->cached = cl->nused;
}
