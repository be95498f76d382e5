/*
 * req_ctx.h - what the core keeps about a request for the host calls of
 * ABI 1.1 (request attributes, req_reject, req_respond, req_result).
 * Plugins hold a pointer to preq; the host gets back to the context from
 * it, which is why preq is the first member and every struct
 * lr_policy_req the core hands out lives in a struct lr_req_ctx.
 */
#ifndef LR_CORE_REQ_CTX_H
#define LR_CORE_REQ_CTX_H

#include "llmroute_plugin.h"

struct lr_request;
struct lr_response;
struct lr_router;

struct lr_req_ctx {
    struct lr_policy_req preq;     /* first: see above */
    struct lr_router *rt;
    struct lr_request *req;        /* owns the attributes */
    struct lr_response *resp;      /* NULL when only classifying */
    int phase;                     /* LR_PHASE_*: which host calls are
                                      allowed now */
    /* req_reject */
    int rejected;
    enum lr_status reject_status;
    char *reject_msg;
    int64_t reject_hint;
    /* req_respond */
    int responded;
    /* req_result: a view of resp, built on demand */
    struct lr_result result_view;
};

enum {
    LR_PHASE_OTHER = 0,
    LR_PHASE_ON_REQUEST = 1,
    LR_PHASE_ATTEMPT = 2,          /* before_attempt / after_attempt */
    LR_PHASE_COMPLETE = 3
};

void lr_req_ctx_init(struct lr_req_ctx *c, struct lr_router *rt,
                     struct lr_request *req, struct lr_response *resp,
                     uint64_t id, const struct lr_chat *chat);
void lr_req_ctx_clear(struct lr_req_ctx *c);

/* The host table's 1.1 request functions (host.c puts them in). */
const char *lr_host_req_get(const struct lr_host *h,
                            const struct lr_policy_req *req,
                            const char *key);
int lr_host_req_set(const struct lr_host *h, const struct lr_policy_req *req,
                    const char *key, const char *value);
int lr_host_req_reject(const struct lr_host *h,
                       const struct lr_policy_req *req, enum lr_status st,
                       const char *msg, int64_t retry_after_ms);
int lr_host_req_respond(const struct lr_host *h,
                        const struct lr_policy_req *req, const char *target,
                        const struct lr_result *res);
const struct lr_result *lr_host_req_result(const struct lr_host *h,
                                           const struct lr_policy_req *req);

#endif
