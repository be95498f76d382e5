/*
 * test_engine.c - the engine end to end through the public API, against
 * the scripted mock upstream on loopback: answers, fallback on errors
 * that belong to the target, retry hints honoured as cooldowns, attempt
 * timeouts, whole-request deadlines, cancellation, streaming (whole and
 * cut short), policy hooks, metrics and the request log, and 64 threads
 * calling at once.  Time assertions are lower bounds for waits and
 * generous upper bounds for deadlines, so a loaded machine cannot fail
 * them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "clock.h"
#include "llmroute.h"
#include "router.h"
#include "mock_upstream.h"
#include "testenv.h"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

static const char *A_OK = "{\"status\":200,\"text\":\"from a\"}";

/* Mock with route a (model-a) and b (model-b); router over both.
   router_ini and a_ini are extra lines for [router] and [target a]. */
static void setup2(struct fx *f, const char *a_responses,
                   const char *b_responses, const char *router_ini,
                   const char *a_ini)
{
    char script[8192], err[512];
    snprintf(script, sizeof script,
             "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\","
             "\"repeat\":\"last\",\"responses\":[%s]},"
             "{\"name\":\"b\",\"model\":\"model-b\",\"responses\":[%s]}]}",
             a_responses, b_responses ? b_responses
                                      : "{\"status\":200,\"echo\":true}");
    f->mock = mock_start(script, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "e.ini",
        "[router]\ntimeout_ms = 10000\n%s\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\ninput_usd_per_mtok = 1000000\n"
        "output_usd_per_mtok = 2000000\n%s\n"
        "[target b]\nprovider = openai\nmodel = model-b\n"
        "base_url = http://127.0.0.1:%d/v1\n",
        router_ini ? router_ini : "", port, a_ini ? a_ini : "", port);
    f->r = lr_open(path, err, sizeof err);
    if (!f->r)
        fail_msg("lr_open: %s", err);
}

static void setup(struct fx *f, const char *a_responses,
                  const char *b_responses, const char *a_ini)
{
    setup2(f, a_responses, b_responses, NULL, a_ini);
}

static void teardown(struct fx *f)
{
    lr_close(f->r);
    mock_stop(f->mock);
    tenv_free(&f->env);
}

static struct lr_response *ask(struct fx *f, const char *prompt,
                               int64_t timeout_ms)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, prompt), LR_OK);
    if (timeout_ms)
        lr_request_set_timeout_ms(q, timeout_ms);
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

/* A program built against the header before fallback_reason calls the
   lr_response_attempt symbol with a shorter struct: the library must
   not write past it.  (lr_response_attempt) bypasses the header's macro,
   as such a program's call does. */
static void old_layout_untouched(const struct lr_response *r)
{
    union {
        struct lr_attempt_info info;
        unsigned char b[sizeof(struct lr_attempt_info)];
    } u;
    size_t v1 = offsetof(struct lr_attempt_info, fallback_reason);
    memset(u.b, 0xAB, sizeof u.b);
    assert_int_equal((lr_response_attempt)(r, 0, &u.info), LR_OK);
    assert_string_equal(u.info.target, "a");
    for (size_t k = v1; k < sizeof u.b; k++)
        assert_int_equal(u.b[k], 0xAB);
    memset(u.b, 0xAB, sizeof u.b);
    assert_int_equal(lr_response_attempt_sized(r, 0, &u.info, v1), LR_OK);
    for (size_t k = v1; k < sizeof u.b; k++)
        assert_int_equal(u.b[k], 0xAB);
    assert_int_equal(lr_response_attempt_sized(r, 0, &u.info, v1 - 1),
                     LR_E_INVALID_ARG);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answers(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"Hello there\",\"usage\":"
              "{\"prompt_tokens\":3,\"completion_tokens\":2}}", NULL, NULL);
    struct lr_response *r = ask(&f, "hi", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "Hello there");
    assert_string_equal(lr_response_finish_reason(r), "stop");
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_provider(r), "openai");
    assert_int_equal(lr_response_prompt_tokens(r), 3);
    assert_int_equal(lr_response_completion_tokens(r), 2);
    /* 3 * 1e6/1e6 + 2 * 2e6/1e6 */
    assert_true(lr_response_cost_usd(r) > 6.999 &&
                lr_response_cost_usd(r) < 7.001);
    assert_int_equal(lr_response_attempt_count(r), 1);
    assert_int_equal(attempt(r, 0).http_status, 200);
    assert_true(lr_response_id(r) > 0);
    lr_response_free(r);
    teardown(&f);
}

static void falls_back_on_429(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"error\":{\"message\":\"slow down\","
              "\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}",
          NULL, NULL);
    struct lr_response *r = ask(&f, "q1", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_string_equal(lr_response_text(r), "echo: q1");
    assert_int_equal(lr_response_attempt_count(r), 2);
    assert_int_equal(attempt(r, 0).error, LR_E_RATE_LIMITED);
    assert_int_equal(attempt(r, 0).http_status, 429);
    char *j = lr_response_json(r);
    assert_non_null(strstr(j, "\"fallback_reason\":\"rate_limited\""));
    lr_free(j);
    /* The struct says it as the JSON trail does. */
    assert_non_null(attempt(r, 0).fallback_reason);
    assert_string_equal(attempt(r, 0).fallback_reason, "rate_limited");
    assert_null(attempt(r, 1).fallback_reason);
    old_layout_untouched(r);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    assert_int_equal(mock_requests(f.mock, "b"), 1);
    lr_response_free(r);
    teardown(&f);
}

static void stops_on_bad_request(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":400,\"error\":{\"message\":\"bad field x\","
              "\"type\":\"invalid_request_error\",\"code\":null}}",
          NULL, NULL);
    struct lr_response *r = ask(&f, "q", 0);
    assert_int_equal(lr_response_status(r), LR_E_BAD_REQUEST);
    assert_non_null(strstr(lr_response_error_message(r), "bad field x"));
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    teardown(&f);
}

static void hint_becomes_cooldown(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"headers\":{\"retry-after-ms\":\"5000\"},"
              "\"error\":{\"message\":\"wait\",\"type\":\"requests\"}},"
              "{\"status\":200,\"text\":\"from a\"}", NULL, NULL);
    struct lr_response *r = ask(&f, "one", 0);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(attempt(r, 0).retry_after_ms, 5000);
    lr_response_free(r);
    /* a is cooling down: skipped without a request. */
    r = ask(&f, "two", 0);
    assert_string_equal(lr_response_target(r), "b");
    struct lr_attempt_info a0 = attempt(r, 0);
    assert_non_null(a0.skipped);
    assert_non_null(strstr(a0.skipped, "cooldown after rate_limited"));
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);
    teardown(&f);
}

static void waits_for_only_target(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"headers\":{\"retry-after-ms\":\"300\"},"
              "\"error\":{\"message\":\"wait\",\"type\":\"requests\"}},"
              "{\"status\":200,\"text\":\"from a\"}", NULL,
          NULL);
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "x");
    lr_request_set_target(q, "a");
    struct lr_response *r = NULL;
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_RATE_LIMITED);
    assert_int_equal(lr_response_retry_after_ms(r), 300);
    lr_response_free(r);
    int64_t t0 = mono_ms();
    assert_int_equal(lr_complete(f.r, q, &r), LR_OK);
    assert_true(mono_ms() - t0 >= 250);
    size_t n = lr_response_attempt_count(r);
    struct lr_attempt_info last = attempt(r, n - 1);
    assert_true(last.waited_ms >= 250);
    assert_non_null(strstr(last.wait_reason, "cooldown of a"));
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void long_cooldown_fails_fast(void **s)
{
    (void)s;
    struct fx f;
    setup2(&f, "{\"status\":429,\"headers\":{\"retry-after\":\"60\"},"
               "\"error\":{\"message\":\"wait\",\"type\":\"requests\"}}",
           NULL, "max_wait_ms = 1000\n", NULL);
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "x");
    lr_request_set_target(q, "a");
    struct lr_response *r = NULL;
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_RATE_LIMITED);
    assert_int_equal(lr_response_retry_after_ms(r), 60000);
    lr_response_free(r);
    /* Cooling for a minute, more than max_wait_ms: no wait, no request,
       and the caller learns how long to stay away. */
    int64_t t0 = mono_ms();
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_NO_TARGET);
    assert_true(mono_ms() - t0 < 900);
    assert_true(lr_response_retry_after_ms(r) > 58000);
    assert_non_null(strstr(lr_response_error_message(r), "a is back in"));
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void attempt_timeout_falls_back(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":3000}", NULL,
          "timeout_ms = 200\n");
    int64_t t0 = mono_ms();
    struct lr_response *r = ask(&f, "t", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(attempt(r, 0).error, LR_E_TIMEOUT);
    assert_true(mono_ms() - t0 < 2500);
    lr_response_free(r);
    teardown(&f);
}

static void request_deadline(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":4000}",
          "{\"status\":200,\"text\":\"late\",\"delay_ms\":4000}", NULL);
    int64_t t0 = mono_ms();
    struct lr_response *r = ask(&f, "t", 300);
    assert_int_equal(lr_response_status(r), LR_E_TIMEOUT);
    assert_true(mono_ms() - t0 >= 250);
    assert_true(mono_ms() - t0 < 3000);
    lr_response_free(r);
    teardown(&f);
}

struct done_box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lr_response *resp;
};

static void on_done(struct lr_response *resp, void *user)
{
    struct done_box *b = user;
    pthread_mutex_lock(&b->mu);
    b->resp = resp;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static struct lr_response *wait_box(struct done_box *b)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&b->mu);
    while (!b->resp)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until))
            break;
    pthread_mutex_unlock(&b->mu);
    return b->resp;
}

static void cancel_in_flight(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":5000}", NULL,
          NULL);
    struct done_box b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         NULL};
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "c");
    int64_t t0 = mono_ms();
    uint64_t id = lr_submit(f.r, q, NULL, on_done, &b);
    lr_request_free(q);
    assert_true(id > 0);
    usleep(100 * 1000);
    assert_int_equal(lr_cancel(f.r, id), LR_OK);
    struct lr_response *r = wait_box(&b);
    assert_non_null(r);
    assert_int_equal(lr_response_status(r), LR_E_CANCELLED);
    assert_true(mono_ms() - t0 < 3000);
    assert_int_equal(lr_cancel(f.r, 999999), LR_E_NOT_FOUND);
    lr_response_free(r);
    teardown(&f);
}

static void close_cancels_in_flight(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":5000}", NULL,
          NULL);
    struct done_box b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                         NULL};
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "c");
    assert_true(lr_submit(f.r, q, NULL, on_done, &b) > 0);
    lr_request_free(q);
    usleep(50 * 1000);
    lr_close(f.r);
    f.r = NULL;
    assert_non_null(b.resp);
    assert_int_equal(lr_response_status(b.resp), LR_E_CANCELLED);
    lr_response_free(b.resp);
    teardown(&f);
}

/* A blocking call runs on its caller's thread: lr_cancel from another
   thread still reaches it.  The first request of a router has id 1. */
struct blocker {
    struct fx *f;
    struct lr_response *resp;
    int rc;
};

static void *block(void *arg)
{
    struct blocker *b = arg;
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "slow");
    b->rc = lr_complete(b->f->r, q, &b->resp);
    lr_request_free(q);
    return NULL;
}

static void cancel_blocking_call(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":5000}", NULL,
          NULL);
    struct blocker b = {&f, NULL, 0};
    pthread_t th;
    int64_t t0 = mono_ms();
    assert_int_equal(pthread_create(&th, NULL, block, &b), 0);
    /* Until the call has taken its id; bounded at 5 s. */
    int rc = LR_E_NOT_FOUND;
    for (int i = 0; i < 500 && rc != LR_OK; i++) {
        rc = lr_cancel(f.r, 1);
        if (rc != LR_OK)
            usleep(10 * 1000);
    }
    assert_int_equal(rc, LR_OK);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, LR_E_CANCELLED);
    assert_non_null(b.resp);
    assert_int_equal(lr_response_id(b.resp), 1);
    assert_string_equal(lr_response_error_message(b.resp),
                        "cancelled by the caller");
    assert_true(mono_ms() - t0 < 4000);
    lr_response_free(b.resp);
    /* Over: the id is known but nothing is left to cancel. */
    assert_int_equal(lr_cancel(f.r, 1), LR_OK);
    assert_int_equal(lr_cancel(f.r, 2), LR_E_NOT_FOUND);
    teardown(&f);
}

/* lr_close cancels blocking calls in flight and returns only after they
   have left the router (ASan would catch a router freed under them). */
static void close_cancels_blocking_calls(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"late\",\"delay_ms\":5000}", NULL,
          NULL);
    struct blocker b[3] = {{&f, NULL, 0}, {&f, NULL, 0}, {&f, NULL, 0}};
    pthread_t th[3];
    int64_t t0 = mono_ms();
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, block, &b[i]), 0);
    /* Until the mock has all three requests; bounded at 5 s. */
    for (int i = 0; i < 500 && mock_requests(f.mock, "a") < 3; i++)
        usleep(10 * 1000);
    assert_int_equal(mock_requests(f.mock, "a"), 3);
    lr_close(f.r);
    f.r = NULL;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(b[i].rc, LR_E_CANCELLED);
        assert_string_equal(lr_response_error_message(b[i].resp),
                            "router is closing");
        lr_response_free(b[i].resp);
    }
    assert_true(mono_ms() - t0 < 4000);
    teardown(&f);
}

/* Hooks of one router never overlap, whichever threads run the requests
   (blocking callers and the engine), and ids stay unique across them. */
struct hook_worker {
    struct fx *f;
    uint64_t ids[10];
    int ok;
};

static void *hook_work(void *arg)
{
    struct hook_worker *w = arg;
    for (int i = 0; i < 10; i++) {
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, "h");
        struct lr_response *r = NULL;
        if (lr_complete(w->f->r, q, &r) == LR_OK)
            w->ok++;
        w->ids[i] = r ? lr_response_id(r) : 0;
        lr_response_free(r);
        lr_request_free(q);
    }
    return NULL;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void hooks_never_overlap(void **s)
{
    (void)s;
    struct fx f;
    setup2(&f, A_OK, NULL, "pipeline = hc\n[policy hc]\nplugin = "
           "hookcheck\n", NULL);
    enum { NT = 6, NA = 10 };
    pthread_t th[NT];
    struct hook_worker w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (struct hook_worker){.f = &f};
        assert_int_equal(pthread_create(&th[i], NULL, hook_work, &w[i]), 0);
    }
    /* Asynchronous ones on the engine thread meanwhile. */
    struct done_box boxes[NA];
    for (int i = 0; i < NA; i++) {
        boxes[i] = (struct done_box){PTHREAD_MUTEX_INITIALIZER,
                                     PTHREAD_COND_INITIALIZER, NULL};
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, "async");
        assert_true(lr_submit(f.r, q, NULL, on_done, &boxes[i]) > 0);
        lr_request_free(q);
    }
    uint64_t ids[NT * 10 + NA];
    size_t n = 0;
    int ok = 0;
    for (int i = 0; i < NA; i++) {
        struct lr_response *r = wait_box(&boxes[i]);
        assert_non_null(r);
        ok += lr_response_status(r) == LR_OK;
        ids[n++] = lr_response_id(r);
        lr_response_free(r);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        for (int k = 0; k < 10; k++)
            ids[n++] = w[i].ids[k];
    }
    assert_int_equal(ok, NT * 10 + NA);
    qsort(ids, n, sizeof ids[0], cmp_id);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], i + 1);
    char *m = lr_metrics_json(f.r);
    assert_non_null(m);
    /* Five hooks per request (one attempt each), none overlapping. */
    char want[64];
    snprintf(want, sizeof want, "\"hook_calls\":{\"all\":%d}",
             5 * (NT * 10 + NA));
    assert_non_null(strstr(m, want));
    assert_null(strstr(m, "hook_overlaps"));
    lr_free(m);
    teardown(&f);
}

struct stream_acc {
    char text[256];
    size_t len;
    int calls;
};

static int collect(const char *t, size_t n, void *user)
{
    struct stream_acc *a = user;
    if (a->len + n < sizeof a->text) {
        memcpy(a->text + a->len, t, n);
        a->len += n;
    }
    a->calls++;
    return 0;
}

static void streams(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"one two three four\"}", NULL,
          NULL);
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct stream_acc acc = {.len = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, collect, &acc, &r), LR_OK);
    assert_true(acc.calls > 1);
    assert_string_equal(acc.text, "one two three four");
    assert_string_equal(lr_response_text(r), "one two three four");
    char *body = mock_last_body(f.mock, "a");
    assert_non_null(strstr(body, "\"stream\":true"));
    free(body);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

/* lr_delta_model() from inside the delta callback: the model the
   response will name; NULL outside one. */
struct model_acc {
    char first[64];
    int calls, differ;
};

static int note_model(const char *t, size_t n, void *user)
{
    struct model_acc *a = user;
    const char *m = lr_delta_model();
    (void)t;
    (void)n;
    if (!a->calls++)
        snprintf(a->first, sizeof a->first, "%s", m ? m : "(null)");
    else if (!m || strcmp(m, a->first) != 0)
        a->differ++;
    return 0;
}

/* A chunk of a raw OpenAI stream naming model snap-1 (JSON-escaped for
   the mock's script). */
#define EQ "\\\""
#define SNAP_CHUNK(text, finish)                                          \
    "data: {" EQ "id" EQ ":" EQ "c" EQ "," EQ "object" EQ ":" EQ            \
    "chat.completion.chunk" EQ "," EQ "model" EQ ":" EQ "snap-1" EQ ","     \
    EQ "choices" EQ ":[{" EQ "index" EQ ":0," EQ "delta" EQ ":{" EQ         \
    "content" EQ ":" EQ text EQ "}," EQ "finish_reason" EQ ":" finish       \
    "}]}\\n\\n"

static void delta_model_named(void **s)
{
    (void)s;
    struct fx f;
    /* The upstream names a snapshot, not the configured model-a. */
    setup(&f, "{\"status\":200,\"content_type\":\"text/event-stream\","
              "\"raw\":\"" SNAP_CHUNK("one ", "null")
              SNAP_CHUNK("two", EQ "stop" EQ) "data: [DONE]\\n\\n\"}",
          NULL, NULL);
    assert_null(lr_delta_model());
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct model_acc acc = {.calls = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, note_model, &acc, &r), LR_OK);
    assert_string_equal(lr_response_text(r), "one two");
    assert_int_equal(acc.calls, 2);
    assert_int_equal(acc.differ, 0);
    assert_string_equal(acc.first, "snap-1");
    assert_string_equal(lr_response_model(r), "snap-1");
    assert_null(lr_delta_model());
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

/* The mock's own stream (model echoed, text in several deltas): the
   same model at every delta, and the one the response names. */
static void delta_model_echoed(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"one two three\"}", NULL, NULL);
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct model_acc acc = {.calls = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, note_model, &acc, &r), LR_OK);
    assert_true(acc.calls > 1);
    assert_int_equal(acc.differ, 0);
    assert_string_equal(acc.first, lr_response_model(r));
    assert_string_equal(acc.first, "model-a");
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void stream_cut_short(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"alpha beta gamma delta epsilon "
              "zeta eta theta\",\"truncate_at\":700}", NULL, NULL);
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct stream_acc acc = {.len = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, collect, &acc, &r), LR_E_NETWORK);
    assert_true(acc.calls >= 1);
    /* Text already reached the caller: nothing is spliced on. */
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

/* An upstream that echoes the key in a stream event that is not JSON:
   the provider quotes the event but cannot redact (stream_event gets no
   target), so the core must (found by fuzzing, fuzz/provider_drive.c). */
static void stream_echo_of_key_is_redacted(void **s)
{
    (void)s;
    struct fx f;
    setenv("LRKE", "sk-echo-SECRET-0123456789", 1);
    setup(&f, "{\"status\":200,\"content_type\":\"text/event-stream\","
              "\"raw\":\"data: oops sk-echo-SECRET-0123456789 oops\\n\\n\"}",
          NULL, "api_key_env = LRKE\n");
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    lr_request_set_target(q, "a");
    struct stream_acc acc = {.len = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, collect, &acc, &r), LR_E_PROTOCOL);
    const char *m = lr_response_error_message(r);
    assert_non_null(strstr(m, "unreadable stream event"));
    assert_non_null(strstr(m, "oops [redacted] oops"));
    assert_null(strstr(m, "SECRET"));
    char *j = lr_response_json(r);
    assert_null(strstr(j, "SECRET"));
    lr_free(j);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void malformed_body_falls_back(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"raw\":\"{not json\"}", NULL, NULL);
    struct lr_response *r = ask(&f, "m", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(attempt(r, 0).error, LR_E_PROTOCOL);
    lr_response_free(r);
    teardown(&f);
}

/* Router with one testpol policy instance named p. */
static void setup_policy(struct fx *f, const char *a_responses,
                         const char *policy_keys)
{
    char ini[512];
    snprintf(ini, sizeof ini, "pipeline = p\n[policy p]\nplugin = "
             "testpol\n%s\n", policy_keys);
    setup2(f, a_responses, NULL, ini, NULL);
}

static void policy_rejects(void **s)
{
    (void)s;
    struct fx f;
    setup_policy(&f, A_OK, "reject_user = mallory");
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "x");
    lr_request_set_user(q, "mallory");
    struct lr_response *r = NULL;
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_RATE_LIMITED_LOCAL);
    assert_int_equal(lr_response_retry_after_ms(r), 1234);
    assert_non_null(strstr(lr_response_error_message(r), "p: user is over"));
    assert_int_equal(mock_requests(f.mock, NULL), 0);
    lr_response_free(r);
    lr_request_set_user(q, "alice");
    assert_int_equal(lr_complete(f.r, q, &r), LR_OK);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void policy_skips_and_routes(void **s)
{
    (void)s;
    struct fx f;
    setup_policy(&f, A_OK, "skip_target = a");
    struct lr_response *r = ask(&f, "x", 0);
    assert_string_equal(lr_response_target(r), "b");
    assert_string_equal(attempt(r, 0).skipped, "p: testing skip");
    lr_response_free(r);
    teardown(&f);

    setup_policy(&f, A_OK, "reverse = true");
    r = ask(&f, "x", 0);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(lr_response_attempt_count(r), 1);
    lr_response_free(r);
    teardown(&f);
}

static void policy_waits(void **s)
{
    (void)s;
    struct fx f;
    setup_policy(&f, A_OK, "wait_ms = 150");
    struct lr_response *r = ask(&f, "x", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    struct lr_attempt_info a = attempt(r, 0);
    assert_true(a.waited_ms >= 140);
    assert_string_equal(a.wait_reason, "p: testing wait");
    lr_response_free(r);
    /* A wait past the deadline becomes a skip (the fixture waits once
       per request, so b then goes ahead). */
    r = ask(&f, "y", 100);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_non_null(strstr(attempt(r, 0).skipped, "would pass the request "
                                                  "deadline"));
    lr_response_free(r);
    teardown(&f);
}

static void policy_retries_same_target(void **s)
{
    (void)s;
    struct fx f;
    setup_policy(&f, "{\"status\":500,\"error\":{\"message\":\"boom\","
                     "\"type\":\"server_error\"}},"
                     "{\"status\":200,\"text\":\"second try\"}",
                 "retry_delay_ms = 50");
    struct lr_response *r = ask(&f, "x", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "second try");
    assert_int_equal(lr_response_attempt_count(r), 2);
    struct lr_attempt_info a1 = attempt(r, 1);
    assert_string_equal(a1.target, "a");
    assert_true(a1.waited_ms >= 45);
    assert_string_equal(a1.wait_reason, "p: testing retry");
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    teardown(&f);
}

struct worker {
    struct fx *f;
    int idx, ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 5; i++) {
        char prompt[64], want[80];
        snprintf(prompt, sizeof prompt, "thread %d call %d", w->idx, i);
        snprintf(want, sizeof want, "echo: %s", prompt);
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, prompt);
        lr_request_set_target(q, "b");
        struct lr_response *r = NULL;
        if (lr_complete(w->f->r, q, &r) == LR_OK &&
            strcmp(lr_response_text(r), want) == 0)
            w->ok++;
        lr_response_free(r);
        lr_request_free(q);
    }
    return NULL;
}

static void sixty_four_threads(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, A_OK, NULL, NULL);
    pthread_t th[64];
    struct worker w[64];
    for (int i = 0; i < 64; i++) {
        w[i] = (struct worker){&f, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 64; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
    }
    assert_int_equal(ok, 64 * 5);
    assert_int_equal(mock_requests(f.mock, "b"), 64 * 5);
    teardown(&f);
}

static void metrics_and_request_log(void **s)
{
    (void)s;
    struct fx f;
    setup2(&f, "{\"status\":429,\"error\":{\"message\":\"x\",\"type\":"
               "\"requests\"}}", NULL, "request_log = req.jsonl\n", NULL);
    for (int i = 0; i < 3; i++)
        lr_response_free(ask(&f, "secret prompt text", 0));
    char *m = lr_metrics_json(f.r);
    assert_non_null(m);
    assert_non_null(strstr(m, "\"requests\":3"));
    assert_non_null(strstr(m, "\"upstream_429s\":{\"a\":3}"));
    assert_non_null(strstr(m, "\"target\":\"b\""));
    lr_free(m);
    char *log = tenv_slurp(tenv_file(&f.env, "req.jsonl"));
    assert_non_null(log);
    int lines = 0;
    for (char *p = log; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    assert_null(strstr(log, "secret prompt"));
    assert_null(strstr(log, "echo:"));
    assert_non_null(strstr(log, "\"fallback_reason\":\"rate_limited\""));
    free(log);
    teardown(&f);
}

static const char *TOOL_ANSWER =
    "{\"status\":200,\"raw\":\"{\\\"id\\\":\\\"c1\\\",\\\"object\\\":"
    "\\\"chat.completion\\\",\\\"model\\\":\\\"model-a\\\",\\\"choices\\\":"
    "[{\\\"index\\\":0,\\\"finish_reason\\\":\\\"tool_calls\\\","
    "\\\"message\\\":{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":null,"
    "\\\"tool_calls\\\":[{\\\"id\\\":\\\"call_1\\\",\\\"type\\\":"
    "\\\"function\\\",\\\"function\\\":{\\\"name\\\":\\\"weather\\\","
    "\\\"arguments\\\":\\\"{\\\\\\\"city\\\\\\\":\\\\\\\"Oslo\\\\\\\"}"
    "\\\"}}]}}],\\\"usage\\\":{\\\"prompt_tokens\\\":5,"
    "\\\"completion_tokens\\\":7}}\"}";

static void tool_calls_round_trip(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, TOOL_ANSWER, NULL, NULL);
    struct lr_request *q = lr_request_new();
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":"
                        "\"weather\",\"parameters\":{\"type\":\"object\"}}}]";
    assert_int_equal(lr_request_set_tools_json(q, "{\"not\":\"array\"}"),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_tools_json(q, tools), LR_OK);
    assert_int_equal(lr_request_set_tool_choice_json(q, "maybe"),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_tool_choice_json(q, "auto"), LR_OK);
    assert_int_equal(lr_request_add_message(q, LR_MSG_TOOL, "x"),
                     LR_E_INVALID_ARG);
    lr_request_set_prompt(q, "weather in Oslo?");
    struct lr_response *r = NULL;
    assert_int_equal(lr_complete(f.r, q, &r), LR_OK);
    assert_string_equal(lr_response_finish_reason(r), "tool_calls");
    const char *calls = lr_response_tool_calls_json(r);
    assert_non_null(calls);
    assert_non_null(strstr(calls, "\"name\":\"weather\""));
    assert_non_null(strstr(calls, "call_1"));
    char *body = mock_last_body(f.mock, "a");
    assert_non_null(strstr(body, "\"tools\":[{"));
    assert_non_null(strstr(body, "\"tool_choice\":\"auto\""));
    free(body);
    /* Second turn: the call and its result go back in the history. */
    assert_int_equal(lr_request_add_tool_calls(q, NULL, calls), LR_OK);
    assert_int_equal(lr_request_add_tool_result(q, "call_1", "weather",
                                                "{\"temp_c\":3}"), LR_OK);
    assert_int_equal(lr_request_add_tool_result(q, "", NULL, "x"),
                     LR_E_INVALID_ARG);
    lr_response_free(r);
    assert_int_equal(lr_complete(f.r, q, &r), LR_OK);
    body = mock_last_body(f.mock, "a");
    assert_non_null(strstr(body, "\"role\":\"tool\""));
    assert_non_null(strstr(body, "\"tool_call_id\":\"call_1\""));
    assert_non_null(strstr(body, "\"tool_calls\":[{"));
    free(body);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

/* The "key" field of attempt i in the response JSON ("" when absent). */
static const char *key_of(const struct lr_response *r, size_t i)
{
    static char out[64];
    char *j = lr_response_json(r);
    cJSON *o = cJSON_Parse(j);
    const cJSON *a = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(o, "attempts"), (int)i);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(a, "key");
    snprintf(out, sizeof out, "%s", cJSON_IsString(k) ? k->valuestring : "");
    cJSON_Delete(o);
    lr_free(j);
    return out;
}

static void key_pool(void **s)
{
    (void)s;
    struct fx f;
    setenv("LRK1", "sk-one-AAAAAAAAAAAA", 1);
    setenv("LRK2", "sk-two-BBBBBBBBBBBB", 1);
    setenv("LRK3", "sk-three-CCCCCCCCCC", 1);
    setup(&f, "{\"status\":401,\"error\":{\"message\":\"bad key\","
              "\"type\":\"invalid_request_error\",\"code\":"
              "\"invalid_api_key\"}},"
              "{\"status\":429,\"headers\":{\"retry-after-ms\":\"60000\"},"
              "\"error\":{\"message\":\"slow\",\"type\":\"requests\"}},"
              "{\"status\":200,\"text\":\"pooled\"}", NULL,
          "api_keys_env = LRK1, LRK2, LRK3\n");
    /* K1 refused (disabled), K2 rate limited (excluded), K3 answers: all
       on target a, no fallback to b. */
    struct lr_response *r = ask(&f, "x", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "a");
    assert_int_equal(lr_response_attempt_count(r), 3);
    assert_string_equal(key_of(r, 0), "LRK1");
    assert_string_equal(key_of(r, 1), "LRK2");
    assert_string_equal(key_of(r, 2), "LRK3");
    assert_int_equal(attempt(r, 0).error, LR_E_AUTH);
    assert_int_equal(attempt(r, 1).error, LR_E_RATE_LIMITED);
    char *auth = mock_last_header(f.mock, "a", "authorization");
    assert_string_equal(auth, "Bearer sk-three-CCCCCCCCCC");
    free(auth);
    char *j = lr_response_json(r);
    assert_null(strstr(j, "sk-"));
    lr_free(j);
    lr_response_free(r);
    /* Only K3 is usable now. */
    r = ask(&f, "y", 0);
    assert_int_equal(lr_response_attempt_count(r), 1);
    assert_string_equal(key_of(r, 0), "LRK3");
    lr_response_free(r);
    /* K3 rate limited too: the pool is exhausted, b takes over. */
    char err[256];
    char script[512];
    snprintf(script, sizeof script, "{\"routes\":[{\"name\":\"a\","
             "\"model\":\"model-a\",\"responses\":[{\"status\":429,"
             "\"headers\":{\"retry-after-ms\":\"60000\"},\"error\":"
             "{\"message\":\"slow\",\"type\":\"requests\"}}]},"
             "{\"name\":\"b\",\"model\":\"model-b\",\"responses\":"
             "[{\"status\":200,\"echo\":true}]}]}");
    assert_int_equal(mock_set_script(f.mock, script, err, sizeof err), 0);
    r = ask(&f, "z", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_non_null(strstr(attempt(r, 1).skipped, "keys_exhausted"));
    lr_response_free(r);
    teardown(&f);
}

static void key_pool_takes_turns(void **s)
{
    (void)s;
    struct fx f;
    setenv("LRK1", "sk-one-AAAAAAAAAAAA", 1);
    setenv("LRK2", "sk-two-BBBBBBBBBBBB", 1);
    setenv("LRK3", "sk-three-CCCCCCCCCC", 1);
    setup(&f, A_OK, NULL, "api_keys_env = LRK1, LRK2, LRK3\n");
    const char *want[] = {"LRK1", "LRK2", "LRK3", "LRK1", "LRK2", "LRK3"};
    for (int i = 0; i < 6; i++) {
        struct lr_response *r = ask(&f, "x", 0);
        assert_string_equal(key_of(r, 0), want[i]);
        lr_response_free(r);
    }
    teardown(&f);
}

/* Exclusions end when the injected clock says so: a router on a fake
   clock sees a rate-limited key come back only after the clock moves
   past its hint. */
static void key_pool_fake_clock(void **s)
{
    (void)s;
    struct fx f;
    setenv("LRK1", "sk-one-AAAAAAAAAAAA", 1);
    setenv("LRK2", "sk-two-BBBBBBBBBBBB", 1);
    setup(&f, "{\"status\":429,\"headers\":{\"retry-after-ms\":\"60000\"},"
              "\"error\":{\"message\":\"slow\",\"type\":\"requests\"}},"
              "{\"status\":200,\"text\":\"ok\"}", NULL,
          "api_keys_env = LRK1, LRK2\n");
    lr_close(f.r);
    struct lr_fake_clock *fc = lr_fake_clock_new(1000, 1700000000000);
    char err[512];
    f.r = lr_router_open_clock(tenv_file(&f.env, "e.ini"),
                               lr_fake_clock_get(fc), err, sizeof err);
    assert_non_null(f.r);
    struct lr_response *r = ask(&f, "x", 0);       /* K1 429, K2 ok */
    assert_string_equal(key_of(r, 1), "LRK2");
    lr_response_free(r);
    for (int i = 0; i < 2; i++) {                  /* K1 still out */
        r = ask(&f, "y", 0);
        assert_string_equal(key_of(r, 0), "LRK2");
        lr_response_free(r);
    }
    lr_fake_clock_advance(fc, 60001);
    r = ask(&f, "z", 0);                           /* K1 is back */
    assert_string_equal(key_of(r, 0), "LRK1");
    lr_response_free(r);
    teardown(&f);
    lr_fake_clock_free(fc);
}

static void cached_and_reasoning_tokens(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"raw\":\"{\\\"id\\\":\\\"c\\\",\\\"choices\\\":"
              "[{\\\"index\\\":0,\\\"finish_reason\\\":\\\"stop\\\","
              "\\\"message\\\":{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":"
              "\\\"hi\\\"}}],\\\"usage\\\":{\\\"prompt_tokens\\\":10,"
              "\\\"completion_tokens\\\":6,\\\"prompt_tokens_details\\\":"
              "{\\\"cached_tokens\\\":4},\\\"completion_tokens_details\\\":"
              "{\\\"reasoning_tokens\\\":2}}}\"}", NULL, NULL);
    struct lr_response *r = ask(&f, "x", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_int_equal(lr_response_prompt_tokens(r), 10);
    assert_int_equal(lr_response_cached_tokens(r), 4);
    assert_int_equal(lr_response_reasoning_tokens(r), 2);
    char *j = lr_response_json(r);
    assert_non_null(strstr(j, "\"cached_tokens\":4"));
    lr_free(j);
    lr_response_free(r);
    teardown(&f);
}

/* auth_header = api-key (Azure OpenAI's key header) reaches the upstream
   in place of Authorization; a bad value fails the attempt unechoed. */
static void api_key_header(void **s)
{
    (void)s;
    struct fx f;
    setenv("LRK_AZ", "az-key-0123456789abcdef", 1);
    setup(&f, A_OK, NULL, "api_key_env = LRK_AZ\nauth_header = api-key\n");
    struct lr_response *r = ask(&f, "x", 0);
    assert_int_equal(lr_response_status(r), LR_OK);
    char *key = mock_last_header(f.mock, "a", "api-key");
    assert_non_null(key);
    assert_string_equal(key, "az-key-0123456789abcdef");
    free(key);
    assert_null(mock_last_header(f.mock, "a", "authorization"));
    lr_response_free(r);
    teardown(&f);

    /* A bad value is refused when the config loads, at its line, and
       not echoed (it might be a pasted key). */
    struct tenv env;
    char err[512];
    assert_int_equal(tenv_init(&env), 0);
    const char *path = tenv_write(&env, "bad.ini",
        "[target a]\nprovider = openai\nmodel = m\n"
        "api_key_env = LRK_AZ\nauth_header = az-key-0123456789abcdef\n");
    assert_null(lr_open(path, err, sizeof err));
    assert_non_null(strstr(err, "bad.ini:5: [target a] (plugin openai): "
                                "auth_header: not bearer, api-key or auto"));
    assert_null(strstr(err, "az-key"));
    tenv_free(&env);
    unsetenv("LRK_AZ");
}

static void bad_requests(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, A_OK, NULL, NULL);
    struct lr_request *q = lr_request_new();
    struct lr_response *r = NULL;
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_INVALID_ARG);
    lr_response_free(r);
    lr_request_set_prompt(q, "x");
    lr_request_set_target(q, "nope");
    assert_int_equal(lr_complete(f.r, q, &r), LR_E_INVALID_ARG);
    assert_non_null(strstr(lr_response_error_message(r), "'nope'"));
    lr_response_free(r);
    assert_int_equal(lr_complete(NULL, q, &r), LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_temperature(q, 9), LR_E_INVALID_ARG);
    assert_int_equal(lr_submit(f.r, q, NULL, NULL, NULL), 0);
    lr_request_free(q);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(falls_back_on_429),
        cmocka_unit_test(stops_on_bad_request),
        cmocka_unit_test(hint_becomes_cooldown),
        cmocka_unit_test(waits_for_only_target),
        cmocka_unit_test(long_cooldown_fails_fast),
        cmocka_unit_test(attempt_timeout_falls_back),
        cmocka_unit_test(request_deadline),
        cmocka_unit_test(cancel_in_flight),
        cmocka_unit_test(close_cancels_in_flight),
        cmocka_unit_test(cancel_blocking_call),
        cmocka_unit_test(close_cancels_blocking_calls),
        cmocka_unit_test(hooks_never_overlap),
        cmocka_unit_test(streams),
        cmocka_unit_test(delta_model_named),
        cmocka_unit_test(delta_model_echoed),
        cmocka_unit_test(stream_cut_short),
        cmocka_unit_test(stream_echo_of_key_is_redacted),
        cmocka_unit_test(malformed_body_falls_back),
        cmocka_unit_test(policy_rejects),
        cmocka_unit_test(policy_skips_and_routes),
        cmocka_unit_test(policy_waits),
        cmocka_unit_test(policy_retries_same_target),
        cmocka_unit_test(sixty_four_threads),
        cmocka_unit_test(metrics_and_request_log),
        cmocka_unit_test(tool_calls_round_trip),
        cmocka_unit_test(key_pool),
        cmocka_unit_test(key_pool_takes_turns),
        cmocka_unit_test(key_pool_fake_clock),
        cmocka_unit_test(cached_and_reasoning_tokens),
        cmocka_unit_test(api_key_header),
        cmocka_unit_test(bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
