/*
 * serve_response.c - what OpenAI clients read back: chat.completion
 * objects, chat.completion.chunk SSE events, the model list, and errors
 * in OpenAI's shape {"error":{"message","type","param","code"}} with our
 * error class in "code" and the HTTP status from the table below
 * (docs/gateway.md has it too).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "serve.h"

/* --- Errors ------------------------------------------------------------- */

static const char *type_for(unsigned status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "insufficient_quota";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status < 500 ? "invalid_request_error" : "server_error";
    }
}

/* A message cut to fit its buffer may end inside a UTF-8 sequence;
   drop that partial sequence so the JSON we print stays UTF-8. */
static void trim_utf8_tail(char *s)
{
    size_t len = strlen(s), i = len, back = 0;
    while (i > 0 && back < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        back++;
    }
    if (i == 0 || (unsigned char)s[i - 1] < 0xC0)
        return;
    unsigned c = (unsigned char)s[i - 1];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (back + 1 < need)
        s[i - 1] = '\0';
}

void serve_error_set(struct serve_error *e, unsigned status,
                     const char *code, const char *param, const char *fmt,
                     ...)
{
    e->status = status;
    e->type = type_for(status);
    e->code = code;
    e->param = param;
    e->retry_after_ms = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    trim_utf8_tail(e->message);
}

/* Our error classes as HTTP statuses.  A class that belongs to the
   caller's request is 4xx; upstream trouble is 5xx (502 the upstream
   answered badly, 503 nobody could take it, 504 it took too long).
   Budgets are 402, not 429: OpenAI's SDKs retry 429 on their own, and
   a spent daily budget does not come back in a second. */
static unsigned status_for(enum lr_status st)
{
    switch (st) {
    case LR_E_BAD_REQUEST: case LR_E_CONTEXT_LENGTH:
    case LR_E_CONTENT_FILTER: case LR_E_INVALID_ARG:
        return 400;
    case LR_E_BUDGET_EXCEEDED: return 402;
    case LR_E_RATE_LIMITED_LOCAL: case LR_E_RATE_LIMITED: return 429;
    case LR_E_TIMEOUT: return 504;
    case LR_E_SERVER_ERROR: case LR_E_NETWORK: case LR_E_AUTH:
    case LR_E_PROTOCOL:
        return 502;
    case LR_E_QUOTA_EXHAUSTED: case LR_E_OVERLOADED: case LR_E_NO_TARGET:
    case LR_E_CANCELLED: case LR_E_STOPPED:
        return 503;
    default: return 500;
    }
}

/* When every target was skipped the core's message says only that; the
   reasons are in the trail, which a gateway client never sees.  Append
   them ("...: old (core: provider old_provider (plugin ABI 1.2) cannot
   honour response_format); b (breaker: open)"), so a caller can tell a
   format no target can honour from a budget or a breaker.  Cut at the
   message's size. */
static void add_skips(const struct lr_response *resp, struct serve_error *e)
{
    size_t len = strlen(e->message), cap = sizeof e->message;
    const char *sep = ": ";
    for (size_t i = 0; i < lr_response_attempt_count(resp); i++) {
        struct lr_attempt_info a;
        if (len + 1 >= cap)
            break;
        if (lr_response_attempt(resp, i, &a) != LR_OK || !a.skipped)
            continue;
        int n = snprintf(e->message + len, cap - len, "%s%s (%s)", sep,
                         a.target ? a.target : "?", a.skipped);
        len = n < 0 ? len : len + (size_t)n < cap ? len + (size_t)n
                                                  : cap - 1;
        sep = "; ";
    }
    trim_utf8_tail(e->message);
}

void serve_error_from_response(const struct lr_response *resp,
                               struct serve_error *e)
{
    enum lr_status st = lr_response_status(resp);
    const char *msg = lr_response_error_message(resp);
    serve_error_set(e, status_for(st), lr_status_name(st), NULL, "%s",
                    msg && *msg ? msg : lr_strerror(st));
    if (st == LR_E_NO_TARGET)
        add_skips(resp, e);
    e->retry_after_ms = lr_response_retry_after_ms(resp);
}

static cJSON *error_obj(const struct serve_error *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *o = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddStringToObject(o, "type", e->type);
    if (e->param)
        cJSON_AddStringToObject(o, "param", e->param);
    else
        cJSON_AddNullToObject(o, "param");
    cJSON_AddStringToObject(o, "code", e->code);
    return root;
}

char *serve_error_json(const struct serve_error *e)
{
    cJSON *root = error_obj(e);
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* --- Models ------------------------------------------------------------- */

static int add_name(struct serve_models *m, const char *name)
{
    char **v = realloc(m->names, (m->n + 1) * sizeof *v);
    if (!v)
        return -1;
    m->names = v;
    return (v[m->n++] = strdup(name)) ? 0 : -1;
}

int serve_models_load(struct lr_router *r, struct serve_models *m)
{
    static const char *extra[] = {"simple", "medium", "complex", "auto"};
    memset(m, 0, sizeof *m);
    char *text = lr_router_describe_json(r);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    lr_free(text);
    const cJSON *t;
    int rc = root ? 0 : -1;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root,
                                                          "targets")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (!rc && cJSON_IsString(n))
            rc = add_name(m, n->valuestring);
    }
    cJSON_Delete(root);
    m->n_targets = m->n;
    for (size_t i = 0; !rc && i < 4; i++)
        rc = add_name(m, extra[i]);
    return rc;
}

void serve_models_free(struct serve_models *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->names[i]);
    free(m->names);
    memset(m, 0, sizeof *m);
}

/* A whole-number member.  cJSON writes every number with "%1.15g" and
   reads it back with sscanf to check the round trip: several µs per
   response on the gateway's hot path, for integers that need neither. */
static void add_int(cJSON *o, const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    cJSON_AddRawToObject(o, name, num);
}

char *serve_models_json(const struct serve_models *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    for (size_t i = 0; data && i < m->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(data, o);
        cJSON_AddStringToObject(o, "id", m->names[i]);
        cJSON_AddStringToObject(o, "object", "model");
        add_int(o, "created", 0);
        cJSON_AddStringToObject(o, "owned_by", i < m->n_targets
                                    ? "llmroute-target" : "llmroute-router");
    }
    char *s = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return s;
}

/* --- Completions -------------------------------------------------------- */

/* OpenAI knows stop, length, tool_calls, content_filter. */
static const char *finish_of(const struct lr_response *resp)
{
    const char *f = lr_response_finish_reason(resp);
    if (!strcmp(f, "length") || !strcmp(f, "tool_calls") ||
        !strcmp(f, "content_filter"))
        return f;
    return "stop";
}

static void usage_json(struct serve_buf *b, const struct lr_response *resp)
{
    int64_t p = lr_response_prompt_tokens(resp);
    int64_t c = lr_response_completion_tokens(resp);
    p = p < 0 ? 0 : p;
    c = c < 0 ? 0 : c;
    int64_t cached = lr_response_cached_tokens(resp);
    int64_t reasoning = lr_response_reasoning_tokens(resp);
    serve_json_lit(b, "{\"prompt_tokens\":");
    serve_json_int(b, p);
    serve_json_lit(b, ",\"completion_tokens\":");
    serve_json_int(b, c);
    serve_json_lit(b, ",\"total_tokens\":");
    serve_json_int(b, p + c);
    serve_json_lit(b, ",\"prompt_tokens_details\":{\"cached_tokens\":");
    serve_json_int(b, cached > 0 ? cached : 0);
    serve_json_lit(b, "},\"completion_tokens_details\":"
                      "{\"reasoning_tokens\":");
    serve_json_int(b, reasoning > 0 ? reasoning : 0);
    serve_json_lit(b, "}}");
}

/* The object's opening members, up to and including "model". */
static void head_json(struct serve_buf *b, const char *object,
                      const char *id, long long created, const char *model)
{
    serve_json_lit(b, "{\"id\":");
    serve_json_strz(b, id);
    serve_json_lit(b, ",\"object\":");
    serve_json_strz(b, object);
    serve_json_lit(b, ",\"created\":");
    serve_json_int(b, created);
    serve_json_lit(b, ",\"model\":");
    serve_json_strz(b, model);
}

/* The tool calls as OpenAI sends them; with_index for stream deltas. */
static cJSON *tool_calls(const struct lr_response *resp, int with_index)
{
    const char *j = lr_response_tool_calls_json(resp);
    cJSON *arr = j ? cJSON_Parse(j) : NULL;
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return NULL;
    }
    int i = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, arr)
        if (with_index && cJSON_IsObject(c))
            add_int(c, "index", i++);
    return arr;
}

/* The tool calls' JSON text (malloc'd), or NULL when there are none;
   b is marked failed when there are some but no memory to print them. */
static char *tool_calls_text(const struct lr_response *resp, int with_index,
                             struct serve_buf *b)
{
    cJSON *arr = tool_calls(resp, with_index);
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    if (arr && !s)
        b->failed = 1;
    cJSON_Delete(arr);
    return s;
}

char *serve_completion_json(const struct lr_response *resp,
                            const char *id, long long created,
                            const char *model)
{
    struct serve_buf b = {0};
    const char *upstream = lr_response_model(resp);
    char *calls = tool_calls_text(resp, 0, &b);
    const char *text = lr_response_text(resp);

    head_json(&b, "chat.completion", id, created,
              upstream && *upstream ? upstream : model);
    serve_json_lit(&b, ",\"choices\":[{\"index\":0,\"message\":"
                       "{\"role\":\"assistant\",\"content\":");
    if (calls && !*text)
        serve_json_lit(&b, "null");
    else
        serve_json_strz(&b, text);
    serve_json_lit(&b, ",\"refusal\":null");
    if (calls) {
        serve_json_lit(&b, ",\"tool_calls\":");
        serve_json_raw(&b, calls, strlen(calls));
    }
    serve_json_lit(&b, "},\"logprobs\":null,\"finish_reason\":");
    serve_json_strz(&b, finish_of(resp));
    serve_json_lit(&b, "}],\"usage\":");
    usage_json(&b, resp);
    serve_json_lit(&b, "}");
    free(calls);
    return serve_buf_take(&b);
}

/* --- SSE ---------------------------------------------------------------- */

int serve_buf_add(struct serve_buf *b, const char *p, size_t n)
{
    if (b->failed)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void serve_buf_free(struct serve_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* "data: JSON\n\n" for obj, which is freed. */
static int add_event(struct serve_buf *b, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    int rc = s ? 0 : -1;
    if (!rc)
        rc = serve_buf_add(b, "data: ", 6) || serve_buf_add(b, s, strlen(s))
             || serve_buf_add(b, "\n\n", 2) ? -1 : 0;
    free(s);
    return rc;
}

/* "data: " and a chunk's members up to its delta's opening brace. */
static void chunk_open(struct serve_buf *b, const char *id,
                       long long created, const char *model)
{
    serve_json_lit(b, "data: ");
    head_json(b, "chat.completion.chunk", id, created, model);
    serve_json_lit(b, ",\"choices\":[{\"index\":0,\"delta\":{");
}

/* Closes the delta and the chunk, with finish_reason (NULL: null). */
static int chunk_close(struct serve_buf *b, const char *finish)
{
    serve_json_lit(b, "},\"logprobs\":null,\"finish_reason\":");
    serve_json_strz(b, finish);
    serve_json_lit(b, "}]}\n\n");
    return b->failed ? -1 : 0;
}

int serve_sse_delta(struct serve_buf *b, const char *id, long long created,
                    const char *model, int with_role, const char *text,
                    size_t len)
{
    chunk_open(b, id, created, model);
    if (with_role)
        serve_json_lit(b, "\"role\":\"assistant\"");
    if (text) {
        if (with_role)
            serve_json_lit(b, ",");
        serve_json_lit(b, "\"content\":");
        serve_json_str(b, text, len);
    }
    return chunk_close(b, NULL);
}

static int sse_error(struct serve_buf *b, const struct lr_response *resp)
{
    struct serve_error e;
    serve_error_from_response(resp, &e);
    return add_event(b, error_obj(&e));
}

/* The chunks of a finished answer: its tool calls, its finish_reason and,
   when asked, OpenAI's usage chunk (an empty choices array). */
static int sse_finish(struct serve_buf *b, const char *id, long long created,
                      const char *model, const struct lr_response *resp,
                      int include_usage)
{
    char *calls = tool_calls_text(resp, 1, b);
    if (calls) {
        chunk_open(b, id, created, model);
        serve_json_lit(b, "\"tool_calls\":");
        serve_json_raw(b, calls, strlen(calls));
        free(calls);
        chunk_close(b, NULL);
    }
    chunk_open(b, id, created, model);
    chunk_close(b, finish_of(resp));
    if (include_usage) {
        serve_json_lit(b, "data: ");
        head_json(b, "chat.completion.chunk", id, created, model);
        serve_json_lit(b, ",\"choices\":[],\"usage\":");
        usage_json(b, resp);
        serve_json_lit(b, "}\n\n");
    }
    return b->failed ? -1 : 0;
}

int serve_sse_end(struct serve_buf *b, const char *id, long long created,
                  const char *model, const struct lr_response *resp,
                  int include_usage)
{
    int rc;
    if (lr_response_status(resp) != LR_OK)
        rc = sse_error(b, resp);
    else
        rc = sse_finish(b, id, created, model, resp, include_usage);
    const char done[] = "data: [DONE]\n\n";
    return rc ? rc : serve_buf_add(b, done, sizeof done - 1);
}
