/*
 * serve_metrics.c - GET /metrics in the Prometheus text exposition
 * format (version 0.0.4), and what the gateway itself observes.
 *
 * Most figures come from lr_metrics_json() (the router's counters and
 * per-target aggregates) and are mapped onto proper families:
 *
 *   llmroute_requests_total{class}            requests_by_class
 *   llmroute_attempts_total{class}            attempts_by_class
 *   llmroute_target_attempts_total{target,result}
 *   llmroute_target_requests_answered_total{target}
 *   llmroute_target_tokens_total{target,kind} prompt / completion
 *   llmroute_target_cost_usd_total{target}, llmroute_cost_usd_total
 *   llmroute_<counter>_total{<label>}         every other counter a
 *                                             plugin or the core adds
 *
 * lr_metrics_json() gives latency only as p50/p95/p99 estimates, so the
 * histogram is kept here, from every response the gateway hands out,
 * with the core's bucket layout (1 ms doubling to 2^23 ms) in seconds:
 *
 *   llmroute_request_latency_seconds{target}  ("none" when none answered)
 *
 * The gateway also keeps the last SERVE_FALLBACKS fallbacks it saw in
 * attempt trails (target left, target taken, reason, time) for the
 * dashboard.  Everything here is per gateway process.
 *
 * Counter names are sanitised to [a-zA-Z0-9_]; label values escape \\,
 * \" and \n; each family gets one HELP and one TYPE line before its
 * samples; numbers are printed with 15 significant digits (%.15g), so
 * a bucket edge reads le="4.096", not a binary rounding artefact.  A plugin counter whose family name would collide with one
 * of ours is left out (and says so in a comment line).
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "serve.h"

#define N_BUCKETS 24           /* as core/metrics.c: 1 ms .. 2^23 ms */

struct hist {
    char *target;
    uint64_t buckets[N_BUCKETS];   /* not cumulative */
    uint64_t count;
    double sum_s;
    struct hist *next;
};

struct serve_stats {
    pthread_mutex_t mu;
    struct hist *hists;            /* newest first */
    struct serve_fallback ring[SERVE_FALLBACKS];
    size_t ring_next, ring_n;
};

struct serve_stats *serve_stats_new(void)
{
    struct serve_stats *st = calloc(1, sizeof *st);
    if (st)
        pthread_mutex_init(&st->mu, NULL);
    return st;
}

void serve_stats_free(struct serve_stats *st)
{
    if (!st)
        return;
    for (struct hist *h = st->hists, *n; h; h = n) {
        n = h->next;
        free(h->target);
        free(h);
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* --- Observing responses ------------------------------------------------ */

static size_t bucket_of(int64_t ms)
{
    size_t b = 0;
    int64_t edge = 1;
    while (b + 1 < N_BUCKETS && ms > edge) {
        edge *= 2;
        b++;
    }
    return b;
}

/* Caller holds st->mu. */
static struct hist *hist_for(struct serve_stats *st, const char *target)
{
    struct hist *h = st->hists;
    while (h && strcmp(h->target, target) != 0)
        h = h->next;
    if (h)
        return h;
    h = calloc(1, sizeof *h);
    if (!h || !(h->target = strdup(target))) {
        free(h);
        return NULL;
    }
    h->next = st->hists;
    st->hists = h;
    return h;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Caller holds st->mu.  Attempt i gave way to attempt i + 1. */
static void ring_add(struct serve_stats *st, const struct lr_attempt_info *a,
                     const char *to, int64_t wall_ms)
{
    struct serve_fallback *f = &st->ring[st->ring_next];
    copy_str(f->from, sizeof f->from, a->target);
    copy_str(f->to, sizeof f->to, to);
    if (a->skipped)
        copy_str(f->reason, sizeof f->reason, a->skipped);
    else if (a->http_status)
        snprintf(f->reason, sizeof f->reason, "%s (HTTP %ld)",
                 lr_status_name(a->error), a->http_status);
    else
        copy_str(f->reason, sizeof f->reason, lr_status_name(a->error));
    f->at_ms = wall_ms;
    st->ring_next = (st->ring_next + 1) % SERVE_FALLBACKS;
    if (st->ring_n < SERVE_FALLBACKS)
        st->ring_n++;
}

/* Caller holds st->mu.  A fallback is a move to another target; a retry
   of the same target is not one. */
static void scan_trail(struct serve_stats *st, const struct lr_response *r,
                       int64_t wall_ms)
{
    size_t n = lr_response_attempt_count(r);
    struct lr_attempt_info a, next;
    if (n < 2 || lr_response_attempt(r, 0, &a) != LR_OK)
        return;
    for (size_t i = 1; i < n; i++, a = next) {
        if (lr_response_attempt(r, i, &next) != LR_OK)
            return;
        if (a.target && next.target && strcmp(a.target, next.target) != 0)
            ring_add(st, &a, next.target, wall_ms);
    }
}

void serve_stats_record(struct serve_stats *st, const struct lr_response *r,
                        int64_t wall_ms)
{
    if (!st || !r)
        return;
    const char *target = lr_response_target(r);
    int64_t ms = lr_response_latency_ms(r);
    ms = ms > 0 ? ms : 0;
    pthread_mutex_lock(&st->mu);
    struct hist *h = hist_for(st, target ? target : "none");
    if (h) {
        h->buckets[bucket_of(ms)]++;
        h->count++;
        h->sum_s += (double)ms / 1000.0;
    }
    scan_trail(st, r, wall_ms);
    pthread_mutex_unlock(&st->mu);
}

size_t serve_stats_fallbacks(struct serve_stats *st,
                             struct serve_fallback *out, size_t max)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->ring_n < max ? st->ring_n : max;
    for (size_t i = 0; i < n; i++) {
        size_t k = (st->ring_next + SERVE_FALLBACKS - 1 - i) %
                   SERVE_FALLBACKS;
        out[i] = st->ring[k];
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* --- Text output -------------------------------------------------------- */

static void put(struct serve_buf *b, int *oom, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(struct serve_buf *b, int *oom, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        *oom = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        *oom |= serve_buf_add(b, small, (size_t)n) != 0;
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        *oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *oom |= serve_buf_add(b, big, (size_t)n) != 0;
    free(big);
}

void serve_prom_name(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < n; i++) {
        char c = in[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_';
        out[i] = ok ? c : '_';
    }
    if (n)
        out[i] = '\0';
}

/* A label value between quotes: \ " and newline escaped; malloc'd. */
char *serve_prom_escape(const char *v)
{
    size_t len = 0;
    for (const char *p = v; *p; p++)
        len += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
    char *out = malloc(len + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"' || *p == '\n') {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : *p;
        }
        else
            *o++ = *p;
    }
    *o = '\0';
    return out;
}

static void family(struct serve_buf *b, int *oom, const char *name,
                   const char *type, const char *help)
{
    put(b, oom, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{lname="lvalue"} v; lname NULL: no labels. */
static void sample(struct serve_buf *b, int *oom, const char *name,
                   const char *lname, const char *lvalue, double v)
{
    if (!lname) {
        put(b, oom, "%s %.15g\n", name, v);
        return;
    }
    char *e = serve_prom_escape(lvalue);
    if (!e) {
        *oom = 1;
        return;
    }
    put(b, oom, "%s{%s=\"%s\"} %.15g\n", name, lname, e, v);
    free(e);
}

/* --- Families from lr_metrics_json() ------------------------------------ */

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Every target as name{target="T"<extra>} with f(target object). */
static void per_target(struct serve_buf *b, int *oom, const cJSON *targets,
                       const char *name, const char *extra,
                       double (*f)(const cJSON *, const char *),
                       const char *key)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, targets) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "target");
        char *e = serve_prom_escape(cJSON_IsString(n) ? n->valuestring : "");
        if (!e) {
            *oom = 1;
            return;
        }
        put(b, oom, "%s{target=\"%s\"%s} %.15g\n", name, e, extra,
            f(t, key));
        free(e);
    }
}

static double attempts_ok(const cJSON *t, const char *key)
{
    (void)key;
    double n = num(t, "attempts");
    return (double)(uint64_t)(n * num(t, "attempt_success_rate") + 0.5);
}

static double attempts_failed(const cJSON *t, const char *key)
{
    return num(t, "attempts") - attempts_ok(t, key);
}

static void target_families(struct serve_buf *b, int *oom,
                            const cJSON *root)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "targets");
    const char *n = "llmroute_target_attempts_total";
    family(b, oom, n, "counter", "Attempts sent to each target, by result.");
    per_target(b, oom, ts, n, ",result=\"ok\"", attempts_ok, NULL);
    per_target(b, oom, ts, n, ",result=\"error\"", attempts_failed, NULL);
    n = "llmroute_target_requests_answered_total";
    family(b, oom, n, "counter", "Requests each target answered.");
    per_target(b, oom, ts, n, "", num, "requests_answered");
    n = "llmroute_target_tokens_total";
    family(b, oom, n, "counter", "Tokens used at each target.");
    per_target(b, oom, ts, n, ",kind=\"prompt\"", num, "prompt_tokens");
    per_target(b, oom, ts, n, ",kind=\"completion\"", num,
               "completion_tokens");
    n = "llmroute_target_cost_usd_total";
    family(b, oom, n, "counter", "Cost of each target's answers in USD.");
    per_target(b, oom, ts, n, "", num, "cost_usd");
    n = "llmroute_cost_usd_total";
    family(b, oom, n, "counter", "Cost of all answers in USD.");
    sample(b, oom, n, NULL, NULL, num(root, "cost_usd"));
}

/* Label names of the counters we know; anything else gets "label". */
static const char *label_name(const char *counter)
{
    static const struct { const char *counter, *label; } known[] = {
        {"requests_by_class", "class"}, {"attempts_by_class", "class"},
        {"upstream_429s", "target"}, {"cooldowns", "target"},
        {"fallbacks", "reason"}, {"limits_waits", "reason"},
        {"limits_skips", "reason"}, {"limits_cooldowns", "reason"},
        {"limits_rejected", "reason"}, {"retries", "class"},
        {"retry_budget_exhausted", "class"}, {"complexity_tier", "tier"},
        {"cache_bypassed", "reason"}, {"cache_not_stored", "reason"},
        {"prompt_guard_rejections", "reason"},
        {"budget_warnings", "scope"}, {"budget_degraded", "scope"},
        {"budget_rejected", "scope"}, {"budget_skipped", "scope"},
        {"breaker_transitions", "transition"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i].counter, counter))
            return known[i].label;
    return "label";
}

/* Family names of ours a plugin counter must not take. */
static int reserved(const char *fam)
{
    static const char *const ours[] = {
        "llmroute_target_attempts_total",
        "llmroute_target_requests_answered_total",
        "llmroute_target_tokens_total", "llmroute_target_cost_usd_total",
        "llmroute_cost_usd_total", "llmroute_request_latency_seconds",
        "llmroute_request_latency_seconds_total",
    };
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (!strcmp(ours[i], fam))
            return 1;
    return 0;
}

/* The family name of a counter: the known renames, else
   llmroute_<name>_total (no second _total). */
static void counter_family(const char *name, char *out, size_t n)
{
    char clean[200];
    if (!strcmp(name, "requests_by_class"))
        name = "requests";
    else if (!strcmp(name, "attempts_by_class"))
        name = "attempts";
    serve_prom_name(name, clean, sizeof clean);
    size_t len = strlen(clean);
    int has = len >= 6 && !strcmp(clean + len - 6, "_total");
    snprintf(out, n, "llmroute_%s%s", clean, has ? "" : "_total");
}

static void counter_families(struct serve_buf *b, int *oom,
                             const cJSON *root)
{
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(root, "counters");
    const cJSON *c;
    cJSON_ArrayForEach(c, cs) {
        char fam[256], help[300];
        counter_family(c->string, fam, sizeof fam);
        if (reserved(fam)) {
            put(b, oom, "# counter %s left out: its name is taken\n", fam);
            continue;
        }
        /* Sanitised, so the HELP text needs no escaping. */
        char clean[200];
        serve_prom_name(c->string, clean, sizeof clean);
        snprintf(help, sizeof help, "Router counter %s.", clean);
        family(b, oom, fam, "counter", help);
        if (cJSON_IsNumber(c)) {
            sample(b, oom, fam, NULL, NULL, c->valuedouble);
            continue;
        }
        const char *ln = label_name(c->string);
        const cJSON *v;
        cJSON_ArrayForEach(v, c)
            if (cJSON_IsNumber(v))
                sample(b, oom, fam, ln, v->string, v->valuedouble);
    }
}

/* --- The histogram ------------------------------------------------------ */

static void histograms(struct serve_buf *b, int *oom, struct serve_stats *st)
{
    const char *n = "llmroute_request_latency_seconds";
    family(b, oom, n, "histogram", "Request latency seen by the gateway, "
           "by answering target.");
    pthread_mutex_lock(&st->mu);
    for (const struct hist *h = st->hists; h; h = h->next) {
        char *e = serve_prom_escape(h->target);
        if (!e) {
            *oom = 1;
            break;
        }
        uint64_t cum = 0;
        /* The last core bucket also holds everything above it: +Inf. */
        for (size_t i = 0; i + 1 < N_BUCKETS; i++) {
            cum += h->buckets[i];
            put(b, oom, "%s_bucket{target=\"%s\",le=\"%.15g\"} %llu\n", n, e,
                (double)((int64_t)1 << i) / 1000.0, (unsigned long long)cum);
        }
        put(b, oom, "%s_bucket{target=\"%s\",le=\"+Inf\"} %llu\n", n, e,
            (unsigned long long)h->count);
        put(b, oom, "%s_sum{target=\"%s\"} %.15g\n", n, e, h->sum_s);
        put(b, oom, "%s_count{target=\"%s\"} %llu\n", n, e,
            (unsigned long long)h->count);
        free(e);
    }
    pthread_mutex_unlock(&st->mu);
}

char *serve_metrics_text(struct serve_stats *st, struct lr_router *r)
{
    char *json = lr_metrics_json(r);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    lr_free(json);
    if (!root)
        return NULL;
    struct serve_buf b = {0};
    int oom = 0;
    counter_families(&b, &oom, root);
    target_families(&b, &oom, root);
    histograms(&b, &oom, st);
    cJSON_Delete(root);
    if (oom || serve_buf_add(&b, "", 1)) {
        serve_buf_free(&b);
        return NULL;
    }
    return b.data;
}
