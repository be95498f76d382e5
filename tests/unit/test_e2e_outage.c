/*
 * test_e2e_outage.c - an outage of one target seen through the public API,
 * with the real circuit_breaker.so (and retry.so) in the pipeline and the
 * scripted mock upstream: target a serves, then answers 503 for a while
 * (the mock's script is switched with mock_set_script), then recovers;
 * target b is the fallback.
 *
 * What is checked: the attempt trails (a failed attempt of a carries a
 * fallback reason, a skipped one the reason "breaker: breaker_open (...)"),
 * that an open breaker sends nothing to a, that after open_ms a single
 * half-open probe closes it again, that a failed probe opens it for twice
 * as long, that eight concurrent callers trip it once, and the metrics
 * (lr_metrics_json: breaker_transitions, fallbacks, per-target attempts).
 *
 * Timing: open_ms is short (200 ms) and recovery is found by a bounded
 * polling loop; elapsed times are asserted as lower bounds only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <pthread.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

#define OPEN_MS 200
#define POLL_MS 20
#define MAX_POLLS 400 /* 8 s of polling at most */

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

static void set_a(struct fx *f, const char *a_responses)
{
    char js[2048], err[256];
    snprintf(js, sizeof js, SCRIPT_FMT, a_responses);
    if (mock_set_script(f->mock, js, err, sizeof err) != 0)
        fail_msg("mock_set_script: %s", err);
}

/* Mock with a up; router "pipeline" over a then b, breaker open_ms. */
static void setup(struct fx *f, const char *pipeline, int open_ms)
{
    char js[2048], err[512];
    snprintf(js, sizeof js, SCRIPT_FMT, A_UP);
    f->mock = mock_start(js, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *retry = !strstr(pipeline, "retry") ? ""
        : "[policy retry]\nplugin = retry\nmax_attempts = 2\n"
          "backoff_overloaded = 10\njitter_seed = 3\n";
    const char *path = tenv_write(&f->env, "o.ini",
        "[router]\ntimeout_ms = 10000\npipeline = %s\n%s"
        "[policy breaker]\nplugin = circuit_breaker\nfailures = 3\n"
        "open_ms = %d\nmax_open_ms = %d\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "[target b]\nprovider = openai\nmodel = model-b\n"
        "base_url = http://127.0.0.1:%d/v1\n", pipeline, retry, open_ms,
        open_ms * 8, port, port);
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

static struct lr_response *ask(struct lr_router *r, const char *prompt)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, prompt), LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(r, q, &resp);
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

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The trail's invariant: every attempt before the answering one was
   skipped with a reason or failed and left a fallback/wait reason. */
static void check_trail(const struct lr_response *r)
{
    char *js = lr_response_json(r);
    assert_non_null(js);
    cJSON *j = cJSON_Parse(js);
    assert_non_null(j);
    cJSON *arr = cJSON_GetObjectItem(j, "attempts");
    int n = cJSON_GetArraySize(arr);
    assert_true(n >= 1);
    for (int i = 0; i < n - 1; i++) {
        cJSON *a = cJSON_GetArrayItem(arr, i);
        const char *skipped =
            cJSON_GetStringValue(cJSON_GetObjectItem(a, "skipped"));
        const char *fb =
            cJSON_GetStringValue(cJSON_GetObjectItem(a, "fallback_reason"));
        cJSON *next = cJSON_GetArrayItem(arr, i + 1);
        const char *waited =
            cJSON_GetStringValue(cJSON_GetObjectItem(next, "wait_reason"));
        if (!(skipped && *skipped) && !(fb && *fb) && !(waited && *waited))
            fail_msg("attempt %d without a reason: %s", i, js);
    }
    cJSON_Delete(j);
    lr_free(js);
}

/* counters.NAME.LABEL of the router's metrics (0 when absent). */
static double counter(struct lr_router *r, const char *name,
                      const char *label)
{
    char *js = lr_metrics_json(r);
    assert_non_null(js);
    cJSON *j = cJSON_Parse(js);
    cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counters"), name);
    double v = 0;
    if (label && cJSON_IsObject(c))
        c = cJSON_GetObjectItem(c, label);
    if (cJSON_IsNumber(c))
        v = c->valuedouble;
    else if (!label && cJSON_IsObject(c)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, c) v += e->valuedouble;
    }
    cJSON_Delete(j);
    lr_free(js);
    return v;
}

/* [policy breaker]'s transitions of target a into state. */
static double a_transitions(struct lr_router *r, const char *state)
{
    char label[64];
    snprintf(label, sizeof label, "breaker/a:%s", state);
    return counter(r, "breaker_transitions", label);
}

/* targets[].FIELD for target t (-1 when absent). */
static double target_stat(struct lr_router *r, const char *t,
                          const char *field)
{
    char *js = lr_metrics_json(r);
    cJSON *j = cJSON_Parse(js);
    double v = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "targets"))
    {
        const char *name =
            cJSON_GetStringValue(cJSON_GetObjectItem(e, "target"));
        if (name && strcmp(name, t) == 0)
            v = cJSON_GetObjectItem(e, field)->valuedouble;
    }
    cJSON_Delete(j);
    lr_free(js);
    return v;
}

/* a goes down: three failed attempts, each request answered by b with a
   fallback reason.  Returns a time before the breaker tripped (the start
   of the third request), for lower bounds. */
static int64_t go_down(struct fx *f)
{
    int64_t before_trip = 0;
    set_a(f, A_DOWN);
    for (int i = 0; i < 3; i++) {
        before_trip = mono_ms();
        struct lr_response *r = ask(f->r, "q");
        assert_string_equal(lr_response_target(r), "b");
        struct lr_attempt_info a0 = attempt(r, 0);
        assert_string_equal(a0.target, "a");
        assert_int_equal(a0.http_status, 503);
        assert_int_equal(a0.error, LR_E_OVERLOADED);
        assert_null(a0.skipped);
        check_trail(r);
        lr_response_free(r);
    }
    assert_int_equal(mock_requests(f->mock, "a"), 3);
    assert_int_equal(a_transitions(f->r, "open"), 1);
    return before_trip;
}

/* Requests while open: a skipped without a request, b answers. */
static void while_open(struct fx *f, int n)
{
    long before = mock_requests(f->mock, "a");
    for (int i = 0; i < n; i++) {
        struct lr_response *r = ask(f->r, "during");
        assert_string_equal(lr_response_target(r), "b");
        assert_string_equal(lr_response_text(r), "echo: during");
        struct lr_attempt_info a0 = attempt(r, 0);
        assert_string_equal(a0.target, "a");
        assert_non_null(a0.skipped);
        assert_non_null(strstr(a0.skipped, "breaker: breaker_open ("));
        assert_int_equal(a0.latency_ms, 0);
        check_trail(r);
        lr_response_free(r);
    }
    assert_int_equal(mock_requests(f->mock, "a"), before);
}

/* Poll until a request reaches a (a probe); returns that response, and
   in *sent the time just before that request was made.  Until then every
   request must skip a as open. */
static struct lr_response *poll_probe(struct fx *f, long a_before,
                                      int64_t *sent)
{
    for (int i = 0; i < MAX_POLLS; i++) {
        *sent = mono_ms();
        struct lr_response *r = ask(f->r, "poll");
        if (mock_requests(f->mock, "a") > a_before)
            return r;
        struct lr_attempt_info a0 = attempt(r, 0);
        assert_non_null(a0.skipped);
        assert_non_null(strstr(a0.skipped, "breaker_open"));
        lr_response_free(r);
        nap_ms(POLL_MS);
    }
    fail_msg("no probe reached a in %d polls", MAX_POLLS);
    return NULL;
}

static void outage_then_recovery(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "breaker", OPEN_MS);
    for (int i = 0; i < 2; i++) {
        struct lr_response *r = ask(f.r, "before");
        assert_string_equal(lr_response_target(r), "a");
        assert_int_equal(lr_response_attempt_count(r), 1);
        lr_response_free(r);
    }
    int64_t tripped = go_down(&f);
    while_open(&f, 3);
    assert_true(counter(f.r, "fallbacks", NULL) >= 3);

    set_a(&f, A_UP);
    int64_t sent;
    struct lr_response *r = poll_probe(&f, 0, &sent);
    assert_true(mono_ms() - tripped >= OPEN_MS);
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_text(r), "from a");
    assert_int_equal(lr_response_attempt_count(r), 1);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);

    /* Closed: a serves again, first try. */
    for (int i = 0; i < 3; i++) {
        r = ask(f.r, "after");
        assert_string_equal(lr_response_target(r), "a");
        assert_int_equal(lr_response_attempt_count(r), 1);
        lr_response_free(r);
    }
    assert_int_equal(mock_requests(f.mock, "a"), 4);
    assert_int_equal(a_transitions(f.r, "open"), 1);
    assert_int_equal(a_transitions(f.r, "half_open"), 1);
    assert_int_equal(a_transitions(f.r, "closed"), 1);
    /* Attempts that reached a: 2 before, 3 failed, 1 probe, 3 after. */
    assert_int_equal(target_stat(f.r, "a", "attempts"), 9);
    assert_int_equal(counter(f.r, "attempts_by_class", "overloaded"), 3);
    teardown(&f);
}

/* A probe that fails opens the breaker again, for twice the period. */
static void failed_probe_reopens_longer(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "breaker", OPEN_MS);
    int64_t tripped = go_down(&f);
    int64_t reopened; /* before the failed probe, so before the reopening */
    struct lr_response *r = poll_probe(&f, 3, &reopened);
    assert_true(mono_ms() - tripped >= OPEN_MS);
    assert_string_equal(lr_response_target(r), "b");
    struct lr_attempt_info a0 = attempt(r, 0);
    assert_null(a0.skipped);
    assert_int_equal(a0.error, LR_E_OVERLOADED);
    check_trail(r);
    lr_response_free(r);
    assert_int_equal(a_transitions(f.r, "half_open"), 1);
    assert_int_equal(a_transitions(f.r, "open"), 2);

    set_a(&f, A_UP);
    int64_t sent;
    r = poll_probe(&f, 0, &sent);
    assert_true(mono_ms() - reopened >= 2 * OPEN_MS);
    assert_string_equal(lr_response_target(r), "a");
    lr_response_free(r);
    assert_int_equal(a_transitions(f.r, "closed"), 1);
    teardown(&f);
}

struct caller {
    struct lr_router *r;
    int n, ok, on_b, skipped_a;
    int bad_trail;
};

#define THREADS 8
#define PER_THREAD 10

static void *call_loop(void *arg)
{
    struct caller *c = arg;
    for (int i = 0; i < c->n; i++) {
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, "concurrent");
        struct lr_response *resp = NULL;
        lr_complete(c->r, q, &resp);
        lr_request_free(q);
        if (!resp)
            continue;
        struct lr_attempt_info a0;
        c->ok += lr_response_status(resp) == LR_OK;
        c->on_b += lr_response_target(resp) &&
                   strcmp(lr_response_target(resp), "b") == 0;
        if (lr_response_attempt(resp, 0, &a0) == LR_OK && a0.skipped) {
            c->skipped_a++;
            c->bad_trail += !strstr(a0.skipped, "breaker_open");
        }
        lr_response_free(resp);
    }
    return NULL;
}

/* Eight callers during an outage (retry before the breaker, as the
   README recommends): every request answered by b, a tripped once, and
   a receives no more than what was in flight when it tripped. */
static void concurrent_callers_trip_once(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "retry, breaker", 60000);
    set_a(&f, A_DOWN);
    struct caller c[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (struct caller){.r = f.r, .n = PER_THREAD};
        assert_int_equal(pthread_create(&th[i], NULL, call_loop, &c[i]), 0);
    }
    int ok = 0, on_b = 0, skipped = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += c[i].ok;
        on_b += c[i].on_b;
        skipped += c[i].skipped_a;
        assert_int_equal(c[i].bad_trail, 0);
    }
    assert_int_equal(ok, THREADS * PER_THREAD);
    assert_int_equal(on_b, THREADS * PER_THREAD);
    long to_a = mock_requests(f.mock, "a");
    /* Trips at the 3rd failure; each caller may have one request (two
       attempts with the retry) in flight on a at that moment. */
    assert_true(to_a >= 3 && to_a <= 3 + 2 * THREADS);
    assert_true(skipped >= THREADS * PER_THREAD - to_a);
    assert_int_equal(a_transitions(f.r, "open"), 1);
    assert_int_equal(target_stat(f.r, "a", "attempts"), to_a);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outage_then_recovery),
        cmocka_unit_test(failed_probe_reopens_longer),
        cmocka_unit_test(concurrent_callers_trip_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
