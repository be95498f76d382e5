/*
 * store.h - the key/value store behind every piece of state that may need
 * to outlive a request: cooldowns, spend counters, rate windows, breaker
 * state, cached responses.  A backend implements struct lr_store_ops;
 * `memory` lives in store_memory.c, `sqlite` in store_sqlite.c (redis
 * comes later, behind the same interface).
 *
 * Semantics every backend keeps:
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

struct lr_store_ops {
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
    const struct lr_store_ops *ops;
    const struct lr_clock *clock;
};

/*
 * Open a store from its INI spec: "memory", "sqlite:PATH" or
 * "redis://HOST:PORT" (the last not implemented yet: it fails with
 * "store backend 'redis' is not available yet").  PATH is used as given
 * (the caller resolves a relative one).  clk is borrowed and
 * must outlive the store; NULL means lr_clock_real().  Returns NULL on
 * failure with the reason in err (err may be NULL).  Close with
 * lr_store_close().
 */
struct lr_store *lr_store_open(const char *spec, const struct lr_clock *clk,
                               char *err, size_t errlen);
/* The memory backend directly (same clk rules); NULL when out of
   memory. */
struct lr_store *lr_store_memory_new(const struct lr_clock *clk);
/* Entries a memory store holds, expired ones not yet reclaimed included:
   for tests and metrics.  s must come from lr_store_memory_new(). */
size_t lr_store_memory_count(struct lr_store *s);
/*
 * The SQLite backend directly: opens or creates the database file at path
 * (same clk rules).  Returns NULL with "sqlite:PATH: cannot open: WHY" in
 * err when the file cannot be opened or created, is not an SQLite
 * database, or holds a schema newer than this build knows.
 */
struct lr_store *lr_store_sqlite_open(const char *path,
                                      const struct lr_clock *clk, char *err,
                                      size_t errlen);
/* For backends: parse a decimal integer as store.h defines it (the len
   bytes at s, no NUL needed); LR_E_INVALID_ARG if it is not one. */
int lr_store_parse_int(const char *s, size_t len, int64_t *out);
/* For backends: *out = a + b, or LR_E_INVALID_ARG on overflow. */
int lr_store_add(int64_t a, int64_t b, int64_t *out);
/* Close any backend and free everything it holds; NULL is fine. */
void lr_store_close(struct lr_store *s);

#endif
