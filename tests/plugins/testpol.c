/*
 * testpol.c - a policy fixture for engine tests.  Each key switches on
 * one behaviour, so a test can drive every hook of the pipeline:
 *   reject_user = U      on_request rejects user U (rate_limited_local,
 *                        retry hint 1234 ms)
 *   reverse = true       route() reverses the candidate list
 *   route_to = a, b      route() sets exactly these candidates
 *   skip_target = T      before_attempt skips T ("testing skip")
 *   wait_ms = N          before_attempt waits N ms once per request
 *   retry_delay_ms = N   after_attempt retries a failed target once after
 *                        N ms (-1: no opinion)
 *   fail_create = true   create() fails, pointing at this key
 * It counts hook calls in the store (key "calls/<hook>") so tests can
 * check what ran.
 */
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"

struct testpol {
    const struct lr_host *host;
    const struct lr_section *sec;
    const char *reject_user, *skip_target;
    int reverse;
    int64_t wait_ms, retry_delay_ms;
};

struct req_state {
    int waited;
};

static const struct lr_cfg_key keys[] = {
    {"reject_user", LR_CFG_STRING, NULL, "user to reject"},
    {"reverse", LR_CFG_BOOL, "false", "reverse candidates"},
    {"route_to", LR_CFG_LIST, NULL, "set candidates"},
    {"skip_target", LR_CFG_STRING, NULL, "target to skip"},
    {"wait_ms", LR_CFG_INT, "0", "wait once before the first attempt"},
    {"retry_delay_ms", LR_CFG_INT, "-1", "retry a failed target once"},
    {"fail_create", LR_CFG_BOOL, "false", "make create fail"},
};

static void count(struct testpol *p, const char *hook)
{
    char key[64] = "calls/";
    strncat(key, hook, sizeof key - 7);
    int64_t v;
    p->host->store_incr(p->host, key, 1, 0, &v);
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    int fail = 0;
    host->cfg_bool(sec, "fail_create", &fail);
    if (fail) {
        strncpy(err, "fail_create: asked to fail", errlen - 1);
        err[errlen - 1] = '\0';
        return LR_E_CONFIG;
    }
    struct testpol *p = calloc(1, sizeof *p);
    if (!p)
        return LR_E_NOMEM;
    p->host = host;
    p->sec = sec;
    host->cfg_str(sec, "reject_user", &p->reject_user);
    host->cfg_str(sec, "skip_target", &p->skip_target);
    host->cfg_bool(sec, "reverse", &p->reverse);
    host->cfg_int(sec, "wait_ms", &p->wait_ms);
    host->cfg_int(sec, "retry_delay_ms", &p->retry_delay_ms);
    *inst = p;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct testpol *p = inst;
    count(p, "on_request");
    if (p->reject_user && req->user && !strcmp(req->user, p->reject_user)) {
        strncpy(msg, "user is over the test limit", msglen - 1);
        msg[msglen - 1] = '\0';
        *retry_after_ms = 1234;
        return LR_E_RATE_LIMITED_LOCAL;
    }
    *state = calloc(1, sizeof(struct req_state));
    return *state ? LR_OK : LR_E_NOMEM;
}

static int route(void *inst, const struct lr_policy_req *req, void *state,
                 struct lr_candidates *c)
{
    struct testpol *p = inst;
    (void)req;
    (void)state;
    count(p, "route");
    const char *const *to;
    size_t n;
    if (p->host->cfg_list(p->sec, "route_to", &to, &n) == LR_OK)
        return p->host->cand_set(c, to, n);
    if (!p->reverse)
        return LR_OK;
    size_t k = p->host->cand_count(c);
    const char **v = calloc(k + 1, sizeof *v);
    if (!v)
        return LR_E_NOMEM;
    for (size_t i = 0; i < k; i++)
        v[i] = p->host->cand_get(c, k - 1 - i);
    int rc = p->host->cand_set(c, v, k);
    free(v);
    return rc;
}

static enum lr_verdict before(void *inst, const struct lr_policy_req *req,
                              void *state,
                              const struct lr_policy_attempt *a,
                              int64_t *wait_ms, char *reason, size_t len)
{
    struct testpol *p = inst;
    struct req_state *rs = state;
    (void)req;
    count(p, "before_attempt");
    if (p->skip_target && !strcmp(a->target, p->skip_target)) {
        strncpy(reason, "testing skip", len - 1);
        reason[len - 1] = '\0';
        return LR_SKIP;
    }
    if (p->wait_ms > 0 && !rs->waited) {
        rs->waited = 1;
        *wait_ms = p->wait_ms;
        strncpy(reason, "testing wait", len - 1);
        reason[len - 1] = '\0';
        return LR_WAIT;
    }
    return LR_GO;
}

static enum lr_next after(void *inst, const struct lr_policy_req *req,
                          void *state, const struct lr_policy_attempt *a,
                          int64_t *delay_ms, char *reason, size_t len)
{
    struct testpol *p = inst;
    (void)req;
    (void)state;
    count(p, "after_attempt");
    if (a->error == LR_OK || p->retry_delay_ms < 0 || a->tries_on_target > 1)
        return LR_NEXT_DEFAULT;
    *delay_ms = p->retry_delay_ms;
    strncpy(reason, "testing retry", len - 1);
    reason[len - 1] = '\0';
    return LR_NEXT_RETRY;
}

static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *state, const struct lr_policy_attempt *fin)
{
    (void)req;
    (void)fin;
    count(inst, "on_complete");
    free(state);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .route = route,
    .before_attempt = before,
    .after_attempt = after,
    .on_complete = on_complete,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "testpol", LR_PLUGIN_POLICY, "1.0", create, destroy,
    &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
