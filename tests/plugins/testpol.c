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
 * ABI 1.1 behaviours:
 *   respond_text = T     on_request answers with T as target a (req_respond)
 *   reject_status = N    before_attempt ends the request with status N
 *                        (req_reject, message "testing reject", hint 777)
 *   set_tier = X         route() sets the request attribute "tier" to X
 *   classify_tier = X    the classify op answers {"tier":X,...}
 *   testpol_weight       a key this policy declares for [target] sections
 * It counts hook calls in the store (key "calls/<hook>") so tests can
 * check what ran, and records what it saw: "seen/tier_want" (attribute),
 * "seen/conversation", "seen/bypass", "seen/attempt" (key id, estimate,
 * max tokens, candidates left of the last before_attempt), "seen/rl" (the
 * rate-limit readings of the last after_attempt) and "seen/result" (the
 * answer text req_result gave on_complete).
 */
#include <stdio.h>
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
    {"respond_text", LR_CFG_STRING, NULL, "answer in on_request"},
    {"reject_status", LR_CFG_INT, "0", "reject in before_attempt"},
    {"set_tier", LR_CFG_STRING, NULL, "tier attribute to set"},
    {"classify_tier", LR_CFG_STRING, NULL, "classify answer"},
};

static const struct lr_cfg_key target_keys[] = {
    {"testpol_weight", LR_CFG_INT, "1", "a per-target key of testpol"},
};

static void seen(struct testpol *p, const char *what, const char *value)
{
    char key[64];
    snprintf(key, sizeof key, "seen/%s", what);
    p->host->store_set(p->host, key, value, strlen(value), 0);
}

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
    const char *want = p->host->req_get(p->host, req, "tier_want");
    seen(p, "tier_want", want ? want : "(none)");
    seen(p, "conversation", req->conversation ? req->conversation
                                              : "(none)");
    seen(p, "bypass", req->cache_bypass ? "1" : "0");
    const char *text = NULL;
    if (p->host->cfg_str(p->sec, "respond_text", &text) == LR_OK) {
        struct lr_result res = {0};
        res.error = LR_OK;
        res.finish = LR_FINISH_STOP;
        res.prompt_tokens = 5;
        res.completion_tokens = 6;
        p->host->buf_append(&res.text, text, strlen(text));
        int rc = p->host->req_respond(p->host, req, "a", &res);
        p->host->buf_free(&res.text);
        if (rc != LR_OK)
            return rc;
    }
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
    (void)state;
    count(p, "route");
    const char *tier = NULL;
    if (p->host->cfg_str(p->sec, "set_tier", &tier) == LR_OK)
        p->host->req_set(p->host, req, "tier", tier);
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
    count(p, "before_attempt");
    char line[256];
    snprintf(line, sizeof line, "key=%s est=%lld max=%lld left=%d",
             a->key_id, (long long)a->est_prompt_tokens,
             (long long)a->max_tokens, a->candidates_left);
    seen(p, "attempt", line);
    int64_t st = 0;
    p->host->cfg_int(p->sec, "reject_status", &st);
    if (st) {
        p->host->req_reject(p->host, req, (enum lr_status)st,
                            "testing reject", 777);
        return LR_GO;   /* ignored: the rejection wins */
    }
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
    char line[160];
    snprintf(line, sizeof line, "req=%lld tok=%lld reset=%lld/%lld "
             "cost=%.6f", (long long)a->rl_remaining_requests,
             (long long)a->rl_remaining_tokens,
             (long long)a->rl_reset_requests_ms,
             (long long)a->rl_reset_tokens_ms, a->cost_usd);
    seen(p, "rl", line);
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
    struct testpol *p = inst;
    (void)fin;
    count(p, "on_complete");
    const struct lr_result *res = p->host->req_result(p->host, req);
    seen(p, "result", res ? res->text.data : "(failed)");
    free(state);
}

static int classify(void *inst, const struct lr_policy_req *req,
                    struct lr_buf *json)
{
    struct testpol *p = inst;
    (void)req;
    const char *tier = NULL;
    if (p->host->cfg_str(p->sec, "classify_tier", &tier) != LR_OK)
        return LR_E_NOT_FOUND;
    return p->host->buf_printf(json, "{\"tier\":\"%s\",\"score\":1.5,"
                               "\"features\":{}}", tier);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .route = route,
    .before_attempt = before,
    .after_attempt = after,
    .on_complete = on_complete,
    .target_keys = target_keys,
    .n_target_keys = sizeof target_keys / sizeof target_keys[0],
    .classify = classify,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER, "testpol", LR_PLUGIN_POLICY, "1.0", create, destroy,
    &ops, sizeof ops};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
