/*
 * test_cli_classify.c - `llmroute classify` as a user meets it: the built
 * program ($LLMROUTE_TEST_BUILD/llmroute) runs as a child process with
 * INI files and JSONL inputs written to a scratch folder (nothing is sent
 * upstream, so no mock is needed).  Checked: one prompt as text and as
 * JSON, a word problem's operations and units, --in with ids kept, blank lines skipped and bad lines reported,
 * --calibrate whose printed cut-offs, pasted into an INI, give the
 * shares asked for, and exit code 2 for usage and config errors.
 *
 * Every child is bounded: its output is read with poll() against a
 * deadline, and a child still running at the deadline is killed and the
 * test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "testenv.h"

#define RUN_TIMEOUT_MS 30000

#define TARGETS                                                            \
    "\n[target small]\nprovider = openai\nmodel = s\n"                    \
    "\n[target mid]\nprovider = openai\nmodel = m\n"                      \
    "\n[target big]\nprovider = openai\nmodel = b\n"
#define CONF_OK                                                            \
    "[router]\nplugin_dir = .\npipeline = complexity\n" TARGETS           \
    "\n[policy complexity]\nplugin = complexity\nsimple = small\n"        \
    "medium = mid\ncomplex = big\n"

#define EASY "hi, thanks!"
#define HARD                                                               \
    "My C program crashes with a segfault. Find the bug and fix it:\\n"   \
    "```c\\nint last(struct node *n) {\\n    while (n->next)\\n"          \
    "        n = n->next;\\n    return n->value;\\n}\\n```"

/* Ten prompts of clearly different difficulty (JSON-escaped). */
static const char *const SAMPLE[] = {
    "hi!",
    "Thanks a lot, bye",
    "What is the capital of Peru?",
    "Translate 'good night' into German.",
    "Rewrite this more politely: send it now.",
    "Write a Python function that reverses a list.",
    "A shop sells 3 pens for 2 dollars. How many pens can I buy with 14 "
    "dollars, and how much is left?",
    "Design a scalable chat service: describe the architecture, the "
    "database schema and the caching trade-offs.",
    "Solve 3x^2 - 12x + 9 = 0 step by step, then prove that both roots "
    "are integers.",
    HARD,
};
#define NSAMPLE (sizeof SAMPLE / sizeof SAMPLE[0])

struct fx {
    struct tenv env;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (tenv_init(&f->env) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tenv_free(&f->env);
    free(f);
    return 0;
}

/* Write a file into the scratch folder; its path goes to path (512). */
static void put(struct fx *f, const char *name, const char *text,
                char *path)
{
    const char *w = tenv_write(&f->env, name, "%s", text);
    assert_non_null(w);
    snprintf(path, 512, "%s", w);
}

/* --- Running the CLI --------------------------------------------------- */

/* Run llmroute with the NULL-terminated arguments and empty stdin. */
static void run(struct fx *f, struct cli_run *r, ...)
{
    va_list ap;
    va_start(ap, r);
    cli_runv(r, RUN_TIMEOUT_MS, NULL, ap);
    va_end(ap);
}

/* --- JSON helpers ------------------------------------------------------ */

/* stdout as JSON lines; *n set to their count. */
static cJSON **lines_of(const char *out, size_t *n)
{
    cJSON **v = calloc(64, sizeof *v);
    assert_non_null(v);
    *n = 0;
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        const char *end = NULL;
        assert_true(*n < 64);
        v[*n] = cJSON_ParseWithOpts(p, &end, 0);
        if (!v[*n] || end != nl)
            fail_msg("not one JSON value per line: %s", p);
        (*n)++;
        p = nl + 1;
    }
    return v;
}

static void lines_free(cJSON **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(v[i]);
    free(v);
}

static const char *tier_of(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tier");
    assert_true(cJSON_IsString(t));
    return t->valuestring;
}

static double score_of(const cJSON *j)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "score");
    assert_true(cJSON_IsNumber(s));
    return s->valuedouble;
}

/* The one JSON object `classify --json PROMPT` prints. */
static cJSON *classify_json(struct fx *f, const char *conf,
                            const char *prompt)
{
    struct cli_run r;
    size_t n = 0;
    run(f, &r, "classify", "-c", conf, "--json", prompt, NULL);
    if (r.code != 0)
        fail_msg("exit %d: %s", r.code, r.err);
    cJSON **v = lines_of(r.out, &n);
    assert_int_equal(n, 1);
    cJSON *j = v[0];
    v[0] = NULL;
    lines_free(v, n);
    cli_run_free(&r);
    return j;
}

/* --- Tests --------------------------------------------------------------- */

static void test_one_prompt_json(void **state)
{
    struct fx *f = *state;
    char conf[512];
    put(f, "ok.ini", CONF_OK, conf);
    cJSON *easy = classify_json(f, conf, EASY);
    /* HARD is JSON-escaped for the JSONL tests; unescape the newlines */
    char hard[512];
    size_t k = 0;
    for (const char *p = HARD; *p && k + 1 < sizeof hard; p++)
        hard[k++] = (p[0] == '\\' && p[1] == 'n') ? (p++, '\n') : *p;
    hard[k] = '\0';
    cJSON *j = classify_json(f, conf, hard);
    assert_string_equal(tier_of(easy), "simple");
    assert_string_equal(tier_of(j), "complex");
    assert_true(score_of(j) > score_of(easy));
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(j, "features");
    assert_true(cJSON_IsObject(fs));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "code_blocks")
                         ->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "chars")
                         ->valueint, (int)strlen(hard));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "id"));
    cJSON_Delete(easy);
    cJSON_Delete(j);
}

/* A word problem's arithmetic steps show as their own feature and part,
   and a one-step problem ranks below a five-step one. */
static void test_word_problem_operations(void **state)
{
    struct fx *f = *state;
    char conf[512];
    put(f, "ok.ini", CONF_OK, conf);
    cJSON *one = classify_json(f, conf, "A pencil costs $2. How much do 7 "
                                        "pencils cost?");
    cJSON *five = classify_json(
        f, conf, "Carlos works 8 hours a day, 5 days a week, and earns $15 "
                 "per hour. He saves 20% of his weekly pay and spends $45 "
                 "a week on gas. After 4 weeks, how much has he saved?");
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(five, "features");
    /* earns, per, saves, %, pay, spends, saved */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "operations")
                         ->valueint, 7);
    /* hour, day, week, $ */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "units")
                         ->valueint, 4);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(five, "parts");
    assert_true(cJSON_GetObjectItemCaseSensitive(ps, "operations")
                    ->valuedouble > 0.5);
    assert_string_equal(tier_of(five), "complex");
    assert_true(score_of(one) + 1 < score_of(five));
    cJSON_Delete(one);
    cJSON_Delete(five);
}

static void test_one_prompt_text(void **state)
{
    struct fx *f = *state;
    char conf[512];
    struct cli_run r;
    put(f, "ok.ini", CONF_OK, conf);
    run(f, &r, "classify", "-c", conf, "What is the capital of Peru?",
        NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "tier: simple\n"));
    assert_non_null(strstr(r.out, "score: "));
    assert_non_null(strstr(r.out, "features:\n"));
    assert_non_null(strstr(r.out, "  questions      1\n"));
    assert_string_equal(r.err, "");
    cli_run_free(&r);
}

static void test_in_jsonl(void **state)
{
    struct fx *f = *state;
    char conf[512], in[512];
    struct cli_run r;
    size_t n = 0;
    put(f, "ok.ini", CONF_OK, conf);
    put(f, "in.jsonl",
        "{\"id\":\"a\",\"prompt\":\"" EASY "\"}\n"
        "\n"
        "{\"id\":7,\"prompt\":\"" HARD "\"}\n"
        "{\"prompt\":\"no id here\"}\n", in);
    run(f, &r, "classify", "-c", conf, "--in", in, NULL);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.err, "");
    cJSON **v = lines_of(r.out, &n);
    assert_int_equal(n, 3); /* the blank line gives none */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v[0], "id")
                            ->valuestring, "a");
    assert_string_equal(tier_of(v[0]), "simple");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v[1], "id")->valueint,
                     7);
    assert_string_equal(tier_of(v[1]), "complex");
    assert_null(cJSON_GetObjectItemCaseSensitive(v[2], "id"));
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
        v[2], "features")));
    lines_free(v, n);
    cli_run_free(&r);
}

static void test_in_bad_lines(void **state)
{
    struct fx *f = *state;
    char conf[512], in[512];
    struct cli_run r;
    size_t n = 0;
    put(f, "ok.ini", CONF_OK, conf);
    put(f, "bad.jsonl",
        "{\"id\":1,\"prompt\":\"hi\"}\n"
        "{\"id\":2,\"text\":\"hi\"}\n"
        "not json\n"
        "{\"id\":4,\"prompt\":\"bye\"}\n", in);
    run(f, &r, "classify", "-c", conf, "--in", in, NULL);
    assert_int_equal(r.code, 2);
    cJSON **v = lines_of(r.out, &n);
    assert_int_equal(n, 4); /* one line out per line in, errors included */
    assert_string_equal(tier_of(v[0]), "simple");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v[1], "id")->valueint,
                     2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(v[1], "error")
                            ->valuestring, "no \"prompt\" string");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(v[2], "error"));
    assert_string_equal(tier_of(v[3]), "simple");
    assert_non_null(strstr(r.err, "bad.jsonl:2: no \"prompt\" string"));
    assert_non_null(strstr(r.err, "bad.jsonl:3: not a JSON object"));
    lines_free(v, n);
    cli_run_free(&r);
}

/* The sample as JSONL, in the scratch folder. */
static void sample(struct fx *f, char *path)
{
    char text[8192];
    size_t len = 0;
    for (size_t i = 0; i < NSAMPLE; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "{\"id\":%zu,\"prompt\":\"%s\"}\n", i,
                                SAMPLE[i]);
    assert_true(len < sizeof text);
    put(f, "sample.jsonl", text, path);
}

/* "KEY = value" of the calibration output. */
static double ini_value(const char *out, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s = ", key);
    const char *p = strstr(out, pat);
    if (!p)
        fail_msg("no '%s' line in: %s", key, out);
    return strtod(p + strlen(pat), NULL);
}

static void test_calibrate(void **state)
{
    struct fx *f = *state;
    char conf[512], in[512], conf2[512], text[4096];
    struct cli_run r;
    size_t n = 0;
    put(f, "ok.ini", CONF_OK, conf);
    sample(f, in);
    run(f, &r, "classify", "-c", conf, "--calibrate", in, "--premium-share",
        "0.2", "--medium-share", "0.3", NULL);
    if (r.code != 0)
        fail_msg("exit %d: %s", r.code, r.err);
    double lo = ini_value(r.out, "medium_above");
    double hi = ini_value(r.out, "complex_above");
    assert_true(lo < hi);
    assert_non_null(strstr(r.out, "# tiers with these cut-offs: simple 5, "
                                  "medium 3, complex 2\n"));
    cli_run_free(&r);
    /* Pasted into the INI, the cut-offs give those shares. */
    snprintf(text, sizeof text, "%smedium_above = %.5f\ncomplex_above = "
             "%.5f\n", CONF_OK, lo, hi);
    put(f, "calibrated.ini", text, conf2);
    run(f, &r, "classify", "-c", conf2, "--in", in, NULL);
    assert_int_equal(r.code, 0);
    cJSON **v = lines_of(r.out, &n);
    assert_int_equal(n, NSAMPLE);
    int count[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const char *t = tier_of(v[i]);
        count[strcmp(t, "complex") == 0 ? 2 : strcmp(t, "medium") == 0]++;
    }
    assert_int_equal(count[0], 5);
    assert_int_equal(count[1], 3);
    assert_int_equal(count[2], 2);
    /* The hardest prompt is in the premium share. */
    assert_string_equal(tier_of(v[NSAMPLE - 1]), "complex");
    lines_free(v, n);
    cli_run_free(&r);
}

static void test_calibrate_json_and_defaults(void **state)
{
    struct fx *f = *state;
    char conf[512], in[512];
    struct cli_run r;
    size_t n = 0;
    put(f, "ok.ini", CONF_OK, conf);
    sample(f, in);
    /* Default shares: premium 0.1, medium 0.3. */
    run(f, &r, "classify", "-c", conf, "--calibrate", in, "--json", NULL);
    assert_int_equal(r.code, 0);
    cJSON **v = lines_of(r.out, &n);
    assert_int_equal(n, 1);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(v[0], "counts");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "simple")->valueint,
                     6);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "medium")->valueint,
                     3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "complex")
                         ->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v[0], "prompts")
                         ->valueint, (int)NSAMPLE);
    assert_true(cJSON_GetObjectItemCaseSensitive(v[0], "medium_above")
                    ->valuedouble <
                cJSON_GetObjectItemCaseSensitive(v[0], "complex_above")
                    ->valuedouble);
    lines_free(v, n);
    cli_run_free(&r);
}

static void test_usage_and_config_errors(void **state)
{
    struct fx *f = *state;
    char conf[512], none[512], bad[512], in[512];
    struct cli_run r;
    put(f, "ok.ini", CONF_OK, conf);
    put(f, "none.ini", "[router]\nplugin_dir = .\n" TARGETS, none);
    put(f, "bad.ini", "[router]\nplugin_dir = .\npipeline = complexity\n"
        TARGETS "\n[policy complexity]\nplugin = complexity\n"
        "simple = small\nmedium = mid\ncomplex = huge\n", bad);
    put(f, "empty.jsonl", "\n\n", in);
    static const char *const want_err[] = {
        "usage: llmroute classify", "no policy in the pipeline can classify",
        "bad.ini:", "complex: no target named 'huge'",
        "--premium-share wants a share from 0 to 1, got '1.5'",
        "is above 1", "holds no prompt", "usage: llmroute classify",
        "cannot read"};
    run(f, &r, "classify", "hi", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[0]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", none, "hi", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[1]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", bad, "hi", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[2]));
    assert_non_null(strstr(r.err, want_err[3]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", conf, "--calibrate", in, "--premium-share",
        "1.5", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[4]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", conf, "--calibrate", in, "--premium-share",
        "0.5", "--medium-share", "0.6", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[5]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", conf, "--calibrate", in, NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[6]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", conf, "--in", in, "extra prompt", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[7]));
    cli_run_free(&r);
    run(f, &r, "classify", "-c", conf, "--in", "/nonexistent/x.jsonl", NULL);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, want_err[8]));
    assert_string_equal(r.out, "");
    cli_run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_one_prompt_json),
        T(test_one_prompt_text),
        T(test_in_jsonl),
        T(test_in_bad_lines),
        T(test_word_problem_operations),
        T(test_calibrate),
        T(test_calibrate_json_and_defaults),
        T(test_usage_and_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
