/*
 * test_redact.c - core/redact.c, which keeps an attempt's API key out of
 * the message the core logs and returns.  Found by fuzzing: an upstream
 * that echoes the key in a stream event that is not JSON, or in an
 * in-stream error, had the key quoted in the error message, because a
 * provider's stream_event does not know the key (see docs/reliability.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "redact.h"

#define KEY "sk-test-SECRET-0123456789"

static void test_replaces_every_occurrence(void **state)
{
    (void)state;
    char msg[512] = "unreadable stream event: {\"k\":\"" KEY "\"} and "
                    KEY "!";
    assert_int_equal(lr_redact_key(msg, sizeof msg, KEY), 2);
    assert_string_equal(msg, "unreadable stream event: {\"k\":\"[redacted]"
                             "\"} and [redacted]!");
}

static void test_leaves_other_text(void **state)
{
    (void)state;
    char msg[64] = "sk-test-SECRET-012345678 (one short)";
    assert_int_equal(lr_redact_key(msg, sizeof msg, KEY), 0);
    assert_string_equal(msg, "sk-test-SECRET-012345678 (one short)");
}

static void test_short_or_missing_key(void **state)
{
    (void)state;
    char msg[32] = "key x in here";
    assert_int_equal(lr_redact_key(msg, sizeof msg, "x"), 0);
    assert_int_equal(lr_redact_key(msg, sizeof msg, NULL), 0);
    assert_int_equal(lr_redact_key(msg, sizeof msg, ""), 0);
    assert_string_equal(msg, "key x in here");
}

/* A key shorter than the mark: the message grows and is cut at cap. */
static void test_growth_is_cut(void **state)
{
    (void)state;
    char msg[16] = "a12345678b";
    assert_int_equal(lr_redact_key(msg, sizeof msg, "12345678"), 1);
    assert_string_equal(msg, "a[redacted]b");
    char tight[12] = "12345678123";
    assert_int_equal(lr_redact_key(tight, sizeof tight, "12345678"), 1);
    assert_string_equal(tight, "[redacted]1");
    assert_null(strstr(tight, "12345678"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaces_every_occurrence),
        cmocka_unit_test(test_leaves_other_text),
        cmocka_unit_test(test_short_or_missing_key),
        cmocka_unit_test(test_growth_is_cut),
    };
    return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
