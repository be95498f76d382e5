/*
 * metrics.c - counters (name + label -> double) in a small hash table,
 * and per-target latency histograms with log-spaced buckets, from which
 * p50/p95/p99 are estimated (upper bucket edge, so never under-reported).
 * One mutex guards everything: updates are a few per request.
 */
#include "metrics.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 24   /* 1 ms .. ~8.4e6 ms, doubling */

struct counter {
    char *name;
    char *label;
    double value;
    struct counter *next;
};

struct target_stats {
    char *target;
    uint64_t attempts, attempt_ok;
    uint64_t requests, request_ok;
    uint64_t buckets[N_BUCKETS];   /* request latency */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    struct target_stats *next;
};

struct lr_metrics {
    pthread_mutex_t mu;
    struct counter *table[256];
    struct target_stats *targets;
    uint64_t requests, request_ok;
    uint64_t buckets[N_BUCKETS];
    double cost_usd;
};

struct lr_metrics *lr_metrics_new(void)
{
    struct lr_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void lr_metrics_free(struct lr_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < 256; i++) {
        for (struct counter *c = m->table[i], *n; c; c = n) {
            n = c->next;
            free(c->name);
            free(c->label);
            free(c);
        }
    }
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

void lr_metrics_counter_add(struct lr_metrics *m, const char *name,
                            const char *label, double v)
{
    if (!m || !name)
        return;
    unsigned h = hash2(name, label);
    pthread_mutex_lock(&m->mu);
    struct counter *c = m->table[h];
    while (c && !(strcmp(c->name, name) == 0 && same_label(c->label, label)))
        c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) {
        c->name = strdup(name);
        c->label = label ? strdup(label) : NULL;
        if (!c->name || (label && !c->label)) {
            free(c->name);
            free(c->label);
            free(c);
            c = NULL;
        }
        else {
            c->next = m->table[h];
            m->table[h] = c;
        }
    }
    if (c)
        c->value += v;
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
    m->cost_usd += cost_usd;
    struct target_stats *t = target ? stats_for(m, target) : NULL;
    if (t) {
        t->requests++;
        t->request_ok += st == LR_OK;
        t->buckets[b]++;
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

static void add_latency(cJSON *o, const uint64_t *buckets)
{
    cJSON *l = cJSON_AddObjectToObject(o, "latency_ms");
    if (!l)
        return;
    cJSON_AddNumberToObject(l, "p50", percentile(buckets, 0.50));
    cJSON_AddNumberToObject(l, "p95", percentile(buckets, 0.95));
    cJSON_AddNumberToObject(l, "p99", percentile(buckets, 0.99));
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
    add_latency(o, t->buckets);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)t->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens",
                            (double)t->completion_tokens);
    cJSON_AddNumberToObject(o, "cost_usd", t->cost_usd);
}

/* counters: {"name": value} when a counter has no label, {"name":
   {"label": value, ...}} when it has; a name used both ways keeps its
   unlabelled value under the label "". */
static void add_counters(cJSON *root, struct lr_metrics *m)
{
    cJSON *cs = cJSON_AddObjectToObject(root, "counters");
    for (size_t i = 0; cs && i < 256; i++) {
        for (struct counter *c = m->table[i]; c; c = c->next) {
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
    add_latency(root, m->buckets);
    cJSON *arr = cJSON_AddArrayToObject(root, "targets");
    for (struct target_stats *t = m->targets; arr && t; t = t->next)
        add_target(arr, t);
    add_counters(root, m);
    pthread_mutex_unlock(&m->mu);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
