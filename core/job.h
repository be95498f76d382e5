/*
 * job.h - one request's life on its loop (the engine's, or a blocking
 * caller's; see loop.h): policies' on_request
 * and route, then attempts over the candidate targets (before_attempt,
 * send, classify, after_attempt), waits as timers, and completion
 * (on_complete, accounting, the caller's callback).
 */
#ifndef LR_CORE_JOB_H
#define LR_CORE_JOB_H

#include "engine.h"
#include "loop.h"
#include "host.h"
#include "req_ctx.h"
#include "request.h"
#include "response.h"
#include "timer_heap.h"
#include "transfer.h"

#define LR_JOB_PSTATE_INLINE 16

struct lr_job {
    struct lr_loop *loop;         /* runs the job: timers, transfers */
    struct lr_engine *eng;        /* its id table; NULL: blocking call */
    struct lr_router *rt;
    uint64_t id;
    struct lr_request *req;       /* clone, or &view for a blocking call */
    struct lr_request view;       /* see lr_request_view() */
    struct lr_chat chat;
    struct lr_req_ctx ctx;        /* the request as policies see it */
    lr_delta_fn on_delta;
    void *delta_user;
    lr_done_fn on_done;
    void *user;
    struct lr_response *resp;

    int64_t start_ms, deadline_ms;
    struct lr_timer deadline_timer, wait_timer;
    int waiting;                  /* wait_timer armed */
    int retry_asked;              /* a policy asked to retry this target */
    int64_t wait_from;            /* when the current wait began */
    char *wait_reason;            /* for the next attempt's record */

    struct lr_candidates cands;
    size_t cand_idx;
    int *tries;                   /* per candidate, attempts made */
    int *deferred;                /* per candidate: skipped for cooldown */
    int64_t attempts;             /* attempts sent */
    void **pstate;                /* per policy */
    /* Small requests keep the three arrays above here, so that a job
       (recycled by a blocking loop) costs no allocation for them. */
    int tries_inl[LR_CANDIDATES_INLINE + 1];
    int deferred_inl[LR_CANDIDATES_INLINE + 1];
    void *pstate_inl[LR_JOB_PSTATE_INLINE];
    size_t n_started;             /* policies whose on_request ran */

    struct lr_transfer xfer;
    int in_flight;                /* xfer.easy is in the multi handle */
    size_t key_idx;               /* key of the attempt, LR_NO_KEY */
    char key_id[160];             /* its id for policies (lr_key_id) */
    int64_t est_prompt_tokens;    /* estimate, for budgets and limits */
    int64_t sent_at;
    enum lr_status last_error;
    long last_http;

    struct lr_job *next;          /* inbox link, then bucket chain */
};

/* Create a job for req that runs on loop, in engine e's id table (NULL:
   a blocking call's, which reads req in place until it returns; an
   engine job clones it); NULL on out-of-memory. */
struct lr_job *lr_job_new(struct lr_router *rt, struct lr_loop *loop,
                          struct lr_engine *e, uint64_t id,
                          const struct lr_request *req, lr_delta_fn on_delta,
                          void *delta_user, lr_done_fn on_done,
                          void *user);
/* Hand len bytes of answer text to job->on_delta (non-NULL), with model
   (the model answering, as lr_response_model() will say; NULL or "" when
   none) readable through lr_delta_model() during the call (delta.c).
   Returns the callback's value: nonzero cancels. */
int lr_job_deliver(struct lr_job *job, const char *model, const char *text,
                   size_t len);
/* Free a job that never started (engine stopping). */
void lr_job_discard(struct lr_job *job);
void lr_job_start(struct lr_job *job);
/* The transfer finished with curl code cc. */
void lr_job_transfer_done(struct lr_job *job, CURLcode cc);
/* End now with st (cancel, shutdown). */
void lr_job_abort(struct lr_job *job, enum lr_status st, const char *msg);

#endif
