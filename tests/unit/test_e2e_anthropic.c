/*
 * test_e2e_anthropic.c - the anthropic provider end to end through the
 * public API: lr_open() on an INI file with two anthropic targets, the
 * in-process mock upstream speaking the Anthropic format on loopback.
 * Covers a plain answer (with the headers and body the upstream saw), an
 * overloaded 529 falling back to the second target, a streamed answer
 * through lr_stream(), and an error event in the middle of a 200 stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

#define KEY "sk-ant-e2e-SECRET-0123456789"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

/* Routes a (claude-a) and b (claude-b), targets a then b. */
static void setup(struct fx *f, const char *a_responses,
                  const char *b_responses)
{
    char script[8192], err[512];
    snprintf(script, sizeof script,
             "{\"routes\":[{\"name\":\"a\",\"model\":\"claude-a\","
             "\"format\":\"anthropic\",\"responses\":[%s]},"
             "{\"name\":\"b\",\"model\":\"claude-b\",\"format\":"
             "\"anthropic\",\"responses\":[%s]}]}",
             a_responses, b_responses ? b_responses
                                      : "{\"status\":200,\"echo\":true}");
    f->mock = mock_start(script, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(setenv("LR_TEST_ANTHROPIC_KEY", KEY, 1), 0);
    assert_int_equal(tenv_init(&f->env), 0);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "e.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target a]\nprovider = anthropic\nmodel = claude-a\n"
        "base_url = http://127.0.0.1:%d\n"
        "api_key_env = LR_TEST_ANTHROPIC_KEY\nmax_tokens = 321\n"
        "[target b]\nprovider = anthropic\nmodel = claude-b\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "api_key_env = LR_TEST_ANTHROPIC_KEY\n",
        port, port);
    f->r = lr_open(path, err, sizeof err);
    if (!f->r)
        fail_msg("lr_open: %s", err);
}

static void teardown(struct fx *f)
{
    lr_close(f->r);
    mock_stop(f->mock);
    tenv_free(&f->env);
}

static struct lr_response *ask(struct fx *f, const char *prompt)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, prompt), LR_OK);
    lr_request_set_system(q, "Be brief.");
    struct lr_response *resp = NULL;
    lr_complete(f->r, q, &resp);
    lr_request_free(q);
    assert_non_null(resp);
    return resp;
}

static void answers(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":200,\"text\":\"Hello there\",\"usage\":"
              "{\"prompt_tokens\":3,\"completion_tokens\":2}}", NULL);
    struct lr_response *r = ask(&f, "hi");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "Hello there");
    assert_string_equal(lr_response_finish_reason(r), "stop");
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_provider(r), "anthropic");
    assert_string_equal(lr_response_model(r), "claude-a");
    assert_int_equal(lr_response_prompt_tokens(r), 3);
    assert_int_equal(lr_response_completion_tokens(r), 2);
    char *key = mock_last_header(f.mock, "a", "x-api-key");
    char *ver = mock_last_header(f.mock, "a", "anthropic-version");
    char *body = mock_last_body(f.mock, "a");
    assert_string_equal(key, KEY);
    assert_string_equal(ver, "2023-06-01");
    assert_non_null(strstr(body, "\"max_tokens\":321"));
    assert_non_null(strstr(body, "\"system\":\"Be brief.\""));
    free(key);
    free(ver);
    free(body);
    lr_response_free(r);
    teardown(&f);
}

static void overloaded_falls_back(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":529,\"error\":{\"type\":\"overloaded_error\","
              "\"message\":\"Overloaded\"}}", NULL);
    struct lr_response *r = ask(&f, "where now");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_string_equal(lr_response_text(r), "echo: where now");
    assert_int_equal(lr_response_attempt_count(r), 2);
    struct lr_attempt_info a;
    assert_int_equal(lr_response_attempt(r, 0, &a), LR_OK);
    assert_int_equal(a.http_status, 529);
    assert_int_equal(a.error, LR_E_OVERLOADED);
    /* base_url ".../v1" reached the same endpoint */
    assert_int_equal(mock_requests(f.mock, "b"), 1);
    char *json = lr_response_json(r);
    assert_null(strstr(json, KEY));
    lr_free(json);
    lr_response_free(r);
    teardown(&f);
}

struct acc {
    char text[512];
    size_t len;
    int calls;
};

static int collect(const char *t, size_t n, void *user)
{
    struct acc *a = user;
    if (a->len + n < sizeof a->text) {
        memcpy(a->text + a->len, t, n);
        a->len += n;
    }
    a->calls++;
    return 0;
}

static int stream(struct fx *f, struct acc *acc, struct lr_response **r)
{
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "stream please");
    memset(acc, 0, sizeof *acc);
    int rc = lr_stream(f->r, q, collect, acc, r);
    lr_request_free(q);
    return rc;
}

static void streams(void **s)
{
    (void)s;
    struct fx f;
    struct acc acc;
    struct lr_response *r = NULL;
    setup(&f, "{\"status\":200,\"text\":\"one two three four\",\"usage\":"
              "{\"prompt_tokens\":5,\"completion_tokens\":4}}", NULL);
    assert_int_equal(stream(&f, &acc, &r), LR_OK);
    assert_int_equal(acc.calls, 4);
    assert_string_equal(acc.text, "one two three four");
    assert_string_equal(lr_response_text(r), "one two three four");
    assert_string_equal(lr_response_finish_reason(r), "stop");
    assert_int_equal(lr_response_prompt_tokens(r), 5);
    assert_int_equal(lr_response_completion_tokens(r), 4);
    char *body = mock_last_body(f.mock, "a");
    char *accept = mock_last_header(f.mock, "a", "accept");
    assert_non_null(strstr(body, "\"stream\":true"));
    assert_string_equal(accept, "text/event-stream");
    free(body);
    free(accept);
    lr_response_free(r);
    teardown(&f);
}

static void stream_error_event(void **s)
{
    (void)s;
    struct fx f;
    struct acc acc;
    struct lr_response *r = NULL;
    setup(&f, "{\"status\":200,\"content_type\":\"text/event-stream\","
              "\"raw\":\"event: message_start\\ndata: {\\\"type\\\":"
              "\\\"message_start\\\",\\\"message\\\":{\\\"model\\\":"
              "\\\"claude-a\\\",\\\"usage\\\":{\\\"input_tokens\\\":3}}}"
              "\\n\\nevent: content_block_delta\\ndata: {\\\"type\\\":"
              "\\\"content_block_delta\\\",\\\"index\\\":0,\\\"delta\\\":"
              "{\\\"type\\\":\\\"text_delta\\\",\\\"text\\\":\\\"Part\\\"}}"
              "\\n\\nevent: error\\ndata: {\\\"type\\\":\\\"error\\\","
              "\\\"error\\\":{\\\"type\\\":\\\"overloaded_error\\\","
              "\\\"message\\\":\\\"Overloaded\\\"}}\\n\\n\"}", NULL);
    assert_int_equal(stream(&f, &acc, &r), LR_E_OVERLOADED);
    assert_string_equal(acc.text, "Part");
    assert_non_null(strstr(lr_response_error_message(r), "Overloaded"));
    /* text reached the caller: no fallback spliced on */
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(overloaded_falls_back),
        cmocka_unit_test(streams),
        cmocka_unit_test(stream_error_event),
    };
    return cmocka_run_group_tests_name("e2e_anthropic", tests, NULL, NULL);
}
