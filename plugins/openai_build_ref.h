/*
 * openai_build_ref.h - the OpenAI request body built as a cJSON tree and
 * printed: how the provider built it before it wrote JSON directly
 * (openai_json.h).  Kept as the reference the direct writer is tested
 * against byte for byte (tests/unit/test_openai_build_fast.c), and for
 * the parsing of the JSON text a caller embeds (tools, tool_choice,
 * tool_calls), which the provider still does with cJSON.
 *
 * Header-only, static inline: the plugin uses parse_checked() and
 * parse_tool_choice() only, so the ref_* builder is not compiled into
 * the .so; the plugin still exports lr_plugin_entry alone.
 */
#ifndef LR_OPENAI_BUILD_REF_H
#define LR_OPENAI_BUILD_REF_H

#include "llmroute_plugin.h"
#include "provider_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct target_opts {
    const char *organization;
    const char *project;
    int legacy_max_tokens;
    int stream_usage;
    int api_key_header;   /* "api-key: KEY" instead of Bearer (Azure) */
};

/*
 * JSON text the caller embeds (tools, tool_choice, tool_calls) parsed as
 * a whole; *why says what is wrong with it.  want_array: must be [...].
 */
static inline cJSON *parse_checked(const char *text, int want_array,
                                   const char **why)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithOpts(text, &end, 1);
    *why = "invalid JSON";
    if (v && want_array && !cJSON_IsArray(v)) {
        *why = "not a JSON array";
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

static inline int ref_add_message(cJSON *msgs, const struct lr_message *m,
                                  size_t i, char *err, size_t errlen)
{
    static const char *const roles[] = {"system", "user", "assistant",
                                        "tool"};
    const char *why;
    cJSON *calls = NULL;
    int ok = 1;

    if ((unsigned)m->role > LR_ROLE_TOOL)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu]: unknown role %d", i, (int)m->role);
    if (m->role == LR_ROLE_ASSISTANT && m->tool_calls_json) {
        calls = parse_checked(m->tool_calls_json, 1, &why);
        if (!calls)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "messages[%zu].tool_calls_json: %s", i, why);
    }
    if (calls && cJSON_GetArraySize(calls) == 0) {
        cJSON_Delete(calls); /* OpenAI refuses an empty tool_calls */
        calls = NULL;
    }
    cJSON *o = cJSON_CreateObject();
    put(o, "role", cJSON_CreateString(roles[m->role]), &ok);
    if (m->content)
        put(o, "content", cJSON_CreateString(m->content), &ok);
    else
        put(o, "content", calls ? cJSON_CreateNull()
                                : cJSON_CreateString(""), &ok);
    if (calls)
        put(o, "tool_calls", calls, &ok);
    if (m->role == LR_ROLE_TOOL && m->tool_call_id)
        put(o, "tool_call_id", cJSON_CreateString(m->tool_call_id), &ok);
    put(msgs, NULL, o, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

static inline int ref_add_messages(cJSON *body, const struct lr_chat *c,
                                   char *err, size_t errlen)
{
    int ok = 1;
    cJSON *msgs = cJSON_CreateArray();
    put(body, "messages", msgs, &ok);
    if (!ok)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    if (c->system) {
        cJSON *sys = cJSON_CreateObject();
        put(sys, "role", cJSON_CreateString("system"), &ok);
        put(sys, "content", cJSON_CreateString(c->system), &ok);
        put(msgs, NULL, sys, &ok);
    }
    if (c->n_messages && !c->messages)
        return fail(err, errlen, LR_E_INVALID_ARG, "messages: NULL array");
    for (size_t i = 0; i < c->n_messages && ok; i++) {
        int rc = ref_add_message(msgs, &c->messages[i], i, err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* response_format: the caller's JSON object, re-printed compactly. */
static inline int ref_add_format(cJSON *body, const char *text,
                                 char *err, size_t errlen)
{
    const char *why;
    int ok = 1;
    if (!text)
        return LR_OK;
    cJSON *v = parse_checked(text, 0, &why);
    if (v && !cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = NULL;
        why = "not a JSON object";
    }
    if (!v)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "response_format_json: %s", why);
    put(body, "response_format", v, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* top_p, presence_penalty, frequency_penalty, seed, response_format.
   The seed is an integer on the wire: printed from the int64 (a raw
   item), since a double would round seeds past 2^53. */
static inline int ref_add_sampling(cJSON *body, const struct lr_chat *c,
                                   char *err, size_t errlen)
{
    int ok = 1, rc;
    if ((rc = put_hint(body, "top_p", "top_p", c->has_top_p, c->top_p, err,
                       errlen)) != LR_OK ||
        (rc = put_hint(body, "presence_penalty", "presence_penalty",
                       c->has_presence_penalty, c->presence_penalty,
                       err, errlen)) != LR_OK ||
        (rc = put_hint(body, "frequency_penalty", "frequency_penalty",
                       c->has_frequency_penalty, c->frequency_penalty,
                       err, errlen)) != LR_OK)
        return rc;
    if (c->has_seed)
        put_int(body, "seed", c->seed, &ok);
    if (!ok)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    return ref_add_format(body, c->response_format_json, err, errlen);
}

/* max tokens, temperature, stop, the sampling hints and response
   format, user, stream. */
static inline int ref_add_options(cJSON *body, const struct lr_chat *c,
                                  const struct target_opts *o, char *err,
                                  size_t errlen)
{
    int ok = 1;
    if (c->max_tokens > 0)
        put_int(body, o->legacy_max_tokens ? "max_tokens"
                                           : "max_completion_tokens",
                c->max_tokens, &ok);
    if (c->has_temperature && !isfinite(c->temperature))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "temperature: not a finite number");
    if (c->has_temperature)
        put(body, "temperature", cJSON_CreateNumber(c->temperature), &ok);
    if (c->n_stop && c->stop) {
        cJSON *stop = cJSON_CreateArray();
        for (size_t i = 0; i < c->n_stop; i++) {
            if (c->stop[i])
                put(stop, NULL, cJSON_CreateString(c->stop[i]), &ok);
        }
        if (cJSON_GetArraySize(stop) > 0)
            put(body, "stop", stop, &ok);
        else
            cJSON_Delete(stop); /* only NULL entries: send nothing */
    }
    int rc = ref_add_sampling(body, c, err, errlen);
    if (rc != LR_OK)
        return rc;
    if (c->user && *c->user)
        put(body, "user", cJSON_CreateString(c->user), &ok);
    if (c->stream) {
        put(body, "stream", cJSON_CreateTrue(), &ok);
        if (o->stream_usage) {
            cJSON *so = cJSON_CreateObject();
            put(so, "include_usage", cJSON_CreateTrue(), &ok);
            put(body, "stream_options", so, &ok);
        }
    }
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* tool_choice: JSON text, or leniently a bare auto/none/required. */
static inline cJSON *parse_tool_choice(const char *text)
{
    static const char *const bare[] = {"auto", "none", "required"};
    const char *why;
    cJSON *v = parse_checked(text, 0, &why);
    if (v && (cJSON_IsString(v) || cJSON_IsObject(v)))
        return v;
    cJSON_Delete(v);
    for (size_t i = 0; i < sizeof bare / sizeof bare[0]; i++) {
        if (strcmp(text, bare[i]) == 0)
            return cJSON_CreateString(text);
    }
    return NULL;
}

static inline int ref_add_tools(cJSON *body, const struct lr_chat *c,
                                char *err, size_t errlen)
{
    const char *why;
    int ok = 1;
    if (c->tools_json) {
        cJSON *tools = parse_checked(c->tools_json, 1, &why);
        if (!tools)
            return fail(err, errlen, LR_E_INVALID_ARG, "tools_json: %s",
                        why);
        put(body, "tools", tools, &ok);
    }
    if (c->tool_choice_json) {
        cJSON *choice = parse_tool_choice(c->tool_choice_json);
        if (!choice)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "tool_choice_json: not a JSON string or object");
        put(body, "tool_choice", choice, &ok);
    }
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

static inline int ref_build_body(const struct lr_host *h,
                                 const struct lr_target_info *t,
                                 const struct lr_chat *c,
                                 const struct target_opts *o,
                                 struct lr_buf *out, char *err, size_t errlen)
{
    int ok = 1, rc;
    cJSON *body = cJSON_CreateObject();

    put(body, "model", cJSON_CreateString(t->model), &ok);
    if (!ok)
        rc = fail(err, errlen, LR_E_NOMEM, "out of memory");
    else if ((rc = ref_add_messages(body, c, err, errlen)) == LR_OK &&
             (rc = ref_add_options(body, c, o, err, errlen)) == LR_OK &&
             (rc = ref_add_tools(body, c, err, errlen)) == LR_OK)
        rc = print_into(h, body, out);
    cJSON_Delete(body);
    if (rc == LR_E_NOMEM && err && errlen && !*err)
        fail(err, errlen, rc, "out of memory");
    return rc;
}

#endif
