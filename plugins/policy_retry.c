/*
 * policy_retry.c - retry a failed attempt on the same target with a
 * per-class backoff and full jitter, honour provider retry hints, and
 * know when to stop retrying and move on to the next target instead.
 *
 *   [policy retry]
 *   plugin               = retry
 *   max_attempts         = 3       ; attempts on one target per request,
 *                                  ; the first included (>= 1)
 *   max_wait_ms          = 15000   ; longest provider hint honoured
 *   max_delay_ms         = 15000   ; cap of a computed backoff
 *   retry_budget_ratio   = 0.2     ; retries <= 20% of requests in the
 *                                  ; window (0: no budget)
 *   budget_window_ms     = 60000   ; length of the rolling budget window
 *   budget_min_retries   = 3       ; retries always allowed per window
 *   fallback_after_429s  = 2       ; consecutive 429s on one target that
 *                                  ; send the request on (0: off)
 *   backoff_overloaded   = 2000, 5000
 *   backoff_rate_limited = 5000, 10000
 *   backoff_network      = 1000, 2000, 4000
 *   backoff_server_error = 1000, 2000, 4000
 *   backoff_timeout      = 1000, 2000
 *   jitter_seed          = 0       ; 0: seed from the clock (tests fix it)
 *
 *   [router]
 *   pipeline = ..., retry          ; after policies that skip or route
 *
 * after_attempt, for a failed attempt, in this order:
 *   - classes that a retry cannot mend (auth, bad_request, context_length,
 *     quota_exhausted, content_filter, protocol, budget and local
 *     limits, ...): no opinion, the core falls back or stops.  Only
 *     rate_limited, overloaded, server_error, timeout and network retry.
 *   - x-should-retry: false, or text already delivered: no opinion (the
 *     core stops after delivered text).
 *   - max_attempts attempts made on this target: next target.
 *   - fallback_after_429s consecutive rate_limited answers from this
 *     target within this request: next target.
 *   - a provider hint: retry after it when it is <= max_wait_ms, else
 *     next target at once (a long wait is better spent elsewhere; the
 *     core's cooldown keeps other requests off the target meanwhile).
 *   - no hint: full jitter, a delay drawn uniformly from
 *     [0, min(max_delay_ms, schedule[n])], n = retries already made on
 *     this target; the last value of a schedule repeats.
 *   Every retry must fit the retry budget, else next target.
 *
 * The retry budget bounds the extra load an outage causes: over a rolling
 * window of budget_window_ms, retries granted may not exceed
 * retry_budget_ratio times the requests seen, except that the first
 * budget_min_retries retries of a window are always allowed, so a
 * quiet router (one request a minute) still retries at all.  The window
 * is rolling by the usual two-bucket estimate: the previous fixed window
 * counts in proportion to how much of it still lies within the last
 * budget_window_ms.  Both counters live in the store (wall clock, like
 * the core's cooldowns), so a shared store makes a shared budget; if
 * the store fails the retry is allowed (a broken store must not turn
 * every blip into a fallback) and a warning is logged.
 *
 * Counters: retries{class} per retry granted, retry_budget_exhausted{class}
 * per retry refused by the budget.  Per-request state (the target being
 * retried and its run of 429s) lives in req_state, freed in on_complete.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"

#define MAX_STEPS 16

static const struct lr_cfg_key keys[] = {
    {"max_attempts", LR_CFG_INT, "3",
     "attempts on one target per request, the first included"},
    {"max_wait_ms", LR_CFG_INT, "15000",
     "longest provider retry hint honoured; longer: next target"},
    {"max_delay_ms", LR_CFG_INT, "15000", "cap of a computed backoff"},
    {"retry_budget_ratio", LR_CFG_DOUBLE, "0.2",
     "retries per request allowed in the window (0: no budget)"},
    {"budget_window_ms", LR_CFG_INT, "60000", "rolling budget window"},
    {"budget_min_retries", LR_CFG_INT, "3",
     "retries always allowed per window, whatever the ratio"},
    {"fallback_after_429s", LR_CFG_INT, "2",
     "consecutive 429s on a target before moving on (0: off)"},
    {"backoff_overloaded", LR_CFG_LIST, "2000, 5000",
     "backoff schedule in ms; the last value repeats"},
    {"backoff_rate_limited", LR_CFG_LIST, "5000, 10000",
     "backoff schedule in ms; the last value repeats"},
    {"backoff_network", LR_CFG_LIST, "1000, 2000, 4000",
     "backoff schedule in ms; the last value repeats"},
    {"backoff_server_error", LR_CFG_LIST, "1000, 2000, 4000",
     "backoff schedule in ms; the last value repeats"},
    {"backoff_timeout", LR_CFG_LIST, "1000, 2000",
     "backoff schedule in ms; the last value repeats"},
    {"jitter_seed", LR_CFG_INT, "0",
     "PRNG seed for the jitter (0: from the clock)"},
};

/* The retryable classes, each with its schedule key. */
static const struct {
    enum lr_status st;
    const char *name;
    const char *key;
} classes[] = {
    {LR_E_RATE_LIMITED, "rate_limited", "backoff_rate_limited"},
    {LR_E_OVERLOADED, "overloaded", "backoff_overloaded"},
    {LR_E_SERVER_ERROR, "server_error", "backoff_server_error"},
    {LR_E_TIMEOUT, "timeout", "backoff_timeout"},
    {LR_E_NETWORK, "network", "backoff_network"},
};
#define N_CLASSES (sizeof classes / sizeof classes[0])

struct schedule {
    int64_t ms[MAX_STEPS];
    size_t n;
};

struct retry {
    const struct lr_host *host;
    int64_t max_attempts, max_wait_ms, max_delay_ms;
    double ratio;
    int64_t window_ms, min_retries, after_429s;
    struct schedule sched[N_CLASSES];
    uint64_t rng;               /* xorshift64 state, never 0 */
};

/* Per request: the target last failed on and its run of 429s. */
struct req {
    char *target;
    int run_429;
};

static int class_index(enum lr_status st)
{
    for (size_t i = 0; i < N_CLASSES; i++)
        if (classes[i].st == st)
            return (int)i;
    return -1;
}

/* One schedule list: non-negative integers, 1..MAX_STEPS of them. */
static int read_schedule(const struct lr_host *h, const struct lr_section *s,
                         const char *key, struct schedule *out, char *err,
                         size_t errlen)
{
    const char *const *items = NULL;
    size_t n = 0;
    h->cfg_list(s, key, &items, &n);
    if (n == 0 || n > MAX_STEPS) {
        snprintf(err, errlen, "%s: give 1 to %d delays in ms", key,
                 MAX_STEPS);
        return LR_E_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        char *end;
        long long v = strtoll(items[i], &end, 10);
        if (end == items[i] || *end || v < 0 || v > 86400000) {
            snprintf(err, errlen, "%s: '%s' is not a delay in ms "
                     "(0 to 86400000)", key, items[i]);
            return LR_E_CONFIG;
        }
        out->ms[i] = v;
    }
    out->n = n;
    return LR_OK;
}

/* Integer key that must be >= lo. */
static int read_int(const struct lr_host *h, const struct lr_section *s,
                    const char *key, int64_t lo, int64_t *out, char *err,
                    size_t errlen)
{
    h->cfg_int(s, key, out);
    if (*out >= lo)
        return LR_OK;
    snprintf(err, errlen, "%s: must be >= %" PRId64 ", got %" PRId64, key,
             lo, *out);
    return LR_E_CONFIG;
}

static int read_config(struct retry *r, const struct lr_section *s,
                       char *err, size_t errlen)
{
    const struct lr_host *h = r->host;
    int64_t seed = 0;
    if (read_int(h, s, "max_attempts", 1, &r->max_attempts, err, errlen) ||
        read_int(h, s, "max_wait_ms", 0, &r->max_wait_ms, err, errlen) ||
        read_int(h, s, "max_delay_ms", 0, &r->max_delay_ms, err, errlen) ||
        read_int(h, s, "budget_window_ms", 1, &r->window_ms, err, errlen) ||
        read_int(h, s, "budget_min_retries", 0, &r->min_retries, err,
                 errlen) ||
        read_int(h, s, "fallback_after_429s", 0, &r->after_429s, err,
                 errlen) ||
        read_int(h, s, "jitter_seed", 0, &seed, err, errlen))
        return LR_E_CONFIG;
    h->cfg_double(s, "retry_budget_ratio", &r->ratio);
    if (!isfinite(r->ratio) || r->ratio < 0 || r->ratio > 100) {
        snprintf(err, errlen, "retry_budget_ratio: must be 0 (no budget) "
                 "to 100, got %g", r->ratio);
        return LR_E_CONFIG;
    }
    for (size_t i = 0; i < N_CLASSES; i++)
        if (read_schedule(h, s, classes[i].key, &r->sched[i], err, errlen))
            return LR_E_CONFIG;
    r->rng = seed ? (uint64_t)seed
                  : (uint64_t)h->wall_ms(h) * 0x9E3779B97F4A7C15u ^
                        (uint64_t)(uintptr_t)r;
    if (!r->rng)
        r->rng = 0x2545F4914F6CDD1Du;
    return LR_OK;
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    struct retry *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    r->host = host;
    if (read_config(r, sec, err, errlen) != LR_OK) {
        free(r);
        return LR_E_CONFIG;
    }
    *inst = r;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

/* xorshift64 (Marsaglia): fast, seedable, good enough for jitter. */
static uint64_t next_rand(struct retry *r)
{
    uint64_t x = r->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->rng = x;
    return x;
}

/* Full jitter: uniform in [0, min(cap, schedule[n])]. */
static int64_t backoff(struct retry *r, int cls, int n)
{
    const struct schedule *s = &r->sched[cls];
    size_t i = (size_t)n < s->n ? (size_t)n : s->n - 1;
    int64_t hi = s->ms[i] < r->max_delay_ms ? s->ms[i] : r->max_delay_ms;
    return (int64_t)(next_rand(r) % ((uint64_t)hi + 1));
}

/* --- The retry budget --------------------------------------------------- */

/* Rolling estimate of counter `what` (prev window weighted by overlap).
   -1 when the store fails. */
static double window_count(struct retry *r, const char *what, int64_t idx,
                           double prev_weight)
{
    const struct lr_host *h = r->host;
    char key[64];
    int64_t cur = 0, prev = 0;
    snprintf(key, sizeof key, "budget/%s/%" PRId64, what, idx);
    if (h->store_incr(h, key, 0, 2 * r->window_ms, &cur) != LR_OK)
        return -1;
    snprintf(key, sizeof key, "budget/%s/%" PRId64, what, idx - 1);
    if (h->store_incr(h, key, 0, 2 * r->window_ms, &prev) != LR_OK)
        return -1;
    return (double)cur + (double)prev * prev_weight;
}

static int count(struct retry *r, const char *what)
{
    const struct lr_host *h = r->host;
    char key[64];
    int64_t idx = h->wall_ms(h) / r->window_ms;
    snprintf(key, sizeof key, "budget/%s/%" PRId64, what, idx);
    return h->store_incr(h, key, 1, 2 * r->window_ms, NULL);
}

/* Nonzero when one more retry fits the budget. */
static int budget_allows(struct retry *r)
{
    const struct lr_host *h = r->host;
    if (r->ratio <= 0)
        return 1;
    int64_t wall = h->wall_ms(h);
    int64_t idx = wall / r->window_ms;
    double w = 1.0 - (double)(wall % r->window_ms) / (double)r->window_ms;
    double reqs = window_count(r, "req", idx, w);
    double retries = window_count(r, "retry", idx, w);
    if (reqs < 0 || retries < 0) {
        h->log(h, LR_LOG_WARN, "retry budget: store failed; retry allowed");
        return 1;
    }
    if (retries + 1 <= (double)r->min_retries)
        return 1;
    return retries + 1 <= r->ratio * reqs;
}

/* --- Hooks ------------------------------------------------------------- */

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct retry *r = inst;
    (void)req;
    (void)retry_after_ms;
    struct req *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(msg, msglen, "out of memory");
        return LR_E_NOMEM;
    }
    *req_state = q;
    if (r->ratio > 0 && count(r, "req") != LR_OK)
        r->host->log(r->host, LR_LOG_WARN, "retry budget: store failed");
    return LR_OK;
}

static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt)
{
    struct req *q = req_state;
    (void)inst;
    (void)req;
    (void)final_attempt;
    if (q)
        free(q->target);
    free(q);
}

/* Track the run of consecutive rate_limited answers from one target. */
static void track_429s(struct req *q, const struct lr_policy_attempt *a)
{
    if (!q->target || strcmp(q->target, a->target) != 0) {
        free(q->target);
        q->target = strdup(a->target);
        q->run_429 = 0;
    }
    q->run_429 = a->error == LR_E_RATE_LIMITED ? q->run_429 + 1 : 0;
}

/* The delay for a retry, or LR_NEXT_TARGET with a reason. */
static enum lr_next plan(struct retry *r, struct req *q,
                         const struct lr_policy_attempt *a, int cls,
                         int64_t *delay, char *why, size_t whylen)
{
    if (a->tries_on_target >= r->max_attempts) {
        snprintf(why, whylen, "max_attempts: %d attempts on %s",
                 a->tries_on_target, a->target);
        return LR_NEXT_TARGET;
    }
    if (q && r->after_429s > 0 && q->run_429 >= r->after_429s) {
        snprintf(why, whylen, "fallback_after_429s: %d consecutive 429s "
                 "on %s", q->run_429, a->target);
        return LR_NEXT_TARGET;
    }
    if (a->retry_after_ms > r->max_wait_ms) {
        snprintf(why, whylen, "hint %" PRId64 " ms over max_wait_ms",
                 a->retry_after_ms);
        return LR_NEXT_TARGET;
    }
    if (a->retry_after_ms >= 0) {
        *delay = a->retry_after_ms;
        snprintf(why, whylen, "retry_after hint");
        return LR_NEXT_RETRY;
    }
    int n = a->tries_on_target > 0 ? a->tries_on_target - 1 : 0;
    *delay = backoff(r, cls, n);
    snprintf(why, whylen, "%s backoff, retry %d", classes[cls].name, n + 1);
    return LR_NEXT_RETRY;
}

static enum lr_next after_attempt(void *inst,
                                  const struct lr_policy_req *req,
                                  void *req_state,
                                  const struct lr_policy_attempt *a,
                                  int64_t *delay_ms, char *reason,
                                  size_t reasonlen)
{
    struct retry *r = inst;
    struct req *q = req_state;
    const struct lr_host *h = r->host;
    int cls = class_index(a->error);
    if (q && a->error != LR_OK)
        track_429s(q, a);
    if (cls < 0 || a->should_retry == 0 || a->delivered)
        return LR_NEXT_DEFAULT;
    int64_t delay = 0;
    enum lr_next n = plan(r, q, a, cls, &delay, reason, reasonlen);
    if (n != LR_NEXT_RETRY)
        return n;
    if (!budget_allows(r)) {
        snprintf(reason, reasonlen, "retry_budget: retries over %g of "
                 "requests in the last %" PRId64 " ms", r->ratio,
                 r->window_ms);
        h->counter_add(h, "retry_budget_exhausted", classes[cls].name, 1);
        return LR_NEXT_TARGET;
    }
    if (r->ratio > 0 && count(r, "retry") != LR_OK)
        h->log(h, LR_LOG_WARN, "retry budget: store failed");
    h->counter_add(h, "retries", classes[cls].name, 1);
    h->log(h, LR_LOG_DEBUG, "request %" PRIu64 ": retry %s in %" PRId64
           " ms (%s)", req->id, a->target, delay, reason);
    *delay_ms = delay;
    return LR_NEXT_RETRY;
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .after_attempt = after_attempt,
    .on_complete = on_complete,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "retry",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol: it must do nothing but return the
   constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
