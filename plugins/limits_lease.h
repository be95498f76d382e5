/*
 * limits_lease.h - the in-flight leases of the limits policy's
 * max_inflight, as the value one store key holds: pure functions.
 *
 * A counter incremented at send and decremented at the answer leaks a
 * slot forever when a process dies in between; a store TTL on the
 * counter does not help, since it would expire under steady load with
 * attempts still in flight.  So each attempt in flight holds a lease
 * "ID:UNTIL" (ID a 16-hex-digit token unique to the process and
 * attempt, UNTIL the wall ms it lapses), the value is the list of
 * leases, and the number in flight is the number of live leases.  A
 * crashed holder's lease simply lapses after inflight_ttl_ms.
 */
#ifndef LR_LIMITS_LEASE_H
#define LR_LIMITS_LEASE_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LL_MAX 256                /* largest max_inflight accepted */
#define LL_ID 17                  /* 16 hex digits and NUL */
#define LL_TEXT (LL_MAX * 40 + 1)

struct ll_lease {
    char id[LL_ID];
    int64_t until;
};

struct ll_set {
    struct ll_lease l[LL_MAX + 1];
    size_t n;
};

/* Parse "ID:UNTIL ..." into s; -1 on anything malformed (the caller
   starts afresh: at worst a few attempts more than max_inflight). */
static inline int ll_parse(struct ll_set *s, const char *text)
{
    const char *p = text ? text : "";
    s->n = 0;
    while (*p == ' ')
        p++;
    while (*p) {
        size_t k = strspn(p, "0123456789abcdef");
        if (k != LL_ID - 1 || p[k] != ':' || s->n > LL_MAX)
            return -1;
        char *end;
        long long until = strtoll(p + k + 1, &end, 10);
        if (end == p + k + 1 || (*end && *end != ' '))
            return -1;
        memcpy(s->l[s->n].id, p, LL_ID - 1);
        s->l[s->n].id[LL_ID - 1] = '\0';
        s->l[s->n].until = until;
        s->n++;
        p = end;
        while (*p == ' ')
            p++;
    }
    return 0;
}

/* Drop leases lapsed at wall time now. */
static inline void ll_prune(struct ll_set *s, int64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->l[i].until > now)
            s->l[keep++] = s->l[i];
    s->n = keep;
}

/* Remove lease id; 1 when it was there. */
static inline int ll_remove(struct ll_set *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->l[i].id, id) == 0) {
            s->l[i] = s->l[--s->n];
            return 1;
        }
    }
    return 0;
}

/* Append a lease; -1 when the set is full. */
static inline int ll_add(struct ll_set *s, const char *id, int64_t until)
{
    if (s->n > LL_MAX)
        return -1;
    snprintf(s->l[s->n].id, LL_ID, "%s", id);
    s->l[s->n].until = until;
    s->n++;
    return 0;
}

/* The earliest lapse among the leases (INT64_MAX when none). */
static inline int64_t ll_first_lapse(const struct ll_set *s)
{
    int64_t first = INT64_MAX;
    for (size_t i = 0; i < s->n; i++)
        if (s->l[i].until < first)
            first = s->l[i].until;
    return first;
}

static inline void ll_format(const struct ll_set *s, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n && used < len; i++) {
        int k = snprintf(out + used, len - used, "%s%s:%" PRId64,
                         i ? " " : "", s->l[i].id, s->l[i].until);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}

#endif
