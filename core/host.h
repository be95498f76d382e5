/*
 * host.h - the struct lr_host table given to each plugin instance.  Each
 * instance gets its own copy so that log lines carry its name and store
 * keys its namespace; the public table is the first member, so the core
 * can get back to its context from the pointer a plugin hands back.
 */
#ifndef LR_CORE_HOST_H
#define LR_CORE_HOST_H

#include "llmroute_plugin.h"

struct lr_router;

struct lr_host_impl {
    struct lr_host pub;                /* first: plugins see only this */
    struct lr_router *router;
    char name[96];                     /* instance name: "budget" */
    char prefix[128];                  /* "[policy:budget]" */
    char ns[128];                      /* store namespace "policy/budget/" */
};

/* kind_word: "provider", "policy", "target"; name: instance name. */
struct lr_host_impl *lr_host_new(struct lr_router *r, const char *kind_word,
                                 const char *name);
void lr_host_free(struct lr_host_impl *h);

/* The candidate list policies edit in route(). */
struct lr_candidates {
    char **names;
    size_t n, cap;
    const struct lr_router *router;
    char err[160];                     /* set when cand_set was refused */
};

int lr_candidates_push(struct lr_candidates *c, const char *name);
void lr_candidates_clear(struct lr_candidates *c);

#endif
