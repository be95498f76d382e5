/*
 * engine.h - the engine thread that runs asynchronous requests
 * (lr_submit): one thread driving one event loop (loop.h), with an inbox
 * through which any thread submits or cancels requests.  Blocking calls
 * do not come here: they run on their caller's thread (blocking.h).
 *
 * Nothing blocks on the engine thread: a wait is a timer, a transfer is a
 * multi handle entry.  Policy hooks run under the router's hook mutex, so
 * they never run at the same time as those of a blocking call.
 */
#ifndef LR_CORE_ENGINE_H
#define LR_CORE_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#include "llmroute.h"
#include "loop.h"

struct lr_router;
struct lr_job;
struct lr_watch;

#define LR_JOB_BUCKETS 4096

struct lr_engine {
    struct lr_router *rt;
    pthread_t thread;
    int thread_started;
    struct lr_loop loop;           /* engine-thread only (but wakeup) */

    pthread_mutex_t mu;            /* guards the fields below it */
    struct lr_job *inbox_head, *inbox_tail;
    uint64_t *cancels;
    size_t n_cancels, cap_cancels;
    int stopping;
    /* Watches (engine_watch.c): the fds watched, and the changes other
       threads asked for, in order, that the engine has yet to make. */
    int *watched;
    size_t n_watched, cap_watched;
    struct lr_watch *ops_head, *ops_tail;
    uint64_t ops_asked, ops_done;
    pthread_cond_t ops_cv;         /* ops_done moved */

    /* engine-thread only */
    struct lr_job *jobs[LR_JOB_BUCKETS];  /* in flight, by id */
    size_t n_jobs;
    struct lr_watch *watches, *dead_watches;
    /* Work queued by the engine thread itself (a watch's fn submitted or
       cancelled): the loop turns again before it sleeps. */
    int local_work;
};

int lr_engine_start(struct lr_router *rt, struct lr_engine **out,
                    char *err, size_t errlen);
/* Cancel everything in flight (callbacks fire), stop and join. */
void lr_engine_stop(struct lr_engine *e);
/* 0 when stopping or out of memory; on_done is then never called. */
uint64_t lr_engine_submit(struct lr_engine *e, const struct lr_request *req,
                          lr_delta_fn on_delta, void *delta_user,
                          lr_done_fn on_done, void *done_user);
/* Queue a cancel of id (which may be unknown here: a finished request or
   a blocking call's; then nothing happens). */
int lr_engine_cancel(struct lr_engine *e, uint64_t id);

/* 1 on this engine's own thread. */
int lr_engine_is_self(const struct lr_engine *e);

/* Watches (engine_watch.c), see lr_watch_fd in llmroute.h. */
int lr_engine_watch(struct lr_engine *e, int fd, lr_watch_fn fn,
                    void *user);
int lr_engine_unwatch(struct lr_engine *e, int fd);
int lr_engine_watch_wake(struct lr_engine *e, int fd);
/* Engine thread, in its drain: make the changes other threads asked for
   (ops, taken from e->ops_head under mu with their count) and free the
   watches that ended. */
void lr_engine_watch_apply(struct lr_engine *e, struct lr_watch *ops,
                           uint64_t upto);
/* After the engine thread ended: free every watch. */
void lr_engine_watch_free_all(struct lr_engine *e);

/* For the job module (engine thread): the job leaves the id table. */
void lr_engine_forget(struct lr_engine *e, struct lr_job *job);

#endif
