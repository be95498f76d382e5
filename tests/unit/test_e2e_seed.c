/*
 * test_e2e_seed.c - the seed scenario, time-compressed, through
 * the public API against the mock upstream: a Gemini target "gem" with a
 * free-tier-like quota (15 requests per fixed 3 s window, counted from
 * the mock's start; beyond it a 429 RESOURCE_EXHAUSTED carrying a
 * RetryInfo retryDelay of the time left in the window) and an OpenAI
 * fallback "oai" without limits; 46 requests from 4 threads at once
 * through the pipeline `limits, complexity, breaker, retry` (gem has
 * rpm = 15 and the limits policy's window_ms is 3000, so limits knows
 * the quota; every complexity tier routes to gem with oai as fallback).
 *
 * Expected, for every run:
 *   - all 46 answered (LR_OK), by gem or oai, and the mock saw exactly
 *     those answers plus its 429s;
 *   - at most one 429 per burst: limits keeps gem within 15 requests per
 *     any 3 s span, so the mock's quota is normally never hit; a 429 can
 *     only come from the skew between the moment limits counts a request
 *     and the moment it reaches the mock at a window edge, and after one
 *     the provider's hint blocks gem for the rest of that window.  So
 *     the 429s the mock sent are at most the number of quota windows the
 *     run touched (one per burst), and every one of them is in the
 *     caller's accounting: the attempt trails and the upstream_429s
 *     counter hold exactly as many as the mock sent;
 *   - every skipped attempt has a "policy: reason", every attempt that
 *     failed over to the next target a fallback_reason (or the next
 *     attempt a wait_reason);
 *   - "total time close to what the quota allows", defined with the
 *     fallback in play as follows.  G requests answered by gem need at
 *     least floor((G-1)/15) windows of 3 s between the first and the
 *     last (the quota), so the run cannot be shorter: a lower bound
 *     asserted as such.  The run must not be much longer than the quota
 *     needs either: the fallback never waits, and gem is waited for only
 *     up to limits' max_wait_ms.  Upper bound: the quota minimum for all
 *     46 requests on gem alone, floor(45/15) x 3 s = 9 s, plus two
 *     windows of slack (a bound against run-away backoffs and cool-downs,
 *     not a benchmark: 15 s).
 *
 * Three runs: "wait for the free tier" (max_wait_ms = 10000: requests
 * wait for gem's quota, so nearly all are answered by gem and the run
 * takes about 9 s), "overflow to the paid fallback" (max_wait_ms = 0:
 * what does not fit the window at once goes to oai at once with the
 * reason rate_window_full, so gem answers about 15 and the run is
 * quick), and "learn from 429s" (gem without rpm: the mock's 429s and
 * their RetryInfo teach the router; a burst there is the requests in
 * flight when the window fills, so at most THREADS 429s per window).
 *
 * Also here: the shipped configurations conf/free-tier.ini (this
 * scenario with the real providers) and conf/production.ini load with
 * lr_open (dummy API keys in the environment, the file copied into a
 * scratch folder so its relative sqlite store lands there), so they can
 * never rot.  Run from the source tree (as make check does).
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

#define REQUESTS 46
#define THREADS 4
#define QUOTA 15
#define WINDOW_MS 3000
#define QUOTA_MIN_MS ((REQUESTS - 1) / QUOTA * WINDOW_MS) /* 9000 */
#define SLACK_MS (2 * WINDOW_MS)

static const char *SCRIPT =
    "{\"routes\":["
    "{\"name\":\"gem\",\"model\":\"gemini-free\",\"format\":\"gemini\","
    "\"responses\":[{\"text\":\"from gemini\"}],"
    "\"quota\":{\"limit\":15,\"window_ms\":3000,\"over\":{\"status\":429,"
    "\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\","
    "\"message\":\"Quota exceeded for metric: generate_content_free_tier_"
    "requests, limit: 15\",\"details\":[{\"@type\":"
    "\"type.googleapis.com/google.rpc.RetryInfo\","
    "\"retryDelay\":\"{{window_left_s}}s\"}]}}}},"
    "{\"name\":\"oai\",\"model\":\"gpt-fallback\","
    "\"responses\":[{\"text\":\"from openai\"}]}]}";

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

/* What the callers saw, under lock. */
struct run {
    struct lr_router *r;
    pthread_mutex_t mu;
    int next;            /* next request number to send */
    int ok, on_gem, on_oai;
    int attempts_429;    /* attempts with HTTP 429 in the trails */
    int skips;           /* skipped attempts */
    int unexplained;     /* attempts without a reason */
    char example[512];
};

static void setup(struct fx *f, int max_wait_ms, int rpm)
{
    char err[512];
    f->mock = mock_start(SCRIPT, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "seed.ini",
        "[router]\ntimeout_ms = 30000\n"
        "pipeline = limits, complexity, breaker, retry\n"
        "[policy limits]\nplugin = limits\nwindow_ms = %d\n"
        "max_wait_ms = %d\n"
        "[policy complexity]\nplugin = complexity\n"
        "simple = gem\nmedium = gem\ncomplex = gem\n"
        "fallback_simple = oai\nfallback_medium = oai\n"
        "fallback_complex = oai\n"
        "[policy breaker]\nplugin = circuit_breaker\n"
        "[policy retry]\nplugin = retry\njitter_seed = 5\n"
        "[target gem]\nprovider = gemini\nmodel = gemini-free\n"
        "base_url = http://127.0.0.1:%d\nrpm = %d\n"
        "[target oai]\nprovider = openai\nmodel = gpt-fallback\n"
        "base_url = http://127.0.0.1:%d/v1\n",
        WINDOW_MS, max_wait_ms, port, rpm, port);
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

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s && *s ? s : NULL;
}

/* Count 429s and skips of one trail, and attempts before the answering
   one that carry no reason (skip, fallback, or the next one's wait). */
static void read_trail(struct run *run, const struct lr_response *resp)
{
    char *js = lr_response_json(resp);
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    cJSON *arr = cJSON_GetObjectItem(j, "attempts");
    int n = cJSON_GetArraySize(arr);
    for (int i = 0; i < n; i++) {
        const cJSON *a = cJSON_GetArrayItem(arr, i);
        const cJSON *next = cJSON_GetArrayItem(arr, i + 1);
        cJSON *status = cJSON_GetObjectItem(a, "status");
        run->attempts_429 += cJSON_IsNumber(status) &&
                             status->valueint == 429;
        run->skips += str(a, "skipped") != NULL;
        if (i + 1 < n && !str(a, "skipped") && !str(a, "fallback_reason") &&
            !str(next, "wait_reason")) {
            run->unexplained++;
            snprintf(run->example, sizeof run->example, "%s", js);
        }
    }
    cJSON_Delete(j);
    lr_free(js);
}

static void *caller(void *arg)
{
    struct run *run = arg;
    for (;;) {
        pthread_mutex_lock(&run->mu);
        int i = run->next < REQUESTS ? run->next++ : -1;
        pthread_mutex_unlock(&run->mu);
        if (i < 0)
            return NULL;
        char prompt[64];
        snprintf(prompt, sizeof prompt, "What is %d plus %d?", i, i);
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, prompt);
        struct lr_response *resp = NULL;
        lr_complete(run->r, q, &resp);
        lr_request_free(q);
        if (!resp)
            continue;
        const char *t = lr_response_target(resp);
        pthread_mutex_lock(&run->mu);
        if (lr_response_status(resp) == LR_OK) {
            run->ok++;
            run->on_gem += t && strcmp(t, "gem") == 0;
            run->on_oai += t && strcmp(t, "oai") == 0;
        }
        else
            snprintf(run->example, sizeof run->example, "%s: %s",
                     lr_status_name(lr_response_status(resp)),
                     lr_response_error_message(resp));
        read_trail(run, resp);
        pthread_mutex_unlock(&run->mu);
        lr_response_free(resp);
    }
}

/* counters.upstream_429s.gem (0 when absent). */
static long upstream_429s(struct lr_router *r)
{
    char *js = lr_metrics_json(r);
    cJSON *j = cJSON_Parse(js);
    cJSON *c = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counters"),
                            "upstream_429s"), "gem");
    long v = cJSON_IsNumber(c) ? (long)c->valuedouble : 0;
    cJSON_Delete(j);
    lr_free(js);
    return v;
}

/* Run the 46 requests; returns the wall time in ms. */
static int64_t run_seed(struct fx *f, struct run *run)
{
    memset(run, 0, sizeof *run);
    run->r = f->r;
    pthread_mutex_init(&run->mu, NULL);
    pthread_t th[THREADS];
    int64_t t0 = mono_ms();
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, caller, run), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int64_t elapsed = mono_ms() - t0;
    pthread_mutex_destroy(&run->mu);
    return elapsed;
}

/* The expectations every run shares (see the header comment);
   per_window: most 429s allowed in one quota window. */
static void check_seed(struct fx *f, const struct run *run, int64_t elapsed,
                       long per_window)
{
    if (run->ok != REQUESTS || run->unexplained)
        fail_msg("%d of %d answered, %d attempts without a reason; e.g. %s",
                 run->ok, REQUESTS, run->unexplained, run->example);
    assert_int_equal(run->on_gem + run->on_oai, REQUESTS);
    long over = mock_over_quota(f->mock, "gem");
    long windows = (long)(elapsed / WINDOW_MS) + 2;
    print_message("%d answered: %d by gem, %d by oai; %ld 429s; %d skips; "
                  "%lld ms\n", run->ok, run->on_gem, run->on_oai, over,
                  run->skips, (long long)elapsed);
    if (over > windows * per_window)
        fail_msg("%ld 429s from the mock in %ld windows", over, windows);
    assert_int_equal(run->attempts_429, over);
    assert_int_equal(upstream_429s(f->r), over);
    assert_int_equal(mock_requests(f->mock, "gem") - over, run->on_gem);
    assert_int_equal(mock_requests(f->mock, "oai"), run->on_oai);
    assert_true(elapsed >= (int64_t)(run->on_gem - 1) / QUOTA * WINDOW_MS);
    if (elapsed > QUOTA_MIN_MS + SLACK_MS)
        fail_msg("46 requests took %lld ms, quota minimum %d ms",
                 (long long)elapsed, QUOTA_MIN_MS);
}

static void seed_waits_for_free_tier(void **s)
{
    (void)s;
    struct fx f;
    struct run run;
    setup(&f, 10000, QUOTA);
    int64_t elapsed = run_seed(&f, &run);
    check_seed(&f, &run, elapsed, 1);
    /* Waiting for the quota beats paying: only a 429 (whose hint keeps
       gem off for the rest of its window) sends a request to oai. */
    long over = mock_over_quota(f.mock, "gem");
    if (over == 0) {
        assert_int_equal(run.on_gem, REQUESTS);
        assert_true(elapsed >= QUOTA_MIN_MS);
    }
    teardown(&f);
}

static void seed_overflows_to_fallback(void **s)
{
    (void)s;
    struct fx f;
    struct run run;
    setup(&f, 0, QUOTA);
    int64_t elapsed = run_seed(&f, &run);
    check_seed(&f, &run, elapsed, 1);
    /* What did not fit the window went to oai, each with a skip reason. */
    long windows = (long)(elapsed / WINDOW_MS) + 2;
    assert_true(run.on_gem >= 1 && run.on_gem <= QUOTA * windows);
    assert_true(run.on_oai >= 1);
    assert_true(run.skips >= run.on_oai - mock_over_quota(f.mock, "gem"));
    teardown(&f);
}

/* Limits not told the quota (no rpm on gem): the 429s teach it.  A
   burst is then the requests in flight when the window fills, at most
   THREADS 429s at once; the RetryInfo hint blocks gem for the rest of
   the window (core cool-down and limits' cool-down), the requests
   meanwhile go to oai with a reason, and the retried ones wait for the
   next window.  So: at most one burst, THREADS 429s, per window. */
static void seed_learns_from_429s(void **s)
{
    (void)s;
    struct fx f;
    struct run run;
    setup(&f, 10000, 0);
    int64_t elapsed = run_seed(&f, &run);
    check_seed(&f, &run, elapsed, THREADS);
    assert_true(mock_over_quota(f.mock, "gem") >= 1);
    assert_true(run.on_gem >= QUOTA);
    teardown(&f);
}

/* conf/NAME, copied into a scratch folder, opens and describes the
   pipeline and targets it promises. */
static void load_shipped(const char *name, const char *pipeline,
                         const char *const *targets)
{
    char src[256], err[1024];
    snprintf(src, sizeof src, "conf/%s", name);
    char *text = tenv_slurp(src);
    if (!text)
        fail_msg("cannot read %s (run from the source tree)", src);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);
    const char *path = tenv_write(&env, name, "%s", text);
    free(text);
    setenv("LLMROUTE_PLUGIN_DIR", env.dir, 1);
    setenv("OPENAI_API_KEY", "sk-dummy-openai", 1);
    setenv("ANTHROPIC_API_KEY", "sk-ant-dummy", 1);
    setenv("GEMINI_API_KEY", "dummy-gemini", 1);
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("lr_open %s: %s", name, err);
    char *d = lr_router_describe_json(r);
    assert_non_null(d);
    cJSON *j = cJSON_Parse(d);
    char got[256] = "";
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "pipeline"))
    {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", n ? ", " : "",
                 cJSON_GetStringValue(cJSON_GetObjectItem(p, "name")));
    }
    cJSON_Delete(j);
    if (strcmp(got, pipeline) != 0)
        fail_msg("%s: pipeline '%s', want '%s'", name, got, pipeline);
    for (size_t i = 0; targets[i]; i++)
        if (!strstr(d, targets[i]))
            fail_msg("%s: target %s not in %s", name, targets[i], d);
    assert_null(strstr(d, "sk-dummy"));
    lr_free(d);
    lr_close(r);
    unsetenv("LLMROUTE_PLUGIN_DIR");
    tenv_free(&env);
}

static void shipped_configs_load(void **s)
{
    (void)s;
    static const char *const prod[] = {"gemini-2.5-flash", "gpt-4.1-mini",
                                       "claude-sonnet-4-5-20250929",
                                       "gpt-4.1", NULL};
    static const char *const free_tier[] = {"gemini-2.5-flash-lite",
                                            "gpt-4.1-mini", NULL};
    load_shipped("production.ini",
                 "cache, budget, limits, complexity, breaker, retry", prod);
    load_shipped("free-tier.ini", "budget, limits, breaker, retry",
                 free_tier);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_waits_for_free_tier),
        cmocka_unit_test(seed_overflows_to_fallback),
        cmocka_unit_test(seed_learns_from_429s),
        cmocka_unit_test(shipped_configs_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
