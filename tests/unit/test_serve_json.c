/*
 * test_serve_json.c - the gateway's answers written without a cJSON tree
 * (cli/serve_json.c, cli/serve_response.c) against the same answers
 * built as cJSON trees and printed by cJSON_PrintUnformatted, which is
 * how they were written before: byte for byte, for tricky strings (every
 * byte value, quotes, control characters, UTF-8), numbers at the edges,
 * tool calls, a missing upstream model, negative token counts, stream
 * deltas with and without role, the end of a stream, and the sticky
 * out-of-memory mark.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "response.h"
#include "../../cli/serve_json.c"
#include "../../cli/serve_response.c"

/* --- The reference: the tree code these writers replaced ---------------- */

static void ref_int(cJSON *o, const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", v);
    cJSON_AddRawToObject(o, name, num);
}

static cJSON *ref_usage(const struct lr_response *resp)
{
    int64_t p = lr_response_prompt_tokens(resp);
    int64_t c = lr_response_completion_tokens(resp);
    p = p < 0 ? 0 : p;
    c = c < 0 ? 0 : c;
    int64_t cached = lr_response_cached_tokens(resp);
    int64_t reasoning = lr_response_reasoning_tokens(resp);
    cJSON *u = cJSON_CreateObject();
    ref_int(u, "prompt_tokens", p);
    ref_int(u, "completion_tokens", c);
    ref_int(u, "total_tokens", p + c);
    ref_int(cJSON_AddObjectToObject(u, "prompt_tokens_details"),
            "cached_tokens", cached > 0 ? cached : 0);
    ref_int(cJSON_AddObjectToObject(u, "completion_tokens_details"),
            "reasoning_tokens", reasoning > 0 ? reasoning : 0);
    return u;
}

static cJSON *ref_base(const char *object, const char *id, long long created,
                       const char *model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object", object);
    ref_int(root, "created", created);
    cJSON_AddStringToObject(root, "model", model);
    return root;
}

static char *ref_print(cJSON *root)
{
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    assert_non_null(s);
    return s;
}

static char *ref_completion(const struct lr_response *resp, const char *id,
                            long long created, const char *model)
{
    const char *upstream = lr_response_model(resp);
    cJSON *root = ref_base("chat.completion", id, created,
                           upstream && *upstream ? upstream : model);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
    ref_int(choice, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON *calls = tool_calls(resp, 0);
    const char *text = lr_response_text(resp);
    if (calls && !*text)
        cJSON_AddNullToObject(msg, "content");
    else
        cJSON_AddStringToObject(msg, "content", text);
    cJSON_AddNullToObject(msg, "refusal");
    if (calls)
        cJSON_AddItemToObject(msg, "tool_calls", calls);
    cJSON_AddNullToObject(choice, "logprobs");
    cJSON_AddStringToObject(choice, "finish_reason", finish_of(resp));
    cJSON_AddItemToObject(root, "usage", ref_usage(resp));
    return ref_print(root);
}

static cJSON *ref_chunk(const char *id, long long created, const char *model,
                        cJSON **delta, const char *finish)
{
    cJSON *root = ref_base("chat.completion.chunk", id, created, model);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "choices"), choice);
    ref_int(choice, "index", 0);
    *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON_AddNullToObject(choice, "logprobs");
    if (finish)
        cJSON_AddStringToObject(choice, "finish_reason", finish);
    else
        cJSON_AddNullToObject(choice, "finish_reason");
    return root;
}

/* "data: " + the tree's text + "\n\n", appended to acc. */
static void ref_event(struct serve_buf *acc, cJSON *root)
{
    char *s = ref_print(root);
    assert_int_equal(serve_buf_add(acc, "data: ", 6), 0);
    assert_int_equal(serve_buf_add(acc, s, strlen(s)), 0);
    assert_int_equal(serve_buf_add(acc, "\n\n", 2), 0);
    free(s);
}

/* --- Fixtures ------------------------------------------------------------ */

static struct lr_response *answer(const char *text, const char *model,
                                  const char *calls, enum lr_finish finish)
{
    struct lr_response *r = lr_response_new(42);
    assert_non_null(r);
    r->status = LR_OK;
    r->finish = finish;
    assert_int_equal(lr_buf_puts(&r->text, text), 0);
    if (calls)
        assert_int_equal(lr_buf_puts(&r->tool_calls_json, calls), 0);
    assert_int_equal(lr_response_set_str(r, &r->model, model), LR_OK);
    r->prompt_tokens = 11;
    r->completion_tokens = 7;
    r->cached_tokens = 3;
    r->reasoning_tokens = 0;
    return r;
}

static void expect_same_completion(struct lr_response *r)
{
    char *want = ref_completion(r, "chatcmpl-42", 1765000000LL, "auto");
    char *got = serve_completion_json(r, "chatcmpl-42", 1765000000LL,
                                      "auto");
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

/* --- Tests --------------------------------------------------------------- */

static void check_string(const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *want = ref_print(j);
    struct serve_buf b = {0};
    serve_json_strz(&b, s);
    char *got = serve_buf_take(&b);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void test_strings_as_cjson(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "", "plain", "quote \" and backslash \\", "\b\f\n\r\t",
        "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "\xff\xfe invalid UTF-8 passes through", "</script>",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_string(cases[i]);
    for (int c = 1; c < 256; c++) {
        char s[4] = {'a', (char)c, 'z', 0};
        check_string(s);
    }
    /* A long string crosses the buffer's growth steps. */
    char big[5000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (char)(1 + i % 127);
    big[sizeof big - 1] = 0;
    check_string(big);
}

static void test_bounded_string_and_null(void **state)
{
    (void)state;
    struct serve_buf b = {0};
    serve_json_str(&b, "a\0b\"", 4);
    serve_json_lit(&b, ",");
    serve_json_str(&b, "xyz", 2);
    serve_json_lit(&b, ",");
    serve_json_strz(&b, NULL);
    char *got = serve_buf_take(&b);
    assert_string_equal(got, "\"a\\u0000b\\\"\",\"xy\",null");
    free(got);
}

static void test_integers(void **state)
{
    (void)state;
    static const long long cases[] = {
        0, 1, -1, 9, 10, -10, 1765000000LL, LLONG_MAX, LLONG_MIN,
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", cases[i]);
        struct serve_buf b = {0};
        serve_json_int(&b, cases[i]);
        char *got = serve_buf_take(&b);
        assert_string_equal(got, want);
        free(got);
    }
}

static void test_completion_as_tree(void **state)
{
    (void)state;
    struct lr_response *r = answer("Hi \"there\"\n\xc3\xa9", "gpt-up", NULL,
                                   LR_FINISH_STOP);
    expect_same_completion(r);

    /* No upstream model: the requested one; negative counts: 0. */
    assert_int_equal(lr_response_set_str(r, &r->model, ""), LR_OK);
    r->prompt_tokens = -1;
    r->completion_tokens = -5;
    r->cached_tokens = -1;
    r->reasoning_tokens = 9;
    r->finish = LR_FINISH_LENGTH;
    expect_same_completion(r);
    lr_response_free(r);

    /* Tool calls without text: content null. */
    static const char calls[] = "[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":1}\"}}]";
    r = answer("", "m", calls, LR_FINISH_TOOL_CALLS);
    expect_same_completion(r);
    lr_response_free(r);

    /* Tool calls with text; and tool-call text that is not JSON. */
    r = answer("let me look", "m", calls, LR_FINISH_TOOL_CALLS);
    expect_same_completion(r);
    lr_response_free(r);
    r = answer("x", "m", "[not json", LR_FINISH_OTHER);
    expect_same_completion(r);
    lr_response_free(r);
}

static void test_sse_delta_as_tree(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        for (int with_text = 0; with_text < 2; with_text++) {
            if (!role && !with_text)
                continue;
            const char *text = with_text ? "tok\t\"en\"" : NULL;
            struct serve_buf want = {0}, got = {0};
            cJSON *delta;
            cJSON *root = ref_chunk("id-1", 7, "m", &delta, NULL);
            if (role)
                cJSON_AddStringToObject(delta, "role", "assistant");
            if (text)
                cJSON_AddStringToObject(delta, "content", text);
            ref_event(&want, root);
            assert_int_equal(serve_sse_delta(&got, "id-1", 7, "m", role,
                                             text, text ? strlen(text) : 0),
                             0);
            assert_string_equal(got.data, want.data);
            serve_buf_free(&want);
            serve_buf_free(&got);
        }
    }
    /* Only len bytes of the delta are sent. */
    struct serve_buf got = {0};
    assert_int_equal(serve_sse_delta(&got, "i", 1, "m", 0, "abcdef", 3), 0);
    assert_non_null(strstr(got.data, "\"content\":\"abc\"}"));
    serve_buf_free(&got);
}

static void test_sse_end_as_tree(void **state)
{
    (void)state;
    static const char calls[] = "[{\"id\":\"c\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]";
    for (int usage = 0; usage < 2; usage++) {
        struct lr_response *r = answer("", "m", calls, LR_FINISH_TOOL_CALLS);
        struct serve_buf want = {0}, got = {0};
        cJSON *delta;
        cJSON *root = ref_chunk("i", 5, "m", &delta, NULL);
        cJSON_AddItemToObject(delta, "tool_calls", tool_calls(r, 1));
        ref_event(&want, root);
        ref_event(&want, ref_chunk("i", 5, "m", &delta, "tool_calls"));
        if (usage) {
            root = ref_base("chat.completion.chunk", "i", 5, "m");
            cJSON_AddArrayToObject(root, "choices");
            cJSON_AddItemToObject(root, "usage", ref_usage(r));
            ref_event(&want, root);
        }
        assert_int_equal(serve_buf_add(&want, "data: [DONE]\n\n", 14), 0);
        assert_int_equal(serve_sse_end(&got, "i", 5, "m", r, usage), 0);
        assert_string_equal(got.data, want.data);
        assert_non_null(strstr(got.data, "\"index\":0"));
        serve_buf_free(&want);
        serve_buf_free(&got);
        lr_response_free(r);
    }
}

static void test_failure_is_sticky(void **state)
{
    (void)state;
    struct serve_buf b = {0};
    serve_json_lit(&b, "{\"a\":");
    b.failed = 1;               /* as a failed realloc leaves it */
    serve_json_int(&b, 1);
    assert_int_equal(serve_buf_add(&b, "}", 1), -1);
    assert_int_equal(strcmp(b.data, "{\"a\":"), 0);
    assert_null(serve_buf_take(&b));
    assert_null(b.data);
    assert_int_equal(b.failed, 0);
    assert_null(serve_buf_take(&b));    /* nothing added */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_as_cjson),
        cmocka_unit_test(test_bounded_string_and_null),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_completion_as_tree),
        cmocka_unit_test(test_sse_delta_as_tree),
        cmocka_unit_test(test_sse_end_as_tree),
        cmocka_unit_test(test_failure_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
