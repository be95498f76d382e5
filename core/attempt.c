/*
 * attempt.c - one attempt: gatekeeping, sending, and recording.  The
 * classification of a finished transfer lives in outcome.c.
 */
#include "attempt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cnum.h"
#include "key_pool.h"
#include "log.h"
#include "router.h"
#include "status.h"
#include "utf8.h"

static int64_t now(const struct lr_job *job)
{
    return lr_clock_now(job->rt->clock);
}

static const char *cur_target(const struct lr_job *job)
{
    return job->cands.names[job->cand_idx];
}

/* A new attempt record carrying any wait that led to it. */
static struct lr_attempt_rec *record_attempt(struct lr_job *job)
{
    struct lr_attempt_rec *a = lr_response_add_attempt(job->resp,
                                                       cur_target(job));
    if (!a)
        return NULL;
    if (job->wait_reason) {
        a->waited_ms = now(job) - job->wait_from;
        a->wait_reason = job->wait_reason;
        job->wait_reason = NULL;
    }
    return a;
}

static enum lr_attempt_state skip(struct lr_job *job, const char *who,
                                  const char *why)
{
    struct lr_attempt_rec *a = record_attempt(job);
    if (a && asprintf(&a->skipped, "%s: %s", who, why) < 0)
        a->skipped = NULL;
    lr_log(LR_LOG_DEBUG, "request %" PRIu64 ": skipped %s (%s: %s)",
           job->id, cur_target(job), who, why);
    return LR_ATTEMPT_SKIPPED;
}

int64_t lr_attempt_cooldown_left(struct lr_job *job, const char *target,
                                 char *cls, size_t clslen)
{
    /* Per attempt: no snprintf for a constant prefix. */
    char key[300] = "cooldown/";
    size_t tn = strlen(target);
    if (tn > sizeof key - 10)
        tn = sizeof key - 10;
    memcpy(key + 9, target, tn);
    key[9 + tn] = '\0';
    struct lr_buf v = {0};
    int64_t left = 0;
    struct lr_store *s = job->rt->store;
    if (s->ops->get(s, key, &v) == LR_OK) {
        char name[48] = "";
        long long until = 0;
        if (sscanf(lr_buf_str(&v), "%lld %47s", &until, name) >= 1)
            left = (int64_t)until - lr_clock_wall(job->rt->clock);
        if (cls)
            snprintf(cls, clslen, "%s", name);
    }
    lr_buf_free(&v);
    return left > 0 ? left : 0;
}

void lr_attempt_policy_view(const struct lr_job *job,
                            struct lr_policy_attempt *a)
{
    memset(a, 0, sizeof *a);
    a->target = cur_target(job);
    a->index = (int)job->attempts;
    a->tries_on_target = job->tries[job->cand_idx];
    a->error = LR_OK;
    a->retry_after_ms = -1;
    a->should_retry = -1;
    a->key_id = job->key_id;
    a->est_prompt_tokens = job->est_prompt_tokens;
    const struct lr_target *t = lr_router_target(job->rt, cur_target(job));
    a->max_tokens = job->chat.max_tokens ? job->chat.max_tokens
                    : t ? t->default_max_tokens : 0;
    a->candidates_left = (int)(job->cands.n - job->cand_idx - 1);
    a->rl_remaining_requests = a->rl_remaining_tokens = -1;
    a->rl_reset_requests_ms = a->rl_reset_tokens_ms = -1;
}

enum lr_attempt_state lr_attempt_rejected(struct lr_job *job)
{
    struct lr_req_ctx *c = &job->ctx;
    c->phase = LR_PHASE_OTHER;
    job->resp->retry_after_ms = c->reject_hint;
    lr_job_abort(job, c->reject_status, c->reject_msg);
    return LR_ATTEMPT_FINISHED;
}

/* Core cooldown, then each policy's before_attempt. */
static enum lr_attempt_state gate(struct lr_job *job)
{
    char cls[48], why[256];
    int64_t left = lr_attempt_cooldown_left(job, cur_target(job), cls,
                                            sizeof cls);
    /* A retry a policy asked for waited out the hint already: the
       cooldown that same hint set must not turn it into a skip. */
    int asked = job->retry_asked;
    job->retry_asked = 0;
    if (left > 0 && !asked && job->deferred[job->cand_idx] != -1) {
        job->deferred[job->cand_idx] = 1;
        snprintf(why, sizeof why, "cooldown after %s, %" PRId64 " ms left",
                 cls[0] ? cls : "an error", left);
        return skip(job, "core", why);
    }
    struct lr_target *t = lr_router_target(job->rt, cur_target(job));
    if (lr_key_pick(job->rt, t, &job->key_idx, why, sizeof why) != LR_OK)
        return skip(job, "core", why);
    lr_key_id(t, job->key_idx, job->key_id, sizeof job->key_id);
    struct lr_policy_attempt pa;
    lr_attempt_policy_view(job, &pa);
    job->ctx.phase = LR_PHASE_ATTEMPT;
    for (size_t i = 0; i < job->rt->n_policies; i++) {
        const struct lr_policy_inst *p = &job->rt->policies[i];
        if (!p->ops->before_attempt)
            continue;
        int64_t wait = 0;
        why[0] = '\0';
        lr_router_hooks_lock(job->rt);
        enum lr_verdict v = p->ops->before_attempt(p->inst, &job->ctx.preq,
            job->pstate[i], &pa, &wait, why, sizeof why);
        lr_router_hooks_unlock(job->rt);
        if (job->ctx.rejected)
            return lr_attempt_rejected(job);
        if (v != LR_GO)
            job->ctx.phase = LR_PHASE_OTHER;
        if (v == LR_SKIP)
            return skip(job, p->name, why[0] ? why : "skipped");
        if (v != LR_WAIT)
            continue;
        char reason[300];
        snprintf(reason, sizeof reason, "%s: %s", p->name,
                 why[0] ? why : "wait");
        if (wait < 0 || now(job) + wait >= job->deadline_ms) {
            snprintf(why, sizeof why, "wait of %" PRId64 " ms would pass "
                     "the request deadline", wait);
            return skip(job, p->name, why);
        }
        return lr_job_wait(job, wait, reason) == LR_OK ? LR_ATTEMPT_WAITING
                                                       : LR_ATTEMPT_SKIPPED;
    }
    job->ctx.phase = LR_PHASE_OTHER;
    return LR_ATTEMPT_SENT;
}

static int build(struct lr_job *job, struct lr_target *t, char *err,
                 size_t errlen)
{
    const char *key = job->key_idx == LR_NO_KEY ? ""
                                                : t->keys[job->key_idx].value;
    struct lr_target_info ti = {t->name, t->model, t->base_url, key,
                                t->sec};
    struct lr_chat chat = job->chat;
    chat.stream = job->on_delta && t->ops->stream_event;
    if (!chat.max_tokens)
        chat.max_tokens = t->default_max_tokens;
    lr_result_init(&job->xfer.result);
    job->xfer.want_stream = chat.stream;
    err[0] = '\0';
    /* A provider built before ABI 1.3 would drop the format unseen. */
    if (chat.response_format_json && t->plugin &&
        t->plugin->desc->abi_minor < 3) {
        snprintf(err, errlen, "provider %s (plugin ABI %u.%u) cannot honour "
                 "response_format", t->plugin->desc->name,
                 (unsigned)t->plugin->desc->abi_major,
                 (unsigned)t->plugin->desc->abi_minor);
        return LR_E_PLUGIN;
    }
    locale_t loc = lr_cnum_enter();
    int rc = t->ops->build_request(t->inst, &ti, &chat, &job->xfer.hreq,
                                   err, errlen);
    if (rc == LR_OK && chat.stream && t->ops->stream_begin) {
        rc = t->ops->stream_begin(t->inst, &job->xfer.pstate);
        job->xfer.pstate_live = rc == LR_OK;
    }
    else if (rc == LR_OK && chat.stream)
        job->xfer.pstate_live = 1;
    lr_cnum_leave(loc);
    if (rc == LR_OK && !job->xfer.hreq.url.len)
        rc = LR_E_PLUGIN;
    if (rc != LR_OK && !err[0])
        snprintf(err, errlen, "provider could not build the request");
    return rc;
}

static int xfer_delta(void *ud, const char *text, size_t len)
{
    struct lr_job *job = ud;
    /* The model as take_answer() will record it: the upstream's (read
       from the stream's first event), else the configured one. */
    struct lr_buf *m = &job->xfer.result.model;
    if (m->len)
        lr_utf8_scrub(m);
    return lr_job_deliver(job, m->len ? lr_buf_str(m)
                                      : job->xfer.target->model,
                          text, len);
}

static enum lr_attempt_state send_attempt(struct lr_job *job)
{
    struct lr_target *t = lr_router_target(job->rt, cur_target(job));
    char err[256];
    job->xfer.target = t;
    if (build(job, t, err, sizeof err) != LR_OK) {
        lr_transfer_reset(&job->xfer);
        return skip(job, "core", err);
    }
    int64_t room = job->deadline_ms - now(job);
    int64_t tmo = t->timeout_ms && t->timeout_ms < room ? t->timeout_ms
                                                        : room;
    job->xfer.job = job;
    job->xfer.on_delta = job->on_delta ? xfer_delta : NULL;
    if (lr_transfer_setup(&job->xfer, job->loop, t, job->key_idx,
                          tmo > 0 ? tmo : 1,
                          (size_t)job->rt->max_response_bytes, err,
                          sizeof err) != LR_OK ||
        curl_multi_add_handle(job->loop->multi, job->xfer.easy) != CURLM_OK) {
        lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
        lr_job_abort(job, LR_E_NOMEM, err);
        return LR_ATTEMPT_FINISHED;
    }
    struct lr_attempt_rec *rec = record_attempt(job);
    if (!rec) {
        lr_attempt_cancel(job);
        lr_job_abort(job, LR_E_NOMEM, NULL);
        return LR_ATTEMPT_FINISHED;
    }
    if (t->n_keys > 1)
        rec->key_var = strdup(t->keys[job->key_idx].var);
    lr_key_used(job->rt, t, job->key_idx);
    job->in_flight = 1;
    job->sent_at = now(job);
    job->attempts++;
    job->tries[job->cand_idx]++;
    return LR_ATTEMPT_SENT;
}

enum lr_attempt_state lr_attempt_begin(struct lr_job *job)
{
    enum lr_attempt_state st = gate(job);
    if (st != LR_ATTEMPT_SENT)
        return st;
    return send_attempt(job);
}

void lr_attempt_cancel(struct lr_job *job)
{
    if (!job->xfer.easy && !job->xfer.target)
        return;
    if (job->in_flight)
        curl_multi_remove_handle(job->loop->multi, job->xfer.easy);
    job->in_flight = 0;
    lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
}

void lr_attempt_summary(const struct lr_job *job,
                        struct lr_policy_attempt *out)
{
    memset(out, 0, sizeof *out);
    out->retry_after_ms = -1;
    out->should_retry = -1;
    out->key_id = job->key_id;
    out->est_prompt_tokens = job->est_prompt_tokens;
    out->rl_remaining_requests = out->rl_remaining_tokens = -1;
    out->rl_reset_requests_ms = out->rl_reset_tokens_ms = -1;
    const struct lr_response *r = job->resp;
    out->error = r->status;
    out->prompt_tokens = r->prompt_tokens;
    out->completion_tokens = r->completion_tokens;
    out->cost_usd = r->cost_usd;
    out->index = r->n_attempts ? (int)r->n_attempts - 1 : 0;
    if (!r->n_attempts)
        return;
    const struct lr_attempt_rec *a = &r->attempts[r->n_attempts - 1];
    out->target = a->target;
    out->http_status = a->http_status;
    out->retry_after_ms = a->retry_after_ms;
    out->latency_ms = a->latency_ms;
}
