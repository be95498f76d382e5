/* Fixture: a shared object without the lr_plugin_entry symbol. */
#include "llmroute_plugin.h"

LR_PLUGIN_EXPORT int not_a_plugin(void);

int not_a_plugin(void)
{
    return 42;
}
