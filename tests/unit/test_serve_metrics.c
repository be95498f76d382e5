/*
 * test_serve_metrics.c - the gateway's GET /metrics, /dashboard and
 * /dashboard/data, as their clients meet them: the built `llmroute
 * serve` runs as a child in front of the scripted mock upstream (the
 * fixture of test_serve.c), with target "bad" answering 500 (an outage)
 * and "a" answering, so the first request falls back from bad to a and
 * opens bad's breaker (failures = 1), and the second, identical one is
 * a cache hit.
 *
 * Checked: the Prometheus text parsed line by line (HELP then TYPE, one
 * of each per family, every sample in a declared family, label syntax,
 * numbers), cumulative histogram buckets ending in le="+Inf" equal to
 * _count, counters equal to what was sent, the breaker and budget
 * gauges of two budget_guard instances; name sanitising, label escaping
 * and the budget and breaker gauges' policy label directly; a stream
 * counted when it ends; the dashboard's JSON (fallback ring, budget,
 * breaker states), its page (no external URL), auth (keys, loopback, the
 * page itself needs none), and the page rendered by headless Chromium,
 * with the breaker states and the spend line a person sees (skipped,
 * exit 77 style, when /usr/bin/chromium is missing); two circuit_breaker
 * instances through the gateway (metrics, data, page).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mock_upstream.h"
#include "http_client.h"
#include "serve_child.h"
#include "testenv.h"

/* The pure helpers are compiled in for direct checks. */
#include "../../cli/serve_metrics.c"
#include "../../cli/serve_response.c"
#include "../../cli/serve_json.c"
#include "../../cli/serve_dashboard.c"

#define DEADLINE_MS 30000
#define KEY_APP "sk-app-0123456789"
#define CHROMIUM "/usr/bin/chromium"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct serve_child gw;            /* the llmroute serve child */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- The child ---------------------------------------------------------- */

static int start_listen(struct fx *f, const char *listen)
{
    return serve_child_start(&f->gw, f->env.dir, listen);
}

static int stop_gateway(struct fx *f)
{
    return serve_child_stop(&f->gw);
}

/* --- Mock and configs --------------------------------------------------- */

static char *script(void)
{
    return strdup(
        "{\"routes\":["
        "{\"name\":\"ok\",\"model\":\"m-ok\",\"responses\":[{\"text\":"
        "\"Hello there\",\"usage\":{\"prompt_tokens\":3,"
        "\"completion_tokens\":2}}]},"
        "{\"name\":\"bad\",\"model\":\"m-bad\",\"responses\":[{\"status\":"
        "500,\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}]}"
        "]}");
}

#define TARGET(name, model)                                                \
    "\n[target " name "]\nprovider = openai\nmodel = " model "\n"        \
    "base_url = http://127.0.0.1:%d/v1\n"                                 \
    "input_usd_per_mtok = 1000\noutput_usd_per_mtok = 1000\n"

/* bad first, a second; two budgets (a daily and a monthly instance), a
   cache and a breaker that opens on the first failure and stays open
   for the test.  %s: more of the pipeline, then extra [policy],
   [gateway] and [client] text. */
static const char CONF[] =
    "[router]\nplugin_dir = .\ntimeout_ms = 10000\n"
    "pipeline = budget, month, cache, breaker%s\ntargets = bad, a\n"
    TARGET("bad", "m-bad") TARGET("a", "m-ok")
    "\n[policy budget]\nplugin = budget_guard\ndaily_usd = 5\n"
    "\n[policy month]\nplugin = budget_guard\nmonthly_usd = 100\n"
    "\n[policy cache]\nplugin = cache\n"
    "\n[policy breaker]\nplugin = circuit_breaker\nfailures = 1\n"
    "open_ms = 600000\nmax_open_ms = 600000\n"
    "\n[gateway]\nshutdown_timeout_ms = 2000\n%s";

static const char WITH_KEY[] = "\n[client app]\nkey_env = TEST_SM_KEY\n";

/* A second, lenient breaker: bad's one failure leaves it closed. */
static const char SLOW[] =
    "\n[policy slow]\nplugin = circuit_breaker\nfailures = 3\n";

static int setup_conf(void **state, const char *pipe, const char *extra)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[512], text[4096];
    if (!f)
        return -1;
    *state = f;
    if (tenv_init(&f->env) != 0)
        return -1;
    char *s = script();
    f->mock = s ? mock_start(s, err, sizeof err) : NULL;
    free(s);
    if (!f->mock) {
        fprintf(stderr, "mock_start: %s\n", err);
        return -1;
    }
    setenv("TEST_SM_KEY", KEY_APP, 1);
    snprintf(f->gw.cli, sizeof f->gw.cli, "%s/llmroute", tenv_build());
    int p = mock_port(f->mock);
    snprintf(text, sizeof text, CONF, pipe, p, p, extra);
    assert_non_null(tenv_write(&f->env, "gw.ini", "%s", text));
    if (start_listen(f, "127.0.0.1:0") != 0) {
        char *e = tenv_slurp(f->gw.errpath);
        fprintf(stderr, "gateway did not start: %s\n", e ? e : "?");
        free(e);
        return -1;
    }
    return 0;
}

static int setup_open(void **state)
{
    return setup_conf(state, "", "");
}

static int setup_keys(void **state)
{
    return setup_conf(state, "", WITH_KEY);
}

static int setup_two_breakers(void **state)
{
    return setup_conf(state, ", slow", SLOW);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int code = stop_gateway(f);
    mock_stop(f->mock);
    tenv_free(&f->env);
    free(f);
    return code == 0 ? 0 : -1;
}

/* --- HTTP --------------------------------------------------------------- */

static void http(struct fx *f, const char *method, const char *path,
                 const char *key, const char *body, struct http *h)
{
    http_to(NULL, f->gw.port, method, path, key, body, 0, h);
}

/* A chat with one user message; the body is the same every time, so the
   second call is a cache hit. */
static void chat(struct fx *f, const char *key, struct http *h)
{
    http(f, "POST", "/v1/chat/completions", key,
         "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
         "\"content\":\"hi\"}]}", h);
}

/* One fallback (bad -> a), then a cache hit. */
static void traffic(struct fx *f, const char *key)
{
    struct http h;
    chat(f, key, &h);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.headers, "x-llmroute-target: a"));
    free(h.body);
    chat(f, key, &h);
    assert_int_equal(h.status, 200);
    free(h.body);
}

/* --- A small Prometheus text parser ------------------------------------- */

#define MAX_FAM 128

struct prom {
    char fam[MAX_FAM][128];
    char type[MAX_FAM][16];
    int helped[MAX_FAM];
    size_t n;
};

static int fam_index(const struct prom *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->fam[i], name))
            return (int)i;
    return -1;
}

/* The family a sample name belongs to (histograms: _bucket/_sum/_count). */
static int sample_family(const struct prom *p, const char *name)
{
    int i = fam_index(p, name);
    if (i >= 0)
        return i;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    for (size_t k = 0; k < 3; k++) {
        size_t nl = strlen(name), sl = strlen(sfx[k]);
        char base[128];
        if (nl <= sl || nl - sl >= sizeof base ||
            strcmp(name + nl - sl, sfx[k]))
            continue;
        memcpy(base, name, nl - sl);
        base[nl - sl] = '\0';
        i = fam_index(p, base);
        if (i >= 0 && !strcmp(p->type[i], "histogram"))
            return i;
    }
    return -1;
}

/* Check {k="v",...}: names [a-zA-Z_][a-zA-Z0-9_]*, values with only \\,
   \" and \n escapes.  Returns the byte after '}'. */
static const char *check_labels(const char *s)
{
    assert_int_equal(*s, '{');
    s++;
    while (*s != '}') {
        assert_true((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                    *s == '_');
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
               (*s >= '0' && *s <= '9') || *s == '_')
            s++;
        assert_int_equal(*s++, '=');
        assert_int_equal(*s++, '"');
        while (*s != '"') {
            assert_true(*s && *s != '\n');
            if (*s == '\\') {
                s++;
                assert_true(*s == '\\' || *s == '"' || *s == 'n');
            }
            s++;
        }
        s++;
        if (*s == ',')
            s++;
        else
            assert_int_equal(*s, '}');
    }
    return s + 1;
}

/* Parse the whole text: HELP then TYPE, once per family, before any of
   its samples; every sample well formed. */
static void prom_parse(const char *text, struct prom *p)
{
    memset(p, 0, sizeof *p);
    char *copy = strdup(text), *save = NULL;
    assert_non_null(copy);
    assert_true(text[strlen(text) - 1] == '\n');
    for (char *l = strtok_r(copy, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        char name[128], type[16];
        if (sscanf(l, "# HELP %127s", name) == 1) {
            assert_int_equal(fam_index(p, name), -1);
            assert_true(p->n < MAX_FAM);
            snprintf(p->fam[p->n], sizeof p->fam[0], "%s", name);
            p->helped[p->n++] = 1;
            continue;
        }
        if (sscanf(l, "# TYPE %127s %15s", name, type) == 2) {
            int i = fam_index(p, name);
            assert_true(i >= 0 && !p->type[i][0]);   /* HELP came first */
            assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge")
                        || !strcmp(type, "histogram"));
            snprintf(p->type[i], sizeof p->type[0], "%s", type);
            continue;
        }
        if (l[0] == '#')
            continue;
        size_t nl = strcspn(l, "{ ");
        assert_true(nl > 0 && nl < sizeof name);
        memcpy(name, l, nl);
        name[nl] = '\0';
        int i = sample_family(p, name);
        if (i < 0 || !p->type[i][0])
            fail_msg("sample before its TYPE: %s", l);
        const char *v = l[nl] == '{' ? check_labels(l + nl) : l + nl;
        assert_int_equal(*v, ' ');
        char *end;
        strtod(v + 1, &end);
        assert_true(end > v + 1 && *end == '\0');
    }
    free(copy);
}

/* The value of the sample line starting with exactly prefix + " ", or
   -1 when there is none. */
static double value_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1
                                                              : NULL) {
        if (!strncmp(l, prefix, n) && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    }
    return -1;
}

/* Buckets of target's histogram: le ascending, counts cumulative, the
   last le="+Inf" and equal to _count.  Returns _count. */
static double check_histogram(const char *text, const char *target)
{
    char prefix[256];
    int n = snprintf(prefix, sizeof prefix,
                     "llmroute_request_latency_seconds_bucket{target=\"%s\","
                     "le=\"", target);
    double last_le = -1, last = 0;
    int inf = 0, buckets = 0;
    for (const char *l = strstr(text, prefix); l;
         l = strstr(l + 1, prefix)) {
        const char *le = l + n;
        assert_false(inf);                     /* +Inf is the last */
        double c = strtod(strchr(le, ' ') + 1, NULL);
        assert_true(c >= last);
        last = c;
        buckets++;
        if (!strncmp(le, "+Inf\"", 5)) {
            inf = 1;
            continue;
        }
        double x = strtod(le, NULL);
        assert_true(x > last_le);
        last_le = x;
    }
    assert_true(inf);
    assert_true(buckets > 2);
    snprintf(prefix, sizeof prefix,
             "llmroute_request_latency_seconds_count{target=\"%s\"}", target);
    assert_true(value_of(text, prefix) == last);
    return last;
}

/* --- Tests ---------------------------------------------------------------- */

static void test_prom_helpers(void **state)
{
    (void)state;
    char out[64];
    serve_prom_name("a-b.c:d_9", out, sizeof out);
    assert_string_equal(out, "a_b_c_d_9");
    serve_prom_name("abcdef", out, 4);
    assert_string_equal(out, "abc");
    char *e = serve_prom_escape("a\\b\"c\nd");
    assert_non_null(e);
    assert_string_equal(e, "a\\\\b\\\"c\\nd");
    free(e);
    e = serve_prom_escape("");
    assert_string_equal(e, "");
    free(e);
    char fam[128];
    counter_family("requests_by_class", fam, sizeof fam);
    assert_string_equal(fam, "llmroute_requests_total");
    counter_family("x.y_total", fam, sizeof fam);
    assert_string_equal(fam, "llmroute_x_y_total");
    counter_family("cost_usd", fam, sizeof fam);
    assert_true(reserved(fam));
    assert_string_equal(label_name("fallbacks"), "reason");
    assert_string_equal(label_name("something_new"), "label");
    assert_true(gauge_family("breaker_state", fam, sizeof fam));
    assert_string_equal(fam, "llmroute_breaker_state");
    assert_string_equal(gauge_label_name("breaker_state"), "target");
    assert_false(gauge_family("x_total", fam, sizeof fam));
    assert_false(gauge_family("cost_usd_total", fam, sizeof fam));
    assert_false(gauge_family("request_latency_seconds_sum", fam,
                              sizeof fam));
}

static void test_metrics(void **state)
{
    struct fx *f = *state;
    struct http h;
    http(f, "GET", "/metrics", NULL, NULL, &h);   /* before any request */
    assert_int_equal(h.status, 200);
    struct prom p;
    prom_parse(h.body, &p);
    free(h.body);
    traffic(f, NULL);
    http(f, "GET", "/metrics", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.headers, "text/plain; version=0.0.4"));
    if (getenv("TEST_SM_SHOW_METRICS"))
        fprintf(stderr, "%s", h.body);
    prom_parse(h.body, &p);
    for (size_t i = 0; i < p.n; i++)
        assert_true(p.helped[i] && p.type[i][0]);
    const char *t = h.body;
    assert_true(value_of(t, "llmroute_requests_total{class=\"ok\"}") == 2);
    assert_true(value_of(t, "llmroute_cache_hits_total") == 1);
    assert_true(value_of(t, "llmroute_cache_misses_total") == 1);
    assert_true(value_of(t, "llmroute_target_attempts_total{target=\"bad\","
                         "result=\"error\"}") == 1);
    assert_true(value_of(t, "llmroute_target_attempts_total{target=\"a\","
                         "result=\"ok\"}") == 1);
    assert_true(value_of(t, "llmroute_target_tokens_total{target=\"a\","
                         "kind=\"prompt\"}") == 3);
    assert_true(value_of(t, "llmroute_target_cost_usd_total{target=\"a\"}")
                > 0.004);
    assert_non_null(strstr(t, "# TYPE llmroute_fallbacks_total counter\n"
                           "llmroute_fallbacks_total{reason=\""));
    assert_non_null(strstr(t, "# TYPE llmroute_request_latency_seconds "
                           "histogram\n"));
    assert_non_null(strstr(t, "# TYPE llmroute_budget_spend_usd_total "
                           "counter\n"));
    /* Gauges: bad's breaker opened, a's is closed; each budget's spend
       as the store holds it, and its limit. */
    assert_non_null(strstr(t, "# TYPE llmroute_breaker_state gauge\n"));
    assert_true(value_of(t, "llmroute_breaker_state{policy=\"breaker\","
                         "target=\"bad\"}") == 2);
    assert_true(value_of(t, "llmroute_breaker_state{policy=\"breaker\","
                         "target=\"a\"}") == 0);
    assert_null(strstr(t, "llmroute_breaker_state{target="));
    assert_non_null(strstr(t, "# TYPE llmroute_budget_period_spend_usd "
                           "gauge\n"));
    double day = value_of(t, "llmroute_budget_period_spend_usd"
                          "{policy=\"budget\",period=\"daily\"}");
    assert_true(day > 0.0049 && day < 0.0051);
    double month = value_of(t, "llmroute_budget_period_spend_usd"
                            "{policy=\"month\",period=\"monthly\"}");
    assert_true(month > 0.0049 && month < 0.0051);
    assert_true(value_of(t, "llmroute_budget_limit_usd{policy=\"budget\","
                         "period=\"daily\"}") == 5);
    assert_true(value_of(t, "llmroute_budget_limit_usd{policy=\"month\","
                         "period=\"monthly\"}") == 100);
    assert_null(strstr(t, "llmroute_budget_limit_usd{policy=\"month\","
                       "period=\"daily\"}"));
    assert_null(strstr(t, "llmroute_budget_limit_usd{period="));
    /* budget_guard's counters are per instance too: each settled the
       request a answered. */
    double spent = value_of(t, "llmroute_budget_spend_usd_total"
                            "{policy=\"budget\"}");
    assert_true(spent > 0.0049 && spent < 0.0051);
    spent = value_of(t, "llmroute_budget_spend_usd_total"
                     "{policy=\"month\"}");
    assert_true(spent > 0.0049 && spent < 0.0051);
    /* Two answers: one by a, one by the cache (no target). */
    double n = check_histogram(t, "a");
    if (strstr(t, "target=\"none\""))
        n += check_histogram(t, "none");
    assert_true(n == 2);
    free(h.body);
}

static void test_dashboard_data(void **state)
{
    struct fx *f = *state;
    struct http h;
    traffic(f, NULL);
    http(f, "GET", "/dashboard/data", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    cJSON *d = cJSON_Parse(h.body);
    assert_non_null(d);
    cJSON *m = cJSON_GetObjectItem(d, "metrics");
    assert_int_equal(cJSON_GetObjectItem(m, "requests")->valueint, 2);
    cJSON *fb = cJSON_GetObjectItem(d, "fallbacks");
    assert_int_equal(cJSON_GetArraySize(fb), 1);
    cJSON *x = cJSON_GetArrayItem(fb, 0);
    assert_string_equal(cJSON_GetObjectItem(x, "from")->valuestring, "bad");
    assert_string_equal(cJSON_GetObjectItem(x, "to")->valuestring, "a");
    assert_non_null(strstr(cJSON_GetObjectItem(x, "reason")->valuestring,
                           "server_error"));
    assert_true(cJSON_GetObjectItem(x, "at_ms")->valuedouble > 1.6e12);
    cJSON *b = cJSON_GetObjectItem(d, "budget");
    assert_true(cJSON_GetObjectItem(b, "daily_usd")->valuedouble == 5);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(b, "monthly_usd")));
    assert_true(cJSON_GetObjectItem(b, "spend_usd")->valuedouble > 0.004);
    assert_true(cJSON_GetObjectItem(b, "daily_spend_usd")->valuedouble
                > 0.004);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(b, "monthly_spend_usd")));
    cJSON *ps = cJSON_GetObjectItem(b, "policies");
    assert_int_equal(cJSON_GetArraySize(ps), 2);
    x = cJSON_GetArrayItem(ps, 1);
    assert_string_equal(cJSON_GetObjectItem(x, "policy")->valuestring,
                        "month");
    assert_true(cJSON_GetObjectItem(x, "monthly_usd")->valuedouble == 100);
    assert_true(cJSON_GetObjectItem(x, "monthly_spend_usd")->valuedouble
                > 0.004);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(x, "daily_usd")));
    cJSON *br = cJSON_GetObjectItem(d, "breakers");
    assert_int_equal(cJSON_GetArraySize(br), 2);
    cJSON_ArrayForEach(x, br) {
        const char *t = cJSON_GetObjectItem(x, "target")->valuestring;
        assert_string_equal(cJSON_GetObjectItem(x, "state")->valuestring,
                            !strcmp(t, "bad") ? "open" : "closed");
        assert_string_equal(cJSON_GetObjectItem(x, "policy")->valuestring,
                            "breaker");
    }
    cJSON_Delete(d);
    free(h.body);

    http(f, "GET", "/dashboard", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.headers, "text/html"));
    assert_non_null(strstr(h.body, "llmroute dashboard"));
    assert_null(strstr(h.body, "http://"));
    assert_null(strstr(h.body, "https://"));
    assert_null(strstr(h.body, "//cdn"));
    free(h.body);
}

/* A stream is counted when it ends (after the client saw [DONE]), so
   poll, bounded. */
static void test_streamed_counted(void **state)
{
    struct fx *f = *state;
    struct http h;
    http(f, "POST", "/v1/chat/completions", NULL,
         "{\"model\":\"auto\",\"stream\":true,\"messages\":[{\"role\":"
         "\"user\",\"content\":\"stream me\"}]}", &h);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "data: [DONE]"));
    free(h.body);
    double n = -1;
    for (int i = 0; i < 250 && n != 1; i++) {
        http(f, "GET", "/metrics", NULL, NULL, &h);
        n = value_of(h.body, "llmroute_request_latency_seconds_count"
                     "{target=\"a\"}");
        free(h.body);
        if (n != 1)
            usleep(20000);
    }
    assert_true(n == 1);
    http(f, "GET", "/dashboard/data", NULL, NULL, &h);
    cJSON *d = cJSON_Parse(h.body);
    assert_non_null(d);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "fallbacks")),
                     1);
    cJSON_Delete(d);
    free(h.body);
}

/* families(root) as Prometheus text (gauge_families or
   counter_families), NUL-terminated in b, which the caller frees. */
static const char *render(struct serve_buf *b,
                          void (*families)(struct serve_buf *, int *,
                                           const cJSON *),
                          const cJSON *root)
{
    int oom = 0;
    memset(b, 0, sizeof *b);
    families(b, &oom, root);
    assert_false(oom);
    assert_int_equal(serve_buf_add(b, "", 1), 0);
    return b->data;
}

/* The breaker_state gauge's values as words, anything else "unknown";
   labels "POLICY/TARGET" split at the first '/' (a target name may hold
   one), into the dashboard's breakers and /metrics' policy and target;
   a label without '/' is a target of no known policy.  The same for the
   breaker_transitions counter, whose label ends in ":STATE". */
static void test_breaker_states(void **state)
{
    (void)state;
    cJSON *root = cJSON_CreateObject(), *m = cJSON_Parse(
        "{\"gauges\":{\"breaker_state\":{\"b/x\":0,\"b/y\":1,"
        "\"s/z\":2,\"b/w\":7,\"b/v\":\"2\",\"s/o/gpt\":1,\"old\":2}},"
        "\"counters\":{\"breaker_state\":{\"q\":1}}}");
    assert_non_null(m);
    add_breakers(root, m);
    cJSON *arr = cJSON_GetObjectItem(root, "breakers");
    assert_int_equal(cJSON_GetArraySize(arr), 6);
    static const char *const want[][3] = {
        {"b", "x", "closed"}, {"b", "y", "half-open"}, {"s", "z", "open"},
        {"b", "w", "unknown"}, {"s", "o/gpt", "half-open"},
        {NULL, "old", "open"}};
    for (int i = 0; i < 6; i++) {
        cJSON *o = cJSON_GetArrayItem(arr, i);
        cJSON *pol = cJSON_GetObjectItem(o, "policy");
        if (want[i][0])
            assert_string_equal(pol->valuestring, want[i][0]);
        else
            assert_true(cJSON_IsNull(pol));
        assert_string_equal(cJSON_GetObjectItem(o, "target")->valuestring,
                            want[i][1]);
        assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring,
                            want[i][2]);
    }
    cJSON_Delete(root);

    struct serve_buf b;
    const char *t = render(&b, gauge_families, m);
    assert_true(value_of(t, "llmroute_breaker_state{policy=\"b\","
                         "target=\"x\"}") == 0);
    assert_true(value_of(t, "llmroute_breaker_state{policy=\"s\","
                         "target=\"z\"}") == 2);
    assert_true(value_of(t, "llmroute_breaker_state{policy=\"s\","
                         "target=\"o/gpt\"}") == 1);
    assert_true(value_of(t, "llmroute_breaker_state{target=\"old\"}") == 2);
    struct prom p;
    prom_parse(t, &p);
    serve_buf_free(&b);
    cJSON_Delete(m);

    /* Its counter, "POLICY/TARGET:STATE": the policy split at the first
       '/', the transition at the last ':' (a target may hold either). */
    cJSON *c = cJSON_Parse(
        "{\"counters\":{\"breaker_transitions\":{\"b/x:open\":2,"
        "\"s/x:open\":1,\"s/o/g:p:half_open\":3,\"x:closed\":4,"
        "\"b/y\":5}}}");
    assert_non_null(c);
    t = render(&b, counter_families, c);
    static const struct {
        const char *sample;
        double v;
    } tr[] = {
        {"{policy=\"b\",target=\"x\",transition=\"open\"}", 2},
        {"{policy=\"s\",target=\"x\",transition=\"open\"}", 1},
        {"{policy=\"s\",target=\"o/g:p\",transition=\"half_open\"}", 3},
        {"{target=\"x\",transition=\"closed\"}", 4},
        {"{policy=\"b\",target=\"y\"}", 5},
    };
    char series[160];
    for (size_t i = 0; i < sizeof tr / sizeof *tr; i++) {
        snprintf(series, sizeof series,
                 "llmroute_breaker_transitions_total%s", tr[i].sample);
        if (value_of(t, series) != tr[i].v)
            fail_msg("%s is not %g:\n%s", series, tr[i].v, t);
    }
    prom_parse(t, &p);
    serve_buf_free(&b);
    cJSON_Delete(c);
}

/* budget_guard's gauges, labelled "SECTION/PERIOD": split into policy
   and period on /metrics (at the last '/', escaped), and its counters
   into policy and scope (or policy alone), one entry per
   policy in the dashboard's budget, sorted, with the first one's values
   also where a single budget's were. */
static void test_budget_gauges(void **state)
{
    (void)state;
    cJSON *m = cJSON_Parse(
        "{\"cost_usd\":0.5,\"gauges\":{"
        "\"budget_limit_usd\":{\"team/daily\":20,\"day/daily\":5,"
        "\"a/b\\\"c/monthly\":7,\"old\":3,\"day/weekly\":1},"
        "\"budget_period_spend_usd\":{\"day/daily\":1.25,"
        "\"team/monthly\":4,\"team/daily\":\"x\"}}}");
    assert_non_null(m);
    struct serve_buf b;
    const char *t = render(&b, gauge_families, m);
    assert_true(value_of(t, "llmroute_budget_limit_usd{policy=\"team\","
                         "period=\"daily\"}") == 20);
    assert_true(value_of(t, "llmroute_budget_limit_usd{policy=\"day\","
                         "period=\"daily\"}") == 5);
    assert_true(value_of(t, "llmroute_budget_limit_usd{policy="
                         "\"a/b\\\"c\",period=\"monthly\"}") == 7);
    assert_true(value_of(t, "llmroute_budget_limit_usd{period=\"old\"}")
                == 3);
    assert_true(value_of(t, "llmroute_budget_period_spend_usd{policy="
                         "\"day\",period=\"daily\"}") == 1.25);
    assert_true(value_of(t, "llmroute_budget_period_spend_usd{policy="
                         "\"team\",period=\"monthly\"}") == 4);
    struct prom p;
    prom_parse(t, &p);
    serve_buf_free(&b);

    /* Its counters, "SECTION/LIMIT" or "SECTION". */
    cJSON *c = cJSON_Parse(
        "{\"counters\":{\"budget_rejected\":{\"day/daily\":2,"
        "\"a/b/per_user_daily\":1,\"old\":4},"
        "\"budget_spend_usd\":{\"day\":1.5,\"team\":0.25}}}");
    assert_non_null(c);
    t = render(&b, counter_families, c);
    assert_true(value_of(t, "llmroute_budget_rejected_total{policy=\"day\","
                         "scope=\"daily\"}") == 2);
    assert_true(value_of(t, "llmroute_budget_rejected_total{policy=\"a/b\","
                         "scope=\"per_user_daily\"}") == 1);
    assert_true(value_of(t, "llmroute_budget_rejected_total{scope=\"old\"}")
                == 4);
    assert_true(value_of(t, "llmroute_budget_spend_usd_total{policy="
                         "\"day\"}") == 1.5);
    assert_true(value_of(t, "llmroute_budget_spend_usd_total{policy="
                         "\"team\"}") == 0.25);
    prom_parse(t, &p);
    serve_buf_free(&b);
    cJSON_Delete(c);

    cJSON *root = cJSON_CreateObject();
    add_budget(root, m);
    cJSON *bu = cJSON_GetObjectItem(root, "budget");
    assert_true(cJSON_GetObjectItem(bu, "spend_usd")->valuedouble == 0.5);
    cJSON *ps = cJSON_GetObjectItem(bu, "policies");
    assert_int_equal(cJSON_GetArraySize(ps), 3);
    static const char *const names[] = {"a/b\"c", "day", "team"};
    /* daily_usd, monthly_usd, daily_spend_usd, monthly_spend_usd; -1:
       null */
    static const double want[][4] = {
        {-1, 7, -1, -1}, {5, -1, 1.25, -1}, {20, -1, -1, 4}};
    for (int i = 0; i < 3; i++) {
        cJSON *x = cJSON_GetArrayItem(ps, i);
        assert_string_equal(cJSON_GetObjectItem(x, "policy")->valuestring,
                            names[i]);
        for (int k = 0; k < 4; k++) {
            cJSON *v = cJSON_GetObjectItem(x, budget_keys[k]);
            if (want[i][k] < 0)
                assert_true(cJSON_IsNull(v));
            else
                assert_true(cJSON_IsNumber(v) &&
                            v->valuedouble == want[i][k]);
            cJSON *top = cJSON_GetObjectItem(bu, budget_keys[k]);
            if (i == 0 && want[i][k] < 0)
                assert_true(cJSON_IsNull(top));
            else if (i == 0)
                assert_true(top->valuedouble == want[i][k]);
        }
    }
    cJSON_Delete(root);

    /* No budget_guard: no policies, every value null. */
    root = cJSON_CreateObject();
    cJSON *none = cJSON_Parse("{\"cost_usd\":0,\"gauges\":{}}");
    add_budget(root, none);
    bu = cJSON_GetObjectItem(root, "budget");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(bu,
                                                            "policies")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(bu, "daily_usd")));
    cJSON_Delete(none);
    cJSON_Delete(root);
    cJSON_Delete(m);
}

static void test_auth(void **state)
{
    struct fx *f = *state;
    struct http h;
    http(f, "GET", "/metrics", NULL, NULL, &h);
    assert_int_equal(h.status, 401);
    free(h.body);
    http(f, "GET", "/dashboard/data", "sk-wrong", NULL, &h);
    assert_int_equal(h.status, 401);
    free(h.body);
    http(f, "GET", "/metrics", KEY_APP, NULL, &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    http(f, "GET", "/dashboard/data", KEY_APP, NULL, &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    http(f, "GET", "/dashboard", NULL, NULL, &h);   /* no data in it */
    assert_int_equal(h.status, 200);
    free(h.body);
    http(f, "POST", "/metrics", KEY_APP, "{}", &h);
    assert_int_equal(h.status, 405);
    free(h.body);
    http(f, "DELETE", "/dashboard", KEY_APP, NULL, &h);
    assert_int_equal(h.status, 405);
    free(h.body);
}

/* Run chromium on url with stdout to path; its exit code. */
static int dump_dom(const char *url, const char *path, const char *profile)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int devnull = open("/dev/null", O_WRONLY);
        if (fd < 0 || devnull < 0 || dup2(fd, 1) < 0 || dup2(devnull, 2) < 0)
            _exit(126);
        char prof[600];
        snprintf(prof, sizeof prof, "--user-data-dir=%s", profile);
        execl(CHROMIUM, CHROMIUM, "--headless=new", "--no-sandbox",
              "--disable-gpu", "--no-first-run", prof,
              "--virtual-time-budget=5000", "--dump-dom", url, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    int64_t deadline = mono_ms() + 60000;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (mono_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("chromium did not finish within 60 s");
        }
        usleep(20000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The page as headless Chromium renders it after traffic(), with no load
   error shown; skips the test when Chromium is missing. */
static char *rendered_page(struct fx *f)
{
    if (access(CHROMIUM, X_OK) != 0) {
        fprintf(stderr, "SKIPPED: dashboard browser test (" CHROMIUM
                " missing; scripts/setup-deps.sh installs it as root)\n");
        skip();
    }
    char url[128], out[600], profile[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/dashboard", f->gw.port);
    snprintf(out, sizeof out, "%s/dom.html", f->env.dir);
    snprintf(profile, sizeof profile, "%s/chromium", f->env.dir);
    assert_int_equal(dump_dom(url, out, profile), 0);
    char *dom = tenv_slurp(out);
    assert_non_null(dom);
    /* No load error shown (the script's own text is in the DOM too). */
    if (!strstr(dom, "<p id=\"err\"></p>"))
        fail_msg("page shows a load error:\n%s", dom);
    assert_null(strstr(dom, "Updated <span id=\"updated\">never"));
    if (getenv("TEST_SM_SHOW_DOM"))
        fprintf(stderr, "%s\n", dom);
    return dom;
}

static void test_dashboard_browser(void **state)
{
    struct fx *f = *state;
    traffic(f, NULL);
    char *dom = rendered_page(f);
    /* What a person sees: the targets, their success rates and breaker
       states (bad's opened in the outage), the fallback and its reason,
       the day's spend (as the store holds it) against the budget. */
    static const char spend[] =
        "<p>budget: $0.0050 spent this UTC day (every process sharing the "
        "store); daily budget $5.0000 (0.1% of it); this gateway: "
        "$0.0050</p>";
    static const char spend_month[] =
        "<p>month: $0.0050 spent this UTC month (every process sharing the "
        "store); monthly budget $100.0000 (0.0% of it); this gateway: "
        "$0.0050</p>";
    const char *want[] = {
        "<td>bad</td>", "<td>a</td>", "<td class=\"n\">0.0%</td>",
        "<td class=\"n\">100.0%</td>",
        "<td class=\"open\">open</td></tr>", "<td>closed</td></tr>",
        "server_error (HTTP 500)", spend, spend_month,
        "2 requests, 100.0% succeeded", "Cache hit rate: 50.0% (1 of 2)",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(dom, want[i]))
            fail_msg("rendered page lacks '%s':\n%s", want[i], dom);
    free(dom);
}

/* Two circuit_breaker instances, [policy breaker] (opens at the first
   failure) and [policy slow] (at the third): bad's one failure opens the
   first only (one transition, counted for it alone), and each keeps its
   own series on /metrics, entry in the
   dashboard's data and, on the page, "NAME: state" in bad's row,
   coloured as open. */
static void test_two_breakers(void **state)
{
    struct fx *f = *state;
    struct http h;
    traffic(f, NULL);
    http(f, "GET", "/metrics", NULL, NULL, &h);
    assert_int_equal(h.status, 200);
    static const char *const fams[] = {
        "llmroute_breaker_state{policy=\"breaker\",target=\"bad\"}",
        "llmroute_breaker_state{policy=\"slow\",target=\"bad\"}",
        "llmroute_breaker_state{policy=\"breaker\",target=\"a\"}",
        "llmroute_breaker_state{policy=\"slow\",target=\"a\"}"};
    static const double want[] = {2, 0, 0, 0};
    for (size_t i = 0; i < 4; i++)
        if (value_of(h.body, fams[i]) != want[i])
            fail_msg("%s is not %g:\n%s", fams[i], want[i], h.body);
    /* The trip is counted for [policy breaker] alone. */
    const char *tr = "llmroute_breaker_transitions_total{";
    char trip[128], slow[64];
    snprintf(trip, sizeof trip, "%spolicy=\"breaker\",target=\"bad\","
             "transition=\"open\"}", tr);
    snprintf(slow, sizeof slow, "%spolicy=\"slow\"", tr);
    if (value_of(h.body, trip) != 1 || strstr(h.body, slow))
        fail_msg("expected %s 1 and nothing for slow:\n%s", trip, h.body);
    free(h.body);
    http(f, "GET", "/dashboard/data", NULL, NULL, &h);
    cJSON *d = cJSON_Parse(h.body);
    assert_non_null(d);
    cJSON *x, *br = cJSON_GetObjectItem(d, "breakers");
    assert_int_equal(cJSON_GetArraySize(br), 4);
    int open = 0;
    cJSON_ArrayForEach(x, br) {
        const char *pol = cJSON_GetObjectItem(x, "policy")->valuestring;
        const char *t = cJSON_GetObjectItem(x, "target")->valuestring;
        const char *st = cJSON_GetObjectItem(x, "state")->valuestring;
        int bad_open = !strcmp(pol, "breaker") && !strcmp(t, "bad");
        assert_string_equal(st, bad_open ? "open" : "closed");
        open += bad_open;
    }
    assert_int_equal(open, 1);
    cJSON_Delete(d);
    free(h.body);
    char *dom = rendered_page(f);
    static const char *const cells[] = {
        "<td class=\"open\">breaker: open, slow: closed</td></tr>",
        "<td>breaker: closed, slow: closed</td></tr>"};
    for (size_t i = 0; i < 2; i++)
        if (!strstr(dom, cells[i]))
            fail_msg("rendered page lacks '%s':\n%s", cells[i], dom);
    free(dom);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_helpers),
        cmocka_unit_test(test_breaker_states),
        cmocka_unit_test(test_budget_gauges),
        cmocka_unit_test_setup_teardown(test_metrics, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_data, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_streamed_counted, setup_open,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_auth, setup_keys, teardown),
        cmocka_unit_test_setup_teardown(test_two_breakers,
                                        setup_two_breakers, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_browser, setup_open,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
