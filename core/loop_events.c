/*
 * loop_events.c - how a loop waits: curl's socket interface
 * (curl_multi_socket_action) driven from one epoll set, plus an eventfd
 * for wakeups from other threads.
 *
 * Why not curl_multi_poll: it polls every socket of the multi handle on
 * every turn (64 upstream connections cost 64 fd checks per wakeup, ten
 * thousand streams would cost ten thousand), and curl_multi_perform
 * makes curl poll each transfer's socket once more before reading it.
 * Here the kernel reports only the sockets that are ready, and curl is
 * told which ones, so it reads them without asking again.
 *
 * A connection kept alive between requests would cost two epoll_ctl
 * calls per request (curl stops watching it when a transfer ends and
 * watches it again when the next one reuses it), so a socket curl opened
 * through on_open stays in the set, "parked", when curl stops watching
 * it.  That is safe because such a socket is closed only through
 * on_close, which forgets its state, so a parked entry never outlives
 * its socket number.  Should a parked socket become ready (the upstream
 * closed it), it is taken out of the set then, and curl finds the
 * connection dead when it next looks.  Sockets curl made elsewhere (its
 * resolver's socket pair) are added and removed eagerly.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "job.h"
#include "llmroute.h"
#include "router.h"
#include "transfer.h"

#define MAX_SLEEP_MS 200
#define MAX_TRACKED_FD (1 << 20)
/* epoll data of a watched application fd (lr_loop_watch_fd); curl's
   sockets and the eventfd carry the bare fd. */
#define WATCH_TAG (UINT64_C(1) << 63)
#define NO_EVENT UINT64_MAX     /* a ready entry struck out */

/* fd_state bits */
enum {
    FD_REG = 1,     /* in the epoll set */
    FD_IN = 2,      /* ... for reading */
    FD_OUT = 4,     /* ... for writing */
    FD_OURS = 8,    /* opened by on_open, closed by on_close */
    FD_PARKED = 16  /* in the set, but curl does not watch it now */
};

/* The state of fd, growing the table when grow is set; NULL when fd is
   out of range or memory is short (the socket is then handled
   eagerly, as if not ours). */
static uint8_t *fd_state(struct lr_loop *l, int fd, int grow)
{
    if (fd < 0 || fd >= MAX_TRACKED_FD)
        return NULL;
    if ((size_t)fd >= l->n_fd_state) {
        if (!grow)
            return NULL;
        size_t n = l->n_fd_state ? l->n_fd_state : 64;
        while (n <= (size_t)fd)
            n *= 2;
        uint8_t *v = realloc(l->fd_state, n);
        if (!v)
            return NULL;
        memset(v + l->n_fd_state, 0, n - l->n_fd_state);
        l->fd_state = v;
        l->n_fd_state = n;
    }
    return &l->fd_state[fd];
}

static void unwatch(struct lr_loop *l, int fd, uint8_t *st)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    if (st)
        *st &= FD_OURS;
}

/* ADD or MOD as the state says, correcting a stale state either way. */
static int watch(struct lr_loop *l, int fd, uint8_t *st, uint8_t want)
{
    struct epoll_event ev = {
        .events = (want & FD_IN ? EPOLLIN : 0u)
                  | (want & FD_OUT ? EPOLLOUT : 0u),
        .data.u64 = (uint64_t)fd,
    };
    int op = st && (*st & FD_REG) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(l->epfd, op, fd, &ev);
    if (rc != 0 && errno == ENOENT)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (rc != 0 && errno == EEXIST)
        rc = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc != 0)
        return -1;
    if (st)
        *st = (uint8_t)((*st & FD_OURS) | FD_REG | want);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: what curl wants to hear about fd. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    (void)easy;
    (void)socketp;
    struct lr_loop *l = userp;
    uint8_t *st = fd_state(l, fd, 1);
    int ours = st && (*st & FD_OURS);
    if (what == CURL_POLL_REMOVE) {
        if (ours && (*st & FD_REG))
            *st |= FD_PARKED;
        else
            unwatch(l, fd, st);
        return 0;
    }
    uint8_t want = (uint8_t)((what & CURL_POLL_IN ? FD_IN : 0)
                             | (what & CURL_POLL_OUT ? FD_OUT : 0));
    if (ours && (*st & FD_REG) && (*st & (FD_IN | FD_OUT)) == want) {
        *st &= (uint8_t)~FD_PARKED;
        return 0;
    }
    return watch(l, fd, st, want);
}

/* CURLOPT_OPENSOCKETFUNCTION: a fresh socket number starts with no
   registration, whatever an earlier socket of that number had. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose,
                             struct curl_sockaddr *a)
{
    (void)purpose;
    struct lr_loop *l = clientp;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    uint8_t *st = fd_state(l, fd, 1);
    if (st)
        *st = FD_OURS;
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closing the (never duplicated) socket
   drops its registration, so only the state is left to forget. */
static int on_close(void *clientp, curl_socket_t fd)
{
    struct lr_loop *l = clientp;
    uint8_t *st = fd_state(l, fd, 0);
    if (st)
        *st = 0;
    return close(fd);
}

void lr_loop_events_easy(struct lr_loop *l, CURL *easy)
{
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, l);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, l);
}

int lr_loop_events_init(struct lr_loop *l)
{
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN,
                             .data.u64 = (uint64_t)l->wake_fd};
    if (l->epfd < 0 || l->wake_fd < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) != 0) {
        lr_loop_events_fini(l);
        return LR_E_INTERNAL;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    return LR_OK;
}

void lr_loop_events_fini(struct lr_loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    l->epfd = l->wake_fd = -1;
    free(l->fd_state);
    l->fd_state = NULL;
    l->n_fd_state = 0;
}

static void drain_wakeups(const struct lr_loop *l)
{
    uint64_t n;
    ssize_t got = read(l->wake_fd, &n, sizeof n);
    (void)got;
}

static int curl_mask(uint32_t ev)
{
    return (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP) ? CURL_CSELECT_IN : 0)
           | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0)
           | (ev & EPOLLERR ? CURL_CSELECT_ERR : 0);
}

/* The sockets the last poll found ready.  An entry may be stale (an
   earlier action closed the socket and a new one took its number);
   curl then finds nothing to read, which it handles. */
static void dispatch_ready(struct lr_loop *l)
{
    int n = l->n_ready, running;
    l->n_ready = 0;
    for (int i = 0; i < n; i++) {
        uint64_t tag = l->ready[i].data.u64;
        int fd = (int)(tag & 0x7fffffff);
        if (tag == NO_EVENT)
            continue;
        if (tag & WATCH_TAG) {
            if (l->on_watch)
                l->on_watch(l->watch_arg, fd);
            continue;
        }
        uint8_t *st = fd_state(l, fd, 0);
        if (st && (*st & FD_PARKED)) {
            unwatch(l, fd, st);
            continue;
        }
        curl_multi_socket_action(l->multi, fd, curl_mask(l->ready[i].events),
                                 &running);
    }
}

static void reap_transfers(struct lr_loop *l)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct lr_transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode cc = m->data.result;
        if (t && t->job)
            lr_job_transfer_done(t->job, cc);
    }
}

void lr_loop_step(struct lr_loop *l)
{
    lr_timer_run(&l->timers, lr_clock_now(l->rt->clock));
    dispatch_ready(l);
    /* curl's own timers (a new transfer's start, connect and transfer
       timeouts) are read on its clock, not the injected one: they are
       transport deadlines, set in real milliseconds. */
    long due = -1;
    int running;
    curl_multi_timeout(l->multi, &due);
    if (due == 0)
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0,
                                 &running);
    reap_transfers(l);
    lr_timer_run(&l->timers, lr_clock_now(l->rt->clock));
}

static int sleep_ms(const struct lr_loop *l)
{
    int64_t ms = MAX_SLEEP_MS;
    struct lr_timer *t = lr_timer_peek(&l->timers);
    if (t) {
        int64_t d = t->at - lr_clock_now(l->rt->clock);
        ms = d < ms ? d : ms;
    }
    long due = -1;
    curl_multi_timeout(l->multi, &due);
    if (due >= 0 && due < ms)
        ms = due;
    return ms < 0 ? 0 : (int)ms;
}

/* A wakeup is consumed here, when the poll returns, not later in the
   step: the engine drains its inbox between the two, and a wakeup sent
   for a job queued after that drain must end the next poll. */
void lr_loop_poll(struct lr_loop *l)
{
    int n = epoll_wait(l->epfd, l->ready,
                       (int)(sizeof l->ready / sizeof l->ready[0]),
                       sleep_ms(l));
    for (int i = 0; i < n; i++)
        if (l->ready[i].data.u64 == (uint64_t)l->wake_fd) {
            drain_wakeups(l);
            l->ready[i].data.u64 = NO_EVENT;
        }
    l->n_ready = n > 0 ? n : 0;
}

int lr_loop_watch_fd(struct lr_loop *l, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN,
                             .data.u64 = WATCH_TAG | (uint64_t)fd};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? LR_OK
                                                           : LR_E_INVALID_ARG;
}

void lr_loop_unwatch_fd(struct lr_loop *l, int fd)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    /* A readiness the last poll saw must not reach the next owner of
       the number. */
    for (int i = 0; i < l->n_ready; i++)
        if (l->ready[i].data.u64 == (WATCH_TAG | (uint64_t)fd))
            l->ready[i].data.u64 = NO_EVENT;
}

void lr_loop_wakeup(struct lr_loop *l)
{
    uint64_t one = 1;
    ssize_t put = write(l->wake_fd, &one, sizeof one);
    (void)put;
}
