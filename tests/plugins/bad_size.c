/* Fixture: a descriptor claiming to be smaller than ABI 1.0's. */
#include "llmroute_plugin.h"

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_ABI_MAJOR, 0, 8, "bad_size", LR_PLUGIN_POLICY, "1.0",
    0, 0, 0, 0};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
