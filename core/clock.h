/*
 * clock.h - the injected clock.  Every wait, timer, window and TTL in
 * llmroute reads time through a struct lr_clock, never through
 * clock_gettime() directly, so tests and `llmroute simulate` can replace
 * real time.  A fake clock only moves when told to.
 */
#ifndef LR_CORE_CLOCK_H
#define LR_CORE_CLOCK_H

#include <stdint.h>

struct lr_clock {
    int64_t (*now_ms)(void *ctx);   /* monotonic */
    int64_t (*wall_ms)(void *ctx);  /* Unix epoch */
    void *ctx;
};

/* The real clock (CLOCK_MONOTONIC / CLOCK_REALTIME), a static object
   valid for the whole process. */
const struct lr_clock *lr_clock_real(void);

/*
 * A manual clock for tests and simulation: both readings start where
 * lr_fake_clock_new() puts them and move only, and together, when
 * lr_fake_clock_advance() says so.  Thread-safe: any thread may advance
 * or read it.  new returns NULL when out of memory.
 */
struct lr_fake_clock;
struct lr_fake_clock *lr_fake_clock_new(int64_t mono_ms, int64_t wall_ms);
/* Move both readings forward by ms; ms <= 0 is ignored, since a
   monotonic clock never goes back. */
void lr_fake_clock_advance(struct lr_fake_clock *fc, int64_t ms);
/* The clock to inject; owned by fc, valid until lr_fake_clock_free(). */
const struct lr_clock *lr_fake_clock_get(struct lr_fake_clock *fc);
/* Free fc (NULL is fine); nothing may read its clock afterwards. */
void lr_fake_clock_free(struct lr_fake_clock *fc);

static inline int64_t lr_clock_now(const struct lr_clock *c)
{
    return c->now_ms(c->ctx);
}

static inline int64_t lr_clock_wall(const struct lr_clock *c)
{
    return c->wall_ms(c->ctx);
}

#endif
