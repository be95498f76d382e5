/* Fixture: needs a symbol no library provides, so dlopen(RTLD_NOW)
   fails at load rather than mid-request. */
#include "llmroute_plugin.h"

extern int lr_symbol_that_does_not_exist(void);

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    static const struct lr_plugin_desc d = {LR_PLUGIN_HEADER, "missing",
        LR_PLUGIN_POLICY, "1.0", 0, 0, 0, 0};
    return lr_symbol_that_does_not_exist() ? &d : 0;
}
