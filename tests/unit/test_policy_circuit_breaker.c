/*
 * test_policy_circuit_breaker.c - the circuit_breaker policy, loaded as
 * the real build/plugins/circuit_breaker.so and driven through its hooks
 * with the fake host, a real memory store and the fake clock: the key
 * table, config errors, tripping on consecutive failures (only counted
 * classes; a success resets), the ratio rule with its minimum volume and
 * window expiry, the open skip and its reason, half-open probe limits,
 * a probe closing or re-opening with a doubled period up to the cap,
 * transition logs and counters, a success recorded once, a late answer
 * from before the trip, and two instances on one store.
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

#define COUNTER "breaker_transitions"

struct fx {
    void *handle;
    const struct lr_plugin_desc *desc;
    const struct lr_policy_ops *ops;
    struct fake_host *fh;
    struct lr_section *sec;
    void *inst;
    char reason[256];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->desc = fake_plugin_open("circuit_breaker", &f->handle);
    if (!f->desc)
        return -1;
    f->ops = f->desc->ops;
    f->fh = fake_host_new();
    f->sec = fake_section_new("breaker");
    if (!f->fh || !f->sec || fake_host_use_memory_store(f->fh) != 0)
        return -1;
    fake_host_set_time(f->fh, 1000000, 1700000000000);
    fake_section_set_keys(f->sec, f->ops->keys, f->ops->n_keys);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->inst)
        f->desc->destroy(f->inst);
    fake_section_free(f->sec);
    fake_host_free(f->fh);
    fake_plugin_close(f->handle);
    free(f);
    return 0;
}

static int make(struct fx *f, char *err, size_t errlen)
{
    err[0] = '\0';
    return f->desc->create(f->sec, fake_host_table(f->fh), &f->inst, err,
                           errlen);
}

static void make_ok(struct fx *f)
{
    char err[256];
    if (make(f, err, sizeof err) != LR_OK)
        fail_msg("create failed: %s", err);
}

/* create() must fail with an error starting with prefix. */
static void make_fails(struct fx *f, const char *prefix)
{
    char err[256];
    assert_int_equal(make(f, err, sizeof err), LR_E_CONFIG);
    assert_null(f->inst);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, prefix);
}

/* --- Driving the hooks -------------------------------------------------- */

static const struct lr_policy_req REQ = {.id = 7};

static void *begin(struct fx *f)
{
    void *rs = NULL;
    char msg[64];
    int64_t hint = -1;
    assert_int_equal(f->ops->on_request(f->inst, &REQ, &rs, msg, sizeof msg,
                                        &hint), LR_OK);
    assert_non_null(rs);
    return rs;
}

static enum lr_verdict gate(struct fx *f, void *rs, const char *target)
{
    struct lr_policy_attempt a = {0};
    a.target = target;
    a.retry_after_ms = -1;
    int64_t wait = 0;
    f->reason[0] = '\0';
    enum lr_verdict v = f->ops->before_attempt(f->inst, &REQ, rs, &a, &wait,
                                               f->reason, sizeof f->reason);
    assert_int_equal(wait, 0);
    return v;
}

static void report(struct fx *f, void *rs, const char *target,
                   enum lr_status err)
{
    struct lr_policy_attempt a = {0};
    a.target = target;
    a.error = err;
    a.retry_after_ms = -1;
    int64_t delay = 0;
    char why[64] = "";
    assert_int_equal(f->ops->after_attempt(f->inst, &REQ, rs, &a, &delay,
                                           why, sizeof why),
                     LR_NEXT_DEFAULT);
}

/* on_complete with the final attempt on target ending with err. */
static void end(struct fx *f, void *rs, const char *target,
                enum lr_status err)
{
    struct lr_policy_attempt fin = {0};
    fin.target = target;
    fin.error = err;
    fin.retry_after_ms = -1;
    f->ops->on_complete(f->inst, &REQ, rs, &fin);
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

static double transitions(struct fx *f, const char *label)
{
    return fake_host_counter(f->fh, COUNTER, label);
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
    assert_string_equal(f->desc->name, "circuit_breaker");
    assert_int_equal(f->desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->ops->before_attempt);
    assert_non_null(f->ops->after_attempt);
    assert_non_null(f->ops->on_complete);
    assert_null(f->ops->route);
    assert_int_equal(f->ops->n_keys, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(f->ops->keys[i].key, names[i]);
        assert_string_equal(f->ops->keys[i].def, defs[i]);
    }
    assert_int_equal(f->ops->keys[5].type, LR_CFG_DOUBLE);
    assert_int_equal(f->ops->keys[7].type, LR_CFG_LIST);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *key, *value, *prefix;
    } bad[] = {
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
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_section_set(f->sec, bad[i].key, bad[i].value);
        make_fails(f, bad[i].prefix);
        fake_section_set(f->sec, bad[i].key, NULL);
    }
    /* Any other error class may be counted. */
    fake_section_set(f->sec, "count_classes", "rate_limited, auth, protocol");
    fake_section_set(f->sec, "failure_ratio", "1");
    make_ok(f);
}

static void test_trips_after_consecutive_failures(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->sec, "failures", "3");
    make_ok(f);
    fail_n(f, "a", LR_E_OVERLOADED, 2);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->fh, "WARN") &&
                fake_host_log_contains(f->fh, "target a: closed -> open "
                                       "for 30000 ms after 3 consecutive "
                                       "failures"));
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->reason, "breaker_open (30000 ms left)");
    /* Other targets have their own breaker. */
    assert_int_equal(one(f, "b", LR_OK), LR_GO);
    fake_host_advance(f->fh, 12345);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->reason, "breaker_open (17655 ms left)");
}

static void test_success_resets_and_ignored_classes(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->sec, "failures", "3");
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
    fake_section_set(f->sec, "failures", "2");
    fake_section_set(f->sec, "count_classes", "rate_limited");
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
    fake_section_set(f->sec, "failure_ratio", "0.5");
    fake_section_set(f->sec, "min_requests", "10");
    make_ok(f);
    mixed(f, "a", 4); /* 8 attempts, half failed: below the volume */
    assert_int_equal(transitions(f, "a:open"), 0);
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:open"), 0); /* 4 of 9 */
    assert_int_equal(one(f, "a", LR_E_TIMEOUT), LR_GO); /* 5 of 10 */
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->fh, "target a: closed -> open "
                                       "for 30000 ms after a failure ratio "
                                       "of 0.50 over 10 attempts in 60000 "
                                       "ms"));
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
}

static void test_ratio_window_expires(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->sec, "failure_ratio", "0.5");
    fake_section_set(f->sec, "min_requests", "4");
    fake_section_set(f->sec, "window", "1000");
    make_ok(f);
    fail_n(f, "a", LR_E_SERVER_ERROR, 3);
    /* Two windows later those failures are gone: had they stayed, the
       next failure would make 4 of 4. */
    fake_host_advance(f->fh, 2000);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:open"), 0);
    /* Within the window they add up: 2 of 5 is fine, 3 of 6 trips. */
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 0);
    fail_n(f, "a", LR_E_SERVER_ERROR, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    assert_true(fake_host_log_contains(f->fh, "failure ratio of 0.50 over "
                                       "6 attempts in 1000 ms"));
}

/* Trip target a (failures = 1) and move past the open period. */
static void trip_and_wait(struct fx *f, int64_t ms)
{
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    fake_host_advance(f->fh, ms);
}

static void test_half_open_probe_limit(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->sec, "failures", "1");
    fake_section_set(f->sec, "open_ms", "1000");
    fake_section_set(f->sec, "half_open_probes", "2");
    make_ok(f);
    trip_and_wait(f, 1000);
    void *r1 = begin(f), *r2 = begin(f), *r3 = begin(f);
    assert_int_equal(gate(f, r1, "a"), LR_GO);
    assert_true(fake_host_log_contains(f->fh, "target a: open -> "
                                       "half-open after 1000 ms open"));
    assert_int_equal(transitions(f, "a:half_open"), 1);
    assert_int_equal(gate(f, r2, "a"), LR_GO);
    assert_int_equal(gate(f, r3, "a"), LR_SKIP);
    assert_string_equal(f->reason, "breaker_half_open (2 of 2 probes in "
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
    fake_section_set(f->sec, "failures", "2");
    fake_section_set(f->sec, "open_ms", "1000");
    make_ok(f);
    fail_n(f, "a", LR_E_OVERLOADED, 2);
    fake_host_advance(f->fh, 1000);
    void *probe = begin(f), *other = begin(f);
    assert_int_equal(gate(f, probe, "a"), LR_GO);
    assert_int_equal(gate(f, other, "a"), LR_SKIP);
    assert_string_equal(f->reason, "breaker_half_open (1 of 1 probes in "
                                   "flight)");
    /* A success that was not the probe (say on b) closes nothing. */
    end(f, other, "b", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 0);
    end(f, probe, "a", LR_OK);
    assert_int_equal(transitions(f, "a:closed"), 1);
    assert_true(fake_host_log_contains(f->fh, "target a: half-open -> "
                                       "closed after a successful probe"));
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    /* History forgotten: a fresh run of failures, the base period. */
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(transitions(f, "a:open"), 1);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    assert_int_equal(transitions(f, "a:open"), 2);
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->reason, "breaker_open (1000 ms left)");
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
    fake_section_set(f->sec, "failures", "1");
    fake_section_set(f->sec, "open_ms", "1000");
    fake_section_set(f->sec, "max_open_ms", "3000");
    make_ok(f);
    trip_and_wait(f, 1000);
    static const int64_t expect[] = {2000, 3000, 3000};
    for (size_t i = 0; i < 3; i++) {
        char want[64];
        failed_probe(f);
        assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
        snprintf(want, sizeof want, "breaker_open (%lld ms left)",
                 (long long)expect[i]);
        assert_string_equal(f->reason, want);
        fake_host_advance(f->fh, expect[i] - 1);
        assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
        assert_string_equal(f->reason, "breaker_open (1 ms left)");
        fake_host_advance(f->fh, 1);
    }
    assert_true(fake_host_log_contains(f->fh, "target a: half-open -> open "
                                       "for 2000 ms after a failed probe "
                                       "(timeout)"));
    assert_int_equal(transitions(f, "a:open"), 4);
    assert_int_equal(transitions(f, "a:half_open"), 3);
    /* The fourth probe succeeds: closed, and a new trip starts at 1000. */
    assert_int_equal(one(f, "a", LR_OK), LR_GO);
    assert_int_equal(transitions(f, "a:closed"), 1);
    trip_and_wait(f, 0);
    assert_string_equal(f->reason, "breaker_open (1000 ms left)");
}

/* A success seen by both after_attempt and on_complete (should a core
   report successes to after_attempt too) is one attempt for the ratio. */
static void test_success_recorded_once(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->sec, "failure_ratio", "0.6");
    fake_section_set(f->sec, "min_requests", "3");
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
    fake_section_set(f->sec, "failures", "1");
    fake_section_set(f->sec, "open_ms", "1000");
    make_ok(f);
    /* An attempt sent while closed answers after the trip. */
    void *slow = begin(f);
    assert_int_equal(gate(f, slow, "a"), LR_GO);
    fail_n(f, "a", LR_E_OVERLOADED, 1);
    fake_host_advance(f->fh, 1000);
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
    fake_section_set(f->sec, "failures", "1");
    make_ok(f);
    /* A second instance on the same store: another process sharing it. */
    void *other = NULL;
    char err[128];
    assert_int_equal(f->desc->create(f->sec, fake_host_table(f->fh), &other,
                                     err, sizeof err), LR_OK);
    fail_n(f, "a", LR_E_NETWORK, 1);
    void *keep = f->inst;
    f->inst = other;
    assert_int_equal(one(f, "a", LR_OK), LR_SKIP);
    assert_string_equal(f->reason, "breaker_open (30000 ms left)");
    f->inst = keep;
    f->desc->destroy(other);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
