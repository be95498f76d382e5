/*
 * engine_watch.c - application fds served on the engine thread
 * (lr_watch_fd, lr_unwatch_fd in llmroute.h).
 *
 * Why: the gateway's HTTP server used to run on its own thread, so every
 * request crossed to the engine's thread and its answer crossed back (a
 * mutex, a wakeup and two context switches each).  Watching the
 * server's epoll fd from the engine's loop runs both on one thread.
 *
 * The epoll set is changed by the calling thread (epoll_ctl may be called
 * from any thread), so errors come back at once; the list of watches and
 * their timers belong to the engine thread, which other threads reach
 * through an ordered queue of changes.  An lr_unwatch_fd from another
 * thread waits until the engine thread has made its change: the engine
 * makes changes between turns, never while a watch's fn runs, so after
 * the wait fn is not running and never will be again.  A watch that ends
 * from inside its own fn is freed at the next drain, after fn returned.
 */
#include <stddef.h>
#include <stdlib.h>

#include "engine.h"
#include "router.h"

enum { OP_NONE, OP_UNWATCH, OP_WAKE };

struct lr_watch {
    struct lr_engine *e;
    int fd;
    int op;                        /* in the queue of changes: OP_NONE
                                      (start this watch) or another */
    lr_watch_fn fn;
    void *user;
    struct lr_timer timer;         /* when fn asked to run again */
    struct lr_watch *next;
};

static int64_t now(const struct lr_engine *e)
{
    return lr_clock_now(e->rt->clock);
}

static struct lr_watch *find(struct lr_engine *e, int fd)
{
    struct lr_watch *w = e->watches;
    while (w && w->fd != fd)
        w = w->next;
    return w;
}

static void run(struct lr_watch *w)
{
    struct lr_engine *e = w->e;
    lr_timer_disarm(&e->loop.timers, &w->timer);
    int64_t ms = w->fn(w->user);
    if (w->fd >= 0 && ms >= 0)     /* fd -1: fn ended its own watch */
        lr_timer_arm(&e->loop.timers, &w->timer, now(e) + ms);
}

static void on_timer(struct lr_timer *t)
{
    run((struct lr_watch *)(void *)((char *)t
                                    - offsetof(struct lr_watch, timer)));
}

static void on_ready(void *arg, int fd)
{
    struct lr_watch *w = find(arg, fd);
    if (w)
        run(w);
}

/* Engine thread: w joins the list and runs at the next step. */
static void start(struct lr_engine *e, struct lr_watch *w)
{
    e->loop.on_watch = on_ready;
    e->loop.watch_arg = e;
    w->next = e->watches;
    e->watches = w;
    if (lr_timer_arm(&e->loop.timers, &w->timer, now(e)) != LR_OK)
        run(w);
}

/* Engine thread: the watch of fd leaves the list; freed at the next
   drain, as its fn may be running now. */
static void end(struct lr_engine *e, int fd)
{
    struct lr_watch **pp = &e->watches;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    if (!*pp)
        return;
    struct lr_watch *w = *pp;
    *pp = w->next;
    lr_loop_unwatch_fd(&e->loop, fd);
    lr_timer_disarm(&e->loop.timers, &w->timer);
    w->fd = -1;
    w->next = e->dead_watches;
    e->dead_watches = w;
}

/* Engine thread: run fd's fn at the next turn, which comes without a
   poll (local_work). */
static void wake_now(struct lr_engine *e, int fd)
{
    struct lr_watch *w = find(e, fd);
    if (w && lr_timer_arm(&e->loop.timers, &w->timer, now(e)) == LR_OK)
        e->local_work = 1;
}

/* With e->mu held. */
static long watched_at(const struct lr_engine *e, int fd)
{
    for (size_t i = 0; i < e->n_watched; i++)
        if (e->watched[i] == fd)
            return (long)i;
    return -1;
}

static int note_watched(struct lr_engine *e, int fd)
{
    if (e->n_watched == e->cap_watched) {
        size_t cap = e->cap_watched ? e->cap_watched * 2 : 4;
        int *v = realloc(e->watched, cap * sizeof *v);
        if (!v)
            return LR_E_NOMEM;
        e->watched = v;
        e->cap_watched = cap;
    }
    e->watched[e->n_watched++] = fd;
    return LR_OK;
}

static void queue(struct lr_engine *e, struct lr_watch *op)
{
    if (e->ops_tail)
        e->ops_tail->next = op;
    else
        e->ops_head = op;
    e->ops_tail = op;
    e->ops_asked++;
}

int lr_engine_watch(struct lr_engine *e, int fd, lr_watch_fn fn,
                    void *user)
{
    struct lr_watch *w = calloc(1, sizeof *w);
    if (!w)
        return LR_E_NOMEM;
    *w = (struct lr_watch){.e = e, .fd = fd, .fn = fn, .user = user};
    w->timer.fire = on_timer;
    int self = lr_engine_is_self(e), rc = LR_OK;
    pthread_mutex_lock(&e->mu);
    if (e->stopping || watched_at(e, fd) >= 0)
        rc = LR_E_INVALID_ARG;
    else if ((rc = note_watched(e, fd)) == LR_OK &&
             (rc = lr_loop_watch_fd(&e->loop, fd)) != LR_OK)
        e->n_watched--;
    if (rc == LR_OK && !self)
        queue(e, w);
    pthread_mutex_unlock(&e->mu);
    if (rc != LR_OK) {
        free(w);
        return rc;
    }
    if (self)
        start(e, w);
    else
        lr_loop_wakeup(&e->loop);
    return LR_OK;
}

int lr_engine_unwatch(struct lr_engine *e, int fd)
{
    struct lr_watch *op = NULL;
    int self = lr_engine_is_self(e);
    if (!self && !(op = calloc(1, sizeof *op)))
        return LR_E_NOMEM;
    pthread_mutex_lock(&e->mu);
    long i = watched_at(e, fd);
    if (i < 0) {
        pthread_mutex_unlock(&e->mu);
        free(op);
        return LR_E_NOT_FOUND;
    }
    e->watched[i] = e->watched[--e->n_watched];
    if (self) {
        pthread_mutex_unlock(&e->mu);
        end(e, fd);
        return LR_OK;
    }
    op->fd = fd;
    op->op = OP_UNWATCH;
    queue(e, op);
    uint64_t mine = e->ops_asked;
    pthread_mutex_unlock(&e->mu);
    lr_loop_wakeup(&e->loop);
    pthread_mutex_lock(&e->mu);
    while (e->ops_done < mine)
        pthread_cond_wait(&e->ops_cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    return LR_OK;
}

static void free_list(struct lr_watch *w)
{
    for (struct lr_watch *n; w; w = n) {
        n = w->next;
        free(w);
    }
}

int lr_engine_watch_wake(struct lr_engine *e, int fd)
{
    if (lr_engine_is_self(e)) {
        if (!find(e, fd))
            return LR_E_NOT_FOUND;
        wake_now(e, fd);
        return LR_OK;
    }
    struct lr_watch *op = calloc(1, sizeof *op);
    if (!op)
        return LR_E_NOMEM;
    op->fd = fd;
    op->op = OP_WAKE;
    pthread_mutex_lock(&e->mu);
    int known = watched_at(e, fd) >= 0;
    if (known)
        queue(e, op);
    pthread_mutex_unlock(&e->mu);
    if (!known) {
        free(op);
        return LR_E_NOT_FOUND;
    }
    lr_loop_wakeup(&e->loop);
    return LR_OK;
}

void lr_engine_watch_apply(struct lr_engine *e, struct lr_watch *ops,
                           uint64_t upto)
{
    while (ops) {
        struct lr_watch *op = ops;
        ops = op->next;
        op->next = NULL;
        if (op->op == OP_NONE) {
            start(e, op);
            continue;
        }
        if (op->op == OP_UNWATCH)
            end(e, op->fd);
        else
            wake_now(e, op->fd);
        free(op);
    }
    free_list(e->dead_watches);
    e->dead_watches = NULL;
    if (upto) {
        pthread_mutex_lock(&e->mu);
        e->ops_done = upto;
        pthread_cond_broadcast(&e->ops_cv);
        pthread_mutex_unlock(&e->mu);
    }
}

void lr_engine_watch_free_all(struct lr_engine *e)
{
    for (struct lr_watch *w = e->watches; w; w = w->next)
        lr_timer_disarm(&e->loop.timers, &w->timer);
    free_list(e->watches);
    free_list(e->dead_watches);
    free_list(e->ops_head);
    e->watches = e->dead_watches = e->ops_head = e->ops_tail = NULL;
    free(e->watched);
    e->watched = NULL;
    e->n_watched = e->cap_watched = 0;
}
