/* Fixture: a provider whose mandatory parse_response is NULL. */
#include "llmroute_plugin.h"

static int create(const struct lr_section *s, const struct lr_host *h,
                  void **inst, char *err, size_t errlen)
{
    (void)s; (void)h; (void)err; (void)errlen;
    *inst = 0;
    return LR_OK;
}

static void destroy(void *inst)
{
    (void)inst;
}

static int build(void *inst, const struct lr_target_info *t,
                 const struct lr_chat *c, struct lr_http_request *out,
                 char *err, size_t errlen)
{
    (void)inst; (void)t; (void)c; (void)out; (void)err; (void)errlen;
    return LR_OK;
}

static const struct lr_provider_ops ops = {
    .default_base_url = "http://127.0.0.1:1", .build_request = build};
static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "null_op", LR_PLUGIN_PROVIDER, "1.0", create, destroy,
    &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
