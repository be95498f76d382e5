/* Fixture: a store plugin whose mandatory cas is NULL. */
#include "store_stub.h"

static const struct lr_store_ops ops = {
    .open = s_open, .close = s_close, .get = s_get, .set = s_set,
    .incr = s_incr, .del = s_del};
static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "store_no_cas", LR_PLUGIN_STORE, "1.0", 0, 0, &ops,
    sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
