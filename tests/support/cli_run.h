/*
 * cli_run.h - run the built `llmroute` program ($LLMROUTE_TEST_BUILD/
 * llmroute, default build/) as a child process and capture its stdout,
 * stderr and exit code, for the CLI tests.
 *
 * Every child is bounded: its output is read with poll() against a
 * deadline, and a child still running at the deadline is killed and the
 * test fails.  Nothing here sleeps for a result; the only waits are
 * poll()s and a reaping loop, both against that deadline.
 *
 * The helpers check with cmocka: call them from a test body only.  Only
 * async-signal-safe calls run between fork and exec, since tests may have
 * threads (the in-process mock upstream).
 */
#ifndef LR_TESTS_CLI_RUN_H
#define LR_TESTS_CLI_RUN_H

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tenv;
struct mock_upstream;

#define CLI_MAX_ARGS 20

/* What a finished run left; free with cli_run_free(). */
struct cli_run {
    int code;   /* exit status; -1 when the child died of a signal */
    char *out;  /* all of stdout, NUL-terminated (malloc'd) */
    char *err;  /* all of stderr */
};

/* A growing NUL-terminated buffer. */
struct cli_sink {
    char *data;
    size_t len, cap;
};

/* A running child, for tests that act while it runs (signals, samples). */
struct cli_child {
    pid_t pid;
    struct pollfd pf[2];        /* its stdout, stderr; fd -1 once closed */
    struct cli_sink s[2];       /* what they gave so far */
    int64_t deadline;           /* CLOCK_MONOTONIC ms */
};

/* The program's path (static storage). */
const char *cli_path(void);
/* CLOCK_MONOTONIC in ms. */
int64_t cli_mono_ms(void);

/*
 * Start llmroute with the NULL-terminated arguments (argv[0] is added);
 * stdin is /dev/null when stdin_text is NULL, else a pipe holding
 * stdin_text (under 4 KiB, so writing it cannot block) and then closed.
 * The child must be done within timeout_ms.
 */
void cli_spawnv(struct cli_child *c, int timeout_ms, const char *stdin_text,
                va_list args);
void cli_spawn(struct cli_child *c, int timeout_ms, const char *stdin_text,
               ...);
/* Read what the child wrote within ms; 0 once both pipes are closed. */
int cli_pump(struct cli_child *c, int ms);
/* Pump until its stderr holds text (the test fails if it ends first). */
void cli_wait_stderr(struct cli_child *c, const char *text);
/* Read to the end, reap the child and hand its output over to r. */
void cli_finish(struct cli_child *c, struct cli_run *r);

/* cli_spawn() then cli_finish(). */
void cli_runv(struct cli_run *r, int timeout_ms, const char *stdin_text,
              va_list args);
void cli_run(struct cli_run *r, int timeout_ms, const char *stdin_text, ...);
void cli_run_free(struct cli_run *r);

/* tenv_init(e), then a mock upstream running script into *mock: 0, or -1
   (the mock's error on stderr). */
int cli_env_start(struct tenv *e, struct mock_upstream **mock,
                  const char *script);
/* Stop the mock and remove the scratch folder. */
void cli_env_stop(struct tenv *e, struct mock_upstream *mock);

/*
 * Write tmpl into the scratch folder e as file name, each "@PORT@"
 * replaced by port; its path goes into path (512 bytes).
 */
void cli_conf(struct tenv *e, const char *name, const char *tmpl, int port,
              char *path);

#endif
