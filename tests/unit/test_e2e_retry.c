/*
 * test_e2e_retry.c - the retry policy end to end through the public API,
 * with the real retry.so in the pipeline and the scripted mock upstream on
 * loopback: a 503 retried on the same target after its (short) backoff, two
 * consecutive 429s sending the request on to the next target, a 100 ms
 * hint waited for on a single target, and a hint over max_wait_ms sending
 * the request on at once.  Waits are asserted as lower bounds only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

static const char *ERR_429 =
    "{\"status\":429,\"error\":{\"message\":\"slow down\","
    "\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}";

/* Mock routes a and b; router over both with [policy retry] taking the
   extra keys in policy_ini. */
static void setup(struct fx *f, const char *a_responses,
                  const char *policy_ini)
{
    char script[4096], err[512];
    snprintf(script, sizeof script,
             "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\","
             "\"repeat\":\"last\",\"responses\":[%s]},"
             "{\"name\":\"b\",\"model\":\"model-b\",\"responses\":"
             "[{\"status\":200,\"text\":\"from b\"}]}]}", a_responses);
    f->mock = mock_start(script, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "r.ini",
        "[router]\ntimeout_ms = 10000\npipeline = retry\n"
        "[policy retry]\nplugin = retry\njitter_seed = 7\n%s\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "[target b]\nprovider = openai\nmodel = model-b\n"
        "base_url = http://127.0.0.1:%d/v1\n", policy_ini, port, port);
    f->r = lr_open(path, err, sizeof err);
    if (!f->r)
        fail_msg("lr_open: %s", err);
}

static void teardown(struct fx *f)
{
    lr_close(f->r);
    mock_stop(f->mock);
    tenv_free(&f->env);
}

/* One request; target non-NULL forces that target. */
static struct lr_response *ask(struct fx *f, const char *target)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, "hi"), LR_OK);
    if (target)
        assert_int_equal(lr_request_set_target(q, target), LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(f->r, q, &resp);
    lr_request_free(q);
    assert_non_null(resp);
    return resp;
}

static struct lr_attempt_info attempt(const struct lr_response *r, size_t i)
{
    struct lr_attempt_info a;
    assert_int_equal(lr_response_attempt(r, i, &a), LR_OK);
    return a;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void retries_503_on_same_target(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":503,\"error\":{\"message\":\"busy\","
              "\"type\":\"server_error\"}},"
              "{\"status\":200,\"text\":\"second try\"}",
          "backoff_overloaded = 50");
    struct lr_response *r = ask(&f, NULL);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "second try");
    assert_string_equal(lr_response_target(r), "a");
    assert_int_equal(lr_response_attempt_count(r), 2);
    struct lr_attempt_info a0 = attempt(r, 0), a1 = attempt(r, 1);
    assert_string_equal(a0.target, "a");
    assert_int_equal(a0.error, LR_E_OVERLOADED);
    assert_string_equal(a1.target, "a");
    assert_true(a1.waited_ms >= 0);
    assert_non_null(a1.wait_reason);
    assert_non_null(strstr(a1.wait_reason, "retry: overloaded backoff"));
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    teardown(&f);
}

static void falls_back_after_two_429s(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, ERR_429, "backoff_rate_limited = 20");
    struct lr_response *r = ask(&f, NULL);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(lr_response_attempt_count(r), 3);
    assert_string_equal(attempt(r, 0).target, "a");
    assert_string_equal(attempt(r, 1).target, "a");
    assert_int_equal(attempt(r, 1).http_status, 429);
    assert_string_equal(attempt(r, 2).target, "b");
    char *j = lr_response_json(r);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"fallback_reason\":\"retry: "
                              "fallback_after_429s: 2 consecutive 429s "
                              "on a\""));
    lr_free(j);
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    assert_int_equal(mock_requests(f.mock, "b"), 1);
    lr_response_free(r);
    teardown(&f);
}

static void honours_hint_on_single_target(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"headers\":{\"retry-after-ms\":\"100\"},"
              "\"error\":{\"message\":\"wait\",\"type\":\"requests\"}},"
              "{\"status\":200,\"text\":\"after the hint\"}", "");
    int64_t t0 = mono_ms();
    struct lr_response *r = ask(&f, "a");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_true(mono_ms() - t0 >= 90);
    assert_string_equal(lr_response_text(r), "after the hint");
    size_t n = lr_response_attempt_count(r);
    assert_int_equal(n, 2);
    struct lr_attempt_info last = attempt(r, n - 1);
    assert_string_equal(last.target, "a");
    assert_true(last.waited_ms >= 90);
    assert_string_equal(last.wait_reason, "retry: retry_after hint");
    assert_int_equal(attempt(r, 0).retry_after_ms, 100);
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    lr_response_free(r);
    teardown(&f);
}

static void long_hint_moves_on_at_once(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"headers\":{\"retry-after-ms\":\"5000\"},"
              "\"error\":{\"message\":\"wait\",\"type\":\"requests\"}}",
          "max_wait_ms = 1000");
    int64_t t0 = mono_ms();
    struct lr_response *r = ask(&f, NULL);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_true(mono_ms() - t0 < 4000);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(lr_response_attempt_count(r), 2);
    char *j = lr_response_json(r);
    assert_non_null(j);
    assert_non_null(strstr(j, "hint 5000 ms over max_wait_ms"));
    lr_free(j);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retries_503_on_same_target),
        cmocka_unit_test(falls_back_after_two_429s),
        cmocka_unit_test(honours_hint_on_single_target),
        cmocka_unit_test(long_hint_moves_on_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
