/*
 * test_openai_build_fast.c - the openai provider writes its request body
 * as JSON text directly (plugins/openai_json.h); this checks it is byte
 * for byte what the cJSON tree builder it replaced prints
 * (plugins/openai_build_ref.h, compiled here as the reference), and that
 * failures give the same status and reason with an empty body.
 * Requests: every build fixture of test_provider_openai.c, then generated
 * ones: every byte 0x01..0xff in each string field, long and multi-turn
 * bodies past the writer's staging buffer, temperatures and max_tokens
 * at cJSON's number-format edges, stream options, tools, the ABI 1.3
 * sampling hints and response format; and the temperatures under a
 * comma and a multi-byte decimal point LC_NUMERIC, byte for byte what
 * the "C" locale gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* before cmocka.h, whose fail() macro would hide provider_util.h's */
#include "../../plugins/openai_build_ref.h"

#include <cmocka.h>

#include "buf.h"
#include "llmroute_plugin.h"
#include "support/comma_locale.h"
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

/* The target options the test set on the section (the reference does not
   read the section). */
static struct target_opts opts = {.stream_usage = 1};

/* Builds c both ways; asserts the same status, reason and body bytes. */
static void same(struct provider_fx *t, const struct lr_chat *c)
{
    struct lr_http_request rq;
    struct lr_buf ref = {0};
    char err[256] = "", ref_err[256] = "";

    fake_request_init(&rq);
    int rc = ops->build_request(t->inst, &t->target, c, &rq, err,
                                sizeof err);
    int ref_rc = ref_build_body(fake_host_table(t->fh), &t->target, c,
                                &opts, &ref, ref_err, sizeof ref_err);
    assert_int_equal(rc, ref_rc);
    assert_string_equal(err, ref_err);
    if (rc == LR_OK) {
        if (rq.body.len != ref.len ||
            memcmp(rq.body.data, ref.data, ref.len) != 0) {
            print_error("body mismatch:\n got  %s\n want %s\n",
                        lr_buf_str(&rq.body), lr_buf_str(&ref));
            fail();
        }
    } else {
        assert_int_equal(rq.body.len, 0); /* nothing half-written */
    }
    fake_buf_free(&ref);
    fake_request_free(&rq);
}

static void set_legacy(struct provider_fx *t, int legacy)
{
    fake_section_set(t->sec, "max_tokens_field",
                     legacy ? "max_tokens" : NULL);
    opts.legacy_max_tokens = legacy;
}

static void set_stream_usage(struct provider_fx *t, int on)
{
    fake_section_set(t->sec, "stream_usage", on ? NULL : "false");
    opts.stream_usage = on;
}

static const struct lr_message hi = {LR_ROLE_USER, "Hi", NULL, NULL, NULL};

#define TOOLS                                                             \
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","     \
    "\"description\":\"Weather\",\"parameters\":{\"type\":\"object\","    \
    "\"properties\":{\"city\":{\"type\":\"string\"}},"                    \
    "\"required\":[\"city\"]}}}]"

#define CALLS                                                             \
    "[{\"id\":\"call_1\",\"type\":\"function\","                          \
    "\"function\":{\"name\":\"get_weather\","                             \
    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]"

/* The requests of test_provider_openai.c's build tests. */
static void test_fixtures(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};
    same(t, &c);

    const struct lr_message m[] = {
        {LR_ROLE_USER, "A prime above 90?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "97.", NULL, NULL, NULL},
        {LR_ROLE_USER, "Another? \"quoted\" \xc3\xa9\n", NULL, NULL, NULL},
    };
    struct lr_chat mt = {.system = "Answer tersely.", .messages = m,
                         .n_messages = 3};
    same(t, &mt);

    c.max_tokens = 300;
    same(t, &c);
    set_legacy(t, 1);
    same(t, &c);
    set_legacy(t, 0);
    /* Past 1e15 a double prints in exponent form: both writers print
       the integer's digits. */
    c.max_tokens = INT64_MAX;
    same(t, &c);
    c.max_tokens = 0;
    same(t, &c);

    const char *const stop[] = {"\n\n##", "END"};
    struct lr_chat s = {.messages = &hi, .n_messages = 1,
                        .temperature = 0.2, .has_temperature = 1,
                        .stop = stop, .n_stop = 2, .user = "user-42"};
    same(t, &s);
    s.temperature = 0;
    s.n_stop = 0;
    s.user = NULL;
    same(t, &s);
    const char *const only_null[] = {NULL};
    s.has_temperature = 0;
    s.stop = only_null;
    s.n_stop = 1;
    same(t, &s);
    s.user = ""; /* empty user: not sent */
    same(t, &s);
    s.has_temperature = 1;
    s.temperature = NAN;
    same(t, &s);
    s.temperature = INFINITY;
    same(t, &s);

    struct lr_chat st = {.messages = &hi, .n_messages = 1, .stream = 1};
    same(t, &st);
    set_stream_usage(t, 0);
    same(t, &st);
    set_stream_usage(t, 1);
}

static void test_fixtures_tools(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .tools_json = TOOLS,
                        .tool_choice_json =
                            "{\"type\":\"function\",\"function\":"
                            "{\"name\":\"get_weather\"}}"};
    same(t, &c);
    c.tool_choice_json = "\"required\"";
    same(t, &c);
    c.tool_choice_json = "auto";
    same(t, &c);
    c.tool_choice_json = " { \"type\" : \"none\" } "; /* re-printed */
    same(t, &c);
    c.tools_json = " [ ] ";
    same(t, &c);
    c.tool_choice_json = NULL;
    c.tools_json = NULL;
    same(t, &c);

    const struct lr_message m[] = {
        {LR_ROLE_USER, "Weather in Paris?", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, CALLS, NULL, NULL},
        {LR_ROLE_TOOL, "{\"temp\":21}", NULL, "call_1", "get_weather"},
        {LR_ROLE_ASSISTANT, "Checking.", CALLS, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "[]", NULL, NULL},
        {LR_ROLE_TOOL, NULL, NULL, NULL, NULL},
        {LR_ROLE_USER, NULL, CALLS, "ignored", NULL},
        {LR_ROLE_SYSTEM, "mid-conversation system", NULL, NULL, NULL},
    };
    struct lr_chat tm = {.messages = m, .n_messages = 8,
                         .tools_json = TOOLS, .system = "sys"};
    same(t, &tm);
    tm.system = NULL;
    same(t, &tm);
}

static void test_errors(void **state)
{
    struct provider_fx *t = *state;
    const struct lr_message m[] = {
        {LR_ROLE_USER, "x", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "[{\"id\":", NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "{\"id\":1}", NULL, NULL},
    };
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .tools_json = "[{\"type\":\"function\""};
    same(t, &c);
    c.tools_json = "{\"type\":\"function\"}";
    same(t, &c);
    c.tools_json = "[] trailing";
    same(t, &c);
    c.tools_json = NULL;
    c.tool_choice_json = "[1]";
    same(t, &c);
    c.tool_choice_json = "maybe";
    same(t, &c);
    c.tool_choice_json = NULL;
    c.messages = m;
    c.n_messages = 2;
    same(t, &c);
    c.messages = &m[2];
    c.n_messages = 1;
    same(t, &c);

    struct lr_message bad_role = {(enum lr_role)9, "x", NULL, NULL, NULL};
    c.messages = &bad_role;
    same(t, &c);
    c.messages = NULL; /* n_messages 1, no array */
    c.system = "s";
    same(t, &c);
    /* the first error wins: a bad message before a bad temperature */
    c.messages = &bad_role;
    c.has_temperature = 1;
    c.temperature = NAN;
    c.tools_json = "nope";
    same(t, &c);
    c.messages = &hi;
    same(t, &c);
    c.has_temperature = 0;
    same(t, &c);
}

#define SCHEMA_FORMAT                                                     \
    "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"answer_1\","    \
    "\"strict\":true,\"description\":\"An \\\"answer\\\"\","               \
    "\"schema\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":"     \
    "\"integer\",\"minimum\":0.5}},\"required\":[\"n\"],"                 \
    "\"additionalProperties\":false}}}"

/* ABI 1.3: the sampling hints and the response format, each alone, all
   together, with tools and streaming, and their refusals. */
static void test_sampling(void **state)
{
    struct provider_fx *t = *state;
    struct lr_chat c = {.messages = &hi, .n_messages = 1};

    c.has_top_p = 1;
    c.top_p = 0.9;
    same(t, &c);
    c.has_top_p = 0;
    c.has_presence_penalty = 1;
    c.presence_penalty = -2;
    same(t, &c);
    c.has_presence_penalty = 0;
    c.has_frequency_penalty = 1;
    c.frequency_penalty = 0.3;
    same(t, &c);
    c.has_frequency_penalty = 0;
    static const int64_t seeds[] = {0, 42, -7, 9007199254740993LL,
                                    INT64_MAX, INT64_MIN};
    c.has_seed = 1;
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        c.seed = seeds[i];
        same(t, &c);
    }
    c.has_seed = 0;
    c.response_format_json = "{\"type\":\"json_object\"}";
    same(t, &c);
    c.response_format_json = SCHEMA_FORMAT;
    same(t, &c);
    c.response_format_json = " { \"type\" : \"json_object\" } ";
    same(t, &c);

    struct lr_chat all = {.messages = &hi, .n_messages = 1,
                          .system = "json only", .max_tokens = 64,
                          .has_temperature = 1, .temperature = 0.2,
                          .has_top_p = 1, .top_p = 1.0 / 3,
                          .has_presence_penalty = 1,
                          .presence_penalty = 1.5,
                          .has_frequency_penalty = 1,
                          .frequency_penalty = -0.1, .has_seed = 1,
                          .seed = 123456789, .user = "u",
                          .response_format_json = SCHEMA_FORMAT};
    same(t, &all);
    all.tools_json = TOOLS;
    all.tool_choice_json = "auto";
    all.stream = 1;
    same(t, &all);
    set_legacy(t, 1);
    set_stream_usage(t, 0);
    same(t, &all);
    set_legacy(t, 0);
    set_stream_usage(t, 1);

    /* Refusals: the same status and reason, nothing written. */
    static const char *const bad_formats[] = {
        "[]", "\"json_object\"", "{\"type\":", "{} trailing", "",
    };
    for (size_t i = 0; i < sizeof bad_formats / sizeof *bad_formats; i++) {
        all.response_format_json = bad_formats[i];
        same(t, &all);
    }
    all.response_format_json = SCHEMA_FORMAT;
    const double nonfinite[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        struct lr_chat b = all;
        b.top_p = nonfinite[i];
        same(t, &b);
        b = all;
        b.presence_penalty = nonfinite[i];
        same(t, &b);
        b = all;
        b.frequency_penalty = nonfinite[i];
        same(t, &b);
        b.response_format_json = "nope"; /* the first error wins */
        same(t, &b);
    }
}

/* Every byte 0x01..0xff, alone and all together, in every string. */
static void test_every_byte(void **state)
{
    struct provider_fx *t = *state;
    char all[256], one[4];

    for (int i = 1; i < 256; i++)
        all[i - 1] = (char)i;
    all[255] = '\0';
    for (int i = 0; i < 256; i++) {
        const char *s = all;
        if (i) {
            one[0] = 'a';
            one[1] = (char)i;
            one[2] = 'z';
            one[3] = '\0';
            s = one;
        }
        const char *const stop[] = {s, NULL, s};
        const struct lr_message m[] = {
            {LR_ROLE_USER, s, NULL, NULL, NULL},
            {LR_ROLE_ASSISTANT, s, NULL, NULL, NULL},
            {LR_ROLE_TOOL, s, NULL, s, s},
        };
        struct lr_chat c = {.system = s, .messages = m, .n_messages = 3,
                            .stop = stop, .n_stop = 3, .user = s};
        same(t, &c);
        t->target.model = s;
        struct lr_chat plain = {.messages = &hi, .n_messages = 1};
        same(t, &plain);
        t->target.model = "gpt-4.1-mini";
    }
}

/* Past the staging buffer: long strings, runs of escapes, many turns. */
static void test_long(void **state)
{
    struct provider_fx *t = *state;
    static const size_t lens[] = {0, 1, 250, 255, 256, 257, 511, 512, 513,
                                  1023, 1024, 1025, 5000, 100000};
    static const char fill[] = {'x', '"', '\n', '\x01', '\xc3'};
    size_t maxlen = 100000;
    char *s = malloc(maxlen + 1);
    assert_non_null(s);

    for (size_t f = 0; f < sizeof fill; f++) {
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            for (size_t k = 0; k < lens[i]; k++)
                s[k] = (k % 7 == 3) ? 'q' : fill[f];
            s[lens[i]] = '\0';
            struct lr_message m = {LR_ROLE_USER, s, NULL, NULL, NULL};
            struct lr_chat c = {.messages = &m, .n_messages = 1,
                                .system = s + lens[i] / 2};
            same(t, &c);
        }
    }

    enum { TURNS = 300 };
    struct lr_message *m = calloc(TURNS, sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < TURNS; i++) {
        m[i].role = (enum lr_role)(1 + i % 3);
        m[i].content = s + (maxlen - (i * 37) % 900);
        m[i].tool_call_id = m[i].role == LR_ROLE_TOOL ? "call_\"7\"" : NULL;
        m[i].tool_calls_json = i % 10 == 2 ? CALLS : NULL;
    }
    struct lr_chat c = {.messages = m, .n_messages = TURNS,
                        .system = "You are terse.", .max_tokens = 4096,
                        .temperature = 0.7, .has_temperature = 1,
                        .stream = 1, .user = "u-1", .tools_json = TOOLS,
                        .tool_choice_json = "required"};
    same(t, &c);
    free(m);
    free(s);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* cJSON's number format: %d, %1.15g, %1.17g and their edges. */
static void test_numbers(void **state)
{
    struct provider_fx *t = *state;
    static const double temps[] = {
        0, -0.0, 0.1, 0.2, 0.3, 0.7, 1e-7, 2, 1.5, 1.0 / 3, 2.0 / 3,
        0.30000000000000004, 0.1 + 0.2, 1e-300, 5e-324, 2.2250738585072014e-308,
        1e300, 1.7976931348623157e308, -1.7976931348623157e308,
        2147483647.0, 2147483647.5, 2147483648.0, -2147483648.0,
        -2147483649.0, 1e15, 1e16, 1e17, 123456789012345678.0,
        0.1234567890123456789, 9007199254740993.0, -0.5, -1e-7, 1e21,
        4.35, 0.015, 100.0 / 3, 999999999999999.0, -999999999999999.0,
        999999999999999.5, -1.0, -7.0, 1e14,
    };
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .has_temperature = 1};
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
        c.temperature = temps[i];
        same(t, &c);
    }
    for (int i = 0; i < 3000; i++) {
        uint64_t bits = next();
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        c.temperature = d;
        same(t, &c);
        c.temperature = (double)(bits % 2001) / 1000.0; /* 0.000..2.000 */
        same(t, &c);
        c.temperature = (double)(int64_t)(bits >> 20) / 3.0;
        same(t, &c);
    }

    static const int64_t toks[] = {
        1, 2, 300, 4096, 2147483646, 2147483647, 2147483648LL,
        3000000000LL, 9007199254740992LL, 9007199254740993LL,
        1000000000000000LL, 123456789012345678LL, INT64_MAX, -1,
    };
    c.has_temperature = 0;
    for (int legacy = 0; legacy < 2; legacy++) {
        set_legacy(t, legacy);
        for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
            c.max_tokens = toks[i];
            same(t, &c);
        }
    }
    set_legacy(t, 0);
}

/* --- Numbers under another LC_NUMERIC ----------------------------------- */

#define LOC_N 64
#define LOC_BODY 256

/* Temperatures that take the double path (not whole below 1e15), then
   random ones. */
static double loc_temp(size_t i)
{
    static const double fixed[] = {
        0.1, 0.7, 1.5, 1.0 / 3, 0.30000000000000004, 1e-7, 5e-324, -0.5,
        2147483647.5, 1e21, 1e300, -0.0, 123456789012345678.0, 4.35,
    };
    size_t nf = sizeof fixed / sizeof fixed[0];
    if (i < nf)
        return fixed[i];
    return (double)(next() % 2000001) / 1000000.0 + (i & 1 ? 1e-9 : 0);
}

/* The body of c, or "" after an error, in out. */
static void body_of(struct provider_fx *t, const struct lr_chat *c,
                    char out[LOC_BODY])
{
    struct lr_http_request rq;
    char err[256];
    fake_request_init(&rq);
    int rc = ops->build_request(t->inst, &t->target, c, &rq, err,
                                sizeof err);
    snprintf(out, LOC_BODY, "%s", rc == LR_OK ? lr_buf_str(&rq.body) : "");
    fake_request_free(&rq);
}

/* Builds every temperature in "C" into want, then under the locale set()
   switches to (the test is skipped without one): the same bytes. */
static void same_in_locale(struct provider_fx *t,
                           int (*set)(char *, size_t), const char *what)
{
    static char want[LOC_N][LOC_BODY];
    double temps[LOC_N];
    char got[LOC_BODY], why[256];
    struct lr_chat c = {.messages = &hi, .n_messages = 1,
                        .has_temperature = 1};
    for (size_t i = 0; i < LOC_N; i++) {
        c.temperature = temps[i] = loc_temp(i);
        body_of(t, &c, want[i]);
        assert_non_null(strstr(want[i], "\"temperature\":"));
    }
    if (set(why, sizeof why) != 0) {
        print_message("skipped: no %s locale: %s\n", what, why);
        skip();
    }
    size_t bad = LOC_N;
    for (size_t i = 0; i < LOC_N && bad == LOC_N; i++) {
        c.temperature = temps[i];
        body_of(t, &c, got);
        if (strcmp(got, want[i]) != 0)
            bad = i;
    }
    comma_locale_reset(); /* before any assertion can jump out */
    if (bad < LOC_N)
        fail_msg("under a %s locale:\n got  %s\n want %s", what, got,
                 want[bad]);
}

static void test_numbers_comma_locale(void **state)
{
    same_in_locale(*state, comma_locale_set, "comma-decimal");
}

static void test_numbers_multibyte_point(void **state)
{
    same_in_locale(*state, mb_point_locale_set,
                   "multi-byte decimal point");
}

/* Every combination of the optional fields. */
static void test_combinations(void **state)
{
    struct provider_fx *t = *state;
    const char *const stop[] = {NULL, "###", "\t\"end\"\\", NULL};
    const struct lr_message m[] = {
        {LR_ROLE_USER, "q1", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "a1", NULL, NULL, NULL},
        {LR_ROLE_USER, "q2 \xe2\x82\xac \xff\xfe", NULL, NULL, NULL},
    };
    for (unsigned bits = 0; bits < 2048; bits++) {
        struct lr_chat c = {.messages = m, .n_messages = 1 + bits % 3};
        if (bits & 4)
            c.system = "be brief";
        if (bits & 8)
            c.max_tokens = 256;
        if (bits & 16) {
            c.has_temperature = 1;
            c.temperature = 0.1;
        }
        if (bits & 32) {
            c.stop = stop;
            c.n_stop = 4;
        }
        if (bits & 64)
            c.user = "user \"x\"";
        if (bits & 128)
            c.stream = 1;
        if (bits & 256) {
            c.tools_json = TOOLS;
            c.tool_choice_json = "none";
        }
        if (bits & 512) {
            c.has_top_p = 1;
            c.top_p = 0.95;
            c.has_seed = 1;
            c.seed = (int64_t)bits - 700;
            c.response_format_json = bits & 1 ? "{\"type\":\"json_object\"}"
                                              : SCHEMA_FORMAT;
        }
        if (bits & 1024) {
            c.has_presence_penalty = 1;
            c.presence_penalty = 0.1;
            c.has_frequency_penalty = 1;
            c.frequency_penalty = 2;
        }
        set_stream_usage(t, (bits & 3) != 1);
        set_legacy(t, (bits & 3) == 2);
        same(t, &c);
    }
    set_stream_usage(t, 1);
    set_legacy(t, 0);

    /* no section: defaults */
    const struct lr_section *sec = t->target.section;
    struct lr_chat c = {.messages = m, .n_messages = 3, .max_tokens = 5,
                        .stream = 1};
    t->target.section = NULL;
    same(t, &c);
    t->target.section = sec;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixtures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixtures_tools, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sampling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_comma_locale, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_numbers_multibyte_point, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_combinations, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
