/*
 * router_load.c - turns a parsed config into a router: validates
 * [router], loads each provider and policy plugin once, validates every
 * [target] and [policy] section against the core's and the plugin's key
 * tables, resolves API keys from the environment and creates the plugin
 * instances.  Every mistake is reported as FILE:LINE: message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key_pool.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "secrets.h"
#include "url.h"

#ifndef LR_DEFAULT_PLUGIN_DIR
#define LR_DEFAULT_PLUGIN_DIR "/usr/local/lib/llmroute/plugins"
#endif

static const struct lr_cfg_key router_keys[] = {
    {"plugin_dir", LR_CFG_STRING, NULL,
     "folder of plugin .so files (relative: to this INI file); default "
     "$LLMROUTE_PLUGIN_DIR, else the installed folder"},
    {"pipeline", LR_CFG_LIST, "", "policy instances, in order"},
    {"targets", LR_CFG_LIST, NULL,
     "default target order (default: file order)"},
    {"store", LR_CFG_STRING, "memory",
     "memory, or NAME:ARG for a store plugin (sqlite:PATH)"},
    {"request_log", LR_CFG_STRING, NULL, "JSONL file, one line a request"},
    {"log_content", LR_CFG_BOOL, "false",
     "put prompts and answers in the request log"},
    {"timeout_ms", LR_CFG_INT, "60000", "whole-request deadline"},
    {"max_wait_ms", LR_CFG_INT, "30000",
     "longest wait for a cooling-down target"},
    {"max_attempts", LR_CFG_INT, "10", "attempts per request, all targets"},
    {"max_response_bytes", LR_CFG_INT, "16777216",
     "largest upstream body accepted, streamed or not"},
};

static const struct lr_cfg_key target_keys[] = {
    {"provider", LR_CFG_STRING, NULL, "provider plugin name"},
    {"model", LR_CFG_STRING, NULL, "model name sent upstream"},
    {"base_url", LR_CFG_STRING, NULL, "endpoint (default: provider's)"},
    {"api_key_env", LR_CFG_STRING, NULL, "environment variable of the key"},
    {"api_keys_env", LR_CFG_LIST, NULL,
     "environment variables of a pool of keys"},
    {"key_cooloff_ms", LR_CFG_INT, "3600000",
     "how long a key out of quota rests when the provider gives no hint"},
    {"input_usd_per_mtok", LR_CFG_DOUBLE, "0", "price of 1M prompt tokens"},
    {"output_usd_per_mtok", LR_CFG_DOUBLE, "0",
     "price of 1M completion tokens"},
    {"timeout_ms", LR_CFG_INT, "0", "per-attempt timeout (0: none)"},
    {"connect_timeout_ms", LR_CFG_INT, "10000", "TCP+TLS connect timeout"},
    {"max_tokens", LR_CFG_INT, "0",
     "max tokens when the request sets none (0: provider default)"},
    {"tls_verify", LR_CFG_BOOL, "true",
     "check the server's TLS certificate and host name (false: warned)"},
};

static const struct lr_cfg_key policy_keys[] = {
    {"plugin", LR_CFG_STRING, NULL, "policy plugin name"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int require(const struct lr_section *s, const char *key,
                   const char **out, char *err, size_t errlen)
{
    if (lr_cfg_str(s, key, out) == LR_OK && **out)
        return LR_OK;
    return lr_section_fail(s, NULL, err, errlen, "[%s %s] needs %s = ...",
                           s->kind == LR_SEC_TARGET ? "target" : "policy",
                           s->name, key);
}

static int check_kind(const struct lr_section *s, const char *key,
                      const struct lr_plugin *p, enum lr_plugin_kind kind,
                      char *err, size_t errlen)
{
    if (p->desc->kind == kind)
        return LR_OK;
    return lr_section_fail(s, key, err, errlen, "plugin '%s' is a %s, not a %s",
                           p->desc->name, lr_plugin_kind_name(p->desc->kind),
                           lr_plugin_kind_name(kind));
}

static int load_plugin(struct lr_router *r, const struct lr_section *s,
                       const char *key, const char *name,
                       enum lr_plugin_kind kind, struct lr_plugin **out,
                       char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_plugins; i++) {
        if (strcmp(r->plugins[i]->desc->name, name) != 0)
            continue;
        *out = r->plugins[i];
        return check_kind(s, key, *out, kind, err, errlen);
    }
    if (strpbrk(name, "/.") || !*name)
        return lr_section_fail(s, key, err, errlen, "bad plugin name '%s'",
                               name);
    char path[4096], why[1024];
    snprintf(path, sizeof path, "%s/%s.so", r->plugin_dir, name);
    struct lr_plugin **v = realloc(r->plugins,
                                   (r->n_plugins + 1) * sizeof *v);
    if (!v)
        return lr_section_fail(s, key, err, errlen, "out of memory");
    r->plugins = v;
    if (lr_plugin_open(path, 0, name, out, why, sizeof why) != LR_OK)
        return lr_section_fail(s, key, err, errlen, "%s plugin '%s': %s",
                               lr_plugin_kind_name(kind), name, why);
    r->plugins[r->n_plugins++] = *out;
    return check_kind(s, key, *out, kind, err, errlen);
}

static int create_instance(struct lr_router *r, const struct lr_section *s,
                           struct lr_plugin *p, const char *kind_word,
                           struct lr_host_impl **host, void **inst,
                           char *err, size_t errlen)
{
    *host = lr_host_new(r, kind_word, s->name);
    if (!*host)
        return lr_section_fail(s, NULL, err, errlen, "out of memory");
    char why[512] = "";
    if (p->desc->create(s, &(*host)->pub, inst, why, sizeof why) == LR_OK)
        return LR_OK;
    *inst = NULL; /* a failed create owns nothing we may destroy */
    const char *colon = strstr(why, ": ");
    char key[128] = "";
    if (colon && (size_t)(colon - why) < sizeof key) {
        memcpy(key, why, (size_t)(colon - why));
        key[colon - why] = '\0';
    }
    return lr_section_fail(s, lr_section_kv(s, key) ? key : NULL, err, errlen,
                           "[%s %s] (plugin %s): %s", kind_word, s->name,
                           p->desc->name, why[0] ? why : "create failed");
}

/* Whether url is http:// to this machine (localhost, 127.x, [::1]):
   the one place a key may travel unencrypted without anyone reading it
   on the way. */
static int http_to_loopback(const char *url)
{
    const char *h = url + 7;                      /* after "http://" */
    size_t n = strcspn(h, ":/?#");
    if (*h == '[')
        return strncmp(h, "[::1]", 5) == 0;
    return (n == 9 && strncmp(h, "localhost", 9) == 0) ||
           strncmp(h, "127.", 4) == 0;
}

/* A key sent in clear over the network is as good as published: say so
   at every load, as for tls_verify = false. */
static void warn_clear_text(const struct lr_target *t)
{
    if (!t->n_keys || strncmp(t->base_url, "http://", 7) != 0 ||
        http_to_loopback(t->base_url))
        return;
    char where[600], url[1024];
    lr_section_where(t->sec, "base_url", where, sizeof where);
    lr_log(LR_LOG_WARN, "%s[target %s] base_url %s is plain http:// to "
           "another machine: this target's API key and answers cross the "
           "network unencrypted (use https://)", where, t->name,
           lr_url_redact(t->base_url, url, sizeof url));
}

static int target_settings(struct lr_target *t, char *err, size_t errlen)
{
    const char *url = NULL;
    if (lr_cfg_str(t->sec, "base_url", &url) != LR_OK)
        url = t->ops->default_base_url;
    char shown[1024];
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return lr_section_fail(t->sec, "base_url", err, errlen, "base_url must "
                               "start with http:// or https://, got '%s'",
                               lr_url_redact(url, shown, sizeof shown));
    t->base_url = strdup(url);
    if (!t->base_url)
        return LR_E_NOMEM;
    size_t n = strlen(t->base_url);
    while (n && t->base_url[n - 1] == '/')
        t->base_url[--n] = '\0';
    lr_cfg_double(t->sec, "input_usd_per_mtok", &t->in_usd_per_mtok);
    lr_cfg_double(t->sec, "output_usd_per_mtok", &t->out_usd_per_mtok);
    lr_cfg_int(t->sec, "timeout_ms", &t->timeout_ms);
    lr_cfg_int(t->sec, "connect_timeout_ms", &t->connect_timeout_ms);
    lr_cfg_int(t->sec, "max_tokens", &t->default_max_tokens);
    int verify = 1;
    lr_cfg_bool(t->sec, "tls_verify", &verify);
    t->tls_insecure = !verify;
    if (t->tls_insecure) {
        char where[600];
        lr_section_where(t->sec, "tls_verify", where, sizeof where);
        lr_log(LR_LOG_WARN, "%s[target %s] tls_verify = false: the TLS "
               "certificate of %s is not checked, so anyone on the path "
               "can read this target's API key and answers", where,
               t->name, lr_url_redact(t->base_url, shown, sizeof shown));
    }
    if (t->in_usd_per_mtok < 0 || t->out_usd_per_mtok < 0 ||
        t->timeout_ms < 0 || t->connect_timeout_ms < 0 ||
        t->default_max_tokens < 0)
        return lr_section_fail(t->sec, NULL, err, errlen,
                               "[target %s]: prices, timeouts and "
                               "max_tokens may not be negative", t->name);
    int rc = lr_key_pool_load(t, err, errlen);
    if (rc == LR_OK)
        warn_clear_text(t);
    return rc;
}

/* The key tables a [target] section is checked against: the core's, its
   provider's, and the target keys of every policy in the pipeline. */
static int target_tables(const struct lr_router *r, const struct lr_target *t,
                         const struct lr_cfg_key ***tables, size_t **sizes,
                         size_t *n)
{
    *tables = calloc(r->n_policies + 2, sizeof **tables);
    *sizes = calloc(r->n_policies + 2, sizeof **sizes);
    if (!*tables || !*sizes)
        return LR_E_NOMEM;
    (*tables)[0] = target_keys;
    (*sizes)[0] = N(target_keys);
    (*tables)[1] = t->ops->target_keys;
    (*sizes)[1] = t->ops->n_target_keys;
    *n = 2;
    for (size_t i = 0; i < r->n_policies; i++) {
        const struct lr_policy_ops *ops = r->policies[i].ops;
        if (!ops->n_target_keys)
            continue;
        (*tables)[*n] = ops->target_keys;
        (*sizes)[(*n)++] = ops->n_target_keys;
    }
    return LR_OK;
}

static int build_target(struct lr_router *r, struct lr_section *s,
                        struct lr_target *t, char *err, size_t errlen)
{
    t->sec = s;
    if (!(t->name = strdup(s->name)))
        return LR_E_NOMEM;
    const char *prov;
    if (require(s, "provider", &prov, err, errlen) != LR_OK)
        return LR_E_CONFIG;
    if (load_plugin(r, s, "provider", prov, LR_PLUGIN_PROVIDER, &t->plugin,
                    err, errlen) != LR_OK)
        return LR_E_CONFIG;
    t->ops = &t->plugin->provider_ops;
    const struct lr_cfg_key **tables = NULL;
    size_t *sizes = NULL, n = 0;
    int rc = target_tables(r, t, &tables, &sizes, &n);
    if (rc == LR_OK)
        rc = lr_section_validate(s, tables, sizes, n, err, errlen);
    free(tables);
    free(sizes);
    if (rc != LR_OK)
        return rc;
    if (require(s, "model", &t->model, err, errlen) != LR_OK)
        return LR_E_CONFIG;
    rc = target_settings(t, err, errlen);
    if (rc != LR_OK)
        return rc;
    return create_instance(r, s, t->plugin, "target", &t->host, &t->inst,
                           err, errlen);
}

/* Targets in [router] targets order, then the rest in file order. */
static int order_targets(struct lr_router *r, struct lr_section *rs,
                         struct lr_section ***out, size_t *n, char *err,
                         size_t errlen)
{
    struct lr_config *c = r->cfg;
    struct lr_section **v = calloc(c->n_sections + 1, sizeof *v);
    if (!v)
        return LR_E_NOMEM;
    *out = v;
    *n = 0;
    const char *const *names;
    size_t nn = 0;
    if (lr_cfg_list(rs, "targets", &names, &nn) != LR_OK)
        nn = 0;
    for (size_t i = 0; i < nn; i++) {
        struct lr_section *s = lr_config_find(c, LR_SEC_TARGET, names[i]);
        if (!s)
            return lr_section_fail(rs, "targets", err, errlen, "targets: no "
                                   "[target %s] section", names[i]);
        for (size_t k = 0; k < *n; k++)
            if (v[k] == s)
                return lr_section_fail(rs, "targets", err, errlen,
                                       "targets: '%s' listed twice",
                                       names[i]);
        v[(*n)++] = s;
    }
    for (size_t i = 0; i < c->n_sections; i++) {
        struct lr_section *s = c->sections[i];
        int listed = 0;
        for (size_t k = 0; k < *n; k++)
            listed |= v[k] == s;
        if (s->kind == LR_SEC_TARGET && !listed)
            v[(*n)++] = s;
    }
    return LR_OK;
}

static int build_targets(struct lr_router *r, struct lr_section *rs,
                         char *err, size_t errlen)
{
    struct lr_section **order = NULL;
    size_t n = 0;
    int rc = order_targets(r, rs, &order, &n, err, errlen);
    if (rc == LR_OK && n == 0)
        rc = lr_section_fail(rs, NULL, err, errlen, "no [target NAME] section: "
                             "nothing to route to");
    if (rc == LR_OK && !(r->targets = calloc(n, sizeof *r->targets)))
        rc = LR_E_NOMEM;
    for (size_t i = 0; rc == LR_OK && i < n; i++) {
        r->n_targets = i + 1;
        rc = build_target(r, order[i], &r->targets[i], err, errlen);
    }
    free(order);
    return rc;
}

/* Load a pipeline entry's plugin and check its section; the instance is
   created later (create_policies), once the targets it may read exist. */
static int load_policy(struct lr_router *r, struct lr_section *rs,
                       const char *name, struct lr_policy_inst *p,
                       char *err, size_t errlen)
{
    struct lr_section *s = lr_config_find(r->cfg, LR_SEC_POLICY, name);
    if (!s)
        return lr_section_fail(rs, "pipeline", err, errlen,
                               "pipeline entry '%s' has no [policy %s] "
                               "section", name, name);
    for (size_t i = 0; i + 1 < r->n_policies; i++)
        if (r->policies[i].sec == s)
            return lr_section_fail(rs, "pipeline", err, errlen,
                                   "pipeline lists '%s' twice", name);
    p->sec = s;
    if (!(p->name = strdup(name)))
        return LR_E_NOMEM;
    const char *plugin;
    if (require(s, "plugin", &plugin, err, errlen) != LR_OK)
        return LR_E_CONFIG;
    if (load_plugin(r, s, "plugin", plugin, LR_PLUGIN_POLICY, &p->plugin,
                    err, errlen) != LR_OK)
        return LR_E_CONFIG;
    p->ops = &p->plugin->policy_ops;
    const struct lr_cfg_key *tables[] = {policy_keys, p->ops->keys};
    size_t sizes[] = {N(policy_keys), p->ops->n_keys};
    return lr_section_validate(s, tables, sizes, 2, err, errlen);
}

static int load_pipeline(struct lr_router *r, struct lr_section *rs,
                         char *err, size_t errlen)
{
    const char *const *names;
    size_t n = 0;
    lr_cfg_list(rs, "pipeline", &names, &n);
    if (n && !(r->policies = calloc(n, sizeof *r->policies)))
        return LR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        r->n_policies = i + 1;
        int rc = load_policy(r, rs, names[i], &r->policies[i], err,
                             errlen);
        if (rc != LR_OK)
            return rc;
    }
    for (size_t i = 0; i < r->cfg->n_sections; i++) {
        struct lr_section *s = r->cfg->sections[i];
        int used = 0;
        for (size_t k = 0; k < r->n_policies; k++)
            used |= r->policies[k].sec == s;
        if (s->kind == LR_SEC_POLICY && !used)
            lr_log(LR_LOG_WARN, "%s:%d: [policy %s] is not in the "
                   "pipeline; it is ignored", s->file, s->line, s->name);
    }
    return LR_OK;
}

/* A policy's check of its keys in every [target] section. */
static int check_targets(struct lr_router *r, const struct lr_policy_inst *p,
                         char *err, size_t errlen)
{
    for (size_t t = 0; p->ops->check_target && t < r->n_targets; t++) {
        const struct lr_section *s = r->targets[t].sec;
        char why[512] = "";
        if (p->ops->check_target(p->inst, s, why, sizeof why) == LR_OK)
            continue;
        const char *colon = strstr(why, ": ");
        char key[128] = "";
        if (colon && (size_t)(colon - why) < sizeof key) {
            memcpy(key, why, (size_t)(colon - why));
            key[colon - why] = '\0';
        }
        return lr_section_fail(s, lr_section_kv(s, key) ? key : NULL, err,
                               errlen, "[target %s] (read by policy %s): %s",
                               s->name, p->name, why[0] ? why : "refused");
    }
    return LR_OK;
}

static int create_policies(struct lr_router *r, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->n_policies; i++) {
        struct lr_policy_inst *p = &r->policies[i];
        int rc = create_instance(r, p->sec, p->plugin, "policy", &p->host,
                                 &p->inst, err, errlen);
        if (rc == LR_OK)
            rc = check_targets(r, p, err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    return LR_OK;
}

/* A config without [router] behaves as if it had an empty one. */
static struct lr_section *router_section(struct lr_config *c)
{
    struct lr_section *s = lr_config_find(c, LR_SEC_ROUTER, NULL);
    if (s)
        return s;
    struct lr_section **v = realloc(c->sections,
                                    (c->n_sections + 1) * sizeof *v);
    if (!v)
        return NULL;
    c->sections = v;
    s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup("router"))) {
        free(s);
        return NULL;
    }
    s->kind = LR_SEC_ROUTER;
    s->line = 1;
    s->file = c->path;
    v[c->n_sections++] = s;
    return s;
}

static char *resolve_path(const struct lr_config *c, const char *p)
{
    char *out;
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&out, "%s/%s", c->dir, p) < 0)
        return NULL;
    return out;
}

static int positive(struct lr_section *rs, const char *key, int64_t *out,
                    char *err, size_t errlen)
{
    lr_cfg_int(rs, key, out);
    if (*out > 0)
        return LR_OK;
    return lr_section_fail(rs, key, err, errlen, "%s must be above 0", key);
}

/* plugin_dir from the INI (relative to it), else $LLMROUTE_PLUGIN_DIR,
   else the folder `make install` put the plugins in. */
static char *plugin_dir_of(const struct lr_config *c,
                           const struct lr_section *rs)
{
    const char *v;
    if (lr_cfg_str(rs, "plugin_dir", &v) == LR_OK)
        return resolve_path(c, v);
    v = getenv("LLMROUTE_PLUGIN_DIR");
    return strdup(v && *v ? v : LR_DEFAULT_PLUGIN_DIR);
}

static int router_settings(struct lr_router *r, struct lr_section *rs,
                           char *err, size_t errlen)
{
    const struct lr_cfg_key *tables[] = {router_keys};
    size_t sizes[] = {N(router_keys)};
    if (lr_section_validate(rs, tables, sizes, 1, err, errlen) != LR_OK)
        return LR_E_CONFIG;
    const char *v;
    if (!(r->plugin_dir = plugin_dir_of(r->cfg, rs)))
        return LR_E_NOMEM;
    if (positive(rs, "timeout_ms", &r->timeout_ms, err, errlen) ||
        positive(rs, "max_attempts", &r->max_attempts, err, errlen) ||
        positive(rs, "max_response_bytes", &r->max_response_bytes, err,
                 errlen))
        return LR_E_CONFIG;
    lr_cfg_int(rs, "max_wait_ms", &r->max_wait_ms);
    if (r->max_wait_ms < 0)
        return lr_section_fail(rs, "max_wait_ms", err, errlen,
                               "max_wait_ms may not be negative");
    lr_cfg_bool(rs, "log_content", &r->log_content);
    lr_cfg_str(rs, "store", &v);
    char why[1536];
    struct lr_store_env env = {.clock = r->clock, .plugin_dir = r->plugin_dir,
                               .base_dir = r->cfg->dir,
                               .metrics = r->metrics};
    r->store = lr_store_open(v, &env, why, sizeof why);
    if (!r->store)
        return lr_section_fail(rs, "store", err, errlen, "store: %s", why);
    if (lr_cfg_str(rs, "request_log", &v) != LR_OK)
        return LR_OK;
    char *path = resolve_path(r->cfg, v);
    r->request_log = path ? fopen(path, "a") : NULL;
    int ok = r->request_log != NULL;
    free(path);
    if (!ok)
        return lr_section_fail(rs, "request_log", err, errlen,
                               "request_log: cannot open '%s' for appending",
                               v);
    return LR_OK;
}

struct lr_router *lr_router_build(struct lr_config *cfg,
                                  const struct lr_clock *clock,
                                  char *err, size_t errlen)
{
    struct lr_router *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        lr_config_free(cfg);
        return NULL;
    }
    r->cfg = cfg;
    r->clock = clock;
    pthread_mutex_init(&r->hook_mu, NULL);
    pthread_mutex_init(&r->calls_mu, NULL);
    pthread_cond_init(&r->calls_cv, NULL);
    err[0] = '\0';
    struct lr_section *rs = router_section(cfg);
    int rc = rs ? LR_OK : LR_E_NOMEM;
    if (rc == LR_OK && !(r->metrics = lr_metrics_new()))
        rc = LR_E_NOMEM;
    if (rc == LR_OK)
        rc = router_settings(r, rs, err, errlen);
    if (rc == LR_OK)
        rc = load_pipeline(r, rs, err, errlen);
    if (rc == LR_OK)
        rc = build_targets(r, rs, err, errlen);
    if (rc == LR_OK)
        rc = create_policies(r, err, errlen);
    if (rc != LR_OK) {
        if (!err[0])
            snprintf(err, errlen, "%s: %s", cfg->path, lr_strerror(rc));
        /* A plugin's create() message could quote its key; the keys are
           still registered until the free below. */
        lr_secrets_redact(err);
        lr_router_free(r);
        return NULL;
    }
    return r;
}

static void free_target(struct lr_target *t)
{
    if (t->inst)
        t->plugin->desc->destroy(t->inst);
    lr_host_free(t->host);
    free(t->name);
    free(t->base_url);
    lr_key_pool_free(t);
}

void lr_router_free(struct lr_router *r)
{
    if (!r)
        return;
    for (size_t i = r->n_policies; i-- > 0;) {
        struct lr_policy_inst *p = &r->policies[i];
        if (p->inst)
            p->plugin->desc->destroy(p->inst);
        lr_host_free(p->host);
        free(p->name);
    }
    free(r->policies);
    for (size_t i = 0; i < r->n_targets; i++)
        free_target(&r->targets[i]);
    free(r->targets);
    for (size_t i = 0; i < r->n_plugins; i++)
        lr_plugin_close(r->plugins[i]);
    free(r->plugins);
    if (r->store)
        lr_store_close(r->store);
    if (r->request_log)
        fclose(r->request_log);
    lr_metrics_free(r->metrics);
    free(r->plugin_dir);
    lr_config_free(r->cfg);
    pthread_cond_destroy(&r->calls_cv);
    pthread_mutex_destroy(&r->calls_mu);
    pthread_mutex_destroy(&r->hook_mu);
    free(r);
}

struct lr_target *lr_router_target(const struct lr_router *r,
                                   const char *name)
{
    for (size_t i = 0; i < r->n_targets; i++)
        if (strcmp(r->targets[i].name, name) == 0)
            return &r->targets[i];
    return NULL;
}

int lr_config_plugin_dir(const char *ini_path, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    if (!ini_path || !out || !outlen)
        return LR_E_INVALID_ARG;
    struct lr_config *cfg = lr_config_load(ini_path, err, errlen);
    if (!cfg)
        return LR_E_CONFIG;
    struct lr_section *rs = router_section(cfg);
    const struct lr_cfg_key *tables[] = {router_keys};
    size_t sizes[] = {N(router_keys)};
    int rc = rs ? lr_section_validate(rs, tables, sizes, 1, err, errlen)
                : LR_E_NOMEM;
    char *path = NULL;
    if (rc == LR_OK && (path = plugin_dir_of(cfg, rs)))
        snprintf(out, outlen, "%s", path);
    else if (rc == LR_OK)
        rc = LR_E_NOMEM;
    free(path);
    lr_config_free(cfg);
    return rc;
}
