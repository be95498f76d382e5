/*
 * req_ctx.c - the host calls of ABI 1.1 that act on one request: its
 * attributes, ending it from an attempt hook (req_reject), answering it
 * from on_request (req_respond) and reading the answer in on_complete
 * (req_result).  Each call checks the phase it is allowed in, so a policy
 * that calls one at the wrong time gets LR_E_INVALID_ARG and a log line
 * rather than a request in a state the job loop does not expect.
 */
#include "req_ctx.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "host.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "router.h"

static struct lr_req_ctx *ctx_of(const struct lr_policy_req *req)
{
    return (struct lr_req_ctx *)(void *)req;
}

static const struct lr_host_impl *impl(const struct lr_host *h)
{
    return (const struct lr_host_impl *)h;
}

void lr_req_ctx_init(struct lr_req_ctx *c, struct lr_router *rt,
                     struct lr_request *req, struct lr_response *resp,
                     uint64_t id, const struct lr_chat *chat)
{
    memset(c, 0, sizeof *c);
    c->rt = rt;
    c->req = req;
    c->resp = resp;
    c->preq.id = id;
    c->preq.chat = chat;
    c->preq.user = req->user;
    c->preq.conversation = req->conversation;
    c->preq.cache_bypass = req->cache_bypass;
    c->reject_hint = -1;
}

void lr_req_ctx_clear(struct lr_req_ctx *c)
{
    free(c->reject_msg);
    c->reject_msg = NULL;
}

const char *lr_host_req_get(const struct lr_host *h,
                            const struct lr_policy_req *req,
                            const char *key)
{
    (void)h;
    if (!req || !key)
        return NULL;
    return lr_attrs_get(&ctx_of(req)->req->attrs, key);
}

int lr_host_req_set(const struct lr_host *h, const struct lr_policy_req *req,
                    const char *key, const char *value)
{
    (void)h;
    if (!req || !key || !*key)
        return LR_E_INVALID_ARG;
    return lr_attrs_set(&ctx_of(req)->req->attrs, key, value);
}

static int misuse(const struct lr_host *h, const char *what,
                  const char *when)
{
    lr_log(LR_LOG_ERROR, "%s called %s outside %s; ignored",
           impl(h)->prefix, what, when);
    return LR_E_INVALID_ARG;
}

int lr_host_req_reject(const struct lr_host *h,
                       const struct lr_policy_req *req, enum lr_status st,
                       const char *msg, int64_t retry_after_ms)
{
    struct lr_req_ctx *c = ctx_of(req);
    if (!req || c->phase != LR_PHASE_ATTEMPT)
        return misuse(h, "req_reject", "before_attempt/after_attempt");
    if (st == LR_OK)
        return LR_E_INVALID_ARG;
    if (c->rejected)
        return LR_OK;               /* the first rejection stands */
    char *m = NULL;
    if (asprintf(&m, "%s: %s", impl(h)->name,
                 msg && *msg ? msg : lr_strerror((int)st)) < 0)
        return LR_E_NOMEM;
    c->rejected = 1;
    c->reject_status = st;
    c->reject_msg = m;
    c->reject_hint = retry_after_ms;
    return LR_OK;
}

int lr_host_req_respond(const struct lr_host *h,
                        const struct lr_policy_req *req, const char *target,
                        const struct lr_result *res)
{
    struct lr_req_ctx *c = ctx_of(req);
    if (!req || c->phase != LR_PHASE_ON_REQUEST || !c->resp)
        return misuse(h, "req_respond", "on_request");
    struct lr_target *t = target ? lr_router_target(c->rt, target) : NULL;
    if (!t || !res || res->error != LR_OK)
        return LR_E_INVALID_ARG;
    struct lr_response *r = c->resp;
    lr_buf_reset(&r->text);
    lr_buf_reset(&r->tool_calls_json);
    if (lr_buf_append(&r->text, res->text.data, res->text.len) != LR_OK ||
        lr_buf_append(&r->tool_calls_json, res->tool_calls_json.data,
                      res->tool_calls_json.len) != LR_OK ||
        lr_response_set_str(r, &r->target, t->name) != LR_OK ||
        lr_response_set_str(r, &r->provider, t->plugin->desc->name) ||
        lr_response_set_str(r, &r->model, res->model.len ? res->model.data
                                                         : t->model) ||
        lr_response_set_str(r, &r->served_by, impl(h)->name))
        return LR_E_NOMEM;
    r->finish = res->finish ? res->finish : LR_FINISH_STOP;
    r->prompt_tokens = res->prompt_tokens > 0 ? res->prompt_tokens : 0;
    r->completion_tokens = res->completion_tokens > 0
                               ? res->completion_tokens : 0;
    r->cached_tokens = r->reasoning_tokens = 0;
    r->cost_usd = 0;               /* nobody was paid for this answer */
    r->status = LR_OK;
    c->responded = 1;
    return LR_OK;
}

static struct lr_buf view_of(const char *s)
{
    struct lr_buf b = {(char *)(uintptr_t)(s ? s : ""), 0, 0};
    b.len = strlen(b.data);
    b.cap = b.len + 1;
    return b;
}

const struct lr_result *lr_host_req_result(const struct lr_host *h,
                                           const struct lr_policy_req *req)
{
    struct lr_req_ctx *c = ctx_of(req);
    if (!req || c->phase != LR_PHASE_COMPLETE || !c->resp) {
        misuse(h, "req_result", "on_complete");
        return NULL;
    }
    const struct lr_response *r = c->resp;
    if (r->status != LR_OK)
        return NULL;
    struct lr_result *v = &c->result_view;
    memset(v, 0, sizeof *v);
    v->error = LR_OK;
    v->retry_after_ms = -1;
    v->text = r->text.data ? r->text : view_of("");
    v->tool_calls_json = r->tool_calls_json.data ? r->tool_calls_json
                                                 : view_of("");
    v->model = view_of(r->model);
    v->request_id = view_of("");
    v->error_message = view_of("");
    v->finish = r->finish;
    v->prompt_tokens = r->prompt_tokens;
    v->completion_tokens = r->completion_tokens;
    v->cached_tokens = r->cached_tokens;
    v->reasoning_tokens = r->reasoning_tokens;
    v->rl_remaining_requests = v->rl_remaining_tokens = -1;
    v->rl_reset_requests_ms = v->rl_reset_tokens_ms = -1;
    return v;
}
