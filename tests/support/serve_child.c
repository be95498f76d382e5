/*
 * serve_child.c - see serve_child.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve_child.h"
#include "testenv.h"
#include "cli_run.h"
#include "mock_upstream.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int serve_child_start(struct serve_child *f, const char *dir,
                      const char *listen)
{
    int out[2];
    char conf[512], *argv[8];
    snprintf(conf, sizeof conf, "%s/gw.ini", dir);
    snprintf(f->errpath, sizeof f->errpath, "%s/gw.err", dir);
    int errfd = open(f->errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0600);
    assert_true(errfd >= 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    argv[0] = f->cli;
    argv[1] = "serve";
    argv[2] = "-c";
    argv[3] = conf;
    argv[4] = listen ? "--listen" : NULL;
    argv[5] = (char *)listen;
    argv[6] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(out[1], 1) < 0 || dup2(errfd, 2) < 0)
            _exit(126);
        execv(f->cli, argv);
        _exit(127);
    }
    close(out[1]);
    close(errfd);
    char line[256];
    size_t len = 0;
    int64_t deadline = mono_ms() + SERVE_CHILD_DEADLINE_MS;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd pf = {out[0], POLLIN, 0};
        int64_t left = deadline - mono_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
            break;
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(out[0]);
    char host[64];
    if (sscanf(line, "listening on %63[^:]:%d", host, &f->port) == 2) {
        f->pid = pid;
        return 0;
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        fail_msg("gateway neither listened nor exited: '%s'", line);
    return WEXITSTATUS(status);
}

int serve_child_stop(struct serve_child *f)
{
    if (!f->pid)
        return 0;
    kill(f->pid, SIGTERM);
    int status = 0;
    int64_t deadline = mono_ms() + SERVE_CHILD_DEADLINE_MS;
    while (waitpid(f->pid, &status, WNOHANG) != f->pid) {
        if (mono_ms() > deadline) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
            f->pid = 0;
            fail_msg("gateway did not stop after SIGTERM");
        }
        usleep(5000);
    }
    f->pid = 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code != 0) {            /* say why, or a teardown failure is mute */
        char *err = tenv_slurp(f->errpath);
        print_message("gateway exited %d; its stderr:\n%s\n", code,
                      err ? err : "(unreadable)");
        free(err);
    }
    return code;
}

int serve_env_start(struct serve_env *s, const char *script,
                    const char *conf_tmpl)
{
    char path[512];
    if (cli_env_start(&s->env, &s->mock, script) != 0)
        return -1;
    cli_conf(&s->env, "gw.ini", conf_tmpl, mock_port(s->mock), path);
    snprintf(s->gw.cli, sizeof s->gw.cli, "%s", cli_path());
    return serve_child_start(&s->gw, s->env.dir, "127.0.0.1:0");
}

int serve_env_stop(struct serve_env *s)
{
    int code = s->gw.pid ? serve_child_stop(&s->gw) : 0;
    cli_env_stop(&s->env, s->mock);
    return code;
}
