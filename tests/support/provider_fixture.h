/*
 * provider_fixture.h - one provider instance on a fake host, with a
 * target of the test's choosing: what every provider test's per-test
 * setup needs.  The provider is the real .so, loaded once per test group
 * with fake_plugin_open().
 */
#ifndef LR_TESTS_PROVIDER_FIXTURE_H
#define LR_TESTS_PROVIDER_FIXTURE_H

#include "llmroute_plugin.h"

struct fake_host;

struct provider_fx {
    struct fake_host *fh;
    void *inst;
    struct lr_section *sec;        /* the target's section, keys declared */
    struct lr_target_info target;  /* base_url: the provider's default */
};

/* A new instance of desc for target name/model with api key; NULL on
   failure (nothing leaked). */
struct provider_fx *provider_fx_new(const struct lr_plugin_desc *desc,
                                    const char *name, const char *model,
                                    const char *key);
void provider_fx_free(const struct lr_plugin_desc *desc,
                      struct provider_fx *t);

#endif
