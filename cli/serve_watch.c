/*
 * serve_watch.c - cancel the request of a client that hangs up.
 *
 * libmicrohttpd does not look at a suspended connection, so a client that
 * gives up on a slow non-streamed answer (or on a stream waiting for its
 * next token) would otherwise keep its upstream call, and its bill,
 * running to the end.  From submit until libmicrohttpd is done with the
 * request (exchange_closed()), each exchange's socket sits in one epoll
 * set, watched for EPOLLRDHUP (the
 * peer closed its side; like nginx, we take that as a client abort) and
 * the always-reported EPOLLHUP/EPOLLERR.  One thread waits on the set and
 * cancels the request of a connection that hung up; cancelling resumes
 * the connection, and libmicrohttpd then finds it closed.  Only hang-ups
 * wake the thread: a busy gateway pays two epoll_ctl calls per request.
 *
 * Each registration holds a reference on its exchange and is known by
 * (fd, generation): the epoll event carries both, so an event that raced
 * with the exchange's own deregistration, and a new connection that got
 * the same fd number meanwhile, can never be mistaken for each other.
 * The table is indexed by fd, under mu; nothing is called with mu held
 * but epoll_ctl.
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
    struct exchange *x;          /* NULL: free */
    uint32_t gen;
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

/* With mu held: take the registration of (fd, gen) out of the table and
   the epoll set; the exchange (its reference now the caller's) or NULL
   when it is no longer registered. */
static struct exchange *take(struct serve_watch *w, int fd, uint32_t gen)
{
    if (fd < 0 || (size_t)fd >= w->cap || !w->tab[fd].x ||
        w->tab[fd].gen != gen)
        return NULL;
    struct exchange *x = w->tab[fd].x;
    w->tab[fd].x = NULL;
    x->watch_fd = -1;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);   /* EBADF once closed */
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
            if (ev[i].data.u64 == STOP_TOKEN)
                return NULL;
            pthread_mutex_lock(&w->mu);
            struct exchange *x = take(w, (int)(uint32_t)ev[i].data.u64,
                                      (uint32_t)(ev[i].data.u64 >> 32));
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

void serve_watch_add(struct serve_watch *w, struct exchange *x, int fd)
{
    if (!w || fd < 0)
        return;
    struct exchange *stale = NULL;
    exchange_hold(x);
    pthread_mutex_lock(&w->mu);
    int ok = grow(w, fd) == 0;
    if (ok && w->tab[fd].x)     /* its socket was closed unseen */
        stale = take(w, fd, w->tab[fd].gen);
    struct epoll_event ev = {.events = EPOLLRDHUP,
                             .data.u64 = token(fd, ++w->gen)};
    ok = ok && epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == 0;
    if (ok) {
        w->tab[fd].x = x;
        w->tab[fd].gen = w->gen;
        x->watch_fd = fd;
        x->watch_gen = w->gen;
    }
    pthread_mutex_unlock(&w->mu);
    if (stale)
        exchange_release(stale);
    if (!ok)                    /* unwatched: it simply runs to the end */
        exchange_release(x);
}

void serve_watch_forget(struct serve_watch *w, struct exchange *x)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    struct exchange *mine = x->watch_fd >= 0
                                ? take(w, x->watch_fd, x->watch_gen) : NULL;
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
