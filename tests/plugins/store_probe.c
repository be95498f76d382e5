/*
 * Fixture: a store plugin that checks the host a store gets.  open("host")
 * verifies that the members a store may use are there and the others are
 * NULL (llmroute_plugin.h), then leaves traces the test reads: a counter
 * store_probe_opened{ARG}, a gauge store_probe_wall = host->wall_ms, and a
 * log line.  open("fail") refuses with a message.  get appends "v" through
 * host->buf_append; the other operations answer LR_OK and change nothing.
 */
#include <string.h>

#include "llmroute_plugin.h"

struct probe {
    const struct lr_host *h;
};

static struct probe the_probe;

/* 1 when exactly the store's members are set (not a full list of the
   NULL ones: one of each group is enough to catch a host.c table). */
static int host_is_a_stores(const struct lr_host *h)
{
    return h->log && h->now_ms && h->wall_ms && h->buf_append &&
           h->buf_printf && h->buf_reset && h->buf_free && h->counter_add &&
           h->gauge_set && !h->cfg_str && !h->target_section &&
           !h->store_get && !h->store_set && !h->store_incr &&
           !h->store_cas && !h->store_del && !h->cand_count &&
           !h->req_get && !h->req_reject && !h->parse_duration_ms;
}

static int p_open(const char *arg, const struct lr_host *h, void **inst,
                  char *err, size_t errlen)
{
    if (strcmp(arg, "host") != 0) {
        strncpy(err, "refused by probe", errlen - 1);
        err[errlen - 1] = '\0';
        return LR_E_CONFIG;
    }
    if (!host_is_a_stores(h)) {
        strncpy(err, "host table is not a store's", errlen - 1);
        err[errlen - 1] = '\0';
        return LR_E_CONFIG;
    }
    h->counter_add(h, "store_probe_opened", arg, 1);
    h->gauge_set(h, "store_probe_wall", NULL, (double)h->wall_ms(h));
    h->log(h, LR_LOG_INFO, "opened at %lld", (long long)h->now_ms(h));
    the_probe.h = h;
    *inst = &the_probe;
    return LR_OK;
}

static void p_close(void *inst)
{
    (void)inst;
}

static int p_get(void *inst, const char *key, struct lr_buf *out)
{
    struct probe *p = inst;
    (void)key;
    return p->h->buf_append(out, "v", 1);
}

static int p_set(void *inst, const char *key, const void *val, size_t len,
                 int64_t ttl_ms)
{
    (void)inst; (void)key; (void)val; (void)len; (void)ttl_ms;
    return LR_OK;
}

static int p_incr(void *inst, const char *key, int64_t delta,
                  int64_t ttl_ms, int64_t *out)
{
    (void)inst; (void)key; (void)ttl_ms;
    if (out)
        *out = delta;
    return LR_OK;
}

static int p_cas(void *inst, const char *key, const void *expect,
                 size_t expect_len, const void *val, size_t len,
                 int64_t ttl_ms)
{
    (void)inst; (void)key; (void)expect; (void)expect_len; (void)val;
    (void)len; (void)ttl_ms;
    return LR_OK;
}

static int p_del(void *inst, const char *key)
{
    (void)inst; (void)key;
    return LR_OK;
}

static const struct lr_store_ops ops = {
    .open = p_open, .close = p_close, .get = p_get, .set = p_set,
    .incr = p_incr, .cas = p_cas, .del = p_del};
static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "store_probe", LR_PLUGIN_STORE, "1.0", 0, 0, &ops,
    sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
