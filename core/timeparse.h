/*
 * timeparse.h - parsing of retry hints and reset times found in provider
 * headers and bodies.  Exposed to plugins through the host table.
 */
#ifndef LR_CORE_TIMEPARSE_H
#define LR_CORE_TIMEPARSE_H

#include <stdint.h>

/*
 * A duration in Go syntax ("20ms", "1s", "1.45s", "6m0s", "1m12.5s",
 * "1h2m3s", "500us", "500µs", "10ns") or proto-JSON syntax ("37s",
 * "0.250s"), to whole milliseconds rounded up (a hint of 0.1 ms still
 * means "wait").  Surrounding whitespace is allowed; anything else is
 * LR_E_INVALID_ARG.  Negative or absurd (> 100 days) durations are
 * rejected.
 */
int lr_parse_duration_ms(const char *text, int64_t *out);

/*
 * An absolute time: RFC 3339 ("2026-03-14T09:26:18Z",
 * "2026-03-14T09:26:18.5+01:00") or HTTP-date ("Sun, 06 Nov 1994
 * 08:49:37 GMT"), to Unix epoch milliseconds.
 */
int lr_parse_time_ms(const char *text, int64_t *out);

/*
 * An HTTP Retry-After value: delta-seconds (integer or, as some providers
 * send, decimal) or an HTTP-date, relative to now_wall_ms.  Result in ms,
 * clamped at 0 for dates in the past.
 */
int lr_parse_retry_after_ms(const char *text, int64_t now_wall_ms,
                            int64_t *out);

/*
 * A retry-after-ms value (OpenAI's and Anthropic's SDKs read it before
 * Retry-After): a finite number of milliseconds as strtod() reads it
 * (leading whitespace, a fraction and an exponent allowed, nothing
 * after), from 0 up to 1e10 exclusive, rounded up.  LR_OK, or
 * LR_E_INVALID_ARG and *out untouched.  Core only (outcome.c); not in
 * the host table.
 */
int lr_parse_retry_ms(const char *text, int64_t *out);

#endif
