/*
 * batch_stats.c - the figures of one `llmroute batch` run and its
 * summary, as text (stderr) or one JSON object (--json-summary).
 *
 * A fallback is an answered request whose attempt trail holds a failed
 * or skipped attempt on another target before the answering one (a retry
 * on the same target is not a fallback).  "429s seen" counts attempts
 * with HTTP status 429, answered requests included.  Latency percentiles
 * are over the requests sent in this run (answered or failed, not the
 * ones cancelled at an interrupt), by nearest rank.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "llmroute.h"

#define N_CLASSES (sizeof ((struct batch_stats *)0)->by_class / \
                   sizeof(long))

static int is_fallback(const struct lr_response *resp)
{
    const char *winner = lr_response_target(resp);
    size_t n = lr_response_attempt_count(resp);
    for (size_t i = 0; winner && i + 1 < n; i++) {
        struct lr_attempt_info a;
        if (lr_response_attempt(resp, i, &a) == LR_OK && a.target &&
            strcmp(a.target, winner) != 0)
            return 1;
    }
    return 0;
}

static void add_latency(struct batch_stats *s, int64_t ms)
{
    if (s->n_lat == s->cap_lat) {
        size_t cap = s->cap_lat ? s->cap_lat * 2 : 256;
        int64_t *l = realloc(s->lat, cap * sizeof *l);
        if (!l)
            return; /* the percentiles lose a sample, nothing else */
        s->lat = l;
        s->cap_lat = cap;
    }
    s->lat[s->n_lat++] = ms;
}

void stats_add_response(struct batch_stats *s,
                        const struct lr_response *resp)
{
    enum lr_status st = lr_response_status(resp);
    size_t n = lr_response_attempt_count(resp);
    for (size_t i = 0; i < n; i++) {
        struct lr_attempt_info a;
        if (lr_response_attempt(resp, i, &a) == LR_OK &&
            a.http_status == 429)
            s->http_429++;
    }
    s->cost_usd += lr_response_cost_usd(resp);
    add_latency(s, lr_response_latency_ms(resp));
    if (st == LR_OK) {
        s->answered++;
        s->fallbacks += is_fallback(resp);
        return;
    }
    s->failed++;
    s->by_class[(size_t)st < N_CLASSES ? (size_t)st : LR_E_INTERNAL]++;
}

void stats_free(struct batch_stats *s)
{
    free(s->lat);
    s->lat = NULL;
    s->n_lat = s->cap_lat = 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t stats_percentile(struct batch_stats *s, int p)
{
    if (!s->n_lat)
        return 0;
    qsort(s->lat, s->n_lat, sizeof *s->lat, cmp_i64);
    size_t rank = (s->n_lat * (size_t)p + 99) / 100;
    return s->lat[rank ? rank - 1 : 0];
}

static void print_classes(const struct batch_stats *s, FILE *fp)
{
    const char *sep = "  (";
    for (size_t i = 0; i < N_CLASSES; i++) {
        if (!s->by_class[i])
            continue;
        fprintf(fp, "%s%s %ld", sep, lr_status_name((enum lr_status)i),
                s->by_class[i]);
        sep = ", ";
    }
    fputs(*sep == ',' ? ")\n" : "\n", fp);
}

void stats_print(struct batch_stats *s, FILE *fp)
{
    int64_t wall = s->end_ms - s->start_ms;
    fprintf(fp, "batch: %s\n", s->interrupted ? "interrupted" : "done");
    fprintf(fp, "  sent        %ld  (%ld already in OUT, %ld lines "
            "skipped, %ld cancelled)\n", s->sent, s->already, s->skipped,
            s->cancelled);
    fprintf(fp, "  answered    %ld  (%ld after a fallback)\n", s->answered,
            s->fallbacks);
    fprintf(fp, "  failed      %ld", s->failed);
    print_classes(s, fp);
    fprintf(fp, "  429s seen   %ld\n", s->http_429);
    fprintf(fp, "  cost        $%.4f\n", s->cost_usd);
    fprintf(fp, "  latency     p50 %" PRId64 " ms, p95 %" PRId64 " ms\n",
            stats_percentile(s, 50), stats_percentile(s, 95));
    fprintf(fp, "  wall        %" PRId64 ".%01" PRId64 " s\n", wall / 1000,
            wall % 1000 / 100);
}

static cJSON *classes_json(const struct batch_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < N_CLASSES; i++)
        if (s->by_class[i])
            cJSON_AddNumberToObject(o, lr_status_name((enum lr_status)i),
                                    (double)s->by_class[i]);
    return o;
}

char *stats_json(struct batch_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *lat = cJSON_CreateObject();
    cJSON *cls = classes_json(s);
    if (!o || !lat || !cls) {
        cJSON_Delete(o);
        cJSON_Delete(lat);
        cJSON_Delete(cls);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "interrupted", s->interrupted != 0);
    cJSON_AddNumberToObject(o, "lines", (double)s->handled);
    cJSON_AddNumberToObject(o, "already_done", (double)s->already);
    cJSON_AddNumberToObject(o, "skipped_lines", (double)s->skipped);
    cJSON_AddNumberToObject(o, "sent", (double)s->sent);
    cJSON_AddNumberToObject(o, "answered", (double)s->answered);
    cJSON_AddNumberToObject(o, "failed", (double)s->failed);
    cJSON_AddItemToObject(o, "failed_by_class", cls);
    cJSON_AddNumberToObject(o, "bad_lines", (double)s->bad);
    cJSON_AddNumberToObject(o, "cancelled", (double)s->cancelled);
    cJSON_AddNumberToObject(o, "fallbacks", (double)s->fallbacks);
    cJSON_AddNumberToObject(o, "http_429", (double)s->http_429);
    cJSON_AddNumberToObject(o, "cost_usd", s->cost_usd);
    cJSON_AddNumberToObject(lat, "p50", (double)stats_percentile(s, 50));
    cJSON_AddNumberToObject(lat, "p95", (double)stats_percentile(s, 95));
    cJSON_AddItemToObject(o, "latency_ms", lat);
    cJSON_AddNumberToObject(o, "wall_ms", (double)(s->end_ms - s->start_ms));
    cJSON_AddNumberToObject(o, "max_in_flight", (double)s->max_in_flight);
    char *j = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return j;
}
