/*
 * test_mock.c - tests of the mock upstream itself (tests/mock), talking to
 * it with libcurl over loopback: scripted status sequences, headers, the
 * OpenAI JSON and SSE shapes, echo, raw bodies, truncation, delays,
 * 404s, counters, the last body/header, script errors, run-time script
 * changes and route quotas (over entries with filled-in retry hints,
 * window roll-over).  Every request has a timeout and every loop a fixed
 * bound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mock/mock_upstream.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TIMEOUT_MS 10000L
#define MAX_EVENTS 64

struct res {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char *head;
    size_t hlen;
};

static size_t grow(char **buf, size_t *len, const char *data, size_t n)
{
    char *p = realloc(*buf, *len + n + 1);
    if (!p)
        return 0;
    memcpy(p + *len, data, n);
    *len += n;
    p[*len] = '\0';
    *buf = p;
    return n;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct res *r = userp;
    return grow(&r->body, &r->len, data, size * n);
}

static size_t on_head(char *data, size_t size, size_t n, void *userp)
{
    struct res *r = userp;
    return grow(&r->head, &r->hlen, data, size * n);
}

static void res_free(struct res *r)
{
    free(r->body);
    free(r->head);
    memset(r, 0, sizeof *r);
}

/* One request on handle h (reused for keep-alive); body NULL: GET. */
static void request_on(CURL *h, int port, const char *path, const char *body,
                       const char *header, struct res *r)
{
    char url[256];
    struct curl_slist *hl = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(r, 0, sizeof *r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    if (header)
        hl = curl_slist_append(hl, header);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
}

static void request(int port, const char *path, const char *body,
                    const char *header, struct res *r)
{
    CURL *h = curl_easy_init();
    assert_non_null(h);
    request_on(h, port, path, body, header, r);
    curl_easy_cleanup(h);
}

static void post(struct mock_upstream *m, const char *body, struct res *r)
{
    request(mock_port(m), "/v1/chat/completions", body, NULL, r);
}

/* Value of response header name (copied into out), or NULL. */
static const char *head_value(const struct res *r, const char *name,
                              char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *p = r->head; p && *p; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1 + strspn(p + n + 1, " ");
            snprintf(out, outlen, "%.*s", (int)strcspn(p, "\r\n"), p);
            return out;
        }
    }
    return NULL;
}

static struct mock_upstream *start(const char *script)
{
    char err[256] = "";
    struct mock_upstream *m = mock_start(script, err, sizeof err);
    if (!m)
        fail_msg("mock_start: %s", err);
    assert_true(mock_port(m) > 0);
    return m;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#define USER_HI "{\"model\":\"model-a\",\"messages\":[{\"role\":\"user\"," \
                "\"content\":\"hi\"}]}"

static const char *seq_script =
    "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":["
    "{\"status\":429,\"headers\":{\"retry-after-ms\":\"200\"},"
    "\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
    "\"code\":\"rate_limit_exceeded\"}},"
    "{\"status\":500,\"error\":{\"message\":\"boom\",\"type\":"
    "\"server_error\",\"code\":null}},"
    "{\"text\":\"Hello there\"}]},"
    "{\"name\":\"c\",\"model\":\"model-c\",\"repeat\":\"cycle\","
    "\"responses\":[{\"status\":503,\"raw\":\"busy\"},{\"text\":\"ok\"}]}]}";

static void test_repeat_last(void **state)
{
    static const long want[] = {429, 500, 200, 200, 200};
    struct mock_upstream *m = start(seq_script);
    for (size_t i = 0; i < 5; i++) {
        struct res r;
        post(m, USER_HI, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, want[i]);
        res_free(&r);
    }
    assert_int_equal(mock_requests(m, "a"), 5);
    mock_stop(m);
}

static void test_repeat_cycle(void **state)
{
    static const char *body = "{\"model\":\"model-c\",\"messages\":[]}";
    struct mock_upstream *m = start(seq_script);
    for (long i = 0; i < 5; i++) {
        struct res r;
        post(m, body, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, i % 2 ? 200 : 503);
        res_free(&r);
    }
    mock_stop(m);
}

static void test_error_headers_and_body(void **state)
{
    char v[64];
    struct mock_upstream *m = start(seq_script);
    struct res r;
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(head_value(&r, "Retry-After-Ms", v, sizeof v), "200");
    assert_string_equal(head_value(&r, "content-type", v, sizeof v),
                        "application/json");
    cJSON *j = cJSON_Parse(r.body);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring,
                        "Rate limit reached");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring,
                        "rate_limit_exceeded");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "param")));
    cJSON_Delete(j);
    res_free(&r);
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "\"code\":null"));
    res_free(&r);
    mock_stop(m);
}

static void test_completion_shape(void **state)
{
    struct mock_upstream *m = start(
        "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":["
        "{\"text\":\"Hello there\",\"finish_reason\":\"length\","
        "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}},"
        "{\"text\":\"one two three\"}]}]}");
    struct res r;
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "id")));
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring,
                        "chat.completion");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "created")));
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring,
                        "model-a");
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(c0, "message");
    assert_string_equal(cJSON_GetObjectItem(msg, "role")->valuestring,
                        "assistant");
    assert_string_equal(cJSON_GetObjectItem(msg, "content")->valuestring,
                        "Hello there");
    assert_string_equal(cJSON_GetObjectItem(c0, "finish_reason")->valuestring,
                        "length");
    cJSON *u = cJSON_GetObjectItem(j, "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(u, "total_tokens")->valueint, 11);
    cJSON_Delete(j);
    res_free(&r);
    /* Default usage: word counts of the messages and of the text. */
    post(m, "{\"model\":\"model-a\",\"messages\":[{\"role\":\"system\","
            "\"content\":\"be brief\"},{\"role\":\"user\",\"content\":"
            "\"say three words\"}]}", &r);
    j = cJSON_Parse(r.body);
    u = cJSON_GetObjectItem(j, "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 3);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "finish_reason")->valuestring,
                        "stop");
    cJSON_Delete(j);
    res_free(&r);
    mock_stop(m);
}

static const char *content_of(const char *body)
{
    static char text[256];
    cJSON *j = cJSON_Parse(body);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "message"),
                                   "content");
    snprintf(text, sizeof text, "%s", cJSON_IsString(s) ? s->valuestring
                                                        : "(none)");
    cJSON_Delete(j);
    return text;
}

static void test_echo(void **state)
{
    struct mock_upstream *m = start(
        "{\"routes\":[{\"name\":\"e\",\"model\":\"*\",\"responses\":["
        "{\"status\":200,\"echo\":true}]}]}");
    struct res r;
    post(m, "{\"model\":\"anything\",\"messages\":["
            "{\"role\":\"user\",\"content\":\"first\"},"
            "{\"role\":\"assistant\",\"content\":\"reply\"},"
            "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
            "\"text\":\"second \"},{\"type\":\"text\",\"text\":\"part\"}]}]}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(content_of(r.body), "echo: second part");
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring,
                        "anything");
    cJSON_Delete(j);
    res_free(&r);
    mock_stop(m);
}

static void test_raw(void **state)
{
    char v[64];
    struct mock_upstream *m = start(
        "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":["
        "{\"status\":200,\"raw\":\"{not json\",\"content_type\":"
        "\"application/json\"},{\"status\":502,\"raw\":\"<html>bad "
        "gateway</html>\",\"content_type\":\"text/html\"}]}]}");
    struct res r;
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{not json");
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v),
                        "application/json");
    res_free(&r);
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 502);
    assert_string_equal(r.body, "<html>bad gateway</html>");
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v),
                        "text/html");
    res_free(&r);
    mock_stop(m);
}

/* Split an SSE body into the payloads of its data: events. */
static size_t sse_split(char *body, char **ev, size_t max)
{
    size_t n = 0;
    char *p = body;
    while (p && *p && n < max) {
        char *end = strstr(p, "\n\n");
        assert_non_null(end);
        *end = '\0';
        assert_memory_equal(p, "data: ", 6);
        ev[n++] = p + 6;
        p = end + 2;
    }
    return n;
}

static const char *stream_script =
    "{\"routes\":[{\"name\":\"s\",\"model\":\"model-a\",\"responses\":["
    "{\"text\":\"A long  answer\",\"usage\":{\"prompt_tokens\":9,"
    "\"completion_tokens\":3}}]}]}";

#define STREAM_REQ(usage)                                                 \
    "{\"model\":\"model-a\",\"stream\":true," usage "\"messages\":"         \
    "[{\"role\":\"user\",\"content\":\"hi\"}]}"

/* Checks a chunk with one choice; returns its delta content or "". */
static const char *chunk_delta(cJSON *j, int with_usage, const char **finish)
{
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring,
                        "chat.completion.chunk");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "id")));
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring,
                        "model-a");
    cJSON *u = cJSON_GetObjectItem(j, "usage");
    assert_true(with_usage ? cJSON_IsNull(u) : u == NULL);
    cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_non_null(c0);
    cJSON *fr = cJSON_GetObjectItem(c0, "finish_reason");
    *finish = cJSON_IsString(fr) ? fr->valuestring : NULL;
    cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"),
                                         "content");
    return cJSON_IsString(content) ? content->valuestring : "";
}

static void check_stream(char *body, int with_usage)
{
    char *ev[MAX_EVENTS], text[256] = "";
    const char *finish = NULL;
    size_t n = sse_split(body, ev, MAX_EVENTS);
    size_t chunks = n - 1 - (size_t)with_usage;
    assert_true(n >= 4);
    assert_string_equal(ev[n - 1], "[DONE]");
    for (size_t i = 0; i < chunks; i++) {
        cJSON *j = cJSON_Parse(ev[i]);
        assert_non_null(j);
        strcat(text, chunk_delta(j, with_usage, &finish));
        cJSON *d = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
        if (i == 0)
            assert_string_equal(
                cJSON_GetObjectItem(d, "role")->valuestring, "assistant");
        if (i == chunks - 1)
            assert_null(d->child);
        assert_true(i == chunks - 1 ? finish && !strcmp(finish, "stop")
                                    : finish == NULL);
        cJSON_Delete(j);
    }
    assert_string_equal(text, "A long  answer");
    assert_int_equal(chunks, 5); /* role, 3 words, finish */
    if (!with_usage)
        return;
    cJSON *j = cJSON_Parse(ev[n - 2]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")), 0);
    cJSON *u = cJSON_GetObjectItem(j, "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 9);
    assert_int_equal(cJSON_GetObjectItem(u, "total_tokens")->valueint, 12);
    cJSON_Delete(j);
}

static void test_stream_shape(void **state)
{
    char v[64];
    struct mock_upstream *m = start(stream_script);
    struct res r;
    post(m, STREAM_REQ(""), &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(head_value(&r, "Content-Type", v, sizeof v),
                        "text/event-stream");
    check_stream(r.body, 0);
    res_free(&r);
    post(m, STREAM_REQ("\"stream_options\":{\"include_usage\":true},"), &r);
    assert_int_equal(r.rc, CURLE_OK);
    check_stream(r.body, 1);
    res_free(&r);
    mock_stop(m);
}

static void test_truncate(void **state)
{
    struct mock_upstream *m = start(
        "{\"routes\":[{\"name\":\"t\",\"model\":\"model-a\",\"responses\":["
        "{\"text\":\"Hi there, a somewhat longer answer\","
        "\"truncate_at\":40}]}]}");
    struct res r;
    post(m, USER_HI, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_int_equal(r.len, 40);
    assert_null(cJSON_Parse(r.body));
    res_free(&r);
    post(m, STREAM_REQ(""), &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_int_equal(r.len, 40);
    assert_null(strstr(r.body, "[DONE]"));
    res_free(&r);
    assert_int_equal(mock_requests(m, "t"), 2);
    mock_stop(m);
}

static void test_not_found(void **state)
{
    struct mock_upstream *m = start(seq_script);
    struct res r;
    post(m, "{\"model\":\"nope\",\"messages\":[]}", &r);
    assert_int_equal(r.status, 404);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring,
                        "model 'nope' not found");
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring,
                        "invalid_request_error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring,
                        "model_not_found");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "param")));
    cJSON_Delete(j);
    res_free(&r);
    request(mock_port(m), "/v1/completions", USER_HI, NULL, &r);
    assert_int_equal(r.status, 404);
    res_free(&r);
    request(mock_port(m), "/a/v1/chat/completions", USER_HI, NULL, &r);
    assert_int_equal(r.status, 429);
    res_free(&r);
    post(m, "{not json", &r);
    assert_int_equal(r.status, 400);
    res_free(&r);
    assert_int_equal(mock_requests(m, NULL), 3);
    assert_int_equal(mock_requests(m, "a"), 1);
    mock_stop(m);
}

static void test_stats(void **state)
{
    struct mock_upstream *m = start(seq_script);
    struct res r;
    for (int i = 0; i < 3; i++) {
        post(m, USER_HI, &r);
        res_free(&r);
    }
    post(m, "{\"model\":\"model-c\"}", &r);
    res_free(&r);
    post(m, "{\"model\":\"zzz\"}", &r);
    res_free(&r);
    request(mock_port(m), "/_mock/stats", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *routes = cJSON_GetObjectItem(j, "routes");
    assert_int_equal(cJSON_GetObjectItem(j, "total")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(routes, "a")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(routes, "c")->valueint, 1);
    cJSON_Delete(j);
    res_free(&r);
    assert_int_equal(mock_requests(m, NULL), 5);
    assert_int_equal(mock_requests(m, "c"), 1);
    assert_int_equal(mock_requests(m, "nope"), -1);
    mock_stop(m);
}

static void test_last_body_header(void **state)
{
    struct mock_upstream *m = start(seq_script);
    struct res r;
    assert_null(mock_last_body(m, "a"));
    request(mock_port(m), "/v1/chat/completions", USER_HI,
            "Authorization: Bearer sk-test", &r);
    res_free(&r);
    char *body = mock_last_body(m, "a");
    char *auth = mock_last_header(m, "a", "authorization");
    char *ct = mock_last_header(m, "a", "Content-Type");
    assert_string_equal(body, USER_HI);
    assert_string_equal(auth, "Bearer sk-test");
    assert_string_equal(ct, "application/json");
    assert_null(mock_last_header(m, "a", "x-missing"));
    assert_null(mock_last_header(m, "c", "authorization"));
    assert_null(mock_last_body(m, "nope"));
    free(body);
    free(auth);
    free(ct);
    mock_stop(m);
}

struct bad {
    const char *script;
    const char *err;
};

static const struct bad bad_scripts[] = {
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":[{\"text\":"
     "\"x\"},{\"text\":\"y\"},{\"texts\":\"z\"}]}]}",
     "routes[0].responses[2]: unknown key \"texts\""},
    {"{\"routes\":[", "script: not valid JSON"},
    {"[]", "script: must be a JSON object"},
    {"{}", "script: \"routes\" (an array) is required"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"format\":\"grpc\","
     "\"responses\":[{\"text\":\"x\"}]}]}",
     "routes[0]: unknown format \"grpc\""},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"repeat\":\"loop\","
     "\"responses\":[{\"text\":\"x\"}]}]}",
     "routes[0]: \"repeat\" must be \"last\" or \"cycle\""},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":[]}]}",
     "routes[0]: \"responses\" must be a non-empty array"},
    {"{\"routes\":[{\"model\":\"m\",\"responses\":[{\"text\":\"x\"}]}]}",
     "routes[0]: \"name\""},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"status\":\"200\",\"text\":\"x\"}]}]}",
     "routes[0].responses[0]: \"status\" must be an integer from 200 to 599"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"status\":200}]}]}",
     "routes[0].responses[0]: needs one of"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\",\"raw\":\"y\"}]}]}",
     "routes[0].responses[0]: needs only one of"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"raw\":\"x\",\"usage\":{}}]}]}",
     "routes[0].responses[0]: \"usage\" needs a text or echo answer"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\",\"usage\":{\"prompt\":1}}]}]}",
     "routes[0].responses[0].usage: unknown key \"prompt\""},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\",\"headers\":{\"x-a\":1}}]}]}",
     "routes[0].responses[0]: headers: \"x-a\" must be a string"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\",\"delay_ms\":-5}]}]}",
     "routes[0].responses[0]: \"delay_ms\" must be an integer"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}]},{\"name\":\"a\",\"model\":\"n\",\"responses\":["
     "{\"text\":\"x\"}]}]}",
     "routes[1]: route name \"a\" is already used by routes[0]"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}]},{\"name\":\"b\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}]}]}",
     "routes[1]: model \"m\" is already routed by routes[0]"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"echo\":false}]}]}",
     "routes[0].responses[0]: \"echo\" must be true"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}],\"quota\":{\"limit\":1,\"window_ms\":10}}]}",
     "routes[0].quota: \"limit\", \"window_ms\" and \"over\" are required"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}],\"quota\":{\"limit\":1,\"window_ms\":0,"
     "\"over\":{\"text\":\"y\"}}}]}",
     "routes[0].quota: \"window_ms\" must be an integer from 1 to"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}],\"quota\":{\"limit\":1,\"window_ms\":5,"
     "\"over\":{\"status\":429}}}]}",
     "routes[0].quota.over: needs one of"},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}],\"quota\":{\"limit\":1,\"window_ms\":5,"
     "\"over\":{\"text\":\"y\"},\"burst\":2}}]}",
     "routes[0].quota: unknown key \"burst\""},
    {"{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":["
     "{\"text\":\"x\"}],\"quota\":[]}]}",
     "routes[0].quota: must be an object"},
};

static void test_bad_scripts(void **state)
{
    char err[256];
    for (size_t i = 0; i < sizeof bad_scripts / sizeof bad_scripts[0]; i++) {
        err[0] = '\0';
        struct mock_upstream *m = mock_start(bad_scripts[i].script, err,
                                             sizeof err);
        assert_null(m);
        if (strncmp(err, bad_scripts[i].err, strlen(bad_scripts[i].err)))
            fail_msg("script %zu: got '%s', want '%s...'", i, err,
                     bad_scripts[i].err);
        assert_int_equal(mock_check_script(bad_scripts[i].script, err,
                                           sizeof err), -1);
    }
}

static void test_set_script(void **state)
{
    char err[256];
    struct mock_upstream *m = start(seq_script);
    struct res r;
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 429);
    res_free(&r);
    assert_int_equal(mock_set_script(m, "{\"routes\":[{\"name\":\"a\","
                                        "\"model\":\"model-a\",\"responses\":"
                                        "[{\"text\":\"new\"}]}]}",
                                     err, sizeof err), 0);
    assert_int_equal(mock_requests(m, "a"), 0);
    assert_int_equal(mock_requests(m, "c"), -1);
    assert_int_equal(mock_requests(m, NULL), 1);
    assert_null(mock_last_body(m, "a"));
    post(m, USER_HI, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(content_of(r.body), "new");
    res_free(&r);
    assert_int_equal(mock_set_script(m, "{\"routes\":7}", err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "routes"));
    post(m, USER_HI, &r);
    assert_string_equal(content_of(r.body), "new");
    res_free(&r);
    assert_int_equal(mock_requests(m, "a"), 2);
    mock_stop(m);
}

static void test_keep_alive(void **state)
{
    struct mock_upstream *m = start(seq_script);
    CURL *h = curl_easy_init();
    long connects = 0;
    for (int i = 0; i < 20; i++) {
        struct res r;
        long n = 0;
        request_on(h, mock_port(m), "/v1/chat/completions", USER_HI, NULL,
                   &r);
        assert_int_equal(r.rc, CURLE_OK);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n);
        connects += n;
        res_free(&r);
    }
    assert_int_equal(connects, 1);
    assert_int_equal(mock_requests(m, "a"), 20);
    /* The idle keep-alive connection does not hold up a stop. */
    double t0 = now_ms();
    mock_stop(m);
    assert_true(now_ms() - t0 < 2000);
    curl_easy_cleanup(h);
}

struct slow_call {
    struct mock_upstream *m;
    const char *body;
    struct res r;
    double ms;
};

static void *slow_thread(void *arg)
{
    struct slow_call *c = arg;
    double t0 = now_ms();
    post(c->m, c->body, &c->r);
    c->ms = now_ms() - t0;
    return NULL;
}

static const char *delay_script =
    "{\"routes\":[{\"name\":\"slow\",\"model\":\"slow\",\"responses\":["
    "{\"text\":\"late\",\"delay_ms\":1000}]},"
    "{\"name\":\"drip\",\"model\":\"drip\",\"responses\":["
    "{\"text\":\"a b c\",\"chunk_delay_ms\":60}]},"
    "{\"name\":\"fast\",\"model\":\"fast\",\"responses\":[{\"text\":\"now\"}]},"
    "{\"name\":\"stuck\",\"model\":\"stuck\",\"responses\":["
    "{\"text\":\"never\",\"delay_ms\":60000}]}]}";

/* A delayed answer waits, and does not hold up another connection. */
static void test_delays(void **state)
{
    struct mock_upstream *m = start(delay_script);
    struct slow_call slow = {m, "{\"model\":\"slow\"}", {0}, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &slow), 0);
    struct res r;
    double t0 = now_ms();
    post(m, "{\"model\":\"fast\"}", &r);
    assert_true(now_ms() - t0 < 700);
    assert_int_equal(r.status, 200);
    res_free(&r);
    pthread_join(t, NULL);
    assert_int_equal(slow.r.status, 200);
    assert_true(slow.ms >= 990);
    res_free(&slow.r);
    /* Five gaps between six events: role, a, b, c, finish, [DONE]. */
    t0 = now_ms();
    post(m, "{\"model\":\"drip\",\"stream\":true}", &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_true(now_ms() - t0 >= 290);
    assert_non_null(strstr(r.body, "[DONE]"));
    res_free(&r);
    mock_stop(m);
}

/* mock_stop() cuts a long delay short instead of waiting it out. */
static void test_stop_while_delayed(void **state)
{
    struct mock_upstream *m = start(delay_script);
    struct slow_call stuck = {m, "{\"model\":\"stuck\"}", {0}, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &stuck), 0);
    for (int i = 0; i < 200 && mock_requests(m, "stuck") < 1; i++)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    assert_int_equal(mock_requests(m, "stuck"), 1);
    double t0 = now_ms();
    mock_stop(m);
    assert_true(now_ms() - t0 < 2000);
    pthread_join(t, NULL);
    assert_int_not_equal(stuck.r.rc, CURLE_OK);
    res_free(&stuck.r);
}

/* A script swapped under a running request does not pull its answer
   away: the request finishes with the script it was matched against. */
static void test_set_script_in_flight(void **state)
{
    char err[256];
    struct mock_upstream *m = start(delay_script);
    struct slow_call slow = {m, "{\"model\":\"slow\"}", {0}, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &slow), 0);
    for (int i = 0; i < 200 && mock_requests(m, "slow") < 1; i++)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    assert_int_equal(mock_requests(m, "slow"), 1);
    assert_int_equal(mock_set_script(m, seq_script, err, sizeof err), 0);
    pthread_join(t, NULL);
    assert_int_equal(slow.r.status, 200);
    assert_string_equal(content_of(slow.r.body), "late");
    res_free(&slow.r);
    assert_int_equal(mock_requests(m, "slow"), -1);
    mock_stop(m);
}

/* Quota: limit 2 per minute (one window for the whole test), OpenAI
   over entry with a retry-after-ms header and the seconds in the body. */
static const char *quota_script =
    "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"responses\":["
    "{\"text\":\"one\"},{\"text\":\"two\"},{\"text\":\"three\"}],"
    "\"quota\":{\"limit\":2,\"window_ms\":60000,\"over\":{\"status\":429,"
    "\"headers\":{\"retry-after-ms\":\"{{window_left_ms}}\","
    "\"x-left\":\"{{window_left_s}}s, {{nope}}\"},"
    "\"error\":{\"message\":\"quota: retry in {{window_left_s}}s\","
    "\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}}},"
    "{\"name\":\"b\",\"model\":\"model-b\",\"responses\":["
    "{\"text\":\"{{window_left_ms}}\"}]}]}";

static void test_quota(void **state)
{
    char v[64];
    struct mock_upstream *m = start(quota_script);
    struct res r;
    static const char *const want[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        post(m, USER_HI, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(content_of(r.body), want[i]);
        res_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        post(m, USER_HI, &r);
        assert_int_equal(r.status, 429);
        long left = atol(head_value(&r, "retry-after-ms", v, sizeof v));
        assert_true(left > 0 && left <= 60000);
        long secs = (left + 999) / 1000;
        char want_left[32], want_msg[64];
        snprintf(want_left, sizeof want_left, "%lds, {{nope}}", secs);
        assert_string_equal(head_value(&r, "x-left", v, sizeof v),
                            want_left);
        snprintf(want_msg, sizeof want_msg, "quota: retry in %lds", secs);
        cJSON *j = cJSON_Parse(r.body);
        cJSON *e = cJSON_GetObjectItem(j, "error");
        assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring,
                            want_msg);
        cJSON_Delete(j);
        res_free(&r);
    }
    /* Placeholders outside an over entry stay as they are. */
    post(m, "{\"model\":\"model-b\",\"messages\":[]}", &r);
    assert_string_equal(content_of(r.body), "{{window_left_ms}}");
    res_free(&r);
    assert_int_equal(mock_requests(m, "a"), 4);
    assert_int_equal(mock_over_quota(m, "a"), 2);
    assert_int_equal(mock_over_quota(m, "b"), 0);
    assert_int_equal(mock_over_quota(m, "nope"), -1);
    assert_int_equal(mock_over_quota(m, NULL), -1);
    request(mock_port(m), "/_mock/stats", NULL, NULL, &r);
    cJSON *j = cJSON_Parse(r.body);
    cJSON *over = cJSON_GetObjectItem(j, "over_quota");
    assert_int_equal(cJSON_GetObjectItem(over, "a")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(over, "b")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "routes"),
                                         "a")->valueint, 4);
    cJSON_Delete(j);
    res_free(&r);
    mock_stop(m);
}

/* Windows roll over: after the hinted time the quota has room again and
   the responses go on where the last in-quota request left them.  Gemini
   format, RetryInfo in the body.  Whatever the machine's speed, the loop
   meets the quota within a window (limit 1), and waiting out the hint
   always lands in a later window. */
static void test_quota_window(void **state)
{
    static const char *script =
        "{\"routes\":[{\"name\":\"g\",\"model\":\"gem\",\"format\":\"gemini\","
        "\"responses\":[{\"text\":\"r0\"},{\"text\":\"r1\"},{\"text\":\"r2\"},"
        "{\"text\":\"r3\"}],\"quota\":{\"limit\":1,\"window_ms\":400,"
        "\"over\":{\"status\":429,\"error\":{\"code\":429,\"status\":"
        "\"RESOURCE_EXHAUSTED\",\"message\":\"quota\",\"details\":[{\"@type\":"
        "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":"
        "\"{{window_left_s}}s\",\"ms\":\"{{window_left_ms}}\"}]}}}}]}";
    static const char *body =
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}";
    static const char *path = "/v1beta/models/gem:generateContent";
    struct mock_upstream *m = start(script);
    struct res r;
    long ok = 0, left = -1;
    for (int i = 0; i < 10 && left < 0; i++) {
        request(mock_port(m), path, body, NULL, &r);
        if (r.status == 200)
            ok++;
        else {
            assert_int_equal(r.status, 429);
            cJSON *j = cJSON_Parse(r.body);
            cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(
                cJSON_GetObjectItem(j, "error"), "details"), 0);
            left = atol(cJSON_GetObjectItem(d, "ms")->valuestring);
            assert_string_equal(
                cJSON_GetObjectItem(d, "retryDelay")->valuestring, "1s");
            cJSON_Delete(j);
        }
        res_free(&r);
    }
    assert_true(ok >= 1 && left > 0 && left <= 400);
    struct timespec ts = {0, (left + 30) * 1000000L};
    nanosleep(&ts, NULL);
    request(mock_port(m), path, body, NULL, &r);
    assert_int_equal(r.status, 200);
    char want[8];
    snprintf(want, sizeof want, "\"r%ld\"", ok);
    assert_non_null(strstr(r.body, want));
    res_free(&r);
    assert_int_equal(mock_over_quota(m, "g"), 1);
    assert_int_equal(mock_requests(m, "g"), ok + 2);
    mock_stop(m);
}

static int group_setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_last),
        cmocka_unit_test(test_repeat_cycle),
        cmocka_unit_test(test_error_headers_and_body),
        cmocka_unit_test(test_completion_shape),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_stream_shape),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_last_body_header),
        cmocka_unit_test(test_bad_scripts),
        cmocka_unit_test(test_set_script),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_stop_while_delayed),
        cmocka_unit_test(test_set_script_in_flight),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_quota_window),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
