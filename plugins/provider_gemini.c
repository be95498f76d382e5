/*
 * provider_gemini.c - the Google Gemini (Generative Language API)
 * provider.
 *
 * A pure translator (see llmroute_plugin.h): it turns an lr_chat into a
 * POST to <base_url>/<api_version>/models/<model>:generateContent (or
 * :streamGenerateContent?alt=sse), and a GenerateContentResponse, an
 * error body or one SSE chunk back into an lr_result.
 *
 * Decisions worth knowing (docs/provider-gemini.md has the full list):
 *  - Every parse path fills the result and returns LR_OK; a 2xx body we
 *    cannot read is LR_E_PROTOCOL, a non-2xx one is classified by status
 *    with an excerpt as its message.  Only NULL arguments or
 *    out-of-memory return anything else.
 *  - A blocked prompt (200, no candidates, promptFeedback.blockReason) is
 *    the error LR_E_CONTENT_FILTER, with the reason in the message.
 *  - Errors follow provider-wire-formats.md 3: details[] are found by
 *    @type suffix in any order; a QuotaFailure naming a per-day quota (or
 *    quotaValue "0") is quota_exhausted, and for a per-day quota the
 *    retry hint is the next midnight in America/Los_Angeles, computed
 *    from the host's wall clock with the US DST rules (no TZ database).
 *  - The stream has no end marker: stream_event never returns
 *    LR_STREAM_DONE; the finishReason is how the core knows it ended.
 *  - The target's API key is cut out of every error message we copy.
 *  - The ABI 1.3 hints go into generationConfig (topP, seed when it fits
 *    Gemini's int32, presencePenalty, frequencyPenalty); a response
 *    format becomes responseMimeType application/json, plus
 *    responseJsonSchema for a json_schema (see add_format).
 *
 * Only lr_plugin_entry is exported; libcjson is the one library linked.
 */
#include "c_locale.h"
#include "llmroute_plugin.h"
#include "provider_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_STOP 5        /* Gemini's limit on stopSequences */
#define MAX_CALLS 1024    /* function calls accumulated over one stream */
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

struct gemini {
    const struct lr_host *host;
};

static const struct lr_cfg_key target_keys[] = {
    {"api_version", LR_CFG_STRING, "v1beta",
     "API version in the URL path: v1beta (default), v1 or v1alpha"},
};

/* --- Building the request: contents ------------------------------------ */

/* The contents[] being built; last is the turn new parts merge into. */
struct turns {
    cJSON *contents;
    cJSON *last_parts;
    const char *last_role;
};

/* The parts array of a turn of role, merged with the previous turn when
   it has the same role (Gemini wants alternating turns). */
static cJSON *turn_parts(struct turns *ts, const char *role, int *ok)
{
    if (ts->last_parts && strcmp(ts->last_role, role) == 0)
        return ts->last_parts;
    cJSON *turn = cJSON_CreateObject();
    cJSON *parts = cJSON_CreateArray();
    put(turn, "role", cJSON_CreateString(role), ok);
    put(turn, "parts", parts, ok);
    put(ts->contents, NULL, turn, ok);
    if (!*ok)
        return NULL;
    ts->last_parts = parts;
    ts->last_role = role;
    return parts;
}

static cJSON *text_part(const char *text)
{
    cJSON *p = cJSON_CreateObject();
    if (p && !cJSON_AddStringToObject(p, "text", text)) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* The thought signature a response call carried (see write_call). */
static const char *call_signature(const cJSON *call)
{
    return get_str(get(get(call, "extra_content"), "google"),
                   "thought_signature");
}

/* One OpenAI-shaped call as a functionCall part; args must be an
   object (or absent/empty, meaning {}). */
static int call_part(cJSON *parts, const cJSON *call, size_t i, size_t k,
                     char *err, size_t errlen)
{
    const cJSON *fn = get(call, "function");
    const char *name = get_str(fn, "name");
    const char *args = get_str(fn, "arguments");
    const char *sig = call_signature(call);
    int ok = 1;

    if (!name || !*name)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu].tool_calls_json[%zu]: no function name",
                    i, k);
    cJSON *a = args && *args ? parse_embedded(args) : cJSON_CreateObject();
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu].tool_calls_json[%zu]: arguments are not "
                    "a JSON object", i, k);
    }
    cJSON *fc = cJSON_CreateObject(), *part = cJSON_CreateObject();
    put(fc, "name", cJSON_CreateString(name), &ok);
    put(fc, "args", a, &ok);
    put(part, "functionCall", fc, &ok);
    if (sig)
        put(part, "thoughtSignature", cJSON_CreateString(sig), &ok);
    put(parts, NULL, part, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

static int add_model_turn(struct turns *ts, const struct lr_message *m,
                          size_t i, char *err, size_t errlen)
{
    cJSON *calls = NULL, *c;
    int ok = 1, rc = LR_OK;
    size_t k = 0;

    if (m->tool_calls_json) {
        calls = parse_embedded(m->tool_calls_json);
        if (!cJSON_IsArray(calls)) {
            cJSON_Delete(calls);
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "messages[%zu].tool_calls_json: not a JSON array", i);
        }
    }
    cJSON *parts = turn_parts(ts, "model", &ok);
    /* a turn needs at least one part: "" stands in for no text */
    if (ok && ((m->content && *m->content) || !cJSON_GetArraySize(calls)))
        put(parts, NULL, text_part(m->content ? m->content : ""), &ok);
    if (!ok)
        rc = fail(err, errlen, LR_E_NOMEM, "out of memory");
    cJSON_ArrayForEach(c, calls)
    {
        if (rc == LR_OK)
            rc = call_part(parts, c, i, k++, err, errlen);
    }
    cJSON_Delete(calls);
    return rc;
}

/* The function name of call id in the assistant turns before msgs[i]. */
static const char *name_of_call(const struct lr_message *msgs, size_t i,
                                const char *id, char *buf, size_t buflen)
{
    while (id && i-- > 0) {
        if (msgs[i].role != LR_ROLE_ASSISTANT || !msgs[i].tool_calls_json)
            continue;
        cJSON *calls = parse_embedded(msgs[i].tool_calls_json), *c;
        const char *found = NULL;
        cJSON_ArrayForEach(c, calls)
        {
            const char *cid = get_str(c, "id");
            const char *name = get_str(get(c, "function"), "name");
            if (!found && cid && name && strcmp(cid, id) == 0 &&
                strlen(name) < buflen)
                found = strcpy(buf, name);
        }
        cJSON_Delete(calls);
        if (found)
            return found;
    }
    return NULL;
}

/* A tool result: {functionResponse:{name, response}} in a user turn.
   A JSON object content is the response; anything else is wrapped as
   {"result": "<text>"}. */
static int add_tool_turn(struct turns *ts, const struct lr_chat *c,
                         size_t i, char *err, size_t errlen)
{
    const struct lr_message *m = &c->messages[i];
    const char *text = m->content ? m->content : "";
    char buf[256];
    int ok = 1;

    const char *name = m->name && *m->name
                           ? m->name
                           : name_of_call(c->messages, i, m->tool_call_id,
                                          buf, sizeof buf);
    if (!name)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu]: tool result without a name, and no "
                    "earlier call with its tool_call_id", i);
    cJSON *resp = parse_embedded(text);
    if (!cJSON_IsObject(resp)) {
        cJSON_Delete(resp);
        resp = cJSON_CreateObject();
        put(resp, "result", cJSON_CreateString(text), &ok);
    }
    cJSON *fr = cJSON_CreateObject(), *part = cJSON_CreateObject();
    put(fr, "name", cJSON_CreateString(name), &ok);
    put(fr, "response", resp, &ok);
    put(part, "functionResponse", fr, &ok);
    cJSON *parts = ok ? turn_parts(ts, "user", &ok) : NULL;
    put(parts, NULL, part, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* systemInstruction.parts: the chat's system prompt, then any system
   turn found among the messages (the core never sends one, but an
   application could). */
static int add_system(cJSON *body, const struct lr_chat *c, int *ok)
{
    cJSON *parts = cJSON_CreateArray();
    if (c->system && *c->system)
        put(parts, NULL, text_part(c->system), ok);
    for (size_t i = 0; i < c->n_messages; i++) {
        const struct lr_message *m = &c->messages[i];
        if (m->role == LR_ROLE_SYSTEM && m->content && *m->content)
            put(parts, NULL, text_part(m->content), ok);
    }
    if (!cJSON_GetArraySize(parts)) {
        cJSON_Delete(parts);
        return LR_OK;
    }
    cJSON *si = cJSON_CreateObject();
    put(si, "parts", parts, ok);
    put(body, "systemInstruction", si, ok);
    return *ok ? LR_OK : LR_E_NOMEM;
}

static int add_contents(cJSON *body, const struct lr_chat *c, char *err,
                        size_t errlen)
{
    int ok = 1, rc = LR_OK;
    struct turns ts = {cJSON_CreateArray(), NULL, NULL};

    put(body, "contents", ts.contents, &ok);
    if (c->n_messages && !c->messages)
        return fail(err, errlen, LR_E_INVALID_ARG, "messages: NULL array");
    if (!ok || add_system(body, c, &ok) != LR_OK)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->n_messages && rc == LR_OK; i++) {
        const struct lr_message *m = &c->messages[i];
        if (m->role == LR_ROLE_ASSISTANT)
            rc = add_model_turn(&ts, m, i, err, errlen);
        else if (m->role == LR_ROLE_TOOL)
            rc = add_tool_turn(&ts, c, i, err, errlen);
        else if (m->role == LR_ROLE_USER) {
            cJSON *parts = turn_parts(&ts, "user", &ok);
            put(parts, NULL, text_part(m->content ? m->content : ""), &ok);
            if (!ok)
                rc = fail(err, errlen, LR_E_NOMEM, "out of memory");
        }
        else if (m->role != LR_ROLE_SYSTEM)
            rc = fail(err, errlen, LR_E_INVALID_ARG,
                      "messages[%zu]: unknown role %d", i, (int)m->role);
    }
    return rc;
}

/* --- Building the request: options and tools --------------------------- */

/* topP, presencePenalty, frequencyPenalty, seed.  Gemini's seed is an
   int32: one outside that range is left out like a hint the API lacks,
   rather than sent to be refused. */
static int add_hints(cJSON *gc, const struct lr_chat *c, char *err,
                     size_t errlen)
{
    int ok = 1, rc;
    if ((rc = put_hint(gc, "topP", "top_p", c->has_top_p, c->top_p, err,
                       errlen)) != LR_OK ||
        (rc = put_hint(gc, "presencePenalty", "presence_penalty",
                       c->has_presence_penalty, c->presence_penalty, err,
                       errlen)) != LR_OK ||
        (rc = put_hint(gc, "frequencyPenalty", "frequency_penalty",
                       c->has_frequency_penalty, c->frequency_penalty, err,
                       errlen)) != LR_OK)
        return rc;
    if (c->has_seed && c->seed >= INT32_MIN && c->seed <= INT32_MAX)
        put_int(gc, "seed", c->seed, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* response_format: json_object is responseMimeType application/json;
   json_schema adds its schema as responseJsonSchema, which takes JSON
   Schema as OpenAI sends it (responseSchema takes an OpenAPI subset
   instead, which a schema would have to be translated into).  name,
   description and strict have no Gemini field: the schema is always
   enforced.  Anything else fails the build, so the core moves on. */
static int add_format(cJSON *gc, const char *text, char *err,
                      size_t errlen)
{
    int ok = 1;
    cJSON *f = cJSON_Parse(text);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(f, "type");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(f, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    int is_object = cJSON_IsString(type) &&
                    !strcmp(type->valuestring, "json_object");
    int is_schema = cJSON_IsString(type) &&
                    !strcmp(type->valuestring, "json_schema") &&
                    cJSON_IsObject(js) && (!schema || cJSON_IsObject(schema));
    if (!cJSON_IsObject(f) || !(is_object || is_schema)) {
        cJSON_Delete(f);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "gemini: response_format is not json_object or "
                    "json_schema");
    }
    put(gc, "responseMimeType", cJSON_CreateString("application/json"),
        &ok);
    if (is_schema && schema)
        put(gc, "responseJsonSchema", cJSON_Duplicate(schema, 1), &ok);
    cJSON_Delete(f);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* generationConfig: maxOutputTokens, temperature, stopSequences, the
   sampling hints and the response format. */
static int add_config(cJSON *body, const struct lr_chat *c, char *err,
                      size_t errlen)
{
    int ok = 1;
    size_t n_stop = 0;
    cJSON *gc = cJSON_CreateObject();

    put(body, "generationConfig", gc, &ok);
    if (c->max_tokens > 0)
        put_int(gc, "maxOutputTokens", c->max_tokens, &ok);
    if (c->has_temperature && !isfinite(c->temperature))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "temperature: not a finite number");
    if (c->has_temperature)
        put(gc, "temperature", cJSON_CreateNumber(c->temperature), &ok);
    for (size_t i = 0; c->stop && i < c->n_stop; i++)
        n_stop += c->stop[i] != NULL;
    if (n_stop > MAX_STOP)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "stop: Gemini accepts at most %d stop sequences, got "
                    "%zu", MAX_STOP, n_stop);
    if (n_stop) {
        cJSON *stop = cJSON_CreateArray();
        for (size_t i = 0; i < c->n_stop; i++) {
            if (c->stop[i])
                put(stop, NULL, cJSON_CreateString(c->stop[i]), &ok);
        }
        put(gc, "stopSequences", stop, &ok);
    }
    int rc = add_hints(gc, c, err, errlen);
    if (rc == LR_OK && c->response_format_json)
        rc = add_format(gc, c->response_format_json, err, errlen);
    if (rc != LR_OK)
        return rc;
    if (ok && !cJSON_GetArraySize(gc))
        cJSON_DeleteItemFromObjectCaseSensitive(body, "generationConfig");
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* One OpenAI tool {type:"function", function:{name, description,
   parameters}} (or a bare function object) as a declaration. */
static cJSON *declaration(const cJSON *tool)
{
    static const char *const keys[] = {"name", "description", "parameters"};
    const cJSON *fn = get(tool, "function");
    cJSON *d = cJSON_CreateObject();
    int ok = 1;

    if (!fn)
        fn = tool;
    if (!get_str(fn, "name") || !d) {
        cJSON_Delete(d);
        return NULL;
    }
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = get(fn, keys[i]);
        if (v)
            put(d, keys[i], cJSON_Duplicate(v, 1), &ok);
    }
    if (!ok) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

static int add_declarations(cJSON *body, const char *tools_json,
                            char *err, size_t errlen)
{
    cJSON *tools = parse_embedded(tools_json), *t;
    int ok = 1;
    size_t i = 0;

    if (!cJSON_IsArray(tools)) {
        cJSON_Delete(tools);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "tools_json: not a JSON array");
    }
    cJSON *decls = cJSON_CreateArray();
    cJSON_ArrayForEach(t, tools)
    {
        cJSON *d = declaration(t);
        if (!d) {
            cJSON_Delete(decls);
            cJSON_Delete(tools);
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "tools_json[%zu]: not a function tool with a name",
                        i);
        }
        put(decls, NULL, d, &ok);
        i++;
    }
    cJSON_Delete(tools);
    if (!cJSON_GetArraySize(decls)) {
        cJSON_Delete(decls);
        return LR_OK;
    }
    cJSON *wrap = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    put(wrap, "functionDeclarations", decls, &ok);
    put(arr, NULL, wrap, &ok);
    put(body, "tools", arr, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* tool_choice (JSON or a bare word) as a mode and an optional name. */
static int read_choice(const char *text, const char **mode,
                       const char **name, cJSON **parsed)
{
    static const char *const words[][2] = {
        {"auto", "AUTO"}, {"none", "NONE"}, {"required", "ANY"}};
    cJSON *v = parse_embedded(text);
    const char *word = cJSON_IsString(v) ? v->valuestring : text;

    *parsed = v;
    *name = get_str(get(v, "function"), "name");
    if (cJSON_IsObject(v)) {
        *mode = "ANY";
        return *name && **name ? LR_OK : LR_E_INVALID_ARG;
    }
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(word, words[i][0]) == 0) {
            *mode = words[i][1];
            return LR_OK;
        }
    }
    return LR_E_INVALID_ARG;
}

static int add_tool_config(cJSON *body, const char *choice_json, char *err,
                           size_t errlen)
{
    const char *mode, *name;
    cJSON *parsed;
    int ok = 1;

    if (read_choice(choice_json, &mode, &name, &parsed) != LR_OK) {
        cJSON_Delete(parsed);
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "tool_choice_json: not auto, none, required or "
                    "{\"type\":\"function\",\"function\":{\"name\":...}}");
    }
    cJSON *fcc = cJSON_CreateObject(), *tc = cJSON_CreateObject();
    put(fcc, "mode", cJSON_CreateString(mode), &ok);
    if (name) {
        cJSON *names = cJSON_CreateArray();
        put(names, NULL, cJSON_CreateString(name), &ok);
        put(fcc, "allowedFunctionNames", names, &ok);
    }
    cJSON_Delete(parsed);
    put(tc, "functionCallingConfig", fcc, &ok);
    put(body, "toolConfig", tc, &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

static int build_body(const struct lr_host *h, const struct lr_chat *c,
                      struct lr_buf *out, char *err, size_t errlen)
{
    int rc;
    cJSON *body = cJSON_CreateObject();

    if (!body)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    if ((rc = add_contents(body, c, err, errlen)) == LR_OK &&
        (rc = add_config(body, c, err, errlen)) == LR_OK &&
        (!c->tools_json ||
         (rc = add_declarations(body, c->tools_json, err, errlen)) ==
             LR_OK) &&
        (!c->tool_choice_json ||
         (rc = add_tool_config(body, c->tool_choice_json, err, errlen)) ==
             LR_OK))
        rc = print_into(h, body, out);
    cJSON_Delete(body);
    if (rc == LR_E_NOMEM && err && errlen && !*err)
        fail(err, errlen, rc, "out of memory");
    return rc;
}

/* --- Building the request: URL and headers ---------------------------- */

/* Nonzero when s can stand in a header line (no CR/LF or other C0). */
static int header_safe(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

/* Nonzero when s is non-empty and made of [A-Za-z0-9._-] only, so it
   can stand in a URL path segment as is. */
static int path_safe(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    return *s && strspn(s, ok) == strlen(s);
}

/* The section's api_version (v1beta when unset), or NULL with err set
   when it cannot be a path segment. */
static const char *api_version(const struct lr_host *h,
                               const struct lr_section *s, char *err,
                               size_t errlen)
{
    const char *version = "v1beta";
    if (s)
        h->cfg_str(s, "api_version", &version);
    if (version && path_safe(version))
        return version;
    fail(err, errlen, LR_E_CONFIG,
         "api_version: not a path segment like v1beta");
    return NULL;
}

static int build_url(const struct lr_host *h, const struct lr_target_info *t,
                     const struct lr_chat *c, struct lr_buf *url,
                     char *err, size_t errlen)
{
    const char *version = api_version(h, t->section, err, errlen);
    const char *model = t->model;

    if (!version)
        return LR_E_CONFIG;
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    if (!path_safe(model))
        return fail(err, errlen, LR_E_CONFIG,
                    "model: \"%.60s\" has characters a Gemini model name "
                    "cannot have", t->model);
    struct base_url u = split_base_url(t->base_url);
    if (h->buf_append(url, u.s, u.len) != LR_OK ||
        h->buf_printf(url, "/%s/models/%s:%s", version, model,
                      c->stream ? "streamGenerateContent"
                                : "generateContent") != LR_OK ||
        append_url_query(h, url, &u, c->stream ? "alt=sse" : NULL) != LR_OK)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    return LR_OK;
}

/* Appends "Name: value", '\n'-separated from what is already there. */
static int add_header(const struct lr_host *h, struct lr_buf *hdrs,
                      const char *name, const char *value)
{
    return h->buf_printf(hdrs, "%s%s: %s", hdrs->len ? "\n" : "", name,
                         value);
}

static int build_request_c(void *inst,
                           const struct lr_target_info *t,
                           const struct lr_chat *c,
                           struct lr_http_request *out, char *err,
                           size_t errlen)
{
    const struct gemini *self = inst;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!self || !t || !c || !out || !t->base_url)
        return fail(err, errlen, LR_E_INVALID_ARG, "missing argument");
    if (!t->model || !*t->model)
        return fail(err, errlen, LR_E_CONFIG, "model: not set");
    const struct lr_host *h = self->host;
    const char *key = t->api_key ? t->api_key : "";
    if (!header_safe(key))
        return fail(err, errlen, LR_E_CONFIG,
                    "api key: contains a control character");
    rc = build_url(h, t, c, &out->url, err, errlen);
    if (rc == LR_OK)
        rc = build_body(h, c, &out->body, err, errlen);
    if (rc != LR_OK)
        return rc;
    out->method = "POST";
    rc = *key ? add_header(h, &out->headers, "x-goog-api-key", key) : LR_OK;
    rc |= add_header(h, &out->headers, "Content-Type", "application/json");
    rc |= add_header(h, &out->headers, "Accept",
                     c->stream ? "text/event-stream" : "application/json");
    return rc == LR_OK ? LR_OK
                       : fail(err, errlen, LR_E_NOMEM, "out of memory");
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

/* --- Midnight in America/Los_Angeles ------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The year of a day count (inverse of days_from_civil, year only). */
static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The day of the n-th Sunday of month m of year y (n 1-based). */
static int64_t nth_sunday(int64_t y, int m, int n)
{
    int64_t first = days_from_civil(y, m, 1);
    int64_t wday = ((first + 4) % 7 + 7) % 7; /* 1970-01-01: Thursday */
    return first + (7 - wday) % 7 + 7 * (n - 1);
}

/* Offset of Pacific time from UTC at utc_ms: US rules since 2007, DST
   from the second Sunday of March 2:00 PST (10:00 UTC) to the first
   Sunday of November 2:00 PDT (09:00 UTC). */
static int64_t pacific_offset_ms(int64_t utc_ms)
{
    int64_t y = year_of_days(floor_div(utc_ms - 8 * HOUR_MS, DAY_MS));
    int64_t start = nth_sunday(y, 3, 2) * DAY_MS + 10 * HOUR_MS;
    int64_t end = nth_sunday(y, 11, 1) * DAY_MS + 9 * HOUR_MS;
    return utc_ms >= start && utc_ms < end ? -7 * HOUR_MS : -8 * HOUR_MS;
}

/* Milliseconds from now_utc to the next midnight Pacific time.
   Midnight never falls in a DST transition (those are at 2:00), so the
   offset read at the candidate instant is the one in force then. */
static int64_t ms_to_pacific_midnight(int64_t now_utc)
{
    int64_t local = now_utc + pacific_offset_ms(now_utc);
    int64_t next_local = (floor_div(local, DAY_MS) + 1) * DAY_MS;
    int64_t guess = next_local - pacific_offset_ms(now_utc);
    int64_t utc = next_local - pacific_offset_ms(guess);
    return utc - now_utc;
}

/* --- Error classification -------------------------------------------- */

/* What a google.rpc.Status error body says. */
struct gerr {
    long code;             /* error.code, 0 when absent */
    const char *status;    /* canonical name, "" when absent */
    const char *message;   /* "" when absent */
    const char *reason;    /* ErrorInfo.reason, "" when absent */
    const char *retry;     /* RetryInfo.retryDelay, NULL when absent */
    int per_day;           /* a QuotaFailure quotaId contains PerDay */
    int zero_quota;        /* a QuotaFailure quotaValue is "0" */
};

static void read_violations(const cJSON *d, struct gerr *g)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, get(d, "violations"))
    {
        const char *id = get_str(v, "quotaId");
        const cJSON *value = get(v, "quotaValue");
        if (id && strstr(id, "PerDay"))
            g->per_day = 1;
        if ((cJSON_IsString(value) && strcmp(value->valuestring, "0") == 0)
            || (cJSON_IsNumber(value) && value->valuedouble == 0))
            g->zero_quota = 1;
    }
}

static void read_gerr(const cJSON *e, struct gerr *g)
{
    const cJSON *code = get(e, "code"), *d;
    const char *s;

    memset(g, 0, sizeof *g);
    if (cJSON_IsNumber(code) && code->valuedouble >= 0 &&
        code->valuedouble < 1000)
        g->code = (long)code->valuedouble;
    g->status = (s = get_str(e, "status")) ? s : "";
    g->message = (s = get_str(e, "message")) ? s : "";
    g->reason = "";
    cJSON_ArrayForEach(d, get(e, "details"))
    {
        const char *type = get_str(d, "@type");
        if (!type)
            continue;
        if (ends_with(type, "google.rpc.RetryInfo"))
            g->retry = get_str(d, "retryDelay");
        else if (ends_with(type, "google.rpc.QuotaFailure"))
            read_violations(d, g);
        else if (ends_with(type, "google.rpc.ErrorInfo") &&
                 (s = get_str(d, "reason")))
            g->reason = s;
    }
}

struct canon {
    const char *name;
    long http;
};

/* google.rpc.Code names and the HTTP status each maps to. */
static const struct canon canon[] = {
    {"INVALID_ARGUMENT", 400},   {"FAILED_PRECONDITION", 400},
    {"OUT_OF_RANGE", 400},       {"UNAUTHENTICATED", 401},
    {"PERMISSION_DENIED", 403},  {"NOT_FOUND", 404},
    {"ALREADY_EXISTS", 409},     {"ABORTED", 409},
    {"RESOURCE_EXHAUSTED", 429}, {"CANCELLED", 499},
    {"UNKNOWN", 500},            {"INTERNAL", 500},
    {"DATA_LOSS", 500},          {"UNIMPLEMENTED", 501},
    {"UNAVAILABLE", 503},        {"DEADLINE_EXCEEDED", 504},
};

/* The HTTP status an error stands for: the response's, else the body's
   code, else its canonical status name; 0 when none says. */
static long effective_status(long status, const struct gerr *g)
{
    if (status >= 400 && status <= 599)
        return status;
    if (g->code >= 400 && g->code <= 599)
        return g->code;
    for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        if (strcmp(g->status, canon[i].name) == 0)
            return canon[i].http;
    }
    return 0;
}

static int context_overflow(const char *msg)
{
    return strcasestr(msg, "input token count") &&
           strcasestr(msg, "exceeds the maximum");
}

static enum lr_status classify(long status, const struct gerr *g)
{
    long st = effective_status(status, g);
    if (strcmp(g->reason, "API_KEY_INVALID") == 0 ||
        (st == 400 && strcasestr(g->message, "API key not valid")))
        return LR_E_AUTH;
    if (st == 400 && context_overflow(g->message))
        return LR_E_CONTEXT_LENGTH;
    switch (st) {
    case 0:
        return LR_E_SERVER_ERROR; /* nothing says: assume it is theirs */
    case 401:
    case 403:
        return LR_E_AUTH;
    case 408:
        return LR_E_TIMEOUT;
    case 429:
        return g->per_day || g->zero_quota ? LR_E_QUOTA_EXHAUSTED
                                           : LR_E_RATE_LIMITED;
    case 503:
        return LR_E_OVERLOADED;
    default:
        return st >= 500 ? LR_E_SERVER_ERROR : LR_E_BAD_REQUEST;
    }
}

static int worth_a_hint(enum lr_status st)
{
    return st == LR_E_RATE_LIMITED || st == LR_E_OVERLOADED ||
           st == LR_E_SERVER_ERROR || st == LR_E_TIMEOUT;
}

/* The retry hint of a classified error, or -1. */
static int64_t error_hint(const struct lr_host *h, enum lr_status st,
                          const struct gerr *g)
{
    int64_t ms;
    if (worth_a_hint(st) && g->retry &&
        h->parse_duration_ms(g->retry, &ms) == LR_OK && ms >= 0)
        return ms;
    if (st == LR_E_QUOTA_EXHAUSTED && g->per_day)
        return ms_to_pacific_midnight(h->wall_ms(h));
    return -1;
}

/* Fills out for an error object e: class, message, hint. */
static int fill_error(const struct lr_host *h, const char *key, long status,
                      const cJSON *e, struct lr_result *out)
{
    struct gerr g;
    char what[128];
    const char *msg;

    read_gerr(e, &g);
    out->error = classify(status, &g);
    out->finish = LR_FINISH_ERROR;
    out->retry_after_ms = error_hint(h, out->error, &g);
    msg = g.message;
    if (!*msg) {
        snprintf(what, sizeof what, "%s (code %ld)",
                 *g.status ? g.status : "error", g.code);
        msg = what;
    }
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
    struct gerr none;

    memset(&none, 0, sizeof none);
    none.status = none.message = none.reason = "";
    out->error = is_2xx ? LR_E_PROTOCOL : classify(in->status, &none);
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

/* --- Responses ---------------------------------------------------------- */

/* The object of a body, unwrapping a one-element array ([{...}]). */
static const cJSON *body_object(const cJSON *root)
{
    if (cJSON_IsArray(root) && cJSON_GetArraySize(root) == 1)
        root = cJSON_GetArrayItem(root, 0);
    return cJSON_IsObject(root) ? root : NULL;
}

static enum lr_finish map_finish(const char *s, int has_calls)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"};
    if (!s)
        return LR_FINISH_NONE;
    if (strcmp(s, "STOP") == 0)
        return has_calls ? LR_FINISH_TOOL_CALLS : LR_FINISH_STOP;
    if (strcmp(s, "MAX_TOKENS") == 0)
        return LR_FINISH_LENGTH;
    if (strncmp(s, "IMAGE_", 6) == 0)
        return LR_FINISH_CONTENT_FILTER;
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++) {
        if (strcmp(s, filtered[i]) == 0)
            return LR_FINISH_CONTENT_FILTER;
    }
    return LR_FINISH_OTHER;
}

/* usageMetadata, when present: every field optional, 0 when absent. */
static void read_usage(const cJSON *u, struct lr_result *out)
{
    if (!cJSON_IsObject(u))
        return;
    int64_t thoughts = get_count_proto(u, "thoughtsTokenCount");
    out->prompt_tokens = get_count_proto(u, "promptTokenCount") +
                         get_count_proto(u, "toolUsePromptTokenCount");
    out->cached_tokens = get_count_proto(u, "cachedContentTokenCount");
    out->completion_tokens = get_count_proto(u, "candidatesTokenCount") + thoughts;
    out->reasoning_tokens = thoughts;
}

/* Candidate 0: the element with index 0, or the first without one. */
static const cJSON *candidate_zero(const cJSON *root)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, get(root, "candidates"))
    {
        const cJSON *idx = get(c, "index");
        if (cJSON_IsObject(c) &&
            (!idx || (cJSON_IsNumber(idx) && idx->valuedouble == 0)))
            return c;
    }
    return NULL;
}

/* modelVersion and responseId, kept from the first that has them. */
static int read_ids(const struct lr_host *h, const cJSON *root,
                    struct lr_result *out)
{
    const char *model = get_str(root, "modelVersion");
    const char *rid = get_str(root, "responseId");
    int rc = LR_OK;
    if (model && *model && !out->model.len)
        rc |= h->buf_append(&out->model, model, strlen(model));
    if (rid && *rid && !out->request_id.len)
        rc |= h->buf_append(&out->request_id, rid, strlen(rid));
    return rc;
}

/* A functionCall part as an OpenAI-shaped call; a thought signature is
   kept in extra_content.google.thought_signature (the shape of Google's
   OpenAI-compatible endpoint) so it can be echoed back in history. */
static cJSON *make_call(const cJSON *part, size_t n)
{
    const cJSON *fc = get(part, "functionCall");
    const char *id = get_str(fc, "id");
    const char *name = get_str(fc, "name");
    const char *sig = get_str(part, "thoughtSignature");
    const cJSON *args = get(fc, "args");
    char gen[32];
    int ok = 1;

    snprintf(gen, sizeof gen, "call_%zu", n);
    char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
    cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
    put(call, "id", cJSON_CreateString(id && *id ? id : gen), &ok);
    put(call, "type", cJSON_CreateString("function"), &ok);
    put(fn, "name", cJSON_CreateString(name ? name : ""), &ok);
    put(fn, "arguments", cJSON_CreateString(a ? a : "{}"), &ok);
    put(call, "function", fn, &ok);
    cJSON_free(a);
    if (sig) {
        cJSON *ex = cJSON_CreateObject(), *g = cJSON_CreateObject();
        put(g, "thought_signature", cJSON_CreateString(sig), &ok);
        put(ex, "google", g, &ok);
        put(call, "extra_content", ex, &ok);
    }
    if (!ok) {
        cJSON_Delete(call);
        return NULL;
    }
    return call;
}

/*
 * The parts of a candidate: visible text appended to text, function
 * calls added to calls (numbered from *n_calls on).  Returns LR_OK or
 * LR_E_NOMEM.
 */
static int read_parts(const struct lr_host *h, const cJSON *cand,
                      struct lr_buf *text, cJSON *calls, size_t *n_calls)
{
    const cJSON *part;
    int ok = 1, rc = LR_OK;
    cJSON_ArrayForEach(part, get(get(cand, "content"), "parts"))
    {
        const char *t = get_str(part, "text");
        if (cJSON_IsObject(get(part, "functionCall"))) {
            if (*n_calls < MAX_CALLS)
                put(calls, NULL, make_call(part, (*n_calls)++), &ok);
        }
        else if (t && !cJSON_IsTrue(get(part, "thought")))
            rc |= h->buf_append(text, t, strlen(t));
    }
    return ok && rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

/* 200 without candidates: a blocked prompt, or an unusable answer. */
static int fill_no_candidate(const struct lr_host *h, const char *key,
                             const struct lr_http_response *in,
                             const cJSON *root, struct lr_result *out)
{
    const char *block = get_str(get(root, "promptFeedback"), "blockReason");
    int rc;
    if (block) {
        out->error = LR_E_CONTENT_FILTER;
        out->finish = LR_FINISH_CONTENT_FILTER;
        rc = h->buf_printf(&out->error_message,
                           "prompt blocked by Gemini: ");
        return rc | append_clean(h, &out->error_message, block,
                                 strlen(block), 100, key);
    }
    out->error = LR_E_PROTOCOL;
    out->finish = LR_FINISH_ERROR;
    rc = h->buf_printf(&out->error_message, "HTTP %ld without candidates: ",
                       in->status);
    return rc | append_clean(h, &out->error_message, in->body, in->body_len,
                             EXCERPT_MAX, key);
}

static int fill_success(const struct lr_host *h, const char *key,
                        const struct lr_http_response *in,
                        const cJSON *root, struct lr_result *out)
{
    const cJSON *cand = candidate_zero(root);
    size_t n_calls = 0;
    int rc = read_ids(h, root, out);

    read_usage(get(root, "usageMetadata"), out);
    if (!cand)
        return rc | fill_no_candidate(h, key, in, root, out);
    cJSON *calls = cJSON_CreateArray();
    if (!calls)
        return LR_E_NOMEM;
    rc |= read_parts(h, cand, &out->text, calls, &n_calls);
    if (rc == LR_OK && n_calls)
        rc = print_into(h, calls, &out->tool_calls_json);
    cJSON_Delete(calls);
    out->finish = map_finish(get_str(cand, "finishReason"), n_calls > 0);
    return rc ? LR_E_NOMEM : LR_OK;
}

static void result_unknowns(struct lr_result *out)
{
    out->error = LR_OK;
    out->retry_after_ms = -1;
    out->prompt_tokens = out->completion_tokens = -1;
    out->cached_tokens = out->reasoning_tokens = 0;
}

static int parse_response(void *inst, const struct lr_target_info *t,
                          const struct lr_http_response *in,
                          struct lr_result *out)
{
    const struct gemini *self = inst;
    if (!self || !in || !out)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *key = t && t->api_key ? t->api_key : NULL;
    int is_2xx = in->status >= 200 && in->status < 300;
    int rc;

    result_unknowns(out);
    cJSON *root = parse_json(in->body, in->body_len);
    const cJSON *obj = body_object(root);
    const cJSON *e = get(obj, "error");
    if (cJSON_IsObject(e))
        rc = fill_error(h, key, in->status, e, out);
    else if (!obj || !is_2xx)
        rc = fill_unreadable(h, key, in, out);
    else
        rc = fill_success(h, key, in, obj, out);
    cJSON_Delete(root);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* --- Streaming -------------------------------------------------------- */

/* Per stream: the calls seen so far (each arrives whole in one chunk). */
struct stream {
    int started;
    cJSON *calls;
    size_t n_calls;
};

static int stream_begin(void *inst, void **state)
{
    if (!state)
        return LR_E_INVALID_ARG;
    struct stream *st = calloc(1, sizeof *st);
    if (st && !(st->calls = cJSON_CreateArray())) {
        free(st);
        st = NULL;
    }
    *state = st;
    return st ? LR_OK : LR_E_NOMEM;
}

static void stream_end(void *inst, void *state)
{
    struct stream *st = state;
    if (!st)
        return;
    cJSON_Delete(st->calls);
    free(st);
}

/* Data that is not a JSON object where a chunk should be. */
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

static int stream_chunk(const struct lr_host *h, struct stream *st,
                        const cJSON *root, struct lr_result *acc,
                        struct lr_buf *delta)
{
    const cJSON *cand = candidate_zero(root);
    const char *block = get_str(get(root, "promptFeedback"), "blockReason");
    size_t before = st->n_calls;
    int rc = read_ids(h, root, acc);

    read_usage(get(root, "usageMetadata"), acc); /* running total */
    if (!cand && block) {
        struct lr_http_response in = {200, NULL, 0, "", 0};
        h->buf_reset(&acc->error_message);
        return rc | fill_no_candidate(h, NULL, &in, root, acc);
    }
    if (!cand)
        return rc ? LR_E_NOMEM : LR_OK; /* a usage-only chunk */
    rc |= read_parts(h, cand, delta, st->calls, &st->n_calls);
    if (rc == LR_OK && st->n_calls != before) {
        h->buf_reset(&acc->tool_calls_json);
        rc = print_into(h, st->calls, &acc->tool_calls_json);
    }
    const char *reason = get_str(cand, "finishReason");
    if (reason)
        acc->finish = map_finish(reason, st->n_calls > 0);
    return rc ? LR_E_NOMEM : LR_OK;
}

/*
 * One SSE event.  There is no end marker: the core takes a stream that
 * ends at EOF with a finish reason set as complete, and one without as
 * cut short, so this never returns LR_STREAM_DONE.
 */
static int stream_event(void *inst, void *state,
                        const struct lr_sse_event *ev,
                        struct lr_result *acc, struct lr_buf *delta)
{
    const struct gemini *self = inst;
    struct stream *st = state;
    if (!self || !st || !ev || !acc || !delta)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *data = ev->data ? ev->data : "";
    size_t len = ev->data ? ev->data_len : 0;
    int rc;

    if (!st->started) {
        /* the core zeroed acc; "unknown" is -1 here */
        acc->retry_after_ms = -1;
        acc->prompt_tokens = acc->completion_tokens = -1;
        st->started = 1;
    }
    if (strspn(data, " \t\r\n") >= len)
        return LR_OK; /* an empty data: line carries nothing */
    cJSON *root = parse_json(data, len);
    const cJSON *obj = body_object(root);
    const cJSON *e = get(obj, "error");
    if (cJSON_IsObject(e))
        rc = fill_error(h, NULL, 0, e, acc);
    else if (!obj)
        rc = stream_garbage(h, ev, acc);
    else
        rc = stream_chunk(h, st, obj, acc, delta);
    cJSON_Delete(root);
    return rc ? LR_E_NOMEM : LR_OK;
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
    /* Checked at load too, so a bad value is reported at its FILE:LINE
       (`llmroute check` included) rather than by every request. */
    if (section && !api_version(host, section, err, errlen))
        return LR_E_CONFIG;
    struct gemini *self = calloc(1, sizeof *self);
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
    .default_base_url = "https://generativelanguage.googleapis.com",
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
    .name = "gemini",
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
