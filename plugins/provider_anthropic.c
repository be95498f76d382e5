/*
 * provider_anthropic.c - the Anthropic Messages provider.
 *
 * A pure translator (see llmroute_plugin.h): it turns an lr_chat into a
 * POST to <base_url>/v1/messages, and a response, an error body or one
 * SSE event back into an lr_result.  The wire format is in
 * provider-wire-formats.md section 2; docs/provider-anthropic.md records
 * what this file decided where that leaves room.
 *
 * Decisions worth knowing:
 *  - OpenAI-shaped input (tool calls, tools, tool_choice) is translated:
 *    the core's request model is OpenAI's.  Consecutive turns of one
 *    role are merged into one message of several blocks, since Anthropic
 *    wants user and assistant to alternate; tool results are user turns
 *    and always come first in their message, as Anthropic requires.
 *  - max_tokens is always sent (Anthropic requires it): the request's,
 *    else the target's default_max_tokens (4096).  A temperature outside
 *    0..1 fails the build rather than being clamped behind the caller's
 *    back.
 *  - Every parse path fills the result and returns LR_OK; a 2xx body we
 *    cannot read is LR_E_PROTOCOL, a non-2xx one is classified by status.
 *  - The retry hint is the exhausted anthropic-ratelimit-*-reset time
 *    minus "now", now being the response's Date when it has one (so a
 *    skewed local clock does not matter) and the host's wall clock else.
 *  - The anthropic-ratelimit-* remaining/reset headers are read into the
 *    result's rl_* fields on every response, success or error, the same
 *    way (resets as ms from the Date header); streams are left alone, as
 *    the provider never sees a stream's headers.
 *  - The target's API key is cut out of every error message we copy.
 *  - Of the ABI 1.3 fields, top_p is sent; seed and the penalties have
 *    no Messages API equivalent and are left out; a response format
 *    fails the build (refuse_format), so the request moves on.
 *
 * Only lr_plugin_entry is exported; libcjson is the one library linked.
 */
#include "c_locale.h"
#include "llmroute_plugin.h"
#include "provider_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOOL_BLOCKS 1024  /* tool_use blocks in one stream */
#define MAX_JSON (16u << 20)  /* input_json_delta bytes in one stream */
#define API_VERSION "2023-06-01"

struct anthropic {
    const struct lr_host *host;
};

static const struct lr_cfg_key target_keys[] = {
    {"anthropic_version", LR_CFG_STRING, API_VERSION,
     "sent as the anthropic-version header"},
    {"anthropic_beta", LR_CFG_STRING, NULL,
     "sent as the anthropic-beta header (comma-separated features)"},
    {"default_max_tokens", LR_CFG_INT, "4096",
     "max_tokens when neither the request nor max_tokens sets one"},
};

/* --- Target options --------------------------------------------------- */

struct target_opts {
    const char *version;
    const char *beta;
    int64_t default_max_tokens;
};

/* Nonzero when s can stand in a header line (no CR/LF or other C0). */
static int header_safe(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

/* The target's own keys; the section may be NULL (defaults then). */
static int read_opts(const struct lr_host *h, const struct lr_target_info *t,
                     struct target_opts *o, char *err, size_t errlen)
{
    const char *v;
    int64_t n;

    o->version = API_VERSION;
    o->beta = NULL;
    o->default_max_tokens = 4096;
    if (!t->section)
        return LR_OK;
    if (h->cfg_str(t->section, "anthropic_version", &v) == LR_OK && *v)
        o->version = v;
    if (h->cfg_str(t->section, "anthropic_beta", &v) == LR_OK && *v)
        o->beta = v;
    if (h->cfg_int(t->section, "default_max_tokens", &n) == LR_OK) {
        if (n <= 0)
            return fail(err, errlen, LR_E_CONFIG,
                        "default_max_tokens: must be positive, not %lld",
                        (long long)n);
        o->default_max_tokens = n;
    }
    if (!header_safe(o->version) || (o->beta && !header_safe(o->beta)))
        return fail(err, errlen, LR_E_CONFIG,
                    "anthropic_version/anthropic_beta: control character "
                    "in value");
    return LR_OK;
}

/* --- Messages ---------------------------------------------------------- */

static cJSON *text_block(const char *text)
{
    int ok = 1;
    cJSON *b = cJSON_CreateObject();
    put(b, "type", cJSON_CreateString("text"), &ok);
    put(b, "text", cJSON_CreateString(text), &ok);
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* One OpenAI-shaped call as a tool_use block; *why says what is wrong. */
static cJSON *tool_use_block(const cJSON *call, const char **why)
{
    const cJSON *fn = get(call, "function");
    const char *id = get_str(call, "id"), *name = get_str(fn, "name");
    const char *args = get_str(fn, "arguments");
    cJSON *input = NULL;
    int ok = 1;

    *why = "not a {id, function:{name, arguments}} object";
    if (!id || !name)
        return NULL;
    input = args && *args ? parse_embedded(args) : cJSON_CreateObject();
    if (!cJSON_IsObject(input)) {
        *why = input ? "function.arguments: not a JSON object"
                     : "function.arguments: invalid JSON";
        cJSON_Delete(input);
        return NULL;
    }
    cJSON *b = cJSON_CreateObject();
    put(b, "type", cJSON_CreateString("tool_use"), &ok);
    put(b, "id", cJSON_CreateString(id), &ok);
    put(b, "name", cJSON_CreateString(name), &ok);
    put(b, "input", input, &ok);
    *why = "out of memory";
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

static int add_tool_uses(cJSON *blocks, const char *calls_json, size_t i,
                         char *err, size_t errlen)
{
    cJSON *calls = parse_embedded(calls_json);
    const cJSON *c;
    const char *why;
    int k = 0, ok = 1;

    if (!cJSON_IsArray(calls)) {
        why = calls ? "not a JSON array" : "invalid JSON";
        cJSON_Delete(calls);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu].tool_calls_json: %s", i, why);
    }
    cJSON_ArrayForEach(c, calls)
    {
        cJSON *b = tool_use_block(c, &why);
        if (!b) {
            cJSON_Delete(calls);
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "messages[%zu].tool_calls_json[%d]: %s", i, k, why);
        }
        put(blocks, NULL, b, &ok);
        k++;
    }
    cJSON_Delete(calls);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

static cJSON *tool_result_block(const struct lr_message *m)
{
    int ok = 1;
    cJSON *b = cJSON_CreateObject();
    put(b, "type", cJSON_CreateString("tool_result"), &ok);
    put(b, "tool_use_id", cJSON_CreateString(m->tool_call_id), &ok);
    if (m->content && *m->content)
        put(b, "content", cJSON_CreateString(m->content), &ok);
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* The blocks of turn i, appended to blocks. */
static int turn_blocks(cJSON *blocks, const struct lr_message *m, size_t i,
                       char *err, size_t errlen)
{
    int ok = 1;
    if (m->role == LR_ROLE_TOOL) {
        if (!m->tool_call_id || !*m->tool_call_id)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "messages[%zu].tool_call_id: missing", i);
        put(blocks, NULL, tool_result_block(m), &ok);
        return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
    }
    if (m->content && *m->content)
        put(blocks, NULL, text_block(m->content), &ok);
    if (!ok)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    if (m->role == LR_ROLE_ASSISTANT && m->tool_calls_json)
        return add_tool_uses(blocks, m->tool_calls_json, i, err, errlen);
    return LR_OK;
}

static int is_type(const cJSON *block, const char *type)
{
    const char *t = get_str(block, "type");
    return t && strcmp(t, type) == 0;
}

/* Moves the blocks of src that are (want 1) or are not (want 0)
   tool_result blocks to the end of dst, in order. */
static void move_blocks(cJSON *dst, cJSON *src, int want)
{
    int i = 0;
    cJSON *b;
    while ((b = cJSON_GetArrayItem(src, i)) != NULL) {
        if (is_type(b, "tool_result") == want)
            cJSON_AddItemToArray(dst, cJSON_DetachItemFromArray(src, i));
        else
            i++;
    }
}

/* Appends the blocks of src to dst, tool_result blocks before every
   other block, since Anthropic refuses a tool_result after text.
   (Debian 12's cJSON_InsertItemInArray fails for any index but 0, so
   the order is rebuilt by moving blocks instead.) */
static int merge_blocks(cJSON *dst, cJSON *src)
{
    cJSON *rest = cJSON_CreateArray();
    if (!rest)
        return LR_E_NOMEM;
    move_blocks(rest, dst, 0);
    move_blocks(dst, src, 1);
    move_blocks(dst, rest, 0);
    move_blocks(dst, src, 0);
    cJSON_Delete(rest);
    return LR_OK;
}

/* Adds turn i, merged into the last message when the role is the same. */
static int add_turn(cJSON *msgs, const struct lr_message *m, size_t i,
                    char *err, size_t errlen)
{
    const char *role = m->role == LR_ROLE_ASSISTANT ? "assistant" : "user";
    cJSON *blocks = cJSON_CreateArray();
    int ok = 1;

    if (m->role != LR_ROLE_USER && m->role != LR_ROLE_ASSISTANT &&
        m->role != LR_ROLE_TOOL) {
        cJSON_Delete(blocks);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu]: role %d is not user, assistant or tool",
                    i, (int)m->role);
    }
    int rc = turn_blocks(blocks, m, i, err, errlen);
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    const char *last_role = get_str(last, "role");
    if (rc == LR_OK && last_role && strcmp(last_role, role) == 0) {
        rc = merge_blocks(cJSON_GetObjectItemCaseSensitive(last, "content"),
                          blocks);
        cJSON_Delete(blocks);
        return rc == LR_OK ? LR_OK
                           : fail(err, errlen, rc, "out of memory");
    }
    if (rc != LR_OK) {
        cJSON_Delete(blocks);
        return rc;
    }
    cJSON *msg = cJSON_CreateObject();
    put(msg, "role", cJSON_CreateString(role), &ok);
    put(msg, "content", blocks, &ok);
    put(msgs, NULL, msg, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* A message of one text block says it as a plain string; a message with
   no block at all sends "" (the upstream judges it). */
static int simplify(cJSON *msgs)
{
    cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        cJSON *blocks = cJSON_GetObjectItemCaseSensitive(m, "content");
        int n = cJSON_GetArraySize(blocks);
        const cJSON *b = cJSON_GetArrayItem(blocks, 0);
        const char *text = n == 1 && is_type(b, "text")
                               ? get_str(b, "text") : (n ? NULL : "");
        if (!text)
            continue;
        cJSON *s = cJSON_CreateString(text);
        if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(m, "content", s)) {
            cJSON_Delete(s);
            return LR_E_NOMEM;
        }
    }
    return LR_OK;
}

static int add_messages(cJSON *body, const struct lr_chat *c, char *err,
                        size_t errlen)
{
    int ok = 1;
    cJSON *msgs = cJSON_CreateArray();
    put(body, "messages", msgs, &ok);
    if (!ok)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    if (c->n_messages && !c->messages)
        return fail(err, errlen, LR_E_INVALID_ARG, "messages: NULL array");
    for (size_t i = 0; i < c->n_messages; i++) {
        int rc = add_turn(msgs, &c->messages[i], i, err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    if (simplify(msgs) != LR_OK)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    return LR_OK;
}

/* --- Options and tools ------------------------------------------------ */

/* max_tokens, system, temperature, top_p, stop_sequences, stream,
   metadata.  seed and the presence/frequency penalties have no Messages
   API field: left out, as llmroute_plugin.h allows for hints. */
static int add_options(cJSON *body, const struct lr_chat *c,
                       const struct target_opts *o, char *err,
                       size_t errlen)
{
    int ok = 1;
    int64_t max = c->max_tokens > 0 ? c->max_tokens : o->default_max_tokens;

    put_int(body, "max_tokens", max, &ok);
    if (c->system && *c->system)
        put(body, "system", cJSON_CreateString(c->system), &ok);
    if (c->has_temperature &&
        !(c->temperature >= 0.0 && c->temperature <= 1.0))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "temperature: %g is outside Anthropic's range 0..1",
                    c->temperature);
    if (c->has_temperature)
        put(body, "temperature", cJSON_CreateNumber(c->temperature), &ok);
    if (c->has_top_p && !(c->top_p >= 0.0 && c->top_p <= 1.0))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "top_p: %g is outside Anthropic's range 0..1",
                    c->top_p);
    if (c->has_top_p)
        put(body, "top_p", cJSON_CreateNumber(c->top_p), &ok);
    if (c->n_stop && c->stop) {
        cJSON *stop = cJSON_CreateArray();
        for (size_t i = 0; i < c->n_stop; i++) {
            if (c->stop[i])
                put(stop, NULL, cJSON_CreateString(c->stop[i]), &ok);
        }
        if (cJSON_GetArraySize(stop) > 0)
            put(body, "stop_sequences", stop, &ok);
        else
            cJSON_Delete(stop);
    }
    if (c->stream)
        put(body, "stream", cJSON_CreateTrue(), &ok);
    if (c->user && *c->user) {
        cJSON *meta = cJSON_CreateObject();
        put(meta, "user_id", cJSON_CreateString(c->user), &ok);
        put(body, "metadata", meta, &ok);
    }
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* {type:function, function:{name, description, parameters}} ->
   {name, description, input_schema}; anything without "function" is
   taken as already Anthropic-shaped (server tools included). */
static cJSON *translate_tool(const cJSON *tool, const char **why)
{
    const cJSON *fn = get(tool, "function");
    const char *name = get_str(fn, "name");
    const char *desc = get_str(fn, "description");
    const cJSON *params = get(fn, "parameters");
    int ok = 1;

    *why = "not an object";
    if (!cJSON_IsObject(tool))
        return NULL;
    if (!fn)
        return cJSON_Duplicate(tool, 1);
    *why = "function.name: missing";
    if (!name || !*name)
        return NULL;
    cJSON *t = cJSON_CreateObject();
    put(t, "name", cJSON_CreateString(name), &ok);
    if (desc)
        put(t, "description", cJSON_CreateString(desc), &ok);
    if (cJSON_IsObject(params))
        put(t, "input_schema", cJSON_Duplicate(params, 1), &ok);
    else
        put(t, "input_schema",
            cJSON_Parse("{\"type\":\"object\",\"properties\":{}}"), &ok);
    *why = "out of memory";
    if (!ok) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

static int add_tool_list(cJSON *body, const char *json, char *err,
                         size_t errlen)
{
    cJSON *in = parse_embedded(json);
    const cJSON *tool;
    const char *why;
    int k = 0, ok = 1;

    if (!cJSON_IsArray(in)) {
        cJSON_Delete(in);
        return fail(err, errlen, LR_E_INVALID_ARG, "tools_json: %s",
                    in ? "not a JSON array" : "invalid JSON");
    }
    cJSON *out = cJSON_CreateArray();
    put(body, "tools", out, &ok);
    cJSON_ArrayForEach(tool, in)
    {
        cJSON *t = ok ? translate_tool(tool, &why) : NULL;
        if (!t) {
            cJSON_Delete(in);
            return ok ? fail(err, errlen, LR_E_INVALID_ARG,
                             "tools_json[%d]: %s", k, why)
                      : fail(err, errlen, LR_E_NOMEM, "out of memory");
        }
        put(out, NULL, t, &ok);
        k++;
    }
    cJSON_Delete(in);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* {"type":"tool","name":name}, or NULL when out of memory. */
static cJSON *choose_tool(const char *name)
{
    int ok = 1;
    cJSON *o = cJSON_CreateObject();
    put(o, "type", cJSON_CreateString("tool"), &ok);
    put(o, "name", cJSON_CreateString(name), &ok);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* An OpenAI tool_choice (JSON or a bare word) as Anthropic's, or NULL.
   An Anthropic-shaped object ({"type":"auto"|"any"|"none"|"tool"})
   passes through. */
static cJSON *translate_choice(const char *text)
{
    static const char *const words[][2] = {
        {"auto", "auto"}, {"none", "none"}, {"required", "any"},
        {"any", "any"}};
    static const char *const types[] = {"auto", "any", "none", "tool"};
    cJSON *v = parse_embedded(text);
    const char *word = cJSON_IsString(v) ? v->valuestring : v ? NULL : text;
    const char *type = get_str(v, "type");
    const char *name = get_str(get(v, "function"), "name");
    const char *mapped = NULL;

    if (type && strcmp(type, "function") == 0 && name && *name) {
        cJSON *o = choose_tool(name);
        cJSON_Delete(v);
        return o;
    }
    for (size_t i = 0; type && !get(v, "function") && i < 4; i++) {
        if (strcmp(type, types[i]) == 0)
            return v;
    }
    for (size_t i = 0; word && i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(word, words[i][0]) == 0)
            mapped = words[i][1];
    }
    cJSON_Delete(v);
    if (!mapped)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "type", mapped)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

static int add_tools(cJSON *body, const struct lr_chat *c, char *err,
                     size_t errlen)
{
    int ok = 1, rc;
    if (c->tools_json &&
        (rc = add_tool_list(body, c->tools_json, err, errlen)) != LR_OK)
        return rc;
    if (c->tool_choice_json) {
        cJSON *choice = translate_choice(c->tool_choice_json);
        if (!choice)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "tool_choice_json: not auto, none, required or "
                        "{\"type\":\"function\",\"function\":{\"name\"}}");
        put(body, "tool_choice", choice, &ok);
    }
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* --- The request --------------------------------------------------------- */

/* Any response format fails the build, so the core tries the next
   target: the Messages API of provider-wire-formats.md 2 (version
   2023-06-01) has no JSON mode, and the structured outputs Anthropic
   added later take a schema only and only on some models (see
   docs/provider-anthropic.md).  Prose where the caller parses JSON would
   be worse than a skip. */
static int refuse_format(const char *format, char *err, size_t errlen)
{
    cJSON *f = cJSON_Parse(format);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
    const char *name = "";
    if (cJSON_IsString(type) &&
        (!strcmp(type->valuestring, "json_object") ||
         !strcmp(type->valuestring, "json_schema")))
        name = type->valuestring;
    fail(err, errlen, LR_E_INVALID_ARG,
         "anthropic: response_format %s%sis not supported", name,
         *name ? " " : "");
    cJSON_Delete(f);
    return LR_E_INVALID_ARG;
}

static int build_body(const struct lr_host *h,
                      const struct lr_target_info *t,
                      const struct lr_chat *c, const struct target_opts *o,
                      struct lr_buf *out, char *err, size_t errlen)
{
    int ok = 1, rc;
    cJSON *body = cJSON_CreateObject();

    put(body, "model", cJSON_CreateString(t->model), &ok);
    if (!ok)
        rc = fail(err, errlen, LR_E_NOMEM, "out of memory");
    else if ((rc = add_options(body, c, o, err, errlen)) == LR_OK &&
             (rc = add_messages(body, c, err, errlen)) == LR_OK &&
             (rc = add_tools(body, c, err, errlen)) == LR_OK)
        rc = print_into(h, body, out);
    cJSON_Delete(body);
    if (rc == LR_E_NOMEM && err && errlen && !*err)
        fail(err, errlen, rc, "out of memory");
    return rc;
}

/* Appends "name: value", '\n'-separated from what is already there. */
static int add_header(const struct lr_host *h, struct lr_buf *hdrs,
                      const char *name, const char *value)
{
    return h->buf_printf(hdrs, "%s%s: %s", hdrs->len ? "\n" : "", name,
                         value);
}

static int build_headers(const struct lr_host *h, const char *key,
                         const struct lr_chat *c,
                         const struct target_opts *o, struct lr_buf *hdrs)
{
    int rc = LR_OK;
    if (*key)
        rc |= add_header(h, hdrs, "x-api-key", key);
    rc |= add_header(h, hdrs, "anthropic-version", o->version);
    if (o->beta)
        rc |= add_header(h, hdrs, "anthropic-beta", o->beta);
    rc |= add_header(h, hdrs, "content-type", "application/json");
    if (c->stream)
        rc |= add_header(h, hdrs, "accept", "text/event-stream");
    return rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

/* base_url's path without trailing slashes nor a trailing "/v1" (the
   version is part of the path we add), so both spellings of a base work;
   its query follows our path. */
static int build_url(const struct lr_host *h, const char *base,
                     struct lr_buf *url)
{
    struct base_url u = split_base_url(base);
    if (u.len >= 3 && memcmp(base + u.len - 3, "/v1", 3) == 0)
        u.len -= 3;
    return append_url(h, url, &u, "/v1/messages", NULL);
}

static int build_request_c(void *inst,
                           const struct lr_target_info *t,
                           const struct lr_chat *c,
                           struct lr_http_request *out, char *err,
                           size_t errlen)
{
    const struct anthropic *self = inst;
    struct target_opts o;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!self || !t || !c || !out || !t->base_url)
        return fail(err, errlen, LR_E_INVALID_ARG, "missing argument");
    if (!t->model || !*t->model)
        return fail(err, errlen, LR_E_CONFIG, "model: not set");
    const char *key = t->api_key ? t->api_key : "";
    if (!header_safe(key))
        return fail(err, errlen, LR_E_CONFIG,
                    "api key: contains a control character");
    if (c->response_format_json)
        return refuse_format(c->response_format_json, err, errlen);
    rc = read_opts(self->host, t, &o, err, errlen);
    if (rc == LR_OK)
        rc = build_body(self->host, t, c, &o, &out->body, err, errlen);
    if (rc != LR_OK)
        return rc;
    out->method = "POST";
    if (build_url(self->host, t->base_url, &out->url) != LR_OK ||
        build_headers(self->host, key, c, &o, &out->headers) != LR_OK)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    return LR_OK;
}

/* The whole request in the "C" locale (c_locale.h), whatever the
   application set: cJSON reads and prints numbers through the locale's
   decimal point and swaps only its first byte back to '.', so under one
   of several bytes (ps_AF: U+066B) a temperature came out as invalid
   JSON and "0.5" in caller JSON (tools, response_format) did not parse
   (found by fuzz/fuzz_build.c). */
static int build_request(void *inst, const struct lr_target_info *t,
                         const struct lr_chat *c,
                         struct lr_http_request *out, char *err,
                         size_t errlen)
{
    locale_t old = c_locale_enter();
    int rc = build_request_c(inst, t, c, out, err, errlen);
    c_locale_leave(old);
    return rc;
}

/* --- Error classification -------------------------------------------- */

struct class_name {
    const char *name;
    enum lr_status st;
};

/* error.type names, for errors without a usable status (in a stream, or
   inside a 2xx body) and for 5xx bodies that name their cause. */
static const struct class_name names[] = {
    {"invalid_request_error", LR_E_BAD_REQUEST},
    {"authentication_error", LR_E_AUTH},
    {"permission_error", LR_E_AUTH},
    {"billing_error", LR_E_QUOTA_EXHAUSTED},
    {"not_found_error", LR_E_BAD_REQUEST},
    {"request_too_large", LR_E_BAD_REQUEST},
    {"rate_limit_error", LR_E_RATE_LIMITED},
    {"api_error", LR_E_SERVER_ERROR},
    {"overloaded_error", LR_E_OVERLOADED},
    {"timeout_error", LR_E_TIMEOUT},
};

static enum lr_status by_type(const char *type)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(type, names[i].name) == 0)
            return names[i].st;
    }
    return LR_E_SERVER_ERROR;
}

static enum lr_status by_status(long status)
{
    switch (status) {
    case 401:
    case 403:
        return LR_E_AUTH;
    case 402:
        return LR_E_QUOTA_EXHAUSTED;
    case 408:
        return LR_E_TIMEOUT;
    case 409:
        return LR_E_SERVER_ERROR; /* retryable, as the SDKs treat it */
    case 429:
        return LR_E_RATE_LIMITED;
    case 503:
    case 529:
        return LR_E_OVERLOADED;
    default:
        return status >= 500 ? LR_E_SERVER_ERROR : LR_E_BAD_REQUEST;
    }
}

/*
 * The class of an error: the two 400 wordings that are not plain bad
 * requests first, then the status, then (no status) the type.  status 0
 * means "none" (an in-stream error or an error in a 2xx body).
 */
static enum lr_status classify(long status, const char *type,
                               const char *msg)
{
    if (status < 400 || status > 599)
        status = 0;
    int plain = !status || status == 400 || status == 413;
    if (plain && (strcasestr(msg, "prompt is too long") ||
                  strcasestr(msg, "exceed context limit")))
        return LR_E_CONTEXT_LENGTH;
    if (plain && strcasestr(msg, "credit balance is too low"))
        return LR_E_QUOTA_EXHAUSTED;
    if (status >= 500 && strcmp(type, "overloaded_error") == 0)
        return LR_E_OVERLOADED;
    return status ? by_status(status) : by_type(type);
}

/* --- Retry hints ------------------------------------------------------ */

static int worth_a_hint(enum lr_status st)
{
    return st == LR_E_RATE_LIMITED || st == LR_E_OVERLOADED ||
           st == LR_E_SERVER_ERROR || st == LR_E_TIMEOUT;
}

/* "Now" as the response saw it: its Date header when there is one (so
   a skewed local clock does not matter), else the host's wall clock. */
static int64_t response_now(const struct lr_host *h,
                            const struct lr_http_response *in)
{
    const char *date = header(in, "date");
    int64_t now;
    if (!date || h->parse_time_ms(date, &now) != LR_OK)
        now = h->wall_ms(h);
    return now;
}

/* The latest anthropic-ratelimit-*-reset among exhausted dimensions,
   minus now (the Date header when there is one); -1 when none. */
static int64_t header_hint(const struct lr_host *h,
                           const struct lr_http_response *in)
{
    static const char *const dims[] = {"requests", "tokens",
                                       "input-tokens", "output-tokens"};
    int64_t now = response_now(h, in), best = -1, at;
    char name[64];

    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-remaining",
                 dims[i]);
        const char *rem = header(in, name);
        if (!rem || strcmp(rem, "0") != 0)
            continue;
        snprintf(name, sizeof name, "anthropic-ratelimit-%s-reset",
                 dims[i]);
        const char *reset = header(in, name);
        if (!reset || h->parse_time_ms(reset, &at) != LR_OK)
            continue;
        at = at > now ? at - now : 0;
        if (at > best)
            best = at;
    }
    return best;
}

/* --- Rate-limit readings (ABI 1.1) ------------------------------------ */

/* One dimension's anthropic-ratelimit-DIM-remaining (-1: absent or not
   a plain count) and -reset as ms from now (-1: absent or unreadable). */
static void read_dim(const struct lr_host *h,
                     const struct lr_http_response *in, const char *dim,
                     int64_t now, int64_t *remaining, int64_t *reset_ms)
{
    char name[64];
    int64_t at;
    snprintf(name, sizeof name, "anthropic-ratelimit-%s-remaining", dim);
    const char *v = header(in, name);
    size_t n = v ? strlen(v) : 0;
    *remaining = n && n <= 15 && strspn(v, "0123456789") == n
                     ? (int64_t)strtoll(v, NULL, 10) : -1;
    snprintf(name, sizeof name, "anthropic-ratelimit-%s-reset", dim);
    v = header(in, name);
    *reset_ms = -1;
    if (v && h->parse_time_ms(v, &at) == LR_OK)
        *reset_ms = at > now ? at - now : 0;
}

/* Of two token dimensions, the more restrictive: fewer left, and on a
   tie the later reset. */
static void tighter(int64_t rem, int64_t reset, int64_t *best_rem,
                    int64_t *best_reset)
{
    if (rem < 0)
        return;
    if (*best_rem < 0 || rem < *best_rem ||
        (rem == *best_rem && reset > *best_reset)) {
        *best_rem = rem;
        *best_reset = reset;
    }
}

/* anthropic-ratelimit-* into out->rl_*, on every response.  Tokens come
   from the tokens-* headers (the most restrictive token limit, as
   Anthropic reports it), else from the tighter of input-tokens-* and
   output-tokens-*.  Resets are RFC 3339 times, turned into ms from the
   response's own "now". */
static void read_limits(const struct lr_host *h,
                        const struct lr_http_response *in,
                        struct lr_result *out)
{
    int64_t now = response_now(h, in), rem, reset;
    int64_t tok_rem = -1, tok_reset = -1;

    read_dim(h, in, "requests", now, &rem, &reset);
    if (rem >= 0)
        out->rl_remaining_requests = rem;
    if (reset >= 0)
        out->rl_reset_requests_ms = reset;
    read_dim(h, in, "tokens", now, &tok_rem, &tok_reset);
    if (tok_rem < 0) {
        tok_reset = -1;
        read_dim(h, in, "input-tokens", now, &rem, &reset);
        tighter(rem, reset, &tok_rem, &tok_reset);
        read_dim(h, in, "output-tokens", now, &rem, &reset);
        tighter(rem, reset, &tok_rem, &tok_reset);
    }
    if (tok_rem >= 0)
        out->rl_remaining_tokens = tok_rem;
    if (tok_reset >= 0)
        out->rl_reset_tokens_ms = tok_reset;
}

/* --- Responses ---------------------------------------------------------- */

/* The error object of a body: body.error when an object, or the body of
   a non-2xx answer; NULL for a success. */
static const cJSON *find_error(const cJSON *root, int is_2xx)
{
    if (!cJSON_IsObject(root))
        return NULL;
    const cJSON *e = get(root, "error");
    if (cJSON_IsObject(e))
        return e;
    if (!is_2xx || is_type(root, "error"))
        return root;
    return NULL;
}

/* Fills out for an error: class and message. */
static int fill_error(const struct lr_host *h, const char *key, long status,
                      const cJSON *e, struct lr_result *out)
{
    const char *type = get_str(e, "type");
    const char *msg = get_str(e, "message");
    if (!type)
        type = "";
    if (!msg || !*msg)
        msg = *type ? type : "error without a message";
    out->error = classify(status, type, msg);
    out->finish = LR_FINISH_ERROR;
    h->buf_reset(&out->error_message);
    return append_clean(h, &out->error_message, msg, strlen(msg),
                        MESSAGE_MAX, key);
}

/* An error or 2xx body that is not usable JSON: status and an excerpt. */
static int fill_unreadable(const struct lr_host *h, const char *key,
                           const struct lr_http_response *in,
                           struct lr_result *out)
{
    int is_2xx = in->status >= 200 && in->status < 300;

    out->error = is_2xx ? LR_E_PROTOCOL : classify(in->status, "", "");
    out->finish = LR_FINISH_ERROR;
    h->buf_reset(&out->error_message);
    int rc = h->buf_printf(&out->error_message, "HTTP %ld%s", in->status,
                           is_2xx ? " with an unreadable body" : "");
    if (!in->body || !in->body_len)
        return rc | h->buf_printf(&out->error_message, " (empty body)");
    rc |= h->buf_append(&out->error_message, ": ", 2);
    rc |= append_clean(h, &out->error_message, in->body, in->body_len,
                       EXCERPT_MAX, key);
    return rc ? LR_E_NOMEM : LR_OK;
}

static enum lr_finish map_finish(const char *s)
{
    if (!s)
        return LR_FINISH_NONE;
    if (strcmp(s, "end_turn") == 0 || strcmp(s, "stop_sequence") == 0)
        return LR_FINISH_STOP;
    if (strcmp(s, "max_tokens") == 0 ||
        strcmp(s, "model_context_window_exceeded") == 0)
        return LR_FINISH_LENGTH;
    if (strcmp(s, "tool_use") == 0)
        return LR_FINISH_TOOL_CALLS;
    if (strcmp(s, "refusal") == 0)
        return LR_FINISH_CONTENT_FILTER;
    return LR_FINISH_OTHER;
}

/* Usage parts as Anthropic counts them; -1: not reported (yet). */
struct usage {
    int64_t input, cache_write, cache_read, output;
};

static void usage_read(const cJSON *u, struct usage *us)
{
    if (!cJSON_IsObject(u))
        return;
    us->input = get_count(u, "input_tokens", us->input);
    us->cache_write =
        get_count(u, "cache_creation_input_tokens", us->cache_write);
    us->cache_read = get_count(u, "cache_read_input_tokens", us->cache_read);
    us->output = get_count(u, "output_tokens", us->output);
}

/* prompt = input + cache writes + cache reads (input excludes both). */
static void usage_store(const struct usage *us, struct lr_result *out)
{
    if (us->input >= 0)
        out->prompt_tokens = us->input +
                             (us->cache_write > 0 ? us->cache_write : 0) +
                             (us->cache_read > 0 ? us->cache_read : 0);
    if (us->cache_read >= 0)
        out->cached_tokens = us->cache_read;
    if (us->output >= 0)
        out->completion_tokens = us->output;
}

/* One OpenAI-shaped tool call; args NULL or "" becomes "{}". */
static cJSON *make_call(const char *id, const char *name, const char *args)
{
    int ok = 1;
    cJSON *call = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    put(call, "id", cJSON_CreateString(id ? id : ""), &ok);
    put(call, "type", cJSON_CreateString("function"), &ok);
    put(fn, "name", cJSON_CreateString(name ? name : ""), &ok);
    put(fn, "arguments",
        cJSON_CreateString(args && *args ? args : "{}"), &ok);
    put(call, "function", fn, &ok);
    if (!ok) {
        cJSON_Delete(call);
        return NULL;
    }
    return call;
}

/* A tool_use block as an OpenAI-shaped call (input printed to text). */
static cJSON *block_call(const cJSON *b)
{
    const cJSON *input = get(b, "input");
    char *args = input ? cJSON_PrintUnformatted(input) : NULL;
    if (input && !args)
        return NULL;
    cJSON *call = make_call(get_str(b, "id"), get_str(b, "name"), args);
    cJSON_free(args);
    return call;
}

/* The text blocks concatenated, the tool_use blocks as calls; thinking,
   redacted_thinking and server-tool blocks are not visible text. */
static int write_content(const struct lr_host *h, const cJSON *content,
                         struct lr_result *out)
{
    cJSON *calls = cJSON_CreateArray();
    const cJSON *b;
    int ok = 1, rc = LR_OK;

    cJSON_ArrayForEach(b, content)
    {
        const char *text = get_str(b, "text");
        if (is_type(b, "text") && text)
            rc |= h->buf_append(&out->text, text, strlen(text));
        else if (is_type(b, "tool_use"))
            put(calls, NULL, block_call(b), &ok);
    }
    if (ok && cJSON_GetArraySize(calls) > 0)
        rc |= print_into(h, calls, &out->tool_calls_json);
    cJSON_Delete(calls);
    return ok && rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

static int fill_success(const struct lr_host *h, const char *key,
                        const struct lr_http_response *in,
                        const cJSON *root, struct lr_result *out)
{
    const cJSON *content = get(root, "content");
    const char *model = get_str(root, "model");
    struct usage us = {-1, -1, -1, -1};
    int rc = LR_OK;

    if (model)
        rc |= h->buf_append(&out->model, model, strlen(model));
    usage_read(get(root, "usage"), &us);
    usage_store(&us, out);
    if (!cJSON_IsArray(content)) {
        out->error = LR_E_PROTOCOL;
        out->finish = LR_FINISH_ERROR;
        rc |= h->buf_printf(&out->error_message,
                            "HTTP %ld without content: ", in->status);
        return rc | append_clean(h, &out->error_message, in->body,
                                 in->body_len, EXCERPT_MAX, key);
    }
    rc |= write_content(h, content, out);
    out->finish = map_finish(get_str(root, "stop_reason"));
    if (out->finish == LR_FINISH_STOP && out->tool_calls_json.len)
        out->finish = LR_FINISH_TOOL_CALLS;
    return rc ? LR_E_NOMEM : LR_OK;
}

static int parse_response(void *inst, const struct lr_target_info *t,
                          const struct lr_http_response *in,
                          struct lr_result *out)
{
    const struct anthropic *self = inst;
    if (!self || !in || !out)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *key = t && t->api_key ? t->api_key : NULL;
    int is_2xx = in->status >= 200 && in->status < 300;
    int rc = LR_OK;

    out->error = LR_OK;
    out->retry_after_ms = -1;
    out->prompt_tokens = out->completion_tokens = -1;
    out->cached_tokens = out->reasoning_tokens = 0;
    cJSON *root = parse_json(in->body, in->body_len);
    const cJSON *e = find_error(root, is_2xx);
    const char *rid = header(in, "request-id");
    if (!rid)
        rid = get_str(root, "request_id");
    if (rid)
        rc |= h->buf_append(&out->request_id, rid, strlen(rid));
    if (!cJSON_IsObject(root))
        rc |= fill_unreadable(h, key, in, out);
    else if (e)
        rc |= fill_error(h, key, in->status, e, out);
    else
        rc |= fill_success(h, key, in, root, out);
    read_limits(h, in, out);
    if (out->error != LR_OK && worth_a_hint(out->error))
        out->retry_after_ms = header_hint(h, in);
    cJSON_Delete(root);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* --- Streaming -------------------------------------------------------- */

/* A plugin-owned growable string (host buffers cannot be kept here). */
struct str {
    char *p;
    size_t len, cap;
};

static int str_add(struct str *s, const char *text, size_t n)
{
    if (n >= SIZE_MAX / 2 - s->len)
        return LR_E_NOMEM;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 32;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            return LR_E_NOMEM;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
    return LR_OK;
}

static void str_free(struct str *s)
{
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* One tool_use block of the stream. */
struct tool {
    double index;
    int closed;          /* content_block_stop seen: args is the input */
    struct str id, name;
    struct str args;     /* input_json_delta pieces, then the input */
};

struct stream {
    int started;
    struct usage us;
    size_t json_bytes;   /* input_json_delta bytes so far */
    struct tool *tools;  /* in index order */
    size_t n_tools, cap_tools;
};

static int stream_begin(void *inst, void **state)
{
    if (!state)
        return LR_E_INVALID_ARG;
    struct stream *st = calloc(1, sizeof *st);
    if (!st)
        return LR_E_NOMEM;
    st->us = (struct usage){-1, -1, -1, -1};
    *state = st;
    return LR_OK;
}

static void stream_end(void *inst, void *state)
{
    struct stream *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_tools; i++) {
        str_free(&st->tools[i].id);
        str_free(&st->tools[i].name);
        str_free(&st->tools[i].args);
    }
    free(st->tools);
    free(st);
}

/* The tool block with this index, or NULL. */
static struct tool *tool_find(struct stream *st, double index)
{
    for (size_t i = 0; i < st->n_tools; i++) {
        if (st->tools[i].index == index)
            return &st->tools[i];
    }
    return NULL;
}

/* A new tool block, kept in index order; NULL when out of memory. */
static struct tool *tool_new(struct stream *st, double index)
{
    size_t i = st->n_tools;
    if (st->n_tools == st->cap_tools) {
        size_t cap = st->cap_tools ? st->cap_tools * 2 : 4;
        struct tool *t = realloc(st->tools, cap * sizeof *t);
        if (!t)
            return NULL;
        st->tools = t;
        st->cap_tools = cap;
    }
    while (i > 0 && st->tools[i - 1].index > index)
        i--;
    memmove(&st->tools[i + 1], &st->tools[i],
            (st->n_tools - i) * sizeof st->tools[0]);
    memset(&st->tools[i], 0, sizeof st->tools[0]);
    st->tools[i].index = index;
    st->n_tools++;
    return &st->tools[i];
}

/* Sets acc to a stream protocol error (the first one wins). */
static int stream_fail(const struct lr_host *h, struct lr_result *acc,
                       const char *what, double index)
{
    if (acc->error != LR_OK)
        return LR_OK;
    acc->error = LR_E_PROTOCOL;
    acc->finish = LR_FINISH_ERROR;
    h->buf_reset(&acc->error_message);
    return h->buf_printf(&acc->error_message, "content block %.0f: %s",
                         index, what);
}

/* Writes the closed tool blocks into acc (replacing what was there). */
static int flush_calls(const struct lr_host *h, const struct stream *st,
                       struct lr_result *acc)
{
    int ok = 1, rc = LR_OK;
    if (!st->n_tools)
        return LR_OK;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < st->n_tools; i++) {
        const struct tool *t = &st->tools[i];
        if (t->closed)
            put(arr, NULL, make_call(t->id.p, t->name.p, t->args.p), &ok);
    }
    h->buf_reset(&acc->tool_calls_json);
    if (ok && cJSON_GetArraySize(arr) > 0)
        rc = print_into(h, arr, &acc->tool_calls_json);
    cJSON_Delete(arr);
    return ok ? rc : LR_E_NOMEM;
}

static int block_start(const struct lr_host *h, struct stream *st,
                       const cJSON *root, struct lr_result *acc,
                       struct lr_buf *delta)
{
    const cJSON *idx = get(root, "index");
    const cJSON *b = get(root, "content_block");
    double index = cJSON_IsNumber(idx) ? idx->valuedouble : -1;
    const char *text = get_str(b, "text");

    if (is_type(b, "text") && text && *text)
        return h->buf_append(delta, text, strlen(text));
    if (!is_type(b, "tool_use"))
        return LR_OK; /* thinking, server tools: nothing visible */
    if (tool_find(st, index))
        return stream_fail(h, acc, "started twice", index);
    if (st->n_tools == MAX_TOOL_BLOCKS)
        return stream_fail(h, acc, "too many tool_use blocks", index);
    struct tool *t = tool_new(st, index);
    if (!t)
        return LR_E_NOMEM;
    const char *id = get_str(b, "id"), *name = get_str(b, "name");
    int rc = str_add(&t->id, id ? id : "", id ? strlen(id) : 0);
    rc |= str_add(&t->name, name ? name : "", name ? strlen(name) : 0);
    return rc ? LR_E_NOMEM : LR_OK;
}

static int block_delta(const struct lr_host *h, struct stream *st,
                       const cJSON *root, struct lr_result *acc,
                       struct lr_buf *delta)
{
    const cJSON *idx = get(root, "index");
    const cJSON *d = get(root, "delta");
    double index = cJSON_IsNumber(idx) ? idx->valuedouble : -1;
    const char *text = get_str(d, "text");
    const char *piece = get_str(d, "partial_json");

    if (is_type(d, "text_delta") && text)
        return h->buf_append(delta, text, strlen(text));
    if (!is_type(d, "input_json_delta") || !piece)
        return LR_OK; /* thinking, signature, citations: not visible */
    struct tool *t = tool_find(st, index);
    size_t n = strlen(piece);
    if (!t || t->closed)
        return stream_fail(h, acc, "input_json_delta outside a tool_use",
                           index);
    if (n > MAX_JSON - st->json_bytes)
        return stream_fail(h, acc, "tool input over 16 MiB", index);
    st->json_bytes += n;
    return str_add(&t->args, piece, n);
}

/* A tool block ends: its pieces must make one JSON object ("" is {}). */
static int block_stop(const struct lr_host *h, struct stream *st,
                      const cJSON *root, struct lr_result *acc)
{
    const cJSON *idx = get(root, "index");
    double index = cJSON_IsNumber(idx) ? idx->valuedouble : -1;
    struct tool *t = tool_find(st, index);
    if (!t || t->closed)
        return LR_OK;
    t->closed = 1;
    if (strspn(t->args.p ? t->args.p : "", " \t\r\n") == t->args.len) {
        t->args.len = 0;
        return str_add(&t->args, "{}", 2);
    }
    cJSON *input = parse_json(t->args.p, t->args.len);
    char *text = cJSON_IsObject(input) ? cJSON_PrintUnformatted(input)
                                       : NULL;
    int ok = input != NULL, rc = LR_OK;
    cJSON_Delete(input);
    if (!text) {
        return ok ? stream_fail(h, acc, "tool input is not an object", index)
                  : stream_fail(h, acc, "tool input is not valid JSON",
                                index);
    }
    t->args.len = 0;
    rc = str_add(&t->args, text, strlen(text));
    cJSON_free(text);
    return rc == LR_OK ? flush_calls(h, st, acc) : rc;
}

static int message_start(const struct lr_host *h, struct stream *st,
                         const cJSON *root, struct lr_result *acc)
{
    const cJSON *msg = get(root, "message");
    const char *model = get_str(msg, "model");
    const char *id = get_str(msg, "id");
    int rc = LR_OK;

    if (model && *model && !acc->model.len)
        rc |= h->buf_append(&acc->model, model, strlen(model));
    /* headers are not seen in a stream: the message id stands in */
    if (id && *id && !acc->request_id.len)
        rc |= h->buf_append(&acc->request_id, id, strlen(id));
    usage_read(get(msg, "usage"), &st->us);
    usage_store(&st->us, acc);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* stop_reason and cumulative usage: output_tokens replaces, never adds. */
static int message_delta(const struct lr_host *h, struct stream *st,
                         const cJSON *root, struct lr_result *acc)
{
    const char *reason = get_str(get(root, "delta"), "stop_reason");
    if (reason)
        acc->finish = map_finish(reason);
    usage_read(get(root, "usage"), &st->us);
    usage_store(&st->us, acc);
    return flush_calls(h, st, acc);
}

/* Data that is not a JSON object where an event should be. */
static int stream_garbage(const struct lr_host *h,
                          const struct lr_sse_event *ev,
                          struct lr_result *acc)
{
    acc->error = LR_E_PROTOCOL;
    acc->finish = LR_FINISH_ERROR;
    h->buf_reset(&acc->error_message);
    int rc = h->buf_printf(&acc->error_message, "unreadable stream event: ");
    rc |= append_clean(h, &acc->error_message, ev->data, ev->data_len,
                       EXCERPT_MAX, NULL);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* One parsed event by its type (the data's, else the SSE event name). */
static int dispatch(const struct lr_host *h, struct stream *st,
                    const char *type, const cJSON *root,
                    struct lr_result *acc, struct lr_buf *delta)
{
    const cJSON *e = get(root, "error");
    if (strcmp(type, "error") == 0 || cJSON_IsObject(e))
        return fill_error(h, NULL, 0, cJSON_IsObject(e) ? e : root, acc);
    if (strcmp(type, "content_block_delta") == 0)
        return block_delta(h, st, root, acc, delta);
    if (strcmp(type, "content_block_start") == 0)
        return block_start(h, st, root, acc, delta);
    if (strcmp(type, "content_block_stop") == 0)
        return block_stop(h, st, root, acc);
    if (strcmp(type, "message_start") == 0)
        return message_start(h, st, root, acc);
    if (strcmp(type, "message_delta") == 0)
        return message_delta(h, st, root, acc);
    if (strcmp(type, "message_stop") == 0)
        return flush_calls(h, st, acc) == LR_OK ? LR_STREAM_DONE
                                                : LR_E_NOMEM;
    return LR_OK; /* ping, and event types added later */
}

static int stream_event(void *inst, void *state,
                        const struct lr_sse_event *ev,
                        struct lr_result *acc, struct lr_buf *delta)
{
    const struct anthropic *self = inst;
    struct stream *st = state;
    if (!self || !st || !ev || !acc || !delta)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *data = ev->data ? ev->data : "";
    size_t len = ev->data ? ev->data_len : 0;

    if (!st->started) {
        /* the core zeroed acc; "unknown" is -1 here */
        acc->retry_after_ms = -1;
        acc->prompt_tokens = acc->completion_tokens = -1;
        st->started = 1;
    }
    if (strspn(data, " \t\r\n") >= len)
        return LR_OK; /* an empty data: line carries nothing */
    cJSON *root = parse_json(data, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return stream_garbage(h, ev, acc);
    }
    const char *type = get_str(root, "type");
    if (!type)
        type = ev->event ? ev->event : "";
    int rc = dispatch(h, st, type, root, acc, delta);
    cJSON_Delete(root);
    return rc;
}

/* --- Instance and descriptor -------------------------------------------- */

/* The provider's own section holds nothing: per-target keys are read at
   build time from the target's section. */
static int create(const struct lr_section *section,
                  const struct lr_host *host, void **inst, char *err,
                  size_t errlen)
{
    if (!host || !inst)
        return fail(err, errlen, LR_E_INVALID_ARG, "missing argument");
    struct anthropic *self = calloc(1, sizeof *self);
    if (!self)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    self->host = host;
    *inst = self;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

static const struct lr_provider_ops ops = {
    .default_base_url = "https://api.anthropic.com",
    .target_keys = target_keys,
    .n_target_keys = sizeof target_keys / sizeof target_keys[0],
    .build_request = build_request,
    .parse_response = parse_response,
    .stream_begin = stream_begin,
    .stream_event = stream_event,
    .stream_end = stream_end,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "anthropic",
    .kind = LR_PLUGIN_PROVIDER,
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = (uint32_t)sizeof ops,
};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void);

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
