/*
 * test_metrics.c - the metrics snapshot: counters (unlabelled, labelled,
 * one name used both ways: neither value may be lost), gauges (the last
 * value wins, apart from counters of the same name) and the raw latency
 * buckets behind the percentiles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "metrics.h"

static const cJSON *counter(const cJSON *root, const char *name)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(root, "counters");
    return cJSON_GetObjectItemCaseSensitive(cs, name);
}

static void counters_keep_every_value(void **s)
{
    (void)s;
    struct lr_metrics *m = lr_metrics_new();
    assert_non_null(m);
    lr_metrics_counter_add(m, "plain", NULL, 2);
    lr_metrics_counter_add(m, "by_reason", "a", 1);
    lr_metrics_counter_add(m, "by_reason", "b", 3);
    lr_metrics_counter_add(m, "mixed", NULL, 5);
    lr_metrics_counter_add(m, "mixed", "x", 7);
    lr_metrics_counter_add(m, "mixed2", "y", 11);
    lr_metrics_counter_add(m, "mixed2", NULL, 13);
    char *text = lr_metrics_to_json(m);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_true(counter(j, "plain")->valuedouble == 2);
    const cJSON *r = counter(j, "by_reason");
    assert_true(cJSON_GetObjectItemCaseSensitive(r, "b")->valuedouble == 3);
    const cJSON *mx = counter(j, "mixed");
    assert_true(cJSON_GetObjectItemCaseSensitive(mx, "")->valuedouble == 5);
    assert_true(cJSON_GetObjectItemCaseSensitive(mx, "x")->valuedouble == 7);
    const cJSON *m2 = counter(j, "mixed2");
    assert_true(cJSON_GetObjectItemCaseSensitive(m2, "")->valuedouble == 13);
    assert_true(cJSON_GetObjectItemCaseSensitive(m2, "y")->valuedouble == 11);
    cJSON_Delete(j);
    free(text);
    lr_metrics_free(m);
}

static const cJSON *item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        fail_msg("no '%s' in the snapshot", key);
    return v;
}

static void gauges_hold_the_last_value(void **s)
{
    (void)s;
    struct lr_metrics *m = lr_metrics_new();
    assert_non_null(m);
    lr_metrics_gauge_set(m, "breaker_state", "a", 2);
    lr_metrics_gauge_set(m, "breaker_state", "a", 1);
    lr_metrics_gauge_set(m, "breaker_state", "b", 0);
    lr_metrics_gauge_set(m, "level", NULL, 0.25);
    lr_metrics_gauge_set(m, "level", NULL, -3.5);
    lr_metrics_counter_add(m, "breaker_state", "a", 5); /* apart */
    lr_metrics_gauge_set(NULL, "x", NULL, 1);           /* no router */
    char *text = lr_metrics_to_json(m);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    const cJSON *gs = item(j, "gauges");
    const cJSON *b = item(gs, "breaker_state");
    assert_true(item(b, "a")->valuedouble == 1);
    assert_true(item(b, "b")->valuedouble == 0);
    assert_true(item(gs, "level")->valuedouble == -3.5);
    assert_true(item(counter(j, "breaker_state"), "a")->valuedouble == 5);
    cJSON_Delete(j);
    free(text);
    lr_metrics_free(m);
}

/* bucket i holds (2^(i-1), 2^i] ms; the last one everything above. */
static void latency_buckets_are_raw(void **s)
{
    (void)s;
    struct lr_metrics *m = lr_metrics_new();
    assert_non_null(m);
    const int64_t ms[] = {0, 1, 2, 3, 4, 5, 1000, INT64_C(1) << 40};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        lr_metrics_request(m, "a", LR_OK, ms[i], 1, 1, 0);
    lr_metrics_request(m, NULL, LR_OK, 7, 0, 0, 0);   /* a cache hit */
    char *text = lr_metrics_to_json(m);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    const cJSON *t = cJSON_GetArrayItem(item(j, "targets"), 0);
    assert_string_equal(item(t, "target")->valuestring, "a");
    const cJSON *lat = item(t, "latency_ms");
    const cJSON *bs = item(lat, "buckets");
    assert_int_equal(cJSON_GetArraySize(bs), 24);
    const double want[24] = {[0] = 2, [1] = 1, [2] = 2, [3] = 1, [10] = 1,
                             [23] = 1};
    for (int i = 0; i < 24; i++)
        if (cJSON_GetArrayItem(bs, i)->valuedouble != want[i])
            fail_msg("bucket %d: %g, want %g", i,
                     cJSON_GetArrayItem(bs, i)->valuedouble, want[i]);
    assert_true(item(lat, "count")->valuedouble == 8);
    assert_true(item(lat, "sum")->valuedouble ==
                1015.0 + (double)(INT64_C(1) << 40));
    assert_true(item(lat, "p50")->valuedouble == 4);  /* 4th of 8 */
    const cJSON *all = item(j, "latency_ms");
    assert_true(item(all, "count")->valuedouble == 9);
    assert_true(cJSON_GetArrayItem(item(all, "buckets"), 3)->valuedouble
                == 2);
    cJSON_Delete(j);
    free(text);
    lr_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_keep_every_value),
        cmocka_unit_test(gauges_hold_the_last_value),
        cmocka_unit_test(latency_buckets_are_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
