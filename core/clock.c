/*
 * clock.c - the real clock and the fake one that tests and simulation
 * inject instead (see clock.h for why nothing reads time directly).
 *
 * The fake clock keeps its two starting readings fixed and moves both
 * by one shared atomic offset.  A reader therefore never sees the
 * monotonic and the wall reading advanced by different amounts, and the
 * clock needs no lock: lr_fake_clock_advance() from one thread and reads
 * from any number of others are safe.
 */
#include "clock.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct lr_fake_clock {
    struct lr_clock clock; /* handed out by lr_fake_clock_get(); ctx: us */
    int64_t mono0;
    int64_t wall0;
    _Atomic int64_t offset;
};

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    /* Cannot fail on Linux for these two clock ids. */
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_now_ms(void *ctx)
{
    (void)ctx;
    return read_ms(CLOCK_MONOTONIC);
}

static int64_t real_wall_ms(void *ctx)
{
    (void)ctx;
    return read_ms(CLOCK_REALTIME);
}

static const struct lr_clock real_clock = {
    .now_ms = real_now_ms,
    .wall_ms = real_wall_ms,
    .ctx = NULL,
};

const struct lr_clock *lr_clock_real(void)
{
    return &real_clock;
}

static int64_t fake_now_ms(void *ctx)
{
    struct lr_fake_clock *fc = ctx;
    return fc->mono0 + atomic_load(&fc->offset);
}

static int64_t fake_wall_ms(void *ctx)
{
    struct lr_fake_clock *fc = ctx;
    return fc->wall0 + atomic_load(&fc->offset);
}

struct lr_fake_clock *lr_fake_clock_new(int64_t mono_ms, int64_t wall_ms)
{
    struct lr_fake_clock *fc = malloc(sizeof *fc);
    if (!fc)
        return NULL;
    fc->clock.now_ms = fake_now_ms;
    fc->clock.wall_ms = fake_wall_ms;
    fc->clock.ctx = fc;
    fc->mono0 = mono_ms;
    fc->wall0 = wall_ms;
    atomic_init(&fc->offset, 0);
    return fc;
}

void lr_fake_clock_advance(struct lr_fake_clock *fc, int64_t ms)
{
    /* A monotonic clock never goes back, so neither does the fake. */
    if (ms > 0)
        atomic_fetch_add(&fc->offset, ms);
}

const struct lr_clock *lr_fake_clock_get(struct lr_fake_clock *fc)
{
    return &fc->clock;
}

void lr_fake_clock_free(struct lr_fake_clock *fc)
{
    free(fc);
}
