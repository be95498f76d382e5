/*
 * store.h - the key/value store behind every piece of state that may need
 * to outlive a request: cooldowns, spend counters, rate windows, breaker
 * state, cached responses.  A backend implements struct lr_store_backend:
 * `memory` lives in store_memory.c; every other store is a plugin of kind
 * store (llmroute_plugin.h: `sqlite` is plugins/store_sqlite.c, redis
 * comes later the same way), which store_plugin.c wraps in a backend.
 *
 * Semantics every backend keeps (llmroute_plugin.h repeats them for
 * store plugins):
 *  - TTLs are read against the store's injected clock (wall time, so a
 *    persistent store means the same thing after a restart); ttl_ms 0
 *    means no expiry; an expired key behaves exactly like a missing one.
 *  - incr on a missing key starts from 0; incr on a key holding something
 *    other than a decimal integer is LR_E_INVALID_ARG.  A ttl_ms given to
 *    incr applies only when the key is created, so a window's counter
 *    expires at the end of the window however often it is incremented.
 *    The result must fit in int64_t: an overflow is LR_E_INVALID_ARG and
 *    leaves the value alone.  "Decimal integer" means an optional '-'
 *    then digits, with a value that fits in int64_t, and nothing else
 *    (no spaces, no '+').
 *  - set and cas write the value and its expiry together: ttl_ms 0 there
 *    clears an earlier TTL, as Redis SET does.
 *  - cas(key, expect, val): sets only if the current value equals expect
 *    byte for byte; expect NULL means "only if missing".  Returns LR_OK
 *    when it set the value and LR_STORE_CAS_MISMATCH when it did not.
 *  - A NULL key, a NULL value with a nonzero length or a negative ttl_ms
 *    is LR_E_INVALID_ARG; LR_E_NOMEM leaves the store as it was.
 *  - Every function is thread-safe.
 */
#ifndef LR_CORE_STORE_H
#define LR_CORE_STORE_H

#include "clock.h"
#include "llmroute_plugin.h"

struct lr_store;

struct lr_store_backend {
    const char *name;
    /* LR_OK and the value in out (appended), or LR_E_NOT_FOUND. */
    int (*get)(struct lr_store *s, const char *key, struct lr_buf *out);
    int (*set)(struct lr_store *s, const char *key, const void *val,
               size_t len, int64_t ttl_ms);
    /* *out (out may be NULL) gets the value after the increment. */
    int (*incr)(struct lr_store *s, const char *key, int64_t delta,
                int64_t ttl_ms, int64_t *out);
    int (*cas)(struct lr_store *s, const char *key, const void *expect,
               size_t expect_len, const void *val, size_t len,
               int64_t ttl_ms);
    /* LR_OK whether or not the key existed. */
    int (*del)(struct lr_store *s, const char *key);
    void (*close)(struct lr_store *s);
};

/* Every backend's handle starts with this header. */
struct lr_store {
    const struct lr_store_backend *ops;
    const struct lr_clock *clock;
    char *spec;         /* as opened, a plugin's relative path resolved;
                           set by lr_store_open, freed by lr_store_close */
};

struct lr_metrics;

/* Where lr_store_open finds what a spec needs. */
struct lr_store_env {
    const struct lr_clock *clock;   /* borrowed; NULL: lr_clock_real() */
    const char *plugin_dir;         /* store plugins: PLUGIN_DIR/NAME.so */
    const char *base_dir;           /* a relative path argument is
                                       relative to it; NULL: as given */
    struct lr_metrics *metrics;     /* a plugin's counters; may be NULL */
};

/*
 * Open a store from its INI spec: "memory", or "NAME:ARG" for the store
 * plugin NAME (lowercase letters, digits, '_'), e.g. "sqlite:PATH" or
 * "redis://HOST:PORT".  Everything env points to must outlive the store
 * (plugin_dir and base_dir only the call).  Returns NULL on failure with
 * the reason in err (err may be NULL), e.g. "sqlite:/x/s.db: cannot
 * open: unable to open database file".  Close with lr_store_close().
 */
struct lr_store *lr_store_open(const char *spec,
                               const struct lr_store_env *env, char *err,
                               size_t errlen);
/* The store plugin NAME with argument arg, made relative to
   env->base_dir when the plugin says it is a path; for lr_store_open,
   which has checked name.  Fails with the reason in err. */
struct lr_store *lr_store_plugin_open(const char *name, const char *arg,
                                      const struct lr_store_env *env,
                                      char *err, size_t errlen);
/* The memory backend directly (same clk rules); NULL when out of
   memory. */
struct lr_store *lr_store_memory_new(const struct lr_clock *clk);
/* Entries a memory store holds, expired ones not yet reclaimed included:
   for tests and metrics.  s must come from lr_store_memory_new(). */
size_t lr_store_memory_count(struct lr_store *s);
/* For backends: parse a decimal integer as store.h defines it (the len
   bytes at s, no NUL needed); LR_E_INVALID_ARG if it is not one. */
int lr_store_parse_int(const char *s, size_t len, int64_t *out);
/* For backends: *out = a + b, or LR_E_INVALID_ARG on overflow. */
int lr_store_add(int64_t a, int64_t b, int64_t *out);
/* Close any backend and free everything it holds; NULL is fine. */
void lr_store_close(struct lr_store *s);

#endif
