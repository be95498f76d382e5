/*
 * key_pool.c - API-key pools: reading the keys from the environment (each
 * registered as a secret, see secrets.h), selection and exclusion (see
 * key_pool.h).
 *
 * Store keys, per target T, key variable V and fingerprint F of the key's
 * value (so a key rotated in the same variable starts afresh, even in a
 * persistent store; a 64-bit hash of a long random key reveals nothing):
 *   key/T/V.F/off    present: disabled after 401/403 (no TTL)
 *   key/T/V.F/until  "<wall ms> <class>", TTL = the exclusion
 *   key/T/V.F/used   uses in the current minute (counter, 60 s TTL)
 */
#include "key_pool.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "router.h"
#include "secrets.h"

/* An API-key setting names a variable.  A value that cannot be one (or
   is shaped like a Google key) is most likely the key itself pasted in:
   refuse it without repeating it. */
static int looks_like_key(const char *name)
{
    if (strncmp(name, "AIza", 4) == 0 && strlen(name) >= 30)
        return 1;
    if (!(*name == '_' || (*name >= 'A' && *name <= 'Z') ||
          (*name >= 'a' && *name <= 'z')))
        return 1;
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') ||
              (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 1;
    return 0;
}

static int add_key(struct lr_target *t, const char *key,
                   const char *env_name, char *err, size_t errlen)
{
    if (looks_like_key(env_name))
        return lr_section_fail(t->sec, key, err, errlen,
                               "%s must name the environment variable that "
                               "holds the key (letters, digits, _), not the "
                               "key itself; value not shown", key);
    for (size_t i = 0; i < t->n_keys; i++)
        if (strcmp(t->keys[i].var, env_name) == 0)
            return lr_section_fail(t->sec, key, err, errlen, "%s listed twice",
                                   env_name);
    const char *v = getenv(env_name);
    if (!v || !*v)
        return lr_section_fail(t->sec, key, err, errlen, "environment variable "
                               "%s is not set (API key of target %s)", env_name,
                               t->name);
    /* Counted first, so lr_key_pool_free frees a half-made entry. */
    struct lr_key *k = &t->keys[t->n_keys++];
    if (!(k->var = strdup(env_name)) || !(k->value = strdup(v)))
        return LR_E_NOMEM;
    return lr_secrets_add(v) == 0 ? LR_OK : LR_E_NOMEM;
}

int lr_key_pool_load(struct lr_target *t, char *err, size_t errlen)
{
    const char *one;
    const char *const *many;
    size_t n = 0;
    int has_one = lr_cfg_str(t->sec, "api_key_env", &one) == LR_OK;
    int has_many = lr_cfg_list(t->sec, "api_keys_env", &many, &n) == LR_OK;
    if (has_one && has_many)
        return lr_section_fail(t->sec, "api_keys_env", err, errlen, "use "
                               "either api_key_env or api_keys_env, not both");
    if (has_one) {
        many = &one;
        n = 1;
    }
    lr_cfg_int(t->sec, "key_cooloff_ms", &t->key_cooloff_ms);
    if (n && !(t->keys = calloc(n, sizeof *t->keys)))
        return LR_E_NOMEM;
    const char *key = has_one ? "api_key_env" : "api_keys_env";
    for (size_t i = 0; i < n; i++) {
        int rc = add_key(t, key, many[i], err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    return LR_OK;
}

void lr_key_pool_free(struct lr_target *t)
{
    for (size_t i = 0; i < t->n_keys; i++) {
        lr_secrets_remove(t->keys[i].value);
        /* Do not leave the secret in freed memory. */
        volatile char *p = t->keys[i].value;
        while (p && *p)
            *p++ = '\0';
        free(t->keys[i].value);
        free(t->keys[i].var);
    }
    free(t->keys);
    t->keys = NULL;
    t->n_keys = 0;
}

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
