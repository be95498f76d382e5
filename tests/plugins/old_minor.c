/* Fixture: a policy built for ABI 1.0.  Its ops struct ends where 1.0's
   did (ops_size); the 1.1 fields past that end hold junk, which the
   loader must never read. */
#include <stddef.h>

#include "llmroute_plugin.h"

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **st, char *msg, size_t msglen, int64_t *hint)
{
    (void)inst, (void)req, (void)st, (void)msg, (void)msglen, (void)hint;
    return LR_OK;
}

static int junk_classify(void *inst, const struct lr_policy_req *req,
                         struct lr_buf *json)
{
    (void)inst, (void)req, (void)json;
    return LR_OK;
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
    .n_target_keys = 3,           /* junk beyond 1.0's end */
    .classify = junk_classify,    /* junk beyond 1.0's end */
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_ABI_MAJOR, 0, sizeof(struct lr_plugin_desc), "old_minor",
    LR_PLUGIN_POLICY, "1.0", create, destroy, &ops,
    (uint32_t)offsetof(struct lr_policy_ops, target_keys)};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
