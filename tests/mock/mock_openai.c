/*
 * mock_openai.c - the OpenAI Chat Completions wire format for the mock
 * upstream (see shared docs, provider-wire-formats.md section 1).
 *
 * Reads model, stream, stream_options.include_usage and messages from a
 * request, and writes chat.completion objects, chat.completion.chunk SSE
 * streams (role delta, one content delta per word with its leading
 * spaces, a finish chunk with delta {}, the choices:[] usage chunk when
 * include_usage is on, then data: [DONE]) and {"error":{...}} bodies.
 */
#include "mock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUFFIX "/chat/completions"

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int openai_owns_path(const char *url)
{
    size_t n = strlen(url), ns = strlen(SUFFIX);
    return n >= ns && strcmp(url + n - ns, SUFFIX) == 0;
}

/* The text of a message content: a string or an array of text parts. */
static char *content_text(const cJSON *content, long *words)
{
    if (cJSON_IsString(content)) {
        *words += mock_count_words(content->valuestring);
        return mock_strdup(content->valuestring);
    }
    char *text = mock_strdup("");
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *t = item(part, "text");
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

static int openai_read_request(struct mock_request *req)
{
    const cJSON *j = req->json;
    if (!cJSON_IsObject(j))
        return -1;
    const cJSON *model = item(j, "model");
    const cJSON *opts = item(j, "stream_options");
    req->model = cJSON_IsString(model) ? model->valuestring : NULL;
    req->stream = cJSON_IsTrue(item(j, "stream"));
    req->include_usage =
        cJSON_IsObject(opts) && cJSON_IsTrue(item(opts, "include_usage"));
    return read_messages(req, item(j, "messages"));
}

static char *openai_error_body(const cJSON *error)
{
    cJSON *inner = cJSON_Duplicate(error, 1);
    cJSON *o = cJSON_CreateObject();
    if (!inner || !o) {
        cJSON_Delete(inner);
        cJSON_Delete(o);
        return NULL;
    }
    if (!item(inner, "param"))
        cJSON_AddNullToObject(inner, "param");
    cJSON_AddItemToObject(o, "error", inner);
    return mock_print_free(o);
}

static char *openai_problem_body(const char *message, const char *type,
                                 const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    if (code)
        cJSON_AddStringToObject(e, "code", code);
    else
        cJSON_AddNullToObject(e, "code");
    return mock_print_free(o);
}

static cJSON *usage_json(const struct mock_answer *a)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)a->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens",
                            (double)a->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens",
                            (double)(a->prompt_tokens + a->completion_tokens));
    return u;
}

/* id, object, created, model: the head of every answer object. */
static cJSON *head_json(const struct mock_answer *a, const char *object,
                        time_t created)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", a->model);
    return o;
}

static char *completion_body(const struct mock_answer *a)
{
    cJSON *o = head_json(a, "chat.completion", time(NULL));
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON_AddStringToObject(choice, "finish_reason", a->finish_reason);
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", a->text);
    cJSON_AddNullToObject(msg, "refusal");
    cJSON_AddArrayToObject(msg, "annotations");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    cJSON_AddItemToObject(o, "usage", usage_json(a));
    return mock_print_free(o);
}

/* One SSE event: "data: " + the chunk object + a blank line. */
static char *sse_event(cJSON *chunk)
{
    char *json = mock_print_free(chunk);
    if (!json)
        return NULL;
    size_t n = strlen(json) + sizeof "data: \n\n";
    char *ev = malloc(n);
    if (ev)
        snprintf(ev, n, "data: %s\n\n", json);
    free(json);
    return ev;
}

/* A chunk with one choice; delta is taken over, finish may be NULL. */
static char *delta_event(const struct mock_request *req,
                         const struct mock_answer *a, time_t created,
                         cJSON *delta, const char *finish)
{
    cJSON *o = head_json(a, "chat.completion.chunk", created);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON_AddItemToObject(choice, "delta", delta);
    cJSON_AddNullToObject(choice, "logprobs");
    if (finish)
        cJSON_AddStringToObject(choice, "finish_reason", finish);
    else
        cJSON_AddNullToObject(choice, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), choice);
    if (req->include_usage)
        cJSON_AddNullToObject(o, "usage");
    return sse_event(o);
}

static char *content_event(const struct mock_request *req,
                           const struct mock_answer *a, time_t created,
                           const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    memcpy(s, text, len);
    s[len] = '\0';
    cJSON *delta = cJSON_CreateObject();
    cJSON_AddStringToObject(delta, "content", s);
    free(s);
    return delta_event(req, a, created, delta, NULL);
}

/* Content deltas: each word with the whitespace before it. */
static int add_words(struct mock_reply *out, const struct mock_request *req,
                     const struct mock_answer *a, time_t created)
{
    const char *p = a->text;
    while (*p) {
        const char *start = p;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        char *ev = content_event(req, a, created, start, (size_t)(p - start));
        if (mock_reply_take(out, ev) != 0)
            return -1;
    }
    return 0;
}

static int stream_events(const struct mock_request *req,
                         const struct mock_answer *a, struct mock_reply *out)
{
    time_t created = time(NULL);
    cJSON *first = cJSON_CreateObject();
    cJSON_AddStringToObject(first, "role", "assistant");
    cJSON_AddStringToObject(first, "content", "");
    cJSON_AddNullToObject(first, "refusal");
    if (mock_reply_take(out, delta_event(req, a, created, first, NULL)) != 0)
        return -1;
    if (add_words(out, req, a, created) != 0)
        return -1;
    cJSON *last = cJSON_CreateObject();
    if (mock_reply_take(out, delta_event(req, a, created, last,
                                         a->finish_reason)) != 0)
        return -1;
    if (req->include_usage) {
        cJSON *o = head_json(a, "chat.completion.chunk", created);
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(a));
        if (mock_reply_take(out, sse_event(o)) != 0)
            return -1;
    }
    return mock_reply_take(out, mock_strdup("data: [DONE]\n\n"));
}

static int openai_answer(const struct mock_request *req,
                         const struct mock_answer *a, struct mock_reply *out)
{
    out->streamed = req->stream;
    if (req->stream)
        return stream_events(req, a, out);
    return mock_reply_take(out, completion_body(a));
}

const struct mock_format mock_format_openai = {
    .name = "openai",
    .owns_path = openai_owns_path,
    .read_request = openai_read_request,
    .error_body = openai_error_body,
    .problem_body = openai_problem_body,
    .answer = openai_answer,
};
