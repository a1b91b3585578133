/*
 * loop.h — the one event loop of a process: epoll readiness callbacks and
 * one-shot millisecond timers on a binary heap.
 *
 * The loop owns no descriptors and no memory of its callers: a `watch` or
 * `timer` is embedded in the caller's own struct and must stay valid until
 * it is removed or has fired. Callbacks run on the loop's stack, one at a
 * time; a callback may add, modify or delete any watch or timer, its own
 * included (a deleted watch receives no further events in the same turn).
 */
#ifndef MXGATE_LOOP_H
#define MXGATE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#define LOOP_MAX_TIMERS	(1u << 20)	/* bound on pending timers */

struct loop;
struct watch;
struct timer;

typedef void watch_fn(struct watch *w, uint32_t events);
typedef void timer_fn(struct timer *t);

struct watch {
	int		 fd;
	uint32_t	 events;	/* EPOLLIN | EPOLLOUT currently asked */
	watch_fn	*fn;
	void		*arg;
	unsigned	 gen;		/* guards stale events after delete */
};

struct timer {
	int64_t		 when;		/* mono_ms() deadline */
	timer_fn	*fn;
	void		*arg;
	uint32_t	 slot;		/* heap index + 1, 0 when idle */
};

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* 0 ok, -1 with errno. `events` is a mask of EPOLLIN/EPOLLOUT; errors and
 * hang-ups are always reported. */
int  loop_add(struct loop *l, struct watch *w, int fd, uint32_t events,
    watch_fn *fn, void *arg);
int  loop_mod(struct loop *l, struct watch *w, uint32_t events);
void loop_del(struct loop *l, struct watch *w);

/* Arms (or re-arms) t to fire once at mono_ms() >= when. */
void loop_timer_set(struct loop *l, struct timer *t, int64_t when,
    timer_fn *fn, void *arg);
void loop_timer_cancel(struct loop *l, struct timer *t);
int  loop_timer_armed(const struct timer *t);

/* Waits at most max_wait_ms (-1: until an event or timer), dispatches
 * ready watches and due timers once. Returns 0, or -1 on an epoll error
 * other than EINTR. */
int loop_run_once(struct loop *l, int max_wait_ms);

#endif
