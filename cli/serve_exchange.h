/*
 * serve_exchange.h - one chat request in flight through the gateway, and
 * the server state it reports to.  Shared by serve_exchange.c (engine
 * side, SSE reader) and serve_http.c (daemon, routes).
 *
 * Threads: the MHD thread owns the exchange's HTTP side (conn, body,
 * out); the engine thread only appends to `pending`, sets `resp`/`done`
 * and resumes the connection, under `mu`.  A connection is suspended
 * only with `mu` held and `suspended` set, and resumed only with `mu`
 * held and `suspended` cleared, so a wake-up is never lost and never
 * doubled.  Lock order: server mu, then exchange mu, then
 * libmicrohttpd's own locks.
 */
#ifndef LR_CLI_SERVE_EXCHANGE_H
#define LR_CLI_SERVE_EXCHANGE_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "serve.h"

struct exchange;
struct serve_watch;

struct serve_server {
    struct lr_router *router;
    const struct serve_config *cfg;
    struct serve_models models;
    struct MHD_Daemon *daemon;
    int port;
    int epoll_fd;                /* the daemon's, watched on the engine
                                    thread; -1 until then */
    pthread_mutex_t mu;
    size_t live;                 /* exchanges libmicrohttpd still holds */
    struct exchange *list;       /* those exchanges, for shutdown */
    struct serve_stats *stats;   /* for /metrics and /dashboard */
    struct serve_watch *watch;   /* hang-ups of clients in flight */
    atomic_int raw_431s;         /* closes libmicrohttpd will call an
                                    internal error (serve_http.c) */
};

struct exchange {
    pthread_mutex_t mu;
    int refs;                    /* HTTP side, engine, SSE reader */
    struct serve_server *srv;
    struct MHD_Connection *conn;
    struct exchange *prev, *next;
    /* HTTP side (MHD thread) */
    const struct serve_client *client;
    struct serve_buf body;
    int too_big, started, sse_role_sent, sse_final;
    struct serve_parsed parsed;
    char id[48];
    long long created;
    struct serve_buf out;
    size_t out_off;
    char chunk_model[256];       /* every chunk's "model", fixed at the
                                    first chunk sent */
    /* shared, under mu */
    int suspended, conn_gone, submitted, done;
    uint64_t req_id;
    struct serve_buf pending;    /* streamed text not yet sent */
    char delta_model[256];       /* lr_delta_model() at the first delta */
    struct lr_response *resp;    /* set once, with done */
    /* under the watch's mutex (serve_watch.c) */
    int watch_fd;                /* -1: not watched */
    uint32_t watch_gen;
};

/* A new exchange for conn, counted live by srv; NULL on out of memory. */
struct exchange *exchange_new(struct serve_server *srv,
                              struct MHD_Connection *conn);
/* Hand req to the engine (copied).  0, or -1 (router closing). */
int exchange_submit(struct exchange *x, const struct lr_request *req);
/* From the access handler: 1 when there is something to answer with
   (done, or streamed text), else 0 after suspending the connection. */
int exchange_ready(struct exchange *x);
/* The SSE response reading from x (takes a reference), or NULL. */
struct MHD_Response *exchange_sse_response(struct exchange *x);
/* libmicrohttpd is done with the connection: cancel what still runs. */
void exchange_closed(struct exchange *x);
/* Cancel x's request if it is still in flight (shutdown, hang-up). */
void exchange_cancel(struct exchange *x);
/* Take and drop a reference (the last one frees x). */
void exchange_hold(struct exchange *x);
void exchange_release(struct exchange *x);

/* What libmicrohttpd keeps per client connection for us (its socket
   context): the connection's entry in the hang-up watch. */
struct serve_conn {
    int fd;
    uint32_t watch_gen;          /* 0: not watched */
};

/* serve_watch.c: one thread that cancels the requests of clients that
   hang up while their connection is suspended (see there). */
struct serve_watch *serve_watch_new(void);
void serve_watch_free(struct serve_watch *w);
/* Watch client socket fd from accept to close; its generation, or 0
   when it cannot be watched. */
uint32_t serve_watch_open(struct serve_watch *w, int fd);
void serve_watch_close(struct serve_watch *w, int fd, uint32_t gen);
/* x is the request in flight on connection (fd, gen) until
   serve_watch_forget(); holds a reference. */
void serve_watch_add(struct serve_watch *w, struct exchange *x, int fd,
                     uint32_t gen);
void serve_watch_forget(struct serve_watch *w, struct exchange *x);

#endif
