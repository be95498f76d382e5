/*
 * key_pool.c - API-key pools: selection and exclusion (see key_pool.h).
 * Store keys, per target T, key variable V and fingerprint F of the key's
 * value (so a key rotated in the same variable starts afresh, even in a
 * persistent store; a 64-bit hash of a long random key reveals nothing):
 *   key/T/V.F/off    present: disabled after 401/403 (no TTL)
 *   key/T/V.F/until  "<wall ms> <class>", TTL = the exclusion
 *   key/T/V.F/used   uses in the current minute (counter, 60 s TTL)
 */
#include "key_pool.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "log.h"
#include "router.h"

static uint64_t fingerprint(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void skey(char *out, size_t n, const struct lr_target *t, size_t i,
                 const char *what)
{
    snprintf(out, n, "key/%s/%s.%016" PRIx64 "/%s", t->name, t->keys[i].var,
             fingerprint(t->keys[i].value), what);
}

void lr_key_id(const struct lr_target *t, size_t idx, char *out, size_t n)
{
    if (t->n_keys < 2 || idx >= t->n_keys) {
        if (n)
            out[0] = '\0';
        return;
    }
    snprintf(out, n, "%s#%016" PRIx64, t->keys[idx].var,
             fingerprint(t->keys[idx].value));
}

static int present(struct lr_store *s, const char *k)
{
    struct lr_buf v = {0};
    int rc = s->ops->get(s, k, &v);
    lr_buf_free(&v);
    return rc == LR_OK;
}

static int64_t uses(struct lr_store *s, const char *k)
{
    struct lr_buf v = {0};
    int64_t n = 0;
    if (s->ops->get(s, k, &v) == LR_OK)
        n = strtoll(lr_buf_str(&v), NULL, 10);
    lr_buf_free(&v);
    return n;
}

int lr_key_pick(struct lr_router *r, struct lr_target *t, size_t *idx,
                char *why, size_t whylen)
{
    *idx = LR_NO_KEY;
    if (t->n_keys == 0)
        return LR_OK;
    struct lr_store *s = r->store;
    int64_t best_uses = -1;
    size_t off = 0, excluded = 0;
    /* Several threads pick at once: the turn is a hint, not a lock. */
    size_t rr = atomic_load_explicit(&t->key_rr, memory_order_relaxed);
    for (size_t k = 0; k < t->n_keys; k++) {
        size_t i = (rr + k) % t->n_keys;
        char name[512];
        skey(name, sizeof name, t, i, "off");
        if (present(s, name)) {
            off++;
            continue;
        }
        skey(name, sizeof name, t, i, "until");
        if (present(s, name)) {
            excluded++;
            continue;
        }
        skey(name, sizeof name, t, i, "used");
        int64_t u = uses(s, name);
        if (best_uses < 0 || u < best_uses) {
            best_uses = u;
            *idx = i;
        }
    }
    if (*idx == LR_NO_KEY) {
        snprintf(why, whylen, "keys_exhausted (%zu disabled, %zu cooling "
                 "off, of %zu)", off, excluded, t->n_keys);
        return LR_E_NO_TARGET;
    }
    atomic_store_explicit(&t->key_rr, (*idx + 1) % t->n_keys,
                          memory_order_relaxed);
    return LR_OK;
}

void lr_key_used(struct lr_router *r, const struct lr_target *t, size_t idx)
{
    if (idx == LR_NO_KEY)
        return;
    char name[512];
    skey(name, sizeof name, t, idx, "used");
    int64_t n;
    r->store->ops->incr(r->store, name, 1, 60000, &n);
}

int lr_key_outcome(struct lr_router *r, const struct lr_target *t,
                   size_t idx, enum lr_status st, int64_t hint_ms)
{
    if (idx == LR_NO_KEY)
        return 0;
    struct lr_store *s = r->store;
    char name[512];
    if (st == LR_E_AUTH) {
        skey(name, sizeof name, t, idx, "off");
        s->ops->set(s, name, "1", 1, 0);
        lr_log(LR_LOG_ERROR, "[target:%s] the API key in $%s was refused "
               "(401/403); it is disabled", t->name, t->keys[idx].var);
        return 1;
    }
    /* A lone key's rate and quota limits are the target's: the target
       cooldown already covers them. */
    if (t->n_keys < 2)
        return 0;
    int64_t ms = st == LR_E_QUOTA_EXHAUSTED
                     ? (hint_ms > 0 ? hint_ms : t->key_cooloff_ms)
                 : st == LR_E_RATE_LIMITED ? hint_ms : 0;
    if (ms <= 0)
        return 0;
    char val[64];
    int n = snprintf(val, sizeof val, "%" PRId64 " %s",
                     lr_clock_wall(r->clock) + ms, lr_status_name(st));
    skey(name, sizeof name, t, idx, "until");
    s->ops->set(s, name, val, (size_t)n, ms);
    lr_log(LR_LOG_INFO, "[target:%s] key $%s %s: out of use for %" PRId64
           " ms", t->name, t->keys[idx].var, lr_status_name(st), ms);
    return 1;
}
