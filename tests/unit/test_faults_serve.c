/*
 * test_faults_serve.c - the gateway keeps serving through upstream
 * faults: `llmroute serve` (a child, tests/support/serve_child) in front
 * of one healthy target and several broken ones (the scripted mock and
 * the raw fault server of tests/support/fault_server.h).  Each broken
 * one answers its client with an error in OpenAI's shape and the right
 * HTTP status, within the request deadline; bodies stay valid JSON and
 * UTF-8 (invalid upstream bytes and error messages cut to fit included),
 * and afterwards a healthy request and /healthz still answer.  Under the
 * ASan build the child's exit code carries LeakSanitizer's verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "fault_server.h"
#include "http_client.h"
#include "mock_upstream.h"
#include "serve_child.h"
#include "testenv.h"
#include "utf8_check.h"

#define DEADLINE_MS 1500
#define SLACK_MS 3000

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct fault_server *stall, *reset, *drip, *big;
    struct serve_child gw;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_route(cJSON *routes, const char *name, cJSON *entry)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "model", name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "responses"), entry);
    cJSON_AddItemToArray(routes, r);
}

/* ok; utf8 (invalid bytes in the text); html (a proxy's 502 page);
   longerr (a 200 error whose message, 2-byte characters, overflows the
   gateway's message buffer); redirect. */
static char *script(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *routes = cJSON_AddArrayToObject(root, "routes");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "text", "all fine");
    add_route(routes, "m-ok", e);
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "text", "bad \xff\xfe bytes \xc3");
    add_route(routes, "m-utf8", e);
    e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "status", 502);
    cJSON_AddStringToObject(e, "content_type", "text/html");
    cJSON_AddStringToObject(e, "raw", "<html>502 Bad Gateway</html>");
    add_route(routes, "m-html", e);
    /* "x" shifts the pattern so that the gateway's 512-byte message
       buffer ends inside a character */
    char msg[1400] = "x";
    for (int i = 0; i < 250; i++)
        strcat(msg, "\xc3\xa9\xe2\x82\xac"); /* é€ */
    e = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(e, "error");
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddStringToObject(err, "type", "server_error");
    add_route(routes, "m-longerr", e);
    e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "status", 302);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "headers"),
                            "Location", "http://example.invalid/x");
    cJSON_AddStringToObject(e, "raw", "");
    add_route(routes, "m-redirect", e);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

#define HEAD_JSON "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
                  "Content-Length: 60\r\n\r\n"
#define TARGET(name, model, port_fmt)                                     \
    "[target " name "]\nprovider = openai\nmodel = " model "\n"           \
    "base_url = http://127.0.0.1:" port_fmt "/v1\ntimeout_ms = 600\n"

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[512];
    *state = f;
    char *s = script();
    f->mock = f && s ? mock_start(s, err, sizeof err) : NULL;
    free(s);
    if (!f || !f->mock || tenv_init(&f->env))
        return -1;
    struct fault_plan stall = {.head = HEAD_JSON, .hold_ms = 30000};
    struct fault_plan reset = {.head = HEAD_JSON "{\"id\":", .reset = 1};
    struct fault_plan drip = {.head = HEAD_JSON, .drip_ms = 100,
                              .drip = "{\"choices\":[{\"message\":{\"content"
                                      "\":\"slow\"}}]}  "};
    struct fault_plan big = {
        .head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Content-Length: 20971520\r\n\r\n",
        .fill = 20u * 1024u * 1024u};
    f->stall = fault_start(&stall);
    f->reset = fault_start(&reset);
    f->drip = fault_start(&drip);
    f->big = fault_start(&big);
    if (!f->stall || !f->reset || !f->drip || !f->big)
        return -1;
    int m = mock_port(f->mock);
    tenv_write(&f->env, "gw.ini",
        "[router]\nplugin_dir = .\ntimeout_ms = %d\n"
        "targets = ok, utf8, html, longerr, redirect, stall, reset, drip, "
        "big, refused\n"
        TARGET("ok", "m-ok", "%d") TARGET("utf8", "m-utf8", "%d")
        TARGET("html", "m-html", "%d") TARGET("longerr", "m-longerr", "%d")
        TARGET("redirect", "m-redirect", "%d") TARGET("stall", "x", "%d")
        TARGET("reset", "x", "%d") TARGET("drip", "x", "%d")
        TARGET("big", "x", "%d") TARGET("refused", "x", "%d")
        "[gateway]\nallow_anonymous = false\n",
        DEADLINE_MS, m, m, m, m, m, fault_port(f->stall),
        fault_port(f->reset), fault_port(f->drip), fault_port(f->big),
        fault_closed_port());
    snprintf(f->gw.cli, sizeof f->gw.cli, "%s/llmroute", tenv_build());
    if (serve_child_start(&f->gw, f->env.dir, "127.0.0.1:0") != 0) {
        char *e = tenv_slurp(f->gw.errpath);
        fprintf(stderr, "gateway did not start: %s\n", e ? e : "?");
        free(e);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int code = serve_child_stop(&f->gw);
    fault_stop(f->stall);
    fault_stop(f->reset);
    fault_stop(f->drip);
    fault_stop(f->big);
    mock_stop(f->mock);
    tenv_free(&f->env);
    free(f);
    return code == 0 ? 0 : -1;
}

struct want {
    const char *model;
    int stream;
    long status;
    const char *code;   /* error.code; NULL: an answer */
};

/* One chat request; the body must be JSON (or SSE of JSON) in UTF-8,
   with the status and error class wanted, within the deadline. */
static void check_one(struct fx *f, const struct want *w)
{
    char body[512];
    struct http h;
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":"
             "\"user\",\"content\":\"hi\"}]%s}", w->model,
             w->stream ? ",\"stream\":true" : "");
    int64_t t0 = mono_ms();
    http_to(NULL, f->gw.port, "POST", "/v1/chat/completions", NULL, body, 0,
            &h);
    int64_t took = mono_ms() - t0;
    if (took > DEADLINE_MS + SLACK_MS)
        fail_msg("%s: %lld ms", w->model, (long long)took);
    if (!utf8_check(h.body))
        fail_msg("%s: body not UTF-8: %s", w->model, h.body);
    int big = !strcmp(w->model, "big");
    if (h.status != w->status && !(big && h.status == 504))
        fail_msg("%s: HTTP %ld, want %ld: %s", w->model, h.status,
                 w->status, h.body);
    cJSON *j = cJSON_Parse(h.body);
    if (!j && w->stream && h.status == 200) {
        /* SSE: every data line but [DONE] is one JSON object */
        for (char *l = strstr(h.body, "data: "); l;
             l = strstr(l + 1, "data: ")) {
            char *end = strchr(l, '\n');
            if (strncmp(l + 6, "[DONE]", 6) == 0)
                continue;
            cJSON *o = cJSON_ParseWithLength(l + 6, (size_t)(end - l - 6));
            if (!o)
                fail_msg("%s: bad SSE line in %s", w->model, h.body);
            cJSON_Delete(o);
        }
    }
    else if (!j)
        fail_msg("%s: not JSON: %s", w->model, h.body);
    cJSON *code = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"),
                                      "code");
    if (w->code && !big)
        assert_string_equal(cJSON_GetStringValue(code), w->code);
    cJSON_Delete(j);
    free(h.body);
}

static void test_keeps_serving(void **state)
{
    struct fx *f = *state;
    static const struct want faults[] = {
        {"utf8", 0, 200, NULL},        {"utf8", 1, 200, NULL},
        {"html", 0, 502, "server_error"},
        {"longerr", 0, 502, "server_error"},
        {"redirect", 0, 502, "protocol"},
        {"stall", 0, 504, "timeout"},  {"stall", 1, 504, "timeout"},
        {"reset", 0, 502, "network"},  {"reset", 1, 502, "network"},
        {"drip", 0, 504, "timeout"},   {"big", 0, 502, "protocol"},
        {"refused", 0, 502, "network"}, {"refused", 1, 502, "network"},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        check_one(f, &faults[i]);
    struct http h;
    http_to(NULL, f->gw.port, "POST", "/v1/chat/completions", NULL,
            "{\"model\":\"ok\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}]}", 0, &h);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "all fine"));
    free(h.body);
    http_to(NULL, f->gw.port, "GET", "/healthz", NULL, NULL, 0, &h);
    assert_int_equal(h.status, 200);
    free(h.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keeps_serving, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
