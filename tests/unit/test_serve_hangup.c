/*
 * test_serve_hangup.c - a client that hangs up while its request is in
 * flight gets its upstream call cancelled (cli/serve_watch.c): the
 * gateway's connection is suspended then, so libmicrohttpd alone would
 * not notice, and the call (and its bill) would run to the end.
 *
 * The mock's "slow" route answers after 20 s; a raw socket sends the
 * request, waits until the mock has it, and closes.  The router's
 * requests_total{class="cancelled"} in /metrics must then appear long
 * before the 20 s are up (the wait for it is bounded by 10 s: a
 * correctness bound, not a speed test).  Non-streamed and streamed (no
 * first token yet); and a client that stays still gets its answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "http_client.h"
#include "mock_upstream.h"
#include "serve_child.h"
#include "testenv.h"

#define WAIT_MS 10000

#define SCRIPT                                                             \
    "{\"routes\":[{\"name\":\"slow\",\"model\":\"m-slow\",\"responses\":[" \
    "{\"text\":\"too late\",\"delay_ms\":20000}]},"                        \
    "{\"name\":\"quick\",\"model\":\"m-quick\",\"responses\":["            \
    "{\"text\":\"in time\",\"delay_ms\":300}]}]}"

#define CONF                                                               \
    "[router]\nplugin_dir = .\ntimeout_ms = 60000\n"                       \
    "\n[target slow]\nprovider = openai\nmodel = m-slow\n"                 \
    "base_url = http://127.0.0.1:@PORT@/v1\n"                              \
    "\n[target quick]\nprovider = openai\nmodel = m-quick\n"               \
    "base_url = http://127.0.0.1:@PORT@/v1\n"

struct fx {
    struct serve_env s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    return f ? serve_env_start(&f->s, SCRIPT, CONF) : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f)
        serve_env_stop(&f->s);
    free(f);
    return 0;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A connected socket that has sent a chat request for model. */
static int send_chat(int port, const char *model, int stream)
{
    char body[256], req[512];
    int n = snprintf(body, sizeof body, "{\"model\":\"%s\",%s\"messages\":"
                     "[{\"role\":\"user\",\"content\":\"hi\"}]}", model,
                     stream ? "\"stream\":true," : "");
    int len = snprintf(req, sizeof req, "POST /v1/chat/completions "
                       "HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                       "application/json\r\nContent-Length: %d\r\n\r\n%s",
                       n, body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {WAIT_MS / 1000, 0};     /* reads are bounded */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(write(fd, req, (size_t)len), len);
    return fd;
}

static void wait_upstream(struct fx *f, const char *route, long n)
{
    int64_t end = cli_mono_ms() + WAIT_MS;
    while (mock_requests(f->s.mock, route) < n) {
        if (cli_mono_ms() > end)
            fail_msg("the mock never saw request %ld on %s", n, route);
        nap_ms(10);
    }
}

/* The router's count of requests of class cls, from /metrics. */
static long requests_of(struct fx *f, const char *cls)
{
    struct http h;
    http_to(NULL, f->s.gw.port, "GET", "/metrics", NULL, NULL, 0, &h);
    assert_int_equal(h.status, 200);
    char key[96];
    snprintf(key, sizeof key, "llmroute_requests_total{class=\"%s\"} ",
             cls);
    const char *p = strstr(h.body, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : 0;
    free(h.body);
    return v;
}

static void wait_cancelled(struct fx *f, long n)
{
    int64_t end = cli_mono_ms() + WAIT_MS;
    while (requests_of(f, "cancelled") < n) {
        if (cli_mono_ms() > end)
            fail_msg("the request of a client that hung up was not "
                     "cancelled within %d s", WAIT_MS / 1000);
        nap_ms(20);
    }
}

static void hangup_cancels_a_plain_request(void **state)
{
    struct fx *f = *state;
    int fd = send_chat(f->s.gw.port, "slow", 0);
    wait_upstream(f, "slow", 1);
    close(fd);
    wait_cancelled(f, 1);
    assert_int_equal(requests_of(f, "ok"), 0);
}

static void hangup_cancels_a_stream_before_its_first_token(void **state)
{
    struct fx *f = *state;
    int fd = send_chat(f->s.gw.port, "slow", 1);
    wait_upstream(f, "slow", 1);
    close(fd);
    wait_cancelled(f, 1);
}

/* Two hang-ups and one client that waits: only the two are cancelled,
   and the gateway keeps serving. */
static void a_client_that_stays_is_answered(void **state)
{
    struct fx *f = *state;
    int gone1 = send_chat(f->s.gw.port, "slow", 0);
    int gone2 = send_chat(f->s.gw.port, "slow", 1);
    int stays = send_chat(f->s.gw.port, "quick", 0);
    wait_upstream(f, "slow", 2);
    close(gone1);
    close(gone2);
    wait_cancelled(f, 2);
    char buf[4096] = "";
    size_t got = 0;
    int64_t end = cli_mono_ms() + WAIT_MS;
    while (!strstr(buf, "in time") && got + 1 < sizeof buf &&
           cli_mono_ms() < end) {
        ssize_t k = read(stays, buf + got, sizeof buf - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = '\0';
    }
    buf[got] = '\0';
    close(stays);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "in time"));
    assert_int_equal(requests_of(f, "cancelled"), 2);
    assert_int_equal(requests_of(f, "ok"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hangup_cancels_a_plain_request,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            hangup_cancels_a_stream_before_its_first_token, setup, teardown),
        cmocka_unit_test_setup_teardown(a_client_that_stays_is_answered,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
