/*
 * test_cli_batch.c - `llmroute batch` as a user meets it: the built
 * program runs as a child process against the scripted mock upstream
 * (in-process, loopback), with IN/OUT files and INIs in a scratch folder.
 * Checked: a mixed run (answers, a 429 that falls back, a hard failure,
 * bad lines) with results joined by id and the summary figures
 * cross-checked against OUT; sampling hints and response_format on lines
 * (bad values as bad_request results, the format reaching the core);
 * resume (ids in OUT skipped, a torn last line repaired, the mock's
 * request count proving what was sent); the
 * concurrency bound (sampled from outside: requests the mock has seen
 * never exceed lines in OUT + N); SIGINT/SIGTERM (exit 130/143, whole
 * lines only, a second run finishes the rest; a second Ctrl-C quits at
 * once); plain progress lines; usage and I/O errors.
 *
 * No timing assertions: slow routes only make runs last long enough for a
 * signal or a sample to land, and every wait is bounded by a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "mock_upstream.h"
#include "testenv.h"

#define RUN_TIMEOUT_MS 60000

/* Routes by model.  "a" answers twice then gives a 429, round and round;
   "slow" takes its time (tests replace its script to speed it up). */
#define ROUTES_COMMON                                                      \
    "{\"name\":\"a\",\"model\":\"m-a\",\"repeat\":\"cycle\",\"responses\":[" \
    "{\"text\":\"A\",\"usage\":{\"prompt_tokens\":1,"                      \
    "\"completion_tokens\":1}},"                                           \
    "{\"text\":\"A\",\"usage\":{\"prompt_tokens\":1,"                      \
    "\"completion_tokens\":1}},"                                           \
    "{\"status\":429,\"error\":{\"message\":\"slow down\",\"type\":"       \
    "\"requests\"}}]},"                                                    \
    "{\"name\":\"echo\",\"model\":\"m-echo\",\"responses\":["              \
    "{\"echo\":true}]},"                                                   \
    "{\"name\":\"e500\",\"model\":\"m-500\",\"responses\":[{\"status\":500," \
    "\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}]},"
#define SCRIPT_WITH_SLOW(ms)                                               \
    "{\"routes\":[" ROUTES_COMMON                                          \
    "{\"name\":\"slow\",\"model\":\"m-slow\",\"responses\":[{\"text\":"    \
    "\"zzz\",\"delay_ms\":" #ms "}]}]}"

#define ROUTER "[router]\nplugin_dir = .\ntimeout_ms = 30000\n"
#define TARGET(name, model)                                                \
    "\n[target " name "]\nprovider = openai\nmodel = " model "\n"        \
    "base_url = http://127.0.0.1:@PORT@/v1\n"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    char ini[512], in[512], out[512];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (cli_env_start(&f->env, &f->mock, SCRIPT_WITH_SLOW(300)) != 0)
        return -1;
    snprintf(f->in, sizeof f->in, "%s", tenv_file(&f->env, "in.jsonl"));
    snprintf(f->out, sizeof f->out, "%s", tenv_file(&f->env, "out.jsonl"));
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    cli_env_stop(&f->env, f->mock);
    free(f);
    return 0;
}

/* Write the INI, @PORT@ replaced, into f->ini. */
static void conf(struct fx *f, const char *tmpl)
{
    cli_conf(&f->env, "c.ini", tmpl, mock_port(f->mock), f->ini);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* n request lines {"id":"qI","prompt":"hello I"[,extra]} for I in
   first..first+n-1, appended to buf. */
static void add_lines(char *buf, size_t cap, int first, int n,
                      const char *extra)
{
    for (int i = first; i < first + n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "{\"id\":\"q%d\",\"prompt\":"
                 "\"hello %d\"%s}\n", i, i, extra ? extra : "");
    }
}

/* A whole run of llmroute with these arguments; stdin is empty. */
#define RUN(f, r, ...) cli_run(r, RUN_TIMEOUT_MS, NULL, __VA_ARGS__, NULL)

/* Wait (bounded) until the mock has seen n requests on route. */
static void wait_requests(struct fx *f, struct cli_child *c, const char *route,
                          long n)
{
    while (mock_requests(f->mock, route) < n)
        if (!cli_pump(c, 20))
            fail_msg("child ended before %ld requests on %s", n, route);
}

/* --- OUT --------------------------------------------------------------- */

struct outf {
    cJSON *line[128];
    int n;
};

/* Every line of OUT: complete ('\n'-terminated) and one JSON object. */
static void read_out(struct fx *f, struct outf *o)
{
    char *text = tenv_slurp(f->out);
    assert_non_null(text);
    memset(o, 0, sizeof *o);
    size_t len = strlen(text);
    assert_true(len == 0 || text[len - 1] == '\n');
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        assert_true(o->n < 128);
        o->line[o->n] = cJSON_Parse(p);
        if (!cJSON_IsObject(o->line[o->n]))
            fail_msg("OUT line %d is not a JSON object: %s", o->n + 1, p);
        o->n++;
    }
    free(text);
}

/* batch on f->in into f->out, which must exit 0 (else its stderr is the
   failure), then its results in o. */
static void run_ok(struct fx *f, struct cli_run *r, struct outf *o)
{
    RUN(f, r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out);
    if (r->code != 0)
        fail_msg("exit %d, stderr: %s", r->code, r->err);
    read_out(f, o);
}

static void out_free(struct outf *o)
{
    for (int i = 0; i < o->n; i++)
        cJSON_Delete(o->line[i]);
}

/* Complete lines in OUT right now (the file may be growing). */
static long out_lines(struct fx *f)
{
    char *text = tenv_slurp(f->out);
    long n = 0;
    for (char *p = text; p && *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

/* The line whose id is the string id (NULL: none); fails on two. */
static const cJSON *by_id(const struct outf *o, const char *id)
{
    const cJSON *hit = NULL;
    for (int i = 0; i < o->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o->line[i], "id");
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0) {
            if (hit)
                fail_msg("id %s appears twice in OUT", id);
            hit = o->line[i];
        }
    }
    return hit;
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s'", k);
    return v->valuedouble;
}

static const char *err_class(const cJSON *line)
{
    return str_at(cJSON_GetObjectItemCaseSensitive(line, "error"), "class");
}

/* --json-summary: the last line of stdout. */
static cJSON *summary_of(const char *out)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(out, &end, 0);
    if (!cJSON_IsObject(j))
        fail_msg("stdout is not the JSON summary: %s", out);
    assert_string_equal(end, "\n");
    return j;
}

/* --- the mixed run ------------------------------------------------------ */

/* What OUT says about fallbacks and 429s, to compare with the summary. */
static void tally(const struct outf *o, long *fallbacks, long *n429,
                  double *cost)
{
    *fallbacks = *n429 = 0;
    *cost = 0;
    for (int i = 0; i < o->n; i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o->line[i],
                                                            "attempts");
        const char *winner = str_at(o->line[i], "target");
        const cJSON *a;
        int fb = 0;
        cJSON_ArrayForEach(a, arr) {
            if (num_at(a, "status") == 429)
                (*n429)++;
            if (winner && strcmp(str_at(a, "target"), winner) != 0)
                fb = 1;
        }
        *fallbacks += fb;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o->line[i],
                                                          "cost_usd");
        *cost += cJSON_IsNumber(c) ? c->valuedouble : 0;
    }
}

static void check_mix_lines(const struct outf *o)
{
    assert_int_equal(o->n, 33);
    for (int i = 1; i <= 30; i++) {
        char id[16], want[32];
        snprintf(id, sizeof id, "q%d", i);
        const cJSON *l = by_id(o, id);
        if (!l)
            fail_msg("no result for %s", id);
        /* Joined right: b echoes this id's own prompt. */
        const char *target = str_at(l, "target"), *text = str_at(l, "text");
        assert_non_null(target);
        snprintf(want, sizeof want, "echo: hello %d", i);
        assert_string_equal(text, strcmp(target, "a") == 0 ? "A" : want);
    }
    assert_string_equal(err_class(by_id(o, "h1")), "server_error");
    const cJSON *bad = by_id(o, "bad1");
    assert_string_equal(err_class(bad), "bad_request");
    assert_non_null(strstr(str_at(cJSON_GetObjectItemCaseSensitive(bad,
        "error"), "message"), ":33: needs \"prompt\" or \"messages\""));
    assert_int_equal(cJSON_GetArraySize(
        cJSON_GetObjectItemCaseSensitive(bad, "attempts")), 0);
    /* A numeric id stays a number; its messages line was answered. */
    int found = 0;
    for (int i = 0; i < o->n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o->line[i], "id");
        if (cJSON_IsNumber(v) && v->valueint == 99) {
            found++;
            assert_string_equal(str_at(o->line[i], "text"), "echo: hi there");
        }
    }
    assert_int_equal(found, 1);
}

static void batch_mix(void **state)
{
    struct fx *f = *state;
    char in[8192] = "";
    struct cli_run r;
    conf(f, ROUTER TARGET("a", "m-a")
         "input_usd_per_mtok = 1000\noutput_usd_per_mtok = 2000\n"
         TARGET("b", "m-echo") TARGET("c", "m-500"));
    add_lines(in, sizeof in, 1, 30, NULL);
    strcat(in, "{\"id\":\"h1\",\"prompt\":\"x\",\"target\":\"c\"}\n"
               "this is not json\n"
               "{\"id\":\"bad1\",\"note\":\"no prompt\"}\n"
               "\n"
               "{\"id\":\"q7\",\"prompt\":\"again\"}\n"
               "{\"id\":99,\"messages\":[{\"role\":\"user\",\"content\":"
               "\"hi there\"}],\"target\":\"b\",\"max_tokens\":5}\n");
    write_file(f->in, in);
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out,
        "--json-summary", "--progress-interval-ms", "0");
    if (r.code != 0)
        fail_msg("exit %d, stderr: %s", r.code, r.err);
    assert_non_null(strstr(r.err, ":32: not valid JSON: skipped"));
    assert_non_null(strstr(r.err, ":35: duplicate id \"q7\" (first on "
                           "line 7): skipped"));
    struct outf o;
    read_out(f, &o);
    check_mix_lines(&o);

    long fallbacks, n429;
    double cost;
    tally(&o, &fallbacks, &n429, &cost);
    cJSON *s = summary_of(r.out);
    assert_int_equal((long)num_at(s, "sent"), 32);
    assert_int_equal((long)num_at(s, "answered"), 31);
    assert_int_equal((long)num_at(s, "failed"), 2);
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(s, "failed_by_class");
    assert_int_equal((long)num_at(cls, "server_error"), 1);
    assert_int_equal((long)num_at(cls, "bad_request"), 1);
    assert_int_equal((long)num_at(s, "skipped_lines"), 2);
    assert_int_equal((long)num_at(s, "lines"), 35);
    /* a's third request is a 429 whatever the order: at least one. */
    assert_true(n429 >= 1);
    assert_int_equal((long)num_at(s, "http_429"), n429);
    assert_true(fallbacks >= 1);
    assert_int_equal((long)num_at(s, "fallbacks"), fallbacks);
    assert_true(fabs(num_at(s, "cost_usd") - cost) < 1e-9);
    assert_true(cost > 0);
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
    assert_true(num_at(lat, "p50") >= 0);
    assert_true(num_at(lat, "p95") >= num_at(lat, "p50"));
    assert_true(num_at(s, "max_in_flight") <= 4);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        s, "interrupted")));
    /* The text summary went to stderr. */
    assert_non_null(strstr(r.err, "batch: done\n"));
    assert_non_null(strstr(r.err, "  failed      2  (server_error 1, "
                           "bad_request 1)\n"));
    cJSON_Delete(s);
    out_free(&o);
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, "e500"), 1);
}

/* --- sampling hints and response_format -------------------------------- */

static const char *skip_reason(const cJSON *line)
{
    const cJSON *a = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(line, "attempts"), 0);
    const char *why = str_at(a, "skipped");
    if (!why)
        fail_msg("first attempt not skipped");
    return why;
}

/* Lines carry top_p, seed, the penalties and response_format with the
   gateway's checks; a bad one is a bad_request result naming it.  The
   format reaches the core: "old" (the ABI 1.2 fixture old_provider) is
   skipped for a line with one and called for a line without. */
/* stop and max_completion_tokens, as the gateway reads them: the first
   reaches the upstream, the second wins over max_tokens. */
static void batch_stop_and_limit(void **state)
{
    struct fx *f = *state;
    struct cli_run r;
    conf(f, ROUTER TARGET("b", "m-echo"));
    write_file(f->in, "{\"id\":\"s\",\"prompt\":\"hi\",\"stop\":[\"END\","
               "\"\\n\\n\"],\"max_completion_tokens\":5,\"max_tokens\":99}\n"
               "{\"id\":\"bad\",\"prompt\":\"hi\",\"stop\":7}\n");
    struct outf o;
    run_ok(f, &r, &o);
    assert_int_equal(o.n, 2);
    assert_string_equal(str_at(by_id(&o, "s"), "text"), "echo: hi");
    const cJSON *l = by_id(&o, "bad");
    assert_string_equal(err_class(l), "bad_request");
    assert_non_null(strstr(str_at(cJSON_GetObjectItemCaseSensitive(l,
        "error"), "message"), "\"stop\" must be a string or an array"));
    char *body = mock_last_body(f->mock, "echo");
    assert_non_null(body);
    assert_non_null(strstr(body, "\"stop\":[\"END\",\"\\n\\n\"]"));
    assert_non_null(strstr(body, "\"max_completion_tokens\":5"));
    free(body);
    out_free(&o);
    cli_run_free(&r);
}

#define SEED_RANGE "\"seed\" must be a whole number between " \
    "-9007199254740991 and 9007199254740991"

static void batch_sampling(void **state)
{
    static const struct {
        const char *id, *field, *want;
    } bad[] = {
        {"b1", "\"top_p\":2", "\"top_p\" must be a number above 0"},
        {"b2", "\"seed\":\"7\"", "\"seed\" must be a whole number"},
        {"b3", "\"presence_penalty\":-9",
         "\"presence_penalty\" must be a number from -2 to 2"},
        {"b4", "\"frequency_penalty\":\"x\"",
         "\"frequency_penalty\" must be a number from -2 to 2"},
        {"b5", "\"response_format\":{\"type\":\"xml\"}",
         "\"response_format\" must be {\"type\":\"text\"}"},
        /* 2^53, which a JSON seed of 2^53 + 1 would also read as. */
        {"b6", "\"seed\":9007199254740992", SEED_RANGE},
        {"b7", "\"seed\":-9007199254740992", SEED_RANGE},
        /* Token limits by the same rule (sampling.c). */
        {"b8", "\"max_completion_tokens\":9007199254740992",
         "\"max_completion_tokens\" must be a whole number from 1 to "
         "9007199254740991"},
    };
    struct fx *f = *state;
    char in[4096] = "";
    struct cli_run r;
    conf(f, ROUTER TARGET("b", "m-echo")
         "\n[target old]\nprovider = old_provider\nmodel = m\n");
    strcat(in, "{\"id\":\"good\",\"prompt\":\"hi\",\"target\":\"b\","
           "\"top_p\":0.5,\"seed\":7,\"presence_penalty\":1,"
           "\"frequency_penalty\":-1,\"response_format\":{\"type\":"
           "\"json_object\"}}\n"
           "{\"id\":\"nulls\",\"prompt\":\"yo\",\"target\":\"b\","
           "\"top_p\":null,\"seed\":null,\"presence_penalty\":null,"
           "\"frequency_penalty\":null,\"response_format\":null}\n"
           "{\"id\":\"fmt\",\"prompt\":\"x\",\"target\":\"old\","
           "\"response_format\":{\"type\":\"json_object\"}}\n"
           "{\"id\":\"nofmt\",\"prompt\":\"x\",\"target\":\"old\"}\n"
           "{\"id\":\"hi\",\"prompt\":\"h\",\"target\":\"b\","
           "\"seed\":9007199254740991}\n"
           "{\"id\":\"lo\",\"prompt\":\"l\",\"target\":\"b\","
           "\"seed\":-9007199254740991}\n");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t len = strlen(in);
        snprintf(in + len, sizeof in - len, "{\"id\":\"%s\",\"prompt\":"
                 "\"x\",%s}\n", bad[i].id, bad[i].field);
    }
    write_file(f->in, in);
    struct outf o;
    run_ok(f, &r, &o);
    assert_int_equal(o.n, 14);
    assert_string_equal(str_at(by_id(&o, "good"), "text"), "echo: hi");
    assert_string_equal(str_at(by_id(&o, "hi"), "text"), "echo: h");
    assert_string_equal(str_at(by_id(&o, "lo"), "text"), "echo: l");
    assert_string_equal(str_at(by_id(&o, "nulls"), "text"), "echo: yo");
    assert_string_equal(err_class(by_id(&o, "fmt")), "no_target");
    assert_non_null(strstr(skip_reason(by_id(&o, "fmt")),
                           "old_provider (plugin ABI 1.2) cannot honour "
                           "response_format"));
    assert_non_null(strstr(skip_reason(by_id(&o, "nofmt")),
                           "old_provider: build_request called"));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const cJSON *l = by_id(&o, bad[i].id);
        if (!err_class(l))
            fail_msg("%s: answered, expected a bad_request", bad[i].id);
        assert_string_equal(err_class(l), "bad_request");
        const char *msg = str_at(cJSON_GetObjectItemCaseSensitive(l,
                                                                  "error"),
                                 "message");
        if (!msg || !strstr(msg, bad[i].want))
            fail_msg("%s: expected '%s' in '%s'", bad[i].id, bad[i].want,
                     msg ? msg : "(none)");
    }
    out_free(&o);
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, "echo"), 4);
}

/* null is the same as leaving a key out, for every optional key (OpenAI
   clients send null for unset fields; the gateway reads it so): lines
   with each one null are answered as if it were absent, a null prompt
   beside messages is no second content, and wrong types still fail. */
static void batch_nulls(void **state)
{
    static const char *const keys[] = {
        "system", "max_tokens", "temperature", "user", "conversation",
        "tier", "tools", "tool_choice", "top_p", "seed",
        "presence_penalty", "frequency_penalty", "response_format"};
    struct fx *f = *state;
    char in[4096] = "";
    struct cli_run r;
    conf(f, ROUTER TARGET("b", "m-echo"));
    strcat(in, "{\"id\":\"all\",\"prompt\":\"yo\",\"target\":\"b\"");
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        size_t len = strlen(in);
        snprintf(in + len, sizeof in - len, ",\"%s\":null", keys[i]);
    }
    strcat(in, "}\n"
           "{\"id\":\"tgt\",\"prompt\":\"t\",\"target\":null}\n"
           "{\"id\":\"msgs\",\"prompt\":null,\"target\":\"b\","
           "\"messages\":[{\"role\":\"user\",\"content\":\"m\"}]}\n"
           "{\"id\":\"none\",\"prompt\":null,\"messages\":null}\n"
           "{\"id\":\"num\",\"prompt\":\"x\",\"max_tokens\":\"9\"}\n"
           "{\"id\":\"str\",\"prompt\":\"x\",\"user\":7}\n");
    write_file(f->in, in);
    struct outf o;
    run_ok(f, &r, &o);
    assert_int_equal(o.n, 6);
    assert_string_equal(str_at(by_id(&o, "all"), "text"), "echo: yo");
    assert_string_equal(str_at(by_id(&o, "tgt"), "text"), "echo: t");
    assert_string_equal(str_at(by_id(&o, "msgs"), "text"), "echo: m");
    static const char *const bad[][2] = {
        {"none", "needs \"prompt\" or \"messages\""},
        {"num", "\"max_tokens\" must be a whole number from 1 to "
                "9007199254740991"},
        {"str", "\"user\" must be a string"}};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *l = by_id(&o, bad[i][0]);
        assert_string_equal(err_class(l), "bad_request");
        const char *msg = str_at(cJSON_GetObjectItemCaseSensitive(l,
                                                                  "error"),
                                 "message");
        if (!msg || !strstr(msg, bad[i][1]))
            fail_msg("%s: expected '%s' in '%s'", bad[i][0], bad[i][1],
                     msg ? msg : "(none)");
    }
    out_free(&o);
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, "echo"), 3);
}

/* --- resume ------------------------------------------------------------- */

static void batch_resume(void **state)
{
    struct fx *f = *state;
    char in[4096] = "", old[2048] = "";
    struct cli_run r;
    conf(f, ROUTER TARGET("b", "m-echo"));
    add_lines(in, sizeof in, 1, 10, NULL);
    write_file(f->in, in);
    for (int i = 1; i <= 5; i++) {
        size_t len = strlen(old);
        snprintf(old + len, sizeof old - len, "{\"id\":\"q%d\",\"text\":"
                 "\"old\"}\n", i);
    }
    /* A kill in mid-write left half of q6's line. */
    char torn[2100];
    snprintf(torn, sizeof torn, "%s{\"id\":\"q6\",\"te", old);
    write_file(f->out, torn);

    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out,
        "--json-summary");
    if (r.code != 0)
        fail_msg("exit %d, stderr: %s", r.code, r.err);
    assert_non_null(strstr(r.err, "dropping a torn last line"));
    assert_int_equal(mock_requests(f->mock, "echo"), 5);
    cJSON *s = summary_of(r.out);
    assert_int_equal((long)num_at(s, "already_done"), 5);
    assert_int_equal((long)num_at(s, "sent"), 5);
    cJSON_Delete(s);
    cli_run_free(&r);

    char *text = tenv_slurp(f->out);
    assert_true(strncmp(text, old, strlen(old)) == 0); /* kept as it was */
    free(text);
    struct outf o;
    read_out(f, &o);
    assert_int_equal(o.n, 10);
    for (int i = 1; i <= 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        assert_non_null(by_id(&o, id));
    }
    assert_string_equal(str_at(by_id(&o, "q6"), "text"), "echo: hello 6");
    out_free(&o);

    /* Everything done: nothing is sent. */
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out);
    assert_int_equal(r.code, 0);
    assert_int_equal(mock_requests(f->mock, "echo"), 5);
    cli_run_free(&r);

    /* A last line that lost only its '\n' is a whole result: kept. */
    write_file(f->out, "{\"id\":\"q1\",\"text\":\"old\"}");
    write_file(f->in, "{\"id\":\"q1\",\"prompt\":\"p\"}\n"
                      "{\"id\":\"q2\",\"prompt\":\"p\"}");
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out);
    assert_int_equal(r.code, 0);
    assert_int_equal(mock_requests(f->mock, "echo"), 6);
    read_out(f, &o);
    assert_int_equal(o.n, 2);
    assert_string_equal(str_at(by_id(&o, "q1"), "text"), "old");
    out_free(&o);
    cli_run_free(&r);
}

/* --- concurrency -------------------------------------------------------- */

/* Sampled while it runs: requests the mock has seen (read first) never
   exceed the lines in OUT (read after) plus N, since batch writes a
   result before sending the next request. */
static void batch_concurrency(void **state)
{
    struct fx *f = *state;
    char in[4096] = "";
    struct cli_child c;
    struct cli_run r;
    conf(f, ROUTER TARGET("s", "m-slow"));
    add_lines(in, sizeof in, 1, 12, NULL);
    write_file(f->in, in);
    cli_spawn(&c, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
              "--out", f->out, "--concurrency", "3", "--json-summary", NULL);
    long samples = 0, peak = 0;
    while (cli_pump(&c, 10)) {
        long sent = mock_requests(f->mock, "slow");
        long lines = out_lines(f);
        if (sent > lines + 3)
            fail_msg("%ld requests sent with only %ld results written",
                     sent, lines);
        peak = sent - lines > peak ? sent - lines : peak;
        samples++;
    }
    cli_finish(&c, &r);
    assert_int_equal(r.code, 0);
    assert_true(samples > 0);
    assert_true(peak >= 1);
    assert_int_equal(mock_requests(f->mock, "slow"), 12);
    assert_int_equal(out_lines(f), 12);
    cJSON *s = summary_of(r.out);
    assert_true(num_at(s, "max_in_flight") <= 3);
    assert_true(num_at(s, "max_in_flight") >= 1);
    cJSON_Delete(s);
    cli_run_free(&r);
}

/* --- signals ------------------------------------------------------------ */

static void batch_sigint_resume(void **state)
{
    struct fx *f = *state;
    char in[4096] = "", err[256];
    struct cli_child c;
    struct cli_run r;
    conf(f, ROUTER TARGET("s", "m-slow"));
    add_lines(in, sizeof in, 1, 30, NULL);
    write_file(f->in, in);
    cli_spawn(&c, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
              "--out", f->out, "--concurrency", "2", NULL);
    wait_requests(f, &c, "slow", 1);
    kill(c.pid, SIGINT);
    cli_finish(&c, &r);
    assert_int_equal(r.code, 130);
    assert_non_null(strstr(r.err, "batch: interrupted\n"));
    struct outf o;
    read_out(f, &o);          /* whole, parsable lines only */
    int first = o.n;
    assert_true(first < 30);
    out_free(&o);
    cli_run_free(&r);

    /* The rest, fast now: only the missing ids are sent. */
    assert_int_equal(mock_set_script(f->mock, SCRIPT_WITH_SLOW(0), err,
                                     sizeof err), 0);
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out);
    assert_int_equal(r.code, 0);
    assert_int_equal(mock_requests(f->mock, "slow"), 30 - first);
    read_out(f, &o);
    assert_int_equal(o.n, 30);
    for (int i = 1; i <= 30; i++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", i);
        assert_non_null(by_id(&o, id));
    }
    out_free(&o);
    cli_run_free(&r);
}

/* SIGTERM with no grace: in-flight requests are cancelled, not written;
   exit 143. */
static void batch_sigterm_cancels(void **state)
{
    struct fx *f = *state;
    char in[4096] = "", err[256];
    struct cli_child c;
    struct cli_run r;
    assert_int_equal(mock_set_script(f->mock, SCRIPT_WITH_SLOW(20000), err,
                                     sizeof err), 0);
    conf(f, ROUTER TARGET("s", "m-slow"));
    add_lines(in, sizeof in, 1, 6, NULL);
    write_file(f->in, in);
    cli_spawn(&c, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
              "--out", f->out, "--concurrency", "2", "--grace-ms", "0",
              "--json-summary", NULL);
    wait_requests(f, &c, "slow", 2);
    kill(c.pid, SIGTERM);
    cli_finish(&c, &r);
    assert_int_equal(r.code, 143);
    cJSON *s = summary_of(r.out);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        s, "interrupted")));
    assert_int_equal((long)num_at(s, "cancelled"), 2);
    assert_int_equal((long)num_at(s, "answered"), 0);
    cJSON_Delete(s);
    assert_int_equal(out_lines(f), 0);
    cli_run_free(&r);
}

/* A second Ctrl-C while waiting for the grace period quits at once:
   no summary, exit 130, OUT still whole lines. */
static void batch_second_sigint(void **state)
{
    struct fx *f = *state;
    char in[4096] = "", err[256];
    struct cli_child c;
    struct cli_run r;
    assert_int_equal(mock_set_script(f->mock, SCRIPT_WITH_SLOW(20000), err,
                                     sizeof err), 0);
    conf(f, ROUTER TARGET("s", "m-slow"));
    add_lines(in, sizeof in, 1, 4, NULL);
    write_file(f->in, in);
    cli_spawn(&c, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
              "--out", f->out, "--grace-ms", "60000", NULL);
    wait_requests(f, &c, "slow", 1);
    kill(c.pid, SIGINT);
    cli_wait_stderr(&c, "interrupted: waiting up to 60000 ms");
    kill(c.pid, SIGINT);
    cli_finish(&c, &r);
    assert_int_equal(r.code, 130);
    assert_null(strstr(r.err, "batch: interrupted"));
    struct outf o;
    read_out(f, &o);
    out_free(&o);
    cli_run_free(&r);
}

/* --- progress, usage, errors ------------------------------------------- */

/* Not a terminal: plain lines at the interval (the run lasts >= 4 x
   200 ms, sequentially). */
static void batch_progress_plain(void **state)
{
    struct fx *f = *state;
    char in[1024] = "", err[256];
    struct cli_run r;
    assert_int_equal(mock_set_script(f->mock, SCRIPT_WITH_SLOW(200), err,
                                     sizeof err), 0);
    conf(f, ROUTER TARGET("s", "m-slow"));
    add_lines(in, sizeof in, 1, 4, NULL);
    write_file(f->in, in);
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", f->out,
        "--concurrency", "1", "--progress-interval-ms", "50");
    assert_int_equal(r.code, 0);
    int n = 0;
    for (const char *p = r.err; (p = strstr(p, "/4 lines, ")); p++)
        n++;
    assert_true(n >= 2);
    assert_null(strchr(r.err, '\r'));   /* no bar redraws */
    assert_string_equal(r.out, "");     /* nothing but OUT gets results */
    cli_run_free(&r);
}

static void batch_usage(void **state)
{
    struct fx *f = *state;
    struct cli_run r;
    conf(f, ROUTER TARGET("b", "m-echo"));
    write_file(f->in, "{\"id\":1,\"prompt\":\"one\"}\n"
                      "{\"id\":2,\"prompt\":\"two\"}\n");
    static const char *const cases[][9] = {
        {"batch", "-c", "x.ini", "--out", "o", NULL},
        {"batch", "-c", "x.ini", "--in", "i", NULL},
        {"batch", "--in", "i", "--out", "o", NULL},
        {"batch", "-c", "x", "--in", "i", "--out", "o", "--concurrency", "0"},
        {"batch", "-c", "x", "--in", "i", "--out", "o", "--concurrency",
         "many"},
        {"batch", "-c", "x", "--in", "i", "--out", "-", "--json-summary"},
        {"batch", "-c", "x", "--in", "i", "--out", "o", "--grace-ms", "-1"},
        {"batch", "-c", "x", "--in", "i", "--out", "o", "extra", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *a = cases[i];
        RUN(f, &r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
        if (r.code != 2 || !strstr(r.err, "llmroute: batch: ") || r.out[0])
            fail_msg("case %zu: exit %d, stdout '%s', stderr '%s'", i,
                     r.code, r.out, r.err);
        cli_run_free(&r);
    }
    /* Missing IN or a broken config: 2; OUT not writable: 1. */
    RUN(f, &r, "batch", "-c", f->ini, "--in", "/nonexistent/in.jsonl",
        "--out", f->out);
    assert_int_equal(r.code, 2);
    cli_run_free(&r);
    write_file(tenv_file(&f->env, "bad.ini"), "[router]\nbogus = 1\n");
    RUN(f, &r, "batch", "-c", tenv_file(&f->env, "bad.ini"), "--in", f->in,
        "--out", f->out);
    assert_int_equal(r.code, 2);
    assert_non_null(strstr(r.err, "unknown key 'bogus'"));
    cli_run_free(&r);
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out",
        "/nonexistent/out.jsonl");
    assert_int_equal(r.code, 1);
    cli_run_free(&r);
    assert_int_equal(mock_requests(f->mock, NULL), 0);

    /* --out -: results on stdout, nothing else there. */
    RUN(f, &r, "batch", "-c", f->ini, "--in", f->in, "--out", "-");
    assert_int_equal(r.code, 0);
    int lines = 0;
    for (const char *p = r.out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    assert_non_null(strstr(r.out, "\"text\":\"echo: two\""));
    cli_run_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(batch_mix),
        T(batch_sampling),
        T(batch_stop_and_limit),
        T(batch_nulls),
        T(batch_resume),
        T(batch_concurrency),
        T(batch_sigint_resume),
        T(batch_sigterm_cancels),
        T(batch_second_sigint),
        T(batch_progress_plain),
        T(batch_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
