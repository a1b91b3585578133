/*
 * tls_cache.c — the inbound TLS session cache that the workers of one
 * generation share, so a client that comes back resumes its session
 * whichever worker accepts it (BearSSL's own cache is one process's).
 *
 * BearSSL's session cache interface (save, load) over a table in one
 * MAP_SHARED anonymous mapping that the parent makes before it forks
 * the workers. The table is direct-mapped: a session goes to the slot
 * its ID's first bytes name (BearSSL draws the 32 bytes at random), and
 * a newer session in the same slot replaces it.
 *
 * Concurrency without locks, as a sequence lock per slot: a slot's
 * counter is odd while a worker writes it. A writer takes the slot with
 * a compare-and-swap from even to odd and gives up when another holds
 * it (a cache may forget); a reader copies the words and keeps them only
 * when the counter was even and unchanged across the copy. Every word
 * is an atomic, so a torn copy is a miss, never undefined behaviour.
 * No process ever waits on another.
 *
 * An entry is good for its lifetime from the moment it was saved
 * (CLOCK_MONOTONIC, the same clock in every process). Master secrets
 * stay in the table until overwritten or until the parent frees it,
 * once every process of the generation has exited: it is wiped then (the
 * processes of later generations, forked while it existed, still map
 * it). The table is kept out of core dumps.
 *
 * Never: blocks, allocates per connection, logs.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tls_int.h"

/* One slot: 16 words (128 bytes, two cache lines). */
#define W_SEQ		0	/* odd: being written */
#define W_EXPIRES	1	/* monotonic seconds */
#define W_PARAMS	2	/* id length | version << 8 | suite << 24 */
#define W_ID		3	/* 4 words: the session ID */
#define W_SECRET	7	/* 6 words: the master secret */
#define W_SLOT		16

struct tls_cache_slot {
	_Atomic uint64_t	w[W_SLOT];
};

static int64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

static struct tls_cache_slot *
slot_of(const struct tls_cache *c, const unsigned char *id)
{
	uint32_t h = (uint32_t)id[0] | (uint32_t)id[1] << 8 |
	    (uint32_t)id[2] << 16 | (uint32_t)id[3] << 24;

	return &c->slots[h & (c->nslots - 1)];
}

static void
words_put(struct tls_cache_slot *s, int at, const unsigned char *p,
    size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < len; i += 8) {
		memcpy(&w, p + i, 8);
		atomic_store_explicit(&s->w[at + (int)(i / 8)], w,
		    memory_order_relaxed);
	}
}

static void
words_get(struct tls_cache_slot *s, int at, unsigned char *p, size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < len; i += 8) {
		w = atomic_load_explicit(&s->w[at + (int)(i / 8)],
		    memory_order_relaxed);
		memcpy(p + i, &w, 8);
	}
}

static struct tls_cache *
cache_of(const br_ssl_session_cache_class **ctx)
{
	return (struct tls_cache *)(void *)ctx;	/* vtable is first */
}

static void
cache_save(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, const br_ssl_session_parameters *p)
{
	struct tls_cache *c = cache_of(ctx);
	struct tls_cache_slot *s;
	uint64_t seq;

	tls_sconn_cache_event(sc, 0);	/* a full handshake */
	if (p->session_id_len != 32)
		return;
	s = slot_of(c, p->session_id);
	seq = atomic_load_explicit(&s->w[W_SEQ], memory_order_relaxed);
	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&s->w[W_SEQ],
	    &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
		return;				/* another worker writes it */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&s->w[W_EXPIRES],
	    (uint64_t)(mono_s() + c->lifetime_s), memory_order_relaxed);
	atomic_store_explicit(&s->w[W_PARAMS], (uint64_t)p->session_id_len |
	    (uint64_t)p->version << 8 | (uint64_t)p->cipher_suite << 24,
	    memory_order_relaxed);
	words_put(s, W_ID, p->session_id, 32);
	words_put(s, W_SECRET, p->master_secret, 48);
	atomic_store_explicit(&s->w[W_SEQ], seq + 2, memory_order_release);
}

static int
cache_load(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, br_ssl_session_parameters *p)
{
	struct tls_cache *c = cache_of(ctx);
	struct tls_cache_slot *s;
	unsigned char id[32], secret[48];
	uint64_t seq, expires, params;
	int hit;

	if (p->session_id_len != 32)
		return 0;
	s = slot_of(c, p->session_id);
	seq = atomic_load_explicit(&s->w[W_SEQ], memory_order_acquire);
	if (seq & 1)
		return 0;
	expires = atomic_load_explicit(&s->w[W_EXPIRES], memory_order_relaxed);
	params = atomic_load_explicit(&s->w[W_PARAMS], memory_order_relaxed);
	words_get(s, W_ID, id, sizeof(id));
	words_get(s, W_SECRET, secret, sizeof(secret));
	atomic_thread_fence(memory_order_acquire);
	hit = atomic_load_explicit(&s->w[W_SEQ], memory_order_relaxed) == seq &&
	    (params & 0xff) == 32 && memcmp(id, p->session_id, 32) == 0 &&
	    (int64_t)expires > mono_s();
	if (hit) {
		p->version = (uint16_t)(params >> 8);
		p->cipher_suite = (uint16_t)(params >> 24);
		memcpy(p->master_secret, secret, sizeof(secret));
		tls_sconn_cache_event(sc, 1);
	}
	explicit_bzero(secret, sizeof(secret));
	return hit;
}

static const br_ssl_session_cache_class cache_vtable = {
	sizeof(struct tls_cache), cache_save, cache_load
};

int
tls_cache_init(struct tls_cache *c, size_t nslots, unsigned lifetime_s)
{
	size_t size = nslots * sizeof(struct tls_cache_slot);
	void *mem;

	memset(c, 0, sizeof(*c));
	if (nslots == 0 || (nslots & (nslots - 1)) != 0) {
		errno = EINVAL;			/* a power of two */
		return -1;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	(void)madvise(mem, size, MADV_DONTDUMP);
	c->vtable = &cache_vtable;
	c->slots = mem;
	c->nslots = nslots;
	c->lifetime_s = lifetime_s;
	return 0;
}

void
tls_cache_free(struct tls_cache *c)
{
	size_t size = c->nslots * sizeof(struct tls_cache_slot);

	if (c->slots != NULL) {
		explicit_bzero(c->slots, size);	/* cached master secrets */
		munmap(c->slots, size);
	}
	memset(c, 0, sizeof(*c));
}
