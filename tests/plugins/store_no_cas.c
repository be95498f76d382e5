/* Fixture: a store plugin whose mandatory cas is NULL. */
#include "llmroute_plugin.h"

static int s_open(const char *arg, const struct lr_host *h, void **inst,
                  char *err, size_t errlen)
{
    (void)arg; (void)h; (void)err; (void)errlen;
    *inst = 0;
    return LR_OK;
}

static void s_close(void *inst)
{
    (void)inst;
}

static int s_get(void *inst, const char *key, struct lr_buf *out)
{
    (void)inst; (void)key; (void)out;
    return LR_E_NOT_FOUND;
}

static int s_set(void *inst, const char *key, const void *val, size_t len,
                 int64_t ttl_ms)
{
    (void)inst; (void)key; (void)val; (void)len; (void)ttl_ms;
    return LR_OK;
}

static int s_incr(void *inst, const char *key, int64_t delta,
                  int64_t ttl_ms, int64_t *out)
{
    (void)inst; (void)key; (void)delta; (void)ttl_ms; (void)out;
    return LR_OK;
}

static int s_del(void *inst, const char *key)
{
    (void)inst; (void)key;
    return LR_OK;
}

static const struct lr_store_ops ops = {
    .open = s_open, .close = s_close, .get = s_get, .set = s_set,
    .incr = s_incr, .del = s_del};
static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "store_no_cas", LR_PLUGIN_STORE, "1.0", 0, 0, &ops,
    sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
