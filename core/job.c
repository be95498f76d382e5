/*
 * job.c - a request's life on its loop (the engine thread's, or that of a
 * blocking call on the caller's thread).
 *
 * Invariants:
 *  - A job is touched only by the thread that drives its loop.
 *  - An asynchronous job is in exactly one place: the inbox, the
 *    engine's id table, or freed; a blocking one is owned by its caller.
 *    job_finish() is the only way out, and it runs the caller's on_done
 *    exactly once.
 *  - Every call into a policy hook holds the router's hook mutex.
 *  - At most one of {transfer in flight, wait timer armed} holds.
 *  - A target is tried once per request unless a policy asks for a
 *    retry; the loop over candidates is bounded by the candidate count
 *    and [router] max_attempts.
 *  - Cooldowns: a target that answered with a retry hint is skipped by
 *    later requests until the hint expires (state in the store, so
 *    several processes can share it); when every candidate was skipped
 *    that way, the request waits for the earliest one if the wait fits
 *    in max_wait_ms and the deadline.
 */
#include "job.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt.h"
#include "attrs.h"
#include "buf.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "secrets.h"
#include "status.h"

static void job_next(struct lr_job *job);

static int64_t now(const struct lr_job *job)
{
    return lr_clock_now(job->rt->clock);
}

static void on_deadline(struct lr_timer *t)
{
    struct lr_job *job = (struct lr_job *)((char *)t -
                         offsetof(struct lr_job, deadline_timer));
    char msg[96];
    snprintf(msg, sizeof msg, "request deadline of %" PRId64 " ms passed",
             job->deadline_ms - job->start_ms);
    lr_job_abort(job, LR_E_TIMEOUT, msg);
}

static void on_wait_done(struct lr_timer *t)
{
    struct lr_job *job = (struct lr_job *)((char *)t -
                         offsetof(struct lr_job, wait_timer));
    job->waiting = 0;
    job_next(job);
}

struct lr_job *lr_job_new(struct lr_router *rt, struct lr_loop *loop,
                          struct lr_engine *e, uint64_t id,
                          const struct lr_request *req, lr_delta_fn on_delta,
                          void *delta_user, lr_done_fn on_done, void *user)
{
    /* Spare jobs belong to the loop's thread: a request submitted from
       another thread to the engine gets a fresh one. */
    int own = !e || lr_engine_is_self(e);
    struct lr_job *job = own ? loop->spare_jobs : NULL;
    if (job) {
        /* Its transfer was reset and keeps its empty buffers. */
        struct lr_transfer kept = job->xfer;
        loop->spare_jobs = job->next;
        loop->n_spare_jobs--;
        memset(job, 0, sizeof *job);
        job->xfer = kept;
    } else if ((job = malloc(sizeof *job))) {
        memset(job, 0, sizeof *job);
    } else {
        return NULL;
    }
    job->loop = loop;
    job->eng = e;
    job->rt = rt;
    job->id = id;
    job->on_delta = on_delta;
    job->delta_user = delta_user;
    job->on_done = on_done;
    job->user = user;
    if (e)
        job->req = lr_request_clone(req);
    else if (lr_request_view(&job->view, req) == LR_OK)
        job->req = &job->view;
    else
        lr_request_view_free(&job->view);
    job->resp = lr_response_new(id);
    job->pstate = rt->n_policies + 1 <= LR_JOB_PSTATE_INLINE
                      ? job->pstate_inl
                      : calloc(rt->n_policies + 1, sizeof *job->pstate);
    if (!job->req || !job->resp || !job->pstate) {
        lr_job_discard(job);
        return NULL;
    }
    job->deadline_timer.fire = on_deadline;
    job->wait_timer.fire = on_wait_done;
    job->cands.router = rt;
    job->key_idx = (size_t)-1;
    job->last_error = LR_E_NO_TARGET;
    return job;
}

void lr_job_discard(struct lr_job *job)
{
    if (!job)
        return;
    lr_req_ctx_clear(&job->ctx);
    if (job->req == &job->view)
        lr_request_view_free(&job->view);
    else
        lr_request_free(job->req);
    lr_response_free(job->resp);
    lr_candidates_clear(&job->cands);
    if (job->tries != job->tries_inl)
        free(job->tries);
    if (job->deferred != job->deferred_inl)
        free(job->deferred);
    if (job->pstate != job->pstate_inl)
        free(job->pstate);
    free(job->wait_reason);
    struct lr_loop *l = job->loop;
    if ((!job->eng || lr_engine_is_self(job->eng)) &&
        l->n_spare_jobs < LR_LOOP_SPARE_JOBS) {
        lr_transfer_reset(&job->xfer);
        job->next = l->spare_jobs;
        l->spare_jobs = job;
        l->n_spare_jobs++;
        return;
    }
    lr_transfer_free(&job->xfer);
    free(job);
}

static void set_error(struct lr_job *job, enum lr_status st,
                      const char *msg)
{
    job->resp->status = st;
    lr_buf_reset(&job->resp->error_message);
    struct lr_buf *b = &job->resp->error_message;
    lr_buf_puts(b, msg ? msg : lr_strerror(st));
    /* A policy's reason is a plugin's text: it may quote anything. */
    if (b->data && lr_secrets_redact(b->data))
        b->len = strlen(b->data);
}

static void write_request_log(struct lr_job *job)
{
    FILE *fp = job->rt->request_log;
    if (!fp)
        return;
    char *line = lr_response_to_json(job->resp, job->rt->log_content);
    if (!line)
        return;
    /* Several threads finish requests: one whole line each. */
    flockfile(fp);
    fprintf(fp, "%s\n", line);
    fflush(fp);
    funlockfile(fp);
    free(line);
}

static void run_on_complete(struct lr_job *job)
{
    struct lr_policy_attempt fin;
    lr_attempt_summary(job, &fin);
    job->ctx.phase = LR_PHASE_COMPLETE;
    for (size_t i = job->n_started; i-- > 0;) {
        const struct lr_policy_inst *p = &job->rt->policies[i];
        if (!p->ops->on_complete)
            continue;
        lr_router_hooks_lock(job->rt);
        p->ops->on_complete(p->inst, &job->ctx.preq, job->pstate[i], &fin);
        lr_router_hooks_unlock(job->rt);
    }
}

/* The one exit: accounting, hooks, callback, free. */
static void job_finish(struct lr_job *job)
{
    struct lr_timer_heap *timers = &job->loop->timers;
    lr_timer_disarm(timers, &job->deadline_timer);
    lr_timer_disarm(timers, &job->wait_timer);
    lr_attempt_cancel(job);
    struct lr_response *resp = job->resp;
    resp->latency_ms = now(job) - job->start_ms;
    const char *tier = lr_attrs_get(&job->req->attrs, "tier");
    if (tier && !resp->tier)
        lr_response_set_str(resp, &resp->tier, tier);  /* NULL on OOM */
    run_on_complete(job);
    /* An answer a policy gave (a cache hit) is no call to its target: it
       counts for the router, not in the target's figures. */
    lr_metrics_request(job->rt->metrics,
                       resp->served_by ? NULL : resp->target, resp->status,
                       resp->latency_ms, resp->prompt_tokens,
                       resp->completion_tokens, resp->cost_usd);
    write_request_log(job);
    if (job->eng)
        lr_engine_forget(job->eng, job);
    job->resp = NULL;
    lr_done_fn done = job->on_done;
    void *user = job->user;
    lr_job_discard(job);
    done(resp, user);
}

void lr_job_abort(struct lr_job *job, enum lr_status st, const char *msg)
{
    set_error(job, st, msg);
    job_finish(job);
}

void lr_job_complete(struct lr_job *job)
{
    job_finish(job);
}

static int run_on_request(struct lr_job *job)
{
    job->ctx.phase = LR_PHASE_ON_REQUEST;
    for (size_t i = 0; i < job->rt->n_policies && !job->ctx.responded;
         i++) {
        const struct lr_policy_inst *p = &job->rt->policies[i];
        job->n_started = i + 1;
        if (!p->ops->on_request)
            continue;
        char msg[256] = "";
        int64_t hint = -1;
        lr_router_hooks_lock(job->rt);
        int rc = p->ops->on_request(p->inst, &job->ctx.preq, &job->pstate[i],
                                    msg, sizeof msg, &hint);
        lr_router_hooks_unlock(job->rt);
        if (rc != LR_OK) {
            char full[320];
            snprintf(full, sizeof full, "%s: %s", p->name,
                     msg[0] ? msg : lr_strerror(rc));
            set_error(job, (enum lr_status)rc, full);
            job->resp->retry_after_ms = hint;
            return rc;
        }
    }
    job->ctx.phase = LR_PHASE_OTHER;
    return LR_OK;
}

/* A policy answered in on_request (req_respond): hand a streaming caller
   the text as one delta and finish, no attempt made. */
static void finish_answered(struct lr_job *job)
{
    struct lr_response *r = job->resp;
    lr_log(LR_LOG_DEBUG, "request %" PRIu64 ": answered by policy %s",
           job->id, r->served_by);
    if (job->on_delta && r->text.len &&
        lr_job_deliver(job, r->model, r->text.data, r->text.len))
        set_error(job, LR_E_CANCELLED, "cancelled by the delta callback");
    job_finish(job);
}

static int build_candidates(struct lr_job *job)
{
    struct lr_router *rt = job->rt;
    if (job->req->target) {
        if (!lr_router_target(rt, job->req->target)) {
            char msg[200];
            snprintf(msg, sizeof msg, "no target named '%s'",
                     job->req->target);
            set_error(job, LR_E_INVALID_ARG, msg);
            return LR_E_INVALID_ARG;
        }
        return lr_candidates_push(&job->cands,
                                  lr_router_target(rt, job->req->target)->name);
    }
    for (size_t i = 0; i < rt->n_targets; i++)
        if (lr_candidates_push(&job->cands, rt->targets[i].name) != LR_OK)
            return LR_E_NOMEM;
    for (size_t i = 0; i < rt->n_policies; i++) {
        const struct lr_policy_inst *p = &rt->policies[i];
        if (!p->ops->route)
            continue;
        lr_router_hooks_lock(rt);
        int rc = p->ops->route(p->inst, &job->ctx.preq, job->pstate[i],
                               &job->cands);
        lr_router_hooks_unlock(rt);
        if (rc != LR_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s: routing failed: %s", p->name,
                     job->cands.err[0] ? job->cands.err : lr_strerror(rc));
            set_error(job, LR_E_INTERNAL, msg);
            return rc;
        }
    }
    return LR_OK;
}

/* About 4 bytes a token, plus a few tokens of framing per message: the
   usual rule of thumb, good enough to reserve budget and rate windows
   before the provider reports the real count. */
static int64_t estimate_prompt_tokens(const struct lr_chat *c)
{
    size_t bytes = c->system ? strlen(c->system) : 0;
    for (size_t i = 0; i < c->n_messages; i++) {
        const struct lr_message *m = &c->messages[i];
        bytes += m->content ? strlen(m->content) : 0;
        bytes += m->tool_calls_json ? strlen(m->tool_calls_json) : 0;
    }
    bytes += c->tools_json ? strlen(c->tools_json) : 0;
    return (int64_t)((bytes + 3) / 4 + 4 * (c->n_messages + 1));
}

void lr_job_start(struct lr_job *job)
{
    struct lr_router *rt = job->rt;
    job->start_ms = now(job);
    int64_t budget = job->req->timeout_ms ? job->req->timeout_ms
                                          : rt->timeout_ms;
    job->deadline_ms = job->start_ms + budget;
    lr_request_chat(job->req, &job->chat);
    lr_req_ctx_init(&job->ctx, rt, job->req, job->resp, job->id, &job->chat);
    job->est_prompt_tokens = estimate_prompt_tokens(&job->chat);
    if (job->req->n_msgs == 0) {
        lr_job_abort(job, LR_E_INVALID_ARG, "request has no message");
        return;
    }
    if (lr_timer_arm(&job->loop->timers, &job->deadline_timer,
                     job->deadline_ms) != LR_OK ||
        run_on_request(job) != LR_OK) {
        if (job->resp->status == LR_OK)
            set_error(job, LR_E_NOMEM, NULL);
        job_finish(job);
        return;
    }
    if (job->ctx.responded) {
        finish_answered(job);
        return;
    }
    if (build_candidates(job) != LR_OK) {
        if (job->resp->status == LR_OK)
            set_error(job, LR_E_NOMEM, NULL);
        job_finish(job);
        return;
    }
    if (job->cands.n + 1 <= LR_CANDIDATES_INLINE + 1) {
        job->tries = job->tries_inl;          /* zeroed by lr_job_new */
        job->deferred = job->deferred_inl;
    }
    else {
        job->tries = calloc(job->cands.n + 1, sizeof *job->tries);
        job->deferred = calloc(job->cands.n + 1, sizeof *job->deferred);
    }
    if (!job->tries || !job->deferred) {
        lr_job_abort(job, LR_E_NOMEM, NULL);
        return;
    }
    job_next(job);
}

/* Arm a wait; the next attempt records why and for how long. */
int lr_job_wait(struct lr_job *job, int64_t ms, const char *reason)
{
    if (lr_timer_arm(&job->loop->timers, &job->wait_timer, now(job) + ms))
        return LR_E_NOMEM;
    free(job->wait_reason);
    job->wait_reason = strdup(reason);
    job->wait_from = now(job);
    job->waiting = 1;
    return LR_OK;
}

/* Every candidate was tried or skipped: wait for the earliest deferred
   one, or finish with the last error. */
static void exhausted(struct lr_job *job)
{
    int64_t best = -1;
    size_t best_i = 0;
    for (size_t i = 0; i < job->cands.n; i++) {
        if (job->deferred[i] != 1)
            continue;
        int64_t left = lr_attempt_cooldown_left(job, job->cands.names[i],
                                                NULL, 0);
        if (best < 0 || left < best) {
            best = left;
            best_i = i;
        }
    }
    int64_t room = job->deadline_ms - now(job);
    if (best >= 0 && best <= job->rt->max_wait_ms && best < room) {
        job->deferred[best_i] = -1;  /* waited once: no second deferral */
        job->cand_idx = best_i;
        char why[128];
        snprintf(why, sizeof why, "cooldown of %s",
                 job->cands.names[best_i]);
        if (lr_job_wait(job, best > 0 ? best : 0, why) == LR_OK)
            return;
    }
    if (job->resp->status == LR_OK && best >= 0) {
        /* Everything is cooling down for longer than we may wait: say
           so, and pass the wait on as the caller's retry hint. */
        char msg[200];
        snprintf(msg, sizeof msg, "every candidate target is cooling down; "
                 "%s is back in %" PRId64 " ms (over [router] max_wait_ms "
                 "or the deadline)", job->cands.names[best_i], best);
        set_error(job, job->last_error, msg);
        job->resp->retry_after_ms = best;
    }
    else if (job->resp->status == LR_OK)
        set_error(job, job->last_error,
                  job->last_error == LR_E_NO_TARGET
                      ? "every candidate target was skipped" : NULL);
    job_finish(job);
}

static void job_next(struct lr_job *job)
{
    while (job->cand_idx < job->cands.n) {
        if (job->attempts >= job->rt->max_attempts) {
            char msg[96];
            snprintf(msg, sizeof msg, "gave up after %" PRId64 " attempts "
                     "([router] max_attempts)", job->attempts);
            lr_job_abort(job, job->last_error, msg);
            return;
        }
        switch (lr_attempt_begin(job)) {
        case LR_ATTEMPT_SENT:
        case LR_ATTEMPT_WAITING:
            return;
        case LR_ATTEMPT_FINISHED:
            return;
        case LR_ATTEMPT_SKIPPED:
            job->cand_idx++;
            break;
        }
    }
    exhausted(job);
}

void lr_job_next_target(struct lr_job *job)
{
    job->cand_idx++;
    job_next(job);
}

void lr_job_retry_same(struct lr_job *job)
{
    job_next(job);
}
