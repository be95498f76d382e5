/*
 * test_provider_openai.c - the OpenAI provider as the core sees it: the
 * real openai.so, dlopen'ed from $LLMROUTE_TEST_BUILD/plugins and called
 * through its descriptor with the fake host (tests/support).
 *
 * Requests are checked by parsing the body back (field by field, never by
 * text, since key order is not a contract).  Responses and SSE
 * transcripts come from tests/data/openai/.  Streams are split here with
 * a deliberately minimal SSE splitter (blank-line separated, "data:" and
 * "event:" lines only): the core's framer is tested on its own.
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
#include "comma_locale.h"
#include "llmroute_plugin.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

#define KEY "sk-test-SECRET-0123456789"

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
    struct provider_fx *t = provider_fx_new(desc, "gpt-mini", "gpt-4.1-mini",
                                            KEY);
    *state = t;
    return t ? 0 : -1;
}

static int teardown(void **state)
{
    provider_fx_free(desc, *state);
    return 0;
}

/* --- Descriptor ------------------------------------------------------ */

static void test_descriptor(void **state)
{
    (void)state;
    assert_int_equal(desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(desc->abi_minor, LR_PLUGIN_ABI_MINOR);
    assert_int_equal(desc->struct_size, sizeof(struct lr_plugin_desc));
    assert_string_equal(desc->name, "openai");
    assert_int_equal(desc->kind, LR_PLUGIN_PROVIDER);
    assert_int_equal(desc->ops_size, sizeof(struct lr_provider_ops));
    assert_string_equal(ops->default_base_url, "https://api.openai.com/v1");
    assert_non_null(ops->build_request);
    assert_non_null(ops->parse_response);
    assert_non_null(ops->stream_event);
    assert_int_equal(ops->n_target_keys, 5);
    const char *want[] = {"organization", "project", "max_tokens_field",
                          "stream_usage", "auth_header"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(ops->target_keys[i].key, want[i]);
    assert_string_equal(ops->target_keys[2].def, "max_completion_tokens");
    assert_int_equal(ops->target_keys[3].type, LR_CFG_BOOL);
    assert_int_equal(ops->target_keys[4].type, LR_CFG_STRING);
    assert_string_equal(ops->target_keys[4].def, "auto");
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
    /* never any secret in an error text */
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
                        "https://api.openai.com/v1/chat/completions");
    assert_string_equal(b.rq.headers.data,
                        "Authorization: Bearer " KEY "\n"
                        "Content-Type: application/json\n"
                        "Accept: application/json");
    assert_json(b.body, "{\"model\":\"gpt-4.1-mini\",\"messages\":"
                        "[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    built_free(&b);
    /* a pure translator: nothing logged, least of all the key */
    assert_null(strstr(fake_host_log(t->fh), KEY));
}

static void test_build_system_multiturn(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "A prime above 90?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "97.", NULL, NULL, NULL},
        {LR_ROLE_USER, "Another? \"quoted\" \xc3\xa9\n", NULL, NULL, NULL},
    };
    struct lr_chat c = {.system = "Answer tersely.", .messages = m,
                        .n_messages = 3};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "messages"),
                "[{\"role\":\"system\",\"content\":\"Answer tersely.\"},"
                "{\"role\":\"user\",\"content\":\"A prime above 90?\"},"
                "{\"role\":\"assistant\",\"content\":\"97.\"},"
                "{\"role\":\"user\",\"content\":"
                "\"Another? \\\"quoted\\\" \\u00e9\\n\"}]");
    assert_int_equal(cJSON_GetArraySize(b.body), 2);
    built_free(&b);
}

static void test_build_max_tokens_fields(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .max_tokens = 300};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_int_equal(field(b.body, "max_completion_tokens")->valuedouble,
                     300);
    assert_null(field(b.body, "max_tokens"));
    built_free(&b);

    fake_section_set(t->sec, "max_tokens_field", "max_tokens");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_int_equal(field(b.body, "max_tokens")->valuedouble, 300);
    assert_null(field(b.body, "max_completion_tokens"));
    built_free(&b);

    fake_section_set(t->sec, "max_tokens_field", "max_output_tokens");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_non_null(strstr(b.err, "max_tokens_field"));
    built_free(&b);

    /* 0 means "not set": no field at all */
    fake_section_set(t->sec, "max_tokens_field", NULL);
    c.max_tokens = 0;
    build(t, &c, &b);
    assert_null(field(b.body, "max_completion_tokens"));
    assert_null(field(b.body, "max_tokens"));
    built_free(&b);
}

static void test_build_sampling(void **state)
{
    struct provider_fx *t = *state;
    const char *const stop[] = {"\n\n##", "END"};
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .temperature = 0.2, .has_temperature = 1,
                        .stop = stop, .n_stop = 2, .user = "user-42"};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_true(field(b.body, "temperature")->valuedouble == 0.2);
    assert_json(field(b.body, "stop"), "[\"\\n\\n##\",\"END\"]");
    assert_string_equal(field(b.body, "user")->valuestring, "user-42");
    assert_null(field(b.body, "stream"));
    built_free(&b);

    c.temperature = 0; /* zero is a value, not "unset" */
    c.n_stop = 0;
    c.user = NULL;
    build(t, &c, &b);
    assert_true(cJSON_IsNumber(field(b.body, "temperature")));
    assert_true(field(b.body, "temperature")->valuedouble == 0);
    assert_null(field(b.body, "stop"));
    assert_null(field(b.body, "user"));
    built_free(&b);

    const char *const only_null[] = {NULL};
    c.has_temperature = 0;
    c.stop = only_null;
    c.n_stop = 1;
    build(t, &c, &b);
    assert_null(field(b.body, "temperature"));
    assert_null(field(b.body, "stop"));
    built_free(&b);

    c.has_temperature = 1;
    c.temperature = NAN;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "temperature"));
    built_free(&b);
}

/* ABI 1.3 hints: each lands as OpenAI names it, only when set. */
static void test_build_hints(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;

    build(t, &c, &b);
    assert_null(field(b.body, "top_p"));
    assert_null(field(b.body, "seed"));
    assert_null(field(b.body, "presence_penalty"));
    assert_null(field(b.body, "frequency_penalty"));
    assert_null(field(b.body, "response_format"));
    built_free(&b);

    c.has_top_p = 1;
    c.top_p = 0.9;
    build(t, &c, &b);
    assert_true(field(b.body, "top_p")->valuedouble == 0.9);
    assert_null(field(b.body, "seed"));
    built_free(&b);

    c.has_top_p = 0;
    c.has_presence_penalty = 1;
    c.presence_penalty = -2;
    c.has_frequency_penalty = 1;
    c.frequency_penalty = 0; /* zero is a value, not "unset" */
    c.has_seed = 1;
    c.seed = 9007199254740993LL; /* 2^53 + 1: no double holds it */
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_null(field(b.body, "top_p"));
    assert_true(field(b.body, "presence_penalty")->valuedouble == -2);
    assert_true(cJSON_IsNumber(field(b.body, "frequency_penalty")));
    assert_true(field(b.body, "frequency_penalty")->valuedouble == 0);
    assert_non_null(strstr(lr_buf_str(&b.rq.body),
                           ",\"seed\":9007199254740993"));
    built_free(&b);

    c.seed = INT64_MIN;
    build(t, &c, &b);
    assert_non_null(strstr(lr_buf_str(&b.rq.body),
                           ",\"seed\":-9223372036854775808"));
    built_free(&b);

    c.has_presence_penalty = 0;
    c.has_top_p = 1;
    c.top_p = NAN;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "top_p: not a finite number");
    assert_int_equal(b.rq.body.len, 0);
    built_free(&b);
}

/* response_format goes out as given (compact), also with tools. */
static void test_build_response_format(void **state)
{
    struct provider_fx *t = *state;
    static const char schema[] =
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"answer\","
        "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":"
        "{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}}}";
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .response_format_json = "{\"type\":\"json_object\"}"};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "response_format"), "{\"type\":\"json_object\"}");
    built_free(&b);

    c.response_format_json = schema;
    c.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    c.has_top_p = 1;
    c.top_p = 0.5;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "response_format"), schema);
    assert_non_null(strstr(lr_buf_str(&b.rq.body), schema));
    assert_non_null(field(b.body, "tools"));
    assert_true(field(b.body, "top_p")->valuedouble == 0.5);
    built_free(&b);

    /* Text the core never checked (a direct caller): refused. */
    c.response_format_json = "[\"json_object\"]";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "response_format_json: not a JSON object");
    built_free(&b);
    c.response_format_json = "{\"type\":";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "response_format_json: invalid JSON");
    built_free(&b);
}

static void test_build_stream(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1, .stream = 1};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_true(cJSON_IsTrue(field(b.body, "stream")));
    assert_json(field(b.body, "stream_options"), "{\"include_usage\":true}");
    assert_non_null(strstr(b.rq.headers.data, "Accept: text/event-stream"));
    assert_null(strstr(b.rq.headers.data, "application/json\nAccept: "
                                          "application/json"));
    built_free(&b);

    fake_section_set(t->sec, "stream_usage", "false");
    build(t, &c, &b);
    assert_true(cJSON_IsTrue(field(b.body, "stream")));
    assert_null(field(b.body, "stream_options"));
    built_free(&b);
}

#define TOOLS                                                             \
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","     \
    "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\","    \
    "\"properties\":{\"city\":{\"type\":\"string\"}},"                    \
    "\"required\":[\"city\"]}}}]"

static void test_build_tools(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .tools_json = TOOLS,
                        .tool_choice_json =
                            "{\"type\":\"function\",\"function\":"
                            "{\"name\":\"get_weather\"}}"};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_json(field(b.body, "tools"), TOOLS);
    assert_json(field(b.body, "tool_choice"),
                "{\"type\":\"function\",\"function\":"
                "{\"name\":\"get_weather\"}}");
    built_free(&b);

    c.tool_choice_json = "\"required\"";
    build(t, &c, &b);
    assert_json(field(b.body, "tool_choice"), "\"required\"");
    built_free(&b);

    c.tool_choice_json = "auto"; /* bare word: accepted leniently */
    build(t, &c, &b);
    assert_json(field(b.body, "tool_choice"), "\"auto\"");
    built_free(&b);

    c.tool_choice_json = NULL;
    c.tools_json = NULL;
    build(t, &c, &b);
    assert_null(field(b.body, "tools"));
    assert_null(field(b.body, "tool_choice"));
    built_free(&b);
}

static void test_build_tool_messages(void **state)
{
    struct provider_fx *t = *state;
    const char *calls = "[{\"id\":\"call_1\",\"type\":\"function\","
                        "\"function\":{\"name\":\"get_weather\","
                        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]";
    const struct lr_message m[] = {
        {LR_ROLE_USER, "Weather in Paris?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, calls, NULL, NULL},
        {LR_ROLE_TOOL, "{\"temp\":21}", NULL, "call_1", "get_weather"},
        {LR_ROLE_ASSISTANT, "Checking.", calls, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "[]", NULL, NULL},
    };
    struct lr_chat c = {.messages = m, .n_messages = 5,
                        .tools_json = TOOLS};
    struct built b;
    char want[1024];

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    snprintf(want, sizeof want,
             "[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
             "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":%s},"
             "{\"role\":\"tool\",\"content\":\"{\\\"temp\\\":21}\","
             "\"tool_call_id\":\"call_1\"},"
             "{\"role\":\"assistant\",\"content\":\"Checking.\","
             "\"tool_calls\":%s},"
             "{\"role\":\"assistant\",\"content\":\"\"}]",
             calls, calls);
    assert_json(field(b.body, "messages"), want);
    built_free(&b);
}

static void test_build_bad_json(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "x", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "[{\"id\":", NULL, NULL},
    };
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .tools_json = "[{\"type\":\"function\""};
    struct built b;

    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "tools_json: invalid JSON");
    built_free(&b);

    c.tools_json = "{\"type\":\"function\"}";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "tools_json: not a JSON array");
    built_free(&b);

    c.tools_json = "[] trailing";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    built_free(&b);

    c.tools_json = NULL;
    c.tool_choice_json = "[1]";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_non_null(strstr(b.err, "tool_choice_json"));
    built_free(&b);

    c.tool_choice_json = NULL;
    c.messages = m;
    c.n_messages = 2;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    assert_string_equal(b.err, "messages[1].tool_calls_json: invalid JSON");
    built_free(&b);

    struct lr_message bad_role = {(enum lr_role)9, "x", NULL, NULL, NULL};
    c.messages = &bad_role;
    c.n_messages = 1;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_INVALID_ARG);
    built_free(&b);
}

/* A base_url's query (Azure's api-version, a proxy's key) goes after
   our path; a fragment is never sent. */
static void test_build_url_query(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    static const char *const cases[][2] = {
        {"https://x.openai.azure.com/openai/deployments/d?api-version="
         "2024-06-01",
         "https://x.openai.azure.com/openai/deployments/d/chat/completions"
         "?api-version=2024-06-01"},
        {"http://h/v1/?key=k1&a=b#frag", "http://h/v1/chat/completions"
                                          "?key=k1&a=b"},
        {"http://h/v1?", "http://h/v1/chat/completions"},
        {"http://h/v1#x?y", "http://h/v1/chat/completions"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t->target.base_url = cases[i][0];
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_OK);
        assert_string_equal(b.rq.url.data, cases[i][1]);
        built_free(&b);
    }
}

static void test_build_headers_and_url(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;

    t->target.api_key = "";
    t->target.base_url = "http://127.0.0.1:11434/v1/";
    fake_section_set(t->sec, "organization", "org-123");
    fake_section_set(t->sec, "project", "proj_abc");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_string_equal(b.rq.url.data,
                        "http://127.0.0.1:11434/v1/chat/completions");
    assert_string_equal(b.rq.headers.data,
                        "Content-Type: application/json\n"
                        "Accept: application/json\n"
                        "OpenAI-Organization: org-123\n"
                        "OpenAI-Project: proj_abc");
    built_free(&b);

    /* a header value must not smuggle a second header line */
    fake_section_set(t->sec, "project", "p\r\nX-Evil: 1");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    built_free(&b);
    fake_section_set(t->sec, "project", NULL);

    t->target.api_key = KEY "\nX-Evil: 1";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_null(strstr(b.err, "X-Evil"));
    built_free(&b);

    /* no section at all: defaults apply */
    t->target.api_key = KEY;
    t->target.section = NULL;
    c.max_tokens = 5;
    c.stream = 1;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_non_null(field(b.body, "max_completion_tokens"));
    assert_non_null(field(b.body, "stream_options"));
    built_free(&b);

    t->target.model = "";
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    built_free(&b);
}

/* --- The auth header (auth_header) ------------------------------------ */

#define AZURE "https://res.openai.azure.com/openai/deployments/d" \
              "?api-version=2024-06-01"
#define REST "Content-Type: application/json\nAccept: application/json"

/* Builds with auth_header = mode (NULL: unset) against base; asserts the
   headers are want. */
static void headers_are(struct provider_fx *t, const char *mode,
                        const char *base, const char *want)
{
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    fake_section_set(t->sec, "auth_header", mode);
    t->target.base_url = base;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    if (strcmp(b.rq.headers.data, want) != 0)
        fail_msg("auth_header %s, base_url %s:\n got  %s\n want %s",
                 mode ? mode : "(unset)", base, b.rq.headers.data, want);
    built_free(&b);
}

static void test_auth_header_modes(void **state)
{
    struct provider_fx *t = *state;
    const char *bearer = "Authorization: Bearer " KEY "\n" REST;
    const char *api_key = "api-key: " KEY "\n" REST;

    /* auto, set or not: by the host */
    headers_are(t, NULL, "https://api.openai.com/v1", bearer);
    headers_are(t, "auto", "https://api.openai.com/v1", bearer);
    headers_are(t, NULL, AZURE, api_key);
    headers_are(t, "auto", AZURE, api_key);
    headers_are(t, NULL, "https://r.cognitiveservices.azure.com/openai/v1",
                api_key);
    /* an explicit mode wins over the host either way */
    headers_are(t, "bearer", AZURE, bearer);
    headers_are(t, "api-key", "http://127.0.0.1:4000/v1", api_key);
    headers_are(t, "api-key", "https://apim.example/openai?x=1", api_key);

    /* no key: no auth header at all, whatever the mode */
    t->target.api_key = "";
    headers_are(t, "api-key", AZURE, REST);
    headers_are(t, NULL, AZURE, REST);
    headers_are(t, "bearer", "https://api.openai.com/v1", REST);

    /* no section: the default (auto) still applies */
    t->target.api_key = KEY;
    t->target.section = NULL;
    t->target.base_url = AZURE;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_OK);
    assert_string_equal(b.rq.headers.data, api_key);
    built_free(&b);
}

/* Only the host counts, as a whole-label suffix. */
static void test_auth_header_auto_hosts(void **state)
{
    struct provider_fx *t = *state;
    const char *bearer = "Authorization: Bearer " KEY "\n" REST;
    const char *api_key = "api-key: " KEY "\n" REST;
    static const char *const azure[] = {
        "https://RES.OpenAI.Azure.COM/openai/deployments/d",
        "https://res.openai.azure.com:443/openai/v1",
        "https://res.openai.azure.com./openai/v1",
        "https://user@res.openai.azure.com/openai/v1",
        "https://res.openai.azure.com",
        "https://res.openai.azure.com?api-version=2024-06-01",
        "https://a.b.cognitiveservices.azure.com/openai/v1#frag",
    };
    static const char *const not_azure[] = {
        "https://openai.azure.com.evil.example/v1",
        "https://res.openai.azure.com.evil.example/v1",
        "https://res.openai.azure.com@evil.example/v1",
        "https://evil.example/res.openai.azure.com/v1",
        "https://evil.example/v1?h=res.openai.azure.com",
        "https://evil.example/v1#res.openai.azure.com",
        "https://evil.example:1/v1@res.openai.azure.com",
        "https://openai.azure.com/v1",
        "https://notopenai.azure.com/v1",
        "https://res.openai.azure.co/v1",
        "https://res.openai.azure.us/v1",
        "https://res.azure-api.net/openai",
        "http://[::1]:8080/v1",
        "http://127.0.0.1:11434/v1",
    };
    for (size_t i = 0; i < sizeof azure / sizeof azure[0]; i++)
        headers_are(t, NULL, azure[i], api_key);
    for (size_t i = 0; i < sizeof not_azure / sizeof not_azure[0]; i++)
        headers_are(t, NULL, not_azure[i], bearer);
}

/* A bad value fails the build naming the key and the value, never the
   API key, whose leak the build() helper checks on every call. */
static void test_auth_header_bad_values(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    struct built b;
    static const char *const hidden[] = {
        KEY, ("Bearer " KEY), "sk-test-SECRET", "xx-SECRET-012",
        "api-key\\r\\nX-Evil: 1", "api-key\r\nX-Evil: 1",
    };

    t->target.base_url = AZURE;
    fake_section_set(t->sec, "auth_header", "Bearer");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_string_equal(b.err, "auth_header: \"Bearer\" is not bearer, "
                               "api-key or auto");
    assert_int_equal(b.rq.body.len, 0);
    built_free(&b);

    fake_section_set(t->sec, "auth_header", "");
    build(t, &c, &b);
    assert_int_equal(b.rc, LR_E_CONFIG);
    assert_non_null(strstr(b.err, "auth_header: \"\""));
    built_free(&b);

    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        fake_section_set(t->sec, "auth_header", hidden[i]);
        build(t, &c, &b);
        assert_int_equal(b.rc, LR_E_CONFIG);
        if (i < 4) {   /* 8 bytes of the key: never shown */
            assert_null(strstr(b.err, "SECRET"));
            assert_null(strstr(b.err, "sk-test"));
        }
        if (i == 4)    /* printable: shown as written */
            assert_non_null(strstr(b.err, "X-Evil"));
        if (i == 5)    /* a real line break: not shown */
            assert_null(strstr(b.err, "X-Evil"));
        assert_non_null(strstr(b.err, "auth_header: "));
        assert_null(strchr(b.err, '\n'));
        built_free(&b);
    }
    assert_null(strstr(fake_host_log(t->fh), KEY));
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
    snprintf(path, sizeof path, "openai/%s", file);
    char *body = fake_read_file(path, &len);
    assert_non_null(body);
    assert_int_equal(parse_body(t, body, len, status, h, nh, r), LR_OK);
    free(body);
}

static void test_parse_plain(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_header h[] = {{"x-request-id", "req_abc123"},
                                  {"x-ratelimit-remaining-requests", "0"},
                                  {"x-ratelimit-reset-requests", "1s"}};
    struct lr_result r;
    parse_file(t, "ok_plain.json", 200, h, 3, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "101.");
    assert_int_equal(r.finish, LR_FINISH_STOP);
    assert_string_equal(lr_buf_str(&r.model), "gpt-4.1-mini-2025-04-14");
    assert_string_equal(lr_buf_str(&r.request_id), "req_abc123");
    assert_string_equal(lr_buf_str(&r.tool_calls_json), "");
    assert_int_equal(r.prompt_tokens, 41);
    assert_int_equal(r.completion_tokens, 3);
    assert_int_equal(r.cached_tokens, 0);
    assert_int_equal(r.reasoning_tokens, 0);
    assert_int_equal(r.retry_after_ms, -1); /* no hint on success */
    assert_int_equal(r.error_message.len, 0);
    fake_result_free(&r);
}

static void test_parse_tool_calls(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    cJSON *calls;

    parse_file(t, "ok_tool_call.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "");
    assert_int_equal(r.finish, LR_FINISH_TOOL_CALLS);
    calls = cJSON_Parse(lr_buf_str(&r.tool_calls_json));
    assert_json(calls, "[{\"id\":\"call_abc123\",\"type\":\"function\","
                       "\"function\":{\"name\":\"get_weather\",\"arguments\":"
                       "\"{\\\"city\\\":\\\"Paris\\\","
                       "\\\"unit\\\":\\\"c\\\"}\"}}]");
    cJSON_Delete(calls);
    assert_int_equal(r.prompt_tokens, 82);
    fake_result_free(&r);

    parse_file(t, "ok_multi_tool_calls.json", 200, NULL, 0, &r);
    calls = cJSON_Parse(lr_buf_str(&r.tool_calls_json));
    assert_json(calls,
                "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_weather\",\"arguments\":"
                "\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                "{\"id\":\"call_2\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_time\",\"arguments\":"
                "\"{\\\"tz\\\":\\\"Europe/Paris\\\"}\"}},"
                "{\"id\":\"call_3\",\"type\":\"function\",\"function\":"
                "{\"name\":\"no_args\",\"arguments\":\"{}\"}},"
                "{\"id\":\"call_4\",\"type\":\"function\",\"function\":"
                "{\"name\":\"bad_args\",\"arguments\":\"{not json\"}}]");
    cJSON_Delete(calls);
    fake_result_free(&r);

    parse_file(t, "ok_legacy_function_call.json", 200, NULL, 0, &r);
    assert_int_equal(r.finish, LR_FINISH_TOOL_CALLS);
    calls = cJSON_Parse(lr_buf_str(&r.tool_calls_json));
    assert_json(calls, "[{\"id\":\"\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"lookup\",\"arguments\":"
                       "\"{\\\"q\\\":\\\"x\\\"}\"}}]");
    cJSON_Delete(calls);
    fake_result_free(&r);
}

static void test_parse_finishes_and_usage(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;

    parse_file(t, "ok_refusal.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.finish, LR_FINISH_CONTENT_FILTER);
    assert_string_equal(lr_buf_str(&r.text), "");
    fake_result_free(&r);

    parse_file(t, "ok_length.json", 200, NULL, 0, &r);
    assert_int_equal(r.finish, LR_FINISH_LENGTH);
    assert_string_equal(lr_buf_str(&r.text),
                        "The first three primes are 2, 3 and");
    fake_result_free(&r);

    parse_file(t, "ok_usage_details.json", 200, NULL, 0, &r);
    assert_string_equal(lr_buf_str(&r.text),
                        "Caf\xc3\xa9 \xf0\x9f\x9a\x80 done.");
    assert_int_equal(r.prompt_tokens, 2006);
    assert_int_equal(r.completion_tokens, 300);
    assert_int_equal(r.cached_tokens, 1920);
    assert_int_equal(r.reasoning_tokens, 256);
    fake_result_free(&r);

    parse_file(t, "ok_no_usage.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.finish, LR_FINISH_OTHER); /* "eos" */
    assert_int_equal(r.prompt_tokens, -1);
    assert_int_equal(r.completion_tokens, -1);
    assert_int_equal(r.cached_tokens, 0);
    assert_int_equal(r.request_id.len, 0);
    fake_result_free(&r);

    parse_file(t, "ok_n2.json", 200, NULL, 0, &r);
    assert_string_equal(lr_buf_str(&r.text), "first");
    assert_int_equal(r.finish, LR_FINISH_STOP);
    fake_result_free(&r);

    /* wrong types everywhere: ignored, never trusted */
    parse_file(t, "ok_wrong_types.json", 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_string_equal(lr_buf_str(&r.text), "");
    assert_int_equal(r.finish, LR_FINISH_NONE);
    assert_int_equal(r.prompt_tokens, -1);
    assert_int_equal(r.completion_tokens, -1);
    assert_int_equal(r.reasoning_tokens, 0);
    assert_int_equal(r.model.len, 0);
    assert_int_equal(r.tool_calls_json.len, 0);
    fake_result_free(&r);
}

struct err_row {
    const char *file;
    long status;
    enum lr_status want;
    const char *msg; /* expected substring of error_message */
    int64_t hint;
};

static const struct err_row err_rows[] = {
    {"err_400_context.json", 400, LR_E_CONTEXT_LENGTH,
     "This model's maximum context length is 128000 tokens.", -1},
    {"err_400_invalid.json", 400, LR_E_BAD_REQUEST,
     "Invalid value for 'temperature'", -1},
    {"err_401_invalid_key.json", 401, LR_E_AUTH, "Incorrect API key", -1},
    {"err_403_region.json", 403, LR_E_AUTH, "Country, region", -1},
    {"err_404_model.json", 404, LR_E_BAD_REQUEST, "`gpt-9` does not", -1},
    {"err_408_timeout.json", 408, LR_E_TIMEOUT, "Request timed out.", -1},
    {"err_409_conflict.json", 409, LR_E_SERVER_ERROR, "Another request",
     -1},
    {"err_429_rate_limit.json", 429, LR_E_RATE_LIMITED,
     "Rate limit reached for gpt-4.1-mini", 1450},
    {"err_429_requests_ms.json", 429, LR_E_RATE_LIMITED, "(RPM)", 120},
    {"err_429_quota.json", 429, LR_E_QUOTA_EXHAUSTED,
     "You exceeded your current quota", -1},
    {"err_429_too_large.json", 429, LR_E_BAD_REQUEST, "Request too large",
     -1},
    {"err_500.json", 500, LR_E_SERVER_ERROR, "The server had an error",
     -1},
    {"err_503_overloaded.json", 503, LR_E_OVERLOADED, "currently overloaded",
     -1},
    {"err_503_slow_down.json", 503, LR_E_OVERLOADED, "slow down", -1},
    {"err_529_overloaded.json", 529, LR_E_OVERLOADED, "Overloaded", -1},
    {"err_400_invalid.json", 402, LR_E_QUOTA_EXHAUSTED, "Invalid value",
     -1},
    {"err_400_invalid.json", 422, LR_E_BAD_REQUEST, "Invalid value", -1},
    {"err_500.json", 502, LR_E_SERVER_ERROR, "The server had", -1},
    {"err_500.json", 504, LR_E_SERVER_ERROR, "The server had", -1},
    {"vllm_flat_400_context.json", 400, LR_E_CONTEXT_LENGTH,
     "maximum context length is 4096", -1},
    {"vllm_nested_400.json", 400, LR_E_BAD_REQUEST, "Field required", -1},
    {"vllm_401.json", 401, LR_E_AUTH, "Unauthorized", -1},
    {"ollama_404_model.json", 404, LR_E_BAD_REQUEST,
     "model \"llama9\" not found", -1},
    {"ollama_400_context.json", 400, LR_E_CONTEXT_LENGTH,
     "exceeds the maximum context length", -1},
    {"ollama_500.json", 500, LR_E_SERVER_ERROR, "llama runner process", -1},
    {"llamacpp_exceed_context.json", 400, LR_E_CONTEXT_LENGTH,
     "exceeds the available context size", -1},
    {"llamacpp_503_loading.json", 503, LR_E_OVERLOADED, "Loading model",
     -1},
    {"html_502.html", 502, LR_E_SERVER_ERROR,
     "HTTP 502: <html> <head><title>502 Bad Gateway</title></head>", -1},
    {"html_502.html", 429, LR_E_RATE_LIMITED, "HTTP 429: <html>", -1},
    {"ok_200_error.json", 200, LR_E_SERVER_ERROR, "The server had an error",
     -1},
    {"vllm_flat_400_context.json", 200, LR_E_CONTEXT_LENGTH,
     "maximum context length", -1},
    {"llamacpp_503_loading.json", 200, LR_E_OVERLOADED, "Loading model",
     -1},
    {"ok_200_garbage.html", 200, LR_E_PROTOCOL,
     "HTTP 200 with an unreadable body: <!DOCTYPE html>", -1},
    {"ok_no_choices.json", 200, LR_E_PROTOCOL, "HTTP 200 without choices",
     -1},
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
            r.retry_after_ms != row->hint || r.finish != LR_FINISH_ERROR ||
            r.text.len != 0) {
            print_error("%s (%ld): class %d want %d, hint %lld want %lld, "
                        "message \"%s\"\n", row->file, row->status,
                        (int)r.error, (int)row->want,
                        (long long)r.retry_after_ms, (long long)row->hint,
                        msg);
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

    /* an echoed key never reaches the message */
    parse_file(t, "err_401_echoed_key.json", 401, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_AUTH);
    assert_string_equal(lr_buf_str(&r.error_message),
                        "Proxy rejected key [redacted] for this route");
    fake_result_free(&r);

    /* a non-JSON body: short, single-line excerpt */
    parse_file(t, "html_502.html", 502, NULL, 0, &r);
    assert_true(r.error_message.len <= 200 + 16);
    assert_null(strchr(lr_buf_str(&r.error_message), '\n'));
    assert_non_null(strstr(lr_buf_str(&r.error_message), "..."));
    fake_result_free(&r);

    assert_int_equal(parse_body(t, "", 0, 503, NULL, 0, &r), LR_OK);
    assert_int_equal(r.error, LR_E_OVERLOADED);
    assert_string_equal(lr_buf_str(&r.error_message),
                        "HTTP 503 (empty body)");
    fake_result_free(&r);

    assert_int_equal(parse_body(t, NULL, 0, 200, NULL, 0, &r), LR_OK);
    assert_int_equal(r.error, LR_E_PROTOCOL);
    fake_result_free(&r);

    /* an error object without a message still says something */
    const char *bare = "{\"error\":{\"type\":\"server_error\",\"code\":null}}";
    parse_body(t, bare, strlen(bare), 500, NULL, 0, &r);
    assert_string_equal(lr_buf_str(&r.error_message), "server_error");
    fake_result_free(&r);

    /* a long message is cut on a UTF-8 boundary */
    char big[4096] = "{\"error\":{\"message\":\"";
    for (int i = 0; i < 1000; i++)
        strcat(big, "\xc3\xa9");
    strcat(big, "\"}}");
    parse_body(t, big, strlen(big), 500, NULL, 0, &r);
    assert_true(r.error_message.len <= 1003);
    const char *m = lr_buf_str(&r.error_message);
    assert_string_equal(m + r.error_message.len - 3, "...");
    assert_int_equal((unsigned char)m[r.error_message.len - 4], 0xa9);
    fake_result_free(&r);
}

static void test_parse_rate_limit_headers(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const struct lr_header both[] = {
        {"x-ratelimit-limit-requests", "500"},
        {"x-ratelimit-remaining-requests", "0"},
        {"x-ratelimit-reset-requests", "6m0s"},
        {"x-ratelimit-remaining-tokens", "0"},
        {"x-ratelimit-reset-tokens", "1m12.5s"},
        {"x-request-id", "req_429"},
    };
    const struct lr_header tokens_left[] = {
        {"x-ratelimit-remaining-requests", "0"},
        {"x-ratelimit-reset-requests", "20ms"},
        {"x-ratelimit-remaining-tokens", "1500"},
        {"x-ratelimit-reset-tokens", "6m0s"},
    };
    const struct lr_header unparseable[] = {
        {"x-ratelimit-remaining-tokens", "0"},
        {"x-ratelimit-reset-tokens", "soon"},
    };

    parse_file(t, "err_429_rate_limit.json", 429, both, 6, &r);
    assert_int_equal(r.retry_after_ms, 360000); /* the max of both */
    assert_string_equal(lr_buf_str(&r.request_id), "req_429");
    fake_result_free(&r);

    parse_file(t, "err_429_rate_limit.json", 429, tokens_left, 4, &r);
    assert_int_equal(r.retry_after_ms, 20); /* only exhausted dims */
    fake_result_free(&r);

    parse_file(t, "err_429_rate_limit.json", 429, unparseable, 2, &r);
    assert_int_equal(r.retry_after_ms, 1450); /* the message, last */
    fake_result_free(&r);

    parse_file(t, "html_502.html", 429, both, 6, &r);
    assert_int_equal(r.retry_after_ms, 360000);
    fake_result_free(&r);

    /* never-retryable classes get no hint */
    parse_file(t, "err_429_quota.json", 429, both, 6, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);
    parse_file(t, "err_401_invalid_key.json", 401, both, 6, &r);
    assert_int_equal(r.retry_after_ms, -1);
    fake_result_free(&r);

}

static void assert_rl(const struct lr_result *r, int64_t req, int64_t tok,
                      int64_t req_reset, int64_t tok_reset)
{
    assert_int_equal(r->rl_remaining_requests, req);
    assert_int_equal(r->rl_remaining_tokens, tok);
    assert_int_equal(r->rl_reset_requests_ms, req_reset);
    assert_int_equal(r->rl_reset_tokens_ms, tok_reset);
}

/* The rl_* readings (ABI 1.1), on successes and errors alike. */
static void test_parse_rate_limit_readings(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const struct lr_header full[] = {
        {"x-ratelimit-limit-requests", "500"},
        {"x-ratelimit-remaining-requests", "499"},
        {"x-ratelimit-reset-requests", "120ms"},
        {"x-ratelimit-remaining-tokens", "149000"},
        {"x-ratelimit-reset-tokens", "6m0s"},
    };
    const struct lr_header partial[] = {
        {"x-ratelimit-remaining-requests", "0"},
        {"x-ratelimit-reset-requests", "1s"},
    };
    const struct lr_header bad[] = {
        {"x-ratelimit-remaining-requests", "-3"},
        {"x-ratelimit-reset-requests", "later"},
        {"x-ratelimit-remaining-tokens", "1.5"},
        {"x-ratelimit-reset-tokens", "1m12.5s"},
    };

    parse_file(t, "ok_plain.json", 200, full, 5, &r);
    assert_int_equal(r.error, LR_OK);
    assert_rl(&r, 499, 149000, 120, 360000);
    fake_result_free(&r);

    parse_file(t, "err_429_rate_limit.json", 429, partial, 2, &r);
    assert_int_equal(r.error, LR_E_RATE_LIMITED);
    assert_rl(&r, 0, -1, 1000, -1);
    fake_result_free(&r);

    /* an error class with no retry hint still reports its readings */
    parse_file(t, "err_401_invalid_key.json", 401, full, 5, &r);
    assert_int_equal(r.error, LR_E_AUTH);
    assert_rl(&r, 499, 149000, 120, 360000);
    fake_result_free(&r);

    /* malformed values are left unknown, the good one is kept */
    parse_file(t, "ok_plain.json", 200, bad, 4, &r);
    assert_rl(&r, -1, -1, -1, 72500);
    fake_result_free(&r);

    parse_file(t, "ok_plain.json", 200, NULL, 0, &r);
    assert_rl(&r, -1, -1, -1, -1);
    fake_result_free(&r);
}

/* Azure-style wording and a string status code. */
static void test_parse_retry_words(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const char *azure = "{\"error\":{\"code\":\"429\",\"message\":\"Requests "
                        "have exceeded token rate limit. Please retry "
                        "after 6 seconds.\"}}";
    parse_body(t, azure, strlen(azure), 429, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_RATE_LIMITED);
    assert_int_equal(r.retry_after_ms, 6000);
    fake_result_free(&r);
}

/* Numbers on the wire read the same under an application's
   comma-decimal LC_NUMERIC: a wait in words, a count with a fraction. */
static void test_parse_comma_locale(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    const char *words = "{\"error\":{\"code\":\"429\",\"message\":\"Please "
                        "retry after 1.5 seconds.\"}}";
    const char *counts = "{\"choices\":[{\"index\":0,\"message\":{"
                         "\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
                         "\"usage\":{\"prompt_tokens\":1.5e3,"
                         "\"completion_tokens\":2.0}}";
    COMMA_LOCALE_OR_SKIP();
    parse_body(t, words, strlen(words), 429, NULL, 0, &r);
    int64_t wait = r.retry_after_ms;
    fake_result_free(&r);
    parse_body(t, counts, strlen(counts), 200, NULL, 0, &r);
    comma_locale_reset();
    assert_int_equal(wait, 1500);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.prompt_tokens, 1500);
    assert_int_equal(r.completion_tokens, 2);
    fake_result_free(&r);
}

/* --- Streaming ------------------------------------------------------- */

struct streamed {
    int done;     /* LR_STREAM_DONE was returned */
    int events;   /* events handed over */
    int last_rc;
};

/* Feeds one SSE event, adding the delta to acc->text as the core does. */
static int feed(struct provider_fx *t, void *st, const char *event, const char *data,
                struct lr_result *acc)
{
    struct lr_sse_event ev = {event, data, strlen(data)};
    struct lr_buf delta = {0};
    int rc = ops->stream_event(t->inst, st, &ev, acc, &delta);
    lr_buf_append(&acc->text, lr_buf_str(&delta), delta.len);
    lr_buf_free(&delta);
    return rc;
}

/* One event of a block: its "event:" value and joined "data:" lines;
   0 when the block has no data line. */
static int split_event(char *blk, char *event, size_t evlen,
                       struct lr_buf *data)
{
    int has_data = 0;
    char *save = NULL;
    event[0] = '\0';
    for (char *line = strtok_r(blk, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "event:", 6) == 0) {
            snprintf(event, evlen, "%s", line + 6 + (line[6] == ' '));
        }
        else if (strncmp(line, "data:", 5) == 0) {
            if (has_data)
                lr_buf_append(data, "\n", 1);
            lr_buf_puts(data, line + 5 + (line[5] == ' '));
            has_data = 1;
        }
    }
    return has_data;
}

/* Minimal SSE: events split on blank lines; stops at DONE or at an
   error, as the core does. */
static void run_stream(struct provider_fx *t, const char *text, struct lr_result *acc,
                       struct streamed *s)
{
    void *st = NULL;
    char *copy = strdup(text), *p = copy;
    memset(s, 0, sizeof *s);
    fake_result_init(acc);
    assert_int_equal(ops->stream_begin(t->inst, &st), LR_OK);
    while (p && *p) {
        char *next = strstr(p, "\n\n");
        if (next) {
            *next = '\0';
            next += 2;
        }
        char event[64];
        struct lr_buf data = {0};
        if (split_event(p, event, sizeof event, &data)) {
            s->events++;
            s->last_rc = feed(t, st, event, lr_buf_str(&data), acc);
        }
        lr_buf_free(&data);
        p = next;
        if (s->last_rc == LR_STREAM_DONE)
            s->done = 1;
        if (s->last_rc != LR_OK || acc->error != LR_OK)
            break;
    }
    ops->stream_end(t->inst, st);
    free(copy);
}

static void run_stream_file(struct provider_fx *t, const char *file,
                            struct lr_result *acc, struct streamed *s)
{
    char path[128];
    snprintf(path, sizeof path, "openai/%s", file);
    char *text = fake_read_file(path, NULL);
    assert_non_null(text);
    run_stream(t, text, acc, s);
    free(text);
}

static void test_stream_plain(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result acc;
    struct streamed s;
    run_stream_file(t, "stream_plain.sse", &acc, &s);
    assert_true(s.done);
    assert_int_equal(s.events, 6);
    assert_int_equal(acc.error, LR_OK);
    assert_string_equal(lr_buf_str(&acc.text),
                        "Hi th\xc3\xa9re \xf0\x9f\x9a\x80");
    assert_int_equal(acc.finish, LR_FINISH_STOP);
    assert_int_equal(acc.prompt_tokens, 9);
    assert_int_equal(acc.completion_tokens, 4);
    assert_string_equal(lr_buf_str(&acc.model), "gpt-4.1-mini");
    assert_int_equal(acc.tool_calls_json.len, 0);
    assert_int_equal(acc.retry_after_ms, -1);
    fake_result_free(&acc);
}

static void test_stream_tool_calls(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result acc;
    struct streamed s;
    run_stream_file(t, "stream_tool_calls.sse", &acc, &s);
    assert_true(s.done);
    assert_int_equal(acc.error, LR_OK);
    assert_string_equal(lr_buf_str(&acc.text), "");
    assert_int_equal(acc.finish, LR_FINISH_TOOL_CALLS);
    cJSON *calls = cJSON_Parse(lr_buf_str(&acc.tool_calls_json));
    assert_json(calls,
                "[{\"id\":\"call_A\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_weather\",\"arguments\":"
                "\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
                "{\"id\":\"call_B\",\"type\":\"function\",\"function\":"
                "{\"name\":\"get_time\",\"arguments\":"
                "\"{\\\"tz\\\":\\\"CET\\\"}\"}}]");
    cJSON_Delete(calls);
    assert_int_equal(acc.prompt_tokens, 80);
    assert_int_equal(acc.completion_tokens, 30);
    fake_result_free(&acc);
}

static void test_stream_error_chunk(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result acc;
    struct streamed s;
    run_stream_file(t, "stream_error.sse", &acc, &s);
    assert_false(s.done);
    assert_int_equal(s.last_rc, LR_OK);
    assert_string_equal(lr_buf_str(&acc.text), "Partial");
    assert_int_equal(acc.error, LR_E_SERVER_ERROR);
    assert_int_equal(acc.finish, LR_FINISH_ERROR);
    assert_non_null(strstr(lr_buf_str(&acc.error_message),
                           "The server had an error"));
    assert_int_equal(acc.retry_after_ms, 2000);
    assert_int_equal(acc.prompt_tokens, -1); /* usage chunk lost */
    fake_result_free(&acc);
}

static void test_stream_refusal_and_choices(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result acc;
    struct streamed s;

    run_stream_file(t, "stream_refusal.sse", &acc, &s);
    assert_true(s.done);
    assert_int_equal(acc.error, LR_OK);
    assert_int_equal(acc.finish, LR_FINISH_CONTENT_FILTER);
    assert_string_equal(lr_buf_str(&acc.text), "");
    fake_result_free(&acc);

    run_stream_file(t, "stream_n2.sse", &acc, &s);
    assert_true(s.done);
    assert_string_equal(lr_buf_str(&acc.text), "one");
    assert_int_equal(acc.finish, LR_FINISH_STOP);
    assert_int_equal(acc.prompt_tokens, -1); /* no include_usage */
    fake_result_free(&acc);

    run_stream_file(t, "stream_vllm_usage.sse", &acc, &s);
    assert_true(s.done);
    assert_string_equal(lr_buf_str(&acc.text), "Yes.");
    assert_int_equal(acc.prompt_tokens, 12);
    assert_int_equal(acc.completion_tokens, 2); /* the last running total */
    fake_result_free(&acc);
}

struct stream_err_row {
    const char *event;
    const char *data;
    enum lr_status want;
};

static const struct stream_err_row stream_err_rows[] = {
    {"", "{\"error\":{\"message\":\"quota\",\"type\":\"insufficient_quota\","
         "\"code\":\"insufficient_quota\"}}", LR_E_QUOTA_EXHAUSTED},
    {"", "{\"error\":{\"message\":\"slow\",\"type\":\"tokens\","
         "\"code\":\"rate_limit_exceeded\"}}", LR_E_RATE_LIMITED},
    {"", "{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\","
         "\"code\":\"context_length_exceeded\"}}", LR_E_CONTEXT_LENGTH},
    {"", "{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\","
         "\"code\":\"invalid_api_key\"}}", LR_E_AUTH},
    {"", "{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\","
         "\"code\":null}}", LR_E_BAD_REQUEST},
    {"", "{\"error\":{\"code\":503,\"message\":\"Loading model\","
         "\"type\":\"unavailable_error\"}}", LR_E_OVERLOADED},
    {"", "{\"object\":\"error\",\"message\":\"bad\",\"type\":"
         "\"BadRequestError\",\"param\":null,\"code\":400}", LR_E_BAD_REQUEST},
    {"", "{\"error\":{\"message\":\"x\",\"type\":\"weird\"}}",
     LR_E_SERVER_ERROR},
    {"", "{\"error\":\"something broke\"}", LR_E_SERVER_ERROR},
    {"error", "{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}",
     LR_E_OVERLOADED},
    {"", "hello", LR_E_PROTOCOL},
    {"", "[1,2]", LR_E_PROTOCOL},
    {"", "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]} x",
     LR_E_PROTOCOL},
};

static void test_stream_error_table(void **state)
{
    struct provider_fx *t = *state;
    int failures = 0;
    for (size_t i = 0; i < sizeof stream_err_rows / sizeof stream_err_rows[0];
         i++) {
        struct lr_result acc;
        void *st;
        fake_result_init(&acc);
        ops->stream_begin(t->inst, &st);
        int rc = feed(t, st, stream_err_rows[i].event,
                      stream_err_rows[i].data, &acc);
        if (rc != LR_OK || acc.error != stream_err_rows[i].want ||
            acc.error_message.len == 0) {
            print_error("row %zu: rc %d class %d want %d\n", i, rc,
                        (int)acc.error, (int)stream_err_rows[i].want);
            failures++;
        }
        ops->stream_end(t->inst, st);
        fake_result_free(&acc);
    }
    assert_int_equal(failures, 0);
}

static void test_stream_odd_but_valid(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result acc;
    void *st;

    fake_result_init(&acc);
    ops->stream_begin(t->inst, &st);
    assert_int_equal(feed(t, st, "", "", &acc), LR_OK);
    assert_int_equal(feed(t, st, "", "{}", &acc), LR_OK);
    assert_int_equal(feed(t, st, "", "{\"choices\":null,\"usage\":null}",
                          &acc), LR_OK);
    assert_int_equal(feed(t, st, "", "{\"choices\":[{\"index\":0,\"delta\":"
                                     "{\"content\":null}}]}", &acc), LR_OK);
    /* a legacy function_call stream */
    assert_int_equal(feed(t, st, "", "{\"choices\":[{\"index\":0,\"delta\":"
                                     "{\"function_call\":{\"name\":\"f\","
                                     "\"arguments\":\"{\\\"a\\\"\"}}}]}",
                          &acc), LR_OK);
    assert_int_equal(feed(t, st, "", "{\"choices\":[{\"index\":0,\"delta\":"
                                     "{\"function_call\":{\"arguments\":"
                                     "\":1}\"}},\"finish_reason\":"
                                     "\"function_call\"}]}", &acc), LR_OK);
    assert_int_equal(feed(t, st, "", " [DONE] ", &acc), LR_STREAM_DONE);
    assert_int_equal(acc.error, LR_OK);
    assert_int_equal(acc.finish, LR_FINISH_TOOL_CALLS);
    cJSON *calls = cJSON_Parse(lr_buf_str(&acc.tool_calls_json));
    assert_json(calls, "[{\"id\":\"\",\"type\":\"function\",\"function\":"
                       "{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]");
    cJSON_Delete(calls);
    ops->stream_end(t->inst, st);
    fake_result_free(&acc);

    /* stream_end without a single event, and with a NULL state */
    ops->stream_begin(t->inst, &st);
    ops->stream_end(t->inst, st);
    ops->stream_end(t->inst, NULL);
}

/* --- Robustness ------------------------------------------------------ */

static const char *const all_files[] = {
    "ok_plain.json", "ok_tool_call.json", "ok_multi_tool_calls.json",
    "ok_refusal.json", "ok_length.json", "ok_usage_details.json",
    "ok_no_usage.json", "ok_n2.json", "ok_legacy_function_call.json",
    "ok_wrong_types.json", "ok_no_choices.json", "ok_200_error.json",
    "err_400_context.json", "err_429_rate_limit.json",
    "err_429_too_large.json", "vllm_flat_400_context.json",
    "llamacpp_exceed_context.json", "html_502.html",
};

/* Every prefix of every fixture, as 200 and as 500: no crash, no leak,
   always LR_OK with some result. */
static void test_truncated_bodies(void **state)
{
    struct provider_fx *t = *state;
    for (size_t f = 0; f < sizeof all_files / sizeof all_files[0]; f++) {
        char path[128];
        size_t len;
        snprintf(path, sizeof path, "openai/%s", all_files[f]);
        char *body = fake_read_file(path, &len);
        assert_non_null(body);
        for (size_t k = 0; k <= len; k++) {
            char *cut = malloc(k + 1);
            memcpy(cut, body, k);
            cut[k] = '\0';
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

/* Every prefix of every event of every transcript fed alone. */
static void test_truncated_events(void **state)
{
    static const char *const files[] = {
        "stream_plain.sse", "stream_tool_calls.sse", "stream_error.sse",
        "stream_refusal.sse", "stream_n2.sse"};
    struct provider_fx *t = *state;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[128];
        snprintf(path, sizeof path, "openai/%s", files[f]);
        char *text = fake_read_file(path, NULL);
        char *save = NULL;
        assert_non_null(text);
        for (char *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            const char *data = line + 6;
            size_t n = strlen(data);
            for (size_t k = 0; k <= n; k++) {
                char *cut = strndup(data, k);
                struct lr_result acc;
                void *st;
                fake_result_init(&acc);
                ops->stream_begin(t->inst, &st);
                int rc = feed(t, st, "", cut, &acc);
                assert_true(rc == LR_OK || rc == LR_STREAM_DONE);
                ops->stream_end(t->inst, st);
                fake_result_free(&acc);
                free(cut);
            }
        }
        free(text);
    }
}

static void test_hostile_inputs(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;

    /* nesting far beyond cJSON's limit */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[depth * 2] = '\0';
    assert_int_equal(parse_body(t, deep, depth * 2, 200, NULL, 0, &r), LR_OK);
    assert_int_equal(r.error, LR_E_PROTOCOL);
    fake_result_free(&r);
    free(deep);

}

static void test_hostile_numbers(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;

    /* huge and negative numbers, embedded NUL */
    const char *huge = "{\"choices\":[{\"index\":0,\"message\":{\"content\":"
                       "\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                       "\"prompt_tokens\":1e400,\"completion_tokens\":-5,"
                       "\"prompt_tokens_details\":{\"cached_tokens\":"
                       "1e17}}}";
    parse_body(t, huge, strlen(huge), 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_OK);
    assert_int_equal(r.prompt_tokens, -1);
    assert_int_equal(r.completion_tokens, -1);
    assert_int_equal(r.cached_tokens, 0);
    fake_result_free(&r);

    const char nul[] = "{\"choices\":[]}\0{\"x\":1}";
    parse_body(t, nul, sizeof nul - 1, 200, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_PROTOCOL);
    fake_result_free(&r);

    const char bin[] = "\x00\xff\xfe\x01\x80garbage\x00";
    parse_body(t, bin, sizeof bin - 1, 500, NULL, 0, &r);
    assert_int_equal(r.error, LR_E_SERVER_ERROR);
    fake_result_free(&r);

}

static void test_bad_arguments(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;

    /* missing arguments */
    struct lr_http_response in = {200, NULL, 0, "{}", 2};
    assert_int_not_equal(ops->parse_response(t->inst, &t->target, &in, NULL),
                         LR_OK);
    assert_int_not_equal(ops->parse_response(t->inst, NULL, NULL, &r),
                         LR_OK);
    fake_result_init(&r);
    assert_int_equal(ops->parse_response(t->inst, NULL, &in, &r), LR_OK);
    fake_result_free(&r);

}

/* Many distinct tool-call indexes in a stream stay bounded. */
static void test_many_tool_calls(void **state)
{
    struct provider_fx *t = *state;
    struct lr_result r;
    void *st;

    fake_result_init(&r);
    ops->stream_begin(t->inst, &st);
    for (int i = 0; i < 1100; i++) {
        char ev[160];
        snprintf(ev, sizeof ev, "{\"choices\":[{\"index\":0,\"delta\":{"
                                "\"tool_calls\":[{\"index\":%d,\"id\":"
                                "\"c%d\"}]}}]}", 5000 - i, i);
        assert_int_equal(feed(t, st, "", ev, &r), LR_OK);
    }
    assert_int_equal(r.error, LR_E_PROTOCOL);
    assert_non_null(strstr(lr_buf_str(&r.error_message), "tool calls"));
    ops->stream_end(t->inst, st);
    fake_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_descriptor),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_build_minimal),
        T(test_build_system_multiturn),
        T(test_build_max_tokens_fields),
        T(test_auth_header_modes),
        T(test_auth_header_auto_hosts),
        T(test_auth_header_bad_values),
        T(test_build_sampling),
        T(test_build_hints),
        T(test_build_response_format),
        T(test_build_stream),
        T(test_build_tools),
        T(test_build_tool_messages),
        T(test_build_bad_json),
        T(test_build_headers_and_url),
        T(test_build_url_query),
        T(test_parse_plain),
        T(test_parse_tool_calls),
        T(test_parse_finishes_and_usage),
        T(test_parse_error_table),
        T(test_parse_error_details),
        T(test_parse_rate_limit_headers),
        T(test_parse_rate_limit_readings),
        T(test_parse_retry_words),
        T(test_parse_comma_locale),
        T(test_stream_plain),
        T(test_stream_tool_calls),
        T(test_stream_error_chunk),
        T(test_stream_refusal_and_choices),
        T(test_stream_error_table),
        T(test_stream_odd_but_valid),
        T(test_truncated_bodies),
        T(test_truncated_events),
        T(test_hostile_inputs),
        T(test_hostile_numbers),
        T(test_bad_arguments),
        T(test_many_tool_calls),
#undef T
    };
    return cmocka_run_group_tests_name("provider_openai", tests,
                                       group_setup, group_teardown);
}
