/*
 * config_validate.c - checks a section's keys against key tables and
 * turns values into typed ones; the cfg_* getters read the result.
 *
 * Defaults are materialised as key/value entries with line 0 at
 * validation time, so a getter is a lookup and `llmroute check` can show
 * the effective value of every key.
 */
#include "cnum.h"
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim_dup(const char *b, const char *e)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    return strndup(b, (size_t)(e - b));
}

int lr_split_list(const char *text, char ***items, size_t *n)
{
    *items = NULL;
    *n = 0;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return LR_OK;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        char *item = trim_dup(p, end);
        char **v = realloc(*items, (*n + 1) * sizeof *v);
        if (!item || !v || !*item) {
            int empty = item && !*item;
            free(item);
            if (v)
                *items = v;
            lr_free_list(*items, *n);
            *items = NULL;
            *n = 0;
            return empty ? LR_E_INVALID_ARG : LR_E_NOMEM;
        }
        *items = v;
        v[(*n)++] = item;
        if (!comma)
            return LR_OK;
        p = comma + 1;
    }
}

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || errno == ERANGE)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = lr_cnum_strtod(v, &end);   /* 2.5 in any locale */
    if (end == v || errno == ERANGE || !isfinite(x))
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int64_t *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Parse kv->value as type; a message on failure. */
static const char *type_value(struct lr_kv *kv, enum lr_cfg_type type)
{
    kv->type = type;
    switch (type) {
    case LR_CFG_STRING:
        return NULL;
    case LR_CFG_INT:
        return parse_int(kv->value, &kv->ival) ? "expected a whole number"
                                               : NULL;
    case LR_CFG_DOUBLE:
        if (parse_double(kv->value, &kv->dval))
            return "expected a number";
        /* lr_cfg_int() of a number truncates it; beyond int64_t it
           saturates, since the cast would be undefined (fuzzing found
           "x = 5e34"). */
        kv->ival = kv->dval >= 9223372036854775807.0    ? INT64_MAX
                   : kv->dval <= -9223372036854775807.0 ? INT64_MIN
                                                        : (int64_t)kv->dval;
        return NULL;
    case LR_CFG_BOOL:
        return parse_bool(kv->value, &kv->ival)
                   ? "expected true or false" : NULL;
    case LR_CFG_LIST:
        return lr_split_list(kv->value, &kv->items, &kv->n_items) == LR_OK
                   ? NULL : "expected a comma-separated list without "
                            "empty items";
    }
    return "unknown key type";
}

static const struct lr_cfg_key *
find_key(const char *key, const struct lr_cfg_key *const *tables,
         const size_t *sizes, size_t ntables)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < sizes[t]; i++)
            if (strcmp(tables[t][i].key, key) == 0)
                return &tables[t][i];
    return NULL;
}

/* Edit distance, capped: good enough to suggest "rpm" for "rmp". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *suggest(const char *key,
                           const struct lr_cfg_key *const *tables,
                           const size_t *sizes, size_t ntables)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < sizes[t]; i++) {
            size_t d = distance(key, tables[t][i].key);
            if (d < bestd) {
                bestd = d;
                best = tables[t][i].key;
            }
        }
    return best;
}

static int add_default(struct lr_section *s, const struct lr_cfg_key *k)
{
    if (s->n_kv == s->cap_kv) {
        size_t cap = s->cap_kv ? s->cap_kv * 2 : 8;
        struct lr_kv *kv = realloc(s->kv, cap * sizeof *kv);
        if (!kv)
            return LR_E_NOMEM;
        s->kv = kv;
        s->cap_kv = cap;
    }
    struct lr_kv *kv = &s->kv[s->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = strdup(k->key);
    kv->value = strdup(k->def);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return LR_E_NOMEM;
    }
    s->n_kv++;
    return type_value(kv, k->type) ? LR_E_INTERNAL : LR_OK;
}

static const char *kind_word(const struct lr_section *s)
{
    return s->kind == LR_SEC_TARGET ? "target "
           : s->kind == LR_SEC_POLICY ? "policy " : "";
}

static int check_keys(struct lr_section *s,
                      const struct lr_cfg_key *const *tables,
                      const size_t *sizes, size_t ntables,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_kv; i++) {
        struct lr_kv *kv = &s->kv[i];
        const struct lr_cfg_key *k = find_key(kv->key, tables, sizes,
                                              ntables);
        if (!k) {
            const char *sug = suggest(kv->key, tables, sizes, ntables);
            snprintf(err, errlen, "%s:%d: unknown key '%s' in [%s%s]%s%s%s",
                     s->file, kv->line, kv->key, kind_word(s),
                     s->kind == LR_SEC_ROUTER ? "router" : s->name,
                     sug ? " (did you mean '" : "", sug ? sug : "",
                     sug ? "'?)" : "");
            return LR_E_CONFIG;
        }
        const char *msg = type_value(kv, k->type);
        if (msg) {
            snprintf(err, errlen, "%s:%d: %s: %s, got '%s'", s->file,
                     kv->line, kv->key, msg, kv->value);
            return LR_E_CONFIG;
        }
    }
    return LR_OK;
}

int lr_section_validate(struct lr_section *s,
                        const struct lr_cfg_key *const *tables,
                        const size_t *sizes, size_t ntables,
                        char *err, size_t errlen)
{
    int rc = check_keys(s, tables, sizes, ntables, err, errlen);
    if (rc != LR_OK)
        return rc;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < sizes[t]; i++) {
            const struct lr_cfg_key *k = &tables[t][i];
            if (!k->def || lr_section_kv(s, k->key))
                continue;
            if (add_default(s, k) != LR_OK) {
                snprintf(err, errlen, "%s:%d: bad built-in default for "
                         "'%s'", s->file, s->line, k->key);
                return LR_E_CONFIG;
            }
        }
    }
    s->validated = 1;
    return LR_OK;
}

int lr_cfg_str(const struct lr_section *s, const char *key,
               const char **out)
{
    const struct lr_kv *kv = s ? lr_section_kv(s, key) : NULL;
    if (!kv)
        return LR_E_NOT_FOUND;
    *out = kv->value;
    return LR_OK;
}

int lr_cfg_int(const struct lr_section *s, const char *key, int64_t *out)
{
    const struct lr_kv *kv = s ? lr_section_kv(s, key) : NULL;
    if (!kv)
        return LR_E_NOT_FOUND;
    if (kv->type != LR_CFG_INT && kv->type != LR_CFG_BOOL &&
        kv->type != LR_CFG_DOUBLE)
        return LR_E_INVALID_ARG;
    *out = kv->ival;
    return LR_OK;
}

int lr_cfg_double(const struct lr_section *s, const char *key, double *out)
{
    const struct lr_kv *kv = s ? lr_section_kv(s, key) : NULL;
    if (!kv)
        return LR_E_NOT_FOUND;
    if (kv->type == LR_CFG_DOUBLE)
        *out = kv->dval;
    else if (kv->type == LR_CFG_INT)
        *out = (double)kv->ival;
    else
        return LR_E_INVALID_ARG;
    return LR_OK;
}

int lr_cfg_bool(const struct lr_section *s, const char *key, int *out)
{
    const struct lr_kv *kv = s ? lr_section_kv(s, key) : NULL;
    if (!kv)
        return LR_E_NOT_FOUND;
    if (kv->type != LR_CFG_BOOL)
        return LR_E_INVALID_ARG;
    *out = (int)kv->ival;
    return LR_OK;
}

int lr_cfg_list(const struct lr_section *s, const char *key,
                const char *const **items, size_t *n)
{
    const struct lr_kv *kv = s ? lr_section_kv(s, key) : NULL;
    if (!kv)
        return LR_E_NOT_FOUND;
    if (kv->type != LR_CFG_LIST)
        return LR_E_INVALID_ARG;
    *items = (const char *const *)kv->items;
    *n = kv->n_items;
    return LR_OK;
}

const char *lr_cfg_section_name(const struct lr_section *s)
{
    return s ? s->name : NULL;
}
