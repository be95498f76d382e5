/*
 * cache_entry.h - the cache policy's stored entry: one JSON object per
 * cached answer.  Header-only, included by policy_cache.c alone.
 *
 *   {"key": "<canonical request, see cache_key.h>", "target": "gpt-mini",
 *    "model": "gpt-4o-mini-2024-07-18", "text": "...", "tool_calls": "",
 *    "finish": "stop", "prompt_tokens": 12, "completion_tokens": 3,
 *    "stored_ms": 1700000000000}
 *
 * tool_calls is the answer's tool_calls_json as text ("" when none);
 * tokens are -1 when the provider did not report them; stored_ms is the
 * wall time of the store, for people reading the store.  An entry that
 * does not parse, lacks a field or has the wrong type of value is
 * treated as a miss (see policy_cache.c), never half-used.
 */
#ifndef LR_PLUGINS_CACHE_ENTRY_H
#define LR_PLUGINS_CACHE_ENTRY_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cJSON.h>

#include "llmroute_plugin.h"

/* Finish reasons by name, for the entry and the cache_finish key.  "error"
   and "none" are not here: such answers are never stored. */
static const struct {
    enum lr_finish finish;
    const char *name;
} finish_names[] = {
    {LR_FINISH_STOP, "stop"},
    {LR_FINISH_LENGTH, "length"},
    {LR_FINISH_TOOL_CALLS, "tool_calls"},
    {LR_FINISH_CONTENT_FILTER, "content_filter"},
    {LR_FINISH_OTHER, "other"},
};
#define N_FINISH (sizeof finish_names / sizeof finish_names[0])

/* The name of f, or NULL when f is not storable. */
static const char *finish_name(enum lr_finish f)
{
    for (size_t i = 0; i < N_FINISH; i++)
        if (finish_names[i].finish == f)
            return finish_names[i].name;
    return NULL;
}

/* LR_FINISH_NONE when name is not a storable finish. */
static enum lr_finish finish_by_name(const char *name)
{
    for (size_t i = 0; name && i < N_FINISH; i++)
        if (strcmp(finish_names[i].name, name) == 0)
            return finish_names[i].finish;
    return LR_FINISH_NONE;
}

/* A buffer's text ("" when never written). */
static const char *buf_text(const struct lr_buf *b)
{
    return b->data ? b->data : "";
}

/* The entry for an answer, malloc'd (free()), or NULL on OOM. */
static char *entry_encode(const char *canon, const char *target,
                          const struct lr_result *r, int64_t stored_ms)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "key", canon) &&
             cJSON_AddStringToObject(o, "target", target) &&
             cJSON_AddStringToObject(o, "model", buf_text(&r->model)) &&
             cJSON_AddStringToObject(o, "text", buf_text(&r->text)) &&
             cJSON_AddStringToObject(o, "tool_calls",
                                     buf_text(&r->tool_calls_json)) &&
             cJSON_AddStringToObject(o, "finish", finish_name(r->finish)) &&
             cJSON_AddNumberToObject(o, "prompt_tokens",
                                     (double)r->prompt_tokens) &&
             cJSON_AddNumberToObject(o, "completion_tokens",
                                     (double)r->completion_tokens) &&
             cJSON_AddNumberToObject(o, "stored_ms", (double)stored_ms);
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* A decoded entry; strings point into the cJSON tree it came from. */
struct entry {
    const char *key, *target, *model, *text, *tool_calls;
    enum lr_finish finish;
    int64_t prompt_tokens, completion_tokens;
};

static const char *entry_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A token count, -1 when absent or not a sane count. */
static int64_t entry_count(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
        v->valuedouble < 0 || v->valuedouble > 1e15)
        return -1;
    return (int64_t)v->valuedouble;
}

/* Fill e from the tree o; 0 when a field is missing or mistyped. */
static int entry_decode(const cJSON *o, struct entry *e)
{
    e->key = entry_str(o, "key");
    e->target = entry_str(o, "target");
    e->model = entry_str(o, "model");
    e->text = entry_str(o, "text");
    e->tool_calls = entry_str(o, "tool_calls");
    e->finish = finish_by_name(entry_str(o, "finish"));
    e->prompt_tokens = entry_count(o, "prompt_tokens");
    e->completion_tokens = entry_count(o, "completion_tokens");
    return e->key && e->target && e->target[0] && e->model && e->text &&
           e->tool_calls && e->finish != LR_FINISH_NONE;
}

#endif
