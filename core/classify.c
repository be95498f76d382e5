/*
 * classify.c - lr_classify_json(): ask the pipeline how it would route a
 * request, without routing it.  The first policy with a classify op that
 * has an opinion answers (the complexity router).  Runs on the caller's
 * thread, under the router's hook mutex like every policy hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "req_ctx.h"
#include "request.h"
#include "router.h"

char *lr_classify_json(struct lr_router *r, const struct lr_request *req,
                       char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!r || !req) {
        snprintf(err, errlen, "no router or no request");
        return NULL;
    }
    if (req->n_msgs == 0) {
        snprintf(err, errlen, "request has no message");
        return NULL;
    }
    struct lr_request *copy = lr_request_clone(req);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct lr_chat chat;
    lr_request_chat(copy, &chat);
    struct lr_req_ctx ctx;
    lr_req_ctx_init(&ctx, r, copy, NULL, 0, &chat);
    struct lr_buf out = {0};
    char *json = NULL;
    int any = 0;
    for (size_t i = 0; i < r->n_policies && !json; i++) {
        const struct lr_policy_inst *p = &r->policies[i];
        if (!p->ops->classify)
            continue;
        any = 1;
        lr_buf_reset(&out);
        /* Like every hook: never at the same time as another one. */
        lr_router_hooks_lock(r);
        int rc = p->ops->classify(p->inst, &ctx.preq, &out);
        lr_router_hooks_unlock(r);
        if (rc == LR_OK && out.len)
            json = strdup(out.data);
        else if (rc != LR_E_NOT_FOUND) {
            snprintf(err, errlen, "policy %s could not classify: %s",
                     p->name, lr_strerror(rc));
            break;
        }
    }
    if (!json && !err[0])
        snprintf(err, errlen, any ? "no policy in the pipeline had an "
                 "opinion on this request" : "no policy in the pipeline "
                 "can classify requests (it needs a routing policy "
                 "with a classify op)");
    lr_buf_free(&out);
    lr_req_ctx_clear(&ctx);
    lr_request_free(copy);
    return json;
}
