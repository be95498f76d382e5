/*
 * test_openai_fast.c - the openai provider's fast path for plain
 * successes (a scanner instead of a cJSON tree) gives exactly what the
 * cJSON path gives.  Each body is parsed as is and with a member named
 * "\u0078" put first: the scanner refuses \u escapes, so that copy takes
 * the cJSON path, while cJSON reads the same answer (an unknown key).
 * Bodies: the provider's fixtures and hand-made edge cases (escapes,
 * refusals, odd usage, repeated keys, nesting, truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "llmroute_plugin.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

static void *dl;
static const struct lr_plugin_desc *desc;
static const struct lr_provider_ops *ops;

static int group_setup(void **state)
{
    (void)state;
    desc = fake_plugin_open("openai", &dl);
    if (!desc)
        return -1;
    ops = desc->ops;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fake_plugin_close(dl);
    return 0;
}

static int setup(void **state)
{
    struct provider_fx *t = provider_fx_new(desc, "gpt", "gpt-4.1-mini",
                                            "sk-test-KEY");
    *state = t;
    return t ? 0 : -1;
}

static int teardown(void **state)
{
    provider_fx_free(desc, *state);
    return 0;
}

/* Rate-limit headers on every answer: both paths read them. */
static const struct lr_header hdrs[] = {
    {"x-request-id", "req_1"},
    {"x-ratelimit-remaining-requests", "499"},
    {"x-ratelimit-remaining-tokens", "149000"},
    {"x-ratelimit-reset-requests", "120ms"},
    {"x-ratelimit-reset-tokens", "1s"},
};

static void parse(struct provider_fx *t, const char *body, size_t len,
                  struct lr_result *r)
{
    struct lr_http_response in = {200, hdrs, sizeof hdrs / sizeof hdrs[0],
                                  body, len};
    fake_result_init(r);
    assert_int_equal(ops->parse_response(t->inst, &t->target, &in, r),
                     LR_OK);
}

/* body with "\u0078":0 put first in its top-level object (the cJSON
   path); NULL when body does not start with '{'. */
static char *slow_copy(const char *body, size_t len, size_t *out_len)
{
    static const char extra[] = "\"\\u0078\":0,";
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n'))
        i++;
    if (i == len || body[i] != '{')
        return NULL;
    /* An empty object gets no trailing comma. */
    size_t j = i + 1;
    while (j < len && (body[j] == ' ' || body[j] == '\n'))
        j++;
    size_t n = sizeof extra - 1 - (j < len && body[j] == '}');
    char *c = malloc(len + n + 1);
    assert_non_null(c);
    memcpy(c, body, i + 1);
    memcpy(c + i + 1, extra, n);
    memcpy(c + i + 1 + n, body + i + 1, len - i - 1);
    c[len + n] = '\0';
    *out_len = len + n;
    return c;
}

static void same(struct provider_fx *t, const char *body, size_t len)
{
    size_t slen;
    char *slow = slow_copy(body, len, &slen);
    if (!slow)
        return;
    struct lr_result a, b;
    parse(t, body, len, &a);
    parse(t, slow, slen, &b);
    assert_int_equal(a.error, b.error);
    assert_string_equal(lr_buf_str(&a.request_id), lr_buf_str(&b.request_id));
    assert_int_equal(a.rl_remaining_requests, b.rl_remaining_requests);
    assert_int_equal(a.rl_remaining_tokens, b.rl_remaining_tokens);
    assert_int_equal(a.rl_reset_requests_ms, b.rl_reset_requests_ms);
    assert_int_equal(a.rl_reset_tokens_ms, b.rl_reset_tokens_ms);
    if (a.error == LR_OK) {
        assert_string_equal(lr_buf_str(&a.text), lr_buf_str(&b.text));
        assert_int_equal(a.text.len, b.text.len);
        assert_string_equal(lr_buf_str(&a.model), lr_buf_str(&b.model));
        assert_string_equal(lr_buf_str(&a.tool_calls_json),
                            lr_buf_str(&b.tool_calls_json));
        assert_int_equal(a.finish, b.finish);
        assert_int_equal(a.prompt_tokens, b.prompt_tokens);
        assert_int_equal(a.completion_tokens, b.completion_tokens);
        assert_int_equal(a.cached_tokens, b.cached_tokens);
        assert_int_equal(a.reasoning_tokens, b.reasoning_tokens);
        assert_int_equal(a.retry_after_ms, b.retry_after_ms);
        assert_string_equal(lr_buf_str(&a.error_message),
                            lr_buf_str(&b.error_message));
    }
    fake_result_free(&a);
    fake_result_free(&b);
    free(slow);
}

static void same_str(struct provider_fx *t, const char *body)
{
    same(t, body, strlen(body));
}

static void fixtures_agree(void **state)
{
    static const char *const files[] = {
        "ok_plain.json", "ok_tool_call.json", "ok_multi_tool_calls.json",
        "ok_refusal.json", "ok_length.json", "ok_usage_details.json",
        "ok_no_usage.json", "ok_n2.json", "ok_legacy_function_call.json",
        "ok_wrong_types.json", "ok_no_choices.json", "ok_200_error.json",
        "err_400_context.json", "err_429_rate_limit.json",
    };
    struct provider_fx *t = *state;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[128];
        size_t len;
        snprintf(path, sizeof path, "openai/%s", files[f]);
        char *body = fake_read_file(path, &len);
        assert_non_null(body);
        same(t, body, len);
        free(body);
    }
}

/* The plain answer is read by the fast path and means what it says. */
static void plain_answer(void **state)
{
    struct provider_fx *t = *state;
    const char *body =
        "{\"model\":\"m1\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"a\\\"b\\\\c\\/d\\n\\te\\r\\b\\f\","
        "\"refusal\":null},\"finish_reason\":\"length\"}],\"usage\":{"
        "\"prompt_tokens\":7,\"completion_tokens\":9,"
        "\"prompt_tokens_details\":{\"cached_tokens\":4},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":2}}}";
    struct lr_result r;
    parse(t, body, strlen(body), &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "a\"b\\c/d\n\te\r\b\f");
    assert_string_equal(lr_buf_str(&r.model), "m1");
    assert_int_equal(r.finish, LR_FINISH_LENGTH);
    assert_int_equal(r.prompt_tokens, 7);
    assert_int_equal(r.completion_tokens, 9);
    assert_int_equal(r.cached_tokens, 4);
    assert_int_equal(r.reasoning_tokens, 2);
    assert_string_equal(lr_buf_str(&r.request_id), "req_1");
    assert_int_equal(r.rl_remaining_requests, 499);
    assert_int_equal(r.rl_reset_tokens_ms, 1000);
    fake_result_free(&r);
    same_str(t, body);
}

static void edge_cases_agree(void **state)
{
    static const char *const bodies[] = {
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}",
        "{\"choices\":[{\"index\":-0,\"message\":{\"content\":null},"
        "\"finish_reason\":null}]}",
        "{\"choices\":[{\"index\":1,\"message\":{\"content\":\"x\"}}]}",
        "{\"choices\":[{\"index\":\"0\",\"message\":{\"content\":\"x\"}}]}",
        "{\"choices\":[]}",
        "{\"choices\":[{},{}]}",
        "{\"choices\":[{\"message\":{\"content\":\"no\",\"refusal\":"
        "\"I can't\"},\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\",\"refusal\":\"\"},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\",\"tool_calls\":null,"
        "\"function_call\":null},\"finish_reason\":\"tool_calls\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\",\"tool_calls\":[]},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\","
        "\"text\":\"p\"}]}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "\"a_finish_reason_much_longer_than_thirty_two\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "\"st\\/op\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"},\"finish_reason\":"
        "\"content_filter\"}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
        "\"prompt_tokens\":\"7\",\"completion_tokens\":-3,"
        "\"prompt_tokens_details\":null,\"completion_tokens_details\":"
        "{\"reasoning_tokens\":1.5e1}}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
        "\"prompt_tokens\":1e400,\"completion_tokens\":true}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":7}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
        "\"prompt_tokens\":999999999999999,\"completion_tokens\":"
        "12345678901234567890}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"usage\":{"
        "\"prompt_tokens\":0,\"completion_tokens\":9007199254740993}}",
        "{\"model\":\"a\",\"model\":\"b\",\"choices\":[{\"message\":{"
        "\"content\":\"x\"}}]}",
        "{\"model\":5,\"object\":\"chat.completion\",\"choices\":[{"
        "\"message\":{\"content\":\"x\",\"content\":\"y\"}}]}",
        "{\"object\":\"error\",\"message\":\"m\",\"choices\":[]}",
        "{\"error\":null,\"choices\":[{\"message\":{\"content\":\"x\"}}]}",
        "{\"error\":\"\",\"choices\":[{\"message\":{\"content\":\"x\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"x\":[1,{\"a\":"
        "[true,false,null,-1.5E+3,\"s\"]},[[[]]]],\"y\":{}}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}]} trailing",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],}",
        "{\"choices\":[{\"message\":{\"content\":\"x\"}}],\"n\":01}",
        "{\"choices\":[{\"message\":{\"content\":\"caf\xc3\xa9\"}}]}",
        "{}",
        /* Stops in the middle of 8-byte words, and words of UTF-8. */
        "{\"choices\":[{\"message\":{\"content\":\"abcdefghijklm\\\"nopqrstuv"
        "wxyz0123456789\\\\ABCDEFG\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9HIJ\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"abcdefghijklmnopqrs\ttuv\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":\"abcdefghijklmnopqrs\x7f\x1f\"}}]}",
        "  {\"choices\":[{\"message\":{\"content\":\"x\"}}]}  \n",
    };
    struct provider_fx *t = *state;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        same_str(t, bodies[i]);
}

/* Every prefix of a plain answer: the scanner never accepts a cut body
   (both paths agree that it is unreadable). */
static void truncations_agree(void **state)
{
    struct provider_fx *t = *state;
    size_t len;
    char *body = fake_read_file("openai/ok_plain.json", &len);
    assert_non_null(body);
    for (size_t k = 1; k <= len; k++)
        same(t, body, k);
    free(body);
}

/* Deep nesting goes to the cJSON path, which reads it. */
static void deep_nesting_agrees(void **state)
{
    struct provider_fx *t = *state;
    char body[1024] = "{\"choices\":[{\"message\":{\"content\":\"x\"}}],"
                      "\"deep\":";
    for (int i = 0; i < 100; i++)
        strcat(body, "[");
    for (int i = 0; i < 100; i++)
        strcat(body, "]");
    strcat(body, "}");
    same_str(t, body);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(plain_answer),
        T(fixtures_agree),
        T(edge_cases_agree),
        T(truncations_agree),
        T(deep_nesting_agrees),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
