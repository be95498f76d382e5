/*
 * test_e2e_budget.c - budget_guard stops spending at its limit under 64
 * concurrent callers, through the public API, with the real
 * budget_guard.so and the scripted mock upstream.
 *
 * Numbers.  Target a costs $1 per million input tokens and $10 per
 * million output tokens; the mock always reports 1 prompt token and 1000
 * completion tokens and every request asks max_tokens = 1000, so an
 * answer costs $0.010001 and its worst case (the core's prompt estimate
 * x $1/M + 1000 x $10/M) a little more than $0.01.  With daily_usd =
 * 0.10 exactly 9 answers fit: after 9, $0.090009 is settled and the next
 * worst case ($0.01 + the prompt estimate) no longer fits.
 *
 * How: 64 threads send two requests each at once (the mock delays each
 * answer a little so reservations overlap), then requests are sent one
 * at a time until one is refused.  Concurrent reservations may refuse a
 * request that would have fitted once others settled (conservative, by
 * design), so only the sequential top-up makes the total exact: 9.
 * Checked: spend (sum of lr_response_cost_usd of the answers, the
 * metrics' budget_spend_usd and, for sqlite, the settled counter read
 * from the store file) never above the limit; every refusal is
 * LR_E_BUDGET_EXCEEDED with a message naming the daily budget of $0.10
 * and its reset time, and a retry hint; the mock saw exactly the
 * answered requests.
 *
 * The sqlite run opens two routers on one INI (two "processes" sharing
 * the store file), 32 callers on each, and checks the same totals over
 * both: they never double-spend.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

#define CALLERS 64
#define PER_CALLER 2
#define LIMIT_USD 0.10
#define COST_USD 0.010001
#define FITS 9
#define TOPUP_MAX 20

static const char *SCRIPT =
    "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":["
    "{\"text\":\"paid answer\",\"delay_ms\":20,"
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1000}}]}]}";

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    char ini[512];
    char db[512];
};

/* What one caller (or the top-up) saw. */
struct tally {
    struct lr_router *r;
    int n;          /* requests to send */
    int ok, refused, other;
    int bad_msg;    /* refusals whose message or hint is wrong */
    double spent;   /* sum of lr_response_cost_usd of the answers */
    char example[256];
};

static void setup(struct fx *f, int sqlite)
{
    char err[512];
    f->mock = mock_start(SCRIPT, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    snprintf(f->db, sizeof f->db, "%s/budget.db", f->env.dir);
    char store[600] = "";
    if (sqlite)
        snprintf(store, sizeof store, "store = sqlite:%s\n", f->db);
    const char *path = tenv_write(&f->env, "budget.ini",
        "[router]\ntimeout_ms = 10000\npipeline = budget\n%s"
        "[policy budget]\nplugin = budget_guard\ndaily_usd = %.2f\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "input_usd_per_mtok = 1\noutput_usd_per_mtok = 10\n",
        store, LIMIT_USD, mock_port(f->mock));
    snprintf(f->ini, sizeof f->ini, "%s", path);
}

static void teardown(struct fx *f)
{
    mock_stop(f->mock);
    tenv_free(&f->env);
}

static struct lr_router *open_router(struct fx *f)
{
    char err[512];
    struct lr_router *r = lr_open(f->ini, err, sizeof err);
    if (!r)
        fail_msg("lr_open: %s", err);
    return r;
}

/* A refusal must name the limit and its reset, with a hint to it. */
static int good_refusal(const struct lr_response *resp)
{
    const char *m = lr_response_error_message(resp);
    return strstr(m, "daily budget of $0.10") && strstr(m, "resets at 20") &&
           strstr(m, "T00:00:00Z") && lr_response_retry_after_ms(resp) > 0;
}

static void one_request(struct tally *t)
{
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "spend");
    lr_request_set_max_tokens(q, 1000);
    struct lr_response *resp = NULL;
    lr_complete(t->r, q, &resp);
    lr_request_free(q);
    if (!resp) {
        t->other++;
        return;
    }
    enum lr_status st = lr_response_status(resp);
    if (st == LR_OK) {
        t->ok++;
        t->spent += lr_response_cost_usd(resp);
    }
    else if (st == LR_E_BUDGET_EXCEEDED) {
        t->refused++;
        t->bad_msg += !good_refusal(resp);
        snprintf(t->example, sizeof t->example, "%s",
                 lr_response_error_message(resp));
    }
    else {
        t->other++;
        snprintf(t->example, sizeof t->example, "%s: %s",
                 lr_status_name(st), lr_response_error_message(resp));
    }
    lr_response_free(resp);
}

static void *caller(void *arg)
{
    struct tally *t = arg;
    for (int i = 0; i < t->n; i++)
        one_request(t);
    return NULL;
}

static void add(struct tally *sum, const struct tally *t)
{
    sum->ok += t->ok;
    sum->refused += t->refused;
    sum->other += t->other;
    sum->bad_msg += t->bad_msg;
    sum->spent += t->spent;
    if (t->example[0] && (t->bad_msg || t->other || !sum->example[0]))
        snprintf(sum->example, sizeof sum->example, "%s", t->example);
}

/* CALLERS threads spread over the routers, PER_CALLER requests each. */
static void hammer(struct lr_router **r, int nr, struct tally *sum)
{
    struct tally t[CALLERS];
    pthread_t th[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        t[i] = (struct tally){.r = r[i % nr], .n = PER_CALLER};
        assert_int_equal(pthread_create(&th[i], NULL, caller, &t[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(th[i], NULL);
        add(sum, &t[i]);
    }
}

/* One request at a time, alternating routers, until one is refused. */
static void top_up(struct lr_router **r, int nr, struct tally *sum)
{
    for (int i = 0; i < TOPUP_MAX; i++) {
        struct tally t = {.r = r[i % nr], .n = 1};
        one_request(&t);
        add(sum, &t);
        if (t.refused || t.other)
            return;
    }
    fail_msg("no refusal after %d sequential requests", TOPUP_MAX);
}

static double spend_counter(struct lr_router *r)
{
    char *js = lr_metrics_json(r);
    cJSON *j = cJSON_Parse(js);
    cJSON *c = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "counters"),
                                   "budget_spend_usd");
    double v = 0;
    if (cJSON_IsNumber(c))
        v = c->valuedouble;
    else if (cJSON_IsObject(c)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, c) v += e->valuedouble;
    }
    cJSON_Delete(j);
    lr_free(js);
    return v;
}

static void check_totals(struct fx *f, const struct tally *sum)
{
    if (sum->other || sum->bad_msg)
        fail_msg("%d other failures, %d bad refusals, e.g. %s", sum->other,
                 sum->bad_msg, sum->example);
    assert_int_equal(sum->ok, FITS);
    assert_true(sum->spent <= LIMIT_USD + 1e-9);
    assert_true(sum->spent >= FITS * COST_USD - 1e-9);
    assert_int_equal(mock_requests(f->mock, "a"), FITS);
}

static void memory_store_stops_at_limit(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, 0);
    struct lr_router *r = open_router(&f);
    struct tally sum = {0};
    hammer(&r, 1, &sum);
    assert_true(sum.ok <= FITS);
    assert_true(sum.refused >= CALLERS * PER_CALLER - FITS);
    top_up(&r, 1, &sum);
    check_totals(&f, &sum);
    double settled = spend_counter(r);
    assert_true(settled <= LIMIT_USD + 1e-9);
    assert_true(settled >= sum.spent - 1e-6 && settled <= sum.spent + 1e-6);
    lr_close(r);
    teardown(&f);
}

/* Settled nano-USD of the daily global limit(s), read from the file as
   another process would. */
static long long settled_in_db(const char *db)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long sum = 0;
    int keys = 0;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
        "SELECT key, CAST(value AS TEXT) FROM kv WHERE key LIKE "
        "'%spent/%day%'", -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 1);
        sum += v ? strtoll(v, NULL, 10) : 0;
        keys++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_true(keys >= 1);
    return sum;
}

static void sqlite_two_routers_never_double_spend(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, 1);
    struct lr_router *r[2] = {open_router(&f), open_router(&f)};
    struct tally sum = {0};
    hammer(r, 2, &sum);
    print_message("after the burst: %d answered ($%.6f), %d refused, %d "
                  "other (%s); store settled %lld nano-USD\n", sum.ok,
                  sum.spent, sum.refused, sum.other, sum.example,
                  settled_in_db(f.db));
    assert_true(sum.ok <= FITS);
    top_up(r, 2, &sum);
    check_totals(&f, &sum);
    long long nano = settled_in_db(f.db);
    assert_true(nano <= (long long)(LIMIT_USD * 1e9));
    long long want = (long long)(sum.spent * 1e9 + 0.5);
    assert_true(nano >= want - FITS && nano <= want + FITS);
    assert_true(spend_counter(r[0]) + spend_counter(r[1]) <=
                LIMIT_USD + 1e-9);
    lr_close(r[0]);
    lr_close(r[1]);
    /* A restart (a third "process") remembers the spend and refuses. */
    struct lr_router *again = open_router(&f);
    struct tally t = {.r = again, .n = 1};
    one_request(&t);
    assert_int_equal(t.refused, 1);
    assert_int_equal(t.bad_msg, 0);
    lr_close(again);
    assert_int_equal(mock_requests(f.mock, "a"), FITS);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memory_store_stops_at_limit),
        cmocka_unit_test(sqlite_two_routers_never_double_spend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
