/*
 * test_provider_anthropic.c - the Anthropic provider as the core sees
 * it: the real anthropic.so, dlopen'ed from $LLMROUTE_TEST_BUILD/plugins
 * and called through its descriptor with the fake host (tests/support).
 *
 * Requests are checked by parsing the body back (never by text, since
 * key order is not a contract).  Responses and SSE transcripts come from
 * tests/data/anthropic/.  Streams go through the core's real SSE framer
 * (core/sse.c), whole and split into two chunks at every byte, and every
 * split must give the same result as the whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>

#include "buf.h"
#include "llmroute_plugin.h"
#include "sse.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

#define KEY "sk-ant-test-SECRET-0123456789"

static void *dl;
static const struct lr_plugin_desc *desc;
static const struct lr_provider_ops *ops;

static int group_setup(void **state)
{
    (void)state;
    desc = fake_plugin_open("anthropic", &dl);
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
    struct provider_fx *t = provider_fx_new(desc, "claude", "claude-sonnet-4-5",
                                            KEY);
    *state = t;
    return t ? 0 : -1;
}

static int teardown(void **state)
{
    provider_fx_free(desc, *state);
    return 0;
}

static void test_descriptor(void **state)
{
    (void)state;
    assert_int_equal(desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(desc->struct_size, sizeof(struct lr_plugin_desc));
    assert_string_equal(desc->name, "anthropic");
    assert_int_equal(desc->kind, LR_PLUGIN_PROVIDER);
    assert_int_equal(desc->ops_size, sizeof(struct lr_provider_ops));
    assert_string_equal(ops->default_base_url, "https://api.anthropic.com");
    assert_non_null(ops->stream_begin);
    assert_non_null(ops->stream_event);
    assert_non_null(ops->stream_end);
    assert_int_equal(ops->n_target_keys, 3);
    assert_string_equal(ops->target_keys[0].key, "anthropic_version");
    assert_string_equal(ops->target_keys[0].def, "2023-06-01");
    assert_string_equal(ops->target_keys[1].key, "anthropic_beta");
    assert_string_equal(ops->target_keys[2].key, "default_max_tokens");
    assert_string_equal(ops->target_keys[2].def, "4096");
}

/* --- Request building ------------------------------------------------- */

struct built {
    int rc;
    char err[256];
    struct lr_http_request rq;
    cJSON *body;
};

static void build(struct provider_fx *t, const struct lr_chat *c, struct built *b)
{
    memset(b, 0, sizeof *b);
    fake_request_init(&b->rq);
    b->rc = ops->build_request(t->inst, &t->target, c, &b->rq, b->err,
                               sizeof b->err);
    b->body = b->rc == LR_OK ? cJSON_Parse(lr_buf_str(&b->rq.body)) : NULL;
    if (b->rc == LR_OK)
        assert_non_null(b->body);
    assert_null(strstr(b->err, KEY));
}

static void built_free(struct built *b)
{
    cJSON_Delete(b->body);
    fake_request_free(&b->rq);
}

static const cJSON *field(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Asserts that obj equals the JSON text want (order-insensitive). */
static void assert_json(const cJSON *obj, const char *want)
{
    cJSON *w = cJSON_Parse(want);
    assert_non_null(w);
    if (!cJSON_Compare(obj, w, 1)) {
        char *got = obj ? cJSON_PrintUnformatted(obj) : NULL;
        print_error("json mismatch:\n got  %s\n want %s\n",
                    got ? got : "(null)", want);
        cJSON_free(got);
        cJSON_Delete(w);
        fail();
    }
    cJSON_Delete(w);
}

static const struct lr_message hi = {LR_ROLE_USER, "Hi", NULL, NULL, NULL};

static void test_build_minimal(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_true(b.rq.method == NULL || strcmp(b.rq.method, "POST") == 0);
    assert_string_equal(b.rq.url.data,
                        "https://api.anthropic.com/v1/messages");
    assert_string_equal(b.rq.headers.data,
                        "x-api-key: " KEY "\n"
                        "anthropic-version: 2023-06-01\n"
                        "content-type: application/json");
    assert_json(b.body, "{\"model\":\"claude-sonnet-4-5\","
                        "\"max_tokens\":4096,\"messages\":[{\"role\":"
                        "\"user\",\"content\":\"Hi\"}]}");
    built_free(&b);
    assert_null(strstr(fake_host_log(t->fh), KEY));
}

/* A base_url's query goes after our path, "/v1" dropped from the path
   before it; a fragment is never sent. */
static void test_build_url_query(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    static const char *const cases[][2] = {
        {"http://p/anthropic/v1/?key=k1&x=y#f",
         "http://p/anthropic/v1/messages?key=k1&x=y"},
        {"http://p?key=k1", "http://p/v1/messages?key=k1"},
        {"http://p/v1?", "http://p/v1/messages"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t->target.base_url = cases[i][0];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_OK);
        assert_string_equal(b.rq.url.data, cases[i][1]);
        built_free(&b);
    }
}

static void test_build_headers_url_keys(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .stream = 1,
                        .max_tokens = 77};
    struct built b;

    fake_section_set(t->sec, "anthropic_version", "2025-01-01");
    fake_section_set(t->sec, "anthropic_beta", "a-1,b-2");
    fake_section_set(t->sec, "default_max_tokens", "100");
    t->target.api_key = "";
    t->target.base_url = "http://127.0.0.1:9/proxy/v1/";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_string_equal(b.rq.url.data,
                        "http://127.0.0.1:9/proxy/v1/messages");
    assert_string_equal(b.rq.headers.data,
                        "anthropic-version: 2025-01-01\n"
                        "anthropic-beta: a-1,b-2\n"
                        "content-type: application/json\n"
                        "accept: text/event-stream");
    assert_int_equal(field(b.body, "max_tokens")->valuedouble, 77);
    assert_true(cJSON_IsTrue(field(b.body, "stream")));
    built_free(&b);

    /* Integers go out as their digits: through a double, cJSON would
       print 9.22337203685478e+18. */
    c.max_tokens = INT64_MAX;
    build(t, &c, &b);
    assert_non_null(strstr(lr_buf_str(&b.rq.body),
                           "\"max_tokens\":9223372036854775807,"));
    built_free(&b);

    c.max_tokens = 0; /* default_max_tokens then */
    t->target.base_url = "http://h";
    build(t, &c, &b);
    assert_string_equal(b.rq.url.data, "http://h/v1/messages");
    assert_int_equal(field(b.body, "max_tokens")->valuedouble, 100);
    built_free(&b);

    fake_section_set(t->sec, "default_max_tokens", "0");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_non_null(strstr(b.err, "default_max_tokens"));
    built_free(&b);

    fake_section_set(t->sec, "default_max_tokens", NULL);
    fake_section_set(t->sec, "anthropic_beta", "x\r\nevil: 1");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    built_free(&b);

    fake_section_set(t->sec, "anthropic_beta", NULL);
    t->target.api_key = "bad\nkey-0123456789";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_null(strstr(b.err, "key-0123456789"));
    built_free(&b);
}

static void test_build_options(void **state)
{
    struct provider_fx *t = *state;
    const char *const stop[] = {"END", NULL, "\n\nHuman:"};
    struct lr_chat c = {.system = "Be brief.", .messages = &hi,
                        .n_messages = 1, .temperature = 0.3,
                        .has_temperature = 1, .stop = stop, .n_stop = 3,
                        .user = "user-42"};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_string_equal(field(b.body, "system")->valuestring, "Be brief.");
    assert_true(fabs(field(b.body, "temperature")->valuedouble - 0.3) <
                1e-9);
    assert_json(field(b.body, "stop_sequences"), "[\"END\",\"\\n\\nHuman:\"]");
    assert_json(field(b.body, "metadata"), "{\"user_id\":\"user-42\"}");
    assert_null(field(b.body, "stream"));
    assert_null(field(b.body, "stop"));
    assert_null(field(b.body, "user"));
    built_free(&b);

    c.temperature = 1.0; /* the top of the range passes */
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    built_free(&b);
    const double bad[] = {1.5, -0.1, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        c.temperature = bad[i];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_non_null(strstr(b.err, "temperature"));
        built_free(&b);
    }
}

/* ABI 1.3: top_p is sent; seed and the penalties are left out. */
static void test_build_hints(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;

    build(t, &c, &b);
    assert_null(field(b.body, "top_p"));
    built_free(&b);

    c.has_top_p = 1;
    c.top_p = 0.9;
    c.has_seed = 1;
    c.seed = 42;
    c.has_presence_penalty = 1;
    c.presence_penalty = 1;
    c.has_frequency_penalty = 1;
    c.frequency_penalty = -1;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_true(field(b.body, "top_p")->valuedouble == 0.9);
    const char *const absent[] = {"seed", "presence_penalty",
                                  "frequency_penalty", "penalty",
                                  "response_format", "output_config"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        assert_null(strstr(lr_buf_str(&b.rq.body), absent[i]));
    built_free(&b);

    const double bad[] = {1.5, -0.1, NAN};
    for (size_t i = 0; i < 3; i++) {
        c.top_p = bad[i];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_non_null(strstr(b.err, "top_p"));
        built_free(&b);
    }
}

/* Any response format fails the build, naming the provider and the
   format, with nothing written and no key in the text. */
static void test_build_response_format_refused(void **state)
{
    struct provider_fx *t = *state;
    static const struct {
        const char *format, *err;
    } rows[] = {
        {"{\"type\":\"json_object\"}",
         "anthropic: response_format json_object is not supported"},
        {"{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
         "\"schema\":{\"type\":\"object\"}}}",
         "anthropic: response_format json_schema is not supported"},
        {"{\"type\":\"" KEY "\"}", /* never echoed */
         "anthropic: response_format is not supported"},
        {"not json", "anthropic: response_format is not supported"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        struct lr_chat c = {.messages = &hi, .n_messages = 1,
                            .has_top_p = 1, .top_p = 0.5,
                            .response_format_json = rows[i].format};
        struct built b;
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_string_equal(b.err, rows[i].err);
        assert_int_equal(b.rq.body.len, 0);
        assert_int_equal(b.rq.url.len, 0);
        assert_int_equal(b.rq.headers.len, 0);
        built_free(&b);
    }
}

static void test_build_alternation(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "one", NULL, NULL, NULL},
        {LR_ROLE_USER, "two", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "three", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "four", NULL, NULL, NULL},
        {LR_ROLE_USER, "five", NULL, NULL, NULL},
    };
    struct lr_chat c = {.messages = m, .n_messages = 5};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "messages"),
                "[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                "\"text\":\"one\"},{\"type\":\"text\",\"text\":\"two\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                "\"text\":\"three\"},{\"type\":\"text\",\"text\":\"four\"}]},"
                "{\"role\":\"user\",\"content\":\"five\"}]");
    assert_null(field(b.body, "system"));
    built_free(&b);

    const struct lr_message sys = {LR_ROLE_SYSTEM, "x", NULL, NULL, NULL};
    c.messages = &sys;
    c.n_messages = 1;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "messages[0]"));
    built_free(&b);
}

static void test_build_tool_turns(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "Weather in Paris and the time?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "Let me look.",
         "[{\"id\":\"toolu_1\",\"type\":\"function\",\"function\":{\"name\":"
         "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
         "{\"id\":\"toolu_2\",\"type\":\"function\",\"function\":{\"name\":"
         "\"get_time\",\"arguments\":\"\"}}]",
         NULL, NULL},
        {LR_ROLE_TOOL, "18C", NULL, "toolu_1", "get_weather"},
        {LR_ROLE_USER, "and hurry", NULL, NULL, NULL},
        {LR_ROLE_TOOL, "noon", NULL, "toolu_2", "get_time"},
    };
    struct lr_chat c = {.messages = m, .n_messages = 5};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "messages"),
        "[{\"role\":\"user\",\"content\":\"Weather in Paris and the time?\"},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Let me look.\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\","
        "\"input\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"get_time\","
        "\"input\":{}}]},"
        "{\"role\":\"user\",\"content\":["
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
        "\"content\":\"18C\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\","
        "\"content\":\"noon\"},"
        "{\"type\":\"text\",\"text\":\"and hurry\"}]}]");
    built_free(&b);
}

static void test_build_tool_errors(void **state)
{
    struct provider_fx *t = *state;
    static const struct {
        const char *calls;
        const char *want;
    } rows[] = {
        {"not json", "messages[0].tool_calls_json: invalid JSON"},
        {"{}", "messages[0].tool_calls_json: not a JSON array"},
        {"[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":"
         "\"{oops\"}}]",
         "messages[0].tool_calls_json[0]: function.arguments: invalid JSON"},
        {"[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":"
         "\"[1]\"}}]",
         "tool_calls_json[0]: function.arguments: not a JSON object"},
        {"[{\"function\":{\"name\":\"f\"}}]", "tool_calls_json[0]: not a"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct lr_message m = {LR_ROLE_ASSISTANT, NULL, rows[i].calls, NULL,
                               NULL};
        struct lr_chat c = {.messages = &m, .n_messages = 1};
        struct built b;
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        if (!strstr(b.err, rows[i].want))
            fail_msg("row %zu: \"%s\"", i, b.err);
        built_free(&b);
    }
    struct lr_message tool = {LR_ROLE_TOOL, "x", NULL, NULL, NULL};
    struct lr_chat c = {.messages = &tool, .n_messages = 1};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "messages[0].tool_call_id: missing");
    built_free(&b);
}

static void test_build_tools(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {
        .messages = &hi, .n_messages = 1,
        .tools_json =
            "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
            "\"description\":\"Weather now\",\"parameters\":{\"type\":"
            "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}},"
            "{\"type\":\"function\",\"function\":{\"name\":\"noargs\"}},"
            "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]",
        .tool_choice_json = "required"};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "tools"),
                "[{\"name\":\"get_weather\",\"description\":\"Weather now\","
                "\"input_schema\":{\"type\":\"object\",\"properties\":"
                "{\"city\":{\"type\":\"string\"}}}},"
                "{\"name\":\"noargs\",\"input_schema\":{\"type\":\"object\","
                "\"properties\":{}}},"
                "{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]");
    assert_json(field(b.body, "tool_choice"), "{\"type\":\"any\"}");
    built_free(&b);

    static const char *const choices[][2] = {
        {"\"auto\"", "{\"type\":\"auto\"}"},
        {"none", "{\"type\":\"none\"}"},
        {"\"required\"", "{\"type\":\"any\"}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}",
         "{\"type\":\"tool\",\"name\":\"get_weather\"}"},
        {"{\"type\":\"tool\",\"name\":\"x\"}",
         "{\"type\":\"tool\",\"name\":\"x\"}"},
    };
    for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++) {
        c.tool_choice_json = choices[i][0];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_OK);
        assert_json(field(b.body, "tool_choice"), choices[i][1]);
        built_free(&b);
    }
    static const char *const bad_choices[] = {
        "sometimes", "42", "{\"type\":\"function\"}", "{\"type\":\"x\"}"};
    for (size_t i = 0; i < 4; i++) {
        c.tool_choice_json = bad_choices[i];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_non_null(strstr(b.err, "tool_choice_json"));
        built_free(&b);
    }
    c.tool_choice_json = NULL;
    static const char *const bad_tools[][2] = {
        {"[oops", "tools_json: invalid JSON"},
        {"{}", "tools_json: not a JSON array"},
        {"[1]", "tools_json[0]: not an object"},
        {"[{\"type\":\"function\",\"function\":{}}]",
         "tools_json[0]: function.name: missing"},
    };
    for (size_t i = 0; i < 4; i++) {
        c.tools_json = bad_tools[i][0];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_string_equal(b.err, bad_tools[i][1]);
        built_free(&b);
    }
}

/* --- Responses ---------------------------------------------------------- */

static int parse_body(struct provider_fx *t, const char *body, size_t len, long status,
                      const struct lr_header *h, size_t nh,
                      struct lr_result *r)
{
    struct lr_http_response in = {status, h, nh, body, len};
    fake_result_init(r);
    int rc = ops->parse_response(t->inst, &t->target, &in, r);
    assert_null(strstr(lr_buf_str(&r->error_message), KEY));
    return rc;
}

static void parse_file(struct provider_fx *t, const char *file, long status,
                       const struct lr_header *h, size_t nh,
                       struct lr_result *r)
{
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "anthropic/%s", file);
    char *body = fake_read_file(path, &len);
    assert_non_null(body);
    assert_int_equal(parse_body(t, body, len, status, h, nh, r), LR_OK);
    free(body);
}

static void test_parse_plain(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_header h[] = {{"request-id", "req_hdr_1"}};
    struct lr_result r;
    parse_file(t, "ok_plain.json", 200, h, 1, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "40.");
    assert_int_equal(r.finish, LR_FINISH_STOP);
    assert_string_equal(lr_buf_str(&r.model), "claude-sonnet-4-5-20250929");
    assert_string_equal(lr_buf_str(&r.request_id), "req_hdr_1");
    assert_int_equal(r.prompt_tokens, 31);
    assert_int_equal(r.completion_tokens, 5);
    assert_int_equal(r.cached_tokens, 0);
    assert_int_equal(r.retry_after_ms, -1);
    assert_int_equal(r.tool_calls_json.len, 0);
    fake_result_free(&r);
}

static void test_parse_blocks_and_usage(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "ok_multi_text_thinking.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "The answer is 40.");
    assert_int_equal(r.finish, LR_FINISH_STOP);
    assert_int_equal(r.prompt_tokens, 1210); /* 10 + 200 + 1000 */
    assert_int_equal(r.cached_tokens, 1000);
    assert_int_equal(r.completion_tokens, 90);
    fake_result_free(&r);

    parse_file(t, "ok_max_tokens.json", 200, NULL, 0, &r);
    assert_int_equal(r.finish, LR_FINISH_LENGTH);
    fake_result_free(&r);
    parse_file(t, "ok_refusal.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.finish, LR_FINISH_CONTENT_FILTER);
    assert_string_equal(lr_buf_str(&r.text), "");
    fake_result_free(&r);
    parse_file(t, "ok_no_content.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_PROTOCOL);
    assert_non_null(strstr(lr_buf_str(&r.error_message),
                           "HTTP 200 without content"));
    fake_result_free(&r);

    static const char *const reasons[][2] = {
        {"model_context_window_exceeded", "2"}, {"pause_turn", "5"},
        {"something_new", "5"}, {"tool_use", "3"}, {"stop_sequence", "1"}};
    for (size_t i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"type\":\"message\",\"content\":[],"
                 "\"stop_reason\":\"%s\"}", reasons[i][0]);
        parse_body(t, body, strlen(body), 200, NULL, 0, &r);
        assert_int_equal(r.finish, atoi(reasons[i][1]));
        assert_int_equal(r.prompt_tokens, -1);
        assert_int_equal(r.completion_tokens, -1);
        fake_result_free(&r);
    }
}

static void test_parse_tool_use(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "ok_tool_use.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.finish, LR_FINISH_TOOL_CALLS);
    assert_string_equal(lr_buf_str(&r.text), "Checking the weather.");
    cJSON *calls = cJSON_Parse(lr_buf_str(&r.tool_calls_json));
    assert_json(calls,
                "[{\"id\":\"toolu_01A\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_weather\",\"arguments\":"
                "\"{\\\"city\\\":\\\"Paris\\\",\\\"unit\\\":\\\"c\\\"}\"}},"
                "{\"id\":\"toolu_01B\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_time\",\"arguments\":\"{}\"}}]");
    cJSON_Delete(calls);
    assert_int_equal(r.prompt_tokens, 400);
    fake_result_free(&r);
}

struct err_row {
    const char *file;
    long status;
    enum lr_status want;
    const char *msg;
};

static const struct err_row err_rows[] = {
    {"err_400_prompt_too_long.json", 400, LR_E_CONTEXT_LENGTH,
     "prompt is too long: 208310 tokens > 200000 maximum"},
    {"err_400_credit.json", 400, LR_E_QUOTA_EXHAUSTED,
     "Your credit balance is too low"},
    {"err_400_invalid.json", 400, LR_E_BAD_REQUEST, "roles must alternate"},
    {"err_401_auth.json", 401, LR_E_AUTH, "invalid x-api-key"},
    {"err_403_permission.json", 403, LR_E_AUTH, "does not have permission"},
    {"err_402_billing.json", 402, LR_E_QUOTA_EXHAUSTED, "outstanding"},
    {"err_404_model.json", 404, LR_E_BAD_REQUEST, "model: claude-9"},
    {"err_413_json.json", 413, LR_E_BAD_REQUEST, "maximum allowed number"},
    {"err_413_cloudflare.html", 413, LR_E_BAD_REQUEST,
     "HTTP 413: <html> <head><title>413 Request Entity Too Large"},
    {"err_429_rate_limit.json", 429, LR_E_RATE_LIMITED,
     "exceed the rate limit"},
    {"err_500_api.json", 500, LR_E_SERVER_ERROR, "Internal server error"},
    {"err_529_overloaded.json", 529, LR_E_OVERLOADED, "Overloaded"},
    {"err_529_overloaded.json", 503, LR_E_OVERLOADED, "Overloaded"},
    {"err_529_overloaded.json", 500, LR_E_OVERLOADED, "Overloaded"},
    {"html_502.html", 502, LR_E_SERVER_ERROR,
     "HTTP 502: <html> <head><title>502 Bad Gateway"},
    {"html_502.html", 529, LR_E_OVERLOADED, "HTTP 529: <html>"},
    {"err_500_api.json", 409, LR_E_SERVER_ERROR, "Internal"},
    {"err_500_api.json", 408, LR_E_TIMEOUT, "Internal"},
    /* an error inside a 2xx body: by type */
    {"err_529_overloaded.json", 200, LR_E_OVERLOADED, "Overloaded"},
    {"err_400_prompt_too_long.json", 200, LR_E_CONTEXT_LENGTH, "prompt"},
    {"err_402_billing.json", 200, LR_E_QUOTA_EXHAUSTED, "outstanding"},
    {"err_401_auth.json", 200, LR_E_AUTH, "x-api-key"},
    {"html_502.html", 200, LR_E_PROTOCOL, "HTTP 200 with an unreadable"},
};

static void test_parse_error_table(void **state)
{
    struct provider_fx *t = *state;
    int failures = 0;
    for (size_t i = 0; i < sizeof err_rows / sizeof err_rows[0]; i++) {
        const struct err_row *row = &err_rows[i];
        struct lr_result r;
        parse_file(t, row->file, row->status, NULL, 0, &r);
        const char *msg = lr_buf_str(&r.error_message);
        if (r.error != row->want || !strstr(msg, row->msg) ||
            r.retry_after_ms != -1 || r.finish != LR_FINISH_ERROR ||
            r.text.len != 0) {
            print_error("%s (%ld): class %d want %d, hint %lld, \"%s\"\n",
                        row->file, row->status, (int)r.error,
                        (int)row->want, (long long)r.retry_after_ms, msg);
            failures++;
        }
        fake_result_free(&r);
    }
    assert_int_equal(failures, 0);
}

static void test_parse_error_details(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    t->target.api_key = "sk-ant-test-SECRET-0123456789";
    parse_file(t, "err_401_echoed_key.json", 401, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_AUTH);
    assert_string_equal(lr_buf_str(&r.error_message),
                        "invalid x-api-key: [redacted] is not valid");
    /* no request-id header: the body's request_id */
    assert_string_equal(lr_buf_str(&r.request_id), "req_011CSHq4");
    fake_result_free(&r);

    parse_body(t, "", 0, 500, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_SERVER_ERROR);
    assert_string_equal(lr_buf_str(&r.error_message), "HTTP 500 (empty body)");
    fake_result_free(&r);

    const char *no_msg = "{\"type\":\"error\",\"error\":{\"type\":"
                         "\"rate_limit_error\"}}";
    parse_body(t, no_msg, strlen(no_msg), 429, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_RATE_LIMITED);
    assert_string_equal(lr_buf_str(&r.error_message), "rate_limit_error");
    fake_result_free(&r);
}

/* 2026-03-14T09:26:18Z is 1773480378000 ms after the epoch. */
#define T0 1773480378000LL

static void test_parse_ratelimit_hints(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const struct lr_header tokens[] = {
        {"anthropic-ratelimit-requests-remaining", "12"},
        {"anthropic-ratelimit-requests-reset", "2026-03-14T09:27:18Z"},
        {"anthropic-ratelimit-tokens-remaining", "0"},
        {"anthropic-ratelimit-tokens-reset", "2026-03-14T09:26:30Z"},
        {"anthropic-ratelimit-output-tokens-remaining", "0"},
        {"anthropic-ratelimit-output-tokens-reset", "2026-03-14T09:26:20Z"},
    };
    const struct lr_header with_date[] = {
        {"date", "Sat, 14 Mar 2026 09:26:25 GMT"},
        {"anthropic-ratelimit-input-tokens-remaining", "0"},
        {"anthropic-ratelimit-input-tokens-reset", "2026-03-14T09:26:30Z"},
    };
    const struct lr_header past[] = {
        {"anthropic-ratelimit-requests-remaining", "0"},
        {"anthropic-ratelimit-requests-reset", "2026-03-14T09:00:00Z"},
    };
    const struct lr_header garbage[] = {
        {"anthropic-ratelimit-requests-remaining", "0"},
        {"anthropic-ratelimit-requests-reset", "soon"},
    };

    fake_host_set_time(t->fh, 5, T0);
    parse_file(t, "err_429_rate_limit.json", 429, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, 12000); /* latest exhausted */
    fake_result_free(&r);
    fake_host_advance(t->fh, 2000);
    parse_file(t, "err_429_rate_limit.json", 429, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, 10000);
    fake_result_free(&r);

    /* the Date header is "now" when present, whatever our clock says */
    fake_host_set_time(t->fh, 5, T0 - 3600000);
    parse_file(t, "err_429_rate_limit.json", 429, with_date, 3, &r);
    assert_int_equal(r.retry_after_ms, 5000);
    fake_result_free(&r);

    fake_host_set_time(t->fh, 5, T0);
    parse_file(t, "err_529_overloaded.json", 529, past, 2, &r);
    assert_int_equal(r.retry_after_ms, 0);
    fake_result_free(&r);
    parse_file(t, "err_429_rate_limit.json", 429, garbage, 2, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);
    parse_file(t, "html_502.html", 429, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, 12000);
    fake_result_free(&r);

    /* classes that waiting cannot fix get no hint */
    parse_file(t, "err_400_credit.json", 400, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);
    parse_file(t, "err_401_auth.json", 401, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);
    parse_file(t, "ok_plain.json", 200, tokens, 6, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);
}

/* --- Streaming, through the core's framer ------------------------------ */

struct run {
    struct provider_fx *t;
    void *st;
    struct lr_result acc;
    int done;
    int events;
};

/* The core's on_event, reduced: delta into acc->text, stop on error. */
static int on_event(const struct lr_sse_event *ev, void *user)
{
    struct run *r = user;
    struct lr_buf delta = {0};
    r->events++;
    int rc = ops->stream_event(r->t->inst, r->st, ev, &r->acc, &delta);
    lr_buf_append(&r->acc.text, lr_buf_str(&delta), delta.len);
    lr_buf_free(&delta);
    if (rc == LR_STREAM_DONE)
        r->done = 1;
    else if (rc != LR_OK)
        return rc;
    return r->acc.error != LR_OK ? (int)r->acc.error : LR_OK;
}

/* Feeds text in two chunks cut at byte cut. */
static void run_split(struct provider_fx *t, const char *text, size_t len, size_t cut,
                      struct run *r)
{
    struct lr_sse sse;
    memset(r, 0, sizeof *r);
    r->t = t;
    fake_result_init(&r->acc);
    assert_int_equal(ops->stream_begin(t->inst, &r->st), LR_OK);
    lr_sse_init(&sse, 0);
    int rc = lr_sse_feed(&sse, text, cut, on_event, r);
    if (rc == LR_OK)
        rc = lr_sse_feed(&sse, text + cut, len - cut, on_event, r);
    if (rc == LR_OK)
        lr_sse_finish(&sse, 1, on_event, r);
    lr_sse_free(&sse);
    ops->stream_end(t->inst, r->st);
}

static int same(const struct run *a, const struct run *b)
{
    const struct lr_result *x = &a->acc, *y = &b->acc;
    return a->done == b->done && x->error == y->error &&
           x->finish == y->finish && x->prompt_tokens == y->prompt_tokens &&
           x->completion_tokens == y->completion_tokens &&
           x->cached_tokens == y->cached_tokens &&
           strcmp(lr_buf_str(&x->text), lr_buf_str(&y->text)) == 0 &&
           strcmp(lr_buf_str(&x->tool_calls_json),
                  lr_buf_str(&y->tool_calls_json)) == 0 &&
           strcmp(lr_buf_str(&x->model), lr_buf_str(&y->model)) == 0 &&
           strcmp(lr_buf_str(&x->error_message),
                  lr_buf_str(&y->error_message)) == 0;
}

/* The whole transcript into *whole, then every two-chunk split compared
   with it. */
static void run_file(struct provider_fx *t, const char *file, struct run *whole)
{
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "anthropic/%s", file);
    char *text = fake_read_file(path, &len);
    assert_non_null(text);
    run_split(t, text, len, len, whole);
    for (size_t cut = 0; cut < len; cut++) {
        struct run r;
        run_split(t, text, len, cut, &r);
        if (!same(&r, whole))
            fail_msg("%s: split at %zu differs", file, cut);
        fake_result_free(&r.acc);
    }
    free(text);
}

static void assert_rl(const struct lr_result *r, int64_t req, int64_t tok,
                      int64_t req_reset, int64_t tok_reset)
{
    assert_int_equal(r->rl_remaining_requests, req);
    assert_int_equal(r->rl_remaining_tokens, tok);
    assert_int_equal(r->rl_reset_requests_ms, req_reset);
    assert_int_equal(r->rl_reset_tokens_ms, tok_reset);
}

/* The rl_* readings (ABI 1.1): on successes and errors alike, resets in
   ms from the Date header (else the wall clock), tokens from tokens-*
   or else the tighter of input-/output-tokens-*. */
static void test_parse_ratelimit_readings(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const struct lr_header full[] = {
        {"date", "Sat, 14 Mar 2026 09:26:18 GMT"},
        {"anthropic-ratelimit-requests-remaining", "49"},
        {"anthropic-ratelimit-requests-reset", "2026-03-14T09:26:19Z"},
        {"anthropic-ratelimit-tokens-remaining", "3900"},
        {"anthropic-ratelimit-tokens-reset", "2026-03-14T09:26:24.5Z"},
        {"anthropic-ratelimit-input-tokens-remaining", "10"},
        {"anthropic-ratelimit-input-tokens-reset", "2026-03-14T09:27:18Z"},
    };
    const struct lr_header split[] = {
        {"anthropic-ratelimit-input-tokens-remaining", "800"},
        {"anthropic-ratelimit-input-tokens-reset", "2026-03-14T09:26:20Z"},
        {"anthropic-ratelimit-output-tokens-remaining", "0"},
        {"anthropic-ratelimit-output-tokens-reset", "2026-03-14T09:26:30Z"},
    };
    const struct lr_header bad[] = {
        {"anthropic-ratelimit-requests-remaining", "-1"},
        {"anthropic-ratelimit-requests-reset", "2026-03-14T09:00:00Z"},
        {"anthropic-ratelimit-tokens-remaining", "1e3"},
        {"anthropic-ratelimit-tokens-reset", "soon"},
    };

    /* our clock is an hour off: the Date header rules */
    fake_host_set_time(t->fh, 5, T0 - 3600000);
    parse_file(t, "ok_plain.json", 200, full, 7, &r);
    assert_int_equal(r.error, LR_OK);
    assert_rl(&r, 49, 3900, 1000, 6500);
    fake_result_free(&r);
    parse_file(t, "err_429_rate_limit.json", 429, full, 7, &r);
    assert_int_equal(r.error, LR_E_RATE_LIMITED);
    assert_rl(&r, 49, 3900, 1000, 6500);
    fake_result_free(&r);

    /* no Date: the wall clock; no tokens-*: output-tokens is tighter */
    fake_host_set_time(t->fh, 5, T0);
    parse_file(t, "ok_plain.json", 200, split, 4, &r);
    assert_rl(&r, -1, 0, -1, 12000);
    fake_result_free(&r);

    /* malformed counts stay unknown; a reset in the past is 0 */
    parse_file(t, "ok_plain.json", 200, bad, 4, &r);
    assert_rl(&r, -1, -1, 0, -1);
    fake_result_free(&r);

    /* none at all: the core's -1 stays */
    parse_file(t, "ok_plain.json", 200, NULL, 0, &r);
    assert_rl(&r, -1, -1, -1, -1);
    fake_result_free(&r);
}

static void test_stream_plain(void **state)
{
    struct provider_fx *t = *state;
    struct run r;
    run_file(t, "stream_plain.sse", &r);
    assert_true(r.done);
    assert_int_equal(r.acc.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.acc.text),
                        "Hello, w\xc3\xb6rld \xf0\x9f\x9a\x80");
    assert_int_equal(r.acc.finish, LR_FINISH_STOP);
    assert_string_equal(lr_buf_str(&r.acc.model), "claude-haiku-4-5");
    assert_string_equal(lr_buf_str(&r.acc.request_id), "msg_01Cd");
    assert_int_equal(r.acc.prompt_tokens, 115); /* 12 + 3 + 100 */
    assert_int_equal(r.acc.cached_tokens, 100);
    assert_int_equal(r.acc.completion_tokens, 4); /* not 1 + 4 */
    assert_int_equal(r.acc.tool_calls_json.len, 0);
    assert_int_equal(r.events, 8);
    fake_result_free(&r.acc);
}

static void test_stream_tool_use(void **state)
{
    struct provider_fx *t = *state;
    struct run r;
    run_file(t, "stream_tool_use.sse", &r);
    assert_true(r.done);
    assert_int_equal(r.acc.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.acc.text), "Okay, let's check.");
    assert_int_equal(r.acc.finish, LR_FINISH_TOOL_CALLS);
    cJSON *calls = cJSON_Parse(lr_buf_str(&r.acc.tool_calls_json));
    assert_json(calls,
        "[{\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"location\\\":\\\"San Francisco, CA\\\",\\\"unit\\\":"
        "\\\"fahrenheit\\\"}\"}},"
        "{\"id\":\"toolu_02\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_time\",\"arguments\":\"{}\"}}]");
    cJSON_Delete(calls);
    assert_int_equal(r.acc.prompt_tokens, 472);
    assert_int_equal(r.acc.completion_tokens, 89);
    fake_result_free(&r.acc);
}

static void test_stream_error_event(void **state)
{
    struct provider_fx *t = *state;
    struct run r;
    run_file(t, "stream_error.sse", &r);
    assert_false(r.done);
    assert_int_equal(r.acc.error, LR_E_OVERLOADED);
    assert_int_equal(r.acc.finish, LR_FINISH_ERROR);
    assert_string_equal(lr_buf_str(&r.acc.error_message), "Overloaded");
    assert_string_equal(lr_buf_str(&r.acc.text), "Partial");
    fake_result_free(&r.acc);

    static const char *const types[][2] = {
        {"rate_limit_error", "1"}, {"api_error", "4"},
        {"invalid_request_error", "8"}, {"authentication_error", "7"},
        {"billing_error", "2"}, {"timeout_error", "5"}, {"brand_new", "4"}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char text[256];
        int n = snprintf(text, sizeof text, "event: error\ndata: {\"type\":"
                         "\"error\",\"error\":{\"type\":\"%s\",\"message\":"
                         "\"m\"}}\n\n", types[i][0]);
        run_split(t, text, (size_t)n, (size_t)n, &r);
        assert_int_equal(r.acc.error, atoi(types[i][1]));
        assert_int_equal(r.acc.retry_after_ms, -1);
        fake_result_free(&r.acc);
    }
}

static void test_stream_padded(void **state)
{
    struct provider_fx *t = *state;
    struct run r;
    run_file(t, "stream_padded.sse", &r);
    assert_true(r.done);
    assert_int_equal(r.acc.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.acc.text), "Padded");
    assert_int_equal(r.acc.finish, LR_FINISH_LENGTH);
    assert_string_equal(lr_buf_str(&r.acc.model), "claude-opus-4-1");
    assert_int_equal(r.acc.prompt_tokens, 7);
    assert_int_equal(r.acc.completion_tokens, 1);
    fake_result_free(&r.acc);
}

static void run_text(struct provider_fx *t, const char *text, struct run *r)
{
    run_split(t, text, strlen(text), strlen(text), r);
}

static void test_stream_bad_input(void **state)
{
    struct provider_fx *t = *state;
    struct run r;
    static const char *const rows[][2] = {
        {"data: not json\n\n", "unreadable stream event: not json"},
        {"event: content_block_start\ndata: {\"type\":\"content_block_start\","
         "\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"a\","
         "\"name\":\"f\"}}\n\ndata: {\"type\":\"content_block_delta\","
         "\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
         "\"partial_json\":\"{nope\"}}\n\n"
         "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
         "content block 0: tool input is not valid JSON"},
        {"data: {\"type\":\"content_block_delta\",\"index\":4,\"delta\":"
         "{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n",
         "content block 4: input_json_delta outside a tool_use"},
    };
    for (size_t i = 0; i < 3; i++) {
        run_text(t, rows[i][0], &r);
        assert_int_equal(r.acc.error, LR_E_PROTOCOL);
        assert_string_equal(lr_buf_str(&r.acc.error_message), rows[i][1]);
        fake_result_free(&r.acc);
    }
    /* pings, unknown events and empty data are ignored; the event name
       stands in for a missing "type" */
    run_text(t, "event: ping\ndata: {}\n\ndata:\n\n"
                "data: {\"type\":\"future_event\",\"x\":1}\n\n"
                "event: message_stop\ndata: {}\n\n", &r);
    assert_true(r.done);
    assert_int_equal(r.acc.error, LR_OK);
    fake_result_free(&r.acc);
}

/* 1025 tool blocks: the 1025th is a protocol error, nothing leaks. */
static void test_stream_many_tools(void **state)
{
    struct provider_fx *t = *state;
    struct lr_buf text = {0};
    struct run r;
    for (int i = 0; i <= 1024; i++)
        lr_buf_printf(&text, "data: {\"type\":\"content_block_start\","
                      "\"index\":%d,\"content_block\":{\"type\":"
                      "\"tool_use\",\"id\":\"t%d\",\"name\":\"f\"}}\n\n",
                      i, i);
    run_text(t, lr_buf_str(&text), &r);
    assert_int_equal(r.acc.error, LR_E_PROTOCOL);
    assert_non_null(strstr(lr_buf_str(&r.acc.error_message),
                           "too many tool_use blocks"));
    assert_int_equal(r.events, 1025);
    fake_result_free(&r.acc);
    lr_buf_free(&text);
}

/* Every prefix of every fixture as 200 and as 500: no crash, LR_OK. */
static void test_truncated_bodies(void **state)
{
    static const char *const files[] = {
        "ok_plain.json", "ok_tool_use.json", "ok_multi_text_thinking.json",
        "err_400_prompt_too_long.json", "err_529_overloaded.json"};
    struct provider_fx *t = *state;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[128];
        size_t len;
        snprintf(path, sizeof path, "anthropic/%s", files[f]);
        char *body = fake_read_file(path, &len);
        assert_non_null(body);
        for (size_t k = 0; k <= len; k++) {
            char *cut = strndup(body, k);
            struct lr_result r;
            assert_int_equal(parse_body(t, cut, k, 200, NULL, 0, &r), LR_OK);
            fake_result_free(&r);
            assert_int_equal(parse_body(t, cut, k, 500, NULL, 0, &r), LR_OK);
            assert_int_not_equal(r.error, LR_OK);
            fake_result_free(&r);
            free(cut);
        }
        free(body);
    }
}

static void test_bad_arguments(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    struct lr_http_request rq;
    char err[64];
    fake_result_init(&r);
    fake_request_init(&rq);
    assert_int_not_equal(ops->parse_response(NULL, &t->target, NULL, &r),
                         LR_OK);
    assert_int_not_equal(ops->build_request(t->inst, &t->target, NULL, &rq,
                                            err, sizeof err), LR_OK);
    t->target.model = "";
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    assert_int_equal(ops->build_request(t->inst, &t->target, &c, &rq, err,
                                        sizeof err), LR_E_CONFIG);
    assert_string_equal(err, "model: not set");
    assert_int_not_equal(ops->stream_begin(t->inst, NULL), LR_OK);
    ops->stream_end(t->inst, NULL);
    fake_request_free(&rq);
    fake_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_build_minimal),
        T(test_build_headers_url_keys),
        T(test_build_url_query),
        T(test_build_options),
        T(test_build_hints),
        T(test_build_response_format_refused),
        T(test_build_alternation),
        T(test_build_tool_turns),
        T(test_build_tool_errors),
        T(test_build_tools),
        T(test_parse_plain),
        T(test_parse_blocks_and_usage),
        T(test_parse_tool_use),
        T(test_parse_error_table),
        T(test_parse_error_details),
        T(test_parse_ratelimit_hints),
        T(test_parse_ratelimit_readings),
        T(test_stream_plain),
        T(test_stream_tool_use),
        T(test_stream_error_event),
        T(test_stream_padded),
        T(test_stream_bad_input),
        T(test_stream_many_tools),
        T(test_truncated_bodies),
        T(test_bad_arguments),
#undef T
    };
    return cmocka_run_group_tests_name("provider_anthropic", tests,
                                       group_setup, group_teardown);
}
