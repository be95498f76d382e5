/*
 * loop.h - one event loop: a curl multi handle (its connection cache
 * keeps keep-alive connections) driven through curl's socket interface
 * from an epoll set (loop_events.c), an intrusive timer heap read
 * against the router's injected clock, a pool of configured easy handles
 * and a per-target cache of curl header lists.
 *
 * A loop is driven by one thread at a time.  The engine thread owns one
 * for asynchronous calls; blocking calls (lr_complete, lr_stream) borrow
 * one from the router's pool (blocking.c) and drive it on the caller's
 * thread, so a blocking call never hops threads.  Only lr_loop_wakeup()
 * may be called from another thread.
 */
#ifndef LR_CORE_LOOP_H
#define LR_CORE_LOOP_H

#include <curl/curl.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "timer_heap.h"

struct lr_router;
struct lr_target;

/* Finished jobs a loop keeps for reuse (struct lr_loop, spare_jobs). */
#define LR_LOOP_SPARE_JOBS 16

/* A curl header list built from one provider header text, shared by the
   transfers that send exactly that text (see lr_loop_headers). */
struct lr_hdr_cache {
    char *text;
    size_t len;
    struct curl_slist *list;
    size_t users;                  /* transfers using list now */
};

struct lr_loop {
    struct lr_router *rt;
    CURLM *multi;
    struct lr_timer_heap timers;
    CURL **easy_pool;              /* configured, idle easy handles */
    size_t n_easy, cap_easy;
    struct lr_hdr_cache *hdrs;     /* one per target and key */
    size_t n_hdrs, keys_per_target;
    struct lr_loop *next_idle;     /* the router's idle list */
    /* Events (loop_events.c).  epfd watches curl's sockets and wake_fd
       (an eventfd other threads write to); fd_state[fd] is what the set
       holds for a socket, see loop_events.c. */
    int epfd, wake_fd;
    uint8_t *fd_state;
    size_t n_fd_state;
    int64_t curl_due_ms;           /* curl's timer, CLOCK_MONOTONIC; -1 */
    struct epoll_event ready[64];  /* from the last poll, for the step */
    int n_ready;
    /* Application fds (lr_loop_watch_fd): readiness goes to on_watch. */
    void (*on_watch)(void *arg, int fd);
    void *watch_arg;
    /* Finished jobs kept for the next ones (taken and given back by
       job.c on the loop's own thread, freed here), linked through their
       next: over glibc's 1 KiB threshold, a fresh calloc per request
       cost more than the rest of lr_job_new.  A blocking call's loop
       needs one; the engine's keeps a few for the requests a watch
       submits on the engine thread. */
    void *spare_jobs;
    size_t n_spare_jobs;
};

/* curl_global_init, once per process. */
void lr_curl_global_init(void);
int lr_loop_init(struct lr_loop *l, struct lr_router *rt);
/* Free everything; no transfer may be in flight. */
void lr_loop_fini(struct lr_loop *l);
/* A configured easy handle (new or recycled); NULL on out-of-memory. */
CURL *lr_loop_take_easy(struct lr_loop *l);
void lr_loop_give_easy(struct lr_loop *l, CURL *easy);
/* The curl list for the header text of an attempt on target t with key
   key_idx: the cached one when the text is the same as last time (*cached
   set; release with lr_loop_headers_done), else NULL (*cached 0: the
   caller builds its own). */
struct curl_slist *lr_loop_headers(struct lr_loop *l,
                                   const struct lr_target *t, size_t key_idx,
                                   const char *text, size_t len,
                                   struct lr_hdr_cache **cached);
/* Offer a list the caller built for that text; returns the cache entry
   now owning it, or NULL (the caller keeps and frees its list). */
struct lr_hdr_cache *lr_loop_headers_offer(struct lr_loop *l,
                                           const struct lr_target *t,
                                           size_t key_idx, const char *text,
                                           size_t len,
                                           struct curl_slist *list);
void lr_loop_headers_done(struct lr_hdr_cache *c);
/* --- Events (loop_events.c) --- */
/* The epoll set, the wakeup eventfd and curl's socket and timer
   callbacks; LR_OK or LR_E_NOMEM/LR_E_INTERNAL. */
int lr_loop_events_init(struct lr_loop *l);
void lr_loop_events_fini(struct lr_loop *l);
/* For new_easy: curl opens and closes its sockets through the loop, so
   that the loop knows when a socket number is reused. */
void lr_loop_events_easy(struct lr_loop *l, CURL *easy);
/* Fire due timers, hand ready sockets and curl's due timer to curl,
   hand finished transfers to their jobs, fire timers again (those the
   finished transfers armed). */
void lr_loop_step(struct lr_loop *l);
/* Sleep until a socket is ready, the next timer is due or a wakeup; the
   sleep is capped so that a fake clock that moves is noticed. */
void lr_loop_poll(struct lr_loop *l);
/* Watch an application's fd for reading (level-triggered); its
   readiness is reported to l->on_watch during lr_loop_step.  LR_OK or
   LR_E_INVALID_ARG (epoll refused it: already watched, not pollable). */
int lr_loop_watch_fd(struct lr_loop *l, int fd);
void lr_loop_unwatch_fd(struct lr_loop *l, int fd);
/* From any thread: end the current lr_loop_poll early. */
void lr_loop_wakeup(struct lr_loop *l);

#endif
