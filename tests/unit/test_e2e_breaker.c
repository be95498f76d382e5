/*
 * test_e2e_breaker.c - the circuit_breaker policy end to end through the
 * public API, against the scripted mock upstream: target a is down (503
 * every time), so after `failures` requests its breaker opens and later
 * requests go straight to b without a request to a; once a is back and
 * the open period has passed (real clock: only lower bounds are
 * asserted), the next request probes a, which closes the breaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

/* Long enough that a slow (valgrind) run still sees the breaker open
   between two requests, short enough to wait out. */
#define OPEN_MS 500

#define SCRIPT_FMT \
    "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":[%s]}," \
    "{\"name\":\"b\",\"model\":\"model-b\",\"responses\":" \
    "[{\"status\":200,\"echo\":true}]}]}"

static const char *A_DOWN =
    "{\"status\":503,\"error\":{\"message\":\"overloaded\","
    "\"type\":\"server_error\"}}";
static const char *A_UP = "{\"status\":200,\"text\":\"from a\"}";

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

static void script(char *out, size_t len, const char *a_responses)
{
    snprintf(out, len, SCRIPT_FMT, a_responses);
}

static void setup_pipeline(struct fx *f, const char *pipeline);

static void setup(struct fx *f)
{
    setup_pipeline(f, "breaker");
}

static void setup_pipeline(struct fx *f, const char *pipeline)
{
    char js[2048], err[512];
    script(js, sizeof js, A_DOWN);
    f->mock = mock_start(js, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "b.ini",
        "[router]\ntimeout_ms = 10000\npipeline = %s\n"
        "[policy retry]\nplugin = retry\nmax_attempts = 2\n"
        "backoff_overloaded = 10\n"
        "[policy breaker]\nplugin = circuit_breaker\nfailures = 3\n"
        "open_ms = %d\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "[target b]\nprovider = openai\nmodel = model-b\n"
        "base_url = http://127.0.0.1:%d/v1\n", pipeline, OPEN_MS, port,
        port);
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

static struct lr_response *ask(struct fx *f, const char *prompt)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, prompt), LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(f->r, q, &resp);
    lr_request_free(q);
    assert_non_null(resp);
    assert_int_equal(lr_response_status(resp), LR_OK);
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
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Three failed attempts on a (each request then answered by b). */
static int64_t outage(struct fx *f)
{
    for (int i = 0; i < 3; i++) {
        struct lr_response *r = ask(f, "q");
        assert_string_equal(lr_response_target(r), "b");
        assert_int_equal(attempt(r, 0).error, LR_E_OVERLOADED);
        assert_null(attempt(r, 0).skipped);
        lr_response_free(r);
    }
    int64_t tripped = mono_ms();
    assert_int_equal(mock_requests(f->mock, "a"), 3);
    return tripped;
}

static void breaker_opens_and_recovers(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    int64_t tripped = outage(&f);

    /* Open: a is skipped without a request, b answers. */
    struct lr_response *r = ask(&f, "during");
    assert_string_equal(lr_response_target(r), "b");
    assert_string_equal(lr_response_text(r), "echo: during");
    struct lr_attempt_info a0 = attempt(r, 0);
    assert_string_equal(a0.target, "a");
    assert_non_null(a0.skipped);
    assert_non_null(strstr(a0.skipped, "breaker: breaker_open ("));
    assert_int_equal(mock_requests(f.mock, "a"), 3);
    lr_response_free(r);

    char *m = lr_metrics_json(f.r);
    assert_non_null(m);
    assert_non_null(strstr(m, "breaker_transitions"));
    assert_non_null(strstr(m, "a:open"));
    lr_free(m);

    /* a recovers; after the open period the next request probes it. */
    char js[2048], err[256];
    script(js, sizeof js, A_UP);
    assert_int_equal(mock_set_script(f.mock, js, err, sizeof err), 0);
    int64_t left = tripped + OPEN_MS + 50 - mono_ms();
    if (left > 0)
        usleep((useconds_t)left * 1000);
    r = ask(&f, "after");
    assert_true(mono_ms() - tripped >= OPEN_MS);
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_text(r), "from a");
    assert_int_equal(lr_response_attempt_count(r), 1);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);

    /* Closed again: a serves the next requests as usual. */
    r = ask(&f, "again");
    assert_string_equal(lr_response_target(r), "a");
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    lr_response_free(r);
    m = lr_metrics_json(f.r);
    assert_non_null(strstr(m, "a:half_open"));
    assert_non_null(strstr(m, "a:closed"));
    lr_free(m);
    teardown(&f);
}

/* A retry policy placed before the breaker decides what follows each
   failure, yet the breaker still sees every one: two requests make four
   failed attempts on a (two each, the retry policy's max_attempts), the
   breaker trips at the third, and the next request skips a. */
static void breaker_after_retry_still_sees_failures(void **s)
{
    (void)s;
    struct fx f;
    setup_pipeline(&f, "retry, breaker");
    for (int i = 0; i < 2; i++) {
        struct lr_response *r = ask(&f, "q");
        assert_string_equal(lr_response_target(r), "b");
        lr_response_free(r);
    }
    assert_true(mock_requests(f.mock, "a") >= 3);
    long before = mock_requests(f.mock, "a");
    struct lr_response *r = ask(&f, "q");
    assert_string_equal(lr_response_target(r), "b");
    assert_non_null(attempt(r, 0).skipped);
    assert_non_null(strstr(attempt(r, 0).skipped, "breaker_open"));
    assert_int_equal(mock_requests(f.mock, "a"), before);
    lr_response_free(r);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(breaker_opens_and_recovers),
        cmocka_unit_test(breaker_after_retry_still_sees_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
