/*
 * test_soak.c - the gateway under sustained load with faults mixed in
 * (issue 6): `llmroute serve` as a child process in front of the scripted
 * mock upstream, driven over 64 keep-alive connections by a curl multi
 * client.  Target "a" answers from a seeded pseudo-random cycle of faults
 * (500, 503, 429 with a hint, a body cut short, malformed JSON, an HTML
 * page, a slow answer) and successes; "b", its fallback, fails now and
 * then.  A quarter of the requests stream.
 *
 * Checked:
 *   - every request is answered: a 200 with the mock's text (or an SSE
 *     stream ending in [DONE]), or an error in OpenAI's shape whose
 *     error.code is one of llmroute's classes; none lost, none hung (each
 *     has a 30 s client timeout and the whole run a deadline);
 *   - the gateway's file descriptors do not grow: counted at idle after
 *     the warm-up and again at idle after the run, the difference at most
 *     the pool of kept-alive upstream connections (one per connection);
 *   - its resident memory stays flat after warm-up (not checked under
 *     ASan, whose quarantine holds freed memory on purpose; there the
 *     child's own LeakSanitizer report at exit fails the run instead);
 *   - it still serves /healthz and stops cleanly (exit 0) on SIGTERM.
 *
 * SOAK_REQUESTS sets the count (default 3000, `make check`'s short cut;
 * `make soak` runs 20000).  No timing assertions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_run.h"
#include "http_client.h"
#include "mock_upstream.h"
#include "serve_child.h"
#include "testenv.h"

#define CONNS 64
#define CYCLE 40
#define RUN_DEADLINE_MS 300000

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

struct fx {
    struct serve_env s;
};

/* --- The mock's script: a seeded fault mix ------------------------------ */

static unsigned lcg(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

/* One entry of target a's cycle: mostly answers, a fault one time in 3. */
static const char *a_entry(unsigned r)
{
    static const char *const faults[] = {
        "{\"status\":500,\"error\":{\"message\":\"boom\",\"type\":"
        "\"server_error\"}}",
        "{\"status\":503,\"error\":{\"message\":\"overloaded\",\"type\":"
        "\"server_error\"}}",
        "{\"status\":429,\"headers\":{\"retry-after-ms\":\"5\"},\"error\":"
        "{\"message\":\"slow down\",\"type\":\"requests\"}}",
        "{\"text\":\"cut short by the upstream\",\"truncate_at\":20}",
        "{\"raw\":\"{\\\"choices\\\":[{\\\"message\\\"\"}",
        "{\"status\":502,\"content_type\":\"text/html\",\"raw\":"
        "\"<html><body>Bad gateway</body></html>\"}",
        "{\"text\":\"from a, late\",\"delay_ms\":30,\"chunk_delay_ms\":2}",
    };
    if (r % 3)
        return "{\"text\":\"from a\",\"usage\":{\"prompt_tokens\":3,"
               "\"completion_tokens\":2}}";
    return faults[(r / 3) % (sizeof faults / sizeof faults[0])];
}

static char *soak_script(void)
{
    size_t cap = 16384, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    unsigned seed = 20261206u;
    len += (size_t)snprintf(s + len, cap - len, "{\"routes\":[{\"name\":"
                            "\"a\",\"model\":\"m-a\",\"repeat\":\"cycle\","
                            "\"responses\":[");
    for (int i = 0; i < CYCLE; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%s", i ? "," : "",
                                a_entry(lcg(&seed)));
    snprintf(s + len, cap - len,
             "]},{\"name\":\"b\",\"model\":\"m-b\",\"repeat\":\"cycle\","
             "\"responses\":[" "%s%s%s%s%s%s%s%s%s"
             "{\"status\":500,\"error\":{\"message\":\"b broke\","
             "\"type\":\"server_error\"}}]}]}",
             "{\"text\":\"from b\"},", "{\"text\":\"from b\"},",
             "{\"text\":\"from b\"},", "{\"text\":\"from b\"},",
             "{\"text\":\"from b\"},", "{\"text\":\"from b\"},",
             "{\"text\":\"from b\"},", "{\"text\":\"from b\"},",
             "{\"text\":\"from b\"},");
    return s;
}

#define CONF                                                               \
    "[router]\nplugin_dir = .\ntimeout_ms = 10000\ntargets = a, b\n"        \
    "\n[target a]\nprovider = openai\nmodel = m-a\n"                       \
    "base_url = http://127.0.0.1:@PORT@/v1\n"                                  \
    "\n[target b]\nprovider = openai\nmodel = m-b\n"                       \
    "base_url = http://127.0.0.1:@PORT@/v1\n"                                  \
    "\n[gateway]\nshutdown_timeout_ms = 10000\n"

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    char *script = soak_script();
    int rc = f ? serve_env_start(&f->s, script, CONF) : -1;
    free(script);
    return rc;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f)
        serve_env_stop(&f->s);
    free(f);
    return 0;
}

/* --- The gateway process from outside ---------------------------------- */

static long proc_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    assert_non_null(d);
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    long kb = -1;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(fp);
    return kb;
}

/* fds once the gateway has closed its client connections (bounded wait
   for the count to stop falling). */
static long idle_fds(pid_t pid)
{
    long last = proc_fds(pid);
    for (int i = 0; i < 40; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        long now = proc_fds(pid);
        if (now == last && i >= 4)
            break;
        last = now;
    }
    return last;
}

/* --- The load: CONNS handles in a closed loop ------------------------- */

struct slot {
    CURL *easy;
    struct curl_slist *hdr;
    char *body;
    size_t len, cap;
    int stream;
};

struct tally {
    long ok, classified, sent;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct slot *s = user;
    size_t k = size * n;
    if (s->len + k + 1 > s->cap) {
        size_t cap = (s->len + k + 1) * 2;
        char *b = realloc(s->body, cap);
        if (!b)
            return 0;
        s->body = b;
        s->cap = cap;
    }
    memcpy(s->body + s->len, p, k);
    s->len += k;
    s->body[s->len] = '\0';
    return k;
}

/* The classes an upstream fault may end a request with (core/status.c);
   anything else (internal, no_target, ...) would be our own failure. */
static const char *const classes[] = {
    "rate_limited", "overloaded", "server_error", "timeout", "network",
    "protocol", NULL};

static int known_class(const char *c)
{
    for (int i = 0; classes[i]; i++)
        if (strcmp(c, classes[i]) == 0)
            return 1;
    return 0;
}

/* Judge one finished exchange; a wrong one fails the test with it. */
static void judge(struct slot *s, CURLcode cc, struct tally *t)
{
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *body = s->body ? s->body : "";
    if (cc != CURLE_OK)
        fail_msg("request lost: curl %d (%s)", cc, curl_easy_strerror(cc));
    if (status == 200 && s->stream) {
        if (!strstr(body, "data: [DONE]") ||
            !strstr(body, "\"content\":\"from"))
            fail_msg("stream without its text or [DONE]: %s", body);
        t->ok++;
        return;
    }
    cJSON *o = cJSON_Parse(body);
    if (!o)
        fail_msg("HTTP %ld with a body that is not JSON: %s", status, body);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (status == 200 && !err) {
        if (!strstr(body, "\"from "))
            fail_msg("a 200 without the upstream's text: %s", body);
        t->ok++;
    }
    else if (status >= 400 && cJSON_IsString(code) &&
             known_class(code->valuestring))
        t->classified++;
    else
        fail_msg("HTTP %ld, not an answer nor a classified error: %s",
                 status, body);
    cJSON_Delete(o);
}

static void arm(struct slot *s, CURLM *m, int port, long i)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions",
             port);
    s->stream = i % 4 == 3;
    s->len = 0;
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->stream
        ? "{\"model\":\"auto\",\"stream\":true,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"hi\"}]}"
        : "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"hi\"}]}");
    curl_multi_add_handle(m, s->easy);
}

/* Send n requests over CONNS connections; every one is judged. */
static void load(int port, long n, struct tally *t)
{
    CURLM *m = curl_multi_init();
    assert_non_null(m);
    struct slot slots[CONNS];
    memset(slots, 0, sizeof slots);
    long next = 0, done = 0;
    for (int i = 0; i < CONNS; i++) {
        struct slot *s = &slots[i];
        s->easy = curl_easy_init();
        s->hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdr);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 30000L);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        if (next < n)
            arm(s, m, port, next++);
    }
    int64_t deadline = cli_mono_ms() + RUN_DEADLINE_MS;
    while (done < n) {
        if (cli_mono_ms() > deadline)
            fail_msg("soak still running after %d s: %ld of %ld answered",
                     RUN_DEADLINE_MS / 1000, done, n);
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            struct slot *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m, s->easy);
            judge(s, cc, t);
            done++;
            if (next < n)
                arm(s, m, port, next++);
        }
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    t->sent += n;
    for (int i = 0; i < CONNS; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].hdr);
        free(slots[i].body);
    }
    curl_multi_cleanup(m);
}

static long soak_requests(void)
{
    const char *v = getenv("SOAK_REQUESTS");
    long n = v ? strtol(v, NULL, 10) : 3000;
    return n >= 200 && n <= 1000000 ? n : 3000;
}

static void gateway_soak(void **state)
{
    struct fx *f = *state;
    long n = soak_requests();
    struct tally t = {0, 0, 0};

    load(f->s.gw.port, n / 5, &t);                          /* warm-up */
    long fds_warm = idle_fds(f->s.gw.pid);
    long rss_warm = proc_rss_kb(f->s.gw.pid);

    load(f->s.gw.port, n - n / 5, &t);
    long fds_end = idle_fds(f->s.gw.pid);
    long rss_end = proc_rss_kb(f->s.gw.pid);

    print_message("soak: %ld requests: %ld answered, %ld classified errors;"
                  " upstream saw %ld; gateway fds %ld -> %ld, RSS %ld -> "
                  "%ld kB\n", t.sent, t.ok, t.classified,
                  mock_requests(f->s.mock, NULL), fds_warm, fds_end, rss_warm,
                  rss_end);
    assert_int_equal(t.ok + t.classified, n);
    assert_true(t.ok > n / 2);            /* the fallback did its work */
    assert_true(t.classified > 0);        /* and b's failures came out */
    /* Kept-alive upstream connections come and go with the load, up to
       one per concurrent request; a leak grows with the request count
       (hundreds of faults here), far past that. */
    assert_true(fds_end <= fds_warm + CONNS);
    if (!UNDER_ASAN)
        assert_true(rss_end <= rss_warm + 4096 + rss_warm / 10);

    struct http h;
    http_to(NULL, f->s.gw.port, "GET", "/healthz", NULL, NULL, 0, &h);
    assert_int_equal(h.status, 200);
    free(h.body);
    assert_int_equal(serve_child_stop(&f->s.gw), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(gateway_soak, setup, teardown),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
