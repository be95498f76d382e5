/*
 * outcome.c - what a finished transfer means, and what happens next.
 *
 * Classification order: our own reasons for stopping the transfer
 * (cancel, oversize body, an in-stream error), then transport errors,
 * then the provider's reading of the response, then status alone when the
 * provider could not read it.  The generic retry headers (retry-after-ms,
 * retry-after, x-should-retry) are applied here for every provider and
 * win over a provider's own hint, as the official SDKs do.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attempt.h"
#include "buf.h"
#include "cnum.h"
#include "key_pool.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "secrets.h"
#include "status.h"
#include "timeparse.h"
#include "utf8.h"

static int64_t now_ms(const struct lr_job *job)
{
    return lr_clock_now(job->rt->clock);
}

struct outcome {
    enum lr_status st;
    long http;
    int64_t hint;
    int should_retry;
    char msg[512];
};

static enum lr_status class_of_status(long http)
{
    if (http == 408)
        return LR_E_TIMEOUT;
    if (http == 429)
        return LR_E_RATE_LIMITED;
    if (http == 401 || http == 403)
        return LR_E_AUTH;
    if (http == 503 || http == 529)
        return LR_E_OVERLOADED;
    if (http >= 500)
        return LR_E_SERVER_ERROR;
    if (http >= 400)
        return LR_E_BAD_REQUEST;
    return LR_E_PROTOCOL;
}

static void excerpt(struct outcome *o, const char *what, const char *body,
                    size_t len)
{
    size_t n = len < 200 ? len : 200;
    char clean[201];
    for (size_t i = 0; i < n; i++)
        clean[i] = (body[i] >= 32 && body[i] < 127) ? body[i] : ' ';
    clean[n] = '\0';
    snprintf(o->msg, sizeof o->msg, "%s (HTTP %ld)%s%s%s", what, o->http,
             n ? ": " : "", clean, len > n ? "..." : "");
}

static void read_hints(struct lr_job *job, struct outcome *o)
{
    struct lr_transfer *t = &job->xfer;
    const char *v;
    int64_t ms;
    if ((v = lr_transfer_header(t, "x-should-retry")))
        o->should_retry = strcasecmp(v, "true") == 0    ? 1
                          : strcasecmp(v, "false") == 0 ? 0 : -1;
    if ((v = lr_transfer_header(t, "retry-after-ms")) &&
        lr_parse_retry_ms(v, &ms) == LR_OK) {
        o->hint = ms;
        return;
    }
    if ((v = lr_transfer_header(t, "retry-after")) &&
        lr_parse_retry_after_ms(v, lr_clock_wall(job->rt->clock), &ms) ==
            LR_OK)
        o->hint = ms;
}

static void from_result(struct outcome *o, const struct lr_result *r)
{
    o->st = r->error;
    o->hint = r->retry_after_ms;
    /* Every answer passes here, mostly with no message: no snprintf. */
    const char *m = lr_buf_str(&r->error_message);
    size_t n = strnlen(m, sizeof o->msg - 1);
    memcpy(o->msg, m, n);
    o->msg[n] = '\0';
}

/* Redirects are never followed (CURLOPT_FOLLOWLOCATION stays off): the
   key would go wherever the upstream points.  Say where it pointed. */
static void redirect(struct outcome *o, struct lr_transfer *t)
{
    const char *to = lr_transfer_header(t, "location");
    char clean[201];
    size_t n = to ? strnlen(to, 200) : 0;
    for (size_t i = 0; i < n; i++)
        clean[i] = (to[i] >= 32 && to[i] < 127) ? to[i] : '?';
    clean[n] = '\0';
    o->st = LR_E_PROTOCOL;
    snprintf(o->msg, sizeof o->msg, "redirect (HTTP %ld) to %s not followed",
             o->http, n ? clean : "(no Location)");
}

static void parse_whole(struct lr_job *job, struct outcome *o)
{
    struct lr_transfer *t = &job->xfer;
    struct lr_target *tg = (struct lr_target *)t->target;
    if (o->http >= 300 && o->http < 400) {
        redirect(o, t);
        return;
    }
    if (o->http < 200) {
        o->st = LR_E_PROTOCOL;
        excerpt(o, "unexpected HTTP status", t->body.data ? t->body.data
                                                          : "", t->body.len);
        return;
    }
    const char *key = job->key_idx == LR_NO_KEY
                          ? "" : tg->keys[job->key_idx].value;
    struct lr_target_info ti = {tg->name, tg->model, tg->base_url, key,
                                tg->sec};
    const struct lr_header *h = lr_transfer_headers(t);
    struct lr_http_response in = {o->http, h, h ? t->n_headers : 0,
                                  lr_buf_str(&t->body), t->body.len};
    locale_t loc = lr_cnum_enter();
    int prc = tg->ops->parse_response(tg->inst, &ti, &in, &t->result);
    lr_cnum_leave(loc);
    if (prc != LR_OK) {
        o->st = class_of_status(o->http);
        excerpt(o, "unreadable response", in.body, in.body_len);
        return;
    }
    from_result(o, &t->result);
    if (o->http >= 400 && o->st == LR_OK)
        o->st = class_of_status(o->http);
    if (o->st != LR_OK && !o->msg[0])
        excerpt(o, lr_strerror(o->st), in.body, in.body_len);
}

static void classify(struct lr_job *job, CURLcode cc, struct outcome *o)
{
    struct lr_transfer *t = &job->xfer;
    o->hint = -1;
    o->should_retry = -1;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &o->http);
    if (t->abort_status != LR_OK) {
        o->st = t->abort_status;
        if (t->result.error == t->abort_status)
            from_result(o, &t->result);
        else
            snprintf(o->msg, sizeof o->msg, "%s", t->abort_msg);
    }
    else if (cc != CURLE_OK) {
        o->st = cc == CURLE_OPERATION_TIMEDOUT ? LR_E_TIMEOUT : LR_E_NETWORK;
        snprintf(o->msg, sizeof o->msg, "%s%s%s", curl_easy_strerror(cc),
                 t->errbuf[0] ? ": " : "", t->errbuf);
        if (t->delivered || t->sse_mode)
            o->st = o->st == LR_E_TIMEOUT ? LR_E_TIMEOUT : LR_E_NETWORK;
    }
    else if (t->sse_mode) {
        if (lr_transfer_finish_stream(t) != LR_OK && t->result.error != LR_OK)
            from_result(o, &t->result);
        else if (t->abort_status != LR_OK) {
            o->st = t->abort_status;
            snprintf(o->msg, sizeof o->msg, "%s", t->abort_msg);
        }
        else if (!t->stream_done && t->result.finish == LR_FINISH_NONE) {
            o->st = LR_E_NETWORK;
            snprintf(o->msg, sizeof o->msg, "stream ended before the "
                     "provider's end marker (%zu bytes of text received)",
                     t->delivered);
        }
    }
    else
        parse_whole(job, o);
    if (o->st != LR_OK && o->http)
        read_hints(job, o);
    /* The message may quote the upstream (OpenAI's 401 quotes the key it
       was given): from here it reaches responses, logs and request logs. */
    if (o->msg[0])
        lr_secrets_redact(o->msg);
}

static void take_answer(struct lr_job *job, struct lr_attempt_rec *a)
{
    struct lr_transfer *t = &job->xfer;
    struct lr_target *tg = (struct lr_target *)t->target;
    struct lr_response *r = job->resp;
    struct lr_result *res = &t->result;
    r->status = LR_OK;
    /* Out of memory here leaves the bytes as they came. */
    lr_utf8_scrub(&res->text);
    lr_utf8_scrub(&res->tool_calls_json);
    lr_utf8_scrub(&res->model);
    lr_buf_reset(&r->error_message);
    if (job->on_delta && !t->delivered && res->text.len &&
        lr_job_deliver(job, res->model.len ? lr_buf_str(&res->model)
                                           : tg->model,
                       res->text.data, res->text.len))
        r->status = LR_E_CANCELLED;
    lr_buf_free(&r->text);
    r->text = res->text;
    memset(&res->text, 0, sizeof res->text);
    lr_buf_free(&r->tool_calls_json);
    r->tool_calls_json = res->tool_calls_json;
    memset(&res->tool_calls_json, 0, sizeof res->tool_calls_json);
    r->finish = res->finish;
    if (lr_response_set_str(r, &r->target, tg->name) != LR_OK ||
        lr_response_set_str(r, &r->provider, tg->plugin->desc->name) ||
        lr_response_set_str(r, &r->model, res->model.len ? res->model.data
                                                         : tg->model))
        r->status = LR_E_NOMEM;
    r->prompt_tokens = res->prompt_tokens > 0 ? res->prompt_tokens : 0;
    r->completion_tokens = res->completion_tokens > 0
                               ? res->completion_tokens : 0;
    r->cached_tokens = res->cached_tokens > 0 ? res->cached_tokens : 0;
    r->reasoning_tokens = res->reasoning_tokens > 0 ? res->reasoning_tokens
                                                    : 0;
    r->cost_usd = ((double)r->prompt_tokens * tg->in_usd_per_mtok +
                   (double)r->completion_tokens * tg->out_usd_per_mtok) /
                  1e6;
    a->error = r->status;
}

static void set_cooldown(struct lr_job *job, const struct outcome *o)
{
    if (o->hint <= 0 || !(o->st == LR_E_RATE_LIMITED ||
                          o->st == LR_E_OVERLOADED ||
                          o->st == LR_E_QUOTA_EXHAUSTED))
        return;
    /* With a pool, rate and quota limits belong to the key: the key pool
       excludes that key and the target stays in use. */
    if (job->xfer.target->n_keys > 1 && o->st != LR_E_OVERLOADED)
        return;
    char key[300], val[96];
    snprintf(key, sizeof key, "cooldown/%s", job->xfer.target->name);
    int n = snprintf(val, sizeof val, "%" PRId64 " %s",
                     lr_clock_wall(job->rt->clock) + o->hint,
                     lr_status_name(o->st));
    struct lr_store *s = job->rt->store;
    s->ops->set(s, key, val, (size_t)n, o->hint);
    lr_metrics_counter_add(job->rt->metrics, "cooldowns",
                           job->xfer.target->name, 1);
}

/*
 * Every policy observes every attempt outcome, in pipeline order; the
 * first one with an opinion decides (*delay and why are its), later ones
 * are still told, so an observer such as a breaker sees everything
 * whatever its place in the pipeline.  LR_NEXT_DEFAULT: nobody decided.
 */
static enum lr_next run_after(struct lr_job *job, const struct outcome *o,
                              const struct lr_attempt_rec *a,
                              int64_t *delay, char *why, size_t whylen)
{
    const struct lr_result *res = &job->xfer.result;
    const struct lr_target *tg = job->xfer.target;
    struct lr_policy_attempt pa;
    lr_attempt_policy_view(job, &pa);
    pa.target = a->target;
    pa.index = (int)job->attempts - 1;
    pa.tries_on_target = job->tries[job->cand_idx];
    pa.http_status = o->http;
    pa.error = o->st;
    pa.retry_after_ms = o->hint;
    pa.should_retry = o->should_retry;
    pa.delivered = job->xfer.delivered > 0;
    pa.latency_ms = a->latency_ms;
    /* Usage and cost whenever the provider reported tokens, failures
       included (a stream cut short may have been billed). */
    pa.prompt_tokens = res->prompt_tokens > 0 ? res->prompt_tokens : 0;
    pa.completion_tokens = res->completion_tokens > 0
                               ? res->completion_tokens : 0;
    pa.cost_usd = ((double)pa.prompt_tokens * tg->in_usd_per_mtok +
                   (double)pa.completion_tokens * tg->out_usd_per_mtok) /
                  1e6;
    pa.rl_remaining_requests = res->rl_remaining_requests;
    pa.rl_remaining_tokens = res->rl_remaining_tokens;
    pa.rl_reset_requests_ms = res->rl_reset_requests_ms;
    pa.rl_reset_tokens_ms = res->rl_reset_tokens_ms;
    job->ctx.phase = LR_PHASE_ATTEMPT;
    enum lr_next decided = LR_NEXT_DEFAULT;
    for (size_t i = 0; i < job->rt->n_policies; i++) {
        const struct lr_policy_inst *p = &job->rt->policies[i];
        if (!p->ops->after_attempt)
            continue;
        char r[200] = "";
        int64_t d = 0;
        lr_router_hooks_lock(job->rt);
        enum lr_next n = p->ops->after_attempt(p->inst, &job->ctx.preq,
                                               job->pstate[i], &pa, &d,
                                               r, sizeof r);
        lr_router_hooks_unlock(job->rt);
        if (n == LR_NEXT_DEFAULT || decided != LR_NEXT_DEFAULT)
            continue;
        decided = n;
        *delay = d;
        snprintf(why, whylen, "%s: %s", p->name,
                 r[0] ? r : lr_status_name(o->st));
    }
    job->ctx.phase = LR_PHASE_OTHER;
    return decided;
}

/* Policies first, then the core rule. */
static enum lr_next decide(struct lr_job *job, const struct outcome *o,
                           struct lr_attempt_rec *a, int64_t *delay,
                           char *why, size_t whylen)
{
    enum lr_next n = run_after(job, o, a, delay, why, whylen);
    if (n != LR_NEXT_DEFAULT)
        return n;
    snprintf(why, whylen, "%s", lr_status_name(o->st));
    if (job->xfer.delivered)
        return LR_NEXT_STOP;   /* text reached the caller: no splicing */
    return lr_status_fallback(o->st) ? LR_NEXT_TARGET : LR_NEXT_STOP;
}

static void fail_job(struct lr_job *job, const struct outcome *o)
{
    struct lr_response *r = job->resp;
    r->status = o->st;
    r->retry_after_ms = o->hint;
    lr_buf_reset(&r->error_message);
    lr_buf_printf(&r->error_message, "%s: %s", job->xfer.target->name,
                  o->msg[0] ? o->msg : lr_strerror(o->st));
    lr_utf8_scrub(&r->error_message);
}

static void after_failure(struct lr_job *job, const struct outcome *o,
                          struct lr_attempt_rec *a)
{
    size_t delivered = job->xfer.delivered;
    const struct lr_target *tg = job->xfer.target;
    job->last_error = o->st;
    set_cooldown(job, o);
    fail_job(job, o);
    int key_out = lr_key_outcome(job->rt, tg, job->key_idx, o->st, o->hint);
    int64_t delay = 0;
    char why[256];
    enum lr_next n = decide(job, o, a, &delay, why, sizeof why);
    if (job->ctx.rejected) {
        lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
        lr_attempt_rejected(job);
        return;
    }
    if (key_out && tg->n_keys > 1 && !delivered && n != LR_NEXT_STOP) {
        /* That key is out of use; the next key of the same target goes
           at once, unless a policy said stop (bounded: each key can be
           taken out only once). */
        snprintf(why, sizeof why, "core: next API key of %s after %s",
                 tg->name, lr_status_name(o->st));
        lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
        if (lr_job_wait(job, 0, why) == LR_OK)
            return;
    }
    if (n == LR_NEXT_RETRY && !delivered && delay >= 0 && now_ms(job) + delay < job->deadline_ms) {
        lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
        job->retry_asked = 1;
        if (lr_job_wait(job, delay, why) == LR_OK)
            return;
        n = LR_NEXT_STOP;
    }
    lr_loop_give_easy(job->loop, lr_transfer_reset(&job->xfer));
    if (n == LR_NEXT_TARGET ||
        (n == LR_NEXT_RETRY && !delivered &&
         job->cand_idx + 1 < job->cands.n)) {
        if (job->cand_idx + 1 < job->cands.n) {
            a->fallback_reason = strdup(why);
            lr_metrics_counter_add(job->rt->metrics, "fallbacks", why, 1);
        }
        lr_job_next_target(job);
        return;
    }
    lr_job_complete(job);
}

void lr_job_transfer_done(struct lr_job *job, CURLcode cc)
{
    struct outcome o = {0};
    classify(job, cc, &o);
    job->in_flight = 0;
    curl_multi_remove_handle(job->loop->multi, job->xfer.easy);
    struct lr_attempt_rec *a = &job->resp->attempts[job->resp->n_attempts - 1];
    a->http_status = o.http;
    a->error = o.st;
    a->retry_after_ms = o.hint;
    a->latency_ms = now_ms(job) - job->sent_at;
    job->last_http = o.http;
    lr_metrics_attempt(job->rt->metrics, a->target, o.st, a->latency_ms);
    if (o.http == 429)
        lr_metrics_counter_add(job->rt->metrics, "upstream_429s", a->target,
                               1);
    if (o.st == LR_E_CANCELLED) {
        lr_job_abort(job, LR_E_CANCELLED, o.msg);
        return;
    }
    if (o.st == LR_OK) {
        int64_t ignored_delay;
        char ignored[8];
        run_after(job, &o, a, &ignored_delay, ignored, sizeof ignored);
        take_answer(job, a);
        lr_job_complete(job);
        return;
    }
    lr_log(LR_LOG_INFO, "request %" PRIu64 ": %s answered %s (HTTP %ld)",
           job->id, a->target, lr_status_name(o.st), o.http);
    after_failure(job, &o, a);
}
