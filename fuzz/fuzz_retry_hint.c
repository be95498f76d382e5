/*
 * fuzz_retry_hint.c - libFuzzer target: the retry-hint and reset-time
 * parsers (core/timeparse.c) every provider and the core's generic
 * retry-after handling use: Go/proto durations, RFC 3339 and HTTP
 * dates, Retry-After and retry-after-ms values (the latter read by
 * core/outcome.c through lr_parse_retry_ms(), hidden in the library and
 * reached here because the target links the static library's objects).
 *
 * The input is one header value (NUL-terminated copy).  Results are
 * checked against the contracts in timeparse.h: a duration is 0..100
 * days, a Retry-After is never negative, a retry-after-ms is 0..1e10.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"
#include "timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DAY_MS 86400000LL
/* 2026-03-14T09:26:18Z */
#define NOW_MS 1773480378000LL

static void expect(int ok, const char *what, const char *text, int64_t v)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_retry_hint: %s for '%s': %lld\n", what, text,
            (long long)v);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t v = -7;
    if (lr_parse_duration_ms(text, &v) == LR_OK)
        expect(v >= 0 && v <= 100 * DAY_MS, "duration out of range", text,
               v);
    if (lr_parse_retry_after_ms(text, NOW_MS, &v) == LR_OK)
        expect(v >= 0, "negative retry-after", text, v);
    v = -7;
    int rc = lr_parse_retry_ms(text, &v);
    if (rc == LR_OK)
        expect(v >= 0 && v <= 10000000000LL, "retry-after-ms out of range",
               text, v);
    else
        expect(v == -7, "retry-after-ms written on failure", text, v);
    lr_parse_time_ms(text, &v);
    free(text);
    return 0;
}
