/*
 * budget_period.h - UTC calendar periods and money text for the
 * budget_guard policy (plugins/policy_budget_guard.c).
 *
 * Header-only (static inline) because a plugin is one shared object that
 * links nothing of the core.  Dates come from plain arithmetic on the
 * injected wall clock (Howard Hinnant's days_from_civil/civil_from_days),
 * not from gmtime/timegm: no libc time zone state, no extension needed,
 * the same answer in every process, and any fake clock works in tests.
 *
 * Money is kept as integer nano-USD (1e-9 USD) everywhere it is stored or
 * compared: int64_t holds about 9.2e9 USD, and rounding one tiny request
 * (10 tokens at $0.10 per million is 1000 nano-USD) costs nothing.
 */
#ifndef LR_PLUGINS_BUDGET_PERIOD_H
#define LR_PLUGINS_BUDGET_PERIOD_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#define BP_DAY_MS INT64_C(86400000)
#define BP_NANO 1e9

/* One UTC day or month: its name in store keys and its bounds. */
struct bp_period {
    char name[16];      /* "2026-11-24" or "2026-11" */
    int64_t start_ms;   /* wall ms of its first instant */
    int64_t end_ms;     /* wall ms of the next period's first instant */
};

/* a / b rounded toward minus infinity (b > 0). */
static inline int64_t bp_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static inline int64_t bp_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: the date of day z since 1970-01-01. */
static inline void bp_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The UTC day holding wall_ms. */
static inline void bp_day(int64_t wall_ms, struct bp_period *p)
{
    int64_t days = bp_floor_div(wall_ms, BP_DAY_MS), y;
    int m, d;
    bp_civil_from_days(days, &y, &m, &d);
    snprintf(p->name, sizeof p->name, "%04" PRId64 "-%02d-%02d", y % 10000,
             m, d);
    p->start_ms = days * BP_DAY_MS;
    p->end_ms = p->start_ms + BP_DAY_MS;
}

/* The UTC month holding wall_ms. */
static inline void bp_month(int64_t wall_ms, struct bp_period *p)
{
    int64_t y;
    int m, d;
    bp_civil_from_days(bp_floor_div(wall_ms, BP_DAY_MS), &y, &m, &d);
    snprintf(p->name, sizeof p->name, "%04" PRId64 "-%02d", y % 10000, m);
    p->start_ms = bp_days_from_civil(y, m, 1) * BP_DAY_MS;
    p->end_ms = (m == 12 ? bp_days_from_civil(y + 1, 1, 1)
                         : bp_days_from_civil(y, m + 1, 1)) * BP_DAY_MS;
}

/* wall_ms as RFC 3339 UTC, e.g. "2026-11-25T00:00:00Z". */
static inline void bp_iso(int64_t wall_ms, char *out, size_t len)
{
    int64_t days = bp_floor_div(wall_ms, BP_DAY_MS), y;
    int64_t s = (wall_ms - days * BP_DAY_MS) / 1000;
    int m, d;
    bp_civil_from_days(days, &y, &m, &d);
    snprintf(out, len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ",
             y % 10000, m, d, (int)(s / 3600), (int)(s / 60 % 60),
             (int)(s % 60));
}

/* nano-USD as dollars for people: cents, or six decimals below a cent
   so that "$0.000120" does not read as "$0.00". */
static inline void bp_usd(int64_t nano, char *out, size_t len)
{
    double usd = (double)nano / BP_NANO;
    int small = nano != 0 && nano > -10000000 && nano < 10000000;
    snprintf(out, len, small ? "$%.6f" : "$%.2f", usd);
}

#endif
