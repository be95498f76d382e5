/*
 * limits_store.h - the store side of the limits policy: a rate window
 * (limits_window.h), an in-flight lease set (limits_lease.h) and a
 * last-send time each live in one store value, read, changed and written
 * back with store_cas, retried a few times when another process wrote
 * in between.  Anything else the store answers counts as room: a broken
 * store must not stop all traffic (logged at WARN once per context).
 *
 * Header-only (static inline): the plugin is one shared object that
 * links nothing from the core.
 */
#ifndef LR_LIMITS_STORE_H
#define LR_LIMITS_STORE_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"
#include "limits_lease.h"
#include "limits_window.h"

#define CAS_TRIES 16
#define KEY_LEN 512                     /* store keys */

/* What the store side needs from the policy instance. */
struct ls_ctx {
    const struct lr_host *host;
    int64_t lease_ttl_ms;               /* inflight_ttl_ms */
    int64_t poll_ms;                    /* inflight_poll_ms */
    int warned;                         /* a store failure was logged */
};

static inline void store_failed(struct ls_ctx *l, const char *what)
{
    const struct lr_host *h = l->host;
    h->log(h, l->warned ? LR_LOG_DEBUG : LR_LOG_WARN,
           "store failed (%s): limits not applied", what);
    l->warned = 1;
}

/* Current value of key into full (emptied first): LR_OK,
   LR_E_NOT_FOUND or a store error. */
static inline int get_raw(struct ls_ctx *l, const char *key,
                          struct lr_buf *full)
{
    const struct lr_host *h = l->host;
    h->buf_reset(full);
    return h->store_get(h, key, full);
}

static inline const char *text_of(const struct lr_buf *b)
{
    return b->data ? b->data : "";
}

/* cas from what get_raw read (found: the old bytes; else "missing"). */
static inline int put_raw(struct ls_ctx *l, const char *key, int found,
                          const struct lr_buf *old, const char *val,
                          int64_t ttl)
{
    const struct lr_host *h = l->host;
    return h->store_cas(h, key, found ? text_of(old) : NULL,
                        found ? old->len : 0, val, strlen(val), ttl);
}

/* --- Windows ------------------------------------------------------------ */

/* One window check of an attempt. */
struct win {
    const char *dim;              /* "rpm", "tpm", "rpd", "per_user_rpm" */
    char key[KEY_LEN];
    int64_t len, limit, need;
};

/*
 * Room for w->need in window w at wall time now: 0 when it fits (and,
 * with commit, it was counted in now's slot), else the ms until it
 * would fit.  *used: what the window holds.  A store failure counts as
 * room (fail open).
 */
static inline int64_t window_take(struct ls_ctx *l, const struct win *w,
                                  int64_t now, int commit, int64_t *used)
{
    char val[LW_TEXT];
    struct lw_window lw;
    struct lr_buf full = {0};
    int64_t room = 0;
    *used = 0;
    for (int i = 0; i < CAS_TRIES; i++) {
        lw_init(&lw, w->len);
        int rc = get_raw(l, w->key, &full);
        if (rc != LR_OK && rc != LR_E_NOT_FOUND)
            break;
        if (lw_parse(&lw, text_of(&full)) != 0)
            lw.n = 0; /* garbage: start afresh, cas writes over it */
        lw_prune(&lw, now);
        *used = lw_sum(&lw);
        room = lw_room_in(&lw, w->need, w->limit, now);
        if (room > 0 || !commit)
            goto done;
        if (lw_add(&lw, lw_index(&lw, now), w->need) != 0)
            break;
        lw_format(&lw, val, sizeof val);
        rc = put_raw(l, w->key, rc == LR_OK, &full, val, w->len + lw.slot);
        if (rc == LR_OK)
            goto done;
        if (rc != LR_STORE_CAS_MISMATCH)
            break;
    }
    store_failed(l, w->key);
    room = 0;
done:
    l->host->buf_free(&full);
    return room;
}

/* Add delta (may be negative) to the slot of wall time at. */
static inline void window_adjust(struct ls_ctx *l, const struct win *w,
                                 int64_t at, int64_t delta, int64_t now)
{
    char val[LW_TEXT];
    struct lw_window lw;
    struct lr_buf full = {0};
    for (int i = 0; i < CAS_TRIES && delta; i++) {
        lw_init(&lw, w->len);
        int rc = get_raw(l, w->key, &full);
        if ((rc != LR_OK && rc != LR_E_NOT_FOUND) ||
            lw_parse(&lw, text_of(&full)) != 0)
            break;
        lw_prune(&lw, now);
        if (lw_expiry(&lw, lw_index(&lw, at)) <= now)
            break; /* that slot no longer counts anyway */
        if (lw_add(&lw, lw_index(&lw, at), delta) != 0)
            break;
        lw_format(&lw, val, sizeof val);
        rc = put_raw(l, w->key, rc == LR_OK, &full, val, w->len + lw.slot);
        if (rc != LR_STORE_CAS_MISMATCH)
            break;
    }
    l->host->buf_free(&full);
}

/* --- In-flight leases --------------------------------------------------- */

/*
 * A slot on target (max slots), taken as lease id with commit: 0, else
 * the ms to wait before looking again (inflight_poll_ms, or less when a
 * lease lapses sooner); *busy: live leases.  Store failure: 0.
 */
static inline int64_t lease_take(struct ls_ctx *l, const char *target,
                                 int64_t max, const char *id, int64_t now,
                                 int commit, int64_t *busy)
{
    char key[KEY_LEN], val[LL_TEXT];
    struct ll_set set;
    struct lr_buf full = {0};
    int64_t wait = 0;
    snprintf(key, sizeof key, "inflight/%s", target);
    for (int i = 0; i < CAS_TRIES; i++) {
        int rc = get_raw(l, key, &full);
        if (rc != LR_OK && rc != LR_E_NOT_FOUND)
            break;
        if (ll_parse(&set, text_of(&full)) != 0)
            set.n = 0;
        ll_prune(&set, now);
        *busy = (int64_t)set.n;
        if ((int64_t)set.n >= max) {
            int64_t lapse = ll_first_lapse(&set) - now;
            wait = lapse < l->poll_ms ? lapse : l->poll_ms;
            goto done;
        }
        if (!commit || ll_add(&set, id, now + l->lease_ttl_ms) != 0)
            goto done;
        ll_format(&set, val, sizeof val);
        rc = put_raw(l, key, rc == LR_OK, &full, val, l->lease_ttl_ms);
        if (rc == LR_OK)
            goto done;
        if (rc != LR_STORE_CAS_MISMATCH)
            break;
    }
    store_failed(l, key);
done:
    l->host->buf_free(&full);
    return wait;
}

static inline void lease_give(struct ls_ctx *l, const char *target,
                              const char *id, int64_t now)
{
    char key[KEY_LEN], val[LL_TEXT];
    struct ll_set set;
    struct lr_buf full = {0};
    snprintf(key, sizeof key, "inflight/%s", target);
    for (int i = 0; i < CAS_TRIES; i++) {
        if (get_raw(l, key, &full) != LR_OK ||
            ll_parse(&set, text_of(&full)) != 0)
            break;
        ll_prune(&set, now);
        if (!ll_remove(&set, id))
            break; /* lapsed already */
        ll_format(&set, val, sizeof val);
        if (put_raw(l, key, 1, &full, val, l->lease_ttl_ms) !=
            LR_STORE_CAS_MISMATCH)
            break;
    }
    l->host->buf_free(&full);
}

/* --- Spacing between sends ---------------------------------------------- */

/* 0 when interval ms have passed since the last send to target (and
   with commit, now is the last send), else the ms left; *ago: ms since
   the last send. */
static inline int64_t interval_take(struct ls_ctx *l, const char *target,
                                    int64_t interval, int64_t now,
                                    int commit, int64_t *ago)
{
    char key[KEY_LEN], val[32];
    struct lr_buf full = {0};
    int64_t left = 0;
    snprintf(key, sizeof key, "last/%s", target);
    for (int i = 0; i < CAS_TRIES; i++) {
        int rc = get_raw(l, key, &full);
        if (rc != LR_OK && rc != LR_E_NOT_FOUND)
            break;
        int64_t last = rc == LR_OK ? strtoll(text_of(&full), NULL, 10) : 0;
        *ago = now > last ? now - last : 0;
        if (rc == LR_OK && *ago < interval) {
            left = interval - *ago;
            goto done;
        }
        if (!commit)
            goto done;
        snprintf(val, sizeof val, "%" PRId64, now);
        rc = put_raw(l, key, rc == LR_OK, &full, val, interval);
        if (rc == LR_OK)
            goto done;
        if (rc != LR_STORE_CAS_MISMATCH)
            break;
    }
    store_failed(l, key);
done:
    l->host->buf_free(&full);
    return left;
}

#endif
