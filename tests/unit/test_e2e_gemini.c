/*
 * test_e2e_gemini.c - the Gemini provider end to end through the public
 * API: lr_open() on an INI in a scratch folder, targets of provider
 * gemini pointed at the in-process mock upstream speaking the gemini
 * format.  Covers an answer, fallback after a per-minute 429 carrying a
 * RetryInfo (the hint recorded on the attempt), fallback after a 503, and
 * a stream that ends at EOF without any end marker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

/* Routes a (gemini-a) and b (gemini-b) in the gemini format; targets a
   and b in that order. */
static void setup(struct fx *f, const char *a_responses)
{
    char script[8192], err[512];
    snprintf(script, sizeof script,
             "{\"routes\":[{\"name\":\"a\",\"model\":\"gemini-a\","
             "\"format\":\"gemini\",\"responses\":[%s]},"
             "{\"name\":\"b\",\"model\":\"gemini-b\",\"format\":\"gemini\","
             "\"responses\":[{\"echo\":true}]}]}", a_responses);
    f->mock = mock_start(script, err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    setenv("LR_TEST_GEMINI_KEY", "AIzaSy-e2e-key-0123456789", 1);
    int port = mock_port(f->mock);
    const char *path = tenv_write(&f->env, "g.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target a]\nprovider = gemini\nmodel = gemini-a\n"
        "base_url = http://127.0.0.1:%d\n"
        "api_key_env = LR_TEST_GEMINI_KEY\n"
        "[target b]\nprovider = gemini\nmodel = gemini-b\n"
        "base_url = http://127.0.0.1:%d/\n", port, port);
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
    assert_int_equal(lr_request_set_system(q, "Be brief."), LR_OK);
    assert_int_equal(lr_request_set_prompt(q, prompt), LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(f->r, q, &resp);
    lr_request_free(q);
    assert_non_null(resp);
    return resp;
}

static struct lr_attempt_info attempt(const struct lr_response *r, size_t i)
{
    struct lr_attempt_info a;
    assert_int_equal(lr_response_attempt(r, i, &a), LR_OK);
    return a;
}

static void answers(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"text\":\"Hello from Gemini\",\"usage\":"
              "{\"prompt_tokens\":7,\"completion_tokens\":3}}");
    struct lr_response *r = ask(&f, "hi");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "Hello from Gemini");
    assert_string_equal(lr_response_finish_reason(r), "stop");
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_provider(r), "gemini");
    assert_string_equal(lr_response_model(r), "gemini-a");
    assert_int_equal(lr_response_prompt_tokens(r), 7);
    assert_int_equal(lr_response_completion_tokens(r), 3);
    char *key = mock_last_header(f.mock, "a", "x-goog-api-key");
    assert_non_null(key);
    assert_string_equal(key, "AIzaSy-e2e-key-0123456789");
    free(key);
    char *body = mock_last_body(f.mock, "a");
    assert_non_null(strstr(body, "\"systemInstruction\""));
    assert_non_null(strstr(body, "\"role\":\"user\""));
    free(body);
    lr_response_free(r);
    teardown(&f);
}

static void per_minute_429_falls_back_with_hint(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":429,\"error\":{\"code\":429,\"message\":"
              "\"You exceeded your current quota.\",\"status\":"
              "\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
              "\"type.googleapis.com/google.rpc.RetryInfo\","
              "\"retryDelay\":\"37s\"},{\"@type\":"
              "\"type.googleapis.com/google.rpc.QuotaFailure\","
              "\"violations\":[{\"quotaId\":"
              "\"GenerateRequestsPerMinutePerProjectPerModel-FreeTier\","
              "\"quotaValue\":\"10\"}]}]}}");
    struct lr_response *r = ask(&f, "q1");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_string_equal(lr_response_text(r), "echo: q1");
    assert_int_equal(lr_response_attempt_count(r), 2);
    struct lr_attempt_info a = attempt(r, 0);
    assert_int_equal(a.http_status, 429);
    assert_int_equal(a.error, LR_E_RATE_LIMITED);
    assert_int_equal(a.retry_after_ms, 37000);
    lr_response_free(r);

    /* the hint became a cooldown: the next request skips a */
    r = ask(&f, "q2");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_non_null(attempt(r, 0).skipped);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_response_free(r);
    teardown(&f);
}

static void overloaded_503_falls_back(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":503,\"error\":{\"code\":503,\"message\":"
              "\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}");
    struct lr_response *r = ask(&f, "q");
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_target(r), "b");
    assert_int_equal(attempt(r, 0).error, LR_E_OVERLOADED);
    assert_int_equal(attempt(r, 0).http_status, 503);
    char *j = lr_response_json(r);
    assert_non_null(strstr(j, "\"fallback_reason\":\"overloaded\""));
    lr_free(j);
    lr_response_free(r);
    teardown(&f);
}

static void bad_request_stops(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"status\":400,\"error\":{\"code\":400,\"message\":"
              "\"The input token count (2000000) exceeds the maximum "
              "number of tokens allowed (1048576).\",\"status\":"
              "\"INVALID_ARGUMENT\"}}");
    struct lr_response *r = ask(&f, "q");
    assert_int_equal(lr_response_status(r), LR_E_CONTEXT_LENGTH);
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    teardown(&f);
}

struct acc {
    char text[256];
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

static void streams_to_eof(void **s)
{
    (void)s;
    struct fx f;
    setup(&f, "{\"text\":\"one two three four\",\"usage\":"
              "{\"prompt_tokens\":2,\"completion_tokens\":4}}");
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct acc acc = {.len = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, collect, &acc, &r), LR_OK);
    assert_true(acc.calls > 1);
    assert_string_equal(acc.text, "one two three four");
    assert_string_equal(lr_response_text(r), "one two three four");
    assert_string_equal(lr_response_finish_reason(r), "stop");
    assert_string_equal(lr_response_target(r), "a");
    assert_int_equal(lr_response_prompt_tokens(r), 2);
    assert_int_equal(lr_response_completion_tokens(r), 4);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void stream_cut_before_finish(void **s)
{
    (void)s;
    struct fx f;
    /* the connection closes after the first chunks, before finishReason */
    setup(&f, "{\"text\":\"alpha beta gamma delta epsilon zeta\","
              "\"truncate_at\":500}");
    struct lr_request *q = lr_request_new();
    lr_request_set_prompt(q, "s");
    struct acc acc = {.len = 0};
    struct lr_response *r = NULL;
    assert_int_equal(lr_stream(f.r, q, collect, &acc, &r), LR_E_NETWORK);
    assert_true(acc.calls >= 1);
    assert_int_equal(mock_requests(f.mock, "b"), 0);
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers),
        cmocka_unit_test(per_minute_429_falls_back_with_hint),
        cmocka_unit_test(overloaded_503_falls_back),
        cmocka_unit_test(bad_request_stops),
        cmocka_unit_test(streams_to_eof),
        cmocka_unit_test(stream_cut_before_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
