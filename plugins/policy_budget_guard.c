/*
 * policy_budget_guard.c - daily and monthly spending limits in USD,
 * global, per end user and per target, that concurrent requests (and
 * several processes sharing one store) cannot overshoot.
 *
 *   [policy budget]
 *   plugin               = budget_guard
 *   daily_usd            = 5       ; all requests, per UTC day (0: none)
 *   monthly_usd          = 100     ; all requests, per UTC month
 *   per_user_daily_usd   = 0.50    ; each end user (request's user id)
 *   per_user_monthly_usd = 10
 *   warn_ratio           = 0.8     ; warn (and degrade) from 80% spent
 *   degrade_to           = simple  ; optional: tier cap once warned
 *                                  ; (simple or medium)
 *   reservation_ttl_ms   = 600000  ; a reservation not settled by then
 *                                  ; (process died) stops counting
 *   assume_max_tokens    = 4096    ; completion worst case when neither
 *                                  ; the request nor the target sets one
 *   fail_open            = false   ; store broken: refuse (false) or let
 *                                  ; requests through unchecked (true)
 *
 *   [target gpt]                   ; optional, per target
 *   daily_usd   = 2
 *   monthly_usd = 40
 *
 *   [router]
 *   pipeline = budget, ...         ; first: it may reject the request
 *                                  ; and caps the tier before routing
 *
 * Every limit is 0 (off) unless set.  Requests without a user id are
 * bounded by the global and target limits only.  Prices are the target's
 * input_usd_per_mtok / output_usd_per_mtok.
 *
 * Accounting.  Amounts are integer nano-USD in the store.  For every
 * limit L (scope x period, e.g. user alice's day 2026-11-24) there are:
 *   spent/<scope>/<period>           settled spend, store_incr only,
 *                                    TTL to the period's end + 1 day;
 *   resv/<scope>/<period>/<bucket>   reservations made in one time
 *                                    bucket (reservation_ttl_ms / 10
 *                                    wide), TTL reservation_ttl_ms.
 * Live reservations are the sum of the buckets the TTL span covers, so
 * a reservation whose process died (kill -9 between reserve and settle)
 * stops counting by itself after about reservation_ttl_ms; no sweeper
 * and no per-request key.  Buckets read negative (a settle that met an
 * already expired bucket) count as 0.
 *
 * before_attempt reserves the attempt's worst case, est_prompt_tokens x
 * input price + max tokens x output price, in every applicable limit
 * FIRST and only then reads the totals: settled + live reservations (ours
 * included) must stay <= the limit, else every reservation is rolled
 * back.  Two callers racing for the last room can therefore both be
 * refused but never both pass; store_incr is atomic across processes.
 * A limit already spent refuses even a free call.  If the worst case does
 * not fit: LR_SKIP with a reason while other candidates are left (a
 * cheaper target may fit), else host->req_reject(budget_exceeded).
 * after_attempt settles: releases the reservation and adds a->cost_usd
 * to the period the reservation was made in (a call that starts before
 * midnight is paid by that day).  Reservations of an attempt that got no
 * outcome (a later policy skipped it, a wait re-asked it, the request
 * was cancelled) are released at the next before_attempt or on_complete.
 *
 * on_request rejects with budget_exceeded when a global or user limit is
 * already at 100% (settled + reserved >= limit), with e.g. "daily budget
 * of $5.00 is spent ($5.01 settled); resets at 2026-11-25T00:00:00Z" and
 * the ms to that reset as retry hint.  From warn_ratio on it warns once
 * per period and limit (store_incr on warned/<scope>/<period> == 1, so
 * once across processes too) and, with degrade_to, sets the request
 * attribute tier_cap (never raising a lower cap already set).
 *
 * The worst case is only as good as the core's prompt estimate (about
 * 4 bytes a token) and the provider keeping to max tokens; spend can
 * pass a limit by what those estimates missed, never by concurrency.
 *
 * Store failure: fail closed by default (refuse with budget_exceeded
 * and say the store failed), since the point of a budget is that money
 * does not leak while nobody looks; fail_open = true lets requests
 * through unchecked instead.  Either way the first failure of an outage
 * is logged at ERROR, the recovery at WARN, and every failure counted.
 *
 * Counters, per instance like the gauges: budget_rejected{SECTION/limit},
 * budget_skipped{SECTION/limit}, budget_warnings{SECTION/limit},
 * budget_degraded{SECTION/limit}, budget_spend_usd{SECTION} (USD this
 * instance settled), budget_store_errors{SECTION}.  limit is one of
 * daily, monthly, per_user_daily, per_user_monthly, target_daily,
 * target_monthly.  Per instance because two instances each settle the
 * same request (a sum would count its cost twice) and each reject for
 * their own limits; the gateway's /metrics shows them as
 * policy="SECTION",scope="daily".
 *
 * Gauges (ABI 1.2), for the global limits only (per user would be one
 * series per user id; per target is left for when someone needs it):
 * budget_limit_usd{SECTION/daily|SECTION/monthly}, set at create() for
 * the limits set, and budget_period_spend_usd{SECTION/daily|...}, the
 * period's settled spend as the store holds it, so across every process
 * sharing the store.  SECTION is the instance's [policy SECTION] name, so
 * two budget_guard instances (a daily and a monthly one, a per-user and
 * a global one) each have their own series; the gateway's /metrics shows
 * the label as policy="SECTION",period="daily".  The spend gauge is set
 * whenever this process reads that counter or adds to it (each
 * request's check, each settle), so it is the spend as of this process's
 * last request; a new period shows once a request has read it.
 *
 * Keys live in this instance's namespace: processes sharing a store and
 * the INI share the budgets; two budget instances in one pipeline each
 * count the spend they see (no double counting across instances).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget_period.h"
#include "llmroute_plugin.h"

static const struct lr_cfg_key keys[] = {
    {"daily_usd", LR_CFG_DOUBLE, "0", "USD per UTC day, all requests (0: "
     "no limit)"},
    {"monthly_usd", LR_CFG_DOUBLE, "0", "USD per UTC month, all requests"},
    {"per_user_daily_usd", LR_CFG_DOUBLE, "0", "USD per UTC day and user"},
    {"per_user_monthly_usd", LR_CFG_DOUBLE, "0",
     "USD per UTC month and user"},
    {"warn_ratio", LR_CFG_DOUBLE, "0.8",
     "spent fraction that warns (once per period) and degrades"},
    {"degrade_to", LR_CFG_STRING, NULL,
     "tier cap once warned: simple or medium (absent: no cap)"},
    {"reservation_ttl_ms", LR_CFG_INT, "600000",
     "an unsettled reservation stops counting after this long"},
    {"assume_max_tokens", LR_CFG_INT, "4096",
     "completion tokens assumed when no max_tokens is set"},
    {"fail_open", LR_CFG_BOOL, "false",
     "let requests through unchecked when the store fails"},
};

static const struct lr_cfg_key target_keys[] = {
    {"daily_usd", LR_CFG_DOUBLE, "0", "USD per UTC day on this target"},
    {"monthly_usd", LR_CFG_DOUBLE, "0", "USD per UTC month on this target"},
};

#define MAX_USD 1e9             /* largest limit: 1e18 nano-USD */
#define KEYLEN 256
#define MAX_SCOPES 6
#define MIN_TTL_MS 1000
#define MAX_TTL_MS (31 * BP_DAY_MS)

struct guard {
    const struct lr_host *host;
    char *name;                 /* SECTION: the counters' label */
    char *gauge_day;            /* "SECTION/daily": the gauges' labels */
    char *gauge_month;          /* "SECTION/monthly" */
    int64_t day, month, user_day, user_month; /* nano-USD, 0: none */
    double warn_ratio;
    const char *degrade_to;     /* NULL: none; section memory */
    int64_t ttl_ms, bucket_ms, assume_max;
    int fail_open;
    int store_down;             /* inside a logged store outage */
};

/* One applicable limit: a scope (all, a user, a target) in a period. */
struct scope {
    const char *label;          /* counter label, e.g. "per_user_daily" */
    const char *period_word;    /* "daily" or "monthly" */
    char who[160];              /* "" or " for user alice" */
    char base[KEYLEN];          /* "user/alice/day/2026-11-24" */
    int64_t limit;              /* nano-USD */
    int64_t reset_ms;           /* wall ms the period ends */
};

/* One reservation an attempt holds until it is settled. */
struct hold {
    char resv[KEYLEN];          /* bucket key it went into */
    char spent[KEYLEN];         /* settled counter of its period */
    const char *gauge;          /* the spend gauge's label for a global
                                   limit (guard memory), else NULL */
    int64_t amount;             /* nano-USD reserved */
    int64_t reset_ms;
};

/* Per request: the current attempt's reservations. */
struct req {
    struct hold holds[MAX_SCOPES];
    size_t n;
    int64_t at;                 /* wall ms they were made */
    char target[KEYLEN];        /* target they were made for */
};

/* --- Configuration ------------------------------------------------------ */

/* usd (a validated limit) in nano-USD. */
static int64_t nano(double usd)
{
    return (int64_t)llround(usd * BP_NANO);
}

/* Read a limit key; -1 with "KEY: ..." in err when out of range. */
static int read_limit(const struct lr_host *h, const struct lr_section *s,
                      const char *key, int64_t *out, char *err,
                      size_t errlen)
{
    double usd = 0;
    h->cfg_double(s, key, &usd);
    if (!(usd >= 0 && usd <= MAX_USD)) {
        snprintf(err, errlen, "%s: must be 0 (no limit) or a positive "
                 "amount in USD up to 1e9", key);
        return -1;
    }
    *out = nano(usd);
    return 0;
}

static int check_rest(struct guard *g, const struct lr_section *s,
                      char *err, size_t errlen)
{
    const struct lr_host *h = g->host;
    if (!(g->warn_ratio > 0 && g->warn_ratio <= 1)) {
        snprintf(err, errlen, "warn_ratio: must be in (0, 1], e.g. 0.8");
        return -1;
    }
    if (h->cfg_str(s, "degrade_to", &g->degrade_to) != LR_OK)
        g->degrade_to = NULL;
    else if (strcmp(g->degrade_to, "simple") != 0 &&
             strcmp(g->degrade_to, "medium") != 0) {
        snprintf(err, errlen, "degrade_to: '%s' is not a tier to degrade "
                 "to (simple or medium)", g->degrade_to);
        return -1;
    }
    if (g->ttl_ms < MIN_TTL_MS || g->ttl_ms > MAX_TTL_MS) {
        snprintf(err, errlen, "reservation_ttl_ms: must be from 1000 to "
                 "%" PRId64 " (31 days)", MAX_TTL_MS);
        return -1;
    }
    if (g->assume_max < 1 || g->assume_max > INT64_C(100000000)) {
        snprintf(err, errlen, "assume_max_tokens: must be from 1 to "
                 "100000000");
        return -1;
    }
    return 0;
}

/* SECTION, "SECTION/daily" and "SECTION/monthly", in one block after
   g; NULL when out of memory. */
static struct guard *guard_new(const struct lr_host *host,
                               const struct lr_section *sec)
{
    const char *name = host->section_name(sec);
    if (!name)
        name = "budget_guard";
    size_t n = strlen(name);
    struct guard *g = calloc(1, sizeof *g + 3 * n + 1 + sizeof "/daily" +
                                sizeof "/monthly");
    if (!g)
        return NULL;
    g->name = memcpy(g + 1, name, n + 1);
    g->gauge_day = g->name + n + 1;
    g->gauge_month = g->gauge_day + n + sizeof "/daily";
    memcpy(g->gauge_day, name, n);
    memcpy(g->gauge_day + n, "/daily", sizeof "/daily");
    memcpy(g->gauge_month, name, n);
    memcpy(g->gauge_month + n, "/monthly", sizeof "/monthly");
    return g;
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    struct guard *g = guard_new(host, sec);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    g->host = host;
    host->cfg_double(sec, "warn_ratio", &g->warn_ratio);
    host->cfg_int(sec, "reservation_ttl_ms", &g->ttl_ms);
    host->cfg_int(sec, "assume_max_tokens", &g->assume_max);
    host->cfg_bool(sec, "fail_open", &g->fail_open);
    if (read_limit(host, sec, "daily_usd", &g->day, err, errlen) ||
        read_limit(host, sec, "monthly_usd", &g->month, err, errlen) ||
        read_limit(host, sec, "per_user_daily_usd", &g->user_day, err,
                   errlen) ||
        read_limit(host, sec, "per_user_monthly_usd", &g->user_month, err,
                   errlen) ||
        check_rest(g, sec, err, errlen)) {
        free(g);
        return LR_E_CONFIG;
    }
    g->bucket_ms = g->ttl_ms / 10;
    if (g->day > 0)
        host->gauge_set(host, "budget_limit_usd", g->gauge_day,
                        (double)g->day / BP_NANO);
    if (g->month > 0)
        host->gauge_set(host, "budget_limit_usd", g->gauge_month,
                        (double)g->month / BP_NANO);
    *inst = g;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

/* --- Counters ----------------------------------------------------------- */

/* name{"SECTION/limit"} += v, or name{"SECTION"} when limit is NULL: per
   instance, as the gauges are, so two instances' rejections are told
   apart and one request's spend, settled by both, is not summed twice
   into one series. */
static void count(const struct guard *g, const char *name,
                  const char *limit, double v)
{
    char label[300];
    if (limit)
        snprintf(label, sizeof label, "%s/%s", g->name, limit);
    g->host->counter_add(g->host, name, limit ? label : g->name, v);
}

/* --- Store access ------------------------------------------------------- */

static void store_failed(struct guard *g, const char *what)
{
    const struct lr_host *h = g->host;
    count(g, "budget_store_errors", NULL, 1);
    if (g->store_down)
        return;
    g->store_down = 1;
    h->log(h, LR_LOG_ERROR, "store failed (%s): %s", what,
           g->fail_open ? "letting requests through unchecked (fail_open)"
                        : "refusing requests until it works again");
}

static void store_ok(struct guard *g)
{
    if (!g->store_down)
        return;
    g->store_down = 0;
    g->host->log(g->host, LR_LOG_WARN, "store works again: budgets are "
                 "enforced");
}

/* *out = the integer at key (0 when absent); -1 when the store fails. */
static int get_int(struct guard *g, const char *key, int64_t *out)
{
    const struct lr_host *h = g->host;
    struct lr_buf v = {0};
    int rc = h->store_get(h, key, &v);
    *out = rc == LR_OK && v.data ? strtoll(v.data, NULL, 10) : 0;
    h->buf_free(&v);
    if (rc != LR_OK && rc != LR_E_NOT_FOUND) {
        store_failed(g, "get");
        return -1;
    }
    return 0;
}

static int incr(struct guard *g, const char *key, int64_t delta,
                int64_t ttl, int64_t *out)
{
    const struct lr_host *h = g->host;
    if (h->store_incr(h, key, delta, ttl, out) != LR_OK) {
        store_failed(g, "incr");
        return -1;
    }
    return 0;
}

/* TTL of a period's counters: to its end plus a day, for settlements
   that arrive after midnight and for clocks a little apart. */
static int64_t period_ttl(const struct guard *g, int64_t reset_ms)
{
    int64_t left = reset_ms - g->host->wall_ms(g->host);
    return (left > 0 ? left : 0) + BP_DAY_MS;
}

/* --- Scopes -------------------------------------------------------------- */

/* A user id or target name as one key segment: safe bytes kept, others
   %XX, and a long one replaced by its FNV-1a hash. */
static void key_part(const char *in, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        int safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || strchr("._-@:", *p);
        if (o + 4 >= len || o > 96) {
            uint64_t fnv = UINT64_C(14695981039346656037);
            for (p = (const unsigned char *)in; *p; p++)
                fnv = (fnv ^ *p) * UINT64_C(1099511628211);
            snprintf(out, len, "h-%016" PRIx64, fnv);
            return;
        }
        if (safe)
            out[o++] = (char)*p;
        else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

/* Append the day and month limits of one scope (those set) to s[]. */
static void add_scopes(struct scope *s, size_t *n, int64_t now,
                       const char *kind, const char *id, int64_t day,
                       int64_t month)
{
    static const char *const labels[][2] = {
        {"daily", "monthly"},
        {"per_user_daily", "per_user_monthly"},
        {"target_daily", "target_monthly"},
    };
    int k = kind[0] == 'a' ? 0 : kind[0] == 'u' ? 1 : 2;
    char part[128] = "";
    if (id)
        key_part(id, part, sizeof part);
    for (int m = 0; m < 2; m++) {
        int64_t limit = m ? month : day;
        struct bp_period p;
        if (limit <= 0)
            continue;
        struct scope *sc = &s[(*n)++];
        m ? bp_month(now, &p) : bp_day(now, &p);
        sc->label = labels[k][m];
        sc->period_word = m ? "monthly" : "daily";
        sc->limit = limit;
        sc->reset_ms = p.end_ms;
        snprintf(sc->who, sizeof sc->who, "%s%s%.100s", id ? " for " : "",
                 !id ? "" : k == 1 ? "user " : "target ", id ? id : "");
        snprintf(sc->base, sizeof sc->base, "%s%s%s/%s/%s", kind,
                 id ? "/" : "", part, m ? "month" : "day", p.name);
    }
}

/* A target's own limits; -1 with a reason when one is out of range
   (the core checks the type only, and create() never sees targets). */
static int target_limits(const struct guard *g, const char *target,
                         int64_t *day, int64_t *month, char *reason,
                         size_t reasonlen)
{
    const struct lr_host *h = g->host;
    const struct lr_section *ts = h->target_section(h, target);
    const char *names[2] = {"daily_usd", "monthly_usd"};
    int64_t *outs[2] = {day, month};
    for (int i = 0; i < 2; i++) {
        double usd = 0;
        *outs[i] = 0;
        if (!ts || h->cfg_double(ts, names[i], &usd) != LR_OK)
            continue;
        if (!(usd >= 0 && usd <= MAX_USD)) {
            snprintf(reason, reasonlen, "target %s has a bad %s "
                     "(must be 0 or a positive amount up to 1e9)", target,
                     names[i]);
            return -1;
        }
        *outs[i] = nano(usd);
    }
    return 0;
}

/* ABI 1.1 check_target: refuse a bad per-target limit at load (FILE:LINE)
   rather than skipping the target at run time. */
static int check_target(void *inst, const struct lr_section *ts, char *err,
                        size_t errlen)
{
    const struct lr_host *h = ((const struct guard *)inst)->host;
    const char *names[2] = {"daily_usd", "monthly_usd"};
    for (int i = 0; i < 2; i++) {
        double usd = 0;
        if (h->cfg_double(ts, names[i], &usd) != LR_OK)
            continue;
        if (!(usd >= 0 && usd <= MAX_USD)) {
            snprintf(err, errlen, "%s: must be 0 (no limit) or a positive "
                     "amount up to 1e9", names[i]);
            return LR_E_CONFIG;
        }
    }
    return LR_OK;
}

/* The limits that apply to req (and to target when not NULL). */
static size_t scopes_of(const struct guard *g,
                        const struct lr_policy_req *req,
                        const char *target, int64_t tday, int64_t tmonth,
                        struct scope *s)
{
    int64_t now = g->host->wall_ms(g->host);
    size_t n = 0;
    add_scopes(s, &n, now, "all", NULL, g->day, g->month);
    if (req->user && req->user[0])
        add_scopes(s, &n, now, "user", req->user, g->user_day,
                   g->user_month);
    if (target)
        add_scopes(s, &n, now, "target", target, tday, tmonth);
    return n;
}

/* The spend gauge's label of a scope: "SECTION/PERIOD" for a global
   limit, NULL for a user's or a target's. */
static const char *gauge_label(const struct guard *g, const struct scope *s)
{
    return strcmp(s->label, "daily") == 0     ? g->gauge_day
           : strcmp(s->label, "monthly") == 0 ? g->gauge_month
                                              : NULL;
}

static void show_spend(const struct guard *g, const char *label,
                       int64_t settled)
{
    if (label)
        g->host->gauge_set(g->host, "budget_period_spend_usd", label,
                           (double)settled / BP_NANO);
}

/* Settled spend and live reservations of a scope; -1: store failed.
   Reservations are read before the settled spend, and settle() adds the
   spend before it gives the reservation back: another process settling
   between our reads is then counted twice (conservative), never missed. */
static int level(struct guard *g, const struct scope *s, int64_t *settled,
                 int64_t *reserved)
{
    int64_t now = g->host->wall_ms(g->host), v;
    char key[KEYLEN + 32];
    *reserved = 0;
    int64_t first = bp_floor_div(now - g->ttl_ms, g->bucket_ms);
    int64_t last = bp_floor_div(now, g->bucket_ms);
    for (int64_t b = first; b <= last; b++) {
        snprintf(key, sizeof key, "resv/%s/%" PRId64, s->base, b);
        if (get_int(g, key, &v) != 0)
            return -1;
        if (v > 0)
            *reserved += v;
    }
    snprintf(key, sizeof key, "spent/%s", s->base);
    if (get_int(g, key, settled) != 0)
        return -1;
    store_ok(g);
    show_spend(g, gauge_label(g, s), *settled);
    return 0;
}

/* Log and count a once-per-period event; 1 when this caller is first. */
static int first_time(struct guard *g, const char *what,
                      const struct scope *s)
{
    char key[KEYLEN + 32];
    int64_t n = 0;
    snprintf(key, sizeof key, "%s/%s", what, s->base);
    if (incr(g, key, 1, period_ttl(g, s->reset_ms), &n) != 0)
        return 0;
    return n == 1;
}

/* --- Messages ------------------------------------------------------------ */

/* "daily budget of $5.00 is spent ($5.01 settled); resets at ..." */
static void spent_msg(const struct scope *s, int64_t settled,
                      int64_t reserved, char *msg, size_t msglen)
{
    char lim[32], set[32], res[48] = "", at[32];
    bp_usd(s->limit, lim, sizeof lim);
    bp_usd(settled, set, sizeof set);
    if (reserved > 0) {
        char r[32];
        bp_usd(reserved, r, sizeof r);
        snprintf(res, sizeof res, ", %s reserved", r);
    }
    bp_iso(s->reset_ms, at, sizeof at);
    snprintf(msg, msglen, "%s budget of %s%s is spent (%s settled%s); "
             "resets at %s", s->period_word, lim, s->who, set, res, at);
}

/* Why a worst case does not fit s, for a skip (full 0) or for the
   rejection of the last candidate (full 1, with the reset time). */
static void nofit_msg(const struct scope *s, int64_t used, int64_t worst,
                      int full, char *msg, size_t msglen)
{
    char w[32], left[32], lim[32], at[32];
    bp_usd(worst, w, sizeof w);
    bp_usd(used < s->limit ? s->limit - used : 0, left, sizeof left);
    bp_usd(s->limit, lim, sizeof lim);
    bp_iso(s->reset_ms, at, sizeof at);
    if (worst > s->limit)
        snprintf(msg, msglen, "worst case %s exceeds the whole %s budget "
                 "of %s%s; lower max_tokens", w, s->period_word, lim,
                 s->who);
    else if (full)
        snprintf(msg, msglen, "worst case %s does not fit the %s budget of "
                 "%s%s (%s left); resets at %s", w, s->period_word, lim,
                 s->who, left, at);
    else
        snprintf(msg, msglen, "worst case %s does not fit the %s budget%s "
                 "(%s left)", w, s->period_word, s->who, left);
}

/* From warn_ratio on: log and count once per period and limit. */
static void warn(struct guard *g, const struct scope *s, int64_t used)
{
    const struct lr_host *h = g->host;
    char u[32], lim[32], at[32], cap[48] = "";
    if (!first_time(g, "warned", s))
        return;
    bp_usd(used, u, sizeof u);
    bp_usd(s->limit, lim, sizeof lim);
    bp_iso(s->reset_ms, at, sizeof at);
    if (g->degrade_to && strcmp(s->label, "target_daily") != 0 &&
        strcmp(s->label, "target_monthly") != 0)
        snprintf(cap, sizeof cap, "; capping requests at tier %s",
                 g->degrade_to);
    h->log(h, LR_LOG_WARN, "%s budget%s at %.0f%% (%s of %s)%s; next "
           "warning after %s", s->period_word, s->who,
           100.0 * (double)used / (double)s->limit, u, lim, cap, at);
    count(g, "budget_warnings", s->label, 1);
}

/* A limit has just been found spent: log it once per period. */
static void announce_spent(struct guard *g, const struct scope *s,
                           const char *msg)
{
    if (first_time(g, "full", s))
        g->host->log(g->host, LR_LOG_WARN, "%s", msg);
}

/* --- on_request: reject when spent, warn and degrade when low ---------- */

static int tier_rank(const char *t)
{
    return !t ? 3 : strcmp(t, "simple") == 0 ? 0
                  : strcmp(t, "medium") == 0 ? 1 : 2;
}

static void degrade(struct guard *g, const struct lr_policy_req *req,
                    const struct scope *s)
{
    const struct lr_host *h = g->host;
    if (!g->degrade_to)
        return;
    const char *cap = h->req_get(h, req, "tier_cap");
    if (tier_rank(cap) > tier_rank(g->degrade_to))
        h->req_set(h, req, "tier_cap", g->degrade_to);
    count(g, "budget_degraded", s->label, 1);
}

static int store_refusal(const struct guard *g, char *msg, size_t msglen)
{
    if (g->fail_open)
        return LR_OK;
    snprintf(msg, msglen, "budget cannot be checked: the store failed "
             "(fail_open = false)");
    return LR_E_BUDGET_EXCEEDED;
}

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct guard *g = inst;
    const struct lr_host *h = g->host;
    struct scope s[MAX_SCOPES];
    int64_t settled, reserved, now = h->wall_ms(h);
    const struct scope *low = NULL;
    *req_state = calloc(1, sizeof(struct req));
    if (!*req_state) {
        snprintf(msg, msglen, "out of memory");
        return LR_E_NOMEM;
    }
    size_t n = scopes_of(g, req, NULL, 0, 0, s);
    for (size_t i = 0; i < n; i++) {
        if (level(g, &s[i], &settled, &reserved) != 0) {
            if (g->fail_open)
                continue;
            return store_refusal(g, msg, msglen);
        }
        int64_t used = settled + reserved;
        if (used >= s[i].limit) {
            spent_msg(&s[i], settled, reserved, msg, msglen);
            announce_spent(g, &s[i], msg);
            count(g, "budget_rejected", s[i].label, 1);
            *retry_after_ms = s[i].reset_ms - now;
            return LR_E_BUDGET_EXCEEDED;
        }
        if ((double)used >= g->warn_ratio * (double)s[i].limit) {
            warn(g, &s[i], used);
            if (!low)
                low = &s[i];
        }
    }
    if (low)
        degrade(g, req, low);
    return LR_OK;
}

/* --- Reservations -------------------------------------------------------- */

/* Worst-case cost in nano-USD of an attempt on target. */
static int64_t worst_case(const struct guard *g,
                          const struct lr_policy_attempt *a)
{
    const struct lr_host *h = g->host;
    const struct lr_section *ts = h->target_section(h, a->target);
    double in = 0, out = 0;
    if (ts) {
        h->cfg_double(ts, "input_usd_per_mtok", &in);
        h->cfg_double(ts, "output_usd_per_mtok", &out);
    }
    double prompt = a->est_prompt_tokens > 0 ? (double)a->est_prompt_tokens
                                             : 0;
    double comp = (double)(a->max_tokens > 0 ? a->max_tokens
                                             : g->assume_max);
    /* USD per million tokens = nano-USD per 1000 tokens. */
    double cost = ceil((prompt * in + comp * out) * 1000.0);
    if (!(cost > 0))
        return 0;
    return cost > 1e18 ? INT64_C(1000000000000000000) : (int64_t)cost;
}

/* Give back every reservation rq holds, adding cost_nano to the settled
   spend of each of their periods. */
static void settle(struct guard *g, struct req *rq, int64_t cost_nano)
{
    const struct lr_host *h = g->host;
    if (!rq || rq->n == 0)
        return;
    /* A bucket surely expired once the TTL passed since the reservation
       (it was created no later); decrementing it would only create a
       negative stray. */
    int64_t now = h->wall_ms(h), total = 0;
    int live = now - rq->at < g->ttl_ms;
    for (size_t i = 0; i < rq->n; i++) {
        struct hold *o = &rq->holds[i];
        /* Spend first, then the reservation back (see level()). */
        if (cost_nano > 0 &&
            incr(g, o->spent, cost_nano, period_ttl(g, o->reset_ms),
                 &total) != 0)
            h->log(h, LR_LOG_ERROR, "could not record a spend of $%.6f "
                   "on %s", (double)cost_nano / BP_NANO, o->spent);
        else if (cost_nano > 0 && o->reset_ms > now)
            show_spend(g, o->gauge, total); /* not a period now over */
        if (o->amount > 0 && live)
            incr(g, o->resv, -o->amount, g->ttl_ms, NULL);
    }
    if (cost_nano > 0)
        count(g, "budget_spend_usd", NULL, (double)cost_nano / BP_NANO);
    rq->n = 0;
}

/* Reserve worst in every scope; -1 (nothing held) if the store fails. */
static int reserve(struct guard *g, struct req *rq, const struct scope *s,
                   size_t n, int64_t worst)
{
    int64_t now = g->host->wall_ms(g->host);
    rq->at = now;
    for (size_t i = 0; i < n; i++) {
        struct hold *o = &rq->holds[i];
        snprintf(o->resv, sizeof o->resv, "resv/%s/%" PRId64, s[i].base,
                 bp_floor_div(now, g->bucket_ms));
        snprintf(o->spent, sizeof o->spent, "spent/%s", s[i].base);
        o->gauge = gauge_label(g, &s[i]);
        o->amount = worst;
        o->reset_ms = s[i].reset_ms;
        if (worst > 0 && incr(g, o->resv, worst, g->ttl_ms, NULL) != 0) {
            settle(g, rq, 0);
            return -1;
        }
        rq->n = i + 1;
    }
    return 0;
}

/* Spend of a scope as seen by one attempt. */
struct level {
    int64_t settled;
    int64_t others;             /* live reservations but this call's */
};

/* The first scope worst does not fit in, now that it is reserved in
   all: n when all fit, -1 when the store failed. */
static long first_misfit(struct guard *g, const struct scope *s, size_t n,
                         int64_t worst, struct level *lv)
{
    for (size_t i = 0; i < n; i++) {
        int64_t reserved;
        if (level(g, &s[i], &lv[i].settled, &reserved) != 0)
            return -1;
        lv[i].others = reserved > worst ? reserved - worst : 0;
        int64_t used = lv[i].settled + lv[i].others;
        if (used >= s[i].limit || used + worst > s[i].limit)
            return (long)i;
    }
    return (long)n;
}

/* --- Attempt hooks ------------------------------------------------------- */

/* Refuse the attempt: a skip while candidates are left, else the
   request ends with budget_exceeded. */
static enum lr_verdict refuse(struct guard *g,
                              const struct lr_policy_req *req,
                              const struct lr_policy_attempt *a,
                              const struct scope *s, const struct level *lv,
                              int64_t worst, char *reason, size_t reasonlen)
{
    const struct lr_host *h = g->host;
    int64_t used = lv->settled + lv->others;
    char msg[256];
    if (a->candidates_left > 0) {
        nofit_msg(s, used, worst, 0, reason, reasonlen);
        count(g, "budget_skipped", s->label, 1);
        return LR_SKIP;
    }
    if (used >= s->limit) {
        spent_msg(s, lv->settled, lv->others, msg, sizeof msg);
        announce_spent(g, s, msg);
    }
    else
        nofit_msg(s, used, worst, 1, msg, sizeof msg);
    snprintf(reason, reasonlen, "%s", msg);
    int64_t hint = worst > s->limit ? -1 : s->reset_ms - h->wall_ms(h);
    h->req_reject(h, req, LR_E_BUDGET_EXCEEDED, msg, hint);
    count(g, "budget_rejected", s->label, 1);
    return LR_SKIP;
}

/* The store failed: no reservation is held; fail open or closed. */
static enum lr_verdict store_verdict(struct guard *g,
                                     const struct lr_policy_req *req,
                                     const struct lr_policy_attempt *a,
                                     char *reason, size_t reasonlen)
{
    const struct lr_host *h = g->host;
    if (g->fail_open)
        return LR_GO;
    store_refusal(g, reason, reasonlen);
    if (a->candidates_left == 0)
        h->req_reject(h, req, LR_E_BUDGET_EXCEEDED, reason, -1);
    return LR_SKIP;
}

static enum lr_verdict before_attempt(void *inst,
                                      const struct lr_policy_req *req,
                                      void *req_state,
                                      const struct lr_policy_attempt *a,
                                      int64_t *wait_ms, char *reason,
                                      size_t reasonlen)
{
    struct guard *g = inst;
    struct req *rq = req_state;
    struct scope s[MAX_SCOPES];
    struct level lv[MAX_SCOPES];
    int64_t tday, tmonth;
    (void)wait_ms; /* never waits: money does not come back in ms */
    if (!rq)
        return LR_GO;
    /* Held from an attempt that never got an outcome (skipped by a later
       policy, or asked again after a wait): give it back first. */
    settle(g, rq, 0);
    if (target_limits(g, a->target, &tday, &tmonth, reason, reasonlen))
        return LR_SKIP;
    size_t n = scopes_of(g, req, a->target, tday, tmonth, s);
    int64_t worst = worst_case(g, a);
    snprintf(rq->target, sizeof rq->target, "%s", a->target);
    if (reserve(g, rq, s, n, worst) != 0)
        return store_verdict(g, req, a, reason, reasonlen);
    long bad = first_misfit(g, s, n, worst, lv);
    if (bad < 0 || (size_t)bad < n)
        settle(g, rq, 0);
    if (bad < 0)
        return store_verdict(g, req, a, reason, reasonlen);
    if ((size_t)bad < n)
        return refuse(g, req, a, &s[bad], &lv[bad], worst, reason,
                      reasonlen);
    /* Global and user limits warned in on_request; a target's here. */
    for (size_t i = 0; i < n; i++) {
        int64_t used = lv[i].settled + lv[i].others + worst;
        if (strncmp(s[i].label, "target", 6) == 0 &&
            (double)used >= g->warn_ratio * (double)s[i].limit)
            warn(g, &s[i], used);
    }
    return LR_GO;
}

/* a->cost_usd in nano-USD (0 when unknown or nonsense). */
static int64_t real_cost(const struct lr_policy_attempt *a)
{
    double c = a->cost_usd * BP_NANO;
    if (!(c > 0))
        return 0;
    return c > 1e18 ? INT64_C(1000000000000000000) : llround(c);
}

/* Settle: the reservation goes, the real cost stays. */
static enum lr_next after_attempt(void *inst,
                                  const struct lr_policy_req *req,
                                  void *req_state,
                                  const struct lr_policy_attempt *a,
                                  int64_t *delay_ms, char *reason,
                                  size_t reasonlen)
{
    (void)req;
    (void)delay_ms;
    (void)reason;
    (void)reasonlen;
    settle(inst, req_state, real_cost(a));
    return LR_NEXT_DEFAULT;
}

/* Reservations still held belong to an attempt that got no outcome
   (cancelled mid-attempt): charge what the core knows it cost. */
static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt)
{
    struct req *rq = req_state;
    (void)req;
    if (rq && rq->n > 0) {
        int same = final_attempt && final_attempt->target &&
                   strcmp(final_attempt->target, rq->target) == 0;
        settle(inst, rq, same ? real_cost(final_attempt) : 0);
    }
    free(rq);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .before_attempt = before_attempt,
    .after_attempt = after_attempt,
    .on_complete = on_complete,
    .target_keys = target_keys,
    .n_target_keys = sizeof target_keys / sizeof target_keys[0],
    .check_target = check_target,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "budget_guard",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
