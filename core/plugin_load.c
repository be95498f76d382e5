/*
 * plugin_load.c - loads a plugin .so and validates its descriptor.
 *
 * The order of checks matters: nothing in a descriptor is read before its
 * ABI major and size say it is the layout we know, and no function of the
 * plugin is called before every check passed (only lr_plugin_entry itself,
 * which must do nothing but return a pointer).  RTLD_NOW makes missing
 * symbols fail here rather than mid-request; RTLD_LOCAL keeps one
 * plugin's symbols from satisfying another's.
 */
#include "plugin_load.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmroute.h"

const char *lr_plugin_kind_name(enum lr_plugin_kind kind)
{
    return kind == LR_PLUGIN_PROVIDER ? "provider"
           : kind == LR_PLUGIN_POLICY ? "policy"
           : kind == LR_PLUGIN_STORE ? "store" : "unknown";
}

/*
 * Trust: a plugin runs with our rights and sees every API key, so whoever
 * can replace the file, or the folder entry naming it, owns the process.
 * Refused: a file or folder writable by group or others, or owned by
 * someone who is neither root nor us.  Checked for the file (through any
 * symlink), the folder named in the path and the real file's folder.  A
 * file that does not exist is left for dlopen to report.
 */
static int untrusted(const char *what, const char *path, char *err,
                     size_t errlen, const char *file)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    /* "its folder /x is " or, for the file itself, nothing */
    char subj[PATH_MAX + 32] = "";
    if (what)
        snprintf(subj, sizeof subj, "%s %s is ", what, path);
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "%s: refused: %swritable by other users "
                 "(mode %04o)", file, subj, (unsigned)(st.st_mode & 07777));
        return 1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s: refused: %sowned by uid %u, neither root "
                 "nor this process's user", file, subj, (unsigned)st.st_uid);
        return 1;
    }
    return 0;
}

static int check_trust(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX], real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    if (untrusted(NULL, path, err, errlen, path) ||
        untrusted("its folder", dirname(dir), err, errlen, path))
        return LR_E_PLUGIN;
    /* stat() followed a symlink to the real file; its folder is one
       more place it could be replaced from. */
    if (!realpath(path, real) || strcmp(real, path) == 0)
        return LR_OK;
    snprintf(dir, sizeof dir, "%s", real);
    if (untrusted("its real folder", dirname(dir), err, errlen, path))
        return LR_E_PLUGIN;
    return LR_OK;
}

static int check_version(const char *path, const struct lr_plugin_desc *d,
                         char *err, size_t errlen)
{
    if (d->abi_major != LR_PLUGIN_ABI_MAJOR) {
        snprintf(err, errlen, "%s: plugin ABI %u.%u, core speaks %d.x",
                 path, d->abi_major, d->abi_minor, LR_PLUGIN_ABI_MAJOR);
        return LR_E_PLUGIN;
    }
    if (d->struct_size < sizeof(struct lr_plugin_desc)) {
        snprintf(err, errlen, "%s: plugin descriptor is %u bytes, ABI %d.0 "
                 "needs at least %zu", path, d->struct_size,
                 LR_PLUGIN_ABI_MAJOR, sizeof(struct lr_plugin_desc));
        return LR_E_PLUGIN;
    }
    if (d->abi_minor > LR_PLUGIN_ABI_MINOR) {
        snprintf(err, errlen, "%s: plugin needs ABI %u.%u, core speaks "
                 "%d.%d (upgrade llmroute)", path, d->abi_major,
                 d->abi_minor, LR_PLUGIN_ABI_MAJOR, LR_PLUGIN_ABI_MINOR);
        return LR_E_PLUGIN;
    }
    return LR_OK;
}

static int check_provider_ops(const char *path,
                              const struct lr_plugin_desc *d,
                              char *err, size_t errlen)
{
    const struct lr_provider_ops *ops = d->ops;
    if (d->ops_size < LR_PROVIDER_OPS_V1_SIZE) {
        snprintf(err, errlen, "%s: provider ops are %u bytes, need %zu",
                 path, d->ops_size, LR_PROVIDER_OPS_V1_SIZE);
        return LR_E_PLUGIN;
    }
    if (!ops->build_request || !ops->parse_response) {
        snprintf(err, errlen, "%s: provider '%s' lacks %s", path, d->name,
                 !ops->build_request ? "build_request" : "parse_response");
        return LR_E_PLUGIN;
    }
    if (!ops->default_base_url || !*ops->default_base_url) {
        snprintf(err, errlen, "%s: provider '%s' has no default_base_url",
                 path, d->name);
        return LR_E_PLUGIN;
    }
    if (ops->n_target_keys && !ops->target_keys) {
        snprintf(err, errlen, "%s: provider '%s' declares %zu target keys "
                 "but no table", path, d->name, ops->n_target_keys);
        return LR_E_PLUGIN;
    }
    return LR_OK;
}

static int check_policy_ops(const char *path, const struct lr_plugin_desc *d,
                            char *err, size_t errlen)
{
    const struct lr_policy_ops *ops = d->ops;
    if (d->ops_size < LR_POLICY_OPS_V1_SIZE) {
        snprintf(err, errlen, "%s: policy ops are %u bytes, need %zu",
                 path, d->ops_size, LR_POLICY_OPS_V1_SIZE);
        return LR_E_PLUGIN;
    }
    if (!ops->on_request && !ops->route && !ops->before_attempt &&
        !ops->after_attempt && !ops->on_complete) {
        snprintf(err, errlen, "%s: policy '%s' has no hook at all", path,
                 d->name);
        return LR_E_PLUGIN;
    }
    if (ops->n_keys && !ops->keys) {
        snprintf(err, errlen, "%s: policy '%s' declares %zu keys but no "
                 "table", path, d->name, ops->n_keys);
        return LR_E_PLUGIN;
    }
    if (d->abi_minor >= 1 && d->ops_size >= sizeof *ops &&
        ops->n_target_keys && !ops->target_keys) {
        snprintf(err, errlen, "%s: policy '%s' declares %zu target keys "
                 "but no table", path, d->name, ops->n_target_keys);
        return LR_E_PLUGIN;
    }
    return LR_OK;
}

/* Stores came with ABI 1.4, whole: every op is mandatory. */
static int check_store_ops(const char *path, const struct lr_plugin_desc *d,
                           char *err, size_t errlen)
{
    const struct lr_store_ops *ops = d->ops;
    if (d->abi_minor < 4) {
        snprintf(err, errlen, "%s: store plugin '%s' says ABI %u.%u; "
                 "stores need 1.4", path, d->name, d->abi_major,
                 d->abi_minor);
        return LR_E_PLUGIN;
    }
    if (d->ops_size < sizeof *ops) {
        snprintf(err, errlen, "%s: store ops are %u bytes, need %zu", path,
                 d->ops_size, sizeof *ops);
        return LR_E_PLUGIN;
    }
    const char *lacks = !ops->open ? "open" : !ops->close ? "close"
                        : !ops->get ? "get" : !ops->set ? "set"
                        : !ops->incr ? "incr" : !ops->cas ? "cas"
                        : !ops->del ? "del" : NULL;
    if (lacks) {
        snprintf(err, errlen, "%s: store '%s' lacks %s", path, d->name,
                 lacks);
        return LR_E_PLUGIN;
    }
    return LR_OK;
}

static int check_desc(const char *path, const struct lr_plugin_desc *d,
                      enum lr_plugin_kind want_kind, const char *want_name,
                      char *err, size_t errlen)
{
    int rc = check_version(path, d, err, errlen);
    if (rc != LR_OK)
        return rc;
    if (d->kind != LR_PLUGIN_PROVIDER && d->kind != LR_PLUGIN_POLICY &&
        d->kind != LR_PLUGIN_STORE) {
        snprintf(err, errlen, "%s: unknown plugin kind %d", path, d->kind);
        return LR_E_PLUGIN;
    }
    if (!d->name || !*d->name) {
        snprintf(err, errlen, "%s: plugin has no name", path);
        return LR_E_PLUGIN;
    }
    if (want_kind && d->kind != want_kind) {
        snprintf(err, errlen, "%s: plugin '%s' is a %s, expected a %s",
                 path, d->name, lr_plugin_kind_name(d->kind),
                 lr_plugin_kind_name(want_kind));
        return LR_E_PLUGIN;
    }
    if (want_name && strcmp(d->name, want_name) != 0) {
        snprintf(err, errlen, "%s: plugin calls itself '%s', expected '%s'",
                 path, d->name, want_name);
        return LR_E_PLUGIN;
    }
    /* A store is opened from its spec by its ops, not from a section. */
    int store = d->kind == LR_PLUGIN_STORE;
    if ((!store && (!d->create || !d->destroy)) || !d->ops) {
        snprintf(err, errlen, "%s: plugin '%s' lacks %s", path, d->name,
                 !d->ops ? "ops" : !d->create ? "create" : "destroy");
        return LR_E_PLUGIN;
    }
    if (store)
        return check_store_ops(path, d, err, errlen);
    if (d->kind == LR_PLUGIN_PROVIDER)
        return check_provider_ops(path, d, err, errlen);
    return check_policy_ops(path, d, err, errlen);
}

static void copy_ops(struct lr_plugin *p)
{
    const struct lr_plugin_desc *d = p->desc;
    if (d->kind == LR_PLUGIN_STORE) {
        memcpy(&p->store_ops, d->ops, sizeof p->store_ops);
        return;
    }
    if (d->kind == LR_PLUGIN_PROVIDER) {
        memcpy(&p->provider_ops, d->ops, sizeof p->provider_ops);
        return;
    }
    size_t n = d->abi_minor >= 1 ? sizeof p->policy_ops
                                 : LR_POLICY_OPS_V1_SIZE;
    if (n > d->ops_size)
        n = d->ops_size;
    memcpy(&p->policy_ops, d->ops, n);
    if (p->policy_ops.n_target_keys && !p->policy_ops.target_keys)
        p->policy_ops.n_target_keys = 0;
}

int lr_plugin_open(const char *path, enum lr_plugin_kind want_kind,
                   const char *want_name, struct lr_plugin **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (check_trust(path, err, errlen) != LR_OK)
        return LR_E_PLUGIN;
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s: cannot load: %s", path,
                 why ? why : "unknown dlopen error");
        return LR_E_PLUGIN;
    }
    /* ISO C has no cast from void * to a function pointer; copying the
       bytes is the portable way to use a dlsym() result. */
    lr_plugin_entry_fn entry;
    void *sym = dlsym(dl, LR_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    const struct lr_plugin_desc *d = entry ? entry() : NULL;
    int rc = LR_OK;
    if (!entry) {
        snprintf(err, errlen, "%s: no %s symbol (not an llmroute plugin?)",
                 path, LR_PLUGIN_ENTRY_SYMBOL);
        rc = LR_E_PLUGIN;
    }
    else if (!d) {
        snprintf(err, errlen, "%s: %s returned NULL", path,
                 LR_PLUGIN_ENTRY_SYMBOL);
        rc = LR_E_PLUGIN;
    }
    else
        rc = check_desc(path, d, want_kind, want_name, err, errlen);
    struct lr_plugin *p = rc == LR_OK ? calloc(1, sizeof *p) : NULL;
    if (p && !(p->path = strdup(path))) {
        free(p);
        p = NULL;
    }
    if (!p) {
        if (rc == LR_OK) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = LR_E_NOMEM;
        }
        dlclose(dl);
        return rc;
    }
    p->dl = dl;
    p->desc = d;
    copy_ops(p);
    *out = p;
    return LR_OK;
}

void lr_plugin_close(struct lr_plugin *p)
{
    if (!p)
        return;
    dlclose(p->dl);
    free(p->path);
    free(p);
}
