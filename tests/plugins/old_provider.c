/* Fixture: a provider built for ABI 1.2, before struct lr_chat carried the
   response format.  Its build_request fails with a reason of its own, so
   a test can tell "the core skipped it" (no format would have reached it)
   from "it was called". */
#include <stdio.h>

#include "llmroute_plugin.h"

static int build_request(void *inst, const struct lr_target_info *t,
                         const struct lr_chat *c, struct lr_http_request *out,
                         char *err, size_t errlen)
{
    (void)inst, (void)t, (void)c, (void)out;
    snprintf(err, errlen, "old_provider: build_request called");
    return LR_E_PLUGIN;
}

static int parse_response(void *inst, const struct lr_target_info *t,
                          const struct lr_http_response *in,
                          struct lr_result *out)
{
    (void)inst, (void)t, (void)in, (void)out;
    return LR_E_PROTOCOL;
}

static int create(const struct lr_section *s, const struct lr_host *h,
                  void **inst, char *err, size_t errlen)
{
    (void)s, (void)h, (void)err, (void)errlen;
    static int one;
    *inst = &one;
    return LR_OK;
}

static void destroy(void *inst)
{
    (void)inst;
}

static const struct lr_provider_ops ops = {
    .default_base_url = "http://127.0.0.1:9/v1",
    .build_request = build_request,
    .parse_response = parse_response,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_ABI_MAJOR, 2, sizeof(struct lr_plugin_desc), "old_provider",
    LR_PLUGIN_PROVIDER, "1.2", create, destroy, &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
