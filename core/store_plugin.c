/*
 * store_plugin.c - a store backend that is a plugin (kind store, ABI
 * 1.4): "store = NAME:ARG" loads PLUGIN_DIR/NAME.so, opens it with ARG
 * and a host table of its own, and forwards every store.h operation to
 * its ops after the argument checks store.h promises, so a plugin never
 * sees a NULL key.
 *
 * The store's host is not a plugin instance's host (host.c): a store
 * serves every instance and outlives none of them, has no section and no
 * request, and must not call the store.  It gets the log, the store's
 * clock, buffers and metrics; every other member is NULL, as
 * llmroute_plugin.h says.
 */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "llmroute.h"
#include "log.h"
#include "metrics.h"
#include "plugin_load.h"

struct store_host {
    struct lr_host pub;         /* first: plugins see this */
    const struct lr_clock *clock;
    struct lr_metrics *metrics;
    char prefix[48];            /* "[store:NAME]" */
};

struct plugin_store {
    struct lr_store base;       /* first: the generic handle */
    struct lr_plugin *plugin;
    const struct lr_store_ops *ops;     /* the plugin's checked copy */
    void *inst;
    struct store_host host;
};

static const struct store_host *sh(const struct lr_host *h)
{
    return (const struct store_host *)h;
}

static void sh_log(const struct lr_host *h, enum lr_log_level level,
                   const char *fmt, ...) LR_PRINTF(3, 4);

static void sh_log(const struct lr_host *h, enum lr_log_level level,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lr_log_prefixed(level, sh(h)->prefix, fmt, ap);
    va_end(ap);
}

static int64_t sh_now(const struct lr_host *h)
{
    return lr_clock_now(sh(h)->clock);
}

static int64_t sh_wall(const struct lr_host *h)
{
    return lr_clock_wall(sh(h)->clock);
}

static void sh_counter_add(const struct lr_host *h, const char *name,
                           const char *label, double v)
{
    if (sh(h)->metrics)
        lr_metrics_counter_add(sh(h)->metrics, name, label, v);
}

static void sh_gauge_set(const struct lr_host *h, const char *name,
                         const char *label, double v)
{
    if (sh(h)->metrics)
        lr_metrics_gauge_set(sh(h)->metrics, name, label, v);
}

static const struct lr_host store_host_template = {
    .struct_size = sizeof(struct lr_host),
    .abi_major = LR_PLUGIN_ABI_MAJOR,
    .abi_minor = LR_PLUGIN_ABI_MINOR,
    .log = sh_log,
    .now_ms = sh_now,
    .wall_ms = sh_wall,
    .buf_append = lr_buf_append,
    .buf_printf = lr_buf_printf,
    .buf_reset = lr_buf_reset,
    .buf_free = lr_buf_free,
    .counter_add = sh_counter_add,
    .gauge_set = sh_gauge_set,
};

/* --- The backend: checks, then the plugin's op -------------------------- */

static struct plugin_store *ps(struct lr_store *s)
{
    return (struct plugin_store *)s;
}

static int ps_get(struct lr_store *s, const char *key, struct lr_buf *out)
{
    if (!key || !out)
        return LR_E_INVALID_ARG;
    return ps(s)->ops->get(ps(s)->inst, key, out);
}

static int ps_set(struct lr_store *s, const char *key, const void *val,
                  size_t len, int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    return ps(s)->ops->set(ps(s)->inst, key, val ? val : "", len, ttl_ms);
}

static int ps_incr(struct lr_store *s, const char *key, int64_t delta,
                   int64_t ttl_ms, int64_t *out)
{
    if (!key || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    return ps(s)->ops->incr(ps(s)->inst, key, delta, ttl_ms, out);
}

static int ps_cas(struct lr_store *s, const char *key, const void *expect,
                  size_t expect_len, const void *val, size_t len,
                  int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    return ps(s)->ops->cas(ps(s)->inst, key, expect, expect_len,
                           val ? val : "", len, ttl_ms);
}

static int ps_del(struct lr_store *s, const char *key)
{
    if (!key)
        return LR_E_INVALID_ARG;
    return ps(s)->ops->del(ps(s)->inst, key);
}

static void ps_close(struct lr_store *s)
{
    struct plugin_store *p = ps(s);
    if (p->inst)
        p->ops->close(p->inst);
    lr_plugin_close(p->plugin);
    free(p);
}

static const struct lr_store_backend plugin_backend = {
    .name = "plugin",
    .get = ps_get,
    .set = ps_set,
    .incr = ps_incr,
    .cas = ps_cas,
    .del = ps_del,
    .close = ps_close,
};

/* --- Opening ------------------------------------------------------------ */

/* "NAME:ARG" with a relative path argument made relative to base_dir. */
static char *spec_of(const char *name, const char *arg, int is_path,
                     const char *base_dir)
{
    char *out = NULL;
    int rel = is_path && base_dir && arg[0] != '\0' && arg[0] != '/';
    if (asprintf(&out, "%s:%s%s%s", name, rel ? base_dir : "",
                 rel ? "/" : "", arg) < 0)
        return NULL;
    return out;
}

static struct lr_plugin *load(const char *name, const char *dir, char *err,
                              size_t errlen)
{
    char path[4096], why[1024];
    struct lr_plugin *p = NULL;
    snprintf(path, sizeof path, "%s/%s.so", dir, name);
    if (access(path, F_OK) != 0) {
        snprintf(err, errlen, "no store plugin '%s': %s does not exist",
                 name, path);
        return NULL;
    }
    if (lr_plugin_open(path, LR_PLUGIN_STORE, name, &p, why,
                       sizeof why) != LR_OK)
        snprintf(err, errlen, "store plugin '%s': %s", name, why);
    return p;
}

struct lr_store *lr_store_plugin_open(const char *name, const char *arg,
                                      const struct lr_store_env *env,
                                      char *err, size_t errlen)
{
    char why[1024] = "";
    struct plugin_store *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "store '%s': out of memory", name);
        return NULL;
    }
    p->base.ops = &plugin_backend;
    p->base.clock = env->clock ? env->clock : lr_clock_real();
    if (!(p->plugin = load(name, env->plugin_dir ? env->plugin_dir : ".",
                           err, errlen))) {
        free(p);
        return NULL;
    }
    p->ops = &p->plugin->store_ops;
    p->host.pub = store_host_template;
    p->host.clock = p->base.clock;
    p->host.metrics = env->metrics;
    snprintf(p->host.prefix, sizeof p->host.prefix, "[store:%s]", name);
    p->base.spec = spec_of(name, arg, p->ops->arg_is_path, env->base_dir);
    const char *what = p->base.spec ? p->base.spec : name;
    int rc = p->base.spec ? p->ops->open(p->base.spec + strlen(name) + 1,
                                         &p->host.pub, &p->inst, why,
                                         sizeof why)
                          : LR_E_NOMEM;
    if (rc != LR_OK) {
        snprintf(err, errlen, "%s: %s", what,
                 why[0] ? why : lr_strerror(rc));
        p->inst = NULL;
        free(p->base.spec);
        ps_close(&p->base);
        return NULL;
    }
    return &p->base;
}
