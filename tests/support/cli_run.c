/*
 * cli_run.c - the built llmroute as a bounded child process, for tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "mock_upstream.h"
#include "testenv.h"

const char *cli_path(void)
{
    static char path[1024];
    if (!path[0])
        snprintf(path, sizeof path, "%s/llmroute", tenv_build());
    return path;
}

int64_t cli_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_add(struct cli_sink *s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = (s->len + n + 1) * 2;
        char *d = realloc(s->data, cap);
        assert_non_null(d);
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
}

static void kill_and_fail(pid_t pid, const char *why)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("llmroute child: %s", why);
}

/* stdin for the child: /dev/null, or the read end of a pipe whose write
   end goes to *feed. */
static int child_stdin(const char *stdin_text, int *feed)
{
    int in[2];
    *feed = -1;
    if (!stdin_text) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
    }
    assert_true(strlen(stdin_text) < 4096);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    *feed = in[1];
    return in[0];
}

void cli_spawnv(struct cli_child *c, int timeout_ms, const char *stdin_text,
                va_list args)
{
    const char *cli = cli_path();
    char *argv[CLI_MAX_ARGS + 2];
    int out[2], err[2], feed, argc = 0;
    argv[argc++] = (char *)cli;
    for (const char *a; (a = va_arg(args, const char *)) != NULL;) {
        assert_true(argc <= CLI_MAX_ARGS);
        argv[argc++] = (char *)a;
    }
    argv[argc] = NULL;
    int in = child_stdin(stdin_text, &feed);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execv(cli, argv);
        _exit(127);
    }
    close(in);
    close(out[1]);
    close(err[1]);
    if (feed >= 0) {
        size_t n = strlen(stdin_text);
        assert_int_equal(write(feed, stdin_text, n), (ssize_t)n);
        close(feed);
    }
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->pf[0] = (struct pollfd){out[0], POLLIN, 0};
    c->pf[1] = (struct pollfd){err[0], POLLIN, 0};
    sink_add(&c->s[0], "", 0);
    sink_add(&c->s[1], "", 0);
    c->deadline = cli_mono_ms() + timeout_ms;
}

void cli_spawn(struct cli_child *c, int timeout_ms, const char *stdin_text,
               ...)
{
    va_list ap;
    va_start(ap, stdin_text);
    cli_spawnv(c, timeout_ms, stdin_text, ap);
    va_end(ap);
}

int cli_pump(struct cli_child *c, int ms)
{
    if (cli_mono_ms() > c->deadline)
        kill_and_fail(c->pid, "still running at the deadline");
    if (c->pf[0].fd < 0 && c->pf[1].fd < 0)
        return 0;
    int n = poll(c->pf, 2, ms);
    if (n < 0 && errno != EINTR)
        kill_and_fail(c->pid, "poll failed");
    for (int i = 0; n > 0 && i < 2; i++) {
        if (c->pf[i].fd < 0 || !c->pf[i].revents)
            continue;
        char buf[4096];
        ssize_t got = read(c->pf[i].fd, buf, sizeof buf);
        if (got > 0)
            sink_add(&c->s[i], buf, (size_t)got);
        else if (got == 0 || errno != EINTR) {
            close(c->pf[i].fd);
            c->pf[i].fd = -1;
        }
    }
    return c->pf[0].fd >= 0 || c->pf[1].fd >= 0;
}

void cli_wait_stderr(struct cli_child *c, const char *text)
{
    while (!strstr(c->s[1].data, text))
        if (!cli_pump(c, 50))
            fail_msg("child ended without writing '%s'; stderr: %s", text,
                     c->s[1].data);
}

void cli_finish(struct cli_child *c, struct cli_run *r)
{
    int status = 0;
    while (cli_pump(c, 200))
        ;
    for (;;) {
        pid_t w = waitpid(c->pid, &status, WNOHANG);
        if (w == c->pid)
            break;
        if (w < 0 && errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
        if (cli_mono_ms() > c->deadline)
            kill_and_fail(c->pid, "did not exit by the deadline");
        usleep(5000);
    }
    r->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = c->s[0].data;
    r->err = c->s[1].data;
}

void cli_runv(struct cli_run *r, int timeout_ms, const char *stdin_text,
              va_list args)
{
    struct cli_child c;
    cli_spawnv(&c, timeout_ms, stdin_text, args);
    cli_finish(&c, r);
}

void cli_run(struct cli_run *r, int timeout_ms, const char *stdin_text, ...)
{
    va_list ap;
    va_start(ap, stdin_text);
    cli_runv(r, timeout_ms, stdin_text, ap);
    va_end(ap);
}

void cli_run_free(struct cli_run *r)
{
    free(r->out);
    free(r->err);
}

int cli_env_start(struct tenv *e, struct mock_upstream **mock,
                  const char *script)
{
    char err[512];
    *mock = NULL;
    if (tenv_init(e) != 0)
        return -1;
    *mock = mock_start(script, err, sizeof err);
    if (!*mock) {
        fprintf(stderr, "mock_start: %s\n", err);
        return -1;
    }
    return 0;
}

void cli_env_stop(struct tenv *e, struct mock_upstream *mock)
{
    if (mock)
        mock_stop(mock);
    tenv_free(e);
}

void cli_conf(struct tenv *e, const char *name, const char *tmpl, int port,
              char *path)
{
    char text[8192], num[16];
    size_t len = 0;
    snprintf(num, sizeof num, "%d", port);
    for (const char *p = tmpl; *p && len + 16 < sizeof text;) {
        if (strncmp(p, "@PORT@", 6) == 0) {
            len += (size_t)snprintf(text + len, sizeof text - len, "%s",
                                    num);
            p += 6;
        }
        else
            text[len++] = *p++;
    }
    text[len] = '\0';
    const char *w = tenv_write(e, name, "%s", text);
    assert_non_null(w);
    snprintf(path, 512, "%s", w);
}
