/*
 * gate.c — see gate.h. The shared admission table, the private CIDR sets,
 * verdict names, replies and log lines.
 *
 * Shared region layout: struct gate_shared, then nslots struct gate_slot.
 * Everything in it is read and written under sh->lock only (a spinlock
 * whose word is the owner's pid, so a waiter can take it over from a
 * process that died holding it). Slots are never emptied once used:
 * eviction replaces an entry in place, so a lookup may stop at the first
 * empty slot of its probe window.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "gate.h"
#include "util.h"

#define GATE_MAGIC	0x6d786774u	/* "mxgt" */
#define GATE_VERSION	3
/* A token is one connection; a bucket refills `rate` units per ms, so
 * TOKEN units per connection make a rate per minute exact in integers. */
#define TOKEN		60000

enum { SLOT_EMPTY, SLOT_IP, SLOT_NET };

struct gate_slot {
	uint8_t		kind;		/* SLOT_* */
	uint8_t		family;
	uint8_t		addr[16];	/* NET: masked */
	uint32_t	conns[GATE_MAX_WORKERS];
	int64_t		tokens;		/* TOKEN per connection */
	int64_t		refill_ms;
	int64_t		seen_ms;
	int64_t		pass_until;
	int64_t		block_until;
	uint32_t	total, rejected;
	char		why[GATE_WHY_MAX];
};

struct gate_dyn {
	uint8_t		list;		/* 0 free, GATE_LIST_* */
	struct cidr	c;
};

struct gate_shared {
	uint32_t	magic, version, nslots, pad;
	_Atomic int32_t	lock;		/* owner pid, 0 free */
	uint64_t	key[2];		/* hash secret */
	uint32_t	sessions[GATE_MAX_WORKERS];
	uint64_t	verdicts[GATE_NVERDICTS];
	uint64_t	msgs[GATE_NMSG], msgs_today[GATE_NMSG];
	int64_t		today;		/* UTC day of msgs_today */
	uint64_t	evictions, table_full;
	_Atomic int32_t	log_refuse;	/* logdisk.h: 451 4.3.0 to new mail */
	_Atomic int32_t	log_pct;	/* log disk used, -1 unknown */
	uint32_t	used, ndyn;
	struct gate_dyn	dyn[GATE_MAX_DYN];
	struct gate_slot slots[];
};

/* A CIDR list as sorted groups of one family and prefix length, longest
 * prefixes first: a lookup is one binary search per distinct length. */
struct cent {
	uint64_t	hi, lo;
	uint8_t		family, prefix;
	int		idx;		/* position in the config list */
};
struct cgroup {
	uint8_t		family, prefix;
	int		start, end;
};
struct cidrset {
	struct cent	*e;
	int		 n;
	struct cgroup	 g[33 + 129];
	int		 ng;
};

struct gate {
	struct gate_shared	*sh;
	struct gate_conf	 conf;
	struct cidrset		 allow, block;
	const struct cidr	*allow_src, *block_src;	/* for log text */
	int			 worker;
	int32_t			 pid;
};

/* --- configuration ------------------------------------------------- */

/* The defaults are the configuration's (config_new(), one place): a
 * test of the gate runs with what the daemon ships. */
void
gate_conf_default(struct gate_conf *gc)
{
	struct config *cf = config_new();

	gate_conf_from_config(cf, gc);
	config_free(cf);
}

void
gate_conf_from_config(const struct config *cf, struct gate_conf *gc)
{
	if (cf == NULL) {
		gate_conf_default(gc);
		return;
	}
	memset(gc, 0, sizeof(*gc));
	gc->data_rate_grace_ms = 10 * 1000;	/* not configurable */
	gc->max_sessions = cf->max_sessions;
	gc->ip_concurrency = cf->gate_ip_concurrency;
	gc->net_concurrency = cf->gate_net_concurrency;
	gc->ip_rate = cf->gate_ip_rate;
	gc->net_rate = cf->gate_net_rate;
	gc->net4_prefix = cf->gate_net4_prefix;
	gc->net6_prefix = cf->gate_net6_prefix;
	gc->pass_ttl_ms = (int64_t)cf->pass_ttl * 1000;
	gc->pregreet_wait_ms = (int64_t)cf->pregreet_wait_ms;
	gc->block_action = cf->block_drop ? GATE_BLOCK_DROP : GATE_BLOCK_REPLY;
	gc->max_unknown_rcpt = cf->max_unknown_rcpt;
	gc->max_refused_rcpt = cf->max_refused_rcpt;
	gc->tempblock_ms = (int64_t)cf->tempblock_time * 1000;
	gc->min_data_rate = cf->min_data_rate;
}

/* --- addresses as two 64-bit words -------------------------------- */

static void
addr_words(const uint8_t *a, int family, uint64_t *hi, uint64_t *lo)
{
	int i;

	*hi = *lo = 0;
	if (family == AF_INET) {
		*hi = ((uint64_t)a[0] << 56) | ((uint64_t)a[1] << 48) |
		    ((uint64_t)a[2] << 40) | ((uint64_t)a[3] << 32);
		return;
	}
	for (i = 0; i < 8; i++) {
		*hi = (*hi << 8) | a[i];
		*lo = (*lo << 8) | a[8 + i];
	}
}

static void
mask_words(uint64_t *hi, uint64_t *lo, int prefix)
{
	if (prefix <= 0) {
		*hi = *lo = 0;
	} else if (prefix < 64) {
		*hi &= ~0ull << (64 - prefix);
		*lo = 0;
	} else if (prefix == 64) {
		*lo = 0;
	} else if (prefix < 128) {
		*lo &= ~0ull << (128 - prefix);
	}
}

static void
mask_bytes(uint8_t *a, int bits, int prefix)
{
	int i;

	for (i = 0; i < bits / 8; i++) {
		int keep = prefix - i * 8;
		if (keep >= 8)
			continue;
		a[i] = keep <= 0 ? 0 : (uint8_t)(a[i] & (0xff << (8 - keep)));
	}
}

/* --- CIDR sets ------------------------------------------------------ */

static int
cent_cmp(const void *pa, const void *pb)
{
	const struct cent *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->prefix != b->prefix)
		return a->prefix > b->prefix ? -1 : 1;	/* longest first */
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

static int
cidrset_build(struct cidrset *s, const struct cidr *list, int n)
{
	int i;

	memset(s, 0, sizeof(*s));
	if (n <= 0)
		return 0;
	if ((s->e = calloc((size_t)n, sizeof(*s->e))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct cent *e = &s->e[i];
		e->family = (uint8_t)list[i].net.family;
		e->prefix = (uint8_t)list[i].prefix;
		e->idx = i;
		addr_words(list[i].net.a, e->family, &e->hi, &e->lo);
		mask_words(&e->hi, &e->lo, e->prefix);
	}
	qsort(s->e, (size_t)n, sizeof(*s->e), cent_cmp);
	s->n = n;
	for (i = 0; i < n; i++) {
		struct cgroup *g = s->ng ? &s->g[s->ng - 1] : NULL;
		if (g == NULL || g->family != s->e[i].family ||
		    g->prefix != s->e[i].prefix) {
			g = &s->g[s->ng++];
			g->family = s->e[i].family;
			g->prefix = s->e[i].prefix;
			g->start = i;
		}
		g->end = i + 1;
	}
	return 0;
}

static void
cidrset_free(struct cidrset *s)
{
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* Index (in the config list) of the longest matching prefix, or -1. */
static int
cidrset_match(const struct cidrset *s, const struct netaddr *a)
{
	uint64_t hi0, lo0;
	int i;

	if (s->n == 0)
		return -1;
	addr_words(a->a, a->family, &hi0, &lo0);
	for (i = 0; i < s->ng; i++) {
		const struct cgroup *g = &s->g[i];
		uint64_t hi = hi0, lo = lo0;
		int l = g->start, r = g->end;
		if (g->family != a->family)
			continue;
		mask_words(&hi, &lo, g->prefix);
		while (l < r) {
			int m = l + (r - l) / 2;
			const struct cent *e = &s->e[m];
			if (e->hi == hi && e->lo == lo)
				return e->idx;
			if (e->hi < hi || (e->hi == hi && e->lo < lo))
				l = m + 1;
			else
				r = m;
		}
	}
	return -1;
}

static void
cidr_text(const struct cidr *c, char *buf, size_t size)
{
	char a[NET_ADDRSTRLEN];

	netaddr_format(&c->net, a, sizeof(a));
	snprintf(buf, size, "%s/%d", a, c->prefix);
}

/* --- the lock ------------------------------------------------------- */

static void
gate_lock(struct gate *g)
{
	_Atomic int32_t *l = &g->sh->lock;
	unsigned spins = 0;

	for (;;) {
		int32_t expect = 0;
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(l, &expect, g->pid,
		    memory_order_acquire, memory_order_relaxed))
			return;
		if (++spins % 64 == 0)
			sched_yield();
		else
			__asm__ __volatile__("" ::: "memory");
		if (spins % 100000 == 0) {
			/* the owner may have died inside the section */
			int32_t owner = atomic_load(l);
			if (owner > 0 && owner != g->pid &&
			    kill(owner, 0) != 0 && errno == ESRCH)
				atomic_compare_exchange_strong(l, &owner, 0);
		}
	}
}

static void
gate_unlock(struct gate *g)
{
	atomic_store_explicit(&g->sh->lock, 0, memory_order_release);
}

/* --- slots ---------------------------------------------------------- */

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint32_t
slot_hash(const struct gate_shared *sh, int kind, int family,
    const uint8_t *a)
{
	uint64_t w0, w1;

	memcpy(&w0, a, 8);
	memcpy(&w1, a + 8, 8);
	return (uint32_t)mix64(mix64(w0 ^ sh->key[0]) ^ w1 ^ sh->key[1] ^
	    ((uint64_t)kind << 8 | (uint64_t)family));
}

static uint32_t
slot_conns(const struct gate_slot *s)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < GATE_MAX_WORKERS; i++)
		n += s->conns[i];
	return n;
}

static int
slot_rate(const struct gate *g, int kind)
{
	return kind == SLOT_IP ? g->conf.ip_rate : g->conf.net_rate;
}

static void
slot_init(struct gate *g, struct gate_slot *s, int kind, int family,
    const uint8_t *a, int64_t now)
{
	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)kind;
	s->family = (uint8_t)family;
	memcpy(s->addr, a, 16);
	s->tokens = (int64_t)slot_rate(g, kind) * TOKEN;
	s->refill_ms = now;
	s->seen_ms = now;
}

/*
 * The slot for (kind, family, a), created when `create`, or NULL. A full
 * probe window gives up its least recently seen entry that has no live
 * connection and no active block.
 */
static struct gate_slot *
slot_get(struct gate *g, int kind, int family, const uint8_t *a,
    int64_t now, int create)
{
	struct gate_shared *sh = g->sh;
	uint32_t mask = sh->nslots - 1, i = slot_hash(sh, kind, family, a);
	struct gate_slot *victim = NULL;
	int p;

	for (p = 0; p < GATE_PROBE; p++) {
		struct gate_slot *s = &sh->slots[(i + (uint32_t)p) & mask];
		if (s->kind == SLOT_EMPTY) {
			if (!create)
				return NULL;
			slot_init(g, s, kind, family, a, now);
			sh->used++;
			return s;
		}
		if (s->kind == kind && s->family == family &&
		    memcmp(s->addr, a, 16) == 0)
			return s;
		if (slot_conns(s) == 0 && s->block_until <= now &&
		    (victim == NULL || s->seen_ms < victim->seen_ms))
			victim = s;
	}
	if (!create)
		return NULL;
	if (victim == NULL) {
		sh->table_full++;
		return NULL;
	}
	sh->evictions++;
	slot_init(g, victim, kind, family, a, now);
	return victim;
}

/* Refills the bucket; 1 when a token is available. */
static int
slot_refill(const struct gate *g, struct gate_slot *s, int64_t now)
{
	int64_t rate = slot_rate(g, s->kind), cap = rate * TOKEN;

	if (rate == 0)
		return 1;
	if (now > s->refill_ms) {
		int64_t el = now - s->refill_ms;
		/* a day refills any bucket: no overflow on long idle */
		s->tokens += (el > 86400000 ? 86400000 : el) * rate;
		s->refill_ms = now;
	}
	if (s->tokens > cap)
		s->tokens = cap;
	return s->tokens >= TOKEN;
}

static void
net_key(const struct gate *g, const struct netaddr *ip, uint8_t *out)
{
	int v4 = ip->family == AF_INET;

	memcpy(out, ip->a, 16);
	mask_bytes(out, v4 ? 32 : 128,
	    v4 ? g->conf.net4_prefix : g->conf.net6_prefix);
}

static uint32_t
sessions_total(const struct gate_shared *sh)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < GATE_MAX_WORKERS; i++)
		n += sh->sessions[i];
	return n;
}

/* --- lifecycle ------------------------------------------------------ */

size_t
gate_region_size(uint32_t nslots)
{
	return sizeof(struct gate_shared) +
	    (size_t)nslots * sizeof(struct gate_slot);
}

static int
gate_load(struct gate *g, const struct config *cf, const struct gate_conf *gc)
{
	struct cidrset a, b;

	if (cidrset_build(&a, cf ? cf->allow : NULL, cf ? cf->nallow : 0) != 0)
		return -1;
	if (cidrset_build(&b, cf ? cf->block : NULL, cf ? cf->nblock : 0) != 0) {
		cidrset_free(&a);
		return -1;
	}
	/* private copies of the lists for the log text: the config they
	 * came from may be freed long before this handle */
	{
		struct cidr *ac = NULL, *bc = NULL;
		size_t na = cf ? (size_t)cf->nallow : 0;
		size_t nb = cf ? (size_t)cf->nblock : 0;
		if ((na && (ac = calloc(na, sizeof(*ac))) == NULL) ||
		    (nb && (bc = calloc(nb, sizeof(*bc))) == NULL)) {
			free(ac);
			cidrset_free(&a);
			cidrset_free(&b);
			return -1;
		}
		if (na)
			memcpy(ac, cf->allow, na * sizeof(*ac));
		if (nb)
			memcpy(bc, cf->block, nb * sizeof(*bc));
		free((void *)g->allow_src);
		free((void *)g->block_src);
		g->allow_src = ac;
		g->block_src = bc;
	}
	cidrset_free(&g->allow);
	cidrset_free(&g->block);
	g->allow = a;
	g->block = b;
	g->conf = *gc;
	return 0;
}

struct gate *
gate_new_conf(const struct config *cf, const struct gate_conf *gc,
    void *mem, size_t size)
{
	struct gate_shared *sh = mem;
	struct gate *g;
	uint32_t n = GATE_MIN_SLOTS;

	if (mem == NULL || size < gate_region_size(GATE_MIN_SLOTS) ||
	    (uintptr_t)mem % _Alignof(struct gate_shared) != 0)
		return NULL;
	while (n < (1u << 30) && gate_region_size(n * 2) <= size)
		n *= 2;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if (gate_load(g, cf, gc) != 0) {
		free(g);
		return NULL;
	}
	memset(sh, 0, gate_region_size(n));
	sh->magic = GATE_MAGIC;
	sh->version = GATE_VERSION;
	sh->nslots = n;
	if (getrandom(sh->key, sizeof(sh->key), 0) != sizeof(sh->key)) {
		/* no entropy yet: fall back to something per boot */
		sh->key[0] = (uint64_t)wall_us() ^ ((uint64_t)getpid() << 32);
		sh->key[1] = mix64(sh->key[0] ^ (uint64_t)mono_ms());
	}
	atomic_store(&sh->lock, 0);
	sh->log_pct = -1;
	g->sh = sh;
	g->worker = 0;
	g->pid = (int32_t)getpid();
	return g;
}

struct gate *
gate_new(const struct config *cf, void *mem, size_t size)
{
	struct gate_conf gc;

	gate_conf_from_config(cf, &gc);
	return gate_new_conf(cf, &gc, mem, size);
}

struct gate *
gate_attach(const struct config *cf, void *mem, size_t size)
{
	struct gate_shared *sh = mem;
	struct gate_conf gc;
	struct gate *g;

	if (mem == NULL || size < sizeof(*sh) || sh->magic != GATE_MAGIC ||
	    sh->version != GATE_VERSION || sh->nslots < GATE_MIN_SLOTS ||
	    (sh->nslots & (sh->nslots - 1)) != 0 ||
	    gate_region_size(sh->nslots) > size)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	gate_conf_from_config(cf, &gc);
	if (gate_load(g, cf, &gc) != 0) {
		free(g);
		return NULL;
	}
	g->sh = sh;
	g->pid = (int32_t)getpid();
	return g;
}

void
gate_free(struct gate *g)
{
	if (g == NULL)
		return;
	cidrset_free(&g->allow);
	cidrset_free(&g->block);
	free((void *)g->allow_src);
	free((void *)g->block_src);
	free(g);
}

int
gate_set_worker(struct gate *g, int worker)
{
	if (worker < 0 || worker >= GATE_MAX_WORKERS)
		return -1;
	g->worker = worker;
	g->pid = (int32_t)getpid();
	return 0;
}

int
gate_reload(struct gate *g, const struct config *cf, const struct gate_conf *gc)
{
	struct gate_conf def;

	if (gc == NULL) {
		gate_conf_from_config(cf, &def);
		gc = &def;
	}
	return gate_load(g, cf, gc);
}

const struct gate_conf *
gate_conf(const struct gate *g)
{
	return &g->conf;
}

/* --- admission ------------------------------------------------------ */

static int
dyn_match(const struct gate_shared *sh, int list, const struct netaddr *ip,
    const struct cidr **which)
{
	uint32_t i, seen = 0;

	for (i = 0; i < GATE_MAX_DYN && seen < sh->ndyn; i++) {
		if (sh->dyn[i].list == 0)
			continue;
		seen++;
		if (sh->dyn[i].list == list && cidr_match(&sh->dyn[i].c, ip)) {
			*which = &sh->dyn[i].c;
			return 1;
		}
	}
	return 0;
}

enum gate_verdict
gate_admit(struct gate *g, const struct netaddr *ip, int64_t now,
    struct gate_ticket *t)
{
	struct gate_shared *sh = g->sh;
	const struct gate_conf *c = &g->conf;
	struct gate_slot *is, *ns;
	const struct cidr *hit = NULL;
	enum gate_verdict v;
	uint8_t nk[16];
	char ctext[NET_ADDRSTRLEN + 8];
	int k;

	memset(t, 0, sizeof(*t));
	t->ip = *ip;
	t->admitted_ms = now;
	t->worker = (uint8_t)g->worker;

	/* the configuration's lists: private memory, no lock */
	if ((k = cidrset_match(&g->allow, ip)) >= 0)
		hit = &g->allow_src[k];
	gate_lock(g);
	if (hit != NULL || dyn_match(sh, GATE_LIST_ALLOW, ip, &hit)) {
		cidr_text(hit, ctext, sizeof(ctext));
		snprintf(t->detail, sizeof(t->detail), "cidr %s", ctext);
		sh->sessions[g->worker]++;
		t->counted = GATE_COUNTED_SESSION;
		v = GATE_ALLOW;
		goto out;
	}
	if ((k = cidrset_match(&g->block, ip)) >= 0)
		hit = &g->block_src[k];
	if (hit != NULL || dyn_match(sh, GATE_LIST_BLOCK, ip, &hit)) {
		cidr_text(hit, ctext, sizeof(ctext));
		snprintf(t->detail, sizeof(t->detail), "cidr %s", ctext);
		v = GATE_BLOCK;
		goto out;
	}
	if (sessions_total(sh) >= (uint32_t)c->max_sessions) {
		snprintf(t->detail, sizeof(t->detail), "sessions %d/%d",
		    (int)sessions_total(sh), c->max_sessions);
		v = GATE_LIMIT_GLOBAL;
		goto out;
	}
	net_key(g, ip, nk);
	is = slot_get(g, SLOT_IP, ip->family, ip->a, now, 1);
	ns = is ? slot_get(g, SLOT_NET, ip->family, nk, now, 1) : NULL;
	if (is == NULL || ns == NULL) {
		snprintf(t->detail, sizeof(t->detail), "table full");
		v = GATE_LIMIT_GLOBAL;
		goto out;
	}
	is->seen_ms = ns->seen_ms = now;
	if (is->block_until > now) {
		snprintf(t->detail, sizeof(t->detail), "%s, %lld s left",
		    is->why[0] ? is->why : "blocked",
		    (long long)((is->block_until - now + 999) / 1000));
		v = GATE_TEMPBLOCK;
	} else if (slot_conns(is) >= (uint32_t)c->ip_concurrency) {
		snprintf(t->detail, sizeof(t->detail), "ip %u/%d",
		    slot_conns(is), c->ip_concurrency);
		v = GATE_LIMIT_CONN;
	} else if (slot_conns(ns) >= (uint32_t)c->net_concurrency) {
		snprintf(t->detail, sizeof(t->detail), "net /%d %u/%d",
		    ip->family == AF_INET ? c->net4_prefix : c->net6_prefix,
		    slot_conns(ns), c->net_concurrency);
		v = GATE_LIMIT_CONN;
	} else if (!slot_refill(g, is, now)) {
		snprintf(t->detail, sizeof(t->detail), "ip %d/min", c->ip_rate);
		v = GATE_LIMIT_RATE;
	} else if (!slot_refill(g, ns, now)) {
		snprintf(t->detail, sizeof(t->detail), "net /%d %d/min",
		    ip->family == AF_INET ? c->net4_prefix : c->net6_prefix,
		    c->net_rate);
		v = GATE_LIMIT_RATE;
	} else {
		if (c->ip_rate > 0)
			is->tokens -= TOKEN;
		if (c->net_rate > 0)
			ns->tokens -= TOKEN;
		is->conns[g->worker]++;
		ns->conns[g->worker]++;
		is->total++;
		sh->sessions[g->worker]++;
		t->counted = GATE_COUNTED_SESSION | GATE_COUNTED_IP |
		    GATE_COUNTED_NET;
		v = is->pass_until > now ? GATE_PASS_OLD : GATE_PASS;
		goto out;
	}
	is->rejected++;
out:
	sh->verdicts[v]++;
	gate_unlock(g);
	t->verdict = v;
	return v;
}

void
gate_release(struct gate *g, struct gate_ticket *t)
{
	struct gate_shared *sh = g->sh;
	struct gate_slot *s;
	uint8_t nk[16];
	int w = t->worker;

	if (t->counted == 0)
		return;
	if (w >= GATE_MAX_WORKERS)
		fatalx(EXIT_TEMP, "gate: ticket with worker %d", w);
	gate_lock(g);
	if ((t->counted & GATE_COUNTED_SESSION) && sh->sessions[w] > 0)
		sh->sessions[w]--;
	if (t->counted & GATE_COUNTED_IP) {
		s = slot_get(g, SLOT_IP, t->ip.family, t->ip.a, 0, 0);
		if (s != NULL && s->conns[w] > 0)
			s->conns[w]--;
	}
	if (t->counted & GATE_COUNTED_NET) {
		net_key(g, &t->ip, nk);
		s = slot_get(g, SLOT_NET, t->ip.family, nk, 0, 0);
		if (s != NULL && s->conns[w] > 0)
			s->conns[w]--;
	}
	gate_unlock(g);
	t->counted = 0;
}

void
gate_note(struct gate *g, struct gate_ticket *t, enum gate_verdict v,
    const char *detail)
{
	if ((unsigned)v >= GATE_NVERDICTS)
		fatalx(EXIT_TEMP, "gate: bad verdict %d", (int)v);
	t->verdict = v;
	str_copy(t->detail, detail ? detail : "", sizeof(t->detail));
	gate_lock(g);
	g->sh->verdicts[v]++;
	gate_unlock(g);
}

void
gate_mark_passed(struct gate *g, const struct netaddr *ip, int64_t now)
{
	struct gate_slot *s;

	if (g->conf.pass_ttl_ms <= 0)
		return;
	gate_lock(g);
	if ((s = slot_get(g, SLOT_IP, ip->family, ip->a, now, 1)) != NULL) {
		s->pass_until = now + g->conf.pass_ttl_ms;
		s->seen_ms = now;
	}
	gate_unlock(g);
}

int
gate_tempblock(struct gate *g, const struct netaddr *ip, int seconds,
    const char *why, int64_t now)
{
	struct gate_slot *s;
	int rc = -1;

	gate_lock(g);
	if ((s = slot_get(g, SLOT_IP, ip->family, ip->a, now, 1)) != NULL) {
		s->block_until = now + (int64_t)seconds * 1000;
		s->pass_until = 0;
		s->seen_ms = now;
		str_copy(s->why, why ? why : "", sizeof(s->why));
		rc = 0;
	}
	gate_unlock(g);
	return rc;
}

int
gate_unblock(struct gate *g, const struct netaddr *ip)
{
	struct gate_slot *s;
	int rc = -1;

	gate_lock(g);
	if ((s = slot_get(g, SLOT_IP, ip->family, ip->a, 0, 0)) != NULL &&
	    s->block_until != 0) {
		s->block_until = 0;
		s->why[0] = '\0';
		rc = 0;
	}
	gate_unlock(g);
	return rc;
}

static int
cidr_same(const struct cidr *a, const struct cidr *b)
{
	return a->prefix == b->prefix && a->net.family == b->net.family &&
	    memcmp(a->net.a, b->net.a, 16) == 0;
}

int
gate_cidr_add(struct gate *g, enum gate_list list, const struct cidr *c)
{
	struct gate_shared *sh = g->sh;
	int i, free_i = -1, rc = -1;

	gate_lock(g);
	for (i = 0; i < GATE_MAX_DYN; i++) {
		if (sh->dyn[i].list == 0) {
			if (free_i < 0)
				free_i = i;
		} else if (sh->dyn[i].list == list &&
		    cidr_same(&sh->dyn[i].c, c)) {
			rc = 0;		/* already there */
			goto out;
		}
	}
	if (free_i >= 0) {
		sh->dyn[free_i].list = (uint8_t)list;
		sh->dyn[free_i].c = *c;
		sh->ndyn++;
		rc = 0;
	}
out:
	gate_unlock(g);
	return rc;
}

int
gate_cidr_del(struct gate *g, enum gate_list list, const struct cidr *c)
{
	struct gate_shared *sh = g->sh;
	int i, rc = -1;

	gate_lock(g);
	for (i = 0; i < GATE_MAX_DYN; i++)
		if (sh->dyn[i].list == list && cidr_same(&sh->dyn[i].c, c)) {
			sh->dyn[i].list = 0;
			sh->ndyn--;
			rc = 0;
			break;
		}
	gate_unlock(g);
	return rc;
}

/* --- in-session limits -------------------------------------------- */

/* One more bad recipient of a kind (count) against its limit: at the
 * limit the IP is blocked for tempblock_ms and DICTIONARY noted. */
static int
dictionary(struct gate *g, struct gate_ticket *t, int64_t now, int count,
    int limit, const char *what)
{
	char why[GATE_WHY_MAX];
	int secs;

	if (limit <= 0 || count < limit)
		return 0;
	secs = (int)(g->conf.tempblock_ms / 1000);
	snprintf(why, sizeof(why), "dictionary attack (%d %s rcpt)", count,
	    what);
	if (t->verdict != GATE_ALLOW && secs > 0)
		(void)gate_tempblock(g, &t->ip, secs, why, now);
	snprintf(why, sizeof(why), "%d %s recipients, blocked %d s", count,
	    what, t->verdict == GATE_ALLOW ? 0 : secs);
	gate_note(g, t, GATE_DICTIONARY, why);
	return 1;
}

int
gate_unknown_rcpt(struct gate *g, struct gate_session *s,
    struct gate_ticket *t, int64_t now)
{
	return dictionary(g, t, now, ++s->unknown_rcpt,
	    g->conf.max_unknown_rcpt, "unknown");
}

int
gate_refused_rcpt(struct gate *g, struct gate_session *s,
    struct gate_ticket *t, int64_t now)
{
	return dictionary(g, t, now, ++s->refused_rcpt,
	    g->conf.max_refused_rcpt, "refused");
}

int
gate_data_too_slow(const struct gate *g, const struct gate_session *s,
    int64_t now)
{
	int64_t el = now - s->data_start_ms;

	if (g->conf.min_data_rate == 0 || el < g->conf.data_rate_grace_ms ||
	    el <= 0)
		return 0;
	return s->data_bytes * 1000 / (uint64_t)el < g->conf.min_data_rate;
}

/* --- administration ------------------------------------------------- */

void
gate_worker_reset(struct gate *g, int worker)
{
	struct gate_shared *sh = g->sh;
	uint32_t i;

	if (worker < 0 || worker >= GATE_MAX_WORKERS)
		return;
	gate_lock(g);
	sh->sessions[worker] = 0;
	for (i = 0; i < sh->nslots; i++)
		sh->slots[i].conns[worker] = 0;
	gate_unlock(g);
}

void
gate_stats(struct gate *g, struct gate_stats *st)
{
	struct gate_shared *sh = g->sh;

	memset(st, 0, sizeof(*st));
	gate_lock(g);
	memcpy(st->verdicts, sh->verdicts, sizeof(st->verdicts));
	memcpy(st->msgs, sh->msgs, sizeof(st->msgs));
	memcpy(st->msgs_today, sh->msgs_today, sizeof(st->msgs_today));
	st->today = sh->today;
	st->sessions = sessions_total(sh);
	st->slots = sh->nslots;
	st->used = sh->used;
	st->evictions = sh->evictions;
	st->table_full = sh->table_full;
	st->ndyn = sh->ndyn;
	gate_unlock(g);
}

void
gate_set_log_disk(struct gate *g, int refuse, int pct)
{
	g->sh->log_pct = pct;
	g->sh->log_refuse = refuse;
}

int
gate_log_disk_refuses(const struct gate *g)
{
	return g->sh->log_refuse;
}

void
gate_count_message(struct gate *g, enum gate_msg m, int64_t wall_s)
{
	struct gate_shared *sh = g->sh;
	int64_t day = wall_s / 86400;

	if ((unsigned)m >= GATE_NMSG)
		return;
	gate_lock(g);
	if (day != sh->today) {
		memset(sh->msgs_today, 0, sizeof(sh->msgs_today));
		sh->today = day;
	}
	sh->msgs[m]++;
	sh->msgs_today[m]++;
	gate_unlock(g);
}

static int
entry_before(const struct gate_entry *a, const struct gate_entry *b)
{
	if (a->conns != b->conns)
		return a->conns > b->conns;
	return a->total > b->total;
}

int
gate_list_entries(struct gate *g, int64_t now, int blocks_only,
    struct gate_entry *out, int max)
{
	struct gate_shared *sh = g->sh;
	uint32_t i;
	int n = 0, j;

	if (max <= 0)
		return 0;
	gate_lock(g);
	for (i = 0; i < sh->nslots; i++) {
		const struct gate_slot *s = &sh->slots[i];
		struct gate_entry e;
		if (s->kind == SLOT_EMPTY)
			continue;
		if (blocks_only && s->block_until <= now)
			continue;
		if (!blocks_only && slot_conns(s) == 0 && s->total == 0)
			continue;
		memset(&e, 0, sizeof(e));
		e.addr.family = s->family;
		memcpy(e.addr.a, s->addr, 16);
		e.is_net = s->kind == SLOT_NET;
		e.conns = slot_conns(s);
		e.total = s->total;
		e.rejected = s->rejected;
		e.block_left_ms = s->block_until > now ? s->block_until - now : 0;
		e.pass_left_ms = s->pass_until > now ? s->pass_until - now : 0;
		memcpy(e.why, s->why, sizeof(e.why));
		/* insertion into a sorted array of at most max */
		if (n == max && !entry_before(&e, &out[n - 1]))
			continue;
		j = n < max ? n++ : n - 1;
		while (j > 0 && entry_before(&e, &out[j - 1])) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = e;
	}
	gate_unlock(g);
	return n;
}

/* --- names, replies, log lines -------------------------------------- */

const char *
gate_verdict_name(enum gate_verdict v)
{
	switch (v) {
	case GATE_ALLOW: return "ALLOW";
	case GATE_PASS: return "PASS NEW";
	case GATE_PASS_OLD: return "PASS OLD";
	case GATE_BLOCK: return "BLOCK";
	case GATE_TEMPBLOCK: return "TEMPBLOCK";
	case GATE_LIMIT_CONN: return "LIMIT conn";
	case GATE_LIMIT_RATE: return "LIMIT rate";
	case GATE_LIMIT_GLOBAL: return "LIMIT global";
	case GATE_PREGREET: return "PREGREET";
	case GATE_DNSBL: return "DNSBL";
	case GATE_DICTIONARY: return "DICTIONARY";
	case GATE_NVERDICTS: break;
	}
	return "?";
}

int
gate_verdict_ok(enum gate_verdict v)
{
	return v == GATE_ALLOW || v == GATE_PASS || v == GATE_PASS_OLD;
}

int
gate_reply(const struct gate *g, const struct gate_ticket *t, char *buf,
    size_t size)
{
	char ip[NET_ADDRSTRLEN];

	netaddr_format(&t->ip, ip, sizeof(ip));
	switch (t->verdict) {
	case GATE_BLOCK:
		if (g->conf.block_action == GATE_BLOCK_DROP)
			return 0;
		snprintf(buf, size, "554 5.7.1 Service unavailable; "
		    "client [%s] blocked by local policy\r\n", ip);
		return 1;
	case GATE_DNSBL:
		snprintf(buf, size, "554 5.7.1 Service unavailable; "
		    "client [%s] blocked using DNSBL\r\n", ip);
		return 1;
	case GATE_TEMPBLOCK:
		snprintf(buf, size, "421 4.7.0 [%s] temporarily blocked, "
		    "try again later\r\n", ip);
		return 1;
	case GATE_LIMIT_CONN:
		snprintf(buf, size, "421 4.7.0 Too many connections from "
		    "[%s], try again later\r\n", ip);
		return 1;
	case GATE_LIMIT_RATE:
		snprintf(buf, size, "421 4.7.0 Connection rate limit "
		    "exceeded for [%s], try again later\r\n", ip);
		return 1;
	case GATE_LIMIT_GLOBAL:
		snprintf(buf, size, "421 4.7.0 Server busy, "
		    "try again later\r\n");
		return 1;
	case GATE_DICTIONARY:
		snprintf(buf, size, "421 4.7.0 Too many unknown recipients, "
		    "closing connection\r\n");
		return 1;
	case GATE_ALLOW: case GATE_PASS: case GATE_PASS_OLD:
	case GATE_PREGREET: case GATE_NVERDICTS:
		break;
	}
	if (size > 0)
		buf[0] = '\0';
	return 0;
}

char *
gate_log_line(const struct gate_ticket *t, char *buf, size_t size)
{
	char ip[NET_ADDRSTRLEN];

	netaddr_format(&t->ip, ip, sizeof(ip));
	snprintf(buf, size, "%s [%s]%s%s", gate_verdict_name(t->verdict), ip,
	    t->detail[0] ? " " : "", t->detail);
	return buf;
}
