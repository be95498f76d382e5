/*
 * limits_window.h - the sliding rate window of the limits policy, as a
 * value one store key holds: pure functions, no store and no clock.
 *
 * A window of length W is cut into slots of g = ceil(W / 100) ms; slot
 * i covers wall time [i*g, (i+1)*g).  The value lists the non-empty
 * slots, oldest first, as "i:n i:n ..." (n: requests or tokens counted
 * in that slot).  An amount counted in slot i counts until (i+1)*g + W,
 * that is for at least W and at most W + g ms after it was counted, so
 * any span of W ms holds at most the limit, whichever way the provider
 * aligns its own window (a precise log would be exact but grows with
 * the limit; this stays under ~102 slots whatever the rate).  The wait
 * until room is exact for this model: the moment the oldest slots that
 * must leave have left.
 *
 * Header-only (static inline): the plugin is one shared object and
 * links nothing; this keeps the policy file to the policy.
 */
#ifndef LR_LIMITS_WINDOW_H
#define LR_LIMITS_WINDOW_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LW_SLOTS 100              /* slots per window */
#define LW_CAP (LW_SLOTS + 4)     /* live slots never exceed LW_SLOTS + 1 */
#define LW_TEXT (LW_CAP * 42 + 1) /* "i:n " with two int64s each */

struct lw_slot {
    int64_t idx;
    int64_t n;
};

/* One window's counts plus its geometry (ms). */
struct lw_window {
    int64_t len;                  /* W */
    int64_t slot;                 /* g */
    struct lw_slot s[LW_CAP];
    size_t n;
};

static inline void lw_init(struct lw_window *w, int64_t len)
{
    memset(w, 0, sizeof *w);
    w->len = len;
    w->slot = (len + LW_SLOTS - 1) / LW_SLOTS;
    if (w->slot < 1)
        w->slot = 1;
}

/* The wall ms at which slot idx stops counting. */
static inline int64_t lw_expiry(const struct lw_window *w, int64_t idx)
{
    return (idx + 1) * w->slot + w->len;
}

static inline int64_t lw_index(const struct lw_window *w, int64_t wall)
{
    return wall / w->slot;
}

/* Parse a stored value into w (geometry kept).  -1 when the text is not
   a well-formed list: the caller starts afresh.  Slots are kept in
   order; a malformed or unordered list is refused as a whole. */
static inline int lw_parse(struct lw_window *w, const char *text)
{
    w->n = 0;
    const char *p = text ? text : "";
    while (*p == ' ')
        p++;
    while (*p) {
        char *end;
        long long idx = strtoll(p, &end, 10);
        if (end == p || *end != ':' || w->n == LW_CAP)
            return -1;
        p = end + 1;
        long long n = strtoll(p, &end, 10);
        if (end == p || (*end && *end != ' ') ||
            (w->n && idx <= w->s[w->n - 1].idx))
            return -1;
        w->s[w->n].idx = idx;
        w->s[w->n].n = n;
        w->n++;
        p = end;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* Drop the slots that no longer count at wall time now. */
static inline void lw_prune(struct lw_window *w, int64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->n; i++)
        if (lw_expiry(w, w->s[i].idx) > now && w->s[i].n > 0)
            w->s[keep++] = w->s[i];
    w->n = keep;
}

static inline int64_t lw_sum(const struct lw_window *w)
{
    int64_t sum = 0;
    for (size_t i = 0; i < w->n; i++)
        sum += w->s[i].n;
    return sum;
}

/* Ms from now until need more fits under limit (0: it fits now).  A
   need above the limit is treated as the limit: it waits for an empty
   window rather than forever.  w must be pruned at now. */
static inline int64_t lw_room_in(const struct lw_window *w, int64_t need,
                                 int64_t limit, int64_t now)
{
    if (need > limit)
        need = limit;
    int64_t excess = lw_sum(w) + need - limit;
    for (size_t i = 0; i < w->n && excess > 0; i++) {
        excess -= w->s[i].n;
        if (excess <= 0)
            return lw_expiry(w, w->s[i].idx) - now;
    }
    return 0;
}

/* Add delta to slot idx.  A slot not held is created in order, except
   for a negative delta (nothing to take from); a slot that drops to 0
   or below goes.  -1 when the window is full of slots (cannot happen
   for a pruned window and an idx within it). */
static inline int lw_add(struct lw_window *w, int64_t idx, int64_t delta)
{
    size_t i = 0;
    while (i < w->n && w->s[i].idx < idx)
        i++;
    if (i < w->n && w->s[i].idx == idx) {
        w->s[i].n += delta;
        if (w->s[i].n <= 0) {
            memmove(&w->s[i], &w->s[i + 1], (w->n - i - 1) * sizeof w->s[0]);
            w->n--;
        }
        return 0;
    }
    if (delta <= 0)
        return 0;
    if (w->n == LW_CAP)
        return -1;
    memmove(&w->s[i + 1], &w->s[i], (w->n - i) * sizeof w->s[0]);
    w->s[i].idx = idx;
    w->s[i].n = delta;
    w->n++;
    return 0;
}

/* The stored form of w into out (at least LW_TEXT bytes). */
static inline void lw_format(const struct lw_window *w, char *out,
                             size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < w->n && used < len; i++) {
        int k = snprintf(out + used, len - used, "%s%" PRId64 ":%" PRId64,
                         i ? " " : "", w->s[i].idx, w->s[i].n);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

#endif
