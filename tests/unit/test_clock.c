/*
 * test_clock.c - the real clock (core/clock.c) against clock_gettime(),
 * and the fake clock: its readings, its refusal to go back, and exact
 * totals when many threads advance it at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "clock.h"

#define THREADS 8
#define STEPS 10000

static int64_t sys_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_real_monotonic(void **state)
{
    const struct lr_clock *c = lr_clock_real();
    assert_non_null(c);
    assert_ptr_equal(c, lr_clock_real());
    /* CLOCK_MONOTONIC cannot step, so the bracket is exact. */
    int64_t before = sys_ms(CLOCK_MONOTONIC);
    int64_t now = lr_clock_now(c);
    int64_t after = sys_ms(CLOCK_MONOTONIC);
    assert_true(before <= now && now <= after);
    int64_t prev = now;
    for (int i = 0; i < 1000; i++) {
        int64_t t = lr_clock_now(c);
        assert_true(t >= prev);
        prev = t;
    }
}

static void test_real_wall(void **state)
{
    const struct lr_clock *c = lr_clock_real();
    int64_t wall = lr_clock_wall(c);
    /* Between 2020 and 2100: milliseconds, not seconds or micros. */
    assert_true(wall > INT64_C(1577836800000));
    assert_true(wall < INT64_C(4102444800000));
    /* CLOCK_REALTIME may be stepped by NTP meanwhile: allow a minute. */
    int64_t sys = sys_ms(CLOCK_REALTIME);
    assert_true(sys - wall > -60000 && sys - wall < 60000);
}

static void test_fake_readings(void **state)
{
    struct lr_fake_clock *fc = lr_fake_clock_new(1000, INT64_C(1770000000000));
    assert_non_null(fc);
    const struct lr_clock *c = lr_fake_clock_get(fc);
    assert_ptr_equal(c, lr_fake_clock_get(fc));
    assert_int_equal(lr_clock_now(c), 1000);
    assert_int_equal(lr_clock_wall(c), INT64_C(1770000000000));
    lr_fake_clock_advance(fc, 250);
    assert_int_equal(lr_clock_now(c), 1250);
    assert_int_equal(lr_clock_wall(c), INT64_C(1770000000250));
    /* Reading does not move it. */
    assert_int_equal(lr_clock_now(c), 1250);
    lr_fake_clock_free(fc);
}

static void test_fake_never_goes_back(void **state)
{
    struct lr_fake_clock *fc = lr_fake_clock_new(0, 0);
    assert_non_null(fc);
    const struct lr_clock *c = lr_fake_clock_get(fc);
    lr_fake_clock_advance(fc, 0);
    lr_fake_clock_advance(fc, -5);
    lr_fake_clock_advance(fc, INT64_MIN);
    assert_int_equal(lr_clock_now(c), 0);
    assert_int_equal(lr_clock_wall(c), 0);
    lr_fake_clock_advance(fc, 7);
    assert_int_equal(lr_clock_now(c), 7);
    lr_fake_clock_free(fc);
    lr_fake_clock_free(NULL);
}

static void test_fake_clocks_independent(void **state)
{
    struct lr_fake_clock *a = lr_fake_clock_new(10, 20);
    struct lr_fake_clock *b = lr_fake_clock_new(100, 200);
    assert_non_null(a);
    assert_non_null(b);
    lr_fake_clock_advance(a, 5);
    assert_int_equal(lr_clock_now(lr_fake_clock_get(a)), 15);
    assert_int_equal(lr_clock_now(lr_fake_clock_get(b)), 100);
    assert_int_equal(lr_clock_wall(lr_fake_clock_get(b)), 200);
    lr_fake_clock_free(a);
    lr_fake_clock_free(b);
}

struct worker {
    struct lr_fake_clock *fc;
    int backwards; /* cmocka asserts are not thread-safe: count here */
};

static void *advance_many(void *arg)
{
    struct worker *w = arg;
    const struct lr_clock *c = lr_fake_clock_get(w->fc);
    int64_t prev = lr_clock_now(c);
    for (int i = 0; i < STEPS; i++) {
        lr_fake_clock_advance(w->fc, 1);
        int64_t now = lr_clock_now(c);
        if (now <= prev)
            w->backwards++;
        prev = now;
    }
    return NULL;
}

static void test_fake_threads(void **state)
{
    struct lr_fake_clock *fc = lr_fake_clock_new(5, 1000);
    assert_non_null(fc);
    pthread_t tid[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ fc, 0 };
        assert_int_equal(pthread_create(&tid[i], NULL, advance_many, &w[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(w[i].backwards, 0);
    }
    const struct lr_clock *c = lr_fake_clock_get(fc);
    assert_int_equal(lr_clock_now(c), 5 + THREADS * STEPS);
    assert_int_equal(lr_clock_wall(c), 1000 + THREADS * STEPS);
    lr_fake_clock_free(fc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_monotonic),
        cmocka_unit_test(test_real_wall),
        cmocka_unit_test(test_fake_readings),
        cmocka_unit_test(test_fake_never_goes_back),
        cmocka_unit_test(test_fake_clocks_independent),
        cmocka_unit_test(test_fake_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
