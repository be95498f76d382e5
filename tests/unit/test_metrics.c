/*
 * test_metrics.c - the metrics snapshot's counters: unlabelled, labelled,
 * and one name used both ways (neither value may be lost).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_keep_every_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
