/*
 * response.c - the response object, its getters and its JSON shape:
 *   success {"id","text","finish_reason","target","provider","model",
 *            "tier","usage":{...},"cost_usd","latency_ms","attempts":[...]}
 *   failure {"id","error":{"class","message","retry_after_ms"},
 *            "attempts":[...]}
 * Each attempt: {"target","status","error_class","retry_after_ms",
 * "waited_ms","latency_ms","skipped"} plus "wait_reason" and
 * "fallback_reason" when there was one.
 */
#include "response.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct lr_response *lr_response_new(uint64_t id)
{
    struct lr_response *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = id;
    r->retry_after_ms = -1;
    r->attempts = r->attempts_inl;
    r->cap_attempts = sizeof r->attempts_inl / sizeof r->attempts_inl[0];
    return r;
}

static int in_strs(const struct lr_response *r, const char *p)
{
    return p >= r->strs && p < r->strs + sizeof r->strs;
}

static void free_str(const struct lr_response *r, char *p)
{
    if (!in_strs(r, p))
        free(p);
}

int lr_response_set_str(struct lr_response *r, char **slot, const char *s)
{
    char *copy = NULL;
    if (s) {
        size_t n = strlen(s) + 1;
        if (n <= sizeof r->strs - r->strs_used) {
            copy = memcpy(r->strs + r->strs_used, s, n);
            r->strs_used += n;
        }
        else if (!(copy = strdup(s)))
            return LR_E_NOMEM;
    }
    free_str(r, *slot);
    *slot = copy;
    return LR_OK;
}

struct lr_attempt_rec *lr_response_add_attempt(struct lr_response *r,
                                               const char *target)
{
    if (r->n_attempts == r->cap_attempts) {
        size_t cap = r->cap_attempts * 2;
        struct lr_attempt_rec *old = r->attempts == r->attempts_inl
                                         ? NULL : r->attempts;
        struct lr_attempt_rec *v = realloc(old, cap * sizeof *v);
        if (!v)
            return NULL;
        if (!old)
            memcpy(v, r->attempts_inl, sizeof r->attempts_inl);
        r->attempts = v;
        r->cap_attempts = cap;
    }
    struct lr_attempt_rec *a = &r->attempts[r->n_attempts];
    memset(a, 0, sizeof *a);
    a->retry_after_ms = -1;
    if (lr_response_set_str(r, &a->target, target) != LR_OK)
        return NULL;
    r->n_attempts++;
    return a;
}

void lr_response_free(struct lr_response *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_attempts; i++) {
        struct lr_attempt_rec *a = &r->attempts[i];
        free_str(r, a->target);
        free_str(r, a->skipped);
        free_str(r, a->wait_reason);
        free_str(r, a->fallback_reason);
        free_str(r, a->key_var);
    }
    if (r->attempts != r->attempts_inl)
        free(r->attempts);
    lr_buf_free(&r->text);
    lr_buf_free(&r->tool_calls_json);
    lr_buf_free(&r->error_message);
    free_str(r, r->target);
    free_str(r, r->provider);
    free_str(r, r->model);
    free_str(r, r->tier);
    free_str(r, r->served_by);
    free(r);
}

const char *lr_finish_name(enum lr_finish f)
{
    static const char *names[] = {"", "stop", "length", "tool_calls",
                                  "content_filter", "other", "error"};
    return f <= LR_FINISH_ERROR ? names[f] : "other";
}

enum lr_status lr_response_status(const struct lr_response *r)
{
    return r ? r->status : LR_E_INVALID_ARG;
}

uint64_t lr_response_id(const struct lr_response *r)
{
    return r ? r->id : 0;
}

const char *lr_response_text(const struct lr_response *r)
{
    return r ? lr_buf_str(&r->text) : "";
}

const char *lr_response_finish_reason(const struct lr_response *r)
{
    if (!r || r->status != LR_OK)
        return "error";
    return r->finish == LR_FINISH_NONE ? "stop" : lr_finish_name(r->finish);
}

const char *lr_response_target(const struct lr_response *r)
{
    return r ? r->target : NULL;
}

const char *lr_response_provider(const struct lr_response *r)
{
    return r ? r->provider : NULL;
}

const char *lr_response_model(const struct lr_response *r)
{
    return r ? r->model : NULL;
}

const char *lr_response_served_by(const struct lr_response *r)
{
    return r ? r->served_by : NULL;
}

const char *lr_response_tier(const struct lr_response *r)
{
    return r ? r->tier : NULL;
}

int64_t lr_response_prompt_tokens(const struct lr_response *r)
{
    return r ? r->prompt_tokens : 0;
}

int64_t lr_response_completion_tokens(const struct lr_response *r)
{
    return r ? r->completion_tokens : 0;
}

int64_t lr_response_cached_tokens(const struct lr_response *r)
{
    return r ? r->cached_tokens : 0;
}

int64_t lr_response_reasoning_tokens(const struct lr_response *r)
{
    return r ? r->reasoning_tokens : 0;
}

double lr_response_cost_usd(const struct lr_response *r)
{
    return r ? r->cost_usd : 0;
}

int64_t lr_response_latency_ms(const struct lr_response *r)
{
    return r ? r->latency_ms : 0;
}

const char *lr_response_tool_calls_json(const struct lr_response *r)
{
    return r && r->tool_calls_json.len ? r->tool_calls_json.data : NULL;
}

const char *lr_response_error_message(const struct lr_response *r)
{
    return r ? lr_buf_str(&r->error_message) : "";
}

int64_t lr_response_retry_after_ms(const struct lr_response *r)
{
    return r ? r->retry_after_ms : -1;
}

size_t lr_response_attempt_count(const struct lr_response *r)
{
    return r ? r->n_attempts : 0;
}

/* struct lr_attempt_info as 0.1.0 defined it: up to wait_reason. */
#define LR_ATTEMPT_INFO_V1 offsetof(struct lr_attempt_info, fallback_reason)

int lr_response_attempt_sized(const struct lr_response *r, size_t i,
                              struct lr_attempt_info *out, size_t out_size)
{
    if (!r || !out || i >= r->n_attempts || out_size < LR_ATTEMPT_INFO_V1)
        return LR_E_INVALID_ARG;
    const struct lr_attempt_rec *a = &r->attempts[i];
    struct lr_attempt_info all = {
        .target = a->target,
        .http_status = a->http_status,
        .error = a->error,
        .retry_after_ms = a->retry_after_ms,
        .waited_ms = a->waited_ms,
        .latency_ms = a->latency_ms,
        .skipped = a->skipped,
        .wait_reason = a->wait_reason,
        .fallback_reason = a->fallback_reason,
    };
    /* A caller built against an older header has a shorter struct:
       never write past it. */
    memcpy(out, &all, out_size < sizeof all ? out_size : sizeof all);
    return LR_OK;
}

/* The symbol programs built before fallback_reason call (the header's
   macro of the same name sends newer source to the sized one). */
#undef lr_response_attempt
int lr_response_attempt(const struct lr_response *r, size_t i,
                        struct lr_attempt_info *out)
{
    return lr_response_attempt_sized(r, i, out, LR_ATTEMPT_INFO_V1);
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_hint(cJSON *o, int64_t ms)
{
    if (ms >= 0)
        cJSON_AddNumberToObject(o, "retry_after_ms", (double)ms);
    else
        cJSON_AddNullToObject(o, "retry_after_ms");
}

static cJSON *attempt_json(const struct lr_attempt_rec *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "target", a->target);
    cJSON_AddNumberToObject(o, "status", (double)a->http_status);
    add_str_or_null(o, "error_class",
                    a->error == LR_OK ? NULL : lr_status_name(a->error));
    add_hint(o, a->retry_after_ms);
    cJSON_AddNumberToObject(o, "waited_ms", (double)a->waited_ms);
    cJSON_AddNumberToObject(o, "latency_ms", (double)a->latency_ms);
    add_str_or_null(o, "skipped", a->skipped);
    if (a->wait_reason)
        cJSON_AddStringToObject(o, "wait_reason", a->wait_reason);
    if (a->fallback_reason)
        cJSON_AddStringToObject(o, "fallback_reason", a->fallback_reason);
    if (a->key_var)
        cJSON_AddStringToObject(o, "key", a->key_var);
    return o;
}

static void add_success(cJSON *o, const struct lr_response *r,
                        int with_text)
{
    if (with_text)
        cJSON_AddStringToObject(o, "text", lr_buf_str(&r->text));
    cJSON_AddStringToObject(o, "finish_reason", lr_response_finish_reason(r));
    if (r->tool_calls_json.len) {
        cJSON *tc = cJSON_Parse(r->tool_calls_json.data);
        if (tc)
            cJSON_AddItemToObject(o, "tool_calls", tc);
    }
    add_str_or_null(o, "target", r->target);
    add_str_or_null(o, "provider", r->provider);
    add_str_or_null(o, "model", r->model);
    add_str_or_null(o, "tier", r->tier);
    if (r->served_by)
        cJSON_AddStringToObject(o, "served_by", r->served_by);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    if (u) {
        cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->prompt_tokens);
        cJSON_AddNumberToObject(u, "completion_tokens",
                                (double)r->completion_tokens);
        cJSON_AddNumberToObject(u, "cached_tokens", (double)r->cached_tokens);
        cJSON_AddNumberToObject(u, "reasoning_tokens",
                                (double)r->reasoning_tokens);
    }
    cJSON_AddNumberToObject(o, "cost_usd", r->cost_usd);
    cJSON_AddNumberToObject(o, "latency_ms", (double)r->latency_ms);
}

static void add_failure(cJSON *o, const struct lr_response *r)
{
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    if (!e)
        return;
    cJSON_AddStringToObject(e, "class", lr_status_name(r->status));
    cJSON_AddStringToObject(e, "message", lr_buf_str(&r->error_message));
    add_hint(e, r->retry_after_ms);
    cJSON_AddNumberToObject(o, "latency_ms", (double)r->latency_ms);
}

char *lr_response_to_json(const struct lr_response *r, int with_text)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    char id[32];
    snprintf(id, sizeof id, "%" PRIu64, r->id);
    cJSON_AddStringToObject(o, "id", id);
    if (r->status == LR_OK)
        add_success(o, r, with_text);
    else
        add_failure(o, r);
    cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; arr && i < r->n_attempts; i++) {
        cJSON *a = attempt_json(&r->attempts[i]);
        if (a)
            cJSON_AddItemToArray(arr, a);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *lr_response_json(const struct lr_response *r)
{
    return r ? lr_response_to_json(r, 1) : NULL;
}
