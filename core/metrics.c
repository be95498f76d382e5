/*
 * metrics.c - counters and gauges (name + label -> double) in two small
 * hash tables, and per-target latency histograms with log-spaced
 * buckets, from which p50/p95/p99 are estimated (upper bucket edge, so
 * never under-reported); the raw buckets are in the snapshot too, for a
 * Prometheus histogram.  One mutex guards everything: updates are a few
 * per request.
 */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 24   /* 1 ms .. ~8.4e6 ms, doubling */

/* One counter or gauge. */
struct series {
    char *name;
    char *label;
    double value;
    struct series *next;
};

struct target_stats {
    char *target;
    uint64_t attempts, attempt_ok;
    uint64_t requests, request_ok;
    uint64_t buckets[N_BUCKETS];   /* request latency */
    double latency_sum_ms;
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    struct target_stats *next;
};

struct lr_metrics {
    pthread_mutex_t mu;
    struct series *counters[256];
    struct series *gauges[256];
    struct target_stats *targets;
    uint64_t requests, request_ok;
    uint64_t buckets[N_BUCKETS];
    double latency_sum_ms;
    double cost_usd;
};

struct lr_metrics *lr_metrics_new(void)
{
    struct lr_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void series_free(struct series **table)
{
    for (size_t i = 0; i < 256; i++) {
        for (struct series *c = table[i], *n; c; c = n) {
            n = c->next;
            free(c->name);
            free(c->label);
            free(c);
        }
    }
}

void lr_metrics_free(struct lr_metrics *m)
{
    if (!m)
        return;
    series_free(m->counters);
    series_free(m->gauges);
    for (struct target_stats *t = m->targets, *n; t; t = n) {
        n = t->next;
        free(t->target);
        free(t);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static unsigned hash2(const char *a, const char *b)
{
    unsigned h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 16777619u;
    return h & 255;
}

static int same_label(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The series name{label} in table, created at 0 when new; NULL when out
   of memory.  Caller holds the lock. */
static struct series *series_get(struct series **table, const char *name,
                                 const char *label)
{
    unsigned h = hash2(name, label);
    struct series *c = table[h];
    while (c && !(strcmp(c->name, name) == 0 && same_label(c->label, label)))
        c = c->next;
    if (c || !(c = calloc(1, sizeof *c)))
        return c;
    c->name = strdup(name);
    c->label = label ? strdup(label) : NULL;
    if (!c->name || (label && !c->label)) {
        free(c->name);
        free(c->label);
        free(c);
        return NULL;
    }
    c->next = table[h];
    table[h] = c;
    return c;
}

void lr_metrics_counter_add(struct lr_metrics *m, const char *name,
                            const char *label, double v)
{
    if (!m || !name)
        return;
    pthread_mutex_lock(&m->mu);
    struct series *c = series_get(m->counters, name, label);
    if (c)
        c->value += v;
    pthread_mutex_unlock(&m->mu);
}

void lr_metrics_gauge_set(struct lr_metrics *m, const char *name,
                          const char *label, double v)
{
    if (!m || !name)
        return;
    pthread_mutex_lock(&m->mu);
    struct series *g = series_get(m->gauges, name, label);
    if (g)
        g->value = v;
    pthread_mutex_unlock(&m->mu);
}

/* Caller holds the lock. */
static struct target_stats *stats_for(struct lr_metrics *m,
                                      const char *target)
{
    struct target_stats *t = m->targets;
    while (t && strcmp(t->target, target) != 0)
        t = t->next;
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t || !(t->target = strdup(target))) {
        free(t);
        return NULL;
    }
    t->next = m->targets;
    m->targets = t;
    return t;
}

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

void lr_metrics_attempt(struct lr_metrics *m, const char *target,
                        enum lr_status st, int64_t latency_ms)
{
    (void)latency_ms;
    pthread_mutex_lock(&m->mu);
    struct target_stats *t = stats_for(m, target);
    if (t) {
        t->attempts++;
        t->attempt_ok += st == LR_OK;
    }
    pthread_mutex_unlock(&m->mu);
    lr_metrics_counter_add(m, "attempts_by_class", lr_status_name(st), 1);
}

void lr_metrics_request(struct lr_metrics *m, const char *target,
                        enum lr_status st, int64_t latency_ms,
                        int64_t prompt_tokens, int64_t completion_tokens,
                        double cost_usd)
{
    size_t b = bucket_of(latency_ms);
    pthread_mutex_lock(&m->mu);
    m->requests++;
    m->request_ok += st == LR_OK;
    m->buckets[b]++;
    m->latency_sum_ms += (double)(latency_ms > 0 ? latency_ms : 0);
    m->cost_usd += cost_usd;
    struct target_stats *t = target ? stats_for(m, target) : NULL;
    if (t) {
        t->requests++;
        t->request_ok += st == LR_OK;
        t->buckets[b]++;
        t->latency_sum_ms += (double)(latency_ms > 0 ? latency_ms : 0);
        t->prompt_tokens += prompt_tokens > 0 ? prompt_tokens : 0;
        t->completion_tokens += completion_tokens > 0 ? completion_tokens
                                                      : 0;
        t->cost_usd += cost_usd;
    }
    pthread_mutex_unlock(&m->mu);
    lr_metrics_counter_add(m, "requests_by_class", lr_status_name(st), 1);
}

static double percentile(const uint64_t *buckets, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i < N_BUCKETS; i++)
        total += buckets[i];
    if (!total)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    uint64_t seen = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        seen += buckets[i];
        if (seen >= rank)
            return (double)((int64_t)1 << i);
    }
    return (double)((int64_t)1 << (N_BUCKETS - 1));
}

/* {"p50","p95","p99","count","sum","buckets":[N_BUCKETS counts]}; the
   shape is documented at lr_metrics_json() in llmroute.h. */
static void add_latency(cJSON *o, const uint64_t *buckets, double sum_ms)
{
    cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
    if (!l)
        return;
    cJSON_AddNumberToObject(l, "p50", percentile(buckets, 0.50));
    cJSON_AddNumberToObject(l, "p95", percentile(buckets, 0.95));
    cJSON_AddNumberToObject(l, "p99", percentile(buckets, 0.99));
    uint64_t count = 0;
    cJSON *arr = cJSON_AddArrayToObject(l, "buckets");
    for (size_t i = 0; i < N_BUCKETS; i++) {
        count += buckets[i];
        cJSON *n = cJSON_CreateNumber((double)buckets[i]);
        if (!n || !arr || !cJSON_AddItemToArray(arr, n))
            cJSON_Delete(n);
    }
    cJSON_AddNumberToObject(l, "count", (double)count);
    cJSON_AddNumberToObject(l, "sum", sum_ms);
}

static void add_target(cJSON *arr, const struct target_stats *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return;
    cJSON_AddItemToArray(arr, o);
    cJSON_AddStringToObject(o, "target", t->target);
    cJSON_AddNumberToObject(o, "attempts", (double)t->attempts);
    cJSON_AddNumberToObject(o, "attempt_success_rate",
        t->attempts ? (double)t->attempt_ok / (double)t->attempts : 0);
    cJSON_AddNumberToObject(o, "requests_answered", (double)t->request_ok);
    add_latency(o, t->buckets, t->latency_sum_ms);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)t->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens",
                            (double)t->completion_tokens);
    cJSON_AddNumberToObject(o, "cost_usd", t->cost_usd);
}

/* counters and gauges: {"name": value} when a series has no label,
   {"name": {"label": value, ...}} when it has; a name used both ways
   keeps its unlabelled value under the label "". */
static void add_series(cJSON *root, const char *key,
                       struct series *const *table)
{
    cJSON *cs = cJSON_AddObjectToObject(root, key);
    for (size_t i = 0; cs && i < 256; i++) {
        for (const struct series *c = table[i]; c; c = c->next) {
            cJSON *slot = cJSON_GetObjectItemCaseSensitive(cs, c->name);
            const char *label = c->label ? c->label : "";
            if (!slot && !c->label) {
                cJSON_AddNumberToObject(cs, c->name, c->value);
                continue;
            }
            if (slot && cJSON_IsNumber(slot)) {
                cJSON *obj = cJSON_CreateObject();
                if (!obj)
                    continue;
                cJSON_AddNumberToObject(obj, "", slot->valuedouble);
                cJSON_ReplaceItemInObjectCaseSensitive(cs, c->name, obj);
                slot = obj;
            }
            if (!slot)
                slot = cJSON_AddObjectToObject(cs, c->name);
            if (cJSON_IsObject(slot))
                cJSON_AddNumberToObject(slot, label, c->value);
        }
    }
}

char *lr_metrics_to_json(struct lr_metrics *m)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    pthread_mutex_lock(&m->mu);
    cJSON_AddNumberToObject(root, "requests", (double)m->requests);
    cJSON_AddNumberToObject(root, "success_rate",
        m->requests ? (double)m->request_ok / (double)m->requests : 0);
    cJSON_AddNumberToObject(root, "cost_usd", m->cost_usd);
    add_latency(root, m->buckets, m->latency_sum_ms);
    cJSON *arr = cJSON_AddArrayToObject(root, "targets");
    for (struct target_stats *t = m->targets; arr && t; t = t->next)
        add_target(arr, t);
    add_series(root, "counters", m->counters);
    add_series(root, "gauges", m->gauges);
    pthread_mutex_unlock(&m->mu);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
