/* Fixture: lr_plugin_entry returns NULL. */
#include <stddef.h>

#include "llmroute_plugin.h"

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return NULL;
}
