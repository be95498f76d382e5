/*
 * test_fake_host.c - the fake host other plugin tests build on: config
 * getters and their defaults, the recorded log and counters, the fake
 * clock, the inert store and the candidate list.  Cheap to run, and it
 * keeps a broken fake from passing for a broken plugin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "llmroute_plugin.h"
#include "support/fake_host.h"

static const struct lr_cfg_key keys[] = {
    {"rpm", LR_CFG_INT, "60", NULL},
    {"ratio", LR_CFG_DOUBLE, "0.5", NULL},
    {"on", LR_CFG_BOOL, "yes", NULL},
    {"chain", LR_CFG_LIST, "a, b ,c", NULL},
    {"name", LR_CFG_STRING, NULL, NULL},
};

static void test_cfg(void **state)
{
    struct fake_host *fh = fake_host_new();
    const struct lr_host *h = fake_host_table(fh);
    struct lr_section *s = fake_section_new("policy x");
    const char *str;
    const char *const *items;
    size_t n;
    int64_t i;
    double d;
    int b;
    (void)state;

    assert_string_equal(h->section_name(s), "policy x");
    assert_int_equal(h->cfg_int(s, "rpm", &i), LR_E_NOT_FOUND);
    fake_section_set_keys(s, keys, sizeof keys / sizeof keys[0]);
    assert_int_equal(h->cfg_int(s, "rpm", &i), LR_OK);
    assert_int_equal(i, 60);
    assert_int_equal(h->cfg_double(s, "ratio", &d), LR_OK);
    assert_true(d == 0.5);
    assert_int_equal(h->cfg_bool(s, "on", &b), LR_OK);
    assert_int_equal(b, 1);
    assert_int_equal(h->cfg_list(s, "chain", &items, &n), LR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[1], "b");
    assert_int_equal(h->cfg_str(s, "name", &str), LR_E_NOT_FOUND);

    fake_section_set(s, "rpm", "15");
    fake_section_set(s, "on", "Off");
    fake_section_set(s, "name", "gpt");
    fake_section_set(s, "ratio", "abc");
    assert_int_equal(h->cfg_int(s, "rpm", &i), LR_OK);
    assert_int_equal(i, 15);
    assert_int_equal(h->cfg_bool(s, "on", &b), LR_OK);
    assert_int_equal(b, 0);
    assert_int_equal(h->cfg_str(s, "name", &str), LR_OK);
    assert_string_equal(str, "gpt");
    assert_int_equal(h->cfg_double(s, "ratio", &d), LR_E_CONFIG);
    fake_section_set(s, "rpm", NULL);
    assert_int_equal(h->cfg_int(s, "rpm", &i), LR_OK);
    assert_int_equal(i, 60);
    assert_int_equal(h->cfg_str(NULL, "name", &str), LR_E_NOT_FOUND);
    fake_section_free(s);
    fake_host_free(fh);
}

static void test_log_clock_counters(void **state)
{
    struct fake_host *fh = fake_host_new();
    const struct lr_host *h = fake_host_table(fh);
    (void)state;

    h->log(h, LR_LOG_WARN, "cooldown %s for %d ms", "gpt", 250);
    assert_string_equal(fake_host_log(fh), "WARN: cooldown gpt for 250 ms\n");
    assert_true(fake_host_log_contains(fh, "250 ms"));
    fake_host_log_clear(fh);
    assert_string_equal(fake_host_log(fh), "");

    fake_host_set_time(fh, 1000, 1773480378000);
    fake_host_advance(fh, 5);
    assert_int_equal(h->now_ms(h), 1005);
    assert_int_equal(h->wall_ms(h), 1773480378005);

    h->counter_add(h, "fallbacks", "gpt", 1);
    h->counter_add(h, "fallbacks", "gpt", 2);
    h->counter_add(h, "fallbacks", NULL, 1);
    assert_true(fake_host_counter(fh, "fallbacks", "gpt") == 3);
    assert_true(fake_host_counter(fh, "fallbacks", NULL) == 1);
    assert_true(fake_host_counter(fh, "other", NULL) == 0);
    double g = -1;
    assert_false(fake_host_gauge(fh, "breaker_state", "gpt", &g));
    h->gauge_set(h, "breaker_state", "gpt", 2);
    h->gauge_set(h, "breaker_state", "gpt", 1);
    h->gauge_set(h, "breaker_state", NULL, 7);
    assert_true(fake_host_gauge(fh, "breaker_state", "gpt", &g) && g == 1);
    assert_true(fake_host_gauge(fh, "breaker_state", NULL, &g) && g == 7);
    assert_false(fake_host_gauge(fh, "fallbacks", "gpt", &g));
    fake_host_free(fh);
}

static void test_store_parse_cands(void **state)
{
    struct fake_host *fh = fake_host_new();
    const struct lr_host *h = fake_host_table(fh);
    struct lr_buf b = {0};
    int64_t v;
    const char *const names[] = {"a", "b"};
    const char *const swapped[] = {"b", "a", "c"};
    (void)state;

    assert_int_equal(h->store_set(h, "k", "v", 1, 0), LR_OK);
    assert_int_equal(h->store_get(h, "k", &b), LR_E_NOT_FOUND);
    assert_int_equal(h->store_incr(h, "n", 3, 0, &v), LR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(h->store_cas(h, "k", NULL, 0, "v", 1, 0), LR_OK);
    assert_int_equal(h->store_cas(h, "k", "v", 1, "w", 1, 0),
                     LR_STORE_CAS_MISMATCH);
    assert_int_equal(h->store_del(h, "k"), LR_OK);

    assert_int_equal(h->parse_duration_ms("1m12.5s", &v), LR_OK);
    assert_int_equal(v, 72500);
    assert_int_equal(h->parse_time_ms("1970-01-01T00:00:01Z", &v), LR_OK);
    assert_int_equal(v, 1000);

    assert_int_equal(h->buf_printf(&b, "%d-%s", 7, "x"), LR_OK);
    assert_string_equal(b.data, "7-x");
    h->buf_reset(&b);
    assert_int_equal(b.len, 0);
    fake_buf_free(&b);

    struct lr_candidates *c = fake_cands_new(names, 2);
    assert_int_equal(h->cand_count(c), 2);
    assert_int_equal(h->cand_set(c, swapped, 3), LR_OK);
    assert_string_equal(h->cand_get(c, 0), "b");
    assert_null(h->cand_get(c, 3));
    fake_cands_free(c);
    fake_host_free(fh);
}

/* With a real store, values persist and TTLs follow the fake clock. */
static void test_real_store(void **state)
{
    (void)state;
    struct fake_host *fh = fake_host_new();
    const struct lr_host *h = fake_host_table(fh);
    fake_host_set_time(fh, 0, 1000000);
    assert_int_equal(fake_host_use_memory_store(fh), 0);
    int64_t v = 0;
    assert_int_equal(h->store_incr(h, "n", 2, 500, &v), LR_OK);
    assert_int_equal(h->store_incr(h, "n", 3, 500, &v), LR_OK);
    assert_int_equal(v, 5);
    fake_host_advance(fh, 499);
    struct lr_buf b = {0};
    assert_int_equal(h->store_get(h, "n", &b), LR_OK);
    fake_host_advance(fh, 2);
    h->buf_reset(&b);
    assert_int_equal(h->store_get(h, "n", &b), LR_E_NOT_FOUND);
    h->buf_free(&b);
    fake_host_free(fh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg),
        cmocka_unit_test(test_log_clock_counters),
        cmocka_unit_test(test_store_parse_cands),
        cmocka_unit_test(test_real_store),
    };
    return cmocka_run_group_tests_name("fake_host", tests, NULL, NULL);
}
