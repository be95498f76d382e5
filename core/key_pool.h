/*
 * key_pool.h - several API keys per target used as one pool.
 *
 * Which key an attempt uses: among keys neither disabled nor excluded,
 * the one with the fewest uses in the current minute (all keys of a
 * target share its limits, so fewest uses is lowest used/limit ratio),
 * ties broken round-robin.  What an outcome does to a key: 401/403
 * disables it for good (one error log naming its variable, never the
 * key); quota_exhausted excludes it until the hint (e.g. Gemini's
 * midnight-Pacific reset) or the target's key_cooloff_ms; rate_limited
 * with a hint excludes it for the hint (for a target with one key, these
 * two are left to the target's cooldown).  All of it lives in the store,
 * so processes sharing a store share the pool's state.
 */
#ifndef LR_CORE_KEY_POOL_H
#define LR_CORE_KEY_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "llmroute.h"

struct lr_router;
struct lr_target;

#define LR_NO_KEY ((size_t)-1)

/* Read the target's api_key_env / api_keys_env and key_cooloff_ms from its
   section: each variable must be set, and each key is registered as a
   secret (redacted from every log line and error).  LR_OK, or an error
   with "FILE:LINE: message" in err that never repeats a key. */
int lr_key_pool_load(struct lr_target *t, char *err, size_t errlen);
/* Unregister, wipe and free the target's keys. */
void lr_key_pool_free(struct lr_target *t);

/* LR_OK and the key index (LR_NO_KEY for a keyless target), or
   LR_E_NO_TARGET with a reason when every key is excluded. */
/* The key's id policies see: "VAR#fingerprint" in a pool of two or more
   keys, else "" (the fingerprint does not reveal the key). */
void lr_key_id(const struct lr_target *t, size_t idx, char *out, size_t n);
int lr_key_pick(struct lr_router *r, struct lr_target *t, size_t *idx,
                char *why, size_t whylen);
/* Count one use of key idx. */
void lr_key_used(struct lr_router *r, const struct lr_target *t,
                 size_t idx);
/* Apply an outcome to key idx.  Returns 1 when it took the key out of
   use (so another key of the same target is worth trying). */
int lr_key_outcome(struct lr_router *r, const struct lr_target *t,
                   size_t idx, enum lr_status st, int64_t hint_ms);

#endif
