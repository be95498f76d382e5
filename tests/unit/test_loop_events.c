/*
 * test_loop_events.c - the loop's epoll set (core/loop_events.c) through
 * the public API: a connection the upstream closes while curl keeps it
 * for reuse ("parked" in the set) must neither break the next request
 * (blocking and asynchronous paths) nor keep the loop awake, and
 * hundreds of transfers in flight at once all finish.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault_server.h"
#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

#define BODY "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"m\"," \
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\"," \
    "\"content\":\"hi\"},\"finish_reason\":\"stop\"}]," \
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}"

static struct lr_router *open_on(struct tenv *env, int port)
{
    char err[512];
    const char *path = tenv_write(env, "l.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target a]\nprovider = openai\nmodel = m\n"
        "base_url = http://127.0.0.1:%d/v1\n", port);
    struct lr_router *r = lr_open(path, err, sizeof err);
    if (!r)
        fail_msg("lr_open: %s", err);
    return r;
}

static struct lr_request *hello(void)
{
    struct lr_request *q = lr_request_new();
    assert_non_null(q);
    assert_int_equal(lr_request_set_prompt(q, "hello"), LR_OK);
    return q;
}

static void ask_blocking(struct lr_router *r)
{
    struct lr_request *q = hello();
    struct lr_response *resp = NULL;
    int rc = lr_complete(r, q, &resp);
    lr_request_free(q);
    if (rc != LR_OK)
        fail_msg("lr_complete: %s", lr_response_error_message(resp));
    assert_string_equal(lr_response_text(resp), "hi");
    lr_response_free(resp);
}

struct box {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done, ok;
    char first_error[256];   /* the first failure's message, for the report */
};

static void on_done(struct lr_response *resp, void *user)
{
    struct box *b = user;
    pthread_mutex_lock(&b->mu);
    b->done++;
    if (lr_response_status(resp) == LR_OK)
        b->ok++;
    else if (!b->first_error[0])
        snprintf(b->first_error, sizeof b->first_error, "%s",
                 lr_response_error_message(resp));
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    lr_response_free(resp);
}

/* Wait (at most 30 s) until n callbacks came; returns how many did. */
static size_t wait_done(struct box *b, size_t n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&b->mu);
    while (b->done < n)
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until))
            break;
    size_t d = b->done;
    pthread_mutex_unlock(&b->mu);
    return d;
}

static void ask_async(struct lr_router *r, struct box *b)
{
    struct lr_request *q = hello();
    size_t before = b->done;
    assert_true(lr_submit(r, q, NULL, on_done, b) != 0);
    lr_request_free(q);
    assert_int_equal(wait_done(b, before + 1), before + 1);
}

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3
           + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

/* The fault server answers one request per connection, then closes it,
   while curl (no "Connection: close") parks it for reuse. */
static void closed_parked_connections(void **s)
{
    (void)s;
    struct fault_plan plan = {
        .head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Content-Length: 193\r\n\r\n" BODY,
    };
    assert_int_equal(strlen(BODY), 193);
    struct fault_server *fs = fault_start(&plan);
    assert_non_null(fs);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);
    struct lr_router *r = open_on(&env, fault_port(fs));
    struct box b = {.mu = PTHREAD_MUTEX_INITIALIZER,
                    .cv = PTHREAD_COND_INITIALIZER};
    for (int i = 0; i < 5; i++) {
        ask_blocking(r);
        ask_async(r, &b);
        usleep(20 * 1000);   /* let the FIN arrive: the parked case */
    }
    assert_int_equal(b.ok, 5);
    assert_true(fault_connections(fs) >= 10);
    /* The engine's last connection is parked and closed by the server:
       a loop that kept it in the set would wake without end.  Spinning,
       it would burn most of the 500 ms even on a busy machine. */
    usleep(50 * 1000);
    double before = cpu_ms();
    usleep(500 * 1000);
    double burnt = cpu_ms() - before;
    if (burnt > 100.0)
        fail_msg("the idle router used %.0f ms of CPU in 500 ms", burnt);
    ask_async(r, &b);        /* and the loop still answers */
    assert_int_equal(b.ok, 6);
    lr_close(r);
    fault_stop(fs);
    tenv_free(&env);
}

#define IN_FLIGHT 300

/* Hundreds of sockets in the set at once, all answered. */
static void hundreds_in_flight(void **s)
{
    (void)s;
    char err[512];
    struct mock_upstream *m = mock_start(
        "{\"routes\":[{\"name\":\"a\",\"model\":\"m\",\"responses\":"
        "[{\"status\":200,\"text\":\"hi\",\"delay_ms\":200}]}]}",
        err, sizeof err);
    if (!m)
        fail_msg("mock: %s", err);
    struct tenv env;
    assert_int_equal(tenv_init(&env), 0);
    struct lr_router *r = open_on(&env, mock_port(m));
    struct box b = {.mu = PTHREAD_MUTEX_INITIALIZER,
                    .cv = PTHREAD_COND_INITIALIZER};
    struct lr_request *q = hello();
    for (int i = 0; i < IN_FLIGHT; i++)
        assert_true(lr_submit(r, q, NULL, on_done, &b) != 0);
    lr_request_free(q);
    assert_int_equal(wait_done(&b, IN_FLIGHT), IN_FLIGHT);
    if (b.ok != IN_FLIGHT)
        fail_msg("%zu of %d answered; first failure: %s", b.ok, IN_FLIGHT,
                 b.first_error);
    assert_int_equal(mock_requests(m, "a"), IN_FLIGHT);
    lr_close(r);
    mock_stop(m);
    tenv_free(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(closed_parked_connections),
        cmocka_unit_test(hundreds_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
