/*
 * blocking.c - blocking calls on the caller's thread (see blocking.h).
 *
 * A call registers itself (id, loop, cancel flag) in the router's list of
 * calls in flight before its job starts and unregisters after the job
 * has finished, both under calls_mu.  lr_cancel and lr_close set the flag
 * and wake the loop under that lock, so they never touch a loop that went
 * back to the pool; the caller's thread reads the flag between two polls
 * and aborts its job itself, so the job is only ever touched by the
 * thread that drives it.
 */
#include "blocking.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "job.h"
#include "loop.h"
#include "router.h"

enum { CANCEL_NONE, CANCEL_CALLER, CANCEL_CLOSING };

struct lr_call {
    uint64_t id;
    struct lr_loop *loop;
    atomic_int cancel;             /* CANCEL_*: set by other threads */
    int done;
    struct lr_response *resp;
    struct lr_call *next;
};

static void call_done(struct lr_response *resp, void *user)
{
    struct lr_call *c = user;
    c->resp = resp;
    c->done = 1;
}

static struct lr_loop *new_loop(struct lr_router *r)
{
    struct lr_loop *l = malloc(sizeof *l);
    if (l && lr_loop_init(l, r) != LR_OK) {
        free(l);
        l = NULL;
    }
    return l;
}

static void free_loop(struct lr_loop *l)
{
    lr_loop_fini(l);
    free(l);
}

/* Take an idle loop (or make one) and register c; LR_E_STOPPED when the
   router is closing. */
static int enter(struct lr_router *r, struct lr_call *c)
{
    struct lr_loop *loop = NULL;
    for (;;) {
        pthread_mutex_lock(&r->calls_mu);
        if (r->closing) {
            pthread_mutex_unlock(&r->calls_mu);
            if (loop)
                free_loop(loop);
            return LR_E_STOPPED;
        }
        if (!loop && (loop = r->idle_loops))
            r->idle_loops = loop->next_idle;
        if (loop) {
            c->loop = loop;
            c->id = lr_router_new_id(r);
            c->next = r->calls;
            r->calls = c;
            r->n_calls++;
            pthread_mutex_unlock(&r->calls_mu);
            return LR_OK;
        }
        pthread_mutex_unlock(&r->calls_mu);
        /* None idle: make one outside the lock, then register. */
        if (!(loop = new_loop(r)))
            return LR_E_NOMEM;
    }
}

static void leave(struct lr_router *r, struct lr_call *c)
{
    pthread_mutex_lock(&r->calls_mu);
    struct lr_call **pp = &r->calls;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    c->loop->next_idle = r->idle_loops;
    r->idle_loops = c->loop;
    if (--r->n_calls == 0 && r->closing)
        pthread_cond_broadcast(&r->calls_cv);
    pthread_mutex_unlock(&r->calls_mu);
}

int lr_blocking_run(struct lr_router *r, const struct lr_request *req,
                    lr_delta_fn on_delta, void *user,
                    struct lr_response **out)
{
    struct lr_call c = {.cancel = CANCEL_NONE};
    int rc = enter(r, &c);
    if (rc != LR_OK)
        return rc;
    struct lr_loop *loop = c.loop;
    struct lr_job *job = lr_job_new(r, loop, NULL, c.id, req, on_delta, user,
                                    call_done, &c);
    if (!job) {
        leave(r, &c);
        return LR_E_NOMEM;
    }
    lr_job_start(job);
    /* Step first: a new transfer is sent by the step, then the poll
       sleeps until its answer. */
    while (!c.done) {
        lr_loop_step(loop);
        if (c.done)
            break;
        int why = atomic_load(&c.cancel);
        if (why != CANCEL_NONE) {
            lr_job_abort(job, LR_E_CANCELLED,
                         why == CANCEL_CLOSING ? "router is closing"
                                               : "cancelled by the caller");
            break;
        }
        lr_loop_poll(loop);
    }
    leave(r, &c);
    *out = c.resp;
    return c.resp->status;
}

static void cancel_locked(struct lr_call *c, int why)
{
    atomic_store(&c->cancel, why);
    lr_loop_wakeup(c->loop);
}

int lr_blocking_cancel(struct lr_router *r, uint64_t id)
{
    int found = 0;
    pthread_mutex_lock(&r->calls_mu);
    for (struct lr_call *c = r->calls; c && !found; c = c->next)
        if (c->id == id) {
            cancel_locked(c, CANCEL_CALLER);
            found = 1;
        }
    pthread_mutex_unlock(&r->calls_mu);
    return found ? LR_OK : LR_E_NOT_FOUND;
}

void lr_blocking_close(struct lr_router *r)
{
    pthread_mutex_lock(&r->calls_mu);
    r->closing = 1;
    for (struct lr_call *c = r->calls; c; c = c->next)
        cancel_locked(c, CANCEL_CLOSING);
    while (r->n_calls)
        pthread_cond_wait(&r->calls_cv, &r->calls_mu);
    struct lr_loop *idle = r->idle_loops;
    r->idle_loops = NULL;
    pthread_mutex_unlock(&r->calls_mu);
    while (idle) {
        struct lr_loop *next = idle->next_idle;
        free_loop(idle);
        idle = next;
    }
}
