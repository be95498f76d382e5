/*
 * api.c - the application API: open/close, blocking and asynchronous
 * calls, introspection.  lr_submit() goes to the engine thread;
 * lr_complete() and lr_stream() run on the caller's thread (blocking.h).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocking.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "response.h"
#include "router.h"
#include "url.h"

void lr_free(void *p)
{
    free(p);
}

struct lr_router *lr_router_open_clock(const char *ini_path,
                                       const struct lr_clock *clock,
                                       char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!ini_path) {
        snprintf(err, errlen, "lr_open: no INI path given");
        return NULL;
    }
    struct lr_config *cfg = lr_config_load(ini_path, err, errlen);
    if (!cfg)
        return NULL;
    struct lr_router *r = lr_router_build(cfg, clock, err, errlen);
    if (!r)
        return NULL;
    if (lr_engine_start(r, &r->engine, err, errlen) != LR_OK) {
        lr_router_free(r);
        return NULL;
    }
    return r;
}

struct lr_router *lr_open(const char *ini_path, char *err, size_t errlen)
{
    return lr_router_open_clock(ini_path, lr_clock_real(), err, errlen);
}

void lr_close(struct lr_router *r)
{
    if (!r)
        return;
    lr_blocking_close(r);
    lr_engine_stop(r->engine);
    r->engine = NULL;
    lr_router_free(r);
}

uint64_t lr_submit(struct lr_router *r, const struct lr_request *req,
                   lr_delta_fn on_delta, lr_done_fn on_done, void *user)
{
    if (!r || !req || !on_done)
        return 0;
    return lr_engine_submit(r->engine, req, on_delta, user, on_done, user);
}

int lr_cancel(struct lr_router *r, uint64_t id)
{
    if (!r)
        return LR_E_INVALID_ARG;
    if (lr_blocking_cancel(r, id) == LR_OK)
        return LR_OK;
    return lr_engine_cancel(r->engine, id);
}

int lr_watch_fd(struct lr_router *r, int fd, lr_watch_fn fn, void *user)
{
    if (!r || fd < 0 || !fn)
        return LR_E_INVALID_ARG;
    return lr_engine_watch(r->engine, fd, fn, user);
}

int lr_watch_wake(struct lr_router *r, int fd)
{
    if (!r)
        return LR_E_INVALID_ARG;
    return lr_engine_watch_wake(r->engine, fd);
}

int lr_unwatch_fd(struct lr_router *r, int fd)
{
    if (!r)
        return LR_E_INVALID_ARG;
    return lr_engine_unwatch(r->engine, fd);
}

int lr_stream(struct lr_router *r, const struct lr_request *req,
              lr_delta_fn on_delta, void *user, struct lr_response **out)
{
    if (out)
        *out = NULL;
    if (!r || !req || !out)
        return LR_E_INVALID_ARG;
    return lr_blocking_run(r, req, on_delta, user, out);
}

int lr_complete(struct lr_router *r, const struct lr_request *req,
                struct lr_response **out)
{
    return lr_stream(r, req, NULL, NULL, out);
}

char *lr_metrics_json(struct lr_router *r)
{
    return r ? lr_metrics_to_json(r->metrics) : NULL;
}

static cJSON *section_json(const struct lr_section *s)
{
    cJSON *o = cJSON_CreateObject();
    char url[1024];
    for (size_t i = 0; o && i < s->n_kv; i++) {
        const char *v = s->kv[i].value;
        if (strcmp(s->kv[i].key, "base_url") == 0)
            v = lr_url_redact(v, url, sizeof url);
        cJSON_AddStringToObject(o, s->kv[i].key, v);
    }
    return o;
}

static void describe_targets(cJSON *root, const struct lr_router *r)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "targets");
    for (size_t i = 0; arr && i < r->n_targets; i++) {
        const struct lr_target *t = &r->targets[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "provider", t->plugin->desc->name);
        cJSON_AddStringToObject(o, "model", t->model);
        char url[1024];
        cJSON_AddStringToObject(o, "base_url",
                                lr_url_redact(t->base_url, url, sizeof url));
        cJSON_AddBoolToObject(o, "api_key_set", t->n_keys > 0);
        cJSON_AddBoolToObject(o, "tls_verify", !t->tls_insecure);
        cJSON *keys = cJSON_AddArrayToObject(o, "api_key_vars");
        for (size_t k = 0; keys && k < t->n_keys; k++)
            cJSON_AddItemToArray(keys, cJSON_CreateString(t->keys[k].var));
        cJSON_AddNumberToObject(o, "input_usd_per_mtok", t->in_usd_per_mtok);
        cJSON_AddNumberToObject(o, "output_usd_per_mtok",
                                t->out_usd_per_mtok);
        /* The section holds the variable's name, never the key. */
        cJSON_AddItemToObject(o, "config", section_json(t->sec));
    }
}

char *lr_router_describe_json(struct lr_router *r)
{
    if (!r)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "config", r->cfg->path);
    cJSON_AddStringToObject(root, "plugin_dir", r->plugin_dir);
    cJSON_AddStringToObject(root, "store", r->store->spec);
    cJSON_AddNumberToObject(root, "timeout_ms", (double)r->timeout_ms);
    cJSON *pipe = cJSON_AddArrayToObject(root, "pipeline");
    for (size_t i = 0; pipe && i < r->n_policies; i++) {
        const struct lr_policy_inst *p = &r->policies[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(pipe, o);
        cJSON_AddStringToObject(o, "name", p->name);
        cJSON_AddStringToObject(o, "plugin", p->plugin->desc->name);
        cJSON_AddItemToObject(o, "config", section_json(p->sec));
    }
    describe_targets(root, r);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}
