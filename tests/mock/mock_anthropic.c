/*
 * mock_anthropic.c - the Anthropic Messages wire format for the mock
 * upstream (see shared docs, provider-wire-formats.md section 2).
 *
 * Owns paths ending in /v1/messages.  Reads model, stream, system and
 * messages (string or block content) from a request, and writes Message
 * objects, the streamed event sequence (message_start with input usage,
 * a ping, content_block_start, one text_delta per word with its leading
 * whitespace, content_block_stop, message_delta with the cumulative
 * usage, message_stop) and {"type":"error","error":{...},"request_id"}
 * bodies.  Script finish reasons in OpenAI's words (stop, length,
 * tool_calls, content_filter) are sent as Anthropic's; others verbatim.
 */
#include "mock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUFFIX "/v1/messages"

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int anthropic_owns_path(const char *url)
{
    size_t n = strlen(url), ns = strlen(SUFFIX);
    return n >= ns && strcmp(url + n - ns, SUFFIX) == 0;
}

/* The text of a content: a string, or the text blocks of an array. */
static char *content_text(const cJSON *content, long *words)
{
    if (cJSON_IsString(content)) {
        *words += mock_count_words(content->valuestring);
        return mock_strdup(content->valuestring);
    }
    char *text = mock_strdup("");
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        const cJSON *t = item(b, "text");
        if (!text || !cJSON_IsString(t))
            continue;
        *words += mock_count_words(t->valuestring);
        char *joined = mock_concat(text, t->valuestring);
        free(text);
        text = joined;
    }
    return text;
}

static int read_messages(struct mock_request *req, const cJSON *messages)
{
    const cJSON *msg;
    cJSON_ArrayForEach(msg, messages)
    {
        const cJSON *role = item(msg, "role");
        char *text = content_text(item(msg, "content"), &req->prompt_words);
        if (!text)
            return -1;
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0) {
            free(req->last_user);
            req->last_user = text;
        }
        else
            free(text);
    }
    if (!req->last_user)
        req->last_user = mock_strdup("");
    return req->last_user ? 0 : -1;
}

static int anthropic_read_request(struct mock_request *req)
{
    const cJSON *j = req->json;
    if (!cJSON_IsObject(j) || !cJSON_IsArray(item(j, "messages")))
        return -1;
    const cJSON *model = item(j, "model");
    req->model = cJSON_IsString(model) ? model->valuestring : NULL;
    req->stream = cJSON_IsTrue(item(j, "stream"));
    req->include_usage = 1; /* Anthropic always reports usage */
    char *sys = content_text(item(j, "system"), &req->prompt_words);
    free(sys);
    return read_messages(req, item(j, "messages"));
}

/* {"type":"error","error":inner,"request_id":"req_mock"}; takes inner. */
static char *wrap_error(cJSON *inner)
{
    cJSON *o = cJSON_CreateObject();
    if (!inner || !o) {
        cJSON_Delete(inner);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(o, "type", "error");
    cJSON_AddItemToObject(o, "error", inner);
    cJSON_AddStringToObject(o, "request_id", "req_mock");
    return mock_print_free(o);
}

static char *anthropic_error_body(const cJSON *error)
{
    return wrap_error(cJSON_Duplicate(error, 1));
}

static char *anthropic_problem_body(const char *message, const char *type,
                                    const char *code)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return NULL;
    if (strcmp(type, "server_error") == 0)
        type = "api_error";
    else if (code && strcmp(code, "model_not_found") == 0)
        type = "not_found_error";
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
    return wrap_error(e);
}

static const char *stop_reason(const char *finish)
{
    static const char *const map[][2] = {
        {"stop", "end_turn"}, {"length", "max_tokens"},
        {"tool_calls", "tool_use"}, {"content_filter", "refusal"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(finish, map[i][0]) == 0)
            return map[i][1];
    return finish;
}

/* input (with zero cache fields) and output usage; output < 0: left out. */
static cJSON *usage_json(const struct mock_answer *a, long output)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)a->prompt_tokens);
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", 0);
    cJSON_AddNumberToObject(u, "output_tokens", (double)output);
    return u;
}

/* The Message object; content NULL gives the empty content array and a
   null stop_reason (message_start). */
static cJSON *message_json(const struct mock_answer *a, const char *text,
                           long output)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model", a->model);
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    if (text) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", text);
        cJSON_AddItemToArray(content, b);
        cJSON_AddStringToObject(o, "stop_reason",
                                stop_reason(a->finish_reason));
    }
    else
        cJSON_AddNullToObject(o, "stop_reason");
    cJSON_AddNullToObject(o, "stop_sequence");
    cJSON_AddItemToObject(o, "usage", usage_json(a, output));
    return o;
}

/* One SSE event: "event: <type>\ndata: <json>\n\n"; takes o. */
static char *sse_event(const char *type, cJSON *o)
{
    if (o && !cJSON_GetObjectItemCaseSensitive(o, "type"))
        cJSON_AddStringToObject(o, "type", type);
    char *json = mock_print_free(o);
    if (!json)
        return NULL;
    size_t n = strlen(json) + strlen(type) + sizeof "event: \ndata: \n\n";
    char *ev = malloc(n);
    if (ev)
        snprintf(ev, n, "event: %s\ndata: %s\n\n", type, json);
    free(json);
    return ev;
}

static char *index_event(const char *type, const char *key, cJSON *v)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNumberToObject(o, "index", 0);
    if (key)
        cJSON_AddItemToObject(o, key, v);
    return sse_event(type, o);
}

static char *text_delta(const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    memcpy(s, text, len);
    s[len] = '\0';
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "type", "text_delta");
    cJSON_AddStringToObject(d, "text", s);
    free(s);
    return index_event("content_block_delta", "delta", d);
}

/* Text deltas: each word with the whitespace before it. */
static int add_words(struct mock_reply *out, const char *p)
{
    while (*p) {
        const char *start = p;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        if (mock_reply_take(out, text_delta(start, (size_t)(p - start))))
            return -1;
    }
    return 0;
}

static char *final_delta(const struct mock_answer *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    cJSON_AddStringToObject(d, "stop_reason", stop_reason(a->finish_reason));
    cJSON_AddNullToObject(d, "stop_sequence");
    cJSON_AddItemToObject(o, "usage", usage_json(a, a->completion_tokens));
    return sse_event("message_delta", o);
}

static char *block_start(void)
{
    cJSON *block = cJSON_CreateObject();
    cJSON_AddStringToObject(block, "type", "text");
    cJSON_AddStringToObject(block, "text", "");
    return index_event("content_block_start", "content_block", block);
}

static int stream_events(const struct mock_answer *a, struct mock_reply *out)
{
    cJSON *start = cJSON_CreateObject();
    cJSON_AddItemToObject(start, "message", message_json(a, NULL, 1));
    if (mock_reply_take(out, sse_event("message_start", start)) ||
        mock_reply_take(out, block_start()) ||
        mock_reply_take(out, mock_strdup("event: ping\n"
                                         "data: {\"type\": \"ping\"}\n\n")) ||
        add_words(out, a->text) ||
        mock_reply_take(out, index_event("content_block_stop", NULL, NULL)) ||
        mock_reply_take(out, final_delta(a)))
        return -1;
    return mock_reply_take(out, sse_event("message_stop",
                                          cJSON_CreateObject()));
}

static int anthropic_answer(const struct mock_request *req,
                            const struct mock_answer *a,
                            struct mock_reply *out)
{
    out->streamed = req->stream;
    if (req->stream)
        return stream_events(a, out);
    return mock_reply_take(out, mock_print_free(message_json(
                                    a, a->text, a->completion_tokens)));
}

const struct mock_format mock_format_anthropic = {
    .name = "anthropic",
    .owns_path = anthropic_owns_path,
    .read_request = anthropic_read_request,
    .error_body = anthropic_error_body,
    .problem_body = anthropic_problem_body,
    .answer = anthropic_answer,
};
