/*
 * store.c - picks a store backend from its INI spec ("store = ..." in
 * [router]) and closes any backend through its ops.  The backends
 * themselves live in store_<name>.c.  redis is recognised already so a
 * config written for it gets a precise "not yet" rather than "unknown
 * store".  Also the integer helpers every backend's incr shares.
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
        return lr_store_sqlite_open(spec + 7, clk, err, errlen);
    if (has_prefix(spec, "redis://"))
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

/* Optional '-' then digits, fitting in int64_t; nothing else. */
int lr_store_parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = len && s[0] == '-' ? 1 : 0;
    int neg = i == 1;
    int64_t v = 0;
    if (i == len)
        return LR_E_INVALID_ARG;
    for (; i < len; i++) {
        int d = s[i] - '0';
        if (d < 0 || d > 9)
            return LR_E_INVALID_ARG;
        /* Accumulate negatively: INT64_MIN has no positive twin. */
        if (v < (INT64_MIN + d) / 10)
            return LR_E_INVALID_ARG;
        v = v * 10 - d;
    }
    if (!neg && v == INT64_MIN)
        return LR_E_INVALID_ARG;
    *out = neg ? v : -v;
    return LR_OK;
}

int lr_store_add(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return LR_E_INVALID_ARG;
    *out = a + b;
    return LR_OK;
}
