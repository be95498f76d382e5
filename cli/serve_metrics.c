/*
 * serve_metrics.c - GET /metrics in the Prometheus text exposition
 * format (version 0.0.4), and the fallbacks the gateway observes.
 *
 * Every figure comes from lr_metrics_json() (the router's counters,
 * gauges and per-target aggregates) and is mapped onto proper families:
 *
 *   llmroute_requests_total{class}            requests_by_class
 *   llmroute_attempts_total{class}            attempts_by_class
 *   llmroute_target_attempts_total{target,result}
 *   llmroute_target_requests_answered_total{target}
 *   llmroute_target_tokens_total{target,kind} prompt / completion
 *   llmroute_target_cost_usd_total{target}, llmroute_cost_usd_total
 *   llmroute_request_latency_seconds{target}  histogram, from the raw
 *                                             buckets (1 ms doubling to
 *                                             2^22 ms, then +Inf);
 *                                             target "none" for requests
 *                                             no target answered (cache
 *                                             hits, failures before any
 *                                             attempt)
 *   llmroute_<counter>_total{<label>}         every other counter a
 *                                             plugin or the core adds
 *   llmroute_<gauge>{<label>}                 every other gauge (TYPE
 *                                             gauge)
 *   llmroute_breaker_state{policy,target}     circuit_breaker's gauge,
 *                                             whose label "SECTION/TARGET"
 *                                             is split at its first '/'
 *                                             (a target name may hold
 *                                             one)
 *   llmroute_budget_period_spend_usd{policy,period}, llmroute_budget_
 *   limit_usd{policy,period}                  budget_guard's gauges,
 *                                             whose label "SECTION/PERIOD"
 *                                             is split at its last '/'
 *                                             into the instance's
 *                                             section and the period
 *   llmroute_budget_{rejected,skipped,warnings,degraded}_total{policy,
 *   scope}, llmroute_budget_{spend_usd,store_errors}_total{policy}
 *                                             budget_guard's counters,
 *                                             per instance the same way
 *   llmroute_breaker_transitions_total{policy,target,transition}
 *                                             circuit_breaker's counter,
 *                                             label "SECTION/TARGET:STATE"
 *                                             split at the first '/' and
 *                                             the last ':'
 *
 * The gateway also keeps the last SERVE_FALLBACKS fallbacks it saw in
 * attempt trails (target left, target taken, reason, time) for the
 * dashboard.  Everything here is per gateway process.
 *
 * Counter and gauge names are sanitised to [a-zA-Z0-9_]; label values
 * escape \\, \" and \n; each family gets one HELP and one TYPE line
 * before its samples; numbers are printed with 15 significant digits
 * (%.15g), so a bucket edge reads le="4.096", not a binary rounding
 * artefact.  A plugin counter or gauge whose family name would collide
 * with one of ours (or, for a gauge, end in _total like a counter's) is
 * left out (and says so in a comment line).
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "serve.h"

struct serve_stats {
    pthread_mutex_t mu;
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
    pthread_mutex_destroy(&st->mu);
    free(st);
}

/* --- Observing responses ------------------------------------------------ */

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
    pthread_mutex_lock(&st->mu);
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

/* A counter's or gauge's label "OWNER/VALUE" shown as two labels, or
   "OWNER/VALUE:WORD" as three. */
struct label_kind {
    const char *name, *label;
    const char *owner;   /* OWNER's label name */
    int first;           /* split at the first '/' (VALUE may hold one),
                            else at the last (OWNER may) */
    const char *tail;    /* WORD's label name, split at the last ':'
                            (VALUE may hold one); NULL: no WORD */
};

/* s[0..n) escaped as a label value; malloc'd, NULL when out of memory. */
static char *escaped_part(const char *s, size_t n)
{
    char *part = strndup(s, n);
    char *e = part ? serve_prom_escape(part) : NULL;
    free(part);
    return e;
}

/* name{owner="A",lname="B"} v for a label "A/B" (split at the first or
   last '/' as k says; a label without one gets lname alone), e.g. a
   budget_guard instance's policy="daily_budget",period="daily"; with
   k->tail, "A/B:C" also gets tail="C" (a label without ':' none). */
static void owned_sample(struct serve_buf *b, int *oom, const char *name,
                         const struct label_kind *k, const char *label,
                         double v)
{
    const char *slash = k->first ? strchr(label, '/') : strrchr(label, '/');
    const char *value = slash ? slash + 1 : label;
    const char *colon = k->tail ? strrchr(value, ':') : NULL;
    size_t vlen = colon ? (size_t)(colon - value) : strlen(value);
    char *eo = slash ? escaped_part(label, (size_t)(slash - label)) : NULL;
    char *ev = escaped_part(value, vlen);
    char *et = colon ? escaped_part(colon + 1, strlen(colon + 1)) : NULL;
    if ((slash && !eo) || !ev || (colon && !et))
        *oom = 1;
    else {
        put(b, oom, "%s{", name);
        if (eo)
            put(b, oom, "%s=\"%s\",", k->owner, eo);
        put(b, oom, "%s=\"%s\"", k->label, ev);
        if (et)
            put(b, oom, ",%s=\"%s\"", k->tail, et);
        put(b, oom, "} %.15g\n", v);
    }
    free(eo);
    free(ev);
    free(et);
}

/* budget_guard's counters, labelled "SECTION/LIMIT" per instance, and
   circuit_breaker's transitions, "SECTION/TARGET:STATE". */
static const struct label_kind counter_kinds[] = {
    {"budget_warnings", "scope", "policy", 0, NULL},
    {"budget_degraded", "scope", "policy", 0, NULL},
    {"budget_rejected", "scope", "policy", 0, NULL},
    {"budget_skipped", "scope", "policy", 0, NULL},
    {"breaker_transitions", "target", "policy", 1, "transition"},
};

/* The entry of kinds[0..n) named name, or NULL. */
static const struct label_kind *find_kind(const struct label_kind *kinds,
                                          size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kinds[i].name, name))
            return &kinds[i];
    return NULL;
}

static const struct label_kind *counter_kind(const char *counter)
{
    return find_kind(counter_kinds,
                     sizeof counter_kinds / sizeof counter_kinds[0], counter);
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
        {"budget_spend_usd", "policy"}, {"budget_store_errors", "policy"},
        {"breaker_transitions", "target"},
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
        const struct label_kind *k = counter_kind(c->string);
        const char *ln = label_name(c->string);
        const cJSON *v;
        cJSON_ArrayForEach(v, c) {
            if (!cJSON_IsNumber(v))
                continue;
            if (k)
                owned_sample(b, oom, fam, k, v->string, v->valuedouble);
            else
                sample(b, oom, fam, ln, v->string, v->valuedouble);
        }
    }
}

/* --- Gauges ------------------------------------------------------------ */

/* The gauges we know. */
static const struct label_kind gauge_kinds[] = {
    {"breaker_state", "target", "policy", 1, NULL},
    {"budget_period_spend_usd", "period", "policy", 0, NULL},
    {"budget_limit_usd", "period", "policy", 0, NULL},
};

static const struct label_kind *gauge_kind(const char *gauge)
{
    return find_kind(gauge_kinds, sizeof gauge_kinds / sizeof gauge_kinds[0],
                     gauge);
}

/* Label name of a gauge we know; anything else gets "label". */
static const char *gauge_label_name(const char *gauge)
{
    const struct label_kind *k = gauge_kind(gauge);
    return k ? k->label : "label";
}

static const char *gauge_help(const char *gauge)
{
    if (!strcmp(gauge, "breaker_state"))
        return "State of each circuit_breaker policy's breaker of each "
               "target as this process last saw it: 0 closed, "
               "1 half-open, 2 open.";
    if (!strcmp(gauge, "budget_period_spend_usd"))
        return "Settled spend of the current budget period of each "
               "budget_guard policy in USD, as the store held it at this "
               "process's last request.";
    if (!strcmp(gauge, "budget_limit_usd"))
        return "Budget limit of each budget_guard policy and period in "
               "USD.";
    return NULL;
}

/* llmroute_<name>; 0 when it may not be used (ours, or a counter's). */
static int gauge_family(const char *name, char *out, size_t n)
{
    char clean[200];
    serve_prom_name(name, clean, sizeof clean);
    snprintf(out, n, "llmroute_%s", clean);
    size_t len = strlen(out);
    return !(reserved(out) || (len >= 6 && !strcmp(out + len - 6, "_total"))
             || !strncmp(out, "llmroute_request_latency_seconds", 32));
}

static void gauge_families(struct serve_buf *b, int *oom, const cJSON *root)
{
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(root, "gauges");
    const cJSON *g;
    cJSON_ArrayForEach(g, gs) {
        char fam[256], help[300], clean[200];
        if (!gauge_family(g->string, fam, sizeof fam)) {
            put(b, oom, "# gauge %s left out: its name is taken\n", fam);
            continue;
        }
        serve_prom_name(g->string, clean, sizeof clean);
        const char *h = gauge_help(g->string);
        if (h)
            snprintf(help, sizeof help, "%s", h);
        else /* sanitised, so the HELP text needs no escaping */
            snprintf(help, sizeof help, "Router gauge %s.", clean);
        family(b, oom, fam, "gauge", help);
        if (cJSON_IsNumber(g)) {
            sample(b, oom, fam, NULL, NULL, g->valuedouble);
            continue;
        }
        const struct label_kind *k = gauge_kind(g->string);
        const char *ln = gauge_label_name(g->string);
        const cJSON *v;
        cJSON_ArrayForEach(v, g) {
            if (!cJSON_IsNumber(v))
                continue;
            if (k && k->owner)
                owned_sample(b, oom, fam, k, v->string, v->valuedouble);
            else
                sample(b, oom, fam, ln, v->string, v->valuedouble);
        }
    }
}

/* --- The histogram ------------------------------------------------------ */

#define MAX_BUCKETS 64

/* One latency histogram as lr_metrics_json() gives it. */
struct lat {
    double buckets[MAX_BUCKETS];   /* not cumulative */
    size_t n;
    double count, sum_ms;
};

static void lat_read(const cJSON *owner, struct lat *l)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(owner, "latency_ms");
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(o, "buckets");
    const cJSON *v;
    memset(l, 0, sizeof *l);
    cJSON_ArrayForEach(v, bs)
        if (l->n < MAX_BUCKETS)
            l->buckets[l->n++] = cJSON_IsNumber(v) ? v->valuedouble : 0;
    l->count = num(o, "count");
    l->sum_ms = num(o, "sum");
}

/* The requests no target answered: all of them less every target's. */
static void lat_rest(const cJSON *root, struct lat *rest)
{
    const cJSON *t;
    struct lat one;
    lat_read(root, rest);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "targets")) {
        lat_read(t, &one);
        for (size_t i = 0; i < rest->n && i < one.n; i++)
            rest->buckets[i] -= one.buckets[i];
        rest->count -= one.count;
        rest->sum_ms -= one.sum_ms;
    }
}

static void histogram(struct serve_buf *b, int *oom, const char *target,
                      const struct lat *l)
{
    const char *n = "llmroute_request_latency_seconds";
    char *e = serve_prom_escape(target);
    if (!e) {
        *oom = 1;
        return;
    }
    double cum = 0;
    /* The last bucket also holds everything above it: +Inf. */
    for (size_t i = 0; i + 1 < l->n; i++) {
        cum += l->buckets[i];
        put(b, oom, "%s_bucket{target=\"%s\",le=\"%.15g\"} %.15g\n", n, e,
            (double)((int64_t)1 << i) / 1000.0, cum);
    }
    put(b, oom, "%s_bucket{target=\"%s\",le=\"+Inf\"} %.15g\n", n, e,
        l->count);
    put(b, oom, "%s_sum{target=\"%s\"} %.15g\n", n, e, l->sum_ms / 1000.0);
    put(b, oom, "%s_count{target=\"%s\"} %.15g\n", n, e, l->count);
    free(e);
}

static void histograms(struct serve_buf *b, int *oom, const cJSON *root)
{
    family(b, oom, "llmroute_request_latency_seconds", "histogram",
           "Request latency by answering target (\"none\": no target "
           "answered).");
    const cJSON *t;
    struct lat l;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "targets")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "target");
        lat_read(t, &l);
        if (cJSON_IsString(name) && l.count > 0)
            histogram(b, oom, name->valuestring, &l);
    }
    lat_rest(root, &l);
    if (l.count > 0)
        histogram(b, oom, "none", &l);
}

char *serve_metrics_text(struct lr_router *r)
{
    char *json = lr_metrics_json(r);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    lr_free(json);
    if (!root)
        return NULL;
    struct serve_buf b = {0};
    int oom = 0;
    counter_families(&b, &oom, root);
    gauge_families(&b, &oom, root);
    target_families(&b, &oom, root);
    histograms(&b, &oom, root);
    cJSON_Delete(root);
    if (oom || serve_buf_add(&b, "", 1)) {
        serve_buf_free(&b);
        return NULL;
    }
    return b.data;
}
