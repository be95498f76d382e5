/*
 * test_request_format.c - sampling hints and the response format of a
 * request (core/request_sampling.c): the setters' checks, the stored
 * (normalised) format, copies and the chat view providers get; and the
 * routing rule that a provider built before plugin ABI 1.3, which would
 * drop a response format unseen, is skipped for a request that has one
 * (tests/plugins/old_provider.c) while it still gets requests without;
 * and, with the real providers, that an anthropic target is skipped for
 * a json_schema request and an openai one after it answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "request.h"
#include "testenv.h"

static void test_hints_checked(void **state)
{
    (void)state;
    struct lr_request *q = lr_request_new();
    assert_non_null(q);
    assert_int_equal(lr_request_set_top_p(q, 0), LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_top_p(q, 1.01), LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_top_p(q, NAN), LR_E_INVALID_ARG);
    assert_int_equal(q->has_top_p, 0);
    assert_int_equal(lr_request_set_top_p(q, 1), LR_OK);
    assert_int_equal(lr_request_set_top_p(q, 0.25), LR_OK);
    assert_true(q->has_top_p && q->top_p == 0.25);

    assert_int_equal(lr_request_set_presence_penalty(q, -2.5),
                     LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_frequency_penalty(q, INFINITY),
                     LR_E_INVALID_ARG);
    assert_int_equal(q->has_presence_penalty + q->has_frequency_penalty, 0);
    assert_int_equal(lr_request_set_presence_penalty(q, -2), LR_OK);
    assert_int_equal(lr_request_set_frequency_penalty(q, 2), LR_OK);
    assert_int_equal(lr_request_set_seed(q, -7), LR_OK);
    assert_true(q->has_seed && q->seed == -7);
    assert_int_equal(lr_request_set_seed(NULL, 1), LR_E_INVALID_ARG);
    assert_int_equal(lr_request_set_top_p(NULL, 0.5), LR_E_INVALID_ARG);
    lr_request_free(q);
}

static void test_format_checked(void **state)
{
    (void)state;
    static const char *const bad[] = {
        NULL, "", "json_object", "[]", "{}", "{\"type\":1}",
        "{\"type\":\"xml\"}",
        "{\"type\":\"json_schema\"}",
        "{\"type\":\"json_schema\",\"json_schema\":{}}",
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"\"}}",
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\"}}",
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
        "\"schema\":[]}}",
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
        "\"strict\":\"yes\"}}",
        "{\"type\":\"json_object\"", /* truncated */
    };
    struct lr_request *q = lr_request_new();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(lr_request_set_response_format_json(q, bad[i]),
                         LR_E_INVALID_ARG);
        assert_null(q->response_format_json);
    }
    char name[70];
    memset(name, 'n', 65);
    name[65] = '\0';
    char js[200];
    snprintf(js, sizeof js, "{\"type\":\"json_schema\",\"json_schema\":"
             "{\"name\":\"%s\"}}", name);
    assert_int_equal(lr_request_set_response_format_json(q, js),
                     LR_E_INVALID_ARG);

    /* Stored compactly; a later "text" clears it. */
    assert_int_equal(lr_request_set_response_format_json(q,
        "{ \"type\" : \"json_object\" }"), LR_OK);
    assert_string_equal(q->response_format_json, "{\"type\":\"json_object\"}");
    static const char schema[] = "{\"type\":\"json_schema\",\"json_schema\":"
        "{\"name\":\"answer_1\",\"strict\":true,\"schema\":{\"type\":"
        "\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}}}}";
    assert_int_equal(lr_request_set_response_format_json(q, schema), LR_OK);
    assert_string_equal(q->response_format_json, schema);
    assert_int_equal(lr_request_set_response_format_json(q,
        "{\"type\":\"text\"}"), LR_OK);
    assert_null(q->response_format_json);
    lr_request_free(q);
}

static void test_copies_and_chat_view(void **state)
{
    (void)state;
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, "hi"), LR_OK);
    assert_int_equal(lr_request_set_top_p(q, 0.5), LR_OK);
    assert_int_equal(lr_request_set_seed(q, 42), LR_OK);
    assert_int_equal(lr_request_set_presence_penalty(q, 0.5), LR_OK);
    assert_int_equal(lr_request_set_frequency_penalty(q, -0.5), LR_OK);
    assert_int_equal(lr_request_set_response_format_json(q,
        "{\"type\":\"json_object\"}"), LR_OK);
    struct lr_request *c = lr_request_clone(q);
    assert_non_null(c);
    lr_request_free(q);     /* the copy owns its strings */
    struct lr_chat chat;
    lr_request_chat(c, &chat);
    assert_true(chat.has_top_p && chat.top_p == 0.5);
    assert_true(chat.has_seed && chat.seed == 42);
    assert_true(chat.has_presence_penalty && chat.presence_penalty == 0.5);
    assert_true(chat.has_frequency_penalty &&
                chat.frequency_penalty == -0.5);
    assert_string_equal(chat.response_format_json, "{\"type\":\"json_object\"}");
    lr_request_free(c);

    q = lr_request_new();
    lr_request_chat(q, &chat);
    assert_int_equal(chat.has_top_p + chat.has_seed +
                     chat.has_presence_penalty + chat.has_frequency_penalty,
                     0);
    assert_null(chat.response_format_json);
    lr_request_free(q);
}

/* "hi" through a router opened on path, with format (or none) and, when
   hints is set, top_p 0.5 and seed 7; the response (never NULL). */
static struct lr_response *ask(const char *path, const char *format,
                               int hints)
{
    char err[512];
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("lr_open: %s", err);
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, "hi"), LR_OK);
    if (hints) {
        assert_int_equal(lr_request_set_top_p(q, 0.5), LR_OK);
        assert_int_equal(lr_request_set_seed(q, 7), LR_OK);
    }
    if (format)
        assert_int_equal(lr_request_set_response_format_json(q, format),
                         LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(r, q, &resp);
    lr_request_free(q);
    lr_close(r);
    assert_non_null(resp);
    return resp;
}

/* Targets "old" (a 1.2 provider) then "a" (openai, on the mock). */
static struct lr_response *route(struct tenv *env, int port,
                                 const char *format)
{
    const char *path = tenv_write(env, "f.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target old]\nprovider = old_provider\nmodel = m\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n", port);
    return ask(path, format, 0);
}

static const char *first_skip(const struct lr_response *resp)
{
    struct lr_attempt_info a;
    assert_true(lr_response_attempt_count(resp) >= 2);
    assert_int_equal(lr_response_attempt(resp, 0, &a), LR_OK);
    assert_string_equal(a.target, "old");
    assert_non_null(a.skipped);
    return a.skipped;
}

static void test_old_provider_skipped_for_format(void **state)
{
    (void)state;
    char err[256];
    struct mock_upstream *mock = mock_start(
        "{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\",\"repeat\":"
        "\"last\",\"responses\":[{\"status\":200,\"text\":\"{}\"}]}]}",
        err, sizeof err);
    if (!mock)
        fail_msg("mock: %s", err);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);

    struct lr_response *resp = route(&env, mock_port(mock),
                                     "{\"type\":\"json_object\"}");
    assert_int_equal(lr_response_status(resp), LR_OK);
    assert_string_equal(lr_response_target(resp), "a");
    const char *why = first_skip(resp);
    assert_non_null(strstr(why, "old_provider (plugin ABI 1.2) cannot "
                                "honour response_format"));
    lr_response_free(resp);

    /* Without a format the old provider is asked as before. */
    resp = route(&env, mock_port(mock), NULL);
    assert_string_equal(lr_response_target(resp), "a");
    assert_non_null(strstr(first_skip(resp),
                           "old_provider: build_request called"));
    lr_response_free(resp);

    tenv_free(&env);
    mock_stop(mock);
}

/* Through the core with real providers: an anthropic target, which
   cannot honour a response format, is skipped for a json_schema request
   and the openai target after it answers, with the format and the hints
   in its body; without a format the anthropic target answers itself. */
static struct lr_response *route_real(struct tenv *env, int port,
                                      const char *format)
{
    const char *path = tenv_write(env, "r.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target claude]\nprovider = anthropic\nmodel = model-c\n"
        "base_url = http://127.0.0.1:%d\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n", port, port);
    return ask(path, format, 1);
}

static void test_anthropic_skipped_for_schema(void **state)
{
    (void)state;
    char err[256];
    static const char format[] =
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
        "\"schema\":{\"type\":\"object\"}}}";
    struct mock_upstream *mock = mock_start(
        "{\"routes\":["
        "{\"name\":\"c\",\"model\":\"model-c\",\"format\":\"anthropic\","
        "\"repeat\":\"last\","
        "\"responses\":[{\"status\":200,\"text\":\"prose\"}]},"
        "{\"name\":\"a\",\"model\":\"model-a\",\"repeat\":\"last\","
        "\"responses\":[{\"status\":200,\"text\":\"{}\"}]}]}",
        err, sizeof err);
    if (!mock)
        fail_msg("mock: %s", err);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);

    struct lr_response *resp = route_real(&env, mock_port(mock), format);
    assert_int_equal(lr_response_status(resp), LR_OK);
    assert_string_equal(lr_response_target(resp), "a");
    struct lr_attempt_info a;
    assert_int_equal(lr_response_attempt(resp, 0, &a), LR_OK);
    assert_string_equal(a.target, "claude");
    assert_non_null(a.skipped);
    assert_non_null(strstr(a.skipped, "anthropic: response_format "
                                      "json_schema is not supported"));
    assert_int_equal(mock_requests(mock, "c"), 0);
    char *body = mock_last_body(mock, "a");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"response_format\":"));
    assert_non_null(strstr(body, format));
    assert_non_null(strstr(body, "\"top_p\":0.5"));
    assert_non_null(strstr(body, "\"seed\":7"));
    free(body);
    lr_response_free(resp);

    /* Without a format the anthropic target answers, top_p and all. */
    resp = route_real(&env, mock_port(mock), NULL);
    if (lr_response_status(resp) != LR_OK)
        fail_msg("%s", lr_response_error_message(resp));
    assert_string_equal(lr_response_target(resp), "claude");
    body = mock_last_body(mock, "c");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"top_p\":0.5"));
    assert_null(strstr(body, "seed"));
    free(body);
    lr_response_free(resp);

    tenv_free(&env);
    mock_stop(mock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hints_checked),
        cmocka_unit_test(test_format_checked),
        cmocka_unit_test(test_copies_and_chat_view),
        cmocka_unit_test(test_old_provider_skipped_for_format),
        cmocka_unit_test(test_anthropic_skipped_for_schema),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
