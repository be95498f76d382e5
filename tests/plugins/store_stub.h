/*
 * store_stub.h - store operations that do nothing, for the store fixture
 * plugins that only test how the loader checks a descriptor (each
 * fixture .c includes this and builds its own ops and descriptor; inline,
 * so a fixture that leaves one out gets no unused-function warning).
 */
#ifndef LR_TESTS_STORE_STUB_H
#define LR_TESTS_STORE_STUB_H

#include "llmroute_plugin.h"

static inline int s_open(const char *arg, const struct lr_host *h,
                         void **inst, char *err, size_t errlen)
{
    (void)arg; (void)h; (void)err; (void)errlen;
    *inst = 0;
    return LR_OK;
}

static inline void s_close(void *inst)
{
    (void)inst;
}

static inline int s_get(void *inst, const char *key, struct lr_buf *out)
{
    (void)inst; (void)key; (void)out;
    return LR_E_NOT_FOUND;
}

static inline int s_set(void *inst, const char *key, const void *val,
                        size_t len, int64_t ttl_ms)
{
    (void)inst; (void)key; (void)val; (void)len; (void)ttl_ms;
    return LR_OK;
}

static inline int s_incr(void *inst, const char *key, int64_t delta,
                         int64_t ttl_ms, int64_t *out)
{
    (void)inst; (void)key; (void)delta; (void)ttl_ms; (void)out;
    return LR_OK;
}

static inline int s_cas(void *inst, const char *key, const void *expect,
                        size_t expect_len, const void *val, size_t len,
                        int64_t ttl_ms)
{
    (void)inst; (void)key; (void)expect; (void)expect_len; (void)val;
    (void)len; (void)ttl_ms;
    return LR_OK;
}

static inline int s_del(void *inst, const char *key)
{
    (void)inst; (void)key;
    return LR_OK;
}

#endif
