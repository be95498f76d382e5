/*
 * test_policy_limits.c - the limits policy, loaded as the real
 * build/plugins/limits.so and driven through its hooks with the fake
 * host, a real memory store and the fake clock: the key tables, bad
 * config (policy and target keys), rpm/tpm/rpd windows (the exact wait
 * until room, skip past max_wait_ms, only a GO counts, tpm corrected to
 * real tokens), per-key windows, the adaptive cool-down schedule, its
 * reset on success, a longer provider hint, one burst counted once,
 * learning from remaining = 0, max_inflight with lease expiry and
 * release, min_interval_ms, per_user_rpm rejections with a retry hint,
 * re-asks and abandoned attempts, and two instances on one store.
 *
 * Time starts at a multiple of 600 ms (the slot of a 60 s window) so the
 * waits below are whole numbers worked out by hand: an amount counted
 * in slot i (g = window/100 ms long) counts until (i+1)*g + window.
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

#define T0 INT64_C(1700000040000) /* divisible by 600 and by 30 */

struct fx {
    struct policy_fx p;           /* [policy limits] */
    struct lr_section *x, *y;     /* [target x], [target y] */
};

static int setup(void **state)
{
    if (policy_fx_setup(state, sizeof(struct fx), "limits", "limits",
                        POLICY_FX_STORE) != 0)
        return -1;
    struct fx *f = *state;
    fake_host_set_time(f->p.fh, 1000000, T0);
    f->x = policy_fx_target(&f->p, "x");
    f->y = policy_fx_target(&f->p, "y");
    return f->x && f->y ? 0 : -1;
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* --- Driving the hooks -------------------------------------------------- */

static struct lr_policy_req REQ = {7, NULL, NULL, NULL, 0};

static void *begin(struct fx *f)
{
    return policy_fx_begin(&f->p, &REQ);
}

/* An attempt as the core fills it: nothing known yet. */
static struct lr_policy_attempt attempt(const char *target, const char *key,
                                        int index)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    a.key_id = key;
    a.index = index;
    return a;
}

static enum lr_verdict gate_a(struct fx *f, void *rs,
                              const struct lr_policy_attempt *a)
{
    enum lr_verdict v = policy_fx_before(&f->p, &REQ, rs, a);
    if (v != LR_WAIT)
        assert_int_equal(f->p.wait, 0);
    else
        assert_true(f->p.wait > 0);
    return v;
}

static enum lr_verdict gate(struct fx *f, void *rs, const char *target)
{
    struct lr_policy_attempt a = attempt(target, "", 0);
    return gate_a(f, rs, &a);
}

static void report_a(struct fx *f, void *rs,
                     const struct lr_policy_attempt *a)
{
    policy_fx_after_default(&f->p, &REQ, rs, a);
}

static void report(struct fx *f, void *rs, const char *target,
                   enum lr_status err, int64_t hint)
{
    struct lr_policy_attempt a = attempt(target, "", 0);
    a.error = err;
    a.retry_after_ms = hint;
    report_a(f, rs, &a);
}

static void end(struct fx *f, void *rs)
{
    f->p.ops->on_complete(f->p.inst, &REQ, rs, NULL);
}

/* A whole request with one attempt on target: the verdict, and when it
   went ahead, the outcome err reported. */
static enum lr_verdict one(struct fx *f, const char *target,
                           enum lr_status err)
{
    void *rs = begin(f);
    enum lr_verdict v = gate(f, rs, target);
    if (v == LR_GO)
        report(f, rs, target, err, -1);
    end(f, rs);
    return v;
}

/* --- Tests --------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {
        "max_wait_ms", "window_ms", "day_ms", "per_user_rpm", "cooldown_ms",
        "assume_max_tokens", "inflight_ttl_ms", "inflight_poll_ms"};
    static const char *const defs[] = {
        "10000", "60000", "86400000", "0", "500, 1500, 7000", "1024",
        "120000", "250"};
    static const char *const tnames[] = {"rpm", "tpm", "rpd", "max_inflight",
                                         "min_interval_ms"};
    assert_string_equal(f->p.desc->name, "limits");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->abi_minor, LR_PLUGIN_ABI_MINOR);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->on_request);
    assert_non_null(f->p.ops->before_attempt);
    assert_non_null(f->p.ops->after_attempt);
    assert_non_null(f->p.ops->on_complete);
    assert_null(f->p.ops->route);
    assert_null(f->p.ops->classify);
    assert_int_equal(f->p.ops->n_keys, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(f->p.ops->keys[i].key, names[i]);
        assert_string_equal(f->p.ops->keys[i].def, defs[i]);
    }
    assert_int_equal(f->p.ops->keys[4].type, LR_CFG_LIST);
    assert_int_equal(f->p.ops->n_target_keys, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(f->p.ops->target_keys[i].key, tnames[i]);
        assert_int_equal(f->p.ops->target_keys[i].type, LR_CFG_INT);
        assert_string_equal(f->p.ops->target_keys[i].def, "0");
    }
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct policy_fx_bad bad[] = {
        {"max_wait_ms", "-1", "max_wait_ms: must be 0 to"},
        {"window_ms", "0", "window_ms: must be 1 to"},
        {"window_ms", "1000000000001", "window_ms: "},
        {"day_ms", "-86400000", "day_ms: "},
        {"per_user_rpm", "-10", "per_user_rpm: "},
        {"assume_max_tokens", "-1", "assume_max_tokens: "},
        {"inflight_ttl_ms", "0", "inflight_ttl_ms: "},
        {"inflight_poll_ms", "0", "inflight_poll_ms: "},
        {"cooldown_ms", "", "cooldown_ms: give 1 to 16"},
        {"cooldown_ms", "500, soon", "cooldown_ms: 'soon' is not a delay"},
        {"cooldown_ms", "-500", "cooldown_ms: '-500' is not a delay"},
        {"cooldown_ms", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17",
         "cooldown_ms: give 1 to 16"},
    };
    policy_fx_check_bad(&f->p, bad, sizeof bad / sizeof bad[0]);
    fake_section_set(f->p.sec, "cooldown_ms", "0");
    fake_section_set(f->p.sec, "max_wait_ms", "0");
    make_ok(f);
}

/* A bad target key is found on first use: that target is skipped, with
   an error logged once; other targets are not affected. */
static void test_bad_target_config(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "rpm", "-5");
    fake_section_set(f->y, "max_inflight", "257");
    make_ok(f);
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "bad_config: target x: rpm: must be 0 "
                        "(none) to 1000000000000");
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_int_equal(one(f, "y", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "bad_config: target y: max_inflight: "
                        "must be 0 (none) to 256");
    const char *log = fake_host_log(f->p.fh);
    const char *first = strstr(log, "ERROR: target x: rpm");
    assert_non_null(first);
    assert_null(strstr(first + 1, "ERROR: target x: rpm"));
    assert_int_equal(fake_host_counter(f->p.fh, "limits_skips", "bad_config"),
                     3);
    /* An unknown target (no section) has no limits. */
    assert_int_equal(one(f, "z", LR_OK), LR_GO);
}

/* The wait is the time until room, exactly; past max_wait_ms: skip. */
static void test_rpm_window(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "rpm", "3");
    make_ok(f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(one(f, "x", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 1000);
    /* Counted in slot [T0, T0+600): room at T0 + 600 + 60000. */
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "rate_window_full: rpm 3 of target x "
                        "used, room in 59600 ms");
    assert_int_equal(fake_host_counter(f->p.fh, "limits_skips", "rpm"), 1);
    /* Another target is not limited by x's window. */
    assert_int_equal(one(f, "y", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 59600 - 10000);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_WAIT);
    assert_int_equal(f->p.wait, 10000);
    assert_string_equal(f->p.reason, "rate_window_full: rpm 3 of target x "
                        "used, room in 10000 ms");
    fake_host_advance(f->p.fh, 9999);
    assert_int_equal(gate(f, rs, "x"), LR_SKIP); /* 10001 ms asked in all */
    end(f, rs);
    fake_host_advance(f->p.fh, 1);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(fake_host_counter(f->p.fh, "limits_waits", "rpm"), 1);
}

/* A short window (time-compressed tests): slots of 30 ms; only a GO is
   counted, and room comes when the oldest needed slot leaves. */
static void test_short_window_only_go_counts(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "window_ms", "3000");
    fake_section_set(f->x, "rpm", "2");
    make_ok(f);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 1000);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 1500);
    void *rs = begin(f);
    for (int i = 0; i < 5; i++) { /* asked again and again: no count */
        assert_int_equal(gate(f, rs, "x"), LR_WAIT);
        assert_int_equal(f->p.wait, 530); /* T0 + 30 + 3000 - (T0 + 2500) */
    }
    end(f, rs);
    fake_host_advance(f->p.fh, 530);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_WAIT);
    assert_int_equal(f->p.wait, 990); /* the second, in slot T0 + 990 */
    end(f, rs);
}

/* tpm counts est_prompt_tokens + max_tokens at GO (assume_max_tokens
   when none), then the real tokens once known. */
static void test_tpm_window_and_correction(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "window_ms", "3000");
    fake_section_set(f->p.sec, "assume_max_tokens", "400");
    fake_section_set(f->x, "tpm", "1000");
    make_ok(f);
    void *r1 = begin(f), *r2 = begin(f), *r3 = begin(f);
    struct lr_policy_attempt a = attempt("x", "", 0);
    a.est_prompt_tokens = 300;
    a.max_tokens = 200;
    assert_int_equal(gate_a(f, r1, &a), LR_GO);
    assert_int_equal(gate_a(f, r2, &a), LR_GO);
    assert_int_equal(gate_a(f, r3, &a), LR_WAIT);
    assert_string_equal(f->p.reason, "rate_window_full: tpm 1000 of 1000 of "
                        "target x used, 500 needed, room in 3030 ms");
    /* r1 used 150 in truth: 650 counted, 500 more still do not fit. */
    a.prompt_tokens = 100;
    a.completion_tokens = 50;
    report_a(f, r1, &a);
    assert_int_equal(gate_a(f, r3, &a), LR_WAIT);
    assert_string_equal(f->p.reason, "rate_window_full: tpm 650 of 1000 of "
                        "target x used, 500 needed, room in 3030 ms");
    /* r2's completion is unknown: its estimate (200) stays. */
    a.prompt_tokens = 50;
    a.completion_tokens = -1;
    report_a(f, r2, &a);
    assert_int_equal(gate_a(f, r3, &a), LR_GO); /* 150 + 250 + 500 */
    end(f, r1);
    end(f, r2);
    end(f, r3);
    /* No max_tokens: assume_max_tokens (400) + 300 does not fit in 100. */
    a.max_tokens = 0;
    void *r4 = begin(f);
    assert_int_equal(gate_a(f, r4, &a), LR_WAIT);
    assert_string_equal(f->p.reason, "rate_window_full: tpm 900 of 1000 of "
                        "target x used, 700 needed, room in 3030 ms");
    end(f, r4);
}

/* A request bigger than tpm waits for an empty window, not forever. */
static void test_tpm_oversized_request(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "window_ms", "3000");
    fake_section_set(f->x, "tpm", "100");
    make_ok(f);
    void *rs = begin(f);
    struct lr_policy_attempt a = attempt("x", "", 0);
    a.est_prompt_tokens = 500;
    a.max_tokens = 500;
    assert_int_equal(gate_a(f, rs, &a), LR_GO);
    end(f, rs);
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &a), LR_WAIT);
    assert_int_equal(f->p.wait, 3030);
    fake_host_advance(f->p.fh, 3030);
    assert_int_equal(gate_a(f, rs, &a), LR_GO);
    end(f, rs);
}

static void test_rpd_window(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "day_ms", "100000");
    fake_section_set(f->x, "rpd", "2");
    make_ok(f);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "rate_window_full: rpd 2 of target x "
                        "used, room in 101000 ms");
    fake_host_advance(f->p.fh, 101000);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
}

/* Each key of a pool has its own windows and cool-down. */
static void test_per_key_windows(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "rpm", "1");
    make_ok(f);
    struct lr_policy_attempt k1 = attempt("x", "X_KEY_1#ab12", 0);
    struct lr_policy_attempt k2 = attempt("x", "X_KEY_2#cd34", 0);
    void *rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k1), LR_GO);
    end(f, rs);
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k2), LR_GO);
    end(f, rs);
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k1), LR_SKIP);
    assert_string_equal(f->p.reason, "rate_window_full: rpm 1 of target x key "
                        "X_KEY_1#ab12 used, room in 60600 ms");
    end(f, rs);
    /* A 429 on key 2 cools key 2 only (y: no windows in the way). */
    k1.target = k2.target = "y";
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k2), LR_GO);
    k2.error = LR_E_RATE_LIMITED;
    report_a(f, rs, &k2);
    end(f, rs);
    k2.error = LR_OK;
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k1), LR_GO);
    end(f, rs);
    rs = begin(f);
    assert_int_equal(gate_a(f, rs, &k2), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: 1st 429 in a row, 500 ms "
                        "left");
    end(f, rs);
}

static void test_cooldown_schedule_and_reset(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_wait_ms", "20000");
    make_ok(f);
    static const struct {
        int64_t ms;
        const char *why;
    } steps[] = {
        {500, "cooldown: 1st 429 in a row, 500 ms left"},
        {1500, "cooldown: 2nd 429 in a row, 1500 ms left"},
        {7000, "cooldown: 3rd 429 in a row, 7000 ms left"},
        {7000, "cooldown: 4th 429 in a row, 7000 ms left"},
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(one(f, "x", LR_E_RATE_LIMITED), LR_GO);
        void *rs = begin(f);
        assert_int_equal(gate(f, rs, "x"), LR_WAIT);
        assert_int_equal(f->p.wait, steps[i].ms);
        assert_string_equal(f->p.reason, steps[i].why);
        fake_host_advance(f->p.fh, 100);
        assert_int_equal(gate(f, rs, "x"), LR_WAIT);
        assert_int_equal(f->p.wait, steps[i].ms - 100);
        end(f, rs);
        fake_host_advance(f->p.fh, steps[i].ms - 100);
        /* Other targets are not cooled. */
        assert_int_equal(one(f, "y", LR_OK), LR_GO);
    }
    assert_int_equal(fake_host_counter(f->p.fh, "limits_cooldowns", "429"), 4);
    assert_int_equal(fake_host_counter(f->p.fh, "limits_waits", "cooldown"),
                     8);
    assert_true(fake_host_log_contains(f->p.fh, "INFO: target x: 2nd 429 in "
                                       "a row, cool-down 1500 ms"));
    /* A success ends the run: the next 429 is the 1st again. */
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_E_RATE_LIMITED), LR_GO);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: 1st 429 in a row, 500 ms "
                        "left");
    end(f, rs);
}

/* A provider hint longer than the schedule wins; past max_wait_ms the
   target is skipped. */
static void test_cooldown_hint_longer(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    report(f, rs, "x", LR_E_RATE_LIMITED, 3000);
    end(f, rs);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 3000);
    fake_host_advance(f->p.fh, 3000);
    rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    report(f, rs, "x", LR_E_RATE_LIMITED, 20000);
    end(f, rs);
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "cooldown: 2nd 429 in a row, 20000 ms "
                        "left");
    assert_int_equal(fake_host_counter(f->p.fh, "limits_skips", "cooldown"),
                     1);
    /* A shorter hint does not shorten the schedule. */
    fake_host_advance(f->p.fh, 20000);
    rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    report(f, rs, "x", LR_E_RATE_LIMITED, 10);
    end(f, rs);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 7000);
}

/* Concurrent attempts sent before the first 429 are one burst: one 429
   in a row, not four; a success from before the block does not end the
   run either. */
static void test_burst_counts_once(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    void *rs[4];
    for (int i = 0; i < 4; i++) {
        rs[i] = begin(f);
        assert_int_equal(gate(f, rs[i], "x"), LR_GO);
    }
    fake_host_advance(f->p.fh, 50);
    report(f, rs[0], "x", LR_E_RATE_LIMITED, -1);
    report(f, rs[1], "x", LR_E_RATE_LIMITED, -1);
    report(f, rs[2], "x", LR_OK, -1);
    report(f, rs[3], "x", LR_E_RATE_LIMITED, 800);
    for (int i = 0; i < 4; i++)
        end(f, rs[i]);
    assert_int_equal(fake_host_counter(f->p.fh, "limits_cooldowns", "429"), 1);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: 1st 429 in a row, 800 ms "
                        "left");
    fake_host_advance(f->p.fh, 800);
    assert_int_equal(one(f, "x", LR_E_RATE_LIMITED), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: 2nd 429 in a row, 1500 ms "
                        "left");
}

/* remaining = 0 with a reset: blocked until the reset, logged once. */
static void test_learns_from_remaining(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    struct lr_policy_attempt a = attempt("x", "", 0);
    a.rl_remaining_requests = 0;
    a.rl_reset_requests_ms = 2000;
    a.rl_remaining_tokens = 5000;
    a.rl_reset_tokens_ms = 9000;
    report_a(f, rs, &a);
    end(f, rs);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 2000);
    assert_string_equal(f->p.reason, "cooldown: provider reports no requests "
                        "left, 2000 ms left");
    assert_true(fake_host_log_contains(f->p.fh, "INFO: target x: provider "
                                       "reports no requests left, blocked "
                                       "for 2000 ms"));
    /* A second such answer does not log again but extends the block. */
    fake_host_log_clear(f->p.fh);
    fake_host_advance(f->p.fh, 500);
    report_a(f, NULL, &a);
    assert_string_equal(fake_host_log(f->p.fh), "");
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 2000);
    /* Tokens too; remaining > 0 or no reset teaches nothing. */
    fake_host_advance(f->p.fh, 2000);
    a.rl_remaining_requests = 3;
    a.rl_remaining_tokens = 0;
    a.rl_reset_tokens_ms = 700;
    report_a(f, NULL, &a);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: provider reports no tokens "
                        "left, 700 ms left");
    assert_int_equal(fake_host_counter(f->p.fh, "limits_cooldowns", "tokens"),
                     1);
    fake_host_advance(f->p.fh, 700);
    a.rl_remaining_tokens = 0;
    a.rl_reset_tokens_ms = -1;
    report_a(f, NULL, &a);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
}

static void test_max_inflight_and_lease_expiry(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "inflight_ttl_ms", "5000");
    fake_section_set(f->p.sec, "max_wait_ms", "600");
    fake_section_set(f->x, "max_inflight", "1");
    make_ok(f);
    void *r1 = begin(f), *r2 = begin(f);
    assert_int_equal(gate(f, r1, "x"), LR_GO);
    assert_int_equal(gate(f, r2, "x"), LR_WAIT);
    assert_int_equal(f->p.wait, 250);
    assert_string_equal(f->p.reason, "max_inflight: 1 of 1 in flight on "
                        "target x");
    /* The answer frees the slot. */
    report(f, r1, "x", LR_OK, -1);
    end(f, r1);
    assert_int_equal(gate(f, r2, "x"), LR_GO);
    /* r2 "crashes": never answered, never completed.  Waits add up to
       max_wait_ms, then the target is skipped. */
    void *r3 = begin(f);
    assert_int_equal(gate(f, r3, "x"), LR_WAIT);
    assert_int_equal(gate(f, r3, "x"), LR_WAIT);
    assert_int_equal(gate(f, r3, "x"), LR_SKIP); /* 750 > 600 */
    end(f, r3);
    /* Close to the lapse the wait is shorter than the poll. */
    fake_host_advance(f->p.fh, 4900);
    void *r4 = begin(f);
    assert_int_equal(gate(f, r4, "x"), LR_WAIT);
    assert_int_equal(f->p.wait, 100);
    fake_host_advance(f->p.fh, 100);
    assert_int_equal(gate(f, r4, "x"), LR_GO);
    end(f, r4); /* never answered: on_complete gives the slot back */
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    end(f, r2); /* its lease lapsed long ago: nothing to give back */
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
}

static void test_min_interval(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "min_interval_ms", "1000");
    make_ok(f);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 300);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_WAIT);
    assert_int_equal(f->p.wait, 700);
    assert_string_equal(f->p.reason, "min_interval: 300 ms since the last "
                        "send to target x, 700 ms left");
    fake_host_advance(f->p.fh, 700);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    end(f, rs);
    assert_int_equal(one(f, "y", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 1000);
}

/* The longest of several waits is the one returned. */
static void test_longest_wait_wins(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "window_ms", "3000");
    fake_section_set(f->x, "min_interval_ms", "1000");
    fake_section_set(f->x, "rpm", "1");
    make_ok(f);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_WAIT);
    assert_int_equal(f->p.wait, 3030);
    assert_string_equal(f->p.reason, "rate_window_full: rpm 1 of target x "
                        "used, room in 3030 ms");
}

static void test_per_user_rpm(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "per_user_rpm", "2");
    make_ok(f);
    struct lr_policy_req alice = {1, NULL, "alice", NULL, 0};
    struct lr_policy_req bob = {2, NULL, "bob", NULL, 0};
    void *rs = NULL;
    char msg[200];
    int64_t hint = -1;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->p.ops->on_request(f->p.inst, &alice, &rs, msg,
                                              sizeof msg, &hint), LR_OK);
        f->p.ops->on_complete(f->p.inst, &alice, rs, NULL);
    }
    fake_host_advance(f->p.fh, 600);
    msg[0] = '\0';
    assert_int_equal(f->p.ops->on_request(f->p.inst, &alice, &rs, msg,
                                          sizeof msg, &hint),
                     LR_E_RATE_LIMITED_LOCAL);
    f->p.ops->on_complete(f->p.inst, &alice, rs, NULL);
    assert_int_equal(hint, 60000);
    assert_string_equal(msg, "per_user_rpm: 2 requests in the last 60000 ms "
                        "(limit 2), room in 60000 ms");
    assert_int_equal(fake_host_counter(f->p.fh, "limits_rejected",
                                       "per_user_rpm"), 1);
    /* Another user, and a request without one, are not limited. */
    assert_int_equal(f->p.ops->on_request(f->p.inst, &bob, &rs, msg, sizeof msg,
                                          &hint), LR_OK);
    f->p.ops->on_complete(f->p.inst, &bob, rs, NULL);
    for (int i = 0; i < 5; i++)
        end(f, begin(f));
    /* A rejection is not counted: room comes back on time. */
    fake_host_advance(f->p.fh, 60000);
    assert_int_equal(f->p.ops->on_request(f->p.inst, &alice, &rs, msg,
                                          sizeof msg, &hint), LR_OK);
    f->p.ops->on_complete(f->p.inst, &alice, rs, NULL);
}

/* Asked again after another policy's wait: the same GO, counted once.
   GO'd but then skipped by a later policy (the next before_attempt is
   for another target): given back. */
static void test_reask_and_abandon(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "rpm", "2");
    fake_section_set(f->x, "max_inflight", "1");
    make_ok(f);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    assert_int_equal(gate(f, rs, "x"), LR_GO);
    /* A later policy skipped x: the core moves on to y. */
    assert_int_equal(gate(f, rs, "y"), LR_GO);
    report(f, rs, "y", LR_OK, -1);
    end(f, rs);
    /* x's count and slot came back: two more fit, the third does not. */
    void *r1 = begin(f);
    assert_int_equal(gate(f, r1, "x"), LR_GO);
    report(f, r1, "x", LR_OK, -1);
    end(f, r1);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "rate_window_full: rpm 2 of target x "
                        "used, room in 60600 ms");
}

/* Two instances on one store stand for two processes sharing it. */
static void test_shared_store_two_instances(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->x, "rpm", "2");
    make_ok(f);
    void *other = NULL, *keep = f->p.inst;
    char err[128];
    assert_int_equal(f->p.desc->create(f->p.sec, f->p.h, &other, err,
                                       sizeof err), LR_OK);
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    f->p.inst = other;
    assert_int_equal(one(f, "x", LR_OK), LR_GO);
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    /* and a cool-down one of them starts holds the other back */
    assert_int_equal(one(f, "y", LR_E_RATE_LIMITED), LR_GO);
    f->p.inst = keep;
    assert_int_equal(one(f, "x", LR_OK), LR_SKIP);
    assert_int_equal(one(f, "y", LR_OK), LR_WAIT);
    assert_string_equal(f->p.reason, "cooldown: 1st 429 in a row, 500 ms "
                        "left");
    f->p.desc->destroy(other);
}

#define T(fn) \
    cmocka_unit_test_setup_teardown(fn, setup, policy_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_config_errors),
        T(test_bad_target_config),
        T(test_rpm_window),
        T(test_short_window_only_go_counts),
        T(test_tpm_window_and_correction),
        T(test_tpm_oversized_request),
        T(test_rpd_window),
        T(test_per_key_windows),
        T(test_cooldown_schedule_and_reset),
        T(test_cooldown_hint_longer),
        T(test_burst_counts_once),
        T(test_learns_from_remaining),
        T(test_max_inflight_and_lease_expiry),
        T(test_min_interval),
        T(test_longest_wait_wins),
        T(test_per_user_rpm),
        T(test_reask_and_abandon),
        T(test_shared_store_two_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
