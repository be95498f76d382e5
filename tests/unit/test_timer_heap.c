/*
 * test_timer_heap.c - the intrusive timer heap fires in (time, arm order)
 * order, supports disarm and re-arm from anywhere in the heap, and lets a
 * callback arm further timers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "timer_heap.h"

struct rec {
    struct lr_timer t;
    int id;
};

static int order[64];
static int n_order;

static void fire(struct lr_timer *t)
{
    order[n_order++] = ((struct rec *)t)->id;
}

static void fires_in_order(void **s)
{
    (void)s;
    struct lr_timer_heap h = {0};
    struct rec r[8];
    int64_t at[8] = {50, 10, 30, 10, 70, 20, 60, 40};
    for (int i = 0; i < 8; i++) {
        r[i] = (struct rec){.t = {.fire = fire}, .id = i};
        assert_int_equal(lr_timer_arm(&h, &r[i].t, at[i]), 0);
    }
    lr_timer_disarm(&h, &r[2].t);      /* 30 */
    lr_timer_arm(&h, &r[4].t, 5);      /* 70 -> 5 */
    n_order = 0;
    assert_int_equal(lr_timer_run(&h, 45), 5);
    int want[] = {4, 1, 3, 5, 7};
    for (int i = 0; i < 5; i++)
        assert_int_equal(order[i], want[i]);
    assert_int_equal(lr_timer_peek(&h)->at, 50);
    assert_int_equal(lr_timer_run(&h, 1000), 2);
    assert_null(lr_timer_peek(&h));
    assert_int_equal(r[2].t.slot, 0);
    lr_timer_heap_free(&h);
}

static struct lr_timer_heap *chain_heap;
static struct rec chain_next;

static void fire_and_arm(struct lr_timer *t)
{
    fire(t);
    lr_timer_arm(chain_heap, &chain_next.t, 1);
}

static void callback_may_arm(void **s)
{
    (void)s;
    struct lr_timer_heap h = {0};
    chain_heap = &h;
    struct rec first = {.t = {.fire = fire_and_arm}, .id = 1};
    chain_next = (struct rec){.t = {.fire = fire}, .id = 2};
    lr_timer_arm(&h, &first.t, 0);
    n_order = 0;
    assert_int_equal(lr_timer_run(&h, 1), 2);
    assert_int_equal(order[1], 2);
    lr_timer_heap_free(&h);
}

static void many_random(void **s)
{
    (void)s;
    struct lr_timer_heap h = {0};
    enum { N = 5000 };
    struct rec *r = calloc(N, sizeof *r);
    srand(7);
    for (int i = 0; i < N; i++) {
        r[i] = (struct rec){.t = {.fire = fire}, .id = i};
        lr_timer_arm(&h, &r[i].t, rand() % 1000);
    }
    for (int i = 0; i < N; i += 3)
        lr_timer_disarm(&h, &r[i].t);
    int64_t last = -1;
    size_t fired = 0;
    struct lr_timer *t;
    while ((t = lr_timer_peek(&h))) {
        assert_true(t->at >= last);
        last = t->at;
        lr_timer_disarm(&h, t);
        fired++;
    }
    assert_int_equal(fired, N - (N + 2) / 3);
    lr_timer_heap_free(&h);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_in_order),
        cmocka_unit_test(callback_may_arm),
        cmocka_unit_test(many_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
