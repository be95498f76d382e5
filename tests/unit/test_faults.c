/*
 * test_faults.c - the fault matrix: for each provider (openai, anthropic,
 * gemini) and each way an upstream can misbehave, non-streamed and
 * streamed, the request ends within its deadline with the expected error
 * class, and with a healthy second target configured it falls back (a
 * reason in the attempt trail) unless text had already reached the
 * caller.  The response JSON must stay valid JSON (UTF-8 included).
 *
 * Faults libmicrohttpd sends on request come from the scripted mock
 * (truncated JSON, invalid UTF-8, wrong content type, an error body with
 * 200, redirects); the rest from the raw fault server of
 * tests/support/fault_server.h (refused, reset, stall, drip, 20 MB).
 * Leaks are LeakSanitizer's and valgrind's business (make check,
 * make valgrind).
 *
 * Elapsed times are upper bounds with a generous slack, measured on the
 * monotonic clock: "ends by its deadline", not a speed test.
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
#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"
#include "utf8_check.h"

#define ALONE_MS 600      /* deadline of a request pinned to the bad one */
#define FALLBACK_MS 4000  /* deadline when b may answer */
#define ATTEMPT_MS 500    /* target a's own timeout */
#define SLACK_MS 2000     /* valgrind is slow; a hang is not */
#define BIG (20u * 1024u * 1024u)

struct prov {
    const char *name;
    const char *base;       /* path after host:port in base_url */
    const char *ok_json;    /* a complete non-streamed answer */
    const char *sse_event;  /* one event with text, no end marker */
    const char *err_body;   /* an error in the provider's shape */
};

static const struct prov PROVS[] = {
    {"openai", "/v1",
     "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"m-a\","
     "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
     "\"content\":\"hello there\"},\"finish_reason\":\"stop\"}],"
     "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\","
     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hel\"},"
     "\"finish_reason\":null}]}\n\n",
     "{\"message\":\"Internal server error\",\"type\":\"server_error\"}"},
    {"anthropic", "",
     "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
     "\"model\":\"m-a\",\"content\":[{\"type\":\"text\",\"text\":"
     "\"hello there\"}],\"stop_reason\":\"end_turn\",\"usage\":"
     "{\"input_tokens\":1,\"output_tokens\":2}}",
     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
     "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
     "\"model\":\"m-a\",\"content\":[],\"usage\":{\"input_tokens\":1,"
     "\"output_tokens\":0}}}\n\n"
     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
     "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hel\"}}\n\n",
     "{\"type\":\"api_error\",\"message\":\"Internal server error\"}"},
    {"gemini", "",
     "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":"
     "\"hello there\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":"
     "{\"promptTokenCount\":1,\"candidatesTokenCount\":2}}",
     "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":"
     "[{\"text\":\"hel\"}]}}]}\n\n",
     "{\"code\":500,\"message\":\"Internal error\",\"status\":\"INTERNAL\"}"},
};

enum fault {
    F_REFUSED, F_RESET_EARLY, F_RESET_BODY, F_STALL, F_DRIP, F_TRUNC_JSON,
    F_TRUNC_SSE, F_BIG, F_BAD_UTF8, F_HTML_200, F_HTML_502, F_ERROR_200,
    F_REDIRECT_301, F_REDIRECT_302, F_REDIRECT_307, F_COUNT
};

/* What a fault must give: the class when target a is alone, whether b
   takes over when configured, and a word the message must carry. */
struct expect {
    enum lr_status st;
    int falls_back;
    const char *says;   /* alternatives split by '|' */
    int scale;   /* deadlines times this (0: 1) */
};

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct fault_server *fs;
    struct lr_router *r;
    const struct prov *p;
    int scale;      /* deadlines times this */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- The faults ----------------------------------------------------------- */

static const char *const NAMES[F_COUNT] = {
    "refused", "reset_before_body", "reset_in_body", "stall_after_headers",
    "slow_drip", "truncated_json", "truncated_sse", "body_20mb",
    "invalid_utf8", "html_200", "html_502", "error_body_200",
    "redirect_301", "redirect_302", "redirect_307"};

/* 0 when the fault means nothing in that mode. */
static int expect_of(enum fault f, int stream, struct expect *e)
{
    static const struct expect plain[F_COUNT] = {
        [F_REFUSED] = {LR_E_NETWORK, 1, "onnect", 0},
        [F_RESET_EARLY] = {LR_E_NETWORK, 1, "eceiv", 0},
        [F_RESET_BODY] = {LR_E_NETWORK, 1, "eceiv", 0},
        /* curl's attempt timeout, or the request's own deadline timer
           when a slow (valgrind) run lets that fire first */
        [F_STALL] = {LR_E_TIMEOUT, 1, "timed out|deadline", 0},
        [F_DRIP] = {LR_E_TIMEOUT, 1, "timed out|deadline", 0},
        [F_TRUNC_JSON] = {LR_E_PROTOCOL, 1, "unreadable", 0},
        /* 16 MB must pass first (the default max_response_bytes):
           longer deadlines, so a slow valgrind run still sees the cap */
        [F_BIG] = {LR_E_PROTOCOL, 1, "larger than", 20},
        [F_BAD_UTF8] = {LR_OK, 0, NULL, 0},
        [F_HTML_200] = {LR_E_PROTOCOL, 1, "<html>", 0},
        [F_HTML_502] = {LR_E_SERVER_ERROR, 1, "<html>", 0},
        [F_ERROR_200] = {LR_E_SERVER_ERROR, 1, "Internal", 0},
        [F_REDIRECT_301] = {LR_E_PROTOCOL, 1, "redirect", 0},
        [F_REDIRECT_302] = {LR_E_PROTOCOL, 1, "redirect", 0},
        [F_REDIRECT_307] = {LR_E_PROTOCOL, 1, "redirect", 0},
    };
    if (f == F_TRUNC_SSE) {
        /* Text reached the caller: no splicing another target's answer
           onto it, so no fallback. */
        *e = (struct expect){LR_E_NETWORK, 0, "end marker", 1};
        return stream;
    }
    *e = plain[f];
    return 1;
}

#define JSON_HEAD "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" \
                  "Content-Length: %zu\r\n\r\n"
#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" \
                 "Connection: close\r\n\r\n"

/* The raw server's plan for f; 0 when f comes from the mock. */
static int raw_plan(const struct prov *p, enum fault f, int stream,
                    struct fault_plan *plan, char *head, size_t n)
{
    size_t ok_len = strlen(p->ok_json);
    memset(plan, 0, sizeof *plan);
    plan->head = head;
    if (stream)
        snprintf(head, n, SSE_HEAD);
    else
        snprintf(head, n, JSON_HEAD, f == F_BIG ? (size_t)BIG : ok_len);
    switch (f) {
    case F_RESET_EARLY:
        plan->head = NULL;
        plan->reset = 1;
        return 1;
    case F_RESET_BODY:
        /* Half an answer, or a stream's keep-alive comment: no text yet */
        if (stream)
            strncat(head, ": ping\n\n", n - strlen(head) - 1);
        else
            strncat(head, p->ok_json, ok_len / 2);
        plan->reset = 1;
        return 1;
    case F_STALL:
        plan->hold_ms = 30000;
        return 1;
    case F_DRIP:
        plan->drip = stream ? p->sse_event : p->ok_json;
        plan->drip_ms = 100;
        return 1;
    case F_BIG:
        plan->fill = BIG;
        plan->fill_unit = stream ? ": padding padding padding\n" : "x";
        return 1;
    default:
        return 0;
    }
}

/* Route a's scripted entry for the mock faults. */
static cJSON *mock_entry(const struct prov *p, enum fault f, int mock_port)
{
    cJSON *e = cJSON_CreateObject();
    char buf[1024];
    switch (f) {
    case F_TRUNC_JSON:
        snprintf(buf, sizeof buf, "%.*s", (int)strlen(p->ok_json) / 2,
                 p->ok_json);
        cJSON_AddStringToObject(e, "raw", buf);
        break;
    case F_TRUNC_SSE:
        cJSON_AddStringToObject(e, "raw", p->sse_event);
        cJSON_AddStringToObject(e, "content_type", "text/event-stream");
        break;
    case F_BAD_UTF8:
        cJSON_AddStringToObject(e, "text", "ok \xff\xfe bad \xc3( \xed\xa0\x80"
                                           " end \xf0\x9f");
        break;
    case F_HTML_200:
    case F_HTML_502:
        cJSON_AddNumberToObject(e, "status", f == F_HTML_200 ? 200 : 502);
        cJSON_AddStringToObject(e, "content_type", "text/html");
        cJSON_AddStringToObject(e, "raw", "<html><body><h1>502 Bad Gateway"
                                          "</h1></body></html>");
        break;
    case F_ERROR_200:
        cJSON_AddItemToObject(e, "error", cJSON_Parse(p->err_body));
        break;
    default: /* the redirects, to another host name of the same mock */
        cJSON_AddNumberToObject(e, "status", f == F_REDIRECT_301 ? 301
                                             : f == F_REDIRECT_302 ? 302
                                                                   : 307);
        snprintf(buf, sizeof buf, "http://localhost:%d/elsewhere", mock_port);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(e, "headers"),
                                "Location", buf);
        cJSON_AddStringToObject(e, "raw", "");
        break;
    }
    return e;
}

static void add_route(cJSON *routes, const struct prov *p, const char *name,
                      cJSON *entry)
{
    cJSON *r = cJSON_CreateObject();
    char model[16];
    snprintf(model, sizeof model, "m-%s", name);
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "model", model);
    cJSON_AddStringToObject(r, "format", p->name);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "responses"), entry);
    cJSON_AddItemToArray(routes, r);
}

/* The mock (route a: the fault or a plain answer; b: echo), the fault
   server when the fault is raw, a router on targets a then b. */
static void setup(struct fx *x, const struct prov *p, enum fault f,
                  int stream, int scale)
{
    char err[512], head[512];
    struct fault_plan plan;
    memset(x, 0, sizeof *x);
    x->p = p;
    x->scale = scale;
    int raw = raw_plan(p, f, stream, &plan, head, sizeof head);
    cJSON *root = cJSON_CreateObject();
    cJSON *routes = cJSON_AddArrayToObject(root, "routes");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddTrueToObject(b, "echo");
    /* The mock's port is only known once it runs: start it, then
       script route a. */
    add_route(routes, p, "b", b);
    char *js = cJSON_PrintUnformatted(root);
    x->mock = mock_start(js, err, sizeof err);
    free(js);
    if (!x->mock)
        fail_msg("mock: %s", err);
    int mport = mock_port(x->mock);
    if (!raw && f != F_REFUSED) {
        add_route(routes, p, "a", mock_entry(p, f, mport));
        js = cJSON_PrintUnformatted(root);
        if (mock_set_script(x->mock, js, err, sizeof err))
            fail_msg("mock script: %s", err);
        free(js);
    }
    cJSON_Delete(root);
    int aport = mport;
    if (f == F_REFUSED)
        aport = fault_closed_port();
    else if (raw) {
        x->fs = fault_start(&plan);
        assert_non_null(x->fs);
        aport = fault_port(x->fs);
    }
    setenv("LR_TEST_FAULT_KEY", "k-fault-0123456789", 1);
    assert_int_equal(tenv_init(&x->env), 0);
    const char *path = tenv_write(&x->env, "f.ini",
        "[router]\ntimeout_ms = %d\n"
        "[target a]\nprovider = %s\nmodel = m-a\n"
        "base_url = http://127.0.0.1:%d%s\ntimeout_ms = %d\n"
        "api_key_env = LR_TEST_FAULT_KEY\n"
        "[target b]\nprovider = %s\nmodel = m-b\n"
        "base_url = http://127.0.0.1:%d%s\n"
        "api_key_env = LR_TEST_FAULT_KEY\n",
        FALLBACK_MS * scale, p->name, aport, p->base, ATTEMPT_MS * scale,
        p->name, mport,
        p->base);
    x->r = lr_open(path, err, sizeof err);
    if (!x->r)
        fail_msg("lr_open: %s", err);
}

static void teardown(struct fx *x)
{
    lr_close(x->r);
    fault_stop(x->fs);
    mock_stop(x->mock);
    tenv_free(&x->env);
}

/* --- Checks --------------------------------------------------------------- */

/* The --json shape parses and is valid UTF-8; returns the fallback
   reason of attempt 0 (malloc'd) or NULL. */
static char *check_json(const struct lr_response *r)
{
    char *js = lr_response_json(r);
    assert_non_null(js);
    if (!utf8_check(js))
        fail_msg("response JSON is not UTF-8: %s", js);
    cJSON *j = cJSON_Parse(js);
    if (!j)
        fail_msg("response JSON does not parse: %s", js);
    cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "attempts"), 0);
    const char *fb =
        cJSON_GetStringValue(cJSON_GetObjectItem(a0, "fallback_reason"));
    char *out = fb ? strdup(fb) : NULL;
    cJSON_Delete(j);
    lr_free(js);
    return out;
}

/* The deltas a streamed request handed out, as far as they fit. */
struct got {
    char text[4096];
    size_t len;
};

static int on_delta(const char *t, size_t n, void *user)
{
    struct got *g = user;
    if (g->len + n < sizeof g->text) {
        memcpy(g->text + g->len, t, n);
        g->len += n;
        g->text[g->len] = '\0';
    }
    return 0;
}

/* One request (pinned to target when not NULL, with deadline ms when not
   0); *took: its wall time on the monotonic clock. */
static struct lr_response *ask(struct fx *x, const char *target, int ms,
                               int stream, int64_t *took, struct got *got)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, "hi there"), LR_OK);
    if (target)
        assert_int_equal(lr_request_set_target(q, target), LR_OK);
    if (ms)
        assert_int_equal(lr_request_set_timeout_ms(q, ms), LR_OK);
    struct lr_response *resp = NULL;
    memset(got, 0, sizeof *got);
    int64_t t0 = mono_ms();
    if (stream)
        lr_stream(x->r, q, on_delta, got, &resp);
    else
        lr_complete(x->r, q, &resp);
    *took = mono_ms() - t0;
    lr_request_free(q);
    assert_non_null(resp);
    return resp;
}

/* Does msg carry one of the '|'-separated words? */
static int says(const char *msg, const char *words)
{
    char w[128];
    snprintf(w, sizeof w, "%s", words);
    for (char *sv, *t = strtok_r(w, "|", &sv); t && msg;
         t = strtok_r(NULL, "|", &sv))
        if (strstr(msg, t))
            return 1;
    return 0;
}

static void check_alone(struct fx *x, enum fault f, int stream,
                        const struct expect *e)
{
    int64_t took;
    struct got got;
    int deadline = ALONE_MS * x->scale;
    struct lr_response *r = ask(x, "a", deadline, stream, &took, &got);
    const char *msg = lr_response_error_message(r);
    if (lr_response_status(r) != e->st)
        fail_msg("%s %s%s: %s, want %s (%s)", x->p->name, NAMES[f],
                 stream ? " streamed" : "",
                 lr_status_name(lr_response_status(r)),
                 lr_status_name(e->st), msg ? msg : "");
    if (took > deadline + SLACK_MS)
        fail_msg("%s: took %lld ms, deadline %d", NAMES[f], (long long)took,
                 deadline);
    if (e->says && !says(msg, e->says))
        fail_msg("%s: message \"%s\" lacks \"%s\"", NAMES[f],
                 msg ? msg : "", e->says);
    if (e->st == LR_OK) { /* replaced, not passed through */
        assert_true(utf8_check(lr_response_text(r)) &&
                    utf8_check(got.text));
        assert_non_null(strstr(lr_response_text(r), "\xEF\xBF\xBD"));
    }
    free(check_json(r));
    lr_response_free(r);
    if (f >= F_REDIRECT_301) /* not followed to the other host name */
        assert_int_equal(mock_requests(x->mock, "a"), 1);
}

static void check_fallback(struct fx *x, enum fault f, int stream,
                           const struct expect *e)
{
    int64_t took;
    struct got got;
    struct lr_response *r = ask(x, NULL, 0, stream, &took, &got);
    char *why = check_json(r);
    struct lr_attempt_info a0;
    assert_int_equal(lr_response_attempt(r, 0, &a0), LR_OK);
    if (took > FALLBACK_MS * x->scale + SLACK_MS)
        fail_msg("%s: took %lld ms, deadline %d", NAMES[f], (long long)took,
                 FALLBACK_MS * x->scale);
    if (e->falls_back) {
        if (lr_response_status(r) != LR_OK)
            fail_msg("%s %s: no fallback: %s", x->p->name, NAMES[f],
                     lr_response_error_message(r));
        assert_string_equal(lr_response_target(r), "b");
        assert_int_equal(a0.error, e->st);
        assert_non_null(why);
        assert_non_null(strstr(why, lr_status_name(e->st)));
    }
    else {
        assert_int_equal(lr_response_status(r), e->st);
        assert_string_equal(a0.target, "a");
        assert_int_equal(lr_response_attempt_count(r), 1);
    }
    free(why);
    lr_response_free(r);
}

struct cell {
    const struct prov *p;
    enum fault f;
};

static void run_cell(void **state)
{
    const struct cell *c = *state;
    for (int stream = 0; stream <= 1; stream++) {
        struct expect e;
        if (!expect_of(c->f, stream, &e))
            continue;
        struct fx x;
        setup(&x, c->p, c->f, stream, e.scale ? e.scale : 1);
        check_alone(&x, c->f, stream, &e);
        check_fallback(&x, c->f, stream, &e);
        teardown(&x);
    }
}

#define NPROV (sizeof PROVS / sizeof PROVS[0])

int main(void)
{
    static struct cell cells[NPROV * F_COUNT];
    static struct CMUnitTest tests[NPROV * F_COUNT];
    static char names[NPROV * F_COUNT][64];
    size_t n = 0;
    for (size_t i = 0; i < NPROV; i++)
        for (int f = 0; f < F_COUNT; f++, n++) {
            cells[n] = (struct cell){&PROVS[i], (enum fault)f};
            snprintf(names[n], sizeof names[n], "%s/%s", PROVS[i].name,
                     NAMES[f]);
            tests[n] = (struct CMUnitTest){names[n], run_cell, NULL, NULL,
                                           &cells[n]};
        }
    return _cmocka_run_group_tests("faults", tests, n, NULL, NULL);
}
