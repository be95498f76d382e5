/*
 * host.c - the host table handed to plugins: logging with the instance's
 * prefix, the injected clock, validated config, namespaced store access,
 * metrics, buffers, retry-hint parsers and candidate-list editing.
 */
#include "host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "req_ctx.h"
#include "router.h"
#include "timeparse.h"

static const struct lr_host_impl *impl(const struct lr_host *h)
{
    return (const struct lr_host_impl *)h;
}

static void host_log(const struct lr_host *h, enum lr_log_level level,
                     const char *fmt, ...) LR_PRINTF(3, 4);

static void host_log(const struct lr_host *h, enum lr_log_level level,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lr_log_prefixed(level, impl(h)->prefix, fmt, ap);
    va_end(ap);
}

static int64_t host_now(const struct lr_host *h)
{
    return lr_clock_now(impl(h)->router->clock);
}

static int64_t host_wall(const struct lr_host *h)
{
    return lr_clock_wall(impl(h)->router->clock);
}

static const struct lr_section *host_target_section(const struct lr_host *h,
                                                    const char *name)
{
    struct lr_target *t = lr_router_target(impl(h)->router, name);
    return t ? t->sec : NULL;
}

/* Keys starting with '/' are shared; others get the instance prefix. */
static int full_key(const struct lr_host *h, const char *key, char *out,
                    size_t outlen)
{
    int n = key[0] == '/' ? snprintf(out, outlen, "%s", key + 1)
                          : snprintf(out, outlen, "%s%s", impl(h)->ns, key);
    return n < 0 || (size_t)n >= outlen ? LR_E_INVALID_ARG : LR_OK;
}

static int host_store_get(const struct lr_host *h, const char *key,
                          struct lr_buf *out)
{
    char k[512];
    if (full_key(h, key, k, sizeof k) != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_store *s = impl(h)->router->store;
    return s->ops->get(s, k, out);
}

static int host_store_set(const struct lr_host *h, const char *key,
                          const void *val, size_t len, int64_t ttl_ms)
{
    char k[512];
    if (full_key(h, key, k, sizeof k) != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_store *s = impl(h)->router->store;
    return s->ops->set(s, k, val, len, ttl_ms);
}

static int host_store_incr(const struct lr_host *h, const char *key,
                           int64_t delta, int64_t ttl_ms, int64_t *out)
{
    char k[512];
    if (full_key(h, key, k, sizeof k) != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_store *s = impl(h)->router->store;
    return s->ops->incr(s, k, delta, ttl_ms, out);
}

static int host_store_cas(const struct lr_host *h, const char *key,
                          const void *expect, size_t expect_len,
                          const void *val, size_t len, int64_t ttl_ms)
{
    char k[512];
    if (full_key(h, key, k, sizeof k) != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_store *s = impl(h)->router->store;
    return s->ops->cas(s, k, expect, expect_len, val, len, ttl_ms);
}

static int host_store_del(const struct lr_host *h, const char *key)
{
    char k[512];
    if (full_key(h, key, k, sizeof k) != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_store *s = impl(h)->router->store;
    return s->ops->del(s, k);
}

static void host_counter_add(const struct lr_host *h, const char *name,
                             const char *label, double v)
{
    lr_metrics_counter_add(impl(h)->router->metrics, name, label, v);
}

static void host_gauge_set(const struct lr_host *h, const char *name,
                           const char *label, double v)
{
    lr_metrics_gauge_set(impl(h)->router->metrics, name, label, v);
}

static size_t cand_count(const struct lr_candidates *c)
{
    return c->n;
}

static const char *cand_get(const struct lr_candidates *c, size_t i)
{
    return i < c->n ? c->names[i] : NULL;
}

/* Room for n names; names stays valid until the next reserve. */
static int cand_reserve(struct lr_candidates *c, size_t n)
{
    if (!c->names) {
        c->names = c->inl;
        c->cap = LR_CANDIDATES_INLINE;
    }
    if (n <= c->cap)
        return LR_OK;
    size_t cap = c->cap * 2 > n ? c->cap * 2 : n;
    const char **v = c->names == c->inl ? NULL : c->names;
    v = realloc(v, cap * sizeof *v);
    if (!v)
        return LR_E_NOMEM;
    if (c->names == c->inl)
        memcpy(v, c->inl, c->n * sizeof *v);
    c->names = v;
    c->cap = cap;
    return LR_OK;
}

/* Replace the list, all or nothing: every name is checked, and room made,
   before the list changes. */
static int cand_set(struct lr_candidates *c, const char *const *targets,
                    size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!lr_router_target(c->router, targets[i])) {
            snprintf(c->err, sizeof c->err, "unknown target '%s'",
                     targets[i]);
            return LR_E_NOT_FOUND;
        }
    }
    if (cand_reserve(c, n) != LR_OK)
        return LR_E_NOMEM;
    c->n = 0;
    for (size_t i = 0; i < n; i++)
        c->names[c->n++] = lr_router_target(c->router, targets[i])->name;
    return LR_OK;
}

int lr_candidates_push(struct lr_candidates *c, const char *name)
{
    if (cand_reserve(c, c->n + 1) != LR_OK)
        return LR_E_NOMEM;
    c->names[c->n++] = name;
    return LR_OK;
}

void lr_candidates_clear(struct lr_candidates *c)
{
    if (c->names != c->inl)
        free(c->names);
    c->names = NULL;
    c->n = c->cap = 0;
}

static const struct lr_host template = {
    .struct_size = sizeof(struct lr_host),
    .abi_major = LR_PLUGIN_ABI_MAJOR,
    .abi_minor = LR_PLUGIN_ABI_MINOR,
    .log = host_log,
    .now_ms = host_now,
    .wall_ms = host_wall,
    .cfg_str = lr_cfg_str,
    .cfg_int = lr_cfg_int,
    .cfg_double = lr_cfg_double,
    .cfg_bool = lr_cfg_bool,
    .cfg_list = lr_cfg_list,
    .section_name = lr_cfg_section_name,
    .target_section = host_target_section,
    .buf_append = lr_buf_append,
    .buf_printf = lr_buf_printf,
    .buf_reset = lr_buf_reset,
    .buf_free = lr_buf_free,
    .store_get = host_store_get,
    .store_set = host_store_set,
    .store_incr = host_store_incr,
    .store_cas = host_store_cas,
    .store_del = host_store_del,
    .counter_add = host_counter_add,
    .parse_duration_ms = lr_parse_duration_ms,
    .parse_time_ms = lr_parse_time_ms,
    .cand_count = cand_count,
    .cand_get = cand_get,
    .cand_set = cand_set,
    .req_get = lr_host_req_get,
    .req_set = lr_host_req_set,
    .req_reject = lr_host_req_reject,
    .req_respond = lr_host_req_respond,
    .req_result = lr_host_req_result,
    .gauge_set = host_gauge_set,
};

struct lr_host_impl *lr_host_new(struct lr_router *r, const char *kind_word,
                                 const char *name)
{
    struct lr_host_impl *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->pub = template;
    h->router = r;
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->prefix, sizeof h->prefix, "[%s:%s]", kind_word, name);
    snprintf(h->ns, sizeof h->ns, "%s/%s/", kind_word, name);
    return h;
}

void lr_host_free(struct lr_host_impl *h)
{
    free(h);
}
