/*
 * log.c - process-wide log sink with a level filter.  The callback and
 * level are read without a lock (atomics) because log lines come from
 * the engine threads of every open router.
 */
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "secrets.h"

/*
 * Replacing the sink while other threads log: a logging thread counts
 * itself in `readers` before it loads the sink and out after its call
 * returns.  The setter swaps the pointer, then frees the replaced sinks
 * only if it sees no reader: all accesses are sequentially consistent,
 * so either the setter sees a reader that may hold an old sink, or that
 * reader loads the new one.  Sinks that may still be in use wait in
 * `retired` for a later setter that sees no reader (a callback that
 * itself sets the sink is such a reader: it never waits on itself).
 * Log calls take no lock; only setters share one, among themselves.
 */
struct sink {
    lr_log_fn fn;
    void *user;
    struct sink *next_retired;
};

static _Atomic(struct sink *) current_sink;
static atomic_int readers;
static pthread_mutex_t setter_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sink *retired;     /* under setter_mu */
static atomic_int max_level = LR_LOG_WARN;
static atomic_int level_from_env_done;

void lr_set_log_cb(lr_log_fn fn, void *user)
{
    struct sink *s = NULL;
    if (fn) {
        s = calloc(1, sizeof *s);
        if (!s)
            return;
        s->fn = fn;
        s->user = user;
    }
    pthread_mutex_lock(&setter_mu);
    struct sink *old = atomic_exchange(&current_sink, s);
    if (old) {
        old->next_retired = retired;
        retired = old;
    }
    if (atomic_load(&readers) == 0) {
        while (retired) {
            struct sink *n = retired->next_retired;
            free(retired);
            retired = n;
        }
    }
    pthread_mutex_unlock(&setter_mu);
}

void lr_set_log_level(int level)
{
    atomic_store(&max_level, level);
    atomic_store(&level_from_env_done, 1);
}

static void level_from_env(void)
{
    if (atomic_exchange(&level_from_env_done, 1))
        return;
    const char *e = getenv("LLMROUTE_LOG");
    if (!e)
        return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(e, names[i]) == 0)
            atomic_store(&max_level, i);
}

int lr_log_enabled(enum lr_log_level level)
{
    level_from_env();
    return (int)level <= atomic_load(&max_level);
}

void lr_logv(enum lr_log_level level, const char *fmt, va_list ap)
{
    if (!lr_log_enabled(level))
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    /* Whatever a caller or a plugin put in the line, no key leaves. */
    lr_secrets_redact(line);
    atomic_fetch_add(&readers, 1);
    struct sink *s = atomic_load(&current_sink);
    if (s)
        s->fn((int)level, line, s->user);
    atomic_fetch_sub(&readers, 1);
    if (s)
        return;
    static const char *tags[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "llmroute %s: %s\n",
            tags[level <= LR_LOG_DEBUG ? level : LR_LOG_DEBUG], line);
}

void lr_log(enum lr_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lr_logv(level, fmt, ap);
    va_end(ap);
}

void lr_log_prefixed(enum lr_log_level level, const char *prefix,
                     const char *fmt, va_list ap)
{
    if (!lr_log_enabled(level))
        return;
    char msg[896];
    vsnprintf(msg, sizeof msg, fmt, ap);
    lr_log(level, "%s %s", prefix, msg);
}
