/*
 * test_timeparse.c - table tests for core/timeparse.c: Go and proto
 * durations, RFC 3339 and HTTP-date times, Retry-After.  Each table row
 * is a text and either the exact expected value or a rejection; the
 * rejections matter as much as the values, since a half-parsed hint must
 * never become a wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "comma_locale.h"
#include "llmroute_plugin.h"
#include "timeparse.h"

#define BAD INT64_MIN /* expected value meaning "must be rejected" */

struct row {
    const char *text;
    int64_t want;
};

static const struct row durations[] = {
    /* Go, as OpenAI's x-ratelimit-reset-* */
    {"20ms", 20},
    {"1s", 1000},
    {"1.45s", 1450},
    {"6m0s", 360000},
    {"1m12.5s", 72500},
    {"1h2m3s", 3723000},
    {"1h2m3.5s", 3723500},
    {"2h", 7200000},
    {"0.5m", 30000},
    {"1.5h", 5400000},
    {"500us", 1},
    {"500\xc2\xb5s", 1},  /* micro sign */
    {"500\xce\xbcs", 1},  /* Greek mu, as Go accepts too */
    {"1500us", 2},
    {"1000us", 1},
    {"10ns", 1},
    {"1000000ns", 1},
    {"1000001ns", 2},
    {"1ms1us", 2},        /* rounded up: 0.1 ms still means wait */
    {"0s", 0},
    {"0", 0},
    {"0ms", 0},
    {"0.0s", 0},
    {".5s", 500},
    {"5.s", 5000},
    {"1h1h", 7200000},
    {"1.0000000001s", 1000}, /* sub-ns fractions dropped, as in Go */
    {"0.000001s", 1},
    {"  7s\t", 7000},
    {"2400h", 8640000000},   /* exactly 100 days */
    /* proto-JSON, as Gemini's retryDelay */
    {"37s", 37000},
    {"0.250s", 250},
    {"1.5s", 1500},
    {"36.4s", 36400},
    {"0.0001s", 1},
    /* rejections */
    {"", BAD},
    {"   ", BAD},
    {"5", BAD},
    {"1.5", BAD},
    {"s", BAD},
    {".s", BAD},
    {".", BAD},
    {"-1s", BAD},
    {"+1s", BAD},
    {"1 s", BAD},
    {"1s junk", BAD},
    {"1sx", BAD},
    {"1d", BAD},
    {"1S", BAD},
    {"1mss", BAD},
    {"1..5s", BAD},
    {"1.5.5s", BAD},
    {"2400h1ns", BAD},       /* just over 100 days */
    {"2401h", BAD},
    {"99999999999999999999s", BAD},
    {"9223372036854775807ns", BAD},
    {"18446744073709551616h", BAD},
    {"\xc2s", BAD},
    {"1\xc2\xb5", BAD},
    {"00", BAD},
    {"0x10s", BAD},
    {"1e3s", BAD},
    {"NaNs", BAD},
    {"infs", BAD},
};

static const struct row times[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-03-14T09:26:18Z", 1773480378000},
    {"2026-03-14T09:26:18.5+01:00", 1773476778500},
    {"2026-03-14T09:26:18.123456789Z", 1773480378123},
    {"2026-03-14T09:26:18.1z", 1773480378100},
    {"2026-03-14t09:26:18Z", 1773480378000},
    {"2026-03-14 09:26:18Z", 1773480378000},
    {"2026-03-14T09:26:18-05:30", 1773500178000},
    {"2026-03-14T09:26:18+00:00", 1773480378000},
    {"2026-03-14T09:26:18-00:00", 1773480378000},
    {"2024-02-29T00:00:00Z", 1709164800000},
    {"2000-02-29T12:00:00Z", 951825600000},
    {"1969-12-31T23:59:59Z", -1000},
    {"1969-12-31T23:59:59.5Z", -500},
    {"2016-12-31T23:59:60Z", 1483228800000}, /* leap second */
    {" 2026-03-14T09:26:18Z ", 1773480378000},
    {"9999-12-31T23:59:59Z", 253402300799000},
    /* HTTP-date: IMF-fixdate and the two obsolete forms */
    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777000},
    {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777000},
    {"Sun Nov  6 08:49:37 1994", 784111777000},
    {"Sun Nov 16 08:49:37 1994", 784975777000},
    {"Sat, 14 Mar 2026 09:26:18 GMT", 1773480378000},
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
    {"Mon, 06 Nov 1994 08:49:37 GMT", 784111777000}, /* wrong weekday */
    {"Wednesday, 14-Mar-26 09:26:18 GMT", 1773480378000},
    /* rejections */
    {"", BAD},
    {"2026-03-14", BAD},
    {"2026-03-14T09:26:18", BAD},           /* no offset */
    {"2026-03-14T09:26Z", BAD},
    {"2026-3-14T09:26:18Z", BAD},
    {"2026-03-14T09:26:18.Z", BAD},
    {"2026-03-14T09:26:18Zjunk", BAD},
    {"2026-03-14T09:26:18+0100", BAD},
    {"2026-03-14T09:26:18+24:00", BAD},
    {"2026-03-14T09:26:18+01:60", BAD},
    {"2026-13-01T00:00:00Z", BAD},
    {"2026-00-01T00:00:00Z", BAD},
    {"2026-02-29T00:00:00Z", BAD},
    {"1900-02-29T00:00:00Z", BAD},
    {"2026-04-31T00:00:00Z", BAD},
    {"2026-03-00T00:00:00Z", BAD},
    {"2026-03-14T24:00:00Z", BAD},
    {"2026-03-14T23:60:00Z", BAD},
    {"2026-03-14T23:59:61Z", BAD},
    {"2026-03-14X09:26:18Z", BAD},
    {"-2026-03-14T09:26:18Z", BAD},
    {"Sun, 6 Nov 1994 08:49:37 GMT", BAD},
    {"Sun, 06 Nov 1994 08:49:37 UTC", BAD},
    {"Sun, 06 nov 1994 08:49:37 GMT", BAD},
    {"Sun, 06 Nov 94 08:49:37 GMT", BAD},
    {"Sun, 06 Nov 1994 08:49 GMT", BAD},
    {"Sun, 06 Nov 1994 08:49:37 GMT x", BAD},
    {"Sun, 31 Nov 1994 08:49:37 GMT", BAD},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", BAD},
    {"Sun,06 Nov 1994 08:49:37 GMT", BAD},
    {"Sunday, 06-Nov-1994 08:49:37 GMT", BAD},
    {"Sun Nov 6 08:49:37 1994", BAD},
    {"Sun Nov  6 08:49:37 94", BAD},
    {"1773480378", BAD},
    {"garbage", BAD},
};

/* Retry-After relative to NOW (Sat, 14 Mar 2026 09:26:18 GMT). */
#define NOW INT64_C(1773480378000)

static const struct row retry_afters[] = {
    {"0", 0},
    {"1", 1000},
    {"120", 120000},
    {" 30 ", 30000},
    {"1.5", 1500},
    {"0.25", 250},
    {"0.0001", 1},      /* rounded up */
    {"2.0000", 2000},
    {"1.2345", 1235},
    {"007", 7000},
    {"2147483648", 2147483648000},
    {"99999999999999999999999", 2147483648000}, /* saturates (RFC 9110) */
    {"Sat, 14 Mar 2026 09:26:48 GMT", 30000},
    {"Sat, 14 Mar 2026 09:26:18 GMT", 0},
    {"Sat, 14 Mar 2026 09:20:00 GMT", 0},        /* past: clamped */
    {"Saturday, 14-Mar-26 09:27:18 GMT", 60000},
    {"Sat Mar 14 09:26:19 2026", 1000},
    {"", BAD},
    {"-1", BAD},
    {"+1", BAD},
    {"1.", BAD},
    {".5", BAD},
    {"1s", BAD},
    {"1,5", BAD},
    {"1 2", BAD},
    {"0x10", BAD},
    {"1e3", BAD},
    {"2026-03-14T09:26:48Z", BAD}, /* RFC 3339 is not an HTTP-date */
    {"soon", BAD},
};

/* retry-after-ms, as the SDKs read it (strtod). */
static const struct row retry_mss[] = {
    {"0", 0},
    {"20", 20},
    {"1500.5", 1501},   /* rounded up */
    {"0.001", 1},
    {" 20", 20},
    {"1e3", 1000},
    {"1e-400", 0},      /* underflows to 0 */
    {"-0", 0},
    {"9999999999.5", 10000000000},
    {"1e10", BAD},      /* 115 days: absurd */
    {"-1", BAD},
    {"20 ", BAD},
    {"20ms", BAD},
    {"", BAD},
    {"inf", BAD},
    {"nan", BAD},
    {"soon", BAD},
};

typedef int (*parse_fn)(const char *text, int64_t *out);

static int retry_after_at_now(const char *text, int64_t *out)
{
    return lr_parse_retry_after_ms(text, NOW, out);
}

static void run_table(const struct row *rows, size_t n, parse_fn fn)
{
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t got = 424242;
        int rc = fn(rows[i].text, &got);
        int ok = rows[i].want == BAD
                     ? rc == LR_E_INVALID_ARG && got == 424242
                     : rc == LR_OK && got == rows[i].want;
        if (!ok) {
            print_error("row \"%s\": rc %d got %lld want %lld\n",
                        rows[i].text, rc, (long long)got,
                        (long long)rows[i].want);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_durations(void **state)
{
    (void)state;
    run_table(durations, sizeof durations / sizeof durations[0],
              lr_parse_duration_ms);
}

static void test_times(void **state)
{
    (void)state;
    run_table(times, sizeof times / sizeof times[0], lr_parse_time_ms);
}

static void test_retry_after(void **state)
{
    (void)state;
    run_table(retry_afters, sizeof retry_afters / sizeof retry_afters[0],
              retry_after_at_now);
}

static void test_retry_ms(void **state)
{
    (void)state;
    run_table(retry_mss, sizeof retry_mss / sizeof retry_mss[0],
              lr_parse_retry_ms);
}

/* An application's setlocale(LC_NUMERIC, "de_DE...") changes nothing:
   "1.5" is still one and a half milliseconds, "1,5" still no number. */
static void test_comma_locale(void **state)
{
    (void)state;
    static const struct row comma[] = {{"1,5", BAD}, {"1.5", 2}};
    COMMA_LOCALE_OR_SKIP();
    run_table(retry_mss, sizeof retry_mss / sizeof retry_mss[0],
              lr_parse_retry_ms);
    run_table(comma, 2, lr_parse_retry_ms);
    comma_locale_reset();
}

static void test_null_arguments(void **state)
{
    int64_t v;
    (void)state;
    assert_int_equal(lr_parse_duration_ms(NULL, &v), LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_duration_ms("1s", NULL), LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_time_ms(NULL, &v), LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_time_ms("1970-01-01T00:00:00Z", NULL),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_retry_after_ms(NULL, 0, &v),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_retry_after_ms("1", 0, NULL),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_retry_ms(NULL, &v), LR_E_INVALID_ARG);
    assert_int_equal(lr_parse_retry_ms("1", NULL), LR_E_INVALID_ARG);
}

/* Every strict prefix of a valid text must be handled without reading
   past its end (ASan/valgrind would catch it), and no strict prefix of a
   time is a time. */
static void test_prefixes(void **state)
{
    static const char *const texts[] = {
        "1h2m3.5s", "500\xc2\xb5s", "2026-03-14T09:26:18.5+01:00",
        "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994"};
    char buf[64];
    int64_t v;
    (void)state;
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t len = strlen(texts[t]);
        for (size_t k = 0; k < len; k++) {
            memcpy(buf, texts[t], k);
            buf[k] = '\0';
            (void)lr_parse_duration_ms(buf, &v);
            (void)lr_parse_retry_after_ms(buf, NOW, &v);
            if (t >= 2)
                assert_int_equal(lr_parse_time_ms(buf, &v),
                                 LR_E_INVALID_ARG);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_retry_ms),
        cmocka_unit_test(test_comma_locale),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_prefixes),
    };
    return cmocka_run_group_tests_name("timeparse", tests, NULL, NULL);
}
