/*
 * store.c - picks a store backend from its INI spec ("store = ..." in
 * [router]) and closes any backend through its ops.  The backends
 * themselves live in store_<name>.c.  sqlite and redis are recognised
 * already so a config written for them gets a precise "not yet" rather
 * than "unknown store".
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EXPECTED "(expected memory, sqlite:PATH or redis://HOST:PORT)"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    LR_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

struct lr_store *lr_store_open(const char *spec, const struct lr_clock *clk,
                               char *err, size_t errlen)
{
    const char *backend = NULL;

    if (!spec)
        spec = "";
    if (strcmp(spec, "memory") == 0) {
        struct lr_store *s = lr_store_memory_new(clk);
        if (!s)
            set_err(err, errlen, "store '%s': out of memory", spec);
        return s;
    }
    if (has_prefix(spec, "sqlite:"))
        backend = "sqlite";
    else if (has_prefix(spec, "redis://"))
        backend = "redis";
    if (backend)
        set_err(err, errlen, "store backend '%s' is not available yet",
                backend);
    else
        set_err(err, errlen, "unknown store '%s' " EXPECTED, spec);
    return NULL;
}

void lr_store_close(struct lr_store *s)
{
    if (s)
        s->ops->close(s);
}
