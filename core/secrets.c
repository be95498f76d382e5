/*
 * secrets.c - the registry of secret values and the one redaction every
 * outgoing text goes through (see secrets.h).
 *
 * The match is "longest run at this position that also occurs somewhere
 * in a key", not a search for whole keys: an upstream that echoes a key
 * truncated or masked ("Incorrect API key provided: sk-PLANT****9c") still
 * leaks its pieces.  The cost is a scan of every key at every position,
 * paid only on failure paths and on log lines that pass the level filter;
 * with no key registered it is one atomic load.
 */
#include "secrets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct secret {
    char *value;
    size_t len;
    int refs;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct secret *list;
static size_t n_list, cap_list;
static atomic_size_t n_live;

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
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_list; i++)
        if (strcmp(list[i].value, value) == 0) {
            list[i].refs++;
            pthread_mutex_unlock(&mu);
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
        atomic_store(&n_live, n_list);
    }
    else
        rc = -1;
    pthread_mutex_unlock(&mu);
    return rc;
}

void lr_secrets_remove(const char *value)
{
    if (!value)
        return;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n_list; i++) {
        if (strcmp(list[i].value, value) != 0 || --list[i].refs > 0)
            continue;
        wipe_free(list[i].value);
        list[i] = list[--n_list];
        break;
    }
    atomic_store(&n_live, n_list);
    if (n_list == 0) {
        free(list);
        list = NULL;
        cap_list = 0;
    }
    pthread_mutex_unlock(&mu);
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
    const char *r = s;
    pthread_mutex_lock(&mu);
    while (*r) {
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
    pthread_mutex_unlock(&mu);
    return count;
}
