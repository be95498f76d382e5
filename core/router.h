/*
 * router.h - the router's internal model: targets, policy instances, the
 * plugins they came from, the store, metrics and the engine.  Built once
 * by lr_router_build() from a parsed config and read-only afterwards
 * (mutable state lives in the store, the metrics and the engine).
 */
#ifndef LR_CORE_ROUTER_H
#define LR_CORE_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "host.h"
#include "llmroute.h"
#include "llmroute_plugin.h"
#include "plugin_load.h"
#include "store.h"

struct lr_metrics;
struct lr_engine;
struct lr_loop;
struct lr_call;

/* One API key of a target: the variable's name may be logged, the value
   never. */
struct lr_key {
    char *var;
    char *value;
};

struct lr_target {
    char *name;
    struct lr_section *sec;
    struct lr_plugin *plugin;          /* borrowed from router->plugins */
    const struct lr_provider_ops *ops;
    void *inst;
    struct lr_host_impl *host;
    const char *model;                 /* point into sec */
    char *base_url;                    /* trailing '/' removed */
    struct lr_key *keys;               /* api_key_env or api_keys_env */
    size_t n_keys;                     /* 0: keyless (local servers) */
    atomic_size_t key_rr;              /* round-robin start */
    int64_t key_cooloff_ms;            /* quota_exhausted, no hint */
    double in_usd_per_mtok, out_usd_per_mtok;
    int64_t timeout_ms;                /* per attempt; 0: none */
    int64_t connect_timeout_ms;
    int64_t default_max_tokens;        /* 0: leave unset */
    int tls_insecure;                  /* tls_verify = false (warned); 0,
                                          the zero value, verifies */
};

struct lr_policy_inst {
    char *name;
    struct lr_section *sec;
    struct lr_plugin *plugin;
    const struct lr_policy_ops *ops;
    void *inst;
    struct lr_host_impl *host;
};

struct lr_router {
    struct lr_config *cfg;
    const struct lr_clock *clock;
    struct lr_store *store;
    struct lr_plugin **plugins;
    size_t n_plugins;
    struct lr_target *targets;         /* in [router] targets order */
    size_t n_targets;
    struct lr_policy_inst *policies;   /* in pipeline order */
    size_t n_policies;
    char *plugin_dir;
    int64_t timeout_ms;                /* whole request */
    int64_t max_wait_ms;               /* longest core cooldown wait */
    int64_t max_attempts;
    int64_t max_response_bytes;
    FILE *request_log;
    int log_content;
    struct lr_metrics *metrics;
    struct lr_engine *engine;

    /* Requests run on the engine thread and on the threads of blocking
       calls (blocking.h) at the same time.  Lock order: hook_mu, then
       the store's and the metrics' own locks; calls_mu is never held
       while another lock is taken. */
    pthread_mutex_t hook_mu;           /* around every policy hook call */
    atomic_uint_least64_t last_id;     /* request ids: 1, 2, ... */
    pthread_mutex_t calls_mu;          /* guards the fields below */
    pthread_cond_t calls_cv;           /* n_calls reached 0 (closing) */
    struct lr_loop *idle_loops;        /* loops of finished calls */
    struct lr_call *calls;             /* blocking calls in flight */
    size_t n_calls;
    int closing;                       /* lr_close has begun */
};

/* A new request id, unique in the router. */
static inline uint64_t lr_router_new_id(struct lr_router *r)
{
    return (uint64_t)atomic_fetch_add(&r->last_id, 1) + 1;
}

static inline uint64_t lr_router_last_id(struct lr_router *r)
{
    return (uint64_t)atomic_load(&r->last_id);
}

/* Policy hooks of one router never run at the same time (their state
   needs no lock): every call into one holds hook_mu.  A router without
   policies has no hook to call. */
static inline void lr_router_hooks_lock(struct lr_router *r)
{
    pthread_mutex_lock(&r->hook_mu);
}

static inline void lr_router_hooks_unlock(struct lr_router *r)
{
    pthread_mutex_unlock(&r->hook_mu);
}

/* Load everything the config names, with the given clock.  On error NULL
   and "FILE:LINE: message" in err. */
struct lr_router *lr_router_build(struct lr_config *cfg,
                                  const struct lr_clock *clock,
                                  char *err, size_t errlen);
/* Destroy instances, unload plugins, free (engine must be stopped). */
void lr_router_free(struct lr_router *r);

struct lr_target *lr_router_target(const struct lr_router *r,
                                   const char *name);

/* Open from a file with an injected clock (tests, simulation); lr_open()
   is this with the real clock. */
struct lr_router *lr_router_open_clock(const char *ini_path,
                                       const struct lr_clock *clock,
                                       char *err, size_t errlen);

#endif
