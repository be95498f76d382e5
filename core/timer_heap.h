/*
 * timer_heap.h - a binary min-heap of intrusive timers (as in libuv and
 * nginx): each timer lives inside the object it belongs to and remembers
 * its heap slot, so arming, disarming and firing are O(log n) with no
 * allocation per timer.  Times are injected-clock milliseconds; the heap
 * itself never reads a clock.  Not thread-safe: the engine thread owns it.
 */
#ifndef LR_CORE_TIMER_HEAP_H
#define LR_CORE_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct lr_timer {
    int64_t at;
    size_t slot;      /* index in the heap + 1; 0 when not armed */
    uint64_t seq;     /* insertion order, breaks ties deterministically */
    void (*fire)(struct lr_timer *t);
};

struct lr_timer_heap {
    struct lr_timer **v;
    size_t n, cap;
    uint64_t next_seq;
};

/* (Re)arm t to fire at `at`; LR_OK or LR_E_NOMEM. */
int lr_timer_arm(struct lr_timer_heap *h, struct lr_timer *t, int64_t at);
void lr_timer_disarm(struct lr_timer_heap *h, struct lr_timer *t);
/* Earliest armed timer, or NULL. */
struct lr_timer *lr_timer_peek(const struct lr_timer_heap *h);
/* Disarm and call every timer due at or before now, earliest first.
   Timers armed by a callback for <= now also fire; returns the count. */
size_t lr_timer_run(struct lr_timer_heap *h, int64_t now);
void lr_timer_heap_free(struct lr_timer_heap *h);

#endif
