/*
 * mock_gemini.c - the Google Gemini generateContent wire format for the
 * mock upstream (see shared docs, provider-wire-formats.md section 3).
 *
 * The chat endpoint is any path with "/models/" ending in
 * ":generateContent" or ":streamGenerateContent"; the model is the path
 * between "models/" and ':', and the method decides streaming (real
 * clients add ?alt=sse, which libmicrohttpd keeps out of the path).  From
 * the body it reads contents[] (the last user turn's text parts become
 * the echo text) and systemInstruction for the word count.
 *
 * Answers are GenerateContentResponse objects; a stream is one
 * "data: {...}\r\n\r\n" event per word with a running usageMetadata and
 * finishReason on the last, and no terminator (Gemini ends at EOF).
 * Script "error" entries are sent as {"error": <the entry's object>}.
 * The script's finish_reason takes OpenAI words (stop, length,
 * content_filter, tool_calls) and sends Gemini's; anything else is sent
 * as given, so "SAFETY" or "RECITATION" can be scripted directly.
 */
#include "mock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_METHOD ":streamGenerateContent"
#define PLAIN_METHOD ":generateContent"

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t ns = strlen(suffix);
    return n >= ns && memcmp(s + n - ns, suffix, ns) == 0;
}

/* Length of the path part of url (the query, if any, excluded). */
static size_t path_len(const char *url)
{
    const char *q = strchr(url, '?');
    return q ? (size_t)(q - url) : strlen(url);
}

static int gemini_owns_path(const char *url)
{
    size_t n = path_len(url);
    return strstr(url, "/models/") && (ends_with(url, n, STREAM_METHOD) ||
                                       ends_with(url, n, PLAIN_METHOD));
}

/* Model from ".../models/<model>:method" into req->model_buf. */
static int model_from_url(struct mock_request *req)
{
    const char *p = strstr(req->url, "/models/");
    if (!p)
        return -1;
    p += strlen("/models/");
    const char *colon = strchr(p, ':');
    size_t n = colon ? (size_t)(colon - p) : 0;
    if (!n || n >= sizeof req->model_buf)
        return -1;
    memcpy(req->model_buf, p, n);
    req->model_buf[n] = '\0';
    req->model = req->model_buf;
    return 0;
}

/* Concatenated text parts of a content; counts their words. */
static char *parts_text(const cJSON *content, long *words)
{
    char *text = mock_strdup("");
    const cJSON *part;
    cJSON_ArrayForEach(part, item(content, "parts"))
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

static int read_contents(struct mock_request *req, const cJSON *contents)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, contents)
    {
        const cJSON *role = item(c, "role");
        char *text = parts_text(c, &req->prompt_words);
        if (!text)
            return -1;
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0 &&
            *text) {
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

static int gemini_read_request(struct mock_request *req)
{
    const cJSON *j = req->json;
    if (!cJSON_IsObject(j) || !cJSON_IsArray(item(j, "contents")) ||
        model_from_url(req) != 0)
        return -1;
    size_t n = path_len(req->url);
    req->stream = ends_with(req->url, n, STREAM_METHOD);
    req->include_usage = 1;
    free(parts_text(item(j, "systemInstruction"), &req->prompt_words));
    return read_contents(req, item(j, "contents"));
}

static char *gemini_error_body(const cJSON *error)
{
    cJSON *inner = cJSON_Duplicate(error, 1);
    cJSON *o = cJSON_CreateObject();
    if (!inner || !o) {
        cJSON_Delete(inner);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "error", inner);
    return mock_print_free(o);
}

/* The mock's own refusals, in google.rpc.Status shape. */
static char *gemini_problem_body(const char *message, const char *type,
                                 const char *code)
{
    long http = 400;
    const char *status = "INVALID_ARGUMENT";
    if (code && (strcmp(code, "model_not_found") == 0 ||
                 strcmp(code, "unknown_url") == 0)) {
        http = 404;
        status = "NOT_FOUND";
    }
    else if (strcmp(type, "server_error") == 0) {
        http = 500;
        status = "INTERNAL";
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", (double)http);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "status", status);
    return mock_print_free(o);
}

static const char *gemini_finish(const char *openai)
{
    static const char *const map[][2] = {{"stop", "STOP"},
                                         {"length", "MAX_TOKENS"},
                                         {"content_filter", "SAFETY"},
                                         {"tool_calls", "STOP"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(openai, map[i][0]) == 0)
            return map[i][1];
    }
    return openai;
}

/* A response object with one candidate holding text (NULL: no text
   part), finish (NULL: none) and usage with completion tokens. */
static cJSON *response_json(const struct mock_answer *a, const char *text,
                            const char *finish, long completion)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cand = cJSON_CreateObject();
    cJSON *content = cJSON_AddObjectToObject(cand, "content");
    cJSON_AddStringToObject(content, "role", "model");
    cJSON *parts = cJSON_AddArrayToObject(content, "parts");
    if (text) {
        cJSON *part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "text", text);
        cJSON_AddItemToArray(parts, part);
    }
    if (finish)
        cJSON_AddStringToObject(cand, "finishReason", gemini_finish(finish));
    cJSON_AddNumberToObject(cand, "index", 0);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "candidates"), cand);
    cJSON *u = cJSON_AddObjectToObject(o, "usageMetadata");
    cJSON_AddNumberToObject(u, "promptTokenCount", (double)a->prompt_tokens);
    if (completion > 0)
        cJSON_AddNumberToObject(u, "candidatesTokenCount", (double)completion);
    cJSON_AddNumberToObject(u, "totalTokenCount",
                            (double)(a->prompt_tokens + completion));
    cJSON_AddStringToObject(o, "modelVersion", a->model);
    cJSON_AddStringToObject(o, "responseId", a->id);
    return o;
}

/* One SSE event as Gemini frames it: CRLF line ends. */
static char *sse_event(cJSON *chunk)
{
    char *json = mock_print_free(chunk);
    if (!json)
        return NULL;
    size_t n = strlen(json) + sizeof "data: \r\n\r\n";
    char *ev = malloc(n);
    if (ev)
        snprintf(ev, n, "data: %s\r\n\r\n", json);
    free(json);
    return ev;
}

static size_t count_pieces(const char *p)
{
    size_t n = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        n++;
    }
    return n;
}

/* One chunk per word (with its leading whitespace); the usage grows
   with the chunks and reaches the answer's total on the last one. */
static int stream_chunks(const struct mock_answer *a, struct mock_reply *out)
{
    const char *p = a->text;
    size_t total = count_pieces(p), i = 0;
    if (!total)
        return mock_reply_take(out, sse_event(response_json(
                                        a, "", a->finish_reason,
                                        a->completion_tokens)));
    while (*p) {
        const char *start = p;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
        char *word = malloc((size_t)(p - start) + 1);
        if (!word)
            return -1;
        memcpy(word, start, (size_t)(p - start));
        word[p - start] = '\0';
        i++;
        long done = (long)((double)a->completion_tokens * (double)i /
                           (double)total);
        cJSON *o = response_json(a, word, i == total ? a->finish_reason
                                                     : NULL, done);
        free(word);
        if (mock_reply_take(out, sse_event(o)) != 0)
            return -1;
    }
    return 0;
}

static int gemini_answer(const struct mock_request *req,
                         const struct mock_answer *a, struct mock_reply *out)
{
    out->streamed = req->stream;
    if (req->stream)
        return stream_chunks(a, out);
    return mock_reply_take(out, mock_print_free(response_json(
                                    a, a->text, a->finish_reason,
                                    a->completion_tokens)));
}

const struct mock_format mock_format_gemini = {
    .name = "gemini",
    .owns_path = gemini_owns_path,
    .read_request = gemini_read_request,
    .error_body = gemini_error_body,
    .problem_body = gemini_problem_body,
    .answer = gemini_answer,
};
