/* Fixture: a plugin built for ABI 2.x; the core must refuse it. */
#include "llmroute_plugin.h"

static int create(const struct lr_section *s, const struct lr_host *h,
                  void **inst, char *err, size_t errlen)
{
    (void)s; (void)h; (void)inst; (void)err; (void)errlen;
    return LR_OK;
}

static void destroy(void *inst)
{
    (void)inst;
}

static const struct lr_policy_ops ops = {.on_complete = 0,
                                         .on_request = 0};
static const struct lr_plugin_desc desc = {
    2, 1, sizeof(struct lr_plugin_desc), "bad_major", LR_PLUGIN_POLICY,
    "1.0", create, destroy, &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
