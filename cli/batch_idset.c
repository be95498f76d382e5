/*
 * batch_idset.c - a set of string keys, each with a line number: the ids
 * already in OUT (line 0) and the ids seen in IN (their first line).
 * Open addressing with linear probing, grown at 50% load; FNV-1a hash.
 * Only ids are kept, never prompts, so a huge IN costs a few dozen bytes
 * per line.
 */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

struct slot {
    char *key;
    long line;
};

struct idset {
    struct slot *slots;
    size_t cap, count;   /* cap: a power of two */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct idset *idset_new(void)
{
    struct idset *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = 64;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

void idset_free(struct idset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].key);
    free(s->slots);
    free(s);
}

static struct slot *find(struct slot *slots, size_t cap, const char *key)
{
    size_t i = (size_t)hash(key) & (cap - 1);
    while (slots[i].key && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct idset *s)
{
    size_t cap = s->cap * 2;
    struct slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].key)
            *find(slots, cap, s->slots[i].key) = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

int idset_add(struct idset *s, const char *key, long line, long *old)
{
    if ((s->count + 1) * 2 > s->cap && grow(s) != 0)
        return -1;
    struct slot *sl = find(s->slots, s->cap, key);
    if (sl->key) {
        if (old)
            *old = sl->line;
        return 0;
    }
    sl->key = strdup(key);
    if (!sl->key)
        return -1;
    sl->line = line;
    s->count++;
    return 1;
}

void idset_set(struct idset *s, const char *key, long line)
{
    struct slot *sl = find(s->slots, s->cap, key);
    if (sl->key)
        sl->line = line;
}
