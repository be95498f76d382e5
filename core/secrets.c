/*
 * secrets.c - the registry of secret values and the one redaction every
 * outgoing text goes through (see secrets.h).
 *
 * The match is "longest run at this position that also occurs somewhere
 * in a key", not a search for whole keys: an upstream that echoes a key
 * truncated or masked ("Incorrect API key provided: sk-PLANT****9c") still
 * leaks its pieces.  Any such run starts with 8 characters found in a
 * key, and 8 characters are one uint64: a hash set of every 8-character
 * window of every key rules most positions out with one lookup, and only
 * a hit pays for the scan of the keys.  With no key registered the whole
 * call is one atomic load.  Readers share a read lock; the set is rebuilt
 * under the write lock when a router opens or closes.
 */
#include "secrets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct secret {
    char *value;
    size_t len;
    int refs;
};

static pthread_rwlock_t mu = PTHREAD_RWLOCK_INITIALIZER;
static struct secret *list;
static size_t n_list, cap_list;
static atomic_size_t n_live;
static uint64_t *grams;          /* open addressing; 0 marks a free slot */
static size_t gram_mask;         /* capacity - 1 (a power of two) */

_Static_assert(LR_SECRET_MIN == sizeof(uint64_t),
               "an 8-character window is one uint64");

static uint64_t pack8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;                    /* never 0: text holds no NUL */
}

static size_t gram_slot(uint64_t v)
{
    return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 32) & gram_mask;
}

static int has_gram(uint64_t v)
{
    for (size_t i = gram_slot(v);; i = (i + 1) & gram_mask) {
        if (grams[i] == v)
            return 1;
        if (grams[i] == 0)
            return 0;
    }
}

/* Under the write lock, after every change of the list.  Out of memory
   leaves the old set (a superset, harmless) or none: redaction then
   falls back to scanning every position. */
static void rebuild_grams(void)
{
    size_t total = 0;
    for (size_t k = 0; k < n_list; k++)
        total += list[k].len - (LR_SECRET_MIN - 1);
    size_t cap = 16;
    while (cap < 2 * total)
        cap *= 2;
    uint64_t *g = calloc(cap, sizeof *g);
    if (!g && total)
        return;
    free(grams);
    grams = total ? g : NULL;
    if (!total)
        free(g);
    gram_mask = cap - 1;
    for (size_t k = 0; grams && k < n_list; k++) {
        for (size_t j = 0; j + LR_SECRET_MIN <= list[k].len; j++) {
            uint64_t v = pack8(list[k].value + j);
            size_t i = gram_slot(v);
            while (grams[i] != 0 && grams[i] != v)
                i = (i + 1) & gram_mask;
            grams[i] = v;
        }
    }
}

static void wipe_free(char *p)
{
    volatile char *v = p;
    while (v && *v)
        *v++ = '\0';
    free(p);
}

int lr_secrets_add(const char *value)
{
    size_t len = value ? strlen(value) : 0;
    if (len < LR_SECRET_MIN)
        return 0;
    int rc = 0;
    pthread_rwlock_wrlock(&mu);
    for (size_t i = 0; i < n_list; i++)
        if (strcmp(list[i].value, value) == 0) {
            list[i].refs++;
            pthread_rwlock_unlock(&mu);
            return 0;
        }
    if (n_list == cap_list) {
        size_t cap = cap_list ? cap_list * 2 : 8;
        struct secret *v = realloc(list, cap * sizeof *v);
        if (v) {
            list = v;
            cap_list = cap;
        }
    }
    char *copy = n_list < cap_list ? strdup(value) : NULL;
    if (copy) {
        list[n_list++] = (struct secret){copy, len, 1};
        rebuild_grams();
        atomic_store(&n_live, n_list);
    }
    else
        rc = -1;
    pthread_rwlock_unlock(&mu);
    return rc;
}

void lr_secrets_remove(const char *value)
{
    if (!value)
        return;
    pthread_rwlock_wrlock(&mu);
    for (size_t i = 0; i < n_list; i++) {
        if (strcmp(list[i].value, value) != 0 || --list[i].refs > 0)
            continue;
        wipe_free(list[i].value);
        list[i] = list[--n_list];
        rebuild_grams();
        break;
    }
    atomic_store(&n_live, n_list);
    if (n_list == 0) {
        free(list);
        list = NULL;
        cap_list = 0;
    }
    pthread_rwlock_unlock(&mu);
}

/* Length of the longest prefix of s that occurs inside some key. */
static size_t longest_at(const char *s)
{
    size_t best = 0;
    for (size_t k = 0; k < n_list; k++) {
        const char *key = list[k].value;
        size_t kl = list[k].len;
        for (size_t j = 0; j + best < kl; j++) {
            if (key[j] != s[0])
                continue;
            size_t m = 1;
            while (j + m < kl && s[m] && s[m] == key[j + m])
                m++;
            if (m > best)
                best = m;
        }
    }
    return best;
}

size_t lr_secrets_redact(char *s)
{
    if (!s || atomic_load(&n_live) == 0)
        return 0;
    static const char mark[] = LR_SECRET_MARK;
    size_t count = 0;
    char *w = s;
    const char *r = s, *end = s + strlen(s);
    pthread_rwlock_rdlock(&mu);
    while (*r) {
        if (end - r < LR_SECRET_MIN ||
            (grams && !has_gram(pack8(r)))) {
            *w++ = *r++;
            continue;
        }
        size_t m = longest_at(r);
        if (m < LR_SECRET_MIN) {
            *w++ = *r++;
            continue;
        }
        /* The writer never passes the reader: the mark is no longer
           than the run it replaces. */
        if (m >= sizeof mark - 1) {
            memcpy(w, mark, sizeof mark - 1);
            w += sizeof mark - 1;
        }
        else {
            memset(w, '*', m);
            w += m;
        }
        r += m;
        count++;
    }
    *w = '\0';
    pthread_rwlock_unlock(&mu);
    return count;
}
