/*
 * plugin_load.h - opening plugin shared objects and checking their
 * descriptors before anything in them runs.
 */
#ifndef LR_CORE_PLUGIN_LOAD_H
#define LR_CORE_PLUGIN_LOAD_H

#include "llmroute_plugin.h"

#include <stddef.h>

/*
 * A loaded plugin.  The core reads a plugin's ops only through the copies
 * here: the plugin's own struct, as long as its ops_size says and only the
 * fields of its ABI minor, the rest zero.  So a 1.0 policy simply has no
 * 1.1 hooks, and no code path needs to check sizes again.
 */
struct lr_plugin {
    char *path;
    void *dl;
    const struct lr_plugin_desc *desc;
    struct lr_provider_ops provider_ops;
    struct lr_policy_ops policy_ops;
    struct lr_store_ops store_ops;
};

/* Smallest ops structs a 1.0 plugin may hand us. */
#define LR_PROVIDER_OPS_V1_SIZE sizeof(struct lr_provider_ops)
#define LR_POLICY_OPS_V1_SIZE offsetof(struct lr_policy_ops, target_keys)

/*
 * dlopen path (RTLD_NOW | RTLD_LOCAL) and check, in this order: the entry
 * symbol, a non-NULL descriptor, ABI major, descriptor size, ABI minor,
 * kind, name, create/destroy, ops and their size and mandatory members.
 * want_kind 0 accepts any kind; want_name NULL accepts any name.  Every
 * error names the file: "PATH: plugin ABI 2.0, core speaks 1.x".
 */
int lr_plugin_open(const char *path, enum lr_plugin_kind want_kind,
                   const char *want_name, struct lr_plugin **out,
                   char *err, size_t errlen);
/* dlclose and free; only after every instance is destroyed. */
void lr_plugin_close(struct lr_plugin *p);
const char *lr_plugin_kind_name(enum lr_plugin_kind kind);

#endif
