/*
 * test_policy_budget_guard.c - the budget_guard policy, loaded as the real
 * build/plugins/budget_guard.so and driven through its hooks with the
 * fake host, a real memory store and the fake wall clock: the key
 * tables, config errors, the warning once per period, degrading through
 * tier_cap, rejection at 100% with its message and reset hint across day
 * and month boundaries, per-user and per-target limits, reservations
 * that keep 64 interleaved requests under the limit, settling below the
 * worst case, reservations expiring after a crash, the last candidate
 * rejecting the request, a failing store (closed and open), and the
 * spend and limit gauges of the global periods, each instance's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "support/fake_host.h"
#include "support/policy_fixture.h"

/* 2026-11-24T15:00:00Z and 2026-11-30T23:00:00Z */
#define NOV24_15H INT64_C(1795532400000)
#define NOV30_23H INT64_C(1796079600000)
#define HOUR INT64_C(3600000)

#define NREQ 64

struct fx {
    struct policy_fx p;
    char msg[256];
    int64_t hint;
    struct lr_policy_req reqs[NREQ];
    void *rs[NREQ];
};

static int setup(void **state)
{
    if (policy_fx_setup(state, sizeof(struct fx), "budget_guard", "budget",
                        POLICY_FX_STORE) != 0)
        return -1;
    struct fx *f = *state;
    fake_host_set_time(f->p.fh, 1000000, NOV24_15H);
    /* Prices: $10 in, $30 out per million tokens, so 1000 + 1000 tokens
       cost at most $0.04.  "free" has no prices. */
    static const char *const names[] = {"gpt", "cheap", "free"};
    for (size_t i = 0; i < 3; i++) {
        struct lr_section *t = policy_fx_target(&f->p, names[i]);
        if (!t)
            return -1;
        if (i < 2) {
            fake_section_set(t, "input_usd_per_mtok", "10");
            fake_section_set(t, "output_usd_per_mtok", "30");
        }
    }
    for (size_t i = 0; i < NREQ; i++)
        f->reqs[i].id = i + 1;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NREQ; i++)
        if (f->rs[i])
            f->p.ops->on_complete(f->p.inst, &f->reqs[i], f->rs[i], NULL);
    return policy_fx_teardown(state);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* --- Driving the hooks --------------------------------------------------- */

/* on_request of request i (user may be NULL); its status. */
static int begin(struct fx *f, size_t i, const char *user)
{
    assert_null(f->rs[i]);
    fake_req_forget(f->p.fh, &f->reqs[i]);
    f->reqs[i].user = user;
    f->msg[0] = '\0';
    f->hint = -1;
    int rc = f->p.ops->on_request(f->p.inst, &f->reqs[i], &f->rs[i], f->msg,
                                  sizeof f->msg, &f->hint);
    assert_non_null(f->rs[i]);
    return rc;
}

/* before_attempt of request i on target, 1000 + 1000 tokens. */
static enum lr_verdict gate(struct fx *f, size_t i, const char *target,
                            int left)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    a.est_prompt_tokens = 1000;
    a.max_tokens = 1000;
    a.candidates_left = left;
    enum lr_verdict v = policy_fx_before(&f->p, &f->reqs[i], f->rs[i], &a);
    assert_int_equal(f->p.wait, 0);
    return v;
}

/* after_attempt of request i: the attempt on target cost usd. */
static void settle(struct fx *f, size_t i, const char *target, double usd)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    a.cost_usd = usd;
    policy_fx_after_default(&f->p, &f->reqs[i], f->rs[i], &a);
}

static void end(struct fx *f, size_t i)
{
    f->p.ops->on_complete(f->p.inst, &f->reqs[i], f->rs[i], NULL);
    f->rs[i] = NULL;
}

/* A whole request of user on target that costs usd; 0 when it went
   through, else the on_request status or -1 for a skip. */
static int spend(struct fx *f, const char *user, const char *target,
                 double usd)
{
    int rc = begin(f, 0, user);
    if (rc == LR_OK && gate(f, 0, target, 0) != LR_GO)
        rc = -1;
    else if (rc == LR_OK)
        settle(f, 0, target, usd);
    end(f, 0);
    return rc;
}

/* The [policy budget] instance's counter name{"budget/label"}, or
   name{"budget"} for label NULL: the counters are per instance. */
static double counter(struct fx *f, const char *name, const char *label)
{
    char l[64];
    snprintf(l, sizeof l, "budget%s%s", label ? "/" : "", label ? label : "");
    return fake_host_counter(f->p.fh, name, l);
}

/* --- Tests --------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {
        "daily_usd", "monthly_usd", "per_user_daily_usd",
        "per_user_monthly_usd", "warn_ratio", "degrade_to",
        "reservation_ttl_ms", "assume_max_tokens", "fail_open"};
    assert_string_equal(f->p.desc->name, "budget_guard");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_true(f->p.desc->abi_minor >= 2);   /* gauge_set */
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_int_equal(f->p.ops->n_keys, 9);
    for (size_t i = 0; i < 9; i++)
        assert_string_equal(f->p.ops->keys[i].key, names[i]);
    assert_string_equal(f->p.ops->keys[4].def, "0.8");
    assert_null(f->p.ops->keys[5].def);
    assert_string_equal(f->p.ops->keys[6].def, "600000");
    assert_string_equal(f->p.ops->keys[7].def, "4096");
    assert_int_equal(f->p.ops->n_target_keys, 2);
    assert_string_equal(f->p.ops->target_keys[0].key, "daily_usd");
    assert_string_equal(f->p.ops->target_keys[1].key, "monthly_usd");
    assert_null(f->p.ops->route);
    assert_null(f->p.ops->classify);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct policy_fx_bad bad[] = {
        {"daily_usd", "-1", "daily_usd: must be 0 (no limit) or a positive"},
        {"monthly_usd", "-0.01", "monthly_usd: "},
        {"per_user_daily_usd", "-5", "per_user_daily_usd: "},
        {"per_user_monthly_usd", "-5", "per_user_monthly_usd: "},
        {"daily_usd", "2e9", "daily_usd: "},
        {"warn_ratio", "0", "warn_ratio: must be in (0, 1]"},
        {"warn_ratio", "1.01", "warn_ratio: "},
        {"warn_ratio", "-0.5", "warn_ratio: "},
        {"degrade_to", "complex", "degrade_to: 'complex' is not a tier"},
        {"degrade_to", "cheap", "degrade_to: 'cheap' is not a tier"},
        {"degrade_to", "", "degrade_to: "},
        {"reservation_ttl_ms", "999", "reservation_ttl_ms: must be from"},
        {"reservation_ttl_ms", "-1", "reservation_ttl_ms: "},
        {"assume_max_tokens", "0", "assume_max_tokens: "},
    };
    policy_fx_check_bad(&f->p, bad, sizeof bad / sizeof bad[0]);
    fake_section_set(f->p.sec, "warn_ratio", "1");
    fake_section_set(f->p.sec, "degrade_to", "medium");
    fake_section_set(f->p.sec, "daily_usd", "0");
    make_ok(f);
}

static void test_warns_once_per_period(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "1");
    make_ok(f);
    assert_int_equal(spend(f, NULL, "free", 0.79), 0);
    assert_int_equal(spend(f, NULL, "free", 0), 0);
    assert_int_equal(counter(f, "budget_warnings", "daily"), 0);
    assert_int_equal(spend(f, NULL, "free", 0.02), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(spend(f, NULL, "free", 0), 0);
    assert_int_equal(counter(f, "budget_warnings", "daily"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "WARN: daily budget at 81% "
                                       "($0.81 of $1.00); next warning "
                                       "after 2026-11-25T00:00:00Z"));
    /* No degrade_to: no tier cap. */
    begin(f, 1, NULL);
    assert_null(fake_host_table(f->p.fh)->req_get(fake_host_table(f->p.fh),
                                                  &f->reqs[1], "tier_cap"));
    end(f, 1);
    /* A new day starts from nothing and warns again at 80%. */
    fake_host_advance(f->p.fh, 9 * HOUR);
    assert_int_equal(spend(f, NULL, "free", 0.5), 0);
    assert_int_equal(spend(f, NULL, "free", 0), 0);
    assert_int_equal(counter(f, "budget_warnings", "daily"), 1);
    assert_int_equal(spend(f, NULL, "free", 0.4), 0);
    assert_int_equal(spend(f, NULL, "free", 0), 0);
    assert_int_equal(counter(f, "budget_warnings", "daily"), 2);
}

static void test_degrade_sets_tier_cap(void **state)
{
    struct fx *f = *state;
    const struct lr_host *h = fake_host_table(f->p.fh);
    fake_section_set(f->p.sec, "monthly_usd", "10");
    fake_section_set(f->p.sec, "degrade_to", "medium");
    make_ok(f);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_null(h->req_get(h, &f->reqs[0], "tier_cap"));
    end(f, 0);
    assert_int_equal(spend(f, NULL, "free", 8.5), 0);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_string_equal(h->req_get(h, &f->reqs[0], "tier_cap"), "medium");
    end(f, 0);
    assert_true(fake_host_log_contains(f->p.fh, "monthly budget at 85% ($8.50 "
                                       "of $10.00); capping requests at "
                                       "tier medium"));
    /* A lower cap set earlier (by the caller) is never raised. */
    fake_req_forget(f->p.fh, &f->reqs[1]);
    h->req_set(h, &f->reqs[1], "tier_cap", "simple");
    f->msg[0] = '\0';
    assert_int_equal(f->p.ops->on_request(f->p.inst, &f->reqs[1], &f->rs[1],
                                          f->msg, sizeof f->msg, &f->hint),
                     LR_OK);
    assert_string_equal(h->req_get(h, &f->reqs[1], "tier_cap"), "simple");
    end(f, 1);
    assert_int_equal(counter(f, "budget_degraded", "monthly"), 2);
    assert_int_equal(counter(f, "budget_warnings", "monthly"), 1);
}

static void test_rejects_when_spent_day(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "5");
    make_ok(f);
    assert_int_equal(spend(f, NULL, "free", 5.01), 0);
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    end(f, 0);
    assert_string_equal(f->msg, "daily budget of $5.00 is spent ($5.01 "
                        "settled); resets at 2026-11-25T00:00:00Z");
    assert_int_equal(f->hint, 9 * HOUR);
    assert_int_equal(counter(f, "budget_rejected", "daily"), 1);
    /* Logged once per period, however many requests it refuses. */
    assert_int_equal(spend(f, NULL, "free", 0), LR_E_BUDGET_EXCEEDED);
    const char *log = fake_host_log(f->p.fh);
    const char *first = strstr(log, "is spent");
    assert_non_null(first);
    assert_null(strstr(first + 1, "is spent"));
    /* One ms before midnight still spent, at midnight fresh. */
    fake_host_advance(f->p.fh, 9 * HOUR - 1);
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    assert_int_equal(f->hint, 1);
    end(f, 0);
    fake_host_advance(f->p.fh, 1);
    assert_int_equal(spend(f, NULL, "free", 0), 0);
}

static void test_rejects_when_spent_month(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "monthly_usd", "10");
    fake_host_set_time(f->p.fh, 1000000, NOV30_23H);
    make_ok(f);
    assert_int_equal(spend(f, NULL, "free", 9.5), 0);
    /* One second before December: a call reserves $0.04 ... */
    fake_host_advance(f->p.fh, HOUR - 1000);
    assert_int_equal(begin(f, 1, NULL), LR_OK);
    assert_int_equal(gate(f, 1, "gpt", 0), LR_GO);
    assert_int_equal(spend(f, NULL, "free", 0.46), 0);
    /* ... and with it the month is full. */
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    end(f, 0);
    assert_string_equal(f->msg, "monthly budget of $10.00 is spent ($9.96 "
                        "settled, $0.04 reserved); resets at "
                        "2026-12-01T00:00:00Z");
    assert_int_equal(f->hint, 1000);
    assert_int_equal(counter(f, "budget_rejected", "monthly"), 1);
    /* Settled after midnight: November pays, December starts empty. */
    fake_host_advance(f->p.fh, 2000);
    settle(f, 1, "gpt", 0.04);
    end(f, 1);
    assert_int_equal(spend(f, NULL, "free", 9.99), 0);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    end(f, 0);
    assert_int_equal(spend(f, NULL, "free", 0.01), 0);
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    assert_string_equal(f->msg, "monthly budget of $10.00 is spent ($10.00 "
                        "settled); resets at 2027-01-01T00:00:00Z");
    end(f, 0);
}

static void test_per_user_limits(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "per_user_daily_usd", "1");
    fake_section_set(f->p.sec, "per_user_monthly_usd", "1.5");
    make_ok(f);
    assert_int_equal(spend(f, "alice", "free", 1), 0);
    assert_int_equal(spend(f, "alice", "free", 0), LR_E_BUDGET_EXCEEDED);
    assert_string_equal(f->msg, "daily budget of $1.00 for user alice is "
                        "spent ($1.00 settled); resets at "
                        "2026-11-25T00:00:00Z");
    assert_int_equal(counter(f, "budget_rejected", "per_user_daily"), 1);
    /* Others are not affected, nor are requests without a user. */
    assert_int_equal(spend(f, "bob", "free", 0.9), 0);
    assert_int_equal(spend(f, NULL, "free", 3), 0);
    assert_int_equal(spend(f, "bob", "free", 0), 0);
    /* An odd user id is kept apart from a lookalike. */
    assert_int_equal(spend(f, "a/b c", "free", 1), 0);
    assert_int_equal(spend(f, "a%2Fb c", "free", 0), 0);
    assert_int_equal(spend(f, "a/b c", "free", 0), LR_E_BUDGET_EXCEEDED);
    /* Next day alice may spend again, up to her month. */
    fake_host_advance(f->p.fh, 9 * HOUR);
    assert_int_equal(spend(f, "alice", "free", 0.5), 0);
    assert_int_equal(spend(f, "alice", "free", 0), LR_E_BUDGET_EXCEEDED);
    assert_string_equal(f->msg, "monthly budget of $1.50 for user alice is "
                        "spent ($1.50 settled); resets at "
                        "2026-12-01T00:00:00Z");
}

static void test_per_target_limits(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.targets[0], "daily_usd", "0.10");
    make_ok(f);
    assert_int_equal(spend(f, NULL, "gpt", 0.04), 0);
    assert_int_equal(spend(f, NULL, "gpt", 0.04), 0);
    assert_int_equal(counter(f, "budget_warnings", "target_daily"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "daily budget for target gpt "
                                       "at 80%"));
    /* $0.08 spent: a $0.04 worst case no longer fits gpt, but the request
       goes on to another target; the request itself is not refused. */
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "gpt", 1), LR_SKIP);
    assert_string_equal(f->p.reason, "worst case $0.04 does not fit the daily "
                        "budget for target gpt ($0.02 left)");
    assert_int_equal(counter(f, "budget_skipped", "target_daily"), 1);
    assert_int_equal(gate(f, 0, "cheap", 0), LR_GO);
    settle(f, 0, "cheap", 0.04);
    end(f, 0);
    assert_int_equal(fake_req_rejected(f->p.fh, &f->reqs[0], NULL, NULL),
                     LR_OK);
    /* A bad target limit (the core checks only its type) skips. */
    fake_section_set(f->p.targets[1], "monthly_usd", "-3");
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "cheap", 1), LR_SKIP);
    assert_string_equal(f->p.reason, "target cheap has a bad monthly_usd "
                        "(must be 0 or a positive amount up to 1e9)");
    end(f, 0);
}

/* Tiny deterministic generator for the interleaving. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void test_interleaved_requests_never_overshoot(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "1");
    make_ok(f);
    /* phase: 0 new, 1 on_request done, 2 attempt running, 3 done. */
    int phase[NREQ] = {0};
    double settled = 0, inflight = 0, worst = 0.04;
    int went = 0, skipped = 0;
    uint32_t seed = 12345;
    for (int step = 0; step < 64 * 3 * 50; step++) {
        size_t i = lcg(&seed) % NREQ;
        if (phase[i] == 0) {
            assert_int_equal(begin(f, i, NULL), LR_OK);
            phase[i] = 1;
        }
        else if (phase[i] == 1) {
            enum lr_verdict v = gate(f, i, "gpt", 1);
            phase[i] = v == LR_GO ? 2 : 3;
            inflight += v == LR_GO ? worst : 0;
            went += v == LR_GO;
            skipped += v != LR_GO;
            if (v != LR_GO)
                end(f, i);
        }
        else if (phase[i] == 2) {
            /* The real cost is at most the worst case. */
            double cost = 0.001 * (double)(lcg(&seed) % 41);
            settle(f, i, "gpt", cost);
            end(f, i);
            settled += cost;
            inflight -= worst;
            phase[i] = 3;
        }
        /* What the guard let through can never pass the limit. */
        assert_true(settled + inflight <= 1.0 + 1e-9);
    }
    for (size_t i = 0; i < NREQ; i++)
        assert_int_equal(phase[i], 3);
    assert_int_equal(went + skipped, NREQ);
    /* Every request saw a full-size reservation of the others: at most
       25 could be in flight at once, and some were refused. */
    assert_true(went >= 25);
    assert_true(skipped > 0);
    assert_true(settled <= 1.0 + 1e-9);
}

static void test_all_reserve_before_any_settles(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "1");
    make_ok(f);
    int went = 0;
    for (size_t i = 0; i < NREQ; i++)
        assert_int_equal(begin(f, i, NULL), LR_OK);
    for (size_t i = 0; i < NREQ; i++)
        went += gate(f, i, "gpt", 1) == LR_GO;
    assert_int_equal(went, 25); /* 25 x $0.04 = $1.00 */
    /* Reservations count at on_request too: the day is taken. */
    end(f, NREQ - 1);
    assert_int_equal(begin(f, NREQ - 1, NULL), LR_E_BUDGET_EXCEEDED);
    for (size_t i = 0; i < NREQ; i++) {
        settle(f, i, "gpt", 0.04);
        end(f, i);
    }
    /* Refused attempts were rolled back and charged nothing. */
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    end(f, 0);
    assert_string_equal(f->msg, "daily budget of $1.00 is spent ($1.00 "
                        "settled); resets at 2026-11-25T00:00:00Z");
    assert_true(counter(f, "budget_spend_usd", NULL) > 0.999 &&
                counter(f, "budget_spend_usd", NULL) < 1.001);
}

static void test_cheaper_settlement_frees_room(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "0.10");
    make_ok(f);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(begin(f, i, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "gpt", 1), LR_GO);
    assert_int_equal(gate(f, 1, "gpt", 1), LR_GO);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_SKIP);
    assert_string_equal(f->p.reason, "worst case $0.04 does not fit the daily "
                        "budget ($0.02 left)");
    settle(f, 0, "gpt", 0.01);
    end(f, 0);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_GO);
}

static void test_reservation_expires_without_settle(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "0.10");
    fake_section_set(f->p.sec, "reservation_ttl_ms", "60000");
    make_ok(f);
    /* Two requests reserve, then their process dies: no settle. */
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(begin(f, i, NULL), LR_OK);
        assert_int_equal(gate(f, i, "gpt", 1), LR_GO);
    }
    void *dead[2] = {f->rs[0], f->rs[1]};
    f->rs[0] = f->rs[1] = NULL;
    assert_int_equal(begin(f, 2, NULL), LR_OK);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_SKIP);
    fake_host_advance(f->p.fh, 59000);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_SKIP);
    fake_host_advance(f->p.fh, 1001);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_GO);
    /* A settlement arriving after the expiry adds its cost and leaves no
       negative reservation behind: exactly $0.10 - $0.04 - $0.04 left. */
    f->rs[0] = dead[0];
    settle(f, 0, "gpt", 0.04);
    end(f, 0);
    assert_int_equal(begin(f, 3, NULL), LR_OK);
    assert_int_equal(gate(f, 3, "gpt", 1), LR_SKIP);
    assert_string_equal(f->p.reason, "worst case $0.04 does not fit the daily "
                        "budget ($0.02 left)");
    f->rs[1] = dead[1];
}

static void test_last_candidate_rejects(void **state)
{
    struct fx *f = *state;
    const char *msg = NULL;
    int64_t hint = 0;
    fake_section_set(f->p.sec, "daily_usd", "0.06");
    make_ok(f);
    assert_int_equal(spend(f, NULL, "free", 0.04), 0);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "gpt", 1), LR_SKIP);
    assert_int_equal(fake_req_rejected(f->p.fh, &f->reqs[0], NULL, NULL),
                     LR_OK);
    assert_int_equal(gate(f, 0, "cheap", 0), LR_SKIP);
    assert_int_equal(fake_req_rejected(f->p.fh, &f->reqs[0], &msg, &hint),
                     LR_E_BUDGET_EXCEEDED);
    assert_string_equal(msg, "worst case $0.04 does not fit the daily "
                        "budget of $0.06 ($0.02 left); resets at "
                        "2026-11-25T00:00:00Z");
    assert_int_equal(hint, 9 * HOUR);
    assert_int_equal(counter(f, "budget_rejected", "daily"), 1);
    assert_int_equal(counter(f, "budget_skipped", "daily"), 1);
    end(f, 0);
    /* A worst case above the whole limit never fits: no reset hint. */
    assert_int_equal(begin(f, 1, NULL), LR_OK);
    struct lr_policy_attempt a = {0};
    int64_t wait = 0;
    a.target = "gpt";
    a.est_prompt_tokens = 1000;
    a.max_tokens = 0; /* assume_max_tokens 4096: $0.13 worst */
    assert_int_equal(f->p.ops->before_attempt(f->p.inst, &f->reqs[1], f->rs[1],
                                              &a, &wait, f->p.reason,
                                              sizeof f->p.reason), LR_SKIP);
    assert_int_equal(fake_req_rejected(f->p.fh, &f->reqs[1], &msg, &hint),
                     LR_E_BUDGET_EXCEEDED);
    assert_string_equal(msg, "worst case $0.13 exceeds the whole daily "
                        "budget of $0.06; lower max_tokens");
    assert_int_equal(hint, -1);
    end(f, 1);
}

static void test_unsettled_attempt_released(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "0.08");
    make_ok(f);
    /* Asked twice for one attempt (a later policy waited): one hold. */
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "gpt", 1), LR_GO);
    assert_int_equal(gate(f, 0, "gpt", 1), LR_GO);
    assert_int_equal(begin(f, 1, NULL), LR_OK);
    assert_int_equal(gate(f, 1, "gpt", 1), LR_GO);
    /* Cancelled mid-attempt: on_complete without after_attempt. */
    end(f, 0);
    assert_int_equal(begin(f, 2, NULL), LR_OK);
    assert_int_equal(gate(f, 2, "gpt", 1), LR_GO);
    end(f, 2);
    end(f, 1);
    assert_int_equal(counter(f, "budget_spend_usd", NULL), 0);
}

/* --- A store that fails --------------------------------------------------- */

static int bad_get(struct lr_store *s, const char *key, struct lr_buf *out)
{
    (void)s;
    (void)key;
    (void)out;
    return LR_E_INTERNAL;
}

static int bad_incr(struct lr_store *s, const char *key, int64_t delta,
                    int64_t ttl_ms, int64_t *out)
{
    (void)s;
    (void)key;
    (void)delta;
    (void)ttl_ms;
    (void)out;
    return LR_E_INTERNAL;
}

static void test_store_failure(void **state)
{
    struct fx *f = *state;
    struct lr_store *st = fake_host_store(f->p.fh);
    const struct lr_store_backend *good = st->ops;
    struct lr_store_backend broken = *good;
    broken.get = bad_get;
    broken.incr = bad_incr;
    fake_section_set(f->p.sec, "daily_usd", "1");
    make_ok(f);
    st->ops = &broken;
    /* Closed (default): refused, logged once, counted each time. */
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    assert_string_equal(f->msg, "budget cannot be checked: the store failed "
                        "(fail_open = false)");
    end(f, 0);
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    end(f, 0);
    assert_true(fake_host_log_contains(f->p.fh, "ERROR: store failed (get): "
                                       "refusing requests"));
    assert_int_equal(counter(f, "budget_store_errors", NULL), 2);
    const char *first = strstr(fake_host_log(f->p.fh), "store failed");
    assert_null(strstr(first + 1, "store failed"));
    st->ops = good;
    assert_int_equal(spend(f, NULL, "gpt", 0.01), 0);
    assert_true(fake_host_log_contains(f->p.fh, "store works again"));
    f->p.desc->destroy(f->p.inst);
    f->p.inst = NULL;
    /* Open: requests go through unchecked. */
    fake_section_set(f->p.sec, "fail_open", "true");
    make_ok(f);
    st->ops = &broken;
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "gpt", 0), LR_GO);
    settle(f, 0, "gpt", 0.04);
    end(f, 0);
    st->ops = good;
    assert_true(fake_host_log_contains(f->p.fh, "letting requests through "
                                       "unchecked"));
}

/* gauge name{label}: -1 when never set. */
static double gauge(struct fx *f, const char *name, const char *label)
{
    double v = -1;
    return fake_host_gauge(f->p.fh, name, label, &v) ? v : -1;
}

/* budget_period_spend_usd{label}: -1 when never set. */
static double spend_gauge(struct fx *f, const char *label)
{
    return gauge(f, "budget_period_spend_usd", label);
}

static int near(double a, double b)
{
    return a > b - 1e-9 && a < b + 1e-9;
}

/* Limits at create(); the period's settled spend as the store holds it
   (another process's spend included) after each read and settle; never
   a per-user series; a settle into a period already over leaves it. */
static void test_gauges(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "daily_usd", "5");
    fake_section_set(f->p.sec, "monthly_usd", "100");
    fake_section_set(f->p.sec, "per_user_daily_usd", "2");
    make_ok(f);
    assert_true(gauge(f, "budget_limit_usd", "budget/daily") == 5);
    assert_true(gauge(f, "budget_limit_usd", "budget/monthly") == 100);
    assert_true(gauge(f, "budget_limit_usd", "per_user_daily") == -1);
    assert_true(gauge(f, "budget_limit_usd", "daily") == -1);
    assert_true(gauge(f, "budget_period_spend_usd", "budget/daily") == -1);
    assert_int_equal(spend(f, "alice", "free", 1.25), 0);
    assert_true(near(spend_gauge(f, "budget/daily"), 1.25));
    assert_true(near(spend_gauge(f, "budget/monthly"), 1.25));
    assert_true(gauge(f, "budget_period_spend_usd", "per_user_daily") == -1);
    assert_true(gauge(f, "budget_period_spend_usd", "alice") == -1);
    /* Another process sharing the store spends $2: the next check here
       reads it. */
    struct lr_store *st = fake_host_store(f->p.fh);
    assert_int_equal(st->ops->incr(st, "spent/all/day/2026-11-24",
                                   2000000000, 0, NULL), LR_OK);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    end(f, 0);
    assert_true(near(spend_gauge(f, "budget/daily"), 3.25));
    assert_true(near(spend_gauge(f, "budget/monthly"), 1.25));
    /* Reserved a second before midnight, settled after it: yesterday
       pays, and the gauge does not show yesterday's total as today's. */
    fake_host_advance(f->p.fh, 9 * HOUR - 1000);
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    assert_int_equal(gate(f, 0, "free", 0), LR_GO);
    fake_host_advance(f->p.fh, 2000);
    settle(f, 0, "free", 1);
    end(f, 0);
    assert_true(near(spend_gauge(f, "budget/daily"), 3.25));
    assert_true(near(spend_gauge(f, "budget/monthly"), 2.25));
    assert_int_equal(begin(f, 0, NULL), LR_OK);
    end(f, 0);
    assert_true(near(spend_gauge(f, "budget/daily"), 0));
}


/* Two instances on one host (as in one router: one metrics table), a
   daily [policy budget] and a [policy team] with other limits: each has
   its own series, labelled by its section, and a settle in one leaves
   the other's spend gauge alone. */
static void test_gauges_two_instances(void **state)
{
    struct fx *f = *state;
    char err[256];
    void *team = NULL;
    fake_section_set(f->p.sec, "daily_usd", "5");
    make_ok(f);
    struct lr_section *ts = fake_section_new("team");
    assert_non_null(ts);
    fake_section_set_keys(ts, f->p.ops->keys, f->p.ops->n_keys);
    fake_section_set(ts, "daily_usd", "20");
    fake_section_set(ts, "monthly_usd", "300");
    int rc = f->p.desc->create(ts, f->p.h, &team, err, sizeof err);
    if (rc != LR_OK) {
        fake_section_free(ts);
        fail_msg("create: %s", err);
    }
    assert_true(gauge(f, "budget_limit_usd", "budget/daily") == 5);
    assert_true(gauge(f, "budget_limit_usd", "budget/monthly") == -1);
    assert_true(gauge(f, "budget_limit_usd", "team/daily") == 20);
    assert_true(gauge(f, "budget_limit_usd", "team/monthly") == 300);
    assert_int_equal(spend(f, NULL, "free", 1.25), 0); /* budget only */
    assert_true(near(spend_gauge(f, "budget/daily"), 1.25));
    assert_true(gauge(f, "budget_period_spend_usd", "team/daily") == -1);
    assert_true(gauge(f, "budget_period_spend_usd", "team/monthly") == -1);
    /* The counters too: budget's spend and rejection are its own. */
    assert_true(near(counter(f, "budget_spend_usd", NULL), 1.25));
    assert_true(fake_host_counter(f->p.fh, "budget_spend_usd", "team") == 0);
    assert_true(fake_host_counter(f->p.fh, "budget_spend_usd", NULL) == 0);
    assert_int_equal(spend(f, NULL, "free", 4), 0);
    assert_int_equal(begin(f, 0, NULL), LR_E_BUDGET_EXCEEDED);
    end(f, 0);
    assert_int_equal(counter(f, "budget_rejected", "daily"), 1);
    assert_true(fake_host_counter(f->p.fh, "budget_rejected",
                                  "team/daily") == 0);
    assert_true(fake_host_counter(f->p.fh, "budget_rejected", "daily") == 0);
    f->p.desc->destroy(team);
    fake_section_free(ts);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_gauges),
        T(test_gauges_two_instances),
        T(test_descriptor),
        T(test_config_errors),
        T(test_warns_once_per_period),
        T(test_degrade_sets_tier_cap),
        T(test_rejects_when_spent_day),
        T(test_rejects_when_spent_month),
        T(test_per_user_limits),
        T(test_per_target_limits),
        T(test_interleaved_requests_never_overshoot),
        T(test_all_reserve_before_any_settles),
        T(test_cheaper_settlement_frees_room),
        T(test_reservation_expires_without_settle),
        T(test_last_candidate_rejects),
        T(test_unsettled_attempt_released),
        T(test_store_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
