/*
 * engine.h - the event loop that runs every request of a router: one
 * thread, curl's multi interface for all transfers, an intrusive timer
 * heap for waits and deadlines (read against the injected clock), and an
 * inbox through which any thread submits or cancels requests.
 *
 * Nothing blocks on the engine thread: a wait is a timer, a transfer is a
 * multi handle entry.  Policy hooks and all callbacks run here, one at a
 * time.
 */
#ifndef LR_CORE_ENGINE_H
#define LR_CORE_ENGINE_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

#include "llmroute.h"
#include "timer_heap.h"

struct lr_router;
struct lr_job;

#define LR_JOB_BUCKETS 4096

struct lr_engine {
    struct lr_router *rt;
    pthread_t thread;
    int thread_started;
    CURLM *multi;
    struct lr_timer_heap timers;

    pthread_mutex_t mu;            /* guards the fields below it */
    struct lr_job *inbox_head, *inbox_tail;
    uint64_t *cancels;
    size_t n_cancels, cap_cancels;
    int stopping;
    uint64_t next_id;

    /* engine-thread only */
    struct lr_job *jobs[LR_JOB_BUCKETS];  /* in flight, by id */
    size_t n_jobs;
    CURL **easy_pool;                     /* recycled easy handles */
    size_t n_easy, cap_easy;
};

int lr_engine_start(struct lr_router *rt, struct lr_engine **out,
                    char *err, size_t errlen);
/* Cancel everything in flight (callbacks fire), stop and join. */
void lr_engine_stop(struct lr_engine *e);
/* 0 when stopping or out of memory; on_done is then never called. */
uint64_t lr_engine_submit(struct lr_engine *e, const struct lr_request *req,
                          lr_delta_fn on_delta, void *delta_user,
                          lr_done_fn on_done, void *done_user);
int lr_engine_cancel(struct lr_engine *e, uint64_t id);

/* For the job module (engine thread). */
CURL *lr_engine_take_easy(struct lr_engine *e);
void lr_engine_give_easy(struct lr_engine *e, CURL *easy);
void lr_engine_forget(struct lr_engine *e, struct lr_job *job);

#endif
