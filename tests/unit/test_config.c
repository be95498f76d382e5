/*
 * test_config.c - every configuration mistake is an error at load with
 * FILE:LINE and a message that says what to fix; a good file loads and
 * describes itself without secrets.  Uses the public lr_open() against
 * INI files written into a scratch folder holding the built plugins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "comma_locale.h"
#include "llmroute.h"
#include "testenv.h"

#define TARGET_A "[target a]\nprovider = openai\nmodel = m\n" \
                 "base_url = http://127.0.0.1:9/v1\n"

/* Load text as c.ini; expect failure whose message contains want (with
   the folder stripped, so want starts "c.ini:LINE:"). */
static void expect_error(const char *text, const char *want)
{
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "c.ini", "%s", text);
    char err[1024] = "";
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (r)
        lr_close(r);
    assert_null(r);
    const char *base = strstr(err, "c.ini:");
    if (!base || strncmp(base, want, strlen(want)) != 0)
        fail_msg("expected '%s'\n     got '%s'", want, err);
    tenv_free(&e);
}

static void unknown_section(void **s)
{
    (void)s;
    expect_error("[routr]\n", "c.ini:1: unknown section [routr]");
    expect_error(TARGET_A "\n[polcy x]\n", "c.ini:6: unknown section "
                 "[polcy x]");
}

static void unknown_key_suggests(void **s)
{
    (void)s;
    expect_error("[router]\npipline = x\n", "c.ini:2: unknown key "
                 "'pipline' in [router] (did you mean 'pipeline'?)");
    expect_error("[router]\n" TARGET_A "modle = x\n", "c.ini:6: unknown key "
                 "'modle' in [target a] (did you mean 'model'?)");
    expect_error(TARGET_A "zzzzzz = 1\n", "c.ini:5: unknown key 'zzzzzz' "
                 "in [target a]");
}

static void bad_numbers(void **s)
{
    (void)s;
    expect_error("[router]\ntimeout_ms = 5s\n", "c.ini:2: timeout_ms: "
                 "expected a whole number, got '5s'");
    expect_error(TARGET_A "input_usd_per_mtok = cheap\n", "c.ini:5: "
                 "input_usd_per_mtok: expected a number, got 'cheap'");
    expect_error("[router]\nlog_content = maybe\n", "c.ini:2: log_content: "
                 "expected true or false, got 'maybe'");
    expect_error("[router]\ntimeout_ms = 0\n" TARGET_A, "c.ini:2: "
                 "timeout_ms must be above 0");
    expect_error(TARGET_A "timeout_ms = -5\n", "c.ini:1: [target a]: "
                 "prices, timeouts and max_tokens may not be negative");
}

static void syntax_errors(void **s)
{
    (void)s;
    expect_error("[router]\njust words\n", "c.ini:2: syntax error");
    expect_error("timeout_ms = 5\n", "c.ini:1: key 'timeout_ms' outside "
                 "any section");
    expect_error("[router]\ntimeout_ms = 5\ntimeout_ms = 6\n", "c.ini:3: "
                 "duplicate key 'timeout_ms' (first set at line 2)");
    expect_error(TARGET_A "[target a]\n", "c.ini:5: duplicate section "
                 "(first defined at line 1)");
    expect_error("[target]\n", "c.ini:1: [target] needs a name");
    expect_error("[router x]\n", "c.ini:1: [router] takes no name");
    char long_line[400];
    snprintf(long_line, sizeof long_line, "[router]\n; %0300d\n", 0);
    expect_error(long_line, "c.ini:2: line too long (302 characters");
}

static void missing_pieces(void **s)
{
    (void)s;
    expect_error("[router]\n", "c.ini:1: no [target NAME] section");
    expect_error("[target a]\nmodel = m\n", "c.ini:1: [target a] needs "
                 "provider = ...");
    expect_error("[target a]\nprovider = openai\n", "c.ini:1: [target a] "
                 "needs model = ...");
    expect_error("[router]\npipeline = budget\n" TARGET_A, "c.ini:2: "
                 "pipeline entry 'budget' has no [policy budget] section");
    expect_error("[router]\ntargets = a, zz\n" TARGET_A, "c.ini:2: "
                 "targets: no [target zz] section");
    expect_error("[router]\npipeline = p\n" TARGET_A "[policy p]\n",
                 "c.ini:7: [policy p] needs plugin = ...");
}

static void missing_plugin(void **s)
{
    (void)s;
    expect_error("[target a]\nprovider = nosuch\nmodel = m\n",
                 "c.ini:2: provider plugin 'nosuch': ");
    expect_error("[target a]\nprovider = testpol\nmodel = m\n",
                 "c.ini:2: plugin 'testpol' is a policy, not a provider");
    expect_error("[router]\npipeline = p\n" TARGET_A
                 "[policy p]\nplugin = openai\n",
                 "c.ini:8: plugin 'openai' is a provider, not a policy");
    expect_error("[target a]\nprovider = ../x\nmodel = m\n",
                 "c.ini:2: bad plugin name '../x'");
}

static void plugin_create_fails(void **s)
{
    (void)s;
    expect_error("[router]\npipeline = p\n" TARGET_A
                 "[policy p]\nplugin = testpol\nreverse = true\n"
                 "fail_create = yes\n",
                 "c.ini:10: [policy p] (plugin testpol): fail_create: "
                 "asked to fail");
    expect_error("[router]\npipeline = p\n" TARGET_A
                 "[policy p]\nplugin = testpol\nwait_ms = soon\n",
                 "c.ini:9: wait_ms: expected a whole number");
}

static void missing_api_key(void **s)
{
    (void)s;
    unsetenv("LR_TEST_UNSET_VAR");
    expect_error(TARGET_A "api_key_env = LR_TEST_UNSET_VAR\n",
                 "c.ini:5: environment variable LR_TEST_UNSET_VAR is not "
                 "set (API key of target a)");
}

static void bad_base_url(void **s)
{
    (void)s;
    expect_error("[target a]\nprovider = openai\nmodel = m\n"
                 "base_url = 127.0.0.1:80\n", "c.ini:4: base_url must "
                 "start with http:// or https://");
}

static void good_config_loads(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    setenv("LR_TEST_KEY", "sk-test-SECRET-4242", 1);
    const char *path = tenv_write(&e, "ok.ini",
        "; comment line\n[router]\ntargets = b, a ; inline comment\n"
        "[target a]\nprovider = openai\nmodel = m1\n"
        "base_url = http://127.0.0.1:9/v1/\napi_key_env = LR_TEST_KEY\n"
        "[target b]\nprovider = openai\nmodel = m2\n");
    char err[512] = "";
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("load failed: %s", err);
    char *d = lr_router_describe_json(r);
    assert_non_null(d);
    assert_null(strstr(d, "SECRET"));
    assert_non_null(strstr(d, "LR_TEST_KEY"));
    /* Order from [router] targets; trailing slash removed. */
    const char *b = strstr(d, "\"name\":\t\"b\"");
    const char *a = strstr(d, "\"name\":\t\"a\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(b < a);
    assert_non_null(strstr(d, "http://127.0.0.1:9/v1\""));
    lr_free(d);
    lr_close(r);
    tenv_free(&e);
}

/* Prices read the same under an application's comma-decimal
   LC_NUMERIC: 2.5 loads as two and a half, 2,5 is refused. */
static void prices_comma_locale(void **s)
{
    (void)s;
    COMMA_LOCALE_OR_SKIP();
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "p.ini", TARGET_A
        "input_usd_per_mtok = 2.5\noutput_usd_per_mtok = 1e1\n");
    char err[512] = "";
    struct lr_router *r = lr_open(path, err, sizeof err);
    comma_locale_reset();
    if (!r)
        fail_msg("load failed: %s", err);
    char *d = lr_router_describe_json(r);
    assert_non_null(d);
    assert_non_null(strstr(d, "\"input_usd_per_mtok\":\t2.5,"));
    assert_non_null(strstr(d, "\"output_usd_per_mtok\":\t10"));
    lr_free(d);
    lr_close(r);
    tenv_free(&e);
    COMMA_LOCALE_OR_SKIP();
    expect_error(TARGET_A "input_usd_per_mtok = 2,5\n", "c.ini:5: "
                 "input_usd_per_mtok: expected a number, got '2,5'");
    comma_locale_reset();
}

/* A number beyond int64_t loads (found by fuzzing: converting it for
   lr_cfg_int() was undefined behaviour, caught by the UBSan build). */
static void huge_number_loads(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "big.ini", TARGET_A
        "input_usd_per_mtok = 53333333333333333333333333333333333\n"
        "output_usd_per_mtok = 1e300\n");
    char err[512] = "";
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("load failed: %s", err);
    lr_close(r);
    tenv_free(&e);
}

static void open_bad_args(void **s)
{
    (void)s;
    char err[256] = "";
    assert_null(lr_open(NULL, err, sizeof err));
    assert_non_null(strstr(err, "no INI path"));
    assert_null(lr_open("/nonexistent/x.ini", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.ini: cannot open"));
    lr_close(NULL);
}

static void plugin_dir_lookup(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "p.ini", "[router]\nplugin_dir = "
                                  "sub\n[target a]\nprovider = broken\n");
    char out[512], err[256];
    assert_int_equal(lr_config_plugin_dir(path, out, sizeof out, err,
                                          sizeof err), LR_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/sub", e.dir);
    assert_string_equal(out, want);
    tenv_free(&e);
}

/* A relative sqlite:PATH is relative to the INI file, like every path
   in it; a folder that does not exist is an error at the store line. */
static void sqlite_store_path(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "s.ini", "[router]\n"
                                  "store = sqlite:state.db\n" TARGET_A);
    char err[512] = "", want[512];
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("load failed: %s", err);
    char *d = lr_router_describe_json(r);
    assert_non_null(d);
    snprintf(want, sizeof want, "\"sqlite:%s/state.db\"", e.dir);
    assert_non_null(strstr(d, want));
    lr_free(d);
    lr_close(r);
    assert_int_equal(access(tenv_file(&e, "state.db"), F_OK), 0);
    path = tenv_write(&e, "n.ini", "[router]\nstore = sqlite:no/x.db\n"
                      TARGET_A);
    assert_null(lr_open(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:2: store: sqlite:%s/no/x.db: cannot "
             "open: unable to open database file", path, e.dir);
    assert_string_equal(err, want);
    tenv_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_section),
        cmocka_unit_test(unknown_key_suggests),
        cmocka_unit_test(bad_numbers),
        cmocka_unit_test(syntax_errors),
        cmocka_unit_test(missing_pieces),
        cmocka_unit_test(missing_plugin),
        cmocka_unit_test(plugin_create_fails),
        cmocka_unit_test(missing_api_key),
        cmocka_unit_test(bad_base_url),
        cmocka_unit_test(good_config_loads),
        cmocka_unit_test(huge_number_loads),
        cmocka_unit_test(prices_comma_locale),
        cmocka_unit_test(open_bad_args),
        cmocka_unit_test(plugin_dir_lookup),
        cmocka_unit_test(sqlite_store_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
