/*
 * attempt.h - one attempt of a job: the checks before it (core cooldown,
 * policies' before_attempt), sending it, classifying what came back, and
 * the decision after it (policies' after_attempt, else the core rule:
 * move to the next target on an error that belongs to the target, stop
 * otherwise).
 */
#ifndef LR_CORE_ATTEMPT_H
#define LR_CORE_ATTEMPT_H

#include "job.h"

enum lr_attempt_state {
    LR_ATTEMPT_SENT,       /* transfer in flight */
    LR_ATTEMPT_WAITING,    /* wait timer armed; job_next runs after */
    LR_ATTEMPT_SKIPPED,    /* candidate skipped: go to the next one */
    LR_ATTEMPT_FINISHED    /* the job was finished (do not touch it) */
};

enum lr_attempt_state lr_attempt_begin(struct lr_job *job);
/* Remove an in-flight transfer (abort paths). */
void lr_attempt_cancel(struct lr_job *job);
/* ms left on target's cooldown (0: none); its class into cls. */
int64_t lr_attempt_cooldown_left(struct lr_job *job, const char *target,
                                 char *cls, size_t clslen);
/* A policy called req_reject in an attempt hook: end the request with
   its status, message and hint (LR_ATTEMPT_FINISHED). */
enum lr_attempt_state lr_attempt_rejected(struct lr_job *job);
/* The current attempt as attempt hooks see it, before any outcome. */
void lr_attempt_policy_view(const struct lr_job *job,
                            struct lr_policy_attempt *a);
/* The last attempt, as on_complete hooks see it. */
void lr_attempt_summary(const struct lr_job *job,
                        struct lr_policy_attempt *out);

/* job.c entry points used by attempt.c */
int lr_job_wait(struct lr_job *job, int64_t ms, const char *reason);
void lr_job_next_target(struct lr_job *job);
void lr_job_retry_same(struct lr_job *job);
void lr_job_complete(struct lr_job *job);

#endif
