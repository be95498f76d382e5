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

/* The candidate list policies edit in route().  Names are the router's
   own target names (struct lr_target.name), never copies: the router
   outlives every job, and a request with a handful of targets then costs
   no allocation (names points at inl until the list outgrows it). */
#define LR_CANDIDATES_INLINE 8
struct lr_candidates {
    const char **names;
    size_t n, cap;
    const char *inl[LR_CANDIDATES_INLINE];
    const struct lr_router *router;
    char err[160];                     /* set when cand_set was refused */
};

/* Append name, which must be a target name owned by the router. */
int lr_candidates_push(struct lr_candidates *c, const char *name);
void lr_candidates_clear(struct lr_candidates *c);

#endif
