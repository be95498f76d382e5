/*
 * provider_fixture.c - provider instances on a fake host for tests.
 */
#include "provider_fixture.h"

#include <stdlib.h>

#include "fake_host.h"

struct provider_fx *provider_fx_new(const struct lr_plugin_desc *desc,
                                    const char *name, const char *model,
                                    const char *key)
{
    const struct lr_provider_ops *ops = desc->ops;
    struct provider_fx *t = calloc(1, sizeof *t);
    char err[128] = "";
    if (!t)
        return NULL;
    t->fh = fake_host_new();
    t->sec = fake_section_new(name);
    fake_section_set_keys(t->sec, ops->target_keys, ops->n_target_keys);
    t->target.name = name;
    t->target.model = model;
    t->target.base_url = ops->default_base_url;
    t->target.api_key = key;
    t->target.section = t->sec;
    if (desc->create(NULL, fake_host_table(t->fh), &t->inst, err,
                     sizeof err) != LR_OK) {
        t->inst = NULL;
        provider_fx_free(desc, t);
        return NULL;
    }
    return t;
}

void provider_fx_free(const struct lr_plugin_desc *desc,
                      struct provider_fx *t)
{
    if (!t)
        return;
    if (t->inst)
        desc->destroy(t->inst);
    fake_section_free(t->sec);
    fake_host_free(t->fh);
    free(t);
}
