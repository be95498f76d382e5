/*
 * mock_script.c - loads and checks the mock upstream's JSON script (the
 * format is described in mock_upstream.h).
 *
 * Checking is strict, because a typo in a test script otherwise shows up
 * as a puzzling test failure far away: unknown keys, wrong types, values
 * out of range, missing or doubled bodies, options that only make sense
 * for text answers, unknown formats and duplicate names or models are all
 * refused with the JSON path of the offending value, e.g.
 * routes[0].responses[2]: unknown key "texts".  Error bodies are
 * rendered here, once, by the route's format.
 */
#include "mock_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DELAY_MS 600000L /* ten minutes */

/* Where an error is reported, and the path of the value being read. */
struct where {
    char *err;
    size_t errlen;
    const char *path;
};

__attribute__((format(printf, 2, 3))) static int fail(const struct where *w,
                                                      const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->errlen)
        snprintf(w->err, w->errlen, "%s: %s", w->path, msg);
    return -1;
}

static const cJSON *item(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int check_keys(const cJSON *o, const char *const *allowed,
                      const struct where *w)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], c->string) != 0)
            i++;
        if (!allowed[i])
            return fail(w, "unknown key \"%s\"", c->string);
    }
    return 0;
}

/* An integer in [min, max]; def when absent. */
static int get_long(const cJSON *o, const char *key, long min, long max,
                    long def, long *out, const struct where *w)
{
    const cJSON *v = item(o, key);
    *out = def;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min ||
        v->valuedouble > (double)max ||
        (double)(long)v->valuedouble != v->valuedouble)
        return fail(w, "\"%s\" must be an integer from %ld to %ld", key, min,
                    max);
    *out = (long)v->valuedouble;
    return 0;
}

/* A string without CR or LF (it may become a header); def when absent. */
static int get_str(const cJSON *o, const char *key, const char *def,
                   const char **out, const struct where *w)
{
    const cJSON *v = item(o, key);
    *out = def;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return fail(w, "\"%s\" must be a string", key);
    if (strpbrk(v->valuestring, "\r\n"))
        return fail(w, "\"%s\" must not contain CR or LF", key);
    *out = v->valuestring;
    return 0;
}

static int check_headers(const cJSON *h, const struct where *w)
{
    const cJSON *c;
    if (!cJSON_IsObject(h))
        return fail(w, "\"headers\" must be an object of strings");
    cJSON_ArrayForEach(c, h)
    {
        const char *n = c->string;
        if (!*n || n[strspn(n, "!#$%&'*+-.^_`|~0123456789"
                               "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ")])
            return fail(w, "headers: bad header name \"%s\"", n);
        if (strcasecmp(n, "Content-Length") == 0 ||
            strcasecmp(n, "Transfer-Encoding") == 0)
            return fail(w, "headers: \"%s\" is set by the server", n);
        if (!cJSON_IsString(c) || strpbrk(c->valuestring, "\r\n"))
            return fail(w, "headers: \"%s\" must be a string without CR/LF",
                        n);
    }
    return 0;
}

static int parse_usage(const cJSON *u, struct mock_entry *e,
                       const struct where *w)
{
    static const char *const keys[] = {"prompt_tokens", "completion_tokens",
                                       NULL};
    char path[128];
    snprintf(path, sizeof path, "%s.usage", w->path);
    struct where uw = {w->err, w->errlen, path};
    if (!cJSON_IsObject(u))
        return fail(&uw, "must be an object");
    if (check_keys(u, keys, &uw) ||
        get_long(u, "prompt_tokens", 0, INT_MAX, -1, &e->prompt_tokens,
                 &uw) ||
        get_long(u, "completion_tokens", 0, INT_MAX, -1,
                 &e->completion_tokens, &uw))
        return -1;
    return 0;
}

/* usage, finish_reason, chunk_delay_ms: for text and echo only. */
static int parse_text_opts(const cJSON *o, struct mock_entry *e,
                           const struct where *w)
{
    static const char *const only[] = {"usage", "finish_reason",
                                       "chunk_delay_ms", NULL};
    e->prompt_tokens = e->completion_tokens = -1;
    e->finish_reason = "stop";
    if (e->kind != MOCK_TEXT && e->kind != MOCK_ECHO) {
        for (size_t i = 0; only[i]; i++)
            if (item(o, only[i]))
                return fail(w, "\"%s\" needs a text or echo answer", only[i]);
        return 0;
    }
    const cJSON *u = item(o, "usage");
    if (get_str(o, "finish_reason", "stop", &e->finish_reason, w) ||
        get_long(o, "chunk_delay_ms", 0, MAX_DELAY_MS, 0, &e->chunk_delay_ms,
                 w))
        return -1;
    return u ? parse_usage(u, e, w) : 0;
}

static int parse_body(const cJSON *o, const struct mock_format *f,
                      struct mock_entry *e, const struct where *w)
{
    const cJSON *text = item(o, "text"), *echo = item(o, "echo");
    const cJSON *error = item(o, "error"), *raw = item(o, "raw");
    int n = !!text + !!echo + !!error + !!raw;
    if (n != 1)
        return fail(w, "%s one of \"text\", \"echo\", \"error\", \"raw\"",
                    n ? "needs only" : "needs");
    if (text && !cJSON_IsString(text))
        return fail(w, "\"text\" must be a string");
    if (echo && !cJSON_IsTrue(echo))
        return fail(w, "\"echo\" must be true");
    if (error && !cJSON_IsObject(error))
        return fail(w, "\"error\" must be an object");
    if (raw && !cJSON_IsString(raw))
        return fail(w, "\"raw\" must be a string");
    e->kind = text ? MOCK_TEXT : echo ? MOCK_ECHO : error ? MOCK_ERROR
                                                          : MOCK_RAW;
    if (text)
        e->text = text->valuestring;
    if (error)
        e->body = f->error_body(error);
    if (raw)
        e->body = mock_strdup(raw->valuestring);
    if ((error || raw) && !e->body)
        return fail(w, "out of memory");
    return 0;
}

static int parse_entry(const cJSON *o, const struct mock_format *f,
                       struct mock_entry *e, const struct where *w)
{
    static const char *const keys[] = {
        "status", "headers", "delay_ms", "chunk_delay_ms", "truncate_at",
        "content_type", "text", "echo", "error", "raw", "usage",
        "finish_reason", NULL};
    long status;
    if (!cJSON_IsObject(o))
        return fail(w, "must be an object");
    if (check_keys(o, keys, w) ||
        get_long(o, "status", 200, 599, 200, &status, w) ||
        get_long(o, "delay_ms", 0, MAX_DELAY_MS, 0, &e->delay_ms, w) ||
        get_long(o, "truncate_at", 0, INT_MAX, -1, &e->truncate_at, w) ||
        get_str(o, "content_type", NULL, &e->content_type, w))
        return -1;
    e->status = (unsigned)status;
    e->headers = item(o, "headers");
    if (e->headers && check_headers(e->headers, w))
        return -1;
    if (parse_body(o, f, e, w))
        return -1;
    return parse_text_opts(o, e, w);
}

static int parse_responses(const cJSON *list, struct mock_route *r,
                           const struct where *w)
{
    char path[96];
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n == 0)
        return fail(w, "\"responses\" must be a non-empty array");
    r->entries = calloc(n, sizeof *r->entries);
    if (!r->entries)
        return fail(w, "out of memory");
    r->nentries = n;
    size_t j = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        snprintf(path, sizeof path, "%s.responses[%zu]", w->path, j);
        struct where ew = {w->err, w->errlen, path};
        if (parse_entry(o, r->format, &r->entries[j++], &ew))
            return -1;
    }
    return 0;
}

/* "quota": {"limit", "window_ms", "over": ENTRY}, all required. */
static int parse_quota(const cJSON *o, struct mock_route *r,
                       const struct where *w)
{
    static const char *const keys[] = {"limit", "window_ms", "over", NULL};
    char path[96], opath[112];
    snprintf(path, sizeof path, "%s.quota", w->path);
    snprintf(opath, sizeof opath, "%s.over", path);
    struct where qw = {w->err, w->errlen, path};
    struct where ow = {w->err, w->errlen, opath};
    if (!cJSON_IsObject(o))
        return fail(&qw, "must be an object");
    r->quota = calloc(1, sizeof *r->quota);
    if (!r->quota)
        return fail(&qw, "out of memory");
    struct mock_quota *q = r->quota;
    if (check_keys(o, keys, &qw) ||
        get_long(o, "limit", 0, INT_MAX, -1, &q->limit, &qw) ||
        get_long(o, "window_ms", 1, MAX_DELAY_MS, -1, &q->window_ms, &qw))
        return -1;
    if (q->limit < 0 || q->window_ms < 0 || !item(o, "over"))
        return fail(&qw, "\"limit\", \"window_ms\" and \"over\" are "
                         "required");
    return parse_entry(item(o, "over"), r->format, &q->over, &ow);
}

static int parse_route(const cJSON *o, struct mock_route *r,
                       const struct where *w)
{
    static const char *const keys[] = {"name", "model", "format", "repeat",
                                       "responses", "quota", NULL};
    const char *format, *repeat;
    if (!cJSON_IsObject(o))
        return fail(w, "must be an object");
    if (check_keys(o, keys, w) || get_str(o, "name", NULL, &r->name, w) ||
        get_str(o, "model", NULL, &r->model, w) ||
        get_str(o, "format", "openai", &format, w) ||
        get_str(o, "repeat", "last", &repeat, w))
        return -1;
    if (!r->name || !*r->name)
        return fail(w, "\"name\" (a non-empty string) is required");
    if (!r->model || !*r->model)
        return fail(w, "\"model\" (a non-empty string, or \"*\") is required");
    r->format = mock_format_find(format);
    if (!r->format)
        return fail(w, "unknown format \"%s\" (known: openai, anthropic, gemini)", format);
    if (strcmp(repeat, "last") != 0 && strcmp(repeat, "cycle") != 0)
        return fail(w, "\"repeat\" must be \"last\" or \"cycle\"");
    r->cycle = strcmp(repeat, "cycle") == 0;
    if (parse_responses(item(o, "responses"), r, w))
        return -1;
    return item(o, "quota") ? parse_quota(item(o, "quota"), r, w) : 0;
}

/* Route names are unique, and so are models within a format. */
static int check_unique(const struct mock_script *s, size_t i,
                        const struct where *w)
{
    const struct mock_route *r = &s->routes[i];
    for (size_t j = 0; j < i; j++) {
        const struct mock_route *q = &s->routes[j];
        if (strcmp(q->name, r->name) == 0)
            return fail(w, "route name \"%s\" is already used by routes[%zu]",
                        r->name, j);
        if (q->format == r->format && strcmp(q->model, r->model) == 0)
            return fail(w, "model \"%s\" is already routed by routes[%zu]",
                        r->model, j);
    }
    return 0;
}

static int parse_routes(const cJSON *list, struct mock_script *s,
                        const struct where *w)
{
    char path[32];
    if (!cJSON_IsArray(list))
        return fail(w, "\"routes\" (an array) is required");
    size_t n = (size_t)cJSON_GetArraySize(list);
    s->routes = calloc(n ? n : 1, sizeof *s->routes);
    if (!s->routes)
        return fail(w, "out of memory");
    const cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        size_t i = s->nroutes++;
        snprintf(path, sizeof path, "routes[%zu]", i);
        struct where rw = {w->err, w->errlen, path};
        if (parse_route(o, &s->routes[i], &rw) || check_unique(s, i, &rw))
            return -1;
    }
    return 0;
}

/* "script: not valid JSON at line L, column C". */
static void syntax_error(const char *json, const char *at,
                         const struct where *w)
{
    long line = 1, col = 1;
    for (const char *p = json; at && p < at && *p; p++) {
        col++;
        if (*p == '\n') {
            line++;
            col = 1;
        }
    }
    fail(w, "not valid JSON (error at line %ld, column %ld)", line, col);
}

struct mock_script *mock_script_load(const char *json, char *err,
                                     size_t errlen)
{
    static const char *const keys[] = {"routes", NULL};
    struct where w = {err, errlen, "script"};
    const char *end = NULL;
    if (!json) {
        fail(&w, "no script given");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        syntax_error(json, end, &w);
        return NULL;
    }
    struct mock_script *s = calloc(1, sizeof *s);
    if (!s) {
        cJSON_Delete(root);
        fail(&w, "out of memory");
        return NULL;
    }
    s->root = root;
    s->refs = 1;
    if (!cJSON_IsObject(root))
        fail(&w, "must be a JSON object");
    if (!cJSON_IsObject(root) || check_keys(root, keys, &w) ||
        parse_routes(item(root, "routes"), s, &w)) {
        mock_script_free(s);
        return NULL;
    }
    return s;
}

static void free_route(struct mock_route *r)
{
    for (size_t j = 0; j < r->nentries; j++)
        free(r->entries[j].body);
    free(r->entries);
    if (r->quota)
        free(r->quota->over.body);
    free(r->quota);
    free(r->last_body);
    for (size_t j = 0; j < r->nlast_headers; j++) {
        free(r->last_headers[j].name);
        free(r->last_headers[j].value);
    }
    free(r->last_headers);
}

void mock_script_free(struct mock_script *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nroutes; i++)
        free_route(&s->routes[i]);
    free(s->routes);
    cJSON_Delete(s->root);
    free(s);
}

struct mock_route *mock_script_match(struct mock_script *s,
                                     const struct mock_format *f,
                                     const char *model)
{
    struct mock_route *star = NULL;
    for (size_t i = 0; i < s->nroutes; i++) {
        struct mock_route *r = &s->routes[i];
        if (r->format != f)
            continue;
        if (model && strcmp(r->model, model) == 0)
            return r;
        if (strcmp(r->model, "*") == 0)
            star = r;
    }
    return star;
}

struct mock_route *mock_script_route(struct mock_script *s, const char *name)
{
    for (size_t i = 0; i < s->nroutes; i++)
        if (strcmp(s->routes[i].name, name) == 0)
            return &s->routes[i];
    return NULL;
}
