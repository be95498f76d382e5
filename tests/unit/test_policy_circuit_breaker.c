/*
 * test_policy_circuit_breaker.c - the circuit_breaker policy, loaded as
 * the real build/plugins/circuit_breaker.so and driven through its hooks
 * with the fake host, a real memory store and the fake clock: the key
 * table, config errors, tripping on consecutive failures (only counted
 * classes; a success resets), the ratio rule with its minimum volume and
 * window expiry, the open skip and its reason, half-open probe limits,
 * a probe closing or re-opening with a doubled period up to the cap,
 * transition logs and counters, the breaker_state gauge, a success
 * recorded once, a late answer from before the trip, two instances
 * on one store, and two instances' gauges and transition counters kept
 * apart.
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

#define COUNTER "breaker_transitions"

struct fx {
    struct policy_fx p;
};

static int setup(void **state)
{
    return policy_fx_setup(state, sizeof(struct fx), "circuit_breaker",
                           "breaker", POLICY_FX_STORE);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* --- Driving the hooks -------------------------------------------------- */

static const struct lr_policy_req REQ = {.id = 7};

static void *begin(struct fx *f)
{
    return policy_fx_begin(&f->p, &REQ);
}

static enum lr_verdict gate(struct fx *f, void *rs, const char *target)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    enum lr_verdict v = policy_fx_before(&f->p, &REQ, rs, &a);
    assert_int_equal(f->p.wait, 0);
    return v;
}

static void report(struct fx *f, void *rs, const char *target,
                   enum lr_status err)
{
    struct lr_policy_attempt a = policy_fx_attempt(target);
    a.error = err;
    policy_fx_after_default(&f->p, &REQ, rs, &a);
}

/* on_complete with the final attempt on target ending with err. */
static void end(struct fx *f, void *rs, const char *target,
                enum lr_status err)
{
    struct lr_policy_attempt fin = policy_fx_attempt(target);
    fin.error = err;
    f->p.ops->on_complete(f->p.inst, &REQ, rs, &fin);
}

/* A whole request with one attempt on target: err LR_OK is a success
   (reported to on_complete only, as the core does).  Returns the verdict
   of before_attempt; a skipped target sends nothing. */
static enum lr_verdict one(struct fx *f, const char *target,
                           enum lr_status err)
{
    void *rs = begin(f);
    enum lr_verdict v = gate(f, rs, target);
    if (v == LR_GO && err != LR_OK)
        report(f, rs, target, err);
    end(f, rs, target, v == LR_GO ? err : LR_E_NO_TARGET);
    return v;
}

static void fail_n(struct fx *f, const char *target, enum lr_status err,
                   int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(one(f, target, err), LR_GO);
}

/* breaker_transitions{"<instance>/<target>:<state>"}. */
static double transitions_of(struct fx *f, const char *label)
{
    return fake_host_counter(f->p.fh, COUNTER, label);
}

/* The same for this fixture's instance, [policy breaker]. */
static double transitions(struct fx *f, const char *label)
{
    char full[64];
    snprintf(full, sizeof full, "breaker/%s", label);
    return transitions_of(f, full);
}

/* --- Tests --------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {
        "failures", "open_ms", "max_open_ms", "half_open_probes", "window",
        "failure_ratio", "min_requests", "count_classes"};
    static const char *const defs[] = {
        "5", "30000", "300000", "1", "60000", "0", "20",
        "overloaded, server_error, timeout, network"};
    assert_string_equal(f->p.desc->name, "circuit_breaker");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->before_attempt);
    assert_non_null(f->p.ops->after_attempt);
    assert_non_null(f->p.ops->on_complete);
    assert_null(f->p.ops->route);
    assert_int_equal(f->p.ops->n_keys, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(f->p.ops->keys[i].key, names[i]);
        assert_string_equal(f->p.ops->keys[i].def, defs[i]);
    }
    assert_int_equal(f->p.ops->keys[5].type, LR_CFG_DOUBLE);
    assert_int_equal(f->p.ops->keys[7].type, LR_CFG_LIST);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct policy_fx_bad bad[] = {
        {"count_classes", "overloaded, overloadd", "count_classes: "
                                                   "'overloadd' is not"},
        {"count_classes", "server_error, bad_request",
         "count_classes: 'bad_request' belongs to the request"},
        {"count_classes", "context_length", "count_classes: "
                                            "'context_length' belongs"},
        {"count_classes", "", "count_classes: empty"},
        {"failures", "-1", "failures: must be at least 1"},
        {"failures", "0", "failures: "},
        {"open_ms", "-5", "open_ms: "},
        {"max_open_ms", "1000", "max_open_ms: must be at least open_ms"},
        {"half_open_probes", "0", "half_open_probes: "},
        {"window", "-60000", "window: "},
        {"min_requests", "-1", "min_requests: "},
        {"failure_ratio", "-0.5", "failure_ratio: "},
        {"failure_ratio", "1.5", "failure_ratio: must be 0 (off)"},
        {"window", "1000000000001", "window: must be at most"},
        {"max_open_ms", "9000000000000", "max_open_ms: must be at most"},
    };
    policy_fx_check_bad(&f->p, bad, sizeof bad / sizeof bad[0]);
    /* Any other error class may be counted. */
    fake_section_set(f->p.sec, "count_classes", "rate_limited, auth, protocol");
    fake_section_set(f->p.sec, "failure_ratio", "1");
    make_ok(f);
}

static void test_trips_after_consecutive_failures(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "3");
    make_ok(f);
    fail_n(f, "a", LR_E_OVERLOADED, 2);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "WARN") &&
                fake_host_log_contains(f->p.fh, "target a: closed -> open "
                                       "for 30000 ms after 3 consecutive "
                                       "failures"));
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_open (30000 ms left)");
    /* Other targets have their own breaker. */
    assert_int_equal(one(f, "b", LR_OK), LR_GO);
    fake_host_advance(f->p.fh, 12345);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_open (17655 ms left)");
}

static void test_success_resets_and_ignored_classes(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "3");
    make_ok(f);
    fail_n(f, "a", LR_E_TIMEOUT, 2);
    assert_int_equal(one(f, "a", LR_OK), LR_GO); /* resets */
    fail_n(f, "a", LR_E_NETWORK, 2);
    /* Never counted: neither trips nor resets the count. */
    fail_n(f, "a", LR_E_BAD_REQUEST, 10);
    fail_n(f, "a", LR_E_CONTEXT_LENGTH, 10);
    fail_n(f, "a", LR_E_RATE_LIMITED, 10);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
}

static void test_count_classes_configurable(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "2");
    fake_section_set(f->p.sec, "count_classes", "rate_limited");
    make_ok(f);
    fail_n(f, "a", LR_E_SERVER_ERROR, 5);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_RATE_LIMITED, 2);
    assert_int_equal(transitions(f, "a:open"), 1);
}

/* Alternate n successes and n failures (so no consecutive run). */
static void mixed(struct fx *f, const char *target, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(one(f, target, LR_OK), LR_GO);
        assert_int_equal(one(f, target, LR_E_SERVER_ERROR), LR_GO);
    }
}

static void test_ratio_rule_needs_volume(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failure_ratio", "0.5");
    fake_section_set(f->p.sec, "min_requests", "10");
    make_ok(f);
    mixed(f, "a", 4); /* 8 attempts, half failed: below the volume */
    assert_int_equal(transitions(f, "a:open"), 0);
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:open"), 0); /* 4 of 9 */
    assert_int_equal(one(f, "a", LR_E_TIMEOUT), LR_GO); /* 5 of 10 */
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "target a: closed -> open "
                                       "for 30000 ms after a failure ratio "
                                       "of 0.50 over 10 attempts in 60000 "
                                       "ms"));
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
}

static void test_ratio_window_expires(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failure_ratio", "0.5");
    fake_section_set(f->p.sec, "min_requests", "4");
    fake_section_set(f->p.sec, "window", "1000");
    make_ok(f);
    fail_n(f, "a", LR_E_SERVER_ERROR, 3);
    /* Two windows later those failures are gone: had they stayed, the
       next failure would make 4 of 4. */
    fake_host_advance(f->p.fh, 2000);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:open"), 0);
    /* Within the window they add up: 2 of 5 is fine, 3 of 6 trips. */
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "failure ratio of 0.50 over "
                                       "6 attempts in 1000 ms"));
}

/* Trip target a (failures = 1) and move past the open period. */
static void trip_and_wait(struct fx *f, int64_t ms)
{
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    fake_host_advance(f->p.fh, ms);
}

static void test_half_open_probe_limit(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "1");
    fake_section_set(f->p.sec, "open_ms", "1000");
    fake_section_set(f->p.sec, "half_open_probes", "2");
    make_ok(f);
    trip_and_wait(f, 1000);
    void *r1 = begin(f), *r2 = begin(f), *r3 = begin(f);
    assert_int_equal(gate(f, r1, "a"), LR_GO);
    assert_true(fake_host_log_contains(f->p.fh, "target a: open -> "
                                       "half-open after 1000 ms open"));
    assert_int_equal(transitions(f, "a:half_open"), 1);
    assert_int_equal(gate(f, r2, "a"), LR_GO);
    assert_int_equal(gate(f, r3, "a"), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_half_open (2 of 2 probes in "
                                   "flight)");
    /* The same request asking again keeps its probe. */
    assert_int_equal(gate(f, r1, "a"), LR_GO);
    assert_int_equal(gate(f, r3, "a"), LR_SKIP);
    /* A probe that ends without an outcome (cancelled, skipped by a later
       policy) gives its slot back in on_complete. */
    end(f, r1, "a", LR_E_CANCELLED);
    assert_int_equal(gate(f, r3, "a"), LR_GO);
    /* A non-counted answer frees the slot and leaves it half-open. */
    report(f, r2, "a", LR_E_BAD_REQUEST);
    end(f, r2, "a", LR_E_BAD_REQUEST);
    void *r4 = begin(f);
    assert_int_equal(gate(f, r4, "a"), LR_GO);
    assert_int_equal(transitions(f, "a:half_open"), 1);
    end(f, r3, "b", LR_OK);
    end(f, r4, "b", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 0);
}

static void test_probe_success_closes(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "2");
    fake_section_set(f->p.sec, "open_ms", "1000");
    make_ok(f);
    fail_n(f, "a", LR_E_OVERLOADED, 2);
    fake_host_advance(f->p.fh, 1000);
    void *probe = begin(f), *other = begin(f);
    assert_int_equal(gate(f, probe, "a"), LR_GO);
    assert_int_equal(gate(f, other, "a"), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_half_open (1 of 1 probes in "
                                   "flight)");
    /* A success that was not the probe (say on b) closes nothing. */
    end(f, other, "b", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 0);
    end(f, probe, "a", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 1);
    assert_true(fake_host_log_contains(f->p.fh, "target a: half-open -> "
                                       "closed after a successful probe"));
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    /* History forgotten: a fresh run of failures, the base period. */
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(transitions(f, "a:open"), 2);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_open (1000 ms left)");
}

/* One probe on a that fails with a counted class. */
static void failed_probe(struct fx *f)
{
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "a"), LR_GO);
    report(f, rs, "a", LR_E_TIMEOUT);
    end(f, rs, "a", LR_E_TIMEOUT);
}

static void test_probe_failure_doubles_to_cap(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "1");
    fake_section_set(f->p.sec, "open_ms", "1000");
    fake_section_set(f->p.sec, "max_open_ms", "3000");
    make_ok(f);
    trip_and_wait(f, 1000);
    static const int64_t expect[] = {2000, 3000, 3000};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        failed_probe(f);
        assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
        snprintf(want, sizeof want, "breaker_open (%lld ms left)",
                 (long long)expect[i]);
        assert_string_equal(f->p.reason, want);
        fake_host_advance(f->p.fh, expect[i] - 1);
        assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
        assert_string_equal(f->p.reason, "breaker_open (1 ms left)");
        fake_host_advance(f->p.fh, 1);
    }
    assert_true(fake_host_log_contains(f->p.fh, "target a: half-open -> open "
                                       "for 2000 ms after a failed probe "
                                       "(timeout)"));
    assert_int_equal(transitions(f, "a:open"), 4);
    assert_int_equal(transitions(f, "a:half_open"), 3);
    /* The fourth probe succeeds: closed, and a new trip starts at 1000. */
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:closed"), 1);
    trip_and_wait(f, 0);
    assert_string_equal(f->p.reason, "breaker_open (1000 ms left)");
}

/* A success seen by both after_attempt and on_complete (should a core
   report successes to after_attempt too) is one attempt for the ratio. */
static void test_success_recorded_once(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failure_ratio", "0.6");
    fake_section_set(f->p.sec, "min_requests", "3");
    make_ok(f);
    void *rs = begin(f);
    assert_int_equal(gate(f, rs, "a"), LR_GO);
    report(f, rs, "a", LR_OK);
    end(f, rs, "a", LR_OK);
    /* Counted twice it would be 2 of 4; once, 2 of 3 trips. */
    fail_n(f, "a", LR_E_SERVER_ERROR, 2);
    assert_int_equal(transitions(f, "a:open"), 1);
}

static void test_late_failure_does_not_reopen(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "1");
    fake_section_set(f->p.sec, "open_ms", "1000");
    make_ok(f);
    /* An attempt sent while closed answers after the trip. */
    void *slow = begin(f);
    assert_int_equal(gate(f, slow, "a"), LR_GO);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    fake_host_advance(f->p.fh, 1000);
    void *probe = begin(f);
    assert_int_equal(gate(f, probe, "a"), LR_GO);
    report(f, slow, "a", LR_E_OVERLOADED);
    end(f, slow, "a", LR_E_OVERLOADED);
    assert_int_equal(transitions(f, "a:open"), 1);
    end(f, probe, "a", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 1);
}

static void test_shared_store_two_instances(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "1");
    make_ok(f);
    /* A second instance on the same store: another process sharing it. */
    void *other = NULL;
    char err[128];
    assert_int_equal(f->p.desc->create(f->p.sec, f->p.h, &other, err,
                                       sizeof err), LR_OK);
    fail_n(f, "a", LR_E_NETWORK, 1);
    void *keep = f->p.inst;
    f->p.inst = other;
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->p.reason, "breaker_open (30000 ms left)");
    f->p.inst = keep;
    f->p.desc->destroy(other);
}

/* breaker_state{"breaker/target"} (this instance's): -1 when never
   set. */
static double gauge_of(struct fx *f, const char *label)
{
    double v = -1;
    return fake_host_gauge(f->p.fh, "breaker_state", label, &v) ? v : -1;
}

static double gauge(struct fx *f, const char *target)
{
    char label[64];
    snprintf(label, sizeof label, "breaker/%s", target);
    return gauge_of(f, label);
}

/* 0 closed, 1 half-open, 2 open: set on every transition and on every
   read of the state, so a state another process stored shows too. */
static void test_state_gauge(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "failures", "2");
    fake_section_set(f->p.sec, "open_ms", "1000");
    make_ok(f);
    assert_true(gauge(f, "a") == -1);
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_true(gauge(f, "a") == 0);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_true(gauge(f, "a") == 0);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_true(gauge(f, "a") == 2);
    assert_true(gauge(f, "b") == -1);
    /* As if another process had tripped it: the next read shows it. */
    f->p.h->gauge_set(f->p.h, "breaker_state", "breaker/a", 0);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_true(gauge(f, "a") == 2);
    fake_host_advance(f->p.fh, 1000);
    void *probe = begin(f);
    assert_int_equal(gate(f, probe, "a"), LR_GO);
    assert_true(gauge(f, "a") == 1);
    report(f, probe, "a", LR_E_TIMEOUT);
    assert_true(gauge(f, "a") == 2);
    end(f, probe, "a", LR_E_TIMEOUT);
    fake_host_advance(f->p.fh, 2000);
    probe = begin(f);
    assert_int_equal(gate(f, probe, "a"), LR_GO);
    assert_true(gauge(f, "a") == 1);
    end(f, probe, "a", LR_OK);
    assert_true(gauge(f, "a") == 0);
    assert_true(gauge_of(f, "a") == -1);    /* never the bare target */
}

/* Two instances on one host (as in one router: one metrics table), a
   strict [policy breaker] and a lenient [policy slow]: each shows its
   own state of target a, labelled by its section, so one's transition
   does not overwrite the other's state, and counts its own
   transitions. */
static void test_state_gauge_two_instances(void **state)
{
    struct fx *f = *state;
    char err[256];
    void *slow = NULL;
    fake_section_set(f->p.sec, "failures", "1");
    make_ok(f);
    struct lr_section *ss = fake_section_new("slow");
    assert_non_null(ss);
    fake_section_set_keys(ss, f->p.ops->keys, f->p.ops->n_keys);
    fake_section_set(ss, "failures", "3");
    int rc = f->p.desc->create(ss, f->p.h, &slow, err, sizeof err);
    if (rc != LR_OK) {
        fake_section_free(ss);
        fail_msg("create: %s", err);
    }
    void *strict = f->p.inst;
    /* The fake store is not namespaced (the core's is, per instance), so
       each instance reads a's state while it is closed, then only the
       strict one trips it: the lenient one's series keeps its value. */
    f->p.inst = slow;
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    f->p.inst = strict;
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_true(gauge_of(f, "slow/a") == 0);
    assert_true(gauge_of(f, "breaker/a") == 0);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_true(gauge_of(f, "breaker/a") == 2);
    assert_true(gauge_of(f, "slow/a") == 0);
    assert_true(gauge_of(f, "a") == -1);
    /* The transitions counter is per instance too: the strict one's
       trip, then the lenient one (reading the shared fake store) probing
       a once the period is over and closing it, each in its own series,
       never summed under the bare target. */
    assert_true(transitions_of(f, "breaker/a:open") == 1);
    assert_true(transitions_of(f, "slow/a:open") == 0);
    fake_host_advance(f->p.fh, 30000);
    f->p.inst = slow;
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_true(transitions_of(f, "slow/a:half_open") == 1);
    assert_true(transitions_of(f, "slow/a:closed") == 1);
    assert_true(transitions_of(f, "breaker/a:half_open") == 0);
    assert_true(transitions_of(f, "breaker/a:closed") == 0);
    assert_true(transitions_of(f, "breaker/a:open") == 1);
    assert_true(transitions_of(f, "a:open") == 0);
    assert_true(transitions_of(f, "a:half_open") == 0);
    assert_true(gauge_of(f, "slow/a") == 0);
    f->p.inst = strict;
    f->p.desc->destroy(slow);
    fake_section_free(ss);
}

#define T(fn) \
    cmocka_unit_test_setup_teardown(fn, setup, policy_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_config_errors),
        T(test_trips_after_consecutive_failures),
        T(test_success_resets_and_ignored_classes),
        T(test_count_classes_configurable),
        T(test_ratio_rule_needs_volume),
        T(test_ratio_window_expires),
        T(test_half_open_probe_limit),
        T(test_probe_success_closes),
        T(test_probe_failure_doubles_to_cap),
        T(test_success_recorded_once),
        T(test_late_failure_does_not_reopen),
        T(test_shared_store_two_instances),
        T(test_state_gauge),
        T(test_state_gauge_two_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
