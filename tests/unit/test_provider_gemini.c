/*
 * test_provider_gemini.c - the Gemini provider as the core sees it: the
 * real gemini.so, dlopen'ed from $LLMROUTE_TEST_BUILD/plugins and called
 * through its descriptor with the fake host (tests/support).
 *
 * Requests are checked by parsing the body back (never by text, since key
 * order is not a contract).  Responses and SSE transcripts come from
 * tests/data/gemini/.  Streams go through the core's own SSE framer
 * (core/sse.c, linked from libllmroute.a) the way core/transfer.c drives
 * it, EOF included, whole and cut into two chunks at every byte position;
 * every cut must give the same summary.
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

#define KEY "AIzaSyTEST-SECRET-0123456789"
#define GL "https://generativelanguage.googleapis.com"

static void *dl;
static const struct lr_plugin_desc *desc;
static const struct lr_provider_ops *ops;

static int group_setup(void **state)
{
    (void)state;
    desc = fake_plugin_open("gemini", &dl);
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
    struct provider_fx *t = provider_fx_new(desc, "flash", "gemini-2.5-flash",
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
    assert_string_equal(desc->name, "gemini");
    assert_int_equal(desc->kind, LR_PLUGIN_PROVIDER);
    assert_int_equal(desc->ops_size, sizeof(struct lr_provider_ops));
    assert_string_equal(ops->default_base_url, GL);
    assert_non_null(ops->stream_event);
    assert_int_equal(ops->n_target_keys, 1);
    assert_string_equal(ops->target_keys[0].key, "api_version");
    assert_string_equal(ops->target_keys[0].def, "v1beta");
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
    assert_null(strstr(lr_buf_str(&b->rq.body), KEY));
    assert_null(strstr(lr_buf_str(&b->rq.url), KEY));
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
    assert_string_equal(b.rq.method, "POST");
    assert_string_equal(b.rq.url.data, GL "/v1beta/models/gemini-2.5-flash"
                                          ":generateContent");
    assert_string_equal(b.rq.headers.data, "x-goog-api-key: " KEY "\n"
                                           "Content-Type: application/json\n"
                                           "Accept: application/json");
    assert_json(b.body, "{\"contents\":[{\"role\":\"user\",\"parts\":"
                        "[{\"text\":\"Hi\"}]}]}");
    built_free(&b);
    assert_null(strstr(fake_host_log(t->fh), KEY));
}

/* A base_url's query goes after our path, merged with our own alt=sse;
   a fragment is never sent. */
static void test_build_url_query(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    static const char *const cases[][3] = {
        /* base, non-streamed URL, streamed URL */
        {"http://p/g/?key=k1#f",
         "http://p/g/v1beta/models/m-1:generateContent?key=k1",
         "http://p/g/v1beta/models/m-1:streamGenerateContent?key=k1&alt=sse"},
        {"http://p?a=1&b=2",
         "http://p/v1beta/models/m-1:generateContent?a=1&b=2",
         "http://p/v1beta/models/m-1:streamGenerateContent?a=1&b=2&alt=sse"},
        {"http://p/?",
         "http://p/v1beta/models/m-1:generateContent",
         "http://p/v1beta/models/m-1:streamGenerateContent?alt=sse"},
    };
    t->target.model = "m-1";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t->target.base_url = cases[i][0];
        for (int s = 0; s < 2; s++) {
            c.stream = s;
            build(t, &c, &b);
            assert_int_equal(b.rc, LR_OK);
            assert_string_equal(b.rq.url.data, cases[i][1 + s]);
            built_free(&b);
        }
    }
}

static void test_build_stream_url_version(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .stream = 1};
    struct built b;
    t->target.base_url = "http://127.0.0.1:9/";
    t->target.model = "models/gemini-2.5-pro";
    t->target.api_key = "";
    fake_section_set(t->sec, "api_version", "v1");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_string_equal(b.rq.url.data,
                        "http://127.0.0.1:9/v1/models/gemini-2.5-pro"
                        ":streamGenerateContent?alt=sse");
    /* no key: no header, and never ?key= */
    assert_string_equal(b.rq.headers.data, "Content-Type: application/json\n"
                                           "Accept: text/event-stream");
    assert_null(strstr(b.rq.url.data, "key="));
    built_free(&b);

    fake_section_set(t->sec, "api_version", "v1/../x");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_non_null(strstr(b.err, "api_version"));
    built_free(&b);

    fake_section_set(t->sec, "api_version", NULL);
    t->target.model = "gemini?x=1";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_non_null(strstr(b.err, "model"));
    built_free(&b);

    t->target.model = "gemini-2.5-flash";
    t->target.api_key = "bad\r\nX-Evil: 1";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_null(strstr(b.err, "X-Evil"));
    built_free(&b);
}

static void test_build_roles_merge_system(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "A prime above 90?", NULL, NULL, NULL},
        {LR_ROLE_USER, "Be brief.", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "97.", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "Or 101.", NULL, NULL, NULL},
        {LR_ROLE_USER, "Another? \"q\" \xc3\xa9", NULL, NULL, NULL},
    };
    struct lr_chat c = {.system = "Answer tersely.", .messages = m,
                        .n_messages = 5};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "systemInstruction"),
                "{\"parts\":[{\"text\":\"Answer tersely.\"}]}");
    assert_json(field(b.body, "contents"),
                "[{\"role\":\"user\",\"parts\":[{\"text\":\"A prime above "
                "90?\"},{\"text\":\"Be brief.\"}]},"
                "{\"role\":\"model\",\"parts\":[{\"text\":\"97.\"},"
                "{\"text\":\"Or 101.\"}]},"
                "{\"role\":\"user\",\"parts\":[{\"text\":"
                "\"Another? \\\"q\\\" \\u00e9\"}]}]");
    assert_null(field(b.body, "generationConfig"));
    assert_null(field(b.body, "tools"));
    built_free(&b);
}

static void test_build_generation_config(void **state)
{
    struct provider_fx *t = *state;
    const char *const stop[] = {"###", "END", NULL, "a", "b", "c"};
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .max_tokens = 256,
                        .temperature = 0, .has_temperature = 1,
                        .stop = stop, .n_stop = 6, .user = "u-1"};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "generationConfig"),
                "{\"maxOutputTokens\":256,\"temperature\":0,"
                "\"stopSequences\":[\"###\",\"END\",\"a\",\"b\",\"c\"]}");
    assert_null(field(b.body, "user")); /* Gemini has no such field */
    built_free(&b);

    /* maxOutputTokens and seed go out as their digits, not through a
       double (which cJSON prints as 9.22337203685478e+18). */
    c.max_tokens = INT64_MAX;
    c.seed = INT32_MIN;
    c.has_seed = 1;
    build(t, &c, &b);
    assert_non_null(strstr(lr_buf_str(&b.rq.body),
                           "\"maxOutputTokens\":9223372036854775807"));
    assert_non_null(strstr(lr_buf_str(&b.rq.body), "\"seed\":-2147483648"));
    built_free(&b);
    c.max_tokens = 256;
    c.has_seed = 0;

    const char *const six[] = {"1", "2", "3", "4", "5", "6"};
    c.stop = six;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "stop: Gemini accepts at most 5 stop "
                               "sequences, got 6");
    built_free(&b);

    c.stop = NULL;
    c.n_stop = 0;
    c.max_tokens = 0;
    c.temperature = INFINITY;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "temperature"));
    built_free(&b);
}

#define TOOLS_ONE "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"

/* ABI 1.3 hints: generationConfig's camelCase fields, only when set. */
static void test_build_hints(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .has_top_p = 1,
                        .top_p = 0.9, .has_seed = 1, .seed = -7,
                        .has_presence_penalty = 1, .presence_penalty = 0,
                        .has_frequency_penalty = 1,
                        .frequency_penalty = 1.5};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "generationConfig"),
                "{\"topP\":0.9,\"presencePenalty\":0,"
                "\"frequencyPenalty\":1.5,\"seed\":-7}");
    assert_null(field(b.body, "top_p"));
    built_free(&b);

    /* Gemini's seed is an int32: a bigger one is left out. */
    c.has_top_p = c.has_presence_penalty = c.has_frequency_penalty = 0;
    c.seed = INT32_MAX;
    build(t, &c, &b);
    assert_json(field(b.body, "generationConfig"), "{\"seed\":2147483647}");
    built_free(&b);
    c.seed = (int64_t)INT32_MAX + 1;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_null(field(b.body, "generationConfig"));
    built_free(&b);

    c.has_seed = 0;
    c.has_frequency_penalty = 1;
    c.frequency_penalty = NAN;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "frequency_penalty: not a finite number");
    built_free(&b);
}

/* json_object: responseMimeType; json_schema: its schema as
   responseJsonSchema, unchanged; anything else is refused. */
static void test_build_response_format(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .max_tokens = 9,
                        .response_format_json = "{\"type\":\"json_object\"}"};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "generationConfig"),
                "{\"maxOutputTokens\":9,"
                "\"responseMimeType\":\"application/json\"}");
    built_free(&b);

    static const char schema[] =
        "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"
        "[\"integer\",\"null\"]}},\"required\":[\"n\"],"
        "\"additionalProperties\":false}";
    char format[400];
    snprintf(format, sizeof format, "{\"type\":\"json_schema\","
             "\"json_schema\":{\"name\":\"answer\",\"strict\":true,"
             "\"description\":\"d\",\"schema\":%s}}", schema);
    c.response_format_json = format;
    c.tools_json = TOOLS_ONE;
    c.has_top_p = 1;
    c.top_p = 0.5;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    const cJSON *gc = field(b.body, "generationConfig");
    assert_string_equal(field(gc, "responseMimeType")->valuestring,
                        "application/json");
    assert_json(field(gc, "responseJsonSchema"), schema);
    assert_null(field(gc, "responseSchema"));
    assert_null(field(gc, "strict"));
    assert_true(field(gc, "topP")->valuedouble == 0.5);
    assert_non_null(field(b.body, "tools"));
    built_free(&b);

    /* A json_schema without a schema: JSON, unconstrained. */
    c.response_format_json =
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\"}}";
    build(t, &c, &b);
    gc = field(b.body, "generationConfig");
    assert_non_null(field(gc, "responseMimeType"));
    assert_null(field(gc, "responseJsonSchema"));
    built_free(&b);

    static const char *const bad[] = {
        "{\"type\":\"xml\"}", "[]", "not json",
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
        "\"schema\":[]}}",
        "{\"type\":\"" KEY "\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c.response_format_json = bad[i];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_INVALID_ARG);
        assert_string_equal(b.err, "gemini: response_format is not "
                                   "json_object or json_schema");
        assert_int_equal(b.rq.body.len, 0);
        built_free(&b);
    }
}

#define TOOLS                                                              \
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","      \
    "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\","     \
    "\"properties\":{\"city\":{\"type\":\"string\"}}}}},"                  \
    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]"

static void test_build_tools(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .tools_json = TOOLS, .tool_choice_json = "auto"};
    struct built b;
    static const char *const modes[][2] = {
        {"auto", "{\"mode\":\"AUTO\"}"},
        {"\"none\"", "{\"mode\":\"NONE\"}"},
        {"required", "{\"mode\":\"ANY\"}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
         "{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"now\"]}"},
    };
    for (size_t i = 0; i < 4; i++) {
        c.tool_choice_json = modes[i][0];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_OK);
        assert_json(field(field(b.body, "toolConfig"),
                          "functionCallingConfig"), modes[i][1]);
        built_free(&b);
    }
    build(t, &c, &b);
    assert_json(field(b.body, "tools"),
                "[{\"functionDeclarations\":[{\"name\":\"get_weather\","
                "\"description\":\"Weather\",\"parameters\":{\"type\":"
                "\"object\",\"properties\":{\"city\":{\"type\":"
                "\"string\"}}}},{\"name\":\"now\"}]}]");
    built_free(&b);

    c.tool_choice_json = "sometimes";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "tool_choice_json"));
    built_free(&b);
    c.tool_choice_json = NULL;
    c.tools_json = "[{\"type\":\"function\"}]";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "tools_json[0]: not a function tool with a "
                               "name");
    built_free(&b);
    c.tools_json = "{";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "tools_json: not a JSON array");
    built_free(&b);
}

#define CALLS                                                              \
    "[{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":"    \
    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"     \
    "\"extra_content\":{\"google\":{\"thought_signature\":\"c2ln\"}}},"    \
    "{\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"now\","  \
    "\"arguments\":\"\"}}]"

static void test_build_function_history(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "Weather in Paris, and the time?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, CALLS, NULL, NULL},
        {LR_ROLE_TOOL, "{\"temp\":21}", NULL, "call_0", "get_weather"},
        {LR_ROLE_TOOL, "12:00", NULL, "t2", NULL},
        {LR_ROLE_USER, "Thanks", NULL, NULL, NULL},
    };
    struct lr_chat c = {.messages = m, .n_messages = 5};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "contents"),
        "[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather in Paris, and "
        "the time?\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
        "\"get_weather\",\"args\":{\"city\":\"Paris\"}},"
        "\"thoughtSignature\":\"c2ln\"},"
        "{\"functionCall\":{\"name\":\"now\",\"args\":{}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":"
        "\"get_weather\",\"response\":{\"temp\":21}}},"
        "{\"functionResponse\":{\"name\":\"now\",\"response\":{\"result\":"
        "\"12:00\"}}},{\"text\":\"Thanks\"}]}]");
    built_free(&b);
}

static void test_build_function_errors(void **state)
{
    struct provider_fx *t = *state;
    struct lr_message m[] = {
        {LR_ROLE_USER, "q", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL,
         "[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":"
         "\"{not json\"}}]", NULL, NULL},
        {LR_ROLE_TOOL, "x", NULL, "zzz", NULL},
    };
    struct lr_chat c = {.messages = m, .n_messages = 2};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "messages[1].tool_calls_json[0]: arguments "
                               "are not a JSON object");
    built_free(&b);
    m[1].tool_calls_json = "[{\"function\":{\"name\":\"f\",\"arguments\":"
                           "\"[1]\"}}]";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    built_free(&b);
    m[1].tool_calls_json = "nope";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "messages[1].tool_calls_json: not a JSON "
                               "array");
    built_free(&b);
    /* a tool result whose call cannot be found has no name to send */
    m[1].tool_calls_json = "[{\"id\":\"a\",\"function\":{\"name\":\"f\"}}]";
    c.n_messages = 3;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "messages[2]"));
    built_free(&b);
    m[2].tool_call_id = "a";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(cJSON_GetArrayItem(field(b.body, "contents"), 2),
                "{\"role\":\"user\",\"parts\":[{\"functionResponse\":"
                "{\"name\":\"f\",\"response\":{\"result\":\"x\"}}}]}");
    built_free(&b);
}

/* --- Responses ---------------------------------------------------------- */

static int parse_body(struct provider_fx *t, const char *body, size_t len, long status,
                      struct lr_result *r)
{
    struct lr_http_response in = {status, NULL, 0, body, len};
    fake_result_init(r);
    int rc = ops->parse_response(t->inst, &t->target, &in, r);
    assert_null(strstr(lr_buf_str(&r->error_message), KEY));
    return rc;
}

static void parse_file(struct provider_fx *t, const char *file, long status,
                       struct lr_result *r)
{
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "gemini/%s", file);
    char *body = fake_read_file(path, &len);
    assert_non_null(body);
    assert_int_equal(parse_body(t, body, len, status, r), LR_OK);
    free(body);
}

static void test_parse_plain(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "ok_plain.json", 200, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "Tr\xc3\xa8s bien, merci.");
    assert_int_equal(r.finish, LR_FINISH_STOP);
    assert_string_equal(lr_buf_str(&r.model), "gemini-2.5-flash");
    assert_string_equal(lr_buf_str(&r.request_id), "AbCdEf123");
    assert_int_equal(r.tool_calls_json.len, 0);
    assert_int_equal(r.prompt_tokens, 18);
    assert_int_equal(r.completion_tokens, 6);
    assert_int_equal(r.cached_tokens, 0);
    assert_int_equal(r.reasoning_tokens, 0);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);

    parse_file(t, "ok_candidate_order.json", 200, &r);
    assert_string_equal(lr_buf_str(&r.text), "first");
    assert_int_equal(r.finish, LR_FINISH_LENGTH);
    assert_int_equal(r.prompt_tokens, -1); /* no usageMetadata at all */
    assert_int_equal(r.completion_tokens, -1);
    fake_result_free(&r);
}

static void test_parse_thoughts_usage(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "ok_thoughts.json", 200, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "97 is prime.");
    assert_int_equal(r.prompt_tokens, 127);    /* 120 + 7 tool use */
    assert_int_equal(r.cached_tokens, 100);
    assert_int_equal(r.completion_tokens, 254); /* 4 + 250 thoughts */
    assert_int_equal(r.reasoning_tokens, 250);
    assert_string_equal(lr_buf_str(&r.model), "gemini-2.5-pro");
    fake_result_free(&r);

    parse_file(t, "ok_no_parts.json", 200, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "");
    assert_int_equal(r.finish, LR_FINISH_LENGTH);
    assert_int_equal(r.prompt_tokens, 9);
    assert_int_equal(r.completion_tokens, 64); /* no candidatesTokenCount */
    assert_int_equal(r.reasoning_tokens, 64);
    fake_result_free(&r);
}

static void test_parse_function_call(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "ok_function_call.json", 200, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "Checking.");
    assert_int_equal(r.finish, LR_FINISH_TOOL_CALLS);
    cJSON *calls = cJSON_Parse(lr_buf_str(&r.tool_calls_json));
    assert_json(calls,
                "[{\"id\":\"call_0\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_weather\",\"arguments\":"
                "\"{\\\"city\\\":\\\"Paris\\\",\\\"unit\\\":\\\"c\\\"}\"},"
                "\"extra_content\":{\"google\":{\"thought_signature\":"
                "\"c2lnQQ==\"}}},"
                "{\"id\":\"fc-77\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_time\",\"arguments\":\"{}\"}}]");
    cJSON_Delete(calls);
    fake_result_free(&r);
}

static void test_parse_finish_mapping(void **state)
{
    struct provider_fx *t = *state;
    static const struct {
        const char *reason;
        enum lr_finish want;
    } rows[] = {
        {"STOP", LR_FINISH_STOP},
        {"MAX_TOKENS", LR_FINISH_LENGTH},
        {"SAFETY", LR_FINISH_CONTENT_FILTER},
        {"RECITATION", LR_FINISH_CONTENT_FILTER},
        {"BLOCKLIST", LR_FINISH_CONTENT_FILTER},
        {"PROHIBITED_CONTENT", LR_FINISH_CONTENT_FILTER},
        {"SPII", LR_FINISH_CONTENT_FILTER},
        {"IMAGE_SAFETY", LR_FINISH_CONTENT_FILTER},
        {"IMAGE_PROHIBITED_CONTENT", LR_FINISH_CONTENT_FILTER},
        {"LANGUAGE", LR_FINISH_OTHER},
        {"OTHER", LR_FINISH_OTHER},
        {"MALFORMED_FUNCTION_CALL", LR_FINISH_OTHER},
        {"UNEXPECTED_TOOL_CALL", LR_FINISH_OTHER},
        {"TOO_MANY_TOOL_CALLS", LR_FINISH_OTHER},
        {"FINISH_REASON_UNSPECIFIED", LR_FINISH_OTHER},
        {"SOMETHING_NEW", LR_FINISH_OTHER},
    };
    char body[256];
    struct lr_result r;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
                 "\"x\"}]},\"finishReason\":\"%s\"}]}", rows[i].reason);
        assert_int_equal(parse_body(t, body, strlen(body), 200, &r), LR_OK);
        assert_int_equal(r.error, LR_OK);
        if (r.finish != rows[i].want)
            fail_msg("%s: finish %d, want %d", rows[i].reason, r.finish,
                     rows[i].want);
        fake_result_free(&r);
    }
}

static void test_parse_blocked_prompt(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    parse_file(t, "blocked_prompt.json", 200, &r);
    assert_int_equal(r.error, LR_E_CONTENT_FILTER);
    assert_int_equal(r.finish, LR_FINISH_CONTENT_FILTER);
    assert_string_equal(lr_buf_str(&r.error_message),
                        "prompt blocked by Gemini: PROHIBITED_CONTENT");
    assert_string_equal(lr_buf_str(&r.text), "");
    assert_int_equal(r.prompt_tokens, 12);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);

    parse_file(t, "ok_no_candidates.json", 200, &r);
    assert_int_equal(r.error, LR_E_PROTOCOL);
    assert_non_null(strstr(lr_buf_str(&r.error_message),
                           "HTTP 200 without candidates"));
    fake_result_free(&r);
}

struct err_row {
    const char *file;
    long status;
    enum lr_status want;
    int64_t hint;
    const char *in_message;
};

static void check_errors(struct provider_fx *t, const struct err_row *rows, size_t n)
{
    struct lr_result r;
    for (size_t i = 0; i < n; i++) {
        parse_file(t, rows[i].file, rows[i].status, &r);
        if (r.error != rows[i].want || r.retry_after_ms != rows[i].hint)
            fail_msg("%s: class %d hint %lld, want %d hint %lld",
                     rows[i].file, r.error, (long long)r.retry_after_ms,
                     rows[i].want, (long long)rows[i].hint);
        assert_int_equal(r.finish, LR_FINISH_ERROR);
        assert_non_null(strstr(lr_buf_str(&r.error_message),
                               rows[i].in_message));
        fake_result_free(&r);
    }
}

static void test_parse_errors(void **state)
{
    static const struct err_row rows[] = {
        {"err_400_api_key.json", 400, LR_E_AUTH, -1, "API key not valid"},
        {"err_400_expired_key.json", 400, LR_E_AUTH, -1, "[redacted]"},
        {"err_400_context.json", 400, LR_E_CONTEXT_LENGTH, -1,
         "exceeds the maximum"},
        {"err_400_invalid.json", 400, LR_E_BAD_REQUEST, -1, "Unknown name"},
        {"err_400_precondition.json", 400, LR_E_BAD_REQUEST, -1,
         "location"},
        {"err_403.json", 403, LR_E_AUTH, -1, "leaked"},
        {"err_404.json", 404, LR_E_BAD_REQUEST, -1, "not found"},
        {"err_429_minute.json", 429, LR_E_RATE_LIMITED, 37000, "quota"},
        {"err_429_minute_reordered.json", 429, LR_E_RATE_LIMITED, 1500,
         "quota"},
        {"err_429_zero.json", 429, LR_E_QUOTA_EXHAUSTED, -1, "limit: 0"},
        {"err_429_no_details.json", 429, LR_E_RATE_LIMITED, -1,
         "exhausted"},
        {"err_500.json", 500, LR_E_SERVER_ERROR, -1, "internal error"},
        {"err_504.json", 504, LR_E_SERVER_ERROR, -1, "timed out"},
        {"err_503.json", 503, LR_E_OVERLOADED, 250, "overloaded"},
        {"err_array_503.json", 503, LR_E_OVERLOADED, -1, "unavailable"},
        {"err_array_400_key.json", 400, LR_E_AUTH, -1, "API key"},
        {"err_no_message.json", 500, LR_E_SERVER_ERROR, -1,
         "INTERNAL (code 500)"},
        /* an error in a 200 body: the class comes from error.code */
        {"ok_200_error.json", 200, LR_E_RATE_LIMITED, -1, "in a 200"},
        {"html_502.html", 502, LR_E_SERVER_ERROR, -1,
         "HTTP 502: <html><head><title>502 Bad Gateway"},
        {"ok_200_garbage.html", 200, LR_E_PROTOCOL, -1,
         "HTTP 200 with an unreadable body"},
    };
    check_errors(*state, rows, sizeof rows / sizeof rows[0]);
}

static void test_parse_status_from_canonical(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const char *b = "{\"error\":{\"message\":\"busy\",\"status\":"
                    "\"UNAVAILABLE\"}}";
    assert_int_equal(parse_body(t, b, strlen(b), 200, &r), LR_OK);
    assert_int_equal(r.error, LR_E_OVERLOADED);
    fake_result_free(&r);
    b = "{\"error\":{\"message\":\"who\",\"status\":\"UNAUTHENTICATED\"}}";
    assert_int_equal(parse_body(t, b, strlen(b), 200, &r), LR_OK);
    assert_int_equal(r.error, LR_E_AUTH);
    fake_result_free(&r);
    /* empty and non-object bodies */
    assert_int_equal(parse_body(t, "", 0, 503, &r), LR_OK);
    assert_int_equal(r.error, LR_E_OVERLOADED);
    assert_string_equal(lr_buf_str(&r.error_message), "HTTP 503 (empty body)");
    fake_result_free(&r);
    assert_int_equal(parse_body(t, "[1,2]", 5, 429, &r), LR_OK);
    assert_int_equal(r.error, LR_E_RATE_LIMITED);
    fake_result_free(&r);
}

/* Per-day quota: the hint is the next midnight in Los Angeles. */
static void test_per_day_midnight_pacific(void **state)
{
    struct provider_fx *t = *state;
    static const struct {
        int64_t wall;
        int64_t want;
    } rows[] = {
        /* 2025-03-08 12:00 PST -> 03-09 00:00 PST */
        {1741464000000LL, 12 * 3600000LL},
        /* 2025-03-09 01:30 PST, DST starts at 2:00 -> a 23-hour day */
        {1741512600000LL, 21 * 3600000LL + 1800000LL},
        /* 2025-03-09 05:00 PDT -> 03-10 00:00 PDT */
        {1741521600000LL, 19 * 3600000LL},
        /* 2025-11-02 01:30 PDT (the first) -> a 25-hour day */
        {1762072200000LL, 23 * 3600000LL + 1800000LL},
        /* 2025-11-02 01:30 PST (the second) */
        {1762075800000LL, 22 * 3600000LL + 1800000LL},
        /* exactly midnight PDT: the next one, a day later */
        {1751353200000LL, 24 * 3600000LL},
        /* 2024-12-31 15:00 PST -> 2025-01-01 00:00 PST */
        {1735686000000LL, 9 * 3600000LL},
    };
    struct lr_result r;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fake_host_set_time(t->fh, 5, rows[i].wall);
        parse_file(t, "err_429_day.json", 429, &r);
        assert_int_equal(r.error, LR_E_QUOTA_EXHAUSTED);
        if (r.retry_after_ms != rows[i].want)
            fail_msg("row %zu: hint %lld, want %lld", i,
                     (long long)r.retry_after_ms, (long long)rows[i].want);
        fake_result_free(&r);
    }
}

/* --- Streams through the core's SSE framer ---------------------------- */

struct drive {
    struct provider_fx *t;
    void *st;
    struct lr_result acc;
    struct lr_buf delta;
    int events, done;
};

static int on_event(const struct lr_sse_event *ev, void *user)
{
    struct drive *d = user;
    lr_buf_reset(&d->delta);
    int rc = ops->stream_event(d->t->inst, d->st, ev, &d->acc, &d->delta);
    d->events++;
    if (rc == LR_STREAM_DONE)
        d->done = 1;
    else if (rc != LR_OK)
        return rc;
    if (d->delta.len)
        lr_buf_append(&d->acc.text, d->delta.data, d->delta.len);
    return d->acc.error != LR_OK ? d->acc.error : LR_OK;
}

/* Feeds text in two chunks cut at cut, then EOF, as core/transfer.c
   does; returns a one-line summary of the outcome. */
static char *run_cut(struct provider_fx *t, const char *text, size_t len, size_t cut)
{
    struct drive d = {.t = t};
    struct lr_sse sse;
    fake_result_init(&d.acc);
    assert_int_equal(ops->stream_begin(t->inst, &d.st), LR_OK);
    lr_sse_init(&sse, 0);
    int rc = lr_sse_feed(&sse, text, cut, on_event, &d);
    if (rc == LR_OK)
        rc = lr_sse_feed(&sse, text + cut, len - cut, on_event, &d);
    if (rc == LR_OK)
        rc = lr_sse_finish(&sse, 1, on_event, &d);
    lr_sse_free(&sse);
    ops->stream_end(t->inst, d.st);
    int complete = d.done || d.acc.finish != LR_FINISH_NONE;
    size_t n = 1024 + d.acc.text.len + d.acc.tool_calls_json.len +
               d.acc.error_message.len;
    char *s = malloc(n);
    snprintf(s, n, "rc=%d events=%d done=%d complete=%d err=%d msg=%s "
             "hint=%lld text=%s finish=%d calls=%s p=%lld c=%lld r=%lld "
             "model=%s id=%s", rc, d.events, d.done, complete, d.acc.error,
             lr_buf_str(&d.acc.error_message),
             (long long)d.acc.retry_after_ms, lr_buf_str(&d.acc.text),
             d.acc.finish, lr_buf_str(&d.acc.tool_calls_json),
             (long long)d.acc.prompt_tokens,
             (long long)d.acc.completion_tokens,
             (long long)d.acc.reasoning_tokens, lr_buf_str(&d.acc.model),
             lr_buf_str(&d.acc.request_id));
    fake_result_free(&d.acc);
    lr_buf_free(&d.delta);
    assert_null(strstr(s, KEY));
    return s;
}

/* The summary of a transcript, checked identical at every cut. */
static char *run_all_cuts(struct provider_fx *t, const char *file)
{
    char path[128];
    size_t len;
    snprintf(path, sizeof path, "gemini/%s", file);
    char *text = fake_read_file(path, &len);
    assert_non_null(text);
    char *whole = run_cut(t, text, len, len);
    for (size_t cut = 0; cut < len; cut++) {
        char *s = run_cut(t, text, len, cut);
        if (strcmp(s, whole) != 0)
            fail_msg("%s cut at %zu:\n %s\nwhole:\n %s", file, cut, s,
                     whole);
        free(s);
    }
    free(text);
    return whole;
}

static void expect(char *summary, const char *want)
{
    if (strcmp(summary, want) != 0)
        fail_msg("got\n %s\nwant\n %s", summary, want);
    free(summary);
}

static void test_stream_plain(void **state)
{
    expect(run_all_cuts(*state, "stream_plain.sse"),
           "rc=0 events=3 done=0 complete=1 err=0 msg= hint=-1 "
           "text=Hello w\xc3\xb6rld \xf0\x9f\x9a\x80! finish=1 calls= "
           "p=8 c=34 r=30 model=gemini-2.5-flash id=s-1");
}

static void test_stream_function_call(void **state)
{
    expect(run_all_cuts(*state, "stream_function_call.sse"),
           "rc=0 events=3 done=0 complete=1 err=0 msg= hint=-1 "
           "text=Let me check. finish=3 calls=[{\"id\":\"call_0\",\"type\":"
           "\"function\",\"function\":{\"name\":\"get_weather\","
           "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
           "\"extra_content\":{\"google\":{\"thought_signature\":"
           "\"c2ln\"}}},{\"id\":\"call_1\",\"type\":\"function\","
           "\"function\":{\"name\":\"get_time\",\"arguments\":"
           "\"{\\\"tz\\\":\\\"CET\\\"}\"}}] p=20 c=15 r=0 "
           "model=gemini-2.5-flash id=s-1");
}

static void test_stream_error_chunk(void **state)
{
    expect(run_all_cuts(*state, "stream_error.sse"),
           "rc=3 events=2 done=0 complete=1 err=3 msg=The model is "
           "overloaded. Please try again later. hint=-1 text=Partial "
           "finish=6 calls= p=5 c=0 r=0 model=gemini-2.5-flash id=s-1");
}

static void test_stream_cut_short(void **state)
{
    /* no finishReason and no end marker: the core will call it cut */
    expect(run_all_cuts(*state, "stream_cut.sse"),
           "rc=0 events=2 done=0 complete=0 err=0 msg= hint=-1 "
           "text=Once upon a time finish=0 calls= p=5 c=4 r=0 "
           "model=gemini-2.5-flash id=s-1");
}

static void test_stream_blocked_and_garbage(void **state)
{
    expect(run_all_cuts(*state, "stream_blocked.sse"),
           "rc=10 events=1 done=0 complete=1 err=10 msg=prompt blocked by "
           "Gemini: SAFETY hint=-1 text= finish=4 calls= p=7 c=0 r=0 "
           "model=gemini-2.5-flash id=s-1");
    expect(run_all_cuts(*state, "stream_garbage.sse"),
           "rc=106 events=2 done=0 complete=1 err=106 msg=unreadable "
           "stream event: <html>oops hint=-1 text=ok finish=6 calls= p=-1 "
           "c=-1 r=0 model=gemini-2.5-flash id=s-1");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_build_minimal),
        T(test_build_stream_url_version),
        T(test_build_url_query),
        T(test_build_roles_merge_system),
        T(test_build_generation_config),
        T(test_build_hints),
        T(test_build_response_format),
        T(test_build_tools),
        T(test_build_function_history),
        T(test_build_function_errors),
        T(test_parse_plain),
        T(test_parse_thoughts_usage),
        T(test_parse_function_call),
        T(test_parse_finish_mapping),
        T(test_parse_blocked_prompt),
        T(test_parse_errors),
        T(test_parse_status_from_canonical),
        T(test_per_day_midnight_pacific),
        T(test_stream_plain),
        T(test_stream_function_call),
        T(test_stream_error_chunk),
        T(test_stream_cut_short),
        T(test_stream_blocked_and_garbage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
#undef T
}
