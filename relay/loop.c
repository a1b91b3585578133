/*
 * loop.c — see loop.h. epoll plus a binary min-heap of timers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

#define LOOP_BATCH	256	/* events taken per epoll_wait */

struct loop {
	int		 epfd;
	struct timer	**heap;
	uint32_t	 nheap, capheap;
	/* watches deleted during the current dispatch turn */
	struct watch	*deleted[LOOP_BATCH];
	int		 ndeleted;
	int		 overflow;	/* deleted[] full: end this turn */
	int		 dispatching;
};

struct loop *
loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l);
}

int
loop_add(struct loop *l, struct watch *w, int fd, uint32_t events,
    watch_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
loop_mod(struct loop *l, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (events == w->events)
		return 0;
	w->events = events;
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void
loop_del(struct loop *l, struct watch *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	if (l->dispatching) {
		if (l->ndeleted < LOOP_BATCH)
			l->deleted[l->ndeleted++] = w;
		else
			l->overflow = 1;
	}
}

/* --- timers: a binary min-heap on `when`; slot is index + 1 ---------- */

static void
heap_swap(struct loop *l, uint32_t a, uint32_t b)
{
	struct timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a + 1;
	l->heap[b]->slot = b + 1;
}

static void
heap_up(struct loop *l, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (l->heap[p]->when <= l->heap[i]->when)
			break;
		heap_swap(l, i, p);
		i = p;
	}
}

static void
heap_down(struct loop *l, uint32_t i)
{
	for (;;) {
		uint32_t c = 2 * i + 1, m = i;
		if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

void
loop_timer_cancel(struct loop *l, struct timer *t)
{
	uint32_t i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	l->nheap--;
	if (i == l->nheap)
		return;
	l->heap[i] = l->heap[l->nheap];
	l->heap[i]->slot = i + 1;
	heap_down(l, i);
	heap_up(l, i);
}

void
loop_timer_set(struct loop *l, struct timer *t, int64_t when, timer_fn *fn,
    void *arg)
{
	loop_timer_cancel(l, t);
	t->when = when;
	t->fn = fn;
	t->arg = arg;
	if (l->nheap == l->capheap) {
		uint32_t cap = l->capheap ? l->capheap * 2 : 64;
		struct timer **h;
		if (cap > LOOP_MAX_TIMERS)
			fatalx(EXIT_TEMP, "loop: more than %u timers",
			    LOOP_MAX_TIMERS);
		h = realloc(l->heap, cap * sizeof(*h));
		if (h == NULL)
			fatal(EXIT_TEMP, "loop: timer heap");
		l->heap = h;
		l->capheap = cap;
	}
	l->heap[l->nheap] = t;
	t->slot = ++l->nheap;
	heap_up(l, l->nheap - 1);
}

int
loop_timer_armed(const struct timer *t)
{
	return t->slot != 0;
}

/* --- dispatch ------------------------------------------------------ */

static int
was_deleted(struct loop *l, struct watch *w)
{
	int i;

	for (i = 0; i < l->ndeleted; i++)
		if (l->deleted[i] == w)
			return 1;
	return 0;
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	struct epoll_event ev[LOOP_BATCH];
	int64_t now = mono_ms();
	int wait = max_wait_ms, n, i;

	if (l->nheap > 0) {
		int64_t d = l->heap[0]->when - now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = (int)(d > 86400000 ? 86400000 : d);
	}
	n = epoll_wait(l->epfd, ev, LOOP_BATCH, wait);
	if (n < 0 && errno != EINTR)
		return -1;
	l->dispatching = 1;
	l->ndeleted = 0;
	l->overflow = 0;
	/* Level-triggered: an event skipped here is reported again next
	 * turn, so stopping early when we lose track of deletions is safe.
	 * was_deleted() compares pointers before any dereference because a
	 * callback may have freed the struct holding a deleted watch. */
	for (i = 0; i < n && !l->overflow; i++) {
		struct watch *w = ev[i].data.ptr;
		if (was_deleted(l, w) || w->fd < 0)
			continue;
		w->fn(w, ev[i].events);
	}
	l->dispatching = 0;
	now = mono_ms();
	while (l->nheap > 0 && l->heap[0]->when <= now) {
		struct timer *t = l->heap[0];
		loop_timer_cancel(l, t);
		t->fn(t);
	}
	return 0;
}
