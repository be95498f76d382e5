/*
 * test_policy_retry.c - the retry policy, loaded as the real
 * build/plugins/retry.so and driven through its descriptor with the fake
 * host, a real memory store on the fake clock and a fixed jitter_seed:
 * each class's backoff within [0, schedule[n]] and under max_delay_ms,
 * determinism of the seed, hints honoured or sent on, max_attempts,
 * fallback after consecutive 429s, the classes and flags that leave the
 * decision to the core, the retry budget (ratio, minimum, rolling window
 * on the clock), counters and config errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fake_host.h"
#include "support/policy_fixture.h"

struct fx {
    struct policy_fx p;
    void *rs;                 /* req_state of the current request */
    int64_t delay;
    char reason[200];
};

static int setup(void **state)
{
    if (policy_fx_setup(state, sizeof(struct fx), "retry", "retry",
                        POLICY_FX_STORE) != 0)
        return -1;
    struct fx *f = *state;
    fake_section_set(f->p.sec, "jitter_seed", "12345");
    return 0;
}

static const struct lr_policy_req REQ = {.id = 7};

static void end_request(struct fx *f)
{
    if (f->rs || f->p.inst)
        f->p.ops->on_complete(f->p.inst, &REQ, f->rs, NULL);
    f->rs = NULL;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->p.inst)
        end_request(f);
    return policy_fx_teardown(state);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* create() must fail with an error naming key. */
static void make_bad(struct fx *f, const char *key, const char *value)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", key);
    fake_section_set(f->p.sec, key, value);
    policy_fx_create_fails(&f->p, prefix);
    fake_section_set(f->p.sec, key, NULL);
}

/* A new request (ends the previous one). */
static void begin(struct fx *f)
{
    end_request(f);
    f->rs = policy_fx_begin(&f->p, &REQ);
}

/* after_attempt for a failed attempt on target. */
static enum lr_next fail_on(struct fx *f, const char *target,
                            enum lr_status st, int tries, int64_t hint)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    a.tries_on_target = tries;
    a.error = st;
    a.http_status = st == LR_E_RATE_LIMITED ? 429 : 503;
    a.retry_after_ms = hint;
    f->delay = -7;
    f->reason[0] = '\0';
    return f->p.ops->after_attempt(f->p.inst, &REQ, f->rs, &a, &f->delay,
                                   f->reason, sizeof f->reason);
}

static enum lr_next fail_once(struct fx *f, enum lr_status st, int tries,
                              int64_t hint)
{
    return fail_on(f, "a", st, tries, hint);
}

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->struct_size, sizeof(struct lr_plugin_desc));
    assert_string_equal(f->p.desc->name, "retry");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->on_request);
    assert_non_null(f->p.ops->after_attempt);
    assert_non_null(f->p.ops->on_complete);
    assert_null(f->p.ops->route);
    assert_null(f->p.ops->before_attempt);
    const char *want[] = {"max_attempts", "max_wait_ms", "max_delay_ms",
                          "retry_budget_ratio", "fallback_after_429s",
                          "budget_window_ms", "backoff_overloaded",
                          "backoff_rate_limited", "backoff_network",
                          "backoff_server_error", "backoff_timeout",
                          "jitter_seed", "budget_min_retries"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t k = 0;
        while (k < f->p.ops->n_keys && strcmp(f->p.ops->keys[k].key, want[i]))
            k++;
        if (k == f->p.ops->n_keys)
            fail_msg("key %s missing", want[i]);
    }
}

/* Many draws for class st on retry n (tries n+1): all within [0, hi],
   and the spread reaches the upper half (it is jitter, not a constant). */
static void draws_within(struct fx *f, enum lr_status st, int n, int64_t hi)
{
    int64_t top = 0;
    for (int i = 0; i < 300; i++) {
        begin(f);
        assert_int_equal(fail_once(f, st, n + 1, -1), LR_NEXT_RETRY);
        assert_true(f->delay >= 0 && f->delay <= hi);
        if (f->delay > top)
            top = f->delay;
    }
    assert_true(top > hi / 2);
    assert_non_null(strstr(f->reason, "backoff"));
}

static void no_budget_no_429_limit(struct fx *f)
{
    fake_section_set(f->p.sec, "retry_budget_ratio", "0");
    fake_section_set(f->p.sec, "fallback_after_429s", "0");
    fake_section_set(f->p.sec, "max_attempts", "10");
}

static void test_default_schedules(void **state)
{
    struct fx *f = *state;
    no_budget_no_429_limit(f);
    make_ok(f);
    static const int64_t ov[] = {2000, 5000, 5000, 5000};
    static const int64_t rl[] = {5000, 10000, 10000};
    static const int64_t nw[] = {1000, 2000, 4000, 4000, 4000};
    for (int n = 0; n < 4; n++)
        draws_within(f, LR_E_OVERLOADED, n, ov[n]);
    for (int n = 0; n < 3; n++)
        draws_within(f, LR_E_RATE_LIMITED, n, rl[n]);
    for (int n = 0; n < 5; n++)
        draws_within(f, LR_E_NETWORK, n, nw[n]);
    draws_within(f, LR_E_SERVER_ERROR, 0, 1000);
    draws_within(f, LR_E_SERVER_ERROR, 2, 4000);
    draws_within(f, LR_E_TIMEOUT, 0, 1000);
    draws_within(f, LR_E_TIMEOUT, 5, 2000);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "overloaded"),
                     4 * 300);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "network"),
                     5 * 300);
}

static void test_custom_schedule_and_cap(void **state)
{
    struct fx *f = *state;
    no_budget_no_429_limit(f);
    fake_section_set(f->p.sec, "backoff_network", "100, 300");
    fake_section_set(f->p.sec, "backoff_timeout", "0");
    fake_section_set(f->p.sec, "max_delay_ms", "3000");
    make_ok(f);
    draws_within(f, LR_E_NETWORK, 0, 100);
    draws_within(f, LR_E_NETWORK, 1, 300);
    draws_within(f, LR_E_NETWORK, 7, 300);
    draws_within(f, LR_E_RATE_LIMITED, 0, 3000);   /* 5000 capped */
    draws_within(f, LR_E_OVERLOADED, 1, 3000);     /* 5000 capped */
    begin(f);
    assert_int_equal(fail_once(f, LR_E_TIMEOUT, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(f->delay, 0);
}

static void test_seed_is_deterministic(void **state)
{
    struct fx *f = *state;
    no_budget_no_429_limit(f);
    make_ok(f);
    int64_t first[20];
    for (int i = 0; i < 20; i++) {
        begin(f);
        fail_once(f, LR_E_RATE_LIMITED, 1, -1);
        first[i] = f->delay;
    }
    end_request(f);
    f->p.desc->destroy(f->p.inst);
    f->p.inst = NULL;
    make_ok(f);
    for (int i = 0; i < 20; i++) {
        begin(f);
        fail_once(f, LR_E_RATE_LIMITED, 1, -1);
        assert_int_equal(f->delay, first[i]);
    }
}

static void test_hints(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, 1200), LR_NEXT_RETRY);
    assert_int_equal(f->delay, 1200);
    assert_string_equal(f->reason, "retry_after hint");
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, 0), LR_NEXT_RETRY);
    assert_int_equal(f->delay, 0);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, 15000), LR_NEXT_RETRY);
    assert_int_equal(f->delay, 15000);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, 15001),
                     LR_NEXT_TARGET);
    assert_string_equal(f->reason, "hint 15001 ms over max_wait_ms");
    assert_int_equal(f->delay, -7);   /* untouched */
}

static void test_hint_limit_is_configurable(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_wait_ms", "500");
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_SERVER_ERROR, 1, 600),
                     LR_NEXT_TARGET);
    assert_non_null(strstr(f->reason, "600 ms over max_wait_ms"));
    begin(f);
    assert_int_equal(fail_once(f, LR_E_SERVER_ERROR, 1, 500), LR_NEXT_RETRY);
}

static void test_max_attempts(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 2, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 3, -1), LR_NEXT_TARGET);
    assert_string_equal(f->reason, "max_attempts: 3 attempts on a");
    /* A hint does not lift the limit. */
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 3, 10), LR_NEXT_TARGET);
}

static void test_max_attempts_one(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_attempts", "1");
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_NETWORK, 1, -1), LR_NEXT_TARGET);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "network"), 0);
}

static void test_fallback_after_429s(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_attempts", "10");
    fake_section_set(f->p.sec, "retry_budget_ratio", "0");
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 2, -1),
                     LR_NEXT_TARGET);
    assert_string_equal(f->reason,
                        "fallback_after_429s: 2 consecutive 429s on a");
    /* Also with a short hint: the run wins. */
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, 5), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 2, 5), LR_NEXT_TARGET);
    /* Not consecutive: another error breaks the run. */
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 2, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 3, -1), LR_NEXT_RETRY);
    /* Per target: b starts its own run. */
    assert_int_equal(fail_on(f, "b", LR_E_RATE_LIMITED, 1, -1),
                     LR_NEXT_RETRY);
    assert_int_equal(fail_on(f, "b", LR_E_RATE_LIMITED, 2, -1),
                     LR_NEXT_TARGET);
    /* Per request: a new request starts from zero. */
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, -1), LR_NEXT_RETRY);
}

static void test_fallback_after_429s_settings(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_attempts", "10");
    fake_section_set(f->p.sec, "retry_budget_ratio", "0");
    fake_section_set(f->p.sec, "fallback_after_429s", "3");
    make_ok(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 2, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, 3, -1),
                     LR_NEXT_TARGET);
    end_request(f);
    f->p.desc->destroy(f->p.inst);
    f->p.inst = NULL;
    fake_section_set(f->p.sec, "fallback_after_429s", "0");   /* off */
    make_ok(f);
    begin(f);
    for (int i = 1; i < 6; i++)
        assert_int_equal(fail_once(f, LR_E_RATE_LIMITED, i, -1),
                         LR_NEXT_RETRY);
}

static void test_left_to_the_core(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    static const enum lr_status never[] = {
        LR_OK, LR_E_AUTH, LR_E_BAD_REQUEST, LR_E_CONTEXT_LENGTH,
        LR_E_QUOTA_EXHAUSTED, LR_E_CONTENT_FILTER, LR_E_PROTOCOL,
        LR_E_BUDGET_EXCEEDED, LR_E_CANCELLED};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        begin(f);
        assert_int_equal(fail_once(f, never[i], 1, 100), LR_NEXT_DEFAULT);
        assert_int_equal(f->delay, -7);
    }
}

static enum lr_next with_flags(struct fx *f, enum lr_status st,
                               int should_retry, int delivered)
{
    struct lr_policy_attempt a = {0};
    a.target = "a";
    a.tries_on_target = 1;
    a.error = st;
    a.retry_after_ms = -1;
    a.should_retry = should_retry;
    a.delivered = delivered;
    f->delay = -7;
    return f->p.ops->after_attempt(f->p.inst, &REQ, f->rs, &a, &f->delay,
                                   f->reason, sizeof f->reason);
}

static void test_flags(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    begin(f);
    assert_int_equal(with_flags(f, LR_E_OVERLOADED, 0, 0), LR_NEXT_DEFAULT);
    assert_int_equal(with_flags(f, LR_E_NETWORK, -1, 1), LR_NEXT_DEFAULT);
    assert_int_equal(with_flags(f, LR_E_NETWORK, 1, 1), LR_NEXT_DEFAULT);
    /* x-should-retry: true cannot revive a request-level error. */
    assert_int_equal(with_flags(f, LR_E_AUTH, 1, 0), LR_NEXT_DEFAULT);
    assert_int_equal(with_flags(f, LR_E_SERVER_ERROR, 1, 0), LR_NEXT_RETRY);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "server_error"), 1);
}

static void test_budget_ratio_and_window(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "retry_budget_ratio", "0.5");
    fake_section_set(f->p.sec, "budget_min_retries", "0");
    fake_section_set(f->p.sec, "budget_window_ms", "1000");
    make_ok(f);
    fake_host_set_time(f->p.fh, 5000000, 1700000000000);  /* window start */
    for (int i = 0; i < 4; i++)
        begin(f);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_RETRY);
    begin(f);      /* 5 requests: 2.5 retries */
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 2, 100),
                     LR_NEXT_TARGET);
    assert_non_null(strstr(f->reason, "retry_budget"));
    assert_int_equal(f->delay, -7);
    assert_int_equal(fake_host_counter(f->p.fh, "retry_budget_exhausted",
                                       "overloaded"), 1);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "overloaded"), 2);
    /* Next window, at its start: the last one still counts in full. */
    fake_host_advance(f->p.fh, 1000);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_TARGET);
    /* Halfway: 2.5 requests and 1 retry remain in the rolling window. */
    fake_host_advance(f->p.fh, 500);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_TARGET);
    begin(f);
    begin(f);      /* 4.5 requests: 2.25 retries */
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_RETRY);
    /* Two windows on, the store has forgotten everything. */
    fake_host_advance(f->p.fh, 2000);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_TARGET);
    begin(f);
    begin(f);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_OVERLOADED, 2, -1), LR_NEXT_TARGET);
    assert_int_equal(fake_host_counter(f->p.fh, "retry_budget_exhausted",
                                       "overloaded"), 5);
}

static void test_budget_minimum(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_attempts", "10");
    make_ok(f);   /* ratio 0.2, at least 3 retries per window */
    begin(f);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(fail_once(f, LR_E_NETWORK, i, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_NETWORK, 4, -1), LR_NEXT_TARGET);
    assert_non_null(strstr(f->reason, "retry_budget"));
    assert_int_equal(fake_host_counter(f->p.fh, "retry_budget_exhausted",
                                       "network"), 1);
    /* 20 requests allow 4 retries: one more now. */
    for (int i = 0; i < 20; i++)
        begin(f);
    assert_int_equal(fail_once(f, LR_E_NETWORK, 1, -1), LR_NEXT_RETRY);
    assert_int_equal(fail_once(f, LR_E_NETWORK, 2, -1), LR_NEXT_TARGET);
}

static void test_no_budget(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "retry_budget_ratio", "0");
    fake_section_set(f->p.sec, "max_attempts", "1000");
    make_ok(f);
    begin(f);
    for (int i = 1; i < 200; i++)
        assert_int_equal(fail_once(f, LR_E_SERVER_ERROR, i, 1),
                         LR_NEXT_RETRY);
    assert_int_equal(fake_host_counter(f->p.fh, "retries", "server_error"),
                     199);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    make_bad(f, "max_attempts", "0");
    make_bad(f, "max_wait_ms", "-1");
    make_bad(f, "max_delay_ms", "-5");
    make_bad(f, "retry_budget_ratio", "-0.1");
    make_bad(f, "retry_budget_ratio", "1000");
    make_bad(f, "budget_window_ms", "0");
    make_bad(f, "budget_min_retries", "-1");
    make_bad(f, "fallback_after_429s", "-2");
    make_bad(f, "jitter_seed", "-3");
    make_bad(f, "backoff_network", "1000, x");
    make_bad(f, "backoff_overloaded", "-5");
    make_bad(f, "backoff_rate_limited", "");
    make_bad(f, "backoff_timeout", "10ms");
    make_bad(f, "backoff_server_error",
             "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17");
    make_ok(f);   /* everything back to the defaults */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_default_schedules),
        T(test_custom_schedule_and_cap),
        T(test_seed_is_deterministic),
        T(test_hints),
        T(test_hint_limit_is_configurable),
        T(test_max_attempts),
        T(test_max_attempts_one),
        T(test_fallback_after_429s),
        T(test_fallback_after_429s_settings),
        T(test_left_to_the_core),
        T(test_flags),
        T(test_budget_ratio_and_window),
        T(test_budget_minimum),
        T(test_no_budget),
        T(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
