/*
 * engine.c - the engine thread: inbox, id table, curl multi loop, timers.
 *
 * Other threads touch only the inbox, the cancel list and the stopping
 * flag (under mu) and wake the loop with lr_loop_wakeup().  Everything
 * else belongs to the engine thread.  The loop sleeps in lr_loop_poll()
 * until a socket is ready, the next timer is due (by the injected clock;
 * the sleep is capped so a fake clock that moves is noticed), or a wakeup.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "router.h"

/* The engine whose thread this is, if any: a watch's fn (engine_watch.c)
   submits and cancels from the engine thread itself, where a wakeup
   would only cost a system call. */
static _Thread_local const struct lr_engine *self_engine;

int lr_engine_is_self(const struct lr_engine *e)
{
    return self_engine == e;
}

static size_t bucket(uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15ull >> 52) % LR_JOB_BUCKETS;
}

static void remember(struct lr_engine *e, struct lr_job *job)
{
    size_t b = bucket(job->id);
    job->next = e->jobs[b];
    e->jobs[b] = job;
    e->n_jobs++;
}

static struct lr_job *lookup(struct lr_engine *e, uint64_t id)
{
    struct lr_job *j = e->jobs[bucket(id)];
    while (j && j->id != id)
        j = j->next;
    return j;
}

void lr_engine_forget(struct lr_engine *e, struct lr_job *job)
{
    struct lr_job **pp = &e->jobs[bucket(job->id)];
    while (*pp && *pp != job)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = job->next;
        e->n_jobs--;
    }
}

/* Take the inbox and cancel list under the lock; act on them outside. */
static int drain_inbox(struct lr_engine *e)
{
    pthread_mutex_lock(&e->mu);
    struct lr_job *jobs = e->inbox_head;
    e->inbox_head = e->inbox_tail = NULL;
    uint64_t *cancels = e->cancels;
    size_t n_cancels = e->n_cancels;
    e->cancels = NULL;
    e->n_cancels = e->cap_cancels = 0;
    int stopping = e->stopping;
    struct lr_watch *ops = e->ops_head;
    uint64_t ops_upto = ops ? e->ops_asked : 0;
    e->ops_head = e->ops_tail = NULL;
    pthread_mutex_unlock(&e->mu);
    /* Watch changes first: an unwatch waits for them. */
    lr_engine_watch_apply(e, ops, ops_upto);
    while (jobs) {
        struct lr_job *j = jobs;
        jobs = j->next;
        remember(e, j);
        lr_job_start(j);
    }
    for (size_t i = 0; i < n_cancels; i++) {
        struct lr_job *j = lookup(e, cancels[i]);
        if (j)
            lr_job_abort(j, LR_E_CANCELLED, "cancelled by the caller");
    }
    free(cancels);
    return stopping;
}

static void abort_all(struct lr_engine *e)
{
    for (size_t b = 0; b < LR_JOB_BUCKETS; b++)
        while (e->jobs[b])
            lr_job_abort(e->jobs[b], LR_E_CANCELLED, "router is closing");
}

static void *engine_main(void *arg)
{
    struct lr_engine *e = arg;
    self_engine = e;
    for (;;) {
        int stopping = drain_inbox(e);
        if (stopping) {
            abort_all(e);
            break;
        }
        lr_loop_step(&e->loop);
        if (e->local_work) {       /* queued by a watch: drain it now */
            e->local_work = 0;
            continue;
        }
        lr_loop_poll(&e->loop);
    }
    return NULL;
}

int lr_engine_start(struct lr_router *rt, struct lr_engine **out,
                    char *err, size_t errlen)
{
    lr_curl_global_init();
    struct lr_engine *e = calloc(1, sizeof *e);
    if (!e || lr_loop_init(&e->loop, rt) != LR_OK) {
        free(e);
        snprintf(err, errlen, "cannot create the engine: out of memory");
        return LR_E_NOMEM;
    }
    e->rt = rt;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->ops_cv, NULL);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        lr_loop_fini(&e->loop);
        pthread_cond_destroy(&e->ops_cv);
        pthread_mutex_destroy(&e->mu);
        free(e);
        snprintf(err, errlen, "cannot start the engine thread");
        return LR_E_INTERNAL;
    }
    e->thread_started = 1;
    *out = e;
    return LR_OK;
}

void lr_engine_stop(struct lr_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = 1;
    pthread_mutex_unlock(&e->mu);
    lr_loop_wakeup(&e->loop);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    /* Jobs submitted after the last drain never started. */
    for (struct lr_job *j = e->inbox_head, *n; j; j = n) {
        n = j->next;
        lr_job_discard(j);
    }
    free(e->cancels);
    lr_engine_watch_free_all(e);
    lr_loop_fini(&e->loop);
    pthread_cond_destroy(&e->ops_cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

uint64_t lr_engine_submit(struct lr_engine *e, const struct lr_request *req,
                          lr_delta_fn on_delta, void *delta_user,
                          lr_done_fn on_done, void *done_user)
{
    pthread_mutex_lock(&e->mu);
    int stopping = e->stopping;
    pthread_mutex_unlock(&e->mu);
    if (stopping)
        return 0;
    uint64_t id = lr_router_new_id(e->rt);
    struct lr_job *job = lr_job_new(e->rt, &e->loop, e, id, req, on_delta,
                                    delta_user, on_done, done_user);
    if (!job)
        return 0;
    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        lr_job_discard(job);
        return 0;
    }
    /* A non-empty inbox already has a wakeup on its way: whoever made it
       non-empty sends one after unlocking, and the drain that follows
       takes the whole list, this job included. */
    int was_empty = !e->inbox_head;
    if (e->inbox_tail)
        e->inbox_tail->next = job;
    else
        e->inbox_head = job;
    e->inbox_tail = job;
    pthread_mutex_unlock(&e->mu);
    if (lr_engine_is_self(e))
        e->local_work = 1;
    else if (was_empty)
        lr_loop_wakeup(&e->loop);
    return id;
}

int lr_engine_cancel(struct lr_engine *e, uint64_t id)
{
    pthread_mutex_lock(&e->mu);
    int ok = id && id <= lr_router_last_id(e->rt);
    if (ok && e->n_cancels == e->cap_cancels) {
        size_t cap = e->cap_cancels ? e->cap_cancels * 2 : 8;
        uint64_t *v = realloc(e->cancels, cap * sizeof *v);
        if (v) {
            e->cancels = v;
            e->cap_cancels = cap;
        }
    }
    if (ok && e->n_cancels < e->cap_cancels)
        e->cancels[e->n_cancels++] = id;
    pthread_mutex_unlock(&e->mu);
    if (ok && lr_engine_is_self(e))
        e->local_work = 1;
    else if (ok)
        lr_loop_wakeup(&e->loop);
    return ok ? LR_OK : LR_E_NOT_FOUND;
}
