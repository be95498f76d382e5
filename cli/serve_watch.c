/*
 * serve_watch.c - cancel the request of a client that hangs up.
 *
 * libmicrohttpd does not look at a suspended connection, so a client that
 * gives up on a slow non-streamed answer (or on a stream waiting for its
 * next token) would otherwise keep its upstream call, and its bill,
 * running to the end.  Every client socket sits in one epoll set from
 * accept to close, watched edge-triggered for EPOLLRDHUP (the peer closed
 * its side; like nginx, we take that as a client abort) and the always
 * reported EPOLLHUP/EPOLLERR.  While a request of that connection is in
 * flight, the connection's entry names its exchange; one thread waits on
 * the set and cancels the named exchange's request when its client hangs
 * up.  Cancelling resumes the connection, and libmicrohttpd then finds it
 * closed.  A kept-alive connection costs two epoll_ctl calls in its life,
 * not per request, and only hang-ups wake the thread.
 *
 * Entries are indexed by fd and stamped with a generation: the epoll
 * event carries both, so an event that raced with the connection's close,
 * and a new connection that got the same fd number meanwhile, can never
 * be mistaken for each other.  A named exchange holds a reference.  The
 * table is under mu; nothing is called with mu held but epoll_ctl.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "serve_exchange.h"

#define STOP_TOKEN UINT64_MAX

struct entry {
    uint32_t gen;                /* 0: no connection */
    struct exchange *x;          /* its request in flight, or NULL */
};

struct serve_watch {
    int ep, stop_fd;
    pthread_t thread;
    pthread_mutex_t mu;
    struct entry *tab;           /* indexed by fd */
    size_t cap;
    uint32_t gen;
};

static uint64_t token(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

/* With mu held: the entry of connection (fd, gen), or NULL. */
static struct entry *entry_of(struct serve_watch *w, int fd, uint32_t gen)
{
    if (fd < 0 || (size_t)fd >= w->cap || !gen || w->tab[fd].gen != gen)
        return NULL;
    return &w->tab[fd];
}

/* With mu held: unname the entry's exchange, whose reference becomes the
   caller's (NULL when none was named). */
static struct exchange *unname(struct entry *e)
{
    struct exchange *x = e ? e->x : NULL;
    if (x) {
        e->x = NULL;
        x->watch_fd = -1;
    }
    return x;
}

static void *watch_main(void *arg)
{
    struct serve_watch *w = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(w->ep, ev, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return NULL;
        for (int i = 0; i < n; i++) {
            uint64_t t = ev[i].data.u64;
            if (t == STOP_TOKEN)
                return NULL;
            pthread_mutex_lock(&w->mu);
            struct exchange *x = unname(entry_of(w, (int)(uint32_t)t,
                                                 (uint32_t)(t >> 32)));
            pthread_mutex_unlock(&w->mu);
            if (x) {
                exchange_cancel(x);
                exchange_release(x);
            }
        }
    }
}

struct serve_watch *serve_watch_new(void)
{
    struct serve_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = STOP_TOKEN};
    if (w->ep < 0 || w->stop_fd < 0 ||
        epoll_ctl(w->ep, EPOLL_CTL_ADD, w->stop_fd, &ev) != 0 ||
        pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        if (w->ep >= 0)
            close(w->ep);
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

/* With mu held: room in the table for fd. */
static int grow(struct serve_watch *w, int fd)
{
    if ((size_t)fd < w->cap)
        return 0;
    size_t cap = w->cap ? w->cap : 256;
    while (cap <= (size_t)fd)
        cap *= 2;
    struct entry *t = realloc(w->tab, cap * sizeof *t);
    if (!t)
        return -1;
    memset(t + w->cap, 0, (cap - w->cap) * sizeof *t);
    w->tab = t;
    w->cap = cap;
    return 0;
}

uint32_t serve_watch_open(struct serve_watch *w, int fd)
{
    if (!w || fd < 0)
        return 0;
    pthread_mutex_lock(&w->mu);
    uint32_t gen = ++w->gen ? w->gen : ++w->gen;     /* never 0 */
    struct exchange *stale = NULL;
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLET,
                             .data.u64 = token(fd, gen)};
    int ok = grow(w, fd) == 0;
    if (ok) {
        stale = unname(&w->tab[fd]);    /* a close we never heard of */
        w->tab[fd].gen = 0;
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0 &&
            (errno != EEXIST ||
             epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev) != 0))
            ok = 0;
    }
    if (ok)
        w->tab[fd].gen = gen;
    pthread_mutex_unlock(&w->mu);
    if (stale)
        exchange_release(stale);
    return ok ? gen : 0;         /* 0: unwatched, its requests run on */
}

void serve_watch_close(struct serve_watch *w, int fd, uint32_t gen)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    struct entry *e = entry_of(w, fd, gen);
    struct exchange *x = unname(e);
    if (e) {
        e->gen = 0;
        epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
    }
    pthread_mutex_unlock(&w->mu);
    if (x)
        exchange_release(x);
}

void serve_watch_add(struct serve_watch *w, struct exchange *x, int fd,
                     uint32_t gen)
{
    if (!w)
        return;
    exchange_hold(x);
    pthread_mutex_lock(&w->mu);
    struct entry *e = entry_of(w, fd, gen);
    struct exchange *old = unname(e);
    if (e) {
        e->x = x;
        x->watch_fd = fd;
        x->watch_gen = gen;
    }
    pthread_mutex_unlock(&w->mu);
    if (old)
        exchange_release(old);
    if (!e)
        exchange_release(x);
}

void serve_watch_forget(struct serve_watch *w, struct exchange *x)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    struct entry *e = x->watch_fd >= 0
                          ? entry_of(w, x->watch_fd, x->watch_gen) : NULL;
    struct exchange *mine = e && e->x == x ? unname(e) : NULL;
    pthread_mutex_unlock(&w->mu);
    if (mine)
        exchange_release(mine);
}

void serve_watch_free(struct serve_watch *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof one) == sizeof one)
        pthread_join(w->thread, NULL);
    else
        pthread_detach(w->thread);   /* cannot happen with an eventfd */
    for (size_t fd = 0; fd < w->cap; fd++)
        if (w->tab[fd].x)
            exchange_release(w->tab[fd].x);
    free(w->tab);
    close(w->ep);
    close(w->stop_fd);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
