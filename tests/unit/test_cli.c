/*
 * test_cli.c - the `llmroute` command line as a user meets it: the built
 * program ($LLMROUTE_TEST_BUILD/llmroute) runs as a child process against
 * the scripted mock upstream, in-process on loopback, with INI files
 * written to a scratch folder.  Checked: exit codes (0 ok, 2 usage or
 * config, 3 request failed, 4 refused by a policy), `check` on good and
 * broken configs (FILE:LINE: messages), `chat --json` shapes for success
 * and failure parsed with cJSON, plain and --stream output, stdin
 * prompts, the sampling and --response-format flags (bad values refused
 * naming the flag; the format reaching the core), `plugins` listings
 * with broken fixtures, and usage errors.
 *
 * Every child is bounded (tests/support/cli_run): its output is read
 * with poll() against a deadline, and a child still running at the
 * deadline is killed and the test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "mock_upstream.h"
#include "testenv.h"

/* Generous: a sanitizer build on a loaded machine still finishes in
   well under a second per run. */
#define RUN_TIMEOUT_MS 30000

/* The mock's routes; targets pick one by model. */
static const char SCRIPT[] =
    "{\"routes\":["
    "{\"name\":\"ok\",\"model\":\"m-ok\",\"responses\":[{\"text\":"
    "\"Hello there\",\"usage\":{\"prompt_tokens\":3,"
    "\"completion_tokens\":2}}]},"
    "{\"name\":\"echo\",\"model\":\"m-echo\",\"responses\":["
    "{\"echo\":true}]},"
    "{\"name\":\"e500\",\"model\":\"m-500\",\"responses\":[{\"status\":500,"
    "\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}]},"
    "{\"name\":\"e503\",\"model\":\"m-503\",\"responses\":[{\"status\":503,"
    "\"error\":{\"message\":\"busy\",\"type\":\"server_error\"}}]},"
    "{\"name\":\"r429\",\"model\":\"m-429\",\"responses\":[{\"status\":429,"
    "\"headers\":{\"retry-after-ms\":\"1500\"},\"error\":{\"message\":"
    "\"slow down\",\"type\":\"requests\",\"code\":"
    "\"rate_limit_exceeded\"}}]},"
    "{\"name\":\"stream\",\"model\":\"m-stream\",\"responses\":[{\"text\":"
    "\"Hello streaming world\",\"chunk_delay_ms\":2}]}]}";

/* INI pieces; @PORT@ becomes the mock's port. */
#define ROUTER "[router]\nplugin_dir = .\ntimeout_ms = 10000\n"
#define TARGET(name, model)                                                \
    "\n[target " name "]\nprovider = openai\nmodel = " model "\n"        \
    "base_url = http://127.0.0.1:@PORT@/v1\n"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (cli_env_start(&f->env, &f->mock, SCRIPT) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    cli_env_stop(&f->env, f->mock);
    free(f);
    return 0;
}

/* Write an INI into the scratch folder, @PORT@ replaced; its path is
   returned in path (size 512). */
static void conf(struct fx *f, const char *name, const char *tmpl,
                 char *path)
{
    cli_conf(&f->env, name, tmpl, mock_port(f->mock), path);
}

/* Run llmroute with the NULL-terminated arguments and stdin_text (NULL:
   empty stdin). */
static void run(struct fx *f, struct cli_run *r, const char *stdin_text,
                ...)
{
    va_list ap;
    va_start(ap, stdin_text);
    cli_runv(r, RUN_TIMEOUT_MS, stdin_text ? stdin_text : "", ap);
    va_end(ap);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* stdout must be exactly one line holding one JSON value. */
static cJSON *parse_one(const char *out)
{
    size_t n = strlen(out);
    assert_true(n > 1);
    assert_int_equal(out[n - 1], '\n');
    assert_ptr_equal(strchr(out, '\n'), out + n - 1);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(out, &end, 0);
    if (!j)
        fail_msg("stdout is not JSON: %s", out);
    assert_string_equal(end, "\n");
    return j;
}

static const cJSON *key(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        fail_msg("JSON lacks key '%s'", k);
    return v;
}

static const char *str_key(const cJSON *o, const char *k)
{
    const cJSON *v = key(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double num_key(const cJSON *o, const char *k)
{
    const cJSON *v = key(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* An attempt object: every contract key present with the right type.
   error_class/skipped NULL mean JSON null; retry -1 means null. */
static void check_attempt(const cJSON *a, const char *target, int status,
                          const char *error_class, int retry,
                          const char *skipped)
{
    assert_true(cJSON_IsObject(a));
    assert_string_equal(str_key(a, "target"), target);
    assert_int_equal((int)num_key(a, "status"), status);
    if (error_class)
        assert_string_equal(str_key(a, "error_class"), error_class);
    else
        assert_true(cJSON_IsNull(key(a, "error_class")));
    if (retry >= 0)
        assert_int_equal((int)num_key(a, "retry_after_ms"), retry);
    else
        assert_true(cJSON_IsNull(key(a, "retry_after_ms")));
    assert_true(num_key(a, "waited_ms") >= 0);
    assert_true(num_key(a, "latency_ms") >= 0);
    if (skipped)
        assert_string_equal(str_key(a, "skipped"), skipped);
    else
        assert_true(cJSON_IsNull(key(a, "skipped")));
}

static const cJSON *attempts(const cJSON *j, int n)
{
    const cJSON *arr = key(j, "attempts");
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), n);
    return arr;
}

/* --- check ------------------------------------------------------------ */

static void check_ok(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "ok.ini", ROUTER TARGET("a", "m-ok") TARGET("b", "m-echo"), ini);
    run(f, &r, NULL, "check", "-c", ini, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.err, "");
    assert_true(starts_with(r.out, ini));
    assert_non_null(strstr(r.out, ": OK\n"));
    assert_non_null(strstr(r.out, "  1. a: openai m-ok at http://127.0.0.1:"));
    assert_non_null(strstr(r.out, "  2. b: openai m-echo at "));
    cli_run_free(&r);

    run(f, &r, NULL, "check", "--json", "-c", ini, NULL);
    assert_int_equal(r.code, 0);
    cJSON *j = cJSON_Parse(r.out); /* one object, maybe on several lines */
    assert_non_null(j);
    const cJSON *t = key(j, "targets");
    assert_int_equal(cJSON_GetArraySize(t), 2);
    assert_string_equal(str_key(cJSON_GetArrayItem(t, 1), "name"), "b");
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* Each broken config exits 2 with "llmroute: FILE:LINE: ..." and prints
   nothing on stdout. */
static void check_broken(void **state)
{
    static const struct {
        const char *ini;
        int line;
        const char *says;
    } cases[] = {
        {ROUTER "bogus = 1\n", 4, "unknown key 'bogus'"},
        {ROUTER TARGET("a", "m-ok") "timeout_ms = soon\n", 9,
         "timeout_ms: expected a whole number"},
        {ROUTER "\n[target a]\nprovider = nosuch\nmodel = m\n", 6,
         "provider plugin 'nosuch'"},
        {ROUTER "[target a\n", 4, "syntax error"},
        {ROUTER "pipeline = nopol\n" TARGET("a", "m-ok"), 4,
         "no [policy nopol] section"},
        {ROUTER "pipeline = g\n" TARGET("a", "m-ok")
         "\n[policy g]\nplugin = prompt_guard\nmax_chars = -5\n", 13,
         "max_chars: must be 0"},
        /* A provider's own keys, at load rather than at the first request. */
        {ROUTER TARGET("a", "m-ok") "max_tokens_field = max\n", 9,
         "max_tokens_field: \"max\" is neither"},
        {ROUTER TARGET("a", "m-ok") "auth_header = sk-secret-0123\n", 9,
         "auth_header: not bearer, api-key or auto (value not shown"},
        {ROUTER "\n[target g]\nprovider = gemini\nmodel = m\n"
         "api_version = ../v1\n", 8, "api_version: not a path segment"},
    };
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char ini[512], want[700];
        struct cli_run r;
        conf(f, "bad.ini", cases[i].ini, ini);
        run(f, &r, NULL, "check", "-c", ini, NULL);
        snprintf(want, sizeof want, "llmroute: %s:%d: ", ini, cases[i].line);
        if (r.code != 2 || !starts_with(r.err, want) ||
            !strstr(r.err, cases[i].says))
            fail_msg("case %zu: exit %d, stderr: %swanted: %s...%s", i,
                     r.code, r.err, want, cases[i].says);
        assert_string_equal(r.out, "");
        assert_null(strstr(r.err, "sk-secret"));
        cli_run_free(&r);
    }
}

static void check_missing_file(void **state)
{
    struct fx *f = *state;
    struct cli_run r;
    run(f, &r, NULL, "check", "-c", "/nonexistent/llmroute.ini", NULL);
    assert_int_equal(r.code, 2);
    assert_true(starts_with(r.err, "llmroute: /nonexistent/llmroute.ini: "));
    cli_run_free(&r);
}

/* --- chat ------------------------------------------------------------- */

static void chat_json_success(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-ok")
         "input_usd_per_mtok = 1000000\noutput_usd_per_mtok = 2000000\n"
         TARGET("b", "m-echo"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "hi", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.err, "");
    cJSON *j = parse_one(r.out);
    assert_true(strlen(str_key(j, "id")) > 0);
    assert_string_equal(str_key(j, "text"), "Hello there");
    assert_string_equal(str_key(j, "finish_reason"), "stop");
    assert_string_equal(str_key(j, "target"), "a");
    assert_string_equal(str_key(j, "provider"), "openai");
    assert_string_equal(str_key(j, "model"), "m-ok");
    const cJSON *u = key(j, "usage");
    assert_int_equal((int)num_key(u, "prompt_tokens"), 3);
    assert_int_equal((int)num_key(u, "completion_tokens"), 2);
    /* 3 x $1 + 2 x $2 at these (absurd) per-token prices. */
    assert_true(num_key(j, "cost_usd") == 7.0);
    assert_true(num_key(j, "latency_ms") >= 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "error"));
    check_attempt(cJSON_GetArrayItem(attempts(j, 1), 0), "a", 200, NULL, -1,
                  NULL);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* Fallback: a's 429 with a hint, then b's answer; the trail shows both. */
static void chat_json_fallback(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-429") TARGET("b", "m-echo"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "tell me", NULL);
    assert_int_equal(r.code, 0);
    cJSON *j = parse_one(r.out);
    assert_string_equal(str_key(j, "text"), "echo: tell me");
    assert_string_equal(str_key(j, "target"), "b");
    assert_string_equal(str_key(j, "model"), "m-echo");
    const cJSON *arr = attempts(j, 2);
    check_attempt(cJSON_GetArrayItem(arr, 0), "a", 429, "rate_limited",
                  1500, NULL);
    check_attempt(cJSON_GetArrayItem(arr, 1), "b", 200, NULL, -1, NULL);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* A policy's skip shows as an attempt with "skipped" and status 0. */
static void chat_json_skipped(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER "pipeline = pol\n" TARGET("a", "m-ok")
         TARGET("b", "m-echo") "\n[policy pol]\nplugin = testpol\n"
         "skip_target = a\n", ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "x", NULL);
    assert_int_equal(r.code, 0);
    cJSON *j = parse_one(r.out);
    const cJSON *arr = attempts(j, 2);
    check_attempt(cJSON_GetArrayItem(arr, 0), "a", 0, NULL, -1,
                  "pol: testing skip");
    assert_int_equal((int)num_key(cJSON_GetArrayItem(arr, 0), "latency_ms"),
                     0);
    check_attempt(cJSON_GetArrayItem(arr, 1), "b", 200, NULL, -1, NULL);
    assert_int_equal(mock_requests(f->mock, "ok"), 0);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* Every target fails: exit 3, the error object, no answer keys. */
static void chat_json_failure(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-500") TARGET("b", "m-503"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "x", NULL);
    assert_int_equal(r.code, 3);
    cJSON *j = parse_one(r.out);
    assert_true(strlen(str_key(j, "id")) > 0);
    const cJSON *e = key(j, "error");
    assert_string_equal(str_key(e, "class"), "overloaded");
    assert_true(starts_with(str_key(e, "message"), "b: "));
    assert_true(cJSON_IsNull(key(e, "retry_after_ms")));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "text"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "target"));
    const cJSON *arr = attempts(j, 2);
    check_attempt(cJSON_GetArrayItem(arr, 0), "a", 500, "server_error", -1,
                  NULL);
    check_attempt(cJSON_GetArrayItem(arr, 1), "b", 503, "overloaded", -1,
                  NULL);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* The caller's retry hint comes through error.retry_after_ms. */
static void chat_json_failure_hint(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-429"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "x", NULL);
    assert_int_equal(r.code, 3);
    cJSON *j = parse_one(r.out);
    const cJSON *e = key(j, "error");
    assert_string_equal(str_key(e, "class"), "rate_limited");
    assert_non_null(strstr(str_key(e, "message"), "slow down"));
    assert_int_equal((int)num_key(e, "retry_after_ms"), 1500);
    check_attempt(cJSON_GetArrayItem(attempts(j, 1), 0), "a", 429,
                  "rate_limited", 1500, NULL);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* A policy refusing a request before any attempt exits 4, whatever the
   class (rate_limited_local, or prompt_guard's content_filter and
   bad_request); no upstream call either way. */
static void chat_policy_refusals(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER "pipeline = guard, pol\n" TARGET("a", "m-ok")
         "\n[policy guard]\nplugin = prompt_guard\nmax_chars = 20\n"
         "deny_words = secret, api key\n"
         "\n[policy pol]\nplugin = testpol\nreject_user = bob\n", ini);

    run(f, &r, NULL, "chat", "-c", ini, "--json", "--user", "bob", "hi",
        NULL);
    assert_int_equal(r.code, 4);
    cJSON *j = parse_one(r.out);
    const cJSON *e = key(j, "error");
    assert_string_equal(str_key(e, "class"), "rate_limited_local");
    assert_string_equal(str_key(e, "message"),
                        "pol: user is over the test limit");
    assert_int_equal((int)num_key(e, "retry_after_ms"), 1234);
    attempts(j, 0);
    cJSON_Delete(j);
    cli_run_free(&r);

    run(f, &r, NULL, "chat", "-c", ini, "--json", "my API Key is x", NULL);
    assert_int_equal(r.code, 4);
    j = parse_one(r.out);
    e = key(j, "error");
    assert_string_equal(str_key(e, "class"), "content_filter");
    assert_string_equal(str_key(e, "message"), "guard: a user message "
                        "contains the denied word 'api key' (deny_words)");
    attempts(j, 0);
    cJSON_Delete(j);
    cli_run_free(&r);

    run(f, &r, NULL, "chat", "-c", ini, "--json",
        "twenty-one characters", NULL);
    assert_int_equal(r.code, 4);
    j = parse_one(r.out);
    e = key(j, "error");
    assert_string_equal(str_key(e, "class"), "bad_request");
    assert_string_equal(str_key(e, "message"), "guard: request is 21 "
                        "characters, over the limit of 20 (max_chars)");
    cJSON_Delete(j);
    cli_run_free(&r);

    assert_int_equal(mock_requests(f->mock, NULL), 0);
    run(f, &r, NULL, "chat", "-c", ini, "fine", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "Hello there\n");
    cli_run_free(&r);
}

static void chat_plain(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-echo"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "plain words", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "echo: plain words\n");
    assert_string_equal(r.err, "");
    cli_run_free(&r);

    /* No PROMPT, or "-": stdin, trailing newlines dropped. */
    run(f, &r, "from stdin\n\n", "chat", "-c", ini, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "echo: from stdin\n");
    cli_run_free(&r);
    run(f, &r, "dash\n", "chat", "-c", ini, "-", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "echo: dash\n");
    cli_run_free(&r);
}

static void chat_plain_failure(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-500"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "x", NULL);
    assert_int_equal(r.code, 3);
    assert_string_equal(r.out, "");
    assert_true(starts_with(r.err, "llmroute: server_error: a: "));
    assert_non_null(strstr(r.err, "\n  attempt 1: a -> server_error "
                           "(HTTP 500, "));
    cli_run_free(&r);
}

/* The plain trail says why the next target was tried (fallback_reason),
   and nothing after the last attempt. */
static void chat_plain_fallback_reason(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-500") TARGET("b", "m-503"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "x", NULL);
    assert_int_equal(r.code, 3);
    const char *a = strstr(r.err, "\n  attempt 1: a -> server_error "
                           "(HTTP 500, ");
    const char *b = strstr(r.err, "\n  attempt 2: b -> overloaded "
                           "(HTTP 503, ");
    if (!a || !b)
        fail_msg("trail: %s", r.err);
    const char *why = strstr(a, " ms), fallback: server_error\n");
    if (!why || why > b || !strstr(b, " ms)\n") || strstr(b, "fallback"))
        fail_msg("trail: %s", r.err);
    cli_run_free(&r);
}

static void chat_stream(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-stream"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--stream", "go", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "Hello streaming world\n");
    assert_string_equal(r.err, "");
    cli_run_free(&r);

    /* --stream --json: the call streams, one final object is printed. */
    run(f, &r, NULL, "chat", "-c", ini, "--stream", "--json", "go", NULL);
    assert_int_equal(r.code, 0);
    cJSON *j = parse_one(r.out);
    assert_string_equal(str_key(j, "text"), "Hello streaming world");
    check_attempt(cJSON_GetArrayItem(attempts(j, 1), 0), "a", 200, NULL, -1,
                  NULL);
    cJSON_Delete(j);
    cli_run_free(&r);

    /* The upstream request asked for a stream. */
    char *body = mock_last_body(f->mock, "stream");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"stream\":true"));
    free(body);
}

/* --tier asks the router for a tier, --conversation and --no-cache reach
   the policies; bad values are usage errors. */
static void chat_tier_conversation_cache(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "t.ini", ROUTER "pipeline = cache, cx\n"
         TARGET("a", "m-echo") TARGET("b", "m-ok")
         "[policy cache]\nplugin = cache\n"
         "[policy cx]\nplugin = complexity\nsimple = a\nmedium = a\n"
         "complex = b\n", ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "--tier", "complex",
        "--conversation", "c1", "hi", NULL);
    assert_int_equal(r.code, 0);
    cJSON *j = parse_one(r.out);
    assert_string_equal(str_key(j, "tier"), "complex");
    assert_string_equal(str_key(j, "target"), "b");
    cJSON_Delete(j);
    cli_run_free(&r);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "--no-cache", "--tier",
        "complex", "hi", NULL);
    assert_int_equal(r.code, 0);
    j = parse_one(r.out);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "served_by"));
    cJSON_Delete(j);
    cli_run_free(&r);
    run(f, &r, NULL, "chat", "-c", ini, "--tier", "huge", "hi", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "--tier wants simple, medium or complex"));
    cli_run_free(&r);
}

static void chat_broken_config(void **state)
{
    struct fx *f = *state;
    char ini[512], want[600];
    struct cli_run r;
    conf(f, "c.ini", ROUTER "\n[target a]\nprovider = openai\n", ini);
    run(f, &r, NULL, "chat", "-c", ini, "--json", "x", NULL);
    assert_int_equal(r.code, 2);
    assert_string_equal(r.out, "");
    snprintf(want, sizeof want, "llmroute: %s:5: [target a] needs model",
             ini);
    assert_true(starts_with(r.err, want));
    cli_run_free(&r);
}

/* --- plugins ---------------------------------------------------------- */

static void plugins_good_dir(void **state)
{
    struct fx *f = *state;
    char dir[1024];
    struct cli_run r;
    snprintf(dir, sizeof dir, "%s/plugins", tenv_build());
    run(f, &r, NULL, "plugins", "--dir", dir, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.err, "");
    /* Sorted by name. */
    assert_true(starts_with(r.out, "anthropic    provider  ABI 1.4  v"));
    assert_non_null(strstr(r.out, "\ngemini       provider  ABI 1.4  v"));
    assert_non_null(strstr(r.out, "\nopenai       provider  ABI 1.4  v"));
    assert_non_null(strstr(r.out, "\nprompt_guard policy    ABI 1.4  v1.0"));
    assert_non_null(strstr(r.out, "\nsqlite       store     ABI 1.4  v1.0"));
    assert_null(strstr(r.out, "BROKEN"));
    cli_run_free(&r);
}

/* The fixture folder holds broken plugins: each is named with its
   reason, the good one is still listed, and the exit is 2. */
static void plugins_broken_dir(void **state)
{
    struct fx *f = *state;
    char dir[1024], want[1200];
    struct cli_run r;
    snprintf(dir, sizeof dir, "%s/tests/plugins", tenv_build());
    run(f, &r, NULL, "plugins", "--dir", dir, NULL);
    assert_int_equal(r.code, 2);
    snprintf(want, sizeof want, "BROKEN    %s/bad_major.so: plugin ABI 2.1, "
             "core speaks 1.x\n", dir);
    assert_non_null(strstr(r.out, want));
    snprintf(want, sizeof want, "BROKEN    %s/no_entry.so: ", dir);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "\ntestpol      policy    ABI 1.4"));
    cli_run_free(&r);

    run(f, &r, NULL, "plugins", "--json", "--dir", dir, NULL);
    assert_int_equal(r.code, 2);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_true(cJSON_IsArray(j));
    int broken = 0, good = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, j) {
        const char *path = str_key(p, "path");
        if (cJSON_GetObjectItemCaseSensitive(p, "error")) {
            broken++;
            if (strstr(path, "/bad_major.so"))
                assert_non_null(strstr(str_key(p, "error"), "ABI 2.1"));
            continue;
        }
        good++;
        const char *name = str_key(p, "name");
        assert_string_equal(str_key(p, "kind"),
                            !strcmp(name, "old_provider") ? "provider"
                            : !strcmp(name, "store_probe") ? "store"
                                                           : "policy");
        /* the 1.0, 1.1 and 1.2 fixtures still load under a 1.4 core */
        assert_string_equal(str_key(p, "abi"),
                            !strcmp(name, "old_minor") ? "1.0"
                            : !strcmp(name, "minor1") ? "1.1"
                            : !strcmp(name, "old_provider") ? "1.2" : "1.4");
    }
    /* testpol, old_minor, minor1, hookcheck, old_provider, store_probe */
    assert_int_equal(good, 6);
    assert_true(broken >= 6);
    cJSON_Delete(j);
    cli_run_free(&r);
}

/* plugins -c CONF lists the folder the config names. */
static void plugins_from_config(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-ok"), ini);
    /* The scratch folder links the good plugins and the fixtures. */
    run(f, &r, NULL, "plugins", "-c", ini, NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.out, "/bad_major.so: plugin ABI 2.1"));
    assert_non_null(strstr(r.out, "prompt_guard policy"));
    cli_run_free(&r);

    run(f, &r, NULL, "plugins", "--dir", "/nonexistent/plugins", NULL);
    assert_int_equal(r.code, 2);
    assert_true(starts_with(r.err, "llmroute: /nonexistent/plugins: "));
    cli_run_free(&r);
}

/* --- sampling flags ------------------------------------------------------ */

/* Bad values are usage errors naming the flag and what it wants, before
   anything is sent. */
static void chat_sampling_refused(void **state)
{
    static const struct {
        const char *flag, *value, *want;
    } cases[] = {
        {"--top-p", "0", "--top-p wants a number above 0 and at most 1, "
         "got 0\n"},
        {"--top-p", "1.5", "--top-p wants a number above 0 and at most 1, "
         "got 1.5\n"},
        {"--top-p", "half", "--top-p wants a number, got 'half'\n"},
        {"--top-p", "nan", "--top-p wants a number above 0 and at most 1"},
        {"--seed", "1.5", "--seed wants a whole number, got '1.5'\n"},
        {"--seed", "99999999999999999999", "--seed wants a whole number"},
        {"--presence-penalty", "2.5", "--presence-penalty wants a number "
         "from -2 to 2, got 2.5\n"},
        {"--frequency-penalty", "-3", "--frequency-penalty wants a number "
         "from -2 to 2, got -3\n"},
        {"--frequency-penalty", "", "--frequency-penalty wants a number, "
         "got ''\n"},
        {"--response-format", "xml", "--response-format wants text, "
         "json_object or OpenAI's response_format JSON"},
        {"--response-format", "{\"type\":\"json_schema\"}",
         "got '{\"type\":\"json_schema\"}'\n"},
        {"--response-format", "{\"type\":", "--response-format wants"},
    };
    struct fx *f = *state;
    char ini[512];
    conf(f, "c.ini", ROUTER TARGET("a", "m-echo"), ini);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cli_run r;
        run(f, &r, NULL, "chat", "-c", ini, cases[i].flag, cases[i].value,
            "hi", NULL);
        if (r.code != 2 || r.out[0] || !starts_with(r.err, "llmroute: ") ||
            !strstr(r.err, cases[i].want))
            fail_msg("%s '%s': exit %d, stdout '%s', stderr '%s'",
                     cases[i].flag, cases[i].value, r.code, r.out, r.err);
        cli_run_free(&r);
    }
    assert_int_equal(mock_requests(f->mock, NULL), 0);
}

/* Good values are accepted; the format reaches the core: the ABI 1.2
   fixture old_provider is skipped for a request with one (and called,
   failing on purpose, for a request without). */
static void chat_sampling_accepted(void **state)
{
    struct fx *f = *state;
    char ini[512], old[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-echo"), ini);
    run(f, &r, NULL, "chat", "-c", ini, "--top-p", "0.9", "--seed", "-42",
        "--presence-penalty", "-2", "--frequency-penalty", "1.5",
        "--response-format", "{\"type\":\"json_schema\",\"json_schema\":"
        "{\"name\":\"a_1\",\"schema\":{\"type\":\"object\"}}}", "hi",
        NULL);
    if (r.code != 0)
        fail_msg("exit %d, stderr '%s'", r.code, r.err);
    assert_string_equal(r.out, "echo: hi\n");
    cli_run_free(&r);

    conf(f, "old.ini", ROUTER "\n[target old]\nprovider = old_provider\n"
         "model = m\n", old);
    run(f, &r, NULL, "chat", "-c", old, "--json", "--response-format",
        "json_object", "hi", NULL);
    assert_int_equal(r.code, 3);
    cJSON *j = parse_one(r.out);
    assert_string_equal(str_key(key(j, "error"), "class"), "no_target");
    check_attempt(cJSON_GetArrayItem(attempts(j, 1), 0), "old", 0, NULL, -1,
                  "core: provider old_provider (plugin ABI 1.2) cannot "
                  "honour response_format");
    cJSON_Delete(j);
    cli_run_free(&r);
    /* "text" is the default: no format, so old_provider is called. */
    run(f, &r, NULL, "chat", "-c", old, "--response-format", "text",
        "--top-p", "1", "hi", NULL);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "  attempt 1: old skipped (core: "
                           "old_provider: build_request called)\n"));
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, "echo"), 1);
}

/* --- usage ------------------------------------------------------------ */

static void usage_errors(void **state)
{
    static const char *const cases[][6] = {
        {"frobnicate", NULL},
        {"chat", "hi", NULL},
        {"chat", "-c", "x.ini", "--max-tokens", "0", NULL},
        {"chat", "-c", "x.ini", "--max-tokens", "many", NULL},
        {"chat", "-c", "x.ini", "--temperature", "warm", NULL},
        {"chat", "-c", "x.ini", "--timeout-ms", "-5", NULL},
        {"chat", "-c", "x.ini", "one", "two", NULL},
        {"chat", "-c", "x.ini", "--bogus", NULL},
        {"check", NULL},
        {"check", "-c", "x.ini", "extra", NULL},
        {"plugins", NULL},
        {"plugins", "-c", "x.ini", "--dir", "/tmp", NULL},
    };
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i];
        struct cli_run r;
        run(f, &r, NULL, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
        if (r.code != 2 || !strstr(r.err, "llmroute: ") || r.out[0])
            fail_msg("case %zu (%s %s): exit %d, stdout '%s', stderr '%s'",
                     i, a[0], a[1] ? a[1] : "", r.code, r.out, r.err);
        cli_run_free(&r);
    }
}

static void usage_and_version(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    run(f, &r, NULL, NULL);
    assert_int_equal(r.code, 2);
    assert_true(starts_with(r.err, "usage: llmroute COMMAND"));
    assert_string_equal(r.out, "");
    cli_run_free(&r);

    run(f, &r, NULL, "--help", NULL);
    assert_int_equal(r.code, 0);
    assert_true(starts_with(r.out, "usage: llmroute COMMAND"));
    assert_non_null(strstr(r.out, "exit codes: 0 ok, 2 usage/config error, "
                           "3 request failed, 4 rejected by a policy"));
    cli_run_free(&r);

    run(f, &r, NULL, "--version", NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "llmroute 0.1.0\n");
    cli_run_free(&r);

    /* An empty prompt is a usage error, before any config is read. */
    conf(f, "c.ini", ROUTER TARGET("a", "m-echo"), ini);
    run(f, &r, "\n", "chat", "-c", ini, NULL);
    assert_int_equal(r.code, 2);
    assert_string_equal(r.err, "llmroute: chat: empty prompt\n");
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, NULL), 0);
}

/* --messages: a whole conversation with tools, in OpenAI's shape. */
static void chat_messages_file(void **state)
{
    struct fx *f = *state;
    char ini[512];
    struct cli_run r;
    conf(f, "c.ini", ROUTER TARGET("a", "m-echo"), ini);
    const char *conv = tenv_write(&f->env, "conv.json",
        "{\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"w\","
        "\"arguments\":\"{}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"3C\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"and now\"},{\"type\":\"text\",\"text\":\"?\"}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"w\","
        "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":\"auto\"}");
    char path[512];
    snprintf(path, sizeof path, "%s", conv);
    run(f, &r, NULL, "chat", "-c", ini, "--messages", path, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "echo: and now?\n");
    cli_run_free(&r);
    char *body = mock_last_body(f->mock, "echo");
    assert_non_null(strstr(body, "\"tool_call_id\":\"call_9\""));
    assert_non_null(strstr(body, "\"content\":\"Be brief.\""));
    assert_non_null(strstr(body, "\"tools\":[{"));
    free(body);

    tenv_write(&f->env, "bad.json", "[{\"role\":\"robot\",\"content\":\"x\"}]");
    run(f, &r, NULL, "chat", "-c", ini, "--messages",
        tenv_file(&f->env, "bad.json"), NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "messages[0]: needs a role"));
    cli_run_free(&r);
    run(f, &r, NULL, "chat", "-c", ini, "--messages", path, "extra", NULL);
    assert_int_equal(r.code, 2);
    cli_run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    /* A child that exits before reading its stdin must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(check_ok),
        T(check_broken),
        T(check_missing_file),
        T(chat_json_success),
        T(chat_json_fallback),
        T(chat_json_skipped),
        T(chat_json_failure),
        T(chat_json_failure_hint),
        T(chat_policy_refusals),
        T(chat_plain),
        T(chat_plain_failure),
        T(chat_plain_fallback_reason),
        T(chat_stream),
        T(chat_messages_file),
        T(chat_tier_conversation_cache),
        T(chat_broken_config),
        T(plugins_good_dir),
        T(plugins_broken_dir),
        T(plugins_from_config),
        T(chat_sampling_refused),
        T(chat_sampling_accepted),
        T(usage_errors),
        T(usage_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
