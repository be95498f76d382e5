/* Fixture: a plugin needing a newer minor ABI than the core speaks. */
#include "llmroute_plugin.h"

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_ABI_MAJOR, 99, sizeof(struct lr_plugin_desc), "bad_minor",
    LR_PLUGIN_POLICY, "1.0", 0, 0, 0, 0};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
