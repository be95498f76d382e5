/*
 * hookcheck.c - a policy fixture that notices policy hooks of one router
 * running at the same time.  Every hook marks itself inside the instance
 * with plain (unlocked) fields, yields the CPU a few times to widen the
 * window, and counts:
 *   hook_calls{all}       every hook call
 *   hook_overlaps{all}    a hook found another one of this instance
 *                         still inside (the core's hook mutex is missing)
 * No keys.  The core promises hooks never overlap, so the fields need no
 * lock; if that promise breaks, this fixture says so.
 */
#include <sched.h>
#include <stdlib.h>

#include "llmroute_plugin.h"

struct hookcheck {
    const struct lr_host *host;
    int inside;
};

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    (void)sec;
    (void)err;
    (void)errlen;
    struct hookcheck *p = calloc(1, sizeof *p);
    if (!p)
        return LR_E_NOMEM;
    p->host = host;
    *inst = p;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

static void visit(struct hookcheck *p)
{
    volatile int *inside = &p->inside;
    if (*inside)
        p->host->counter_add(p->host, "hook_overlaps", "all", 1);
    *inside = 1;
    for (int i = 0; i < 20; i++)
        sched_yield();
    *inside = 0;
    p->host->counter_add(p->host, "hook_calls", "all", 1);
}

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    (void)req;
    (void)state;
    (void)msg;
    (void)msglen;
    (void)retry_after_ms;
    visit(inst);
    return LR_OK;
}

static int route(void *inst, const struct lr_policy_req *req, void *state,
                 struct lr_candidates *c)
{
    (void)req;
    (void)state;
    (void)c;
    visit(inst);
    return LR_OK;
}

static enum lr_verdict before(void *inst, const struct lr_policy_req *req,
                              void *state,
                              const struct lr_policy_attempt *a,
                              int64_t *wait_ms, char *reason, size_t len)
{
    (void)req;
    (void)state;
    (void)a;
    (void)wait_ms;
    (void)reason;
    (void)len;
    visit(inst);
    return LR_GO;
}

static enum lr_next after(void *inst, const struct lr_policy_req *req,
                          void *state, const struct lr_policy_attempt *a,
                          int64_t *delay_ms, char *reason, size_t len)
{
    (void)req;
    (void)state;
    (void)a;
    (void)delay_ms;
    (void)reason;
    (void)len;
    visit(inst);
    return LR_NEXT_DEFAULT;
}

static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *state, const struct lr_policy_attempt *fin)
{
    (void)req;
    (void)state;
    (void)fin;
    visit(inst);
}

static const struct lr_policy_ops ops = {
    .on_request = on_request,
    .route = route,
    .before_attempt = before,
    .after_attempt = after,
    .on_complete = on_complete,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "hookcheck", LR_PLUGIN_POLICY, "1.0", create, destroy,
    &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
