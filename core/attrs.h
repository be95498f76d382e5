/*
 * attrs.h - a small list of string attributes (key -> value), the
 * request attributes policies exchange (llmroute_plugin.h).  A request
 * carries a handful, so a linear list beats a hash table.
 */
#ifndef LR_CORE_ATTRS_H
#define LR_CORE_ATTRS_H

#include <stddef.h>

struct lr_attrs {
    char **keys, **values;
    size_t n, cap;
};

/* Value of key or NULL; valid until key is set again or the list freed. */
const char *lr_attrs_get(const struct lr_attrs *a, const char *key);
/* Copy key and value in (value NULL removes); LR_OK or LR_E_NOMEM. */
int lr_attrs_set(struct lr_attrs *a, const char *key, const char *value);
/* Deep copy of src into an empty dst; LR_OK or LR_E_NOMEM. */
int lr_attrs_copy(struct lr_attrs *dst, const struct lr_attrs *src);
void lr_attrs_free(struct lr_attrs *a);

#endif
