/*
 * test_watch.c - lr_watch_fd / lr_unwatch_fd: an application fd served on
 * the engine thread.  fn runs on the thread that runs lr_submit()'s
 * callbacks, when its fd is readable, soon after the watch starts and
 * when the time it asked for comes, and when lr_watch_wake asks; it may
 * submit requests; an unwatch
 * from another thread returns only once fn has stopped for good; a watch
 * may end itself; bad arguments are refused.  Every wait is bounded.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "llmroute.h"
#include "mock_upstream.h"
#include "testenv.h"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
    int pipe[2];
};

struct watcher {
    struct lr_router *r;
    int fd;
    atomic_int calls, bytes, in_fn, submitted, answered;
    atomic_int end_after;          /* unwatch itself on this call (0: no) */
    atomic_int failed;             /* an lr_* call in fn failed */
    atomic_int wake_until;         /* fn wakes itself until this call */
    int64_t again_ms;              /* what fn returns */
    int submit_once;
    pthread_t fn_thread, done_thread;
};

static void setup(struct fx *f)
{
    char err[512];
    f->mock = mock_start("{\"routes\":[{\"name\":\"a\",\"model\":\"m\","
                         "\"responses\":[{\"status\":200,\"text\":\"hi\"}]}]}",
                         err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    const char *path = tenv_write(&f->env, "w.ini",
        "[router]\ntimeout_ms = 10000\n"
        "[target a]\nprovider = openai\nmodel = m\n"
        "base_url = http://127.0.0.1:%d/v1\n", mock_port(f->mock));
    f->r = lr_open(path, err, sizeof err);
    if (!f->r)
        fail_msg("lr_open: %s", err);
    assert_int_equal(pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC), 0);
}

static void teardown(struct fx *f)
{
    lr_close(f->r);
    close(f->pipe[0]);
    close(f->pipe[1]);
    mock_stop(f->mock);
    tenv_free(&f->env);
}

static void on_done(struct lr_response *resp, void *user)
{
    struct watcher *w = user;
    w->done_thread = pthread_self();
    if (lr_response_status(resp) == LR_OK)
        atomic_fetch_add(&w->answered, 1);
    lr_response_free(resp);
}

static int64_t fn(void *user)
{
    struct watcher *w = user;
    atomic_store(&w->in_fn, 1);
    w->fn_thread = pthread_self();
    int n = atomic_fetch_add(&w->calls, 1) + 1;
    char buf[64];
    ssize_t got;
    while ((got = read(w->fd, buf, sizeof buf)) > 0)
        atomic_fetch_add(&w->bytes, (int)got);
    if (w->submit_once && !atomic_load(&w->submitted)) {
        struct lr_request *q = lr_request_new();
        lr_request_set_prompt(q, "hello");
        if (lr_submit(w->r, q, NULL, on_done, w))
            atomic_store(&w->submitted, 1);
        lr_request_free(q);
    }
    if (n < atomic_load(&w->wake_until) &&
        lr_watch_wake(w->r, w->fd) != LR_OK)
        atomic_store(&w->failed, 1);
    /* No cmocka assertion here: it would longjmp off this thread. */
    if (atomic_load(&w->end_after) == n &&
        lr_unwatch_fd(w->r, w->fd) != LR_OK)
        atomic_store(&w->failed, 1);
    usleep(1000);                  /* widen the window an unwatch races */
    atomic_store(&w->in_fn, 0);
    return w->again_ms;
}

/* Wait (at most 10 s) until *v >= want. */
static int wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 2000 && atomic_load(v) < want; i++)
        usleep(5000);
    return atomic_load(v) >= want;
}

static void runs_on_engine_thread(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = -1,
                        .submit_once = 1};
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.calls, 1));        /* once, soon after */
    assert_true(wait_for(&w.answered, 1));     /* submitted from fn */
    assert_true(pthread_equal(w.fn_thread, w.done_thread));
    assert_false(pthread_equal(w.fn_thread, pthread_self()));
    int before = atomic_load(&w.calls);
    assert_int_equal(write(f.pipe[1], "abc", 3), 3);
    assert_true(wait_for(&w.bytes, 3));        /* readable: fn ran */
    assert_true(atomic_load(&w.calls) > before);
    assert_int_equal(lr_unwatch_fd(f.r, w.fd), LR_OK);
    teardown(&f);
}

static void runs_again_when_asked(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = 5};
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.calls, 4));        /* no byte ever written */
    assert_int_equal(atomic_load(&w.bytes), 0);
    teardown(&f);                              /* lr_close ends it */
}

static void unwatch_waits_for_fn(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = 0};
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.calls, 3));        /* running without pause */
    assert_int_equal(lr_unwatch_fd(f.r, w.fd), LR_OK);
    assert_int_equal(atomic_load(&w.in_fn), 0);
    int calls = atomic_load(&w.calls);
    assert_int_equal(write(f.pipe[1], "x", 1), 1);
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&w.calls), calls);
    assert_int_equal(lr_unwatch_fd(f.r, w.fd), LR_E_NOT_FOUND);
    /* The fd may be watched again. */
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.bytes, 1));
    teardown(&f);
}

static void ends_itself(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = 0,
                        .end_after = 3};
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.calls, 3));
    usleep(50 * 1000);
    assert_int_equal(atomic_load(&w.calls), 3);
    assert_int_equal(atomic_load(&w.failed), 0);
    assert_int_equal(lr_unwatch_fd(f.r, w.fd), LR_E_NOT_FOUND);
    teardown(&f);
}

/* lr_watch_wake runs fn with fd quiet and no time asked for: from
   another thread, and from fn itself. */
static void wake_runs_fn(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = -1};
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_true(wait_for(&w.calls, 1));
    usleep(20 * 1000);
    assert_int_equal(atomic_load(&w.calls), 1);
    atomic_store(&w.wake_until, 5);
    assert_int_equal(lr_watch_wake(f.r, w.fd), LR_OK);
    assert_true(wait_for(&w.calls, 5));    /* 2 from here, 3..5 from fn */
    usleep(20 * 1000);
    assert_int_equal(atomic_load(&w.calls), 5);
    assert_int_equal(atomic_load(&w.failed), 0);
    assert_int_equal(lr_watch_wake(f.r, f.pipe[1]), LR_E_NOT_FOUND);
    teardown(&f);
}

static void bad_arguments(void **s)
{
    (void)s;
    struct fx f;
    setup(&f);
    struct watcher w = {.r = f.r, .fd = f.pipe[0], .again_ms = -1};
    assert_int_equal(lr_watch_fd(f.r, -1, fn, &w), LR_E_INVALID_ARG);
    assert_int_equal(lr_watch_fd(f.r, w.fd, NULL, &w), LR_E_INVALID_ARG);
    assert_int_equal(lr_watch_fd(NULL, w.fd, fn, &w), LR_E_INVALID_ARG);
    assert_int_equal(lr_unwatch_fd(f.r, w.fd), LR_E_NOT_FOUND);
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_OK);
    assert_int_equal(lr_watch_fd(f.r, w.fd, fn, &w), LR_E_INVALID_ARG);
    /* A regular file cannot be polled. */
    const char *p = tenv_write(&f.env, "plain", "x");
    int plain = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(plain >= 0);
    assert_int_equal(lr_watch_fd(f.r, plain, fn, &w), LR_E_INVALID_ARG);
    close(plain);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_on_engine_thread),
        cmocka_unit_test(runs_again_when_asked),
        cmocka_unit_test(unwatch_waits_for_fn),
        cmocka_unit_test(ends_itself),
        cmocka_unit_test(wake_runs_fn),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
