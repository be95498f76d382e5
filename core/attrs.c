/*
 * attrs.c - string attributes of a request (see attrs.h).
 */
#include "attrs.h"

#include <stdlib.h>
#include <string.h>

#include "llmroute.h"

static size_t find(const struct lr_attrs *a, const char *key)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], key) == 0)
            return i;
    return a->n;
}

const char *lr_attrs_get(const struct lr_attrs *a, const char *key)
{
    size_t i = find(a, key);
    return i < a->n ? a->values[i] : NULL;
}

static void remove_at(struct lr_attrs *a, size_t i)
{
    free(a->keys[i]);
    free(a->values[i]);
    a->n--;
    a->keys[i] = a->keys[a->n];
    a->values[i] = a->values[a->n];
}

static int grow(struct lr_attrs *a)
{
    if (a->n < a->cap)
        return LR_OK;
    size_t cap = a->cap ? a->cap * 2 : 4;
    char **k = realloc(a->keys, cap * sizeof *k);
    if (!k)
        return LR_E_NOMEM;
    a->keys = k;
    char **v = realloc(a->values, cap * sizeof *v);
    if (!v)
        return LR_E_NOMEM;
    a->values = v;
    a->cap = cap;
    return LR_OK;
}

int lr_attrs_set(struct lr_attrs *a, const char *key, const char *value)
{
    size_t i = find(a, key);
    if (!value) {
        if (i < a->n)
            remove_at(a, i);
        return LR_OK;
    }
    char *v = strdup(value);
    if (!v)
        return LR_E_NOMEM;
    if (i < a->n) {
        free(a->values[i]);
        a->values[i] = v;
        return LR_OK;
    }
    char *k = strdup(key);
    if (!k || grow(a) != LR_OK) {
        free(k);
        free(v);
        return LR_E_NOMEM;
    }
    a->keys[a->n] = k;
    a->values[a->n++] = v;
    return LR_OK;
}

int lr_attrs_copy(struct lr_attrs *dst, const struct lr_attrs *src)
{
    for (size_t i = 0; i < src->n; i++)
        if (lr_attrs_set(dst, src->keys[i], src->values[i]) != LR_OK)
            return LR_E_NOMEM;
    return LR_OK;
}

void lr_attrs_free(struct lr_attrs *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->keys[i]);
        free(a->values[i]);
    }
    free(a->keys);
    free(a->values);
    memset(a, 0, sizeof *a);
}
