/*
 * policy_cache.c - exact-match response cache: a request identical to one
 * answered within ttl_s gets the stored answer without any attempt.
 *
 *   [policy cache]
 *   plugin           = cache
 *   ttl_s            = 3600    ; seconds an answer stays (1 to 31536000)
 *   max_entries      = 1000    ; entries kept; the oldest stored goes
 *                              ; first (1 to 10000000)
 *   max_entry_bytes  = 262144  ; largest stored entry, the canonical
 *                              ; request included (1024 to 67108864)
 *   max_temperature  = 0       ; requests with a higher temperature are
 *                              ; not cached (2 or more: cache every one)
 *   cache_unset_temperature = true ; cache requests that set none
 *   cache_finish     = stop, tool_calls, length
 *                              ; finish reasons stored; also allowed:
 *                              ; content_filter, other
 *
 *   [router]
 *   pipeline = guard, cache, budget, ...  ; after policies that must see
 *                                         ; every request, before those
 *                                         ; that spend or route
 *
 * on_request, unless the request is not cacheable (no chat, or a
 * temperature over max_temperature, or none with cache_unset_temperature
 * false: counted cache_bypassed{temperature}):
 *   - build the canonical key text and its hash (cache_key.h);
 *   - caller's bypass flag (req->cache_bypass): no lookup, counted
 *     cache_bypassed{request}; the fresh answer is still stored, and
 *     replaces an entry for the same request (cas against the bytes read,
 *     so a concurrent writer wins; the entry keeps its ring slot and gets
 *     a new TTL): the flag is "answer afresh and refresh the cache";
 *   - else get "e/<hash>": an entry whose canonical text equals ours is a
 *     hit: host->req_respond() answers with the stored target, model,
 *     text, tool calls, finish and token counts, and no attempt is made
 *     (cache_hits).  Anything else is a miss (cache_misses): no entry, an
 *     unreadable one (deleted, cache_bad_entries), or a hash collision
 *     (kept, cache_collisions, never served).
 *   The hit rate is cache_hits / (cache_hits + cache_misses); bypassed
 *   requests are in neither.
 *
 * on_complete, for a request that missed or bypassed, stores the answer
 * the caller got (host->req_result) unless it is a failure, came from no
 * attempt (another policy answered), has a finish not in cache_finish
 * ("error" and unknown finishes never), is a "length" answer to a request
 * that set no max_tokens (the cap came from the target's config, which
 * the key does not hold), or is larger than max_entry_bytes; each skip is
 * counted cache_not_stored{reason}.  Hits are not stored again.
 *
 * Storing a new entry, with only get/set/incr/cas/del and several
 * processes sharing the store:
 *   1. cas "e/<hash>" only-if-missing, TTL ttl_s: an existing entry (the
 *      same request stored by a concurrent process, or a collision) wins;
 *   2. n = incr "seq"; slot = (n - 1) % max_entries;
 *   3. get "slot/<slot>": the hash stored n - max_entries stores ago;
 *      delete that entry (cache_evictions) unless it is our own hash;
 *   4. set "slot/<slot>" = our hash, with the entry's TTL, so a slot
 *      never outlives its entry by more than the time between two writes.
 * Eviction is therefore FIFO by insertion, not LRU: LRU needs a write on
 * every hit to a shared recency order the store cannot keep atomically,
 * while the ring costs nothing on a hit and one incr plus three writes
 * per store.  Entries also vanish at their TTL whatever their slot.
 * With max_entries changed between runs, slots past the new size simply
 * expire.  Two processes landing on one slot at once (n values exactly
 * max_entries apart in flight) may keep one extra entry until its TTL.
 *
 * Store failures never fail a request: a failed lookup is a miss, a
 * failed store is logged (warn) and counted cache_not_stored{store_error}.
 * Logs name entries by hash only: prompts and answers are never logged.
 * cache_stores counts entries written.  Keys are namespaced per instance
 * by the core, so processes with the same [policy NAME] share entries.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "llmroute_plugin.h"

#include "cache_entry.h"
#include "cache_key.h"

static const struct lr_cfg_key keys[] = {
    {"ttl_s", LR_CFG_INT, "3600", "seconds a cached answer lives"},
    {"max_entries", LR_CFG_INT, "1000",
     "cached answers kept; the oldest stored is evicted first (FIFO)"},
    {"max_entry_bytes", LR_CFG_INT, "262144",
     "largest stored entry in bytes, canonical request included"},
    {"max_temperature", LR_CFG_DOUBLE, "0",
     "requests with a higher temperature bypass the cache"},
    {"cache_unset_temperature", LR_CFG_BOOL, "true",
     "cache requests that set no temperature"},
    {"cache_finish", LR_CFG_LIST, "stop, tool_calls, length",
     "finish reasons stored: stop, tool_calls, length, content_filter, "
     "other"},
};

struct cache {
    const struct lr_host *host;
    int64_t ttl_ms, max_entries, max_entry_bytes;
    double max_temperature;
    int unset_temperature;      /* cache requests without a temperature */
    unsigned finish_mask;       /* bit (1 << enum lr_finish) per finish */
};

/* Per request that may be stored: the canonical key and its store key. */
struct pending {
    char *canon;
    char hash[CACHE_HASH_HEX + 1];
    char ekey[CACHE_HASH_HEX + 3]; /* "e/<hash>" */
    int refresh;                   /* bypassed: replace our own entry */
};

/* --- Configuration ------------------------------------------------------ */

static int read_range(const struct lr_host *h, const struct lr_section *s,
                      const char *key, int64_t lo, int64_t hi, int64_t *out,
                      char *err, size_t errlen)
{
    if (h->cfg_int(s, key, out) == LR_OK && *out >= lo && *out <= hi)
        return LR_OK;
    snprintf(err, errlen, "%s: must be %" PRId64 " to %" PRId64
             ", got %" PRId64, key, lo, hi, *out);
    return LR_E_CONFIG;
}

static int read_finish(struct cache *c, const struct lr_section *s,
                       char *err, size_t errlen)
{
    const char *const *items = NULL;
    size_t n = 0;
    c->host->cfg_list(s, "cache_finish", &items, &n);
    if (n == 0) {
        snprintf(err, errlen, "cache_finish: name at least one finish "
                 "reason (stop, tool_calls, length, content_filter, "
                 "other)");
        return LR_E_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        enum lr_finish f = finish_by_name(items[i]);
        if (f == LR_FINISH_NONE) {
            snprintf(err, errlen, "cache_finish: '%s' is not one of stop, "
                     "tool_calls, length, content_filter, other", items[i]);
            return LR_E_CONFIG;
        }
        c->finish_mask |= 1u << f;
    }
    return LR_OK;
}

static int read_config(struct cache *c, const struct lr_section *s,
                       char *err, size_t errlen)
{
    const struct lr_host *h = c->host;
    int64_t ttl_s = 0;
    if (read_range(h, s, "ttl_s", 1, 31536000, &ttl_s, err, errlen) ||
        read_range(h, s, "max_entries", 1, 10000000, &c->max_entries, err,
                   errlen) ||
        read_range(h, s, "max_entry_bytes", 1024, 67108864,
                   &c->max_entry_bytes, err, errlen))
        return LR_E_CONFIG;
    c->ttl_ms = ttl_s * 1000;
    c->max_temperature = -1;
    if (h->cfg_double(s, "max_temperature", &c->max_temperature) != LR_OK ||
        !isfinite(c->max_temperature) || c->max_temperature < 0) {
        snprintf(err, errlen, "max_temperature: must be a finite number "
                 ">= 0 (2 or more: cache every temperature)");
        return LR_E_CONFIG;
    }
    if (h->cfg_bool(s, "cache_unset_temperature", &c->unset_temperature) !=
        LR_OK) {
        snprintf(err, errlen, "cache_unset_temperature: must be true or "
                 "false");
        return LR_E_CONFIG;
    }
    return read_finish(c, s, err, errlen);
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    c->host = host;
    if (read_config(c, sec, err, errlen) != LR_OK) {
        free(c);
        return LR_E_CONFIG;
    }
    *inst = c;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

/* --- Lookup --------------------------------------------------------------- */

/* Nonzero when the request's temperature allows caching. */
static int temperature_ok(const struct cache *c, const struct lr_chat *ch)
{
    if (!ch->has_temperature)
        return c->unset_temperature;
    return isfinite(ch->temperature) &&
           ch->temperature <= c->max_temperature;
}

static struct pending *pending_new(const struct lr_chat *ch)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->canon = cache_key_canonical(ch);
    if (!p->canon) {
        free(p);
        return NULL;
    }
    cache_key_hash(p->canon, strlen(p->canon), p->hash);
    snprintf(p->ekey, sizeof p->ekey, "e/%s", p->hash);
    return p;
}

static void pending_free(struct pending *p)
{
    if (p)
        free(p->canon);
    free(p);
}

/* Answer req with e through the core; LR_OK when it took the answer. */
static int respond(struct cache *c, const struct lr_policy_req *req,
                   const struct entry *e)
{
    const struct lr_host *h = c->host;
    struct lr_result r;
    memset(&r, 0, sizeof r);
    r.error = LR_OK;
    r.retry_after_ms = -1;
    r.finish = e->finish;
    r.prompt_tokens = e->prompt_tokens;
    r.completion_tokens = e->completion_tokens;
    r.rl_remaining_requests = r.rl_remaining_tokens = -1;
    r.rl_reset_requests_ms = r.rl_reset_tokens_ms = -1;
    int rc = h->buf_append(&r.text, e->text, strlen(e->text)) ||
             h->buf_append(&r.tool_calls_json, e->tool_calls,
                           strlen(e->tool_calls)) ||
             h->buf_append(&r.model, e->model, strlen(e->model))
                 ? LR_E_NOMEM
                 : h->req_respond(h, req, e->target, &r);
    h->buf_free(&r.text);
    h->buf_free(&r.tool_calls_json);
    h->buf_free(&r.model);
    return rc;
}

/* Check a stored entry against p and answer from it; 1 on a hit. */
static int use_entry(struct cache *c, const struct lr_policy_req *req,
                     const struct pending *p, const struct lr_buf *b)
{
    const struct lr_host *h = c->host;
    struct entry e;
    cJSON *o = cJSON_ParseWithLength(b->data, b->len);
    int hit = 0;
    if (!o || !entry_decode(o, &e)) {
        h->log(h, LR_LOG_WARN, "entry %s unreadable; deleted", p->hash);
        h->counter_add(h, "cache_bad_entries", NULL, 1);
        h->store_del(h, p->ekey);
    }
    else if (strcmp(e.key, p->canon) != 0) {
        /* Same hash, another request: never serve it. */
        h->log(h, LR_LOG_WARN, "hash collision on entry %s; treated as a "
               "miss", p->hash);
        h->counter_add(h, "cache_collisions", NULL, 1);
    }
    else {
        int rc = respond(c, req, &e);
        hit = rc == LR_OK;
        if (!hit)
            h->log(h, LR_LOG_WARN, "request %" PRIu64 ": answering from "
                   "entry %s failed (status %d); treated as a miss",
                   req->id, p->hash, rc);
    }
    cJSON_Delete(o);
    return hit;
}

/* 1 when the request was answered from the store. */
static int lookup(struct cache *c, const struct lr_policy_req *req,
                  const struct pending *p)
{
    const struct lr_host *h = c->host;
    struct lr_buf b = {0};
    int hit = 0;
    int rc = h->store_get(h, p->ekey, &b);
    if (rc == LR_OK)
        hit = use_entry(c, req, p, &b);
    else if (rc != LR_E_NOT_FOUND)
        h->log(h, LR_LOG_WARN, "store get of entry %s failed (status %d); "
               "treated as a miss", p->hash, rc);
    h->buf_free(&b);
    return hit;
}

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct cache *c = inst;
    const struct lr_host *h = c->host;
    (void)msg;
    (void)msglen;
    (void)retry_after_ms;
    *req_state = NULL;
    if (!req->chat)
        return LR_OK;
    if (!temperature_ok(c, req->chat)) {
        h->counter_add(h, "cache_bypassed", "temperature", 1);
        return LR_OK;
    }
    struct pending *p = pending_new(req->chat);
    if (!p) {
        /* A cache must not fail a request it could simply not cache. */
        h->log(h, LR_LOG_WARN, "request %" PRIu64 ": out of memory "
               "building the cache key; not cached", req->id);
        return LR_OK;
    }
    if (req->cache_bypass) {
        h->counter_add(h, "cache_bypassed", "request", 1);
        p->refresh = 1;
        *req_state = p;
        return LR_OK;
    }
    if (lookup(c, req, p)) {
        h->counter_add(h, "cache_hits", NULL, 1);
        h->log(h, LR_LOG_DEBUG, "request %" PRIu64 ": hit on entry %s",
               req->id, p->hash);
        pending_free(p); /* NULL state: nothing to store in on_complete */
        return LR_OK;
    }
    h->counter_add(h, "cache_misses", NULL, 1);
    *req_state = p;
    return LR_OK;
}

/* --- Storing ------------------------------------------------------------- */

/* Why the answer r to req is not stored, or NULL to store it. */
static const char *skip_reason(const struct cache *c,
                               const struct lr_policy_req *req,
                               const struct lr_result *r,
                               const struct lr_policy_attempt *fin)
{
    if (!r || r->error != LR_OK || (fin && fin->error != LR_OK))
        return "failure";
    if (!fin || !fin->target || !fin->target[0])
        return "no_attempt";
    if (!finish_name(r->finish) || !(c->finish_mask & (1u << r->finish)))
        return "finish";
    if (r->finish == LR_FINISH_LENGTH && req->chat->max_tokens <= 0)
        return "finish";
    return NULL;
}

/* Claim the next ring slot for hash and evict the entry that held it. */
static void take_slot(struct cache *c, const char *hash)
{
    const struct lr_host *h = c->host;
    int64_t n = 0;
    if (h->store_incr(h, "seq", 1, 0, &n) != LR_OK) {
        h->log(h, LR_LOG_WARN, "store incr of seq failed; entry %s kept "
               "until its TTL outside max_entries", hash);
        return;
    }
    int64_t slot = ((n - 1) % c->max_entries + c->max_entries) %
                   c->max_entries;
    char skey[48];
    snprintf(skey, sizeof skey, "slot/%" PRId64, slot);
    struct lr_buf old = {0};
    if (h->store_get(h, skey, &old) == LR_OK && old.len == CACHE_HASH_HEX &&
        memcmp(old.data, hash, CACHE_HASH_HEX) != 0) {
        char ekey[CACHE_HASH_HEX + 3];
        snprintf(ekey, sizeof ekey, "e/%s", old.data);
        h->store_del(h, ekey);
        h->counter_add(h, "cache_evictions", NULL, 1);
        h->log(h, LR_LOG_DEBUG, "evicted entry %s from slot %" PRId64,
               old.data, slot);
    }
    h->buf_free(&old);
    if (h->store_set(h, skey, hash, CACHE_HASH_HEX, c->ttl_ms) != LR_OK)
        h->log(h, LR_LOG_WARN, "store set of %s failed", skey);
}

/*
 * After a bypass: replace the entry for the same request, if there is
 * one, by cas against the bytes read.  LR_E_NOT_FOUND when there is none
 * (store it as new), LR_STORE_CAS_MISMATCH when another request's entry
 * (a collision) or a concurrent writer holds the key.
 */
static int replace_entry(struct cache *c, const struct pending *p,
                         const char *entry, size_t len)
{
    const struct lr_host *h = c->host;
    struct lr_buf old = {0};
    int rc = h->store_get(h, p->ekey, &old);
    if (rc == LR_OK) {
        cJSON *o = cJSON_ParseWithLength(old.data, old.len);
        struct entry e;
        /* An unreadable entry is replaced too. */
        if (o && entry_decode(o, &e) && strcmp(e.key, p->canon) != 0)
            rc = LR_STORE_CAS_MISMATCH;
        else
            rc = h->store_cas(h, p->ekey, old.data, old.len, entry, len,
                              c->ttl_ms);
        cJSON_Delete(o);
    }
    h->buf_free(&old);
    return rc;
}

/* Write entry: a new one takes a ring slot, a replaced one keeps its. */
static int write_entry(struct cache *c, const struct pending *p,
                       const char *entry, size_t len)
{
    const struct lr_host *h = c->host;
    int rc = p->refresh ? replace_entry(c, p, entry, len) : LR_E_NOT_FOUND;
    if (rc != LR_E_NOT_FOUND)
        return rc;
    rc = h->store_cas(h, p->ekey, NULL, 0, entry, len, c->ttl_ms);
    if (rc == LR_OK)
        take_slot(c, p->hash);
    return rc;
}

static void store_answer(struct cache *c, const struct lr_policy_req *req,
                         const struct pending *p, const char *target,
                         const struct lr_result *r)
{
    const struct lr_host *h = c->host;
    char *entry = entry_encode(p->canon, target, r, h->wall_ms(h));
    if (!entry) {
        h->log(h, LR_LOG_WARN, "request %" PRIu64 ": out of memory "
               "encoding the entry; not stored", req->id);
        h->counter_add(h, "cache_not_stored", "store_error", 1);
        return;
    }
    size_t len = strlen(entry);
    int rc = len > (size_t)c->max_entry_bytes
                 ? -1
                 : write_entry(c, p, entry, len);
    free(entry);
    if (rc == LR_OK) {
        h->counter_add(h, "cache_stores", NULL, 1);
        h->log(h, LR_LOG_DEBUG, "request %" PRIu64 ": stored entry %s "
               "(%zu bytes) from %s", req->id, p->hash, len, target);
    }
    else if (rc < 0)
        h->counter_add(h, "cache_not_stored", "too_large", 1);
    else if (rc == LR_STORE_CAS_MISMATCH)
        h->counter_add(h, "cache_not_stored", "exists", 1);
    else {
        h->log(h, LR_LOG_WARN, "store of entry %s failed (status %d)",
               p->hash, rc);
        h->counter_add(h, "cache_not_stored", "store_error", 1);
    }
}

static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt)
{
    struct cache *c = inst;
    const struct lr_host *h = c->host;
    struct pending *p = req_state;
    if (!p)
        return; /* a hit, or not cacheable */
    const struct lr_result *r = h->req_result(h, req);
    const char *why = skip_reason(c, req, r, final_attempt);
    if (why)
        h->counter_add(h, "cache_not_stored", why, 1);
    else
        store_answer(c, req, p, final_attempt->target, r);
    pending_free(p);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .on_complete = on_complete,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "cache",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol: it must do nothing but return the
   constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
