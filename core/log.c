/*
 * log.c - process-wide log sink with a level filter.  The callback and
 * level are read under a lock-free snapshot (atomics) because log lines
 * come from the engine threads of every open router.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "secrets.h"

struct sink {
    lr_log_fn fn;
    void *user;
};

static _Atomic(struct sink *) current_sink;
static atomic_int max_level = LR_LOG_WARN;
static atomic_int level_from_env_done;

void lr_set_log_cb(lr_log_fn fn, void *user)
{
    struct sink *s = NULL;
    if (fn) {
        s = malloc(sizeof *s);
        if (!s)
            return;
        s->fn = fn;
        s->user = user;
    }
    /* The old sink is leaked on purpose when replaced while another
       thread may still be calling it; a sink is a few bytes and apps set
       it once or twice. */
    struct sink *old = atomic_exchange(&current_sink, s);
    (void)old;
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
    struct sink *s = atomic_load(&current_sink);
    if (s) {
        s->fn((int)level, line, s->user);
        return;
    }
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
