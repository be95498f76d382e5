/*
 * timeparse.c - retry hints and reset times as providers write them.
 *
 * Three grammars meet here: Go durations (OpenAI's x-ratelimit-reset-*),
 * proto-JSON durations (Gemini's RetryInfo.retryDelay, a subset of the Go
 * grammar once the sign is ruled out), and absolute times (RFC 3339 from
 * Anthropic, HTTP-date from Retry-After).  Every parser is strict: the
 * whole text, less surrounding ASCII whitespace, must match, because a
 * hint we half-understood is worse than no hint (the core then falls back
 * to its own backoff).  Arithmetic is integer wherever exactness matters;
 * only a fractional part is scaled through a double, as Go does.  The
 * exception, retry-after-ms, is read as the SDKs read it (a float).
 */
#include "timeparse.h"

#include "cnum.h"
#include "llmroute_plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_MS INT64_C(1000000)
/* "Absurd" per timeparse.h: a hint beyond 100 days is a bug upstream. */
#define MAX_DURATION_NS (INT64_C(100) * 86400 * 1000 * NS_PER_MS)
/* RFC 9110 5.6.7/8.8.1 precedent: a delta-seconds too large to represent
   is taken as 2^31 seconds rather than rejected. */
#define MAX_DELTA_SECONDS INT64_C(2147483648)

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
           c == '\v';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* [*start, *end) becomes text without surrounding whitespace; 0 when
   nothing is left. */
static int trim(const char *text, const char **start, const char **end)
{
    const char *s = text;
    const char *e = text + strlen(text);
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    *start = s;
    *end = e;
    return s < e;
}

/* --- Durations ------------------------------------------------------- */

struct unit {
    const char *name;
    int64_t ns;
};

/* Go's unitMap: "µs" as U+00B5 (micro sign) and U+03BC (Greek mu). */
static const struct unit units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000},
    {"\xce\xbcs", 1000},
    {"ms", NS_PER_MS},
    {"s", 1000 * NS_PER_MS},
    {"m", 60 * 1000 * NS_PER_MS},
    {"h", 3600 * 1000 * NS_PER_MS},
};

static int64_t unit_ns(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strlen(units[i].name) == len &&
            memcmp(units[i].name, s, len) == 0)
            return units[i].ns;
    }
    return 0;
}

/*
 * One "<int>[.<frac>]<unit>" element at *p, added to *total_ns.  Like Go,
 * either digit run may be empty but not both, and fraction digits beyond
 * what a uint64 holds are read and ignored.
 */
static int duration_element(const char **p, const char *end,
                            int64_t *total_ns)
{
    const char *s = *p;
    int64_t whole = 0;
    uint64_t frac = 0, scale = 1;
    int digits = 0;

    for (; s < end && is_digit(*s); s++, digits++) {
        if (whole > MAX_DURATION_NS)
            return LR_E_INVALID_ARG;
        whole = whole * 10 + (*s - '0');
    }
    if (s < end && *s == '.') {
        for (s++; s < end && is_digit(*s); s++, digits++) {
            if (scale <= UINT64_C(100000000000000000)) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
    }
    const char *u = s;
    while (s < end && !is_digit(*s) && *s != '.')
        s++;
    int64_t unit = unit_ns(u, (size_t)(s - u));
    if (digits == 0 || unit == 0 || whole > MAX_DURATION_NS / unit)
        return LR_E_INVALID_ARG;
    int64_t v = whole * unit +
                (int64_t)((double)frac * ((double)unit / (double)scale));
    if (v > MAX_DURATION_NS - *total_ns)
        return LR_E_INVALID_ARG;
    *total_ns += v;
    *p = s;
    return LR_OK;
}

int lr_parse_duration_ms(const char *text, int64_t *out)
{
    const char *p, *end;
    int64_t ns = 0;

    if (!text || !out || !trim(text, &p, &end))
        return LR_E_INVALID_ARG;
    /* Go's one unitless form; signs are refused (negative is invalid). */
    if (end - p == 1 && *p == '0') {
        *out = 0;
        return LR_OK;
    }
    while (p < end) {
        if (duration_element(&p, end, &ns) != LR_OK)
            return LR_E_INVALID_ARG;
    }
    *out = (ns + NS_PER_MS - 1) / NS_PER_MS;
    return LR_OK;
}

/* --- Calendar helpers -------------------------------------------------- */

/* Exactly n digits at *p (n <= 9), or -1. */
static int fixed_digits(const char **p, const char *end, int n)
{
    const char *s = *p;
    int v = 0;
    if (end - s < n)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *p = s + n;
    return v;
}

static int expect_char(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return 0;
    (*p)++;
    return 1;
}

static int days_in_month(int year, int mon)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return mon == 2 && leap ? 29 : days[mon - 1];
}

/*
 * Broken-down UTC time to epoch seconds after range checks (timegm would
 * silently normalise "Feb 30").  sec may be 60 for a leap second, which
 * lands on the next minute as POSIX time does.
 */
static int civil_to_epoch(int year, int mon, int day, int hour, int min,
                          int sec, int64_t *out)
{
    if (year < 0 || mon < 1 || mon > 12 || day < 1 ||
        day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 60)
        return LR_E_INVALID_ARG;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(year == 1969 && mon == 12 && day == 31))
        return LR_E_INVALID_ARG;
    *out = (int64_t)t;
    return LR_OK;
}

/* --- RFC 3339 ------------------------------------------------------- */

/* ".ddd..." after the seconds: milliseconds, truncated; none is 0. */
static int rfc3339_fraction(const char **p, const char *end, int *ms)
{
    const char *s = *p;
    int v = 0, n = 0;
    *ms = 0;
    if (s >= end || *s != '.')
        return LR_OK;
    for (s++; s < end && is_digit(*s); s++, n++) {
        if (n < 3)
            v = v * 10 + (*s - '0');
    }
    if (n == 0)
        return LR_E_INVALID_ARG;
    for (; n < 3; n++)
        v *= 10;
    *ms = v;
    *p = s;
    return LR_OK;
}

/* "Z" or "+hh:mm" / "-hh:mm" as seconds east of UTC. */
static int rfc3339_offset(const char **p, const char *end, int *off)
{
    const char *s = *p;
    *off = 0;
    if (s < end && (*s == 'Z' || *s == 'z')) {
        *p = s + 1;
        return LR_OK;
    }
    if (s >= end || (*s != '+' && *s != '-'))
        return LR_E_INVALID_ARG;
    int sign = *s++ == '-' ? -1 : 1;
    int hh = fixed_digits(&s, end, 2);
    if (hh < 0 || hh > 23 || !expect_char(&s, end, ':'))
        return LR_E_INVALID_ARG;
    int mm = fixed_digits(&s, end, 2);
    if (mm < 0 || mm > 59)
        return LR_E_INVALID_ARG;
    *off = sign * (hh * 3600 + mm * 60);
    *p = s;
    return LR_OK;
}

static int parse_rfc3339(const char *p, const char *end, int64_t *out)
{
    int f[6], ms, off;
    static const char seps[5] = {'-', '-', 'T', ':', ':'};
    static const int widths[6] = {4, 2, 2, 2, 2, 2};
    int64_t secs;

    for (int i = 0; i < 6; i++) {
        if (i > 0 && !expect_char(&p, end, seps[i - 1]) &&
            !(i == 3 && (expect_char(&p, end, 't') ||
                         expect_char(&p, end, ' '))))
            return LR_E_INVALID_ARG;
        f[i] = fixed_digits(&p, end, widths[i]);
        if (f[i] < 0)
            return LR_E_INVALID_ARG;
    }
    if (rfc3339_fraction(&p, end, &ms) != LR_OK ||
        rfc3339_offset(&p, end, &off) != LR_OK || p != end)
        return LR_E_INVALID_ARG;
    if (civil_to_epoch(f[0], f[1], f[2], f[3], f[4], f[5], &secs) != LR_OK)
        return LR_E_INVALID_ARG;
    *out = (secs - off) * 1000 + ms;
    return LR_OK;
}

/* --- HTTP-date (RFC 9110 5.6.7) --------------------------------------- */

static const char *const wkdays[7] = {"Mon", "Tue", "Wed", "Thu",
                                      "Fri", "Sat", "Sun"};
static const char *const wkdays_long[7] = {
    "Monday", "Tuesday", "Wednesday", "Thursday",
    "Friday", "Saturday", "Sunday"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};

/* One of names (exact case, as the grammar says) at *p; index or -1. */
static int match_name(const char **p, const char *end,
                      const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if ((size_t)(end - *p) >= len && memcmp(*p, names[i], len) == 0) {
            *p += len;
            return i;
        }
    }
    return -1;
}

static int match_lit(const char **p, const char *end, const char *lit)
{
    size_t len = strlen(lit);
    if ((size_t)(end - *p) < len || memcmp(*p, lit, len) != 0)
        return 0;
    *p += len;
    return 1;
}

/* "hh:mm:ss" into t[0..2]. */
static int clock_time(const char **p, const char *end, int t[3])
{
    t[0] = fixed_digits(p, end, 2);
    if (t[0] < 0 || !expect_char(p, end, ':'))
        return 0;
    t[1] = fixed_digits(p, end, 2);
    if (t[1] < 0 || !expect_char(p, end, ':'))
        return 0;
    t[2] = fixed_digits(p, end, 2);
    return t[2] >= 0;
}

/* IMF-fixdate after "Day": ", 06 Nov 1994 08:49:37 GMT". */
static int imf_fixdate(const char *p, const char *end, int64_t *secs)
{
    int t[3];
    if (!match_lit(&p, end, ", "))
        return LR_E_INVALID_ARG;
    int day = fixed_digits(&p, end, 2);
    if (day < 0 || !expect_char(&p, end, ' '))
        return LR_E_INVALID_ARG;
    int mon = match_name(&p, end, months, 12);
    if (mon < 0 || !expect_char(&p, end, ' '))
        return LR_E_INVALID_ARG;
    int year = fixed_digits(&p, end, 4);
    if (year < 0 || !expect_char(&p, end, ' ') || !clock_time(&p, end, t) ||
        !match_lit(&p, end, " GMT") || p != end)
        return LR_E_INVALID_ARG;
    return civil_to_epoch(year, mon + 1, day, t[0], t[1], t[2], secs);
}

/* Obsolete RFC 850 after "Weekday": ", 06-Nov-94 08:49:37 GMT".  A
   two-digit year below 70 is taken as 20yy (Unix-epoch pivot). */
static int rfc850_date(const char *p, const char *end, int64_t *secs)
{
    int t[3];
    if (!match_lit(&p, end, ", "))
        return LR_E_INVALID_ARG;
    int day = fixed_digits(&p, end, 2);
    if (day < 0 || !expect_char(&p, end, '-'))
        return LR_E_INVALID_ARG;
    int mon = match_name(&p, end, months, 12);
    if (mon < 0 || !expect_char(&p, end, '-'))
        return LR_E_INVALID_ARG;
    int yy = fixed_digits(&p, end, 2);
    if (yy < 0 || !expect_char(&p, end, ' ') || !clock_time(&p, end, t) ||
        !match_lit(&p, end, " GMT") || p != end)
        return LR_E_INVALID_ARG;
    int year = yy < 70 ? 2000 + yy : 1900 + yy;
    return civil_to_epoch(year, mon + 1, day, t[0], t[1], t[2], secs);
}

/* Obsolete asctime after "Day": " Nov  6 08:49:37 1994". */
static int asctime_date(const char *p, const char *end, int64_t *secs)
{
    int t[3], day;
    if (!expect_char(&p, end, ' '))
        return LR_E_INVALID_ARG;
    int mon = match_name(&p, end, months, 12);
    if (mon < 0 || !expect_char(&p, end, ' '))
        return LR_E_INVALID_ARG;
    if (expect_char(&p, end, ' '))
        day = fixed_digits(&p, end, 1);
    else
        day = fixed_digits(&p, end, 2);
    if (day < 0 || !expect_char(&p, end, ' ') || !clock_time(&p, end, t) ||
        !expect_char(&p, end, ' '))
        return LR_E_INVALID_ARG;
    int year = fixed_digits(&p, end, 4);
    if (year < 0 || p != end)
        return LR_E_INVALID_ARG;
    return civil_to_epoch(year, mon + 1, day, t[0], t[1], t[2], secs);
}

/*
 * The weekday name is checked for spelling only, not against the date:
 * RFC 9110 does not ask recipients to, and a wrong weekday from a sloppy
 * server still names a usable instant.
 */
static int parse_http_date(const char *p, const char *end, int64_t *out)
{
    int64_t secs;
    int rc;
    const char *q = p;

    if (match_name(&q, end, wkdays_long, 7) >= 0)
        rc = rfc850_date(q, end, &secs);
    else if (match_name(&q, end, wkdays, 7) >= 0)
        rc = q < end && *q == ',' ? imf_fixdate(q, end, &secs)
                                  : asctime_date(q, end, &secs);
    else
        return LR_E_INVALID_ARG;
    if (rc != LR_OK)
        return rc;
    *out = secs * 1000;
    return LR_OK;
}

int lr_parse_time_ms(const char *text, int64_t *out)
{
    const char *p, *end;
    if (!text || !out || !trim(text, &p, &end))
        return LR_E_INVALID_ARG;
    if (is_digit(*p))
        return parse_rfc3339(p, end, out);
    return parse_http_date(p, end, out);
}

/* --- Retry-After ------------------------------------------------------- */

/* "<digits>[.<digits>]" seconds to ms, rounded up; saturates (above). */
static int delta_seconds_ms(const char *p, const char *end, int64_t *out)
{
    int64_t whole = 0, frac_ms = 0;
    int saturated = 0, n = 0, round_up = 0;

    for (; p < end && is_digit(*p); p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > MAX_DELTA_SECONDS) {
            whole = MAX_DELTA_SECONDS;
            saturated = 1;
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && is_digit(*p); p++, n++) {
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            else if (*p != '0')
                round_up = 1;
        }
        if (n == 0)
            return LR_E_INVALID_ARG;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    if (p != end)
        return LR_E_INVALID_ARG;
    *out = saturated ? whole * 1000 : whole * 1000 + frac_ms + round_up;
    return LR_OK;
}

int lr_parse_retry_after_ms(const char *text, int64_t now_wall_ms,
                            int64_t *out)
{
    const char *p, *end;
    int64_t when;

    if (!text || !out || !trim(text, &p, &end))
        return LR_E_INVALID_ARG;
    if (is_digit(*p))
        return delta_seconds_ms(p, end, out);
    if (parse_http_date(p, end, &when) != LR_OK)
        return LR_E_INVALID_ARG;
    *out = when > now_wall_ms ? when - now_wall_ms : 0;
    return LR_OK;
}

int lr_parse_retry_ms(const char *text, int64_t *out)
{
    if (!text || !out)
        return LR_E_INVALID_ARG;
    char *end;
    double d = lr_cnum_strtod(text, &end);   /* "1.5" in any locale */
    if (end == text || *end || !isfinite(d) || d < 0 || d >= 1e10)
        return LR_E_INVALID_ARG;
    /* ceil() by hand: the core links no libm (see the Makefile) */
    int64_t whole = (int64_t)d;
    *out = (double)whole < d ? whole + 1 : whole;
    return LR_OK;
}
