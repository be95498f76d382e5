/* Fixture: a policy built for ABI 1.1, before gauge_set (1.2) was
   appended to the host table.  Its ops are 1.1's whole struct, so the
   loader must take its 1.1 fields (target keys, classify). */
#include <stddef.h>

#include "llmroute_plugin.h"

static const struct lr_cfg_key tkeys[] = {
    {"minor1_weight", LR_CFG_INT, "1", "a 1.1 target key"},
};

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **st, char *msg, size_t msglen, int64_t *hint)
{
    (void)inst, (void)req, (void)st, (void)msg, (void)msglen, (void)hint;
    return LR_OK;
}

static int classify(void *inst, const struct lr_policy_req *req,
                    struct lr_buf *json)
{
    (void)inst, (void)req, (void)json;
    return LR_E_NOT_FOUND;
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

static const struct lr_policy_ops ops = {
    .on_request = on_request,
    .target_keys = tkeys,
    .n_target_keys = 1,
    .classify = classify,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_ABI_MAJOR, 1, sizeof(struct lr_plugin_desc), "minor1",
    LR_PLUGIN_POLICY, "1.1", create, destroy, &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
