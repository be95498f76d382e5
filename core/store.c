/*
 * store.c - picks a store backend from its INI spec ("store = ..." in
 * [router]) and closes any backend through its ops.  "memory" is built
 * in (store_memory.c); "NAME:ARG" is the store plugin NAME
 * (store_plugin.c).  Also the integer helpers every backend's incr
 * shares.
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPECTED "(expected memory, or NAME:ARG for the store plugin " \
                 "NAME, e.g. sqlite:PATH)"
#define NAME_MAX_LEN 32

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

/* Length of the plugin name before ':' in spec, 0 when there is none.
   Only [a-z0-9_]: the name becomes a file name, so no '/' or "..". */
static size_t plugin_name_len(const char *spec)
{
    size_t n = strspn(spec, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n > 0 && n <= NAME_MAX_LEN && spec[n] == ':' ? n : 0;
}

struct lr_store *lr_store_open(const char *spec,
                               const struct lr_store_env *env, char *err,
                               size_t errlen)
{
    struct lr_store *s = NULL;
    char name[NAME_MAX_LEN + 1];
    size_t n;

    if (!spec)
        spec = "";
    if (strcmp(spec, "memory") == 0) {
        if (!(s = lr_store_memory_new(env->clock)))
            set_err(err, errlen, "store '%s': out of memory", spec);
        else if (!(s->spec = strdup(spec))) {
            lr_store_close(s);
            set_err(err, errlen, "store '%s': out of memory", spec);
            s = NULL;
        }
        return s;
    }
    if ((n = plugin_name_len(spec)) == 0) {
        set_err(err, errlen, "unknown store '%s' " EXPECTED, spec);
        return NULL;
    }
    memcpy(name, spec, n);
    name[n] = '\0';
    return lr_store_plugin_open(name, spec + n + 1, env, err, errlen);
}

void lr_store_close(struct lr_store *s)
{
    if (!s)
        return;
    char *spec = s->spec;
    s->ops->close(s);
    free(spec);
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
