/*
 * test_provider_locale.c - every provider's build_request() writes the
 * same request whatever LC_NUMERIC the application chose: under a locale
 * whose decimal point is one byte (',') and one of two bytes (ps_AF,
 * U+066B), a chat with decimals in its numbers and in the JSON it embeds
 * (tools, a tool call's arguments, a tool result, response_format) gives
 * byte for byte the "C" locale's request.  cJSON reads and prints
 * numbers through the locale's point, swapping only its first byte, so
 * under ps_AF the providers once wrote "0.\xab5" and refused "0.5" in
 * tools (fuzz/fuzz_build.c found it).  Skipped without such a locale.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "llmroute.h"
#include "llmroute_plugin.h"
#include "mock_upstream.h"
#include "testenv.h"
#include "support/comma_locale.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

#define BODY_MAX 2048

static const struct lr_message turns[] = {
    {LR_ROLE_USER, "Weather?", NULL, NULL, NULL},
    {LR_ROLE_ASSISTANT, NULL,
     "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
     "\"arguments\":\"{\\\"lat\\\":48.85}\"}}]", NULL, NULL},
    {LR_ROLE_TOOL, "{\"temp\":21.5}", NULL, "c1", "f"},
};

/* The chat; with_format: a response_format too (anthropic refuses one). */
static struct lr_chat chat(int with_format)
{
    struct lr_chat c = {
        .messages = turns, .n_messages = 3, .has_temperature = 1,
        .temperature = 0.25, .has_top_p = 1, .top_p = 0.9,
        .tools_json = "[{\"type\":\"function\",\"function\":{\"name\":"
                      "\"f\",\"parameters\":{\"type\":\"object\","
                      "\"properties\":{\"lat\":{\"type\":\"number\","
                      "\"minimum\":-90.5}}}}}]"};
    if (with_format)
        c.response_format_json =
            "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
            "\"schema\":{\"type\":\"number\",\"maximum\":1.5}}}";
    return c;
}

/* rc, then the body (or the reason), into out. */
static int build(const struct lr_plugin_desc *d, struct provider_fx *t,
                 const struct lr_chat *c, char *out)
{
    const struct lr_provider_ops *ops = d->ops;
    struct lr_http_request rq;
    char err[256] = "";
    fake_request_init(&rq);
    int rc = ops->build_request(t->inst, &t->target, c, &rq, err,
                                sizeof err);
    snprintf(out, BODY_MAX, "%s", rc == LR_OK ? lr_buf_str(&rq.body) : err);
    fake_request_free(&rq);
    return rc;
}

static void same_in(const char *provider, int (*set)(char *, size_t),
                    const char *what)
{
    void *dl;
    const struct lr_plugin_desc *d = fake_plugin_open(provider, &dl);
    assert_non_null(d);
    struct provider_fx *t = provider_fx_new(d, "t", "m-1", "k");
    assert_non_null(t);
    struct lr_chat c = chat(strcmp(provider, "anthropic") != 0);
    static char want[BODY_MAX], got[BODY_MAX];
    char why[256];
    assert_int_equal(build(d, t, &c, want), LR_OK);
    assert_non_null(strstr(want, "0.25"));
    int skipped = set(why, sizeof why) != 0, rc = LR_OK;
    if (!skipped)
        rc = build(d, t, &c, got);
    comma_locale_reset(); /* before any assertion can jump out */
    provider_fx_free(d, t);
    fake_plugin_close(dl);
    if (skipped) {
        print_message("skipped: no %s locale: %s\n", what, why);
        skip();
    }
    if (rc != LR_OK || strcmp(got, want) != 0)
        fail_msg("%s under a %s locale (%d):\n got  %s\n want %s",
                 provider, what, rc, got, want);
}

static void test_comma(void **state)
{
    (void)state;
    same_in("openai", comma_locale_set, "comma-decimal");
    same_in("anthropic", comma_locale_set, "comma-decimal");
    same_in("gemini", comma_locale_set, "comma-decimal");
}

static void test_multibyte_point(void **state)
{
    (void)state;
    same_in("openai", mb_point_locale_set, "multi-byte decimal point");
    same_in("anthropic", mb_point_locale_set, "multi-byte decimal point");
    same_in("gemini", mb_point_locale_set, "multi-byte decimal point");
}

static int on_delta(const char *text, size_t len, void *user)
{
    (void)user, (void)text, (void)len;
    return 0;
}

/* One request through the core to a mock answering body (raw, with
   content_type); the answer's text, or the error message. */
static void ask_core(const char *body, const char *ctype, int stream,
                     char *out, size_t outlen)
{
    char script[2048], err[512];
    snprintf(script, sizeof script, "{\"routes\":[{\"name\":\"a\","
             "\"model\":\"m\",\"responses\":[{\"status\":200,"
             "\"content_type\":\"%s\",\"raw\":\"%s\"}]}]}", ctype, body);
    struct mock_upstream *mock = mock_start(script, err, sizeof err);
    if (!mock)
        fail_msg("mock: %s", err);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);
    const char *ini = tenv_write(&env, "l.ini", "[target a]\nprovider = "
        "openai\nmodel = m\nbase_url = http://127.0.0.1:%d/v1\n",
        mock_port(mock));
    struct lr_router *r = lr_open(ini, err, sizeof err);
    if (!r)
        fail_msg("lr_open: %s", err);
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, "hi"), LR_OK);
    struct lr_response *resp = NULL;
    if (stream)
        lr_stream(r, q, on_delta, NULL, &resp);
    else
        lr_complete(r, q, &resp);
    assert_non_null(resp);
    snprintf(out, outlen, "%s", lr_response_status(resp) == LR_OK
             ? lr_response_text(resp) : lr_response_error_message(resp));
    lr_response_free(resp);
    lr_request_free(q);
    lr_close(r);
    tenv_free(&env);
    mock_stop(mock);
}

static void test_answers_through_core(void **state)
{
    (void)state;
    char why[256], got[512];
    if (mb_point_locale_set(why, sizeof why) != 0) {
        print_message("skipped: no multi-byte decimal point locale: %s\n",
                      why);
        skip();
    }
    ask_core("{\\\"id\\\":\\\"x\\\",\\\"choices\\\":[{\\\"index\\\":0,"
             "\\\"message\\\":{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":"
             "\\\"whole\\\"},\\\"finish_reason\\\":\\\"stop\\\",\\\"logprobs\\\":"
             "{\\\"content\\\":[{\\\"token\\\":\\\"w\\\",\\\"logprob\\\":-0.25}]}}],"
             "\\\"usage\\\":{\\\"prompt_tokens\\\":1,\\\"completion_tokens\\\":1}}",
             "application/json", 0, got, sizeof got);
    assert_string_equal(got, "whole");
    ask_core("data: {\\\"id\\\":\\\"x\\\",\\\"choices\\\":[{\\\"index\\\":0,"
             "\\\"delta\\\":{\\\"content\\\":\\\"streamed\\\"},\\\"logprobs\\\":"
             "{\\\"content\\\":[{\\\"token\\\":\\\"s\\\",\\\"logprob\\\":-0.5}]}}]}"
             "\\n\\ndata: {\\\"id\\\":\\\"x\\\",\\\"choices\\\":[{\\\"index\\\":0,"
             "\\\"delta\\\":{},\\\"finish_reason\\\":\\\"stop\\\"}]}\\n\\n"
             "data: [DONE]\\n\\n", "text/event-stream", 1, got, sizeof got);
    assert_string_equal(got, "streamed");
    comma_locale_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comma),
        cmocka_unit_test(test_multibyte_point),
        cmocka_unit_test(test_answers_through_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
