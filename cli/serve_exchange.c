/*
 * serve_exchange.c - one request in flight: no thread waits for it.
 *
 * The access handler submits the request with lr_submit() and suspends
 * the connection.  The engine's callbacks (engine thread, short, never
 * blocking) append streamed text or store the response under the
 * exchange's mutex and resume the connection; libmicrohttpd then calls
 * the handler again, which answers.  A streamed answer is an SSE
 * response whose reader hands out what is buffered and, when nothing
 * is, suspends the connection and returns 0: libmicrohttpd's documented
 * way to say "no data yet" without busy-waiting in internal polling
 * mode.  So thousands of slow upstream calls cost an exchange each
 * (a few hundred bytes plus buffers), not a thread.
 *
 * Lifetime: references from the HTTP side (dropped in exchange_closed),
 * the engine (dropped in on_done) and the SSE reader (dropped when
 * libmicrohttpd frees the response).  A client that goes away cancels
 * the request with lr_cancel(); a delta arriving after that returns
 * nonzero, which cancels too.  While the connection is suspended,
 * libmicrohttpd would not notice the client leave: serve_watch.c does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "serve_exchange.h"

void exchange_hold(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    x->refs++;
    pthread_mutex_unlock(&x->mu);
}

void exchange_release(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    int last = --x->refs == 0;
    pthread_mutex_unlock(&x->mu);
    if (!last)
        return;
    serve_buf_free(&x->body);
    serve_buf_free(&x->out);
    serve_buf_free(&x->pending);
    lr_response_free(x->resp);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

struct exchange *exchange_new(struct serve_server *srv,
                              struct MHD_Connection *conn)
{
    struct exchange *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    pthread_mutex_init(&x->mu, NULL);
    x->refs = 1;
    x->watch_fd = -1;
    x->srv = srv;
    x->conn = conn;
    pthread_mutex_lock(&srv->mu);
    x->next = srv->list;
    if (srv->list)
        srv->list->prev = x;
    srv->list = x;
    srv->live++;
    pthread_mutex_unlock(&srv->mu);
    return x;
}

/* With x->mu held: let libmicrohttpd look at the connection again.  In
   external epoll mode it has no wakeup channel of its own: the watch
   that drives it (serve_http.c) is asked to run.  A connection not gone
   means the server is still there. */
static void wake(struct exchange *x)
{
    if (x->suspended && !x->conn_gone) {
        x->suspended = 0;
        MHD_resume_connection(x->conn);
        lr_watch_wake(x->srv->router, x->srv->epoll_fd);
    }
}

static int on_delta(const char *text, size_t len, void *user)
{
    struct exchange *x = user;
    const char *model = lr_delta_model();
    pthread_mutex_lock(&x->mu);
    if (model && !x->delta_model[0])
        snprintf(x->delta_model, sizeof x->delta_model, "%s", model);
    int stop = x->conn_gone || serve_buf_add(&x->pending, text, len);
    if (!stop)
        wake(x);
    pthread_mutex_unlock(&x->mu);
    return stop;
}

static void on_done(struct lr_response *resp, void *user)
{
    struct exchange *x = user;
    pthread_mutex_lock(&x->mu);
    x->resp = resp;
    x->done = 1;
    wake(x);
    pthread_mutex_unlock(&x->mu);
    exchange_release(x);
}

int exchange_submit(struct exchange *x, const struct lr_request *req)
{
    pthread_mutex_lock(&x->mu);
    x->refs++;
    x->submitted = 1;
    pthread_mutex_unlock(&x->mu);
    uint64_t id = lr_submit(x->srv->router, req,
                            x->parsed.stream ? on_delta : NULL, on_done, x);
    pthread_mutex_lock(&x->mu);
    x->req_id = id;
    if (!id) {
        x->submitted = 0;
        x->refs--;
    }
    pthread_mutex_unlock(&x->mu);
    if (id) {
        /* Named until exchange_closed(), on this (libmicrohttpd's)
           thread: on_done() may run after serve_stop() freed the
           server, so it must not touch the watch. */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            x->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        const struct serve_conn *sc = ci ? ci->socket_context : NULL;
        if (sc && sc->watch_gen)
            serve_watch_add(x->srv->watch, x, sc->fd, sc->watch_gen);
    }
    return id ? 0 : -1;
}

int exchange_ready(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    int ready = x->done || x->pending.len > 0;
    if (!ready) {
        x->suspended = 1;
        MHD_suspend_connection(x->conn);
    }
    pthread_mutex_unlock(&x->mu);
    return ready;
}

/* With x->mu held, before the first chunk: the model the chunks carry,
   the one a non-streamed answer would (serve_completion_json()): the
   model answering, as the engine said at the first delta, or as the
   response says when it came without one, else the model asked for. */
static void pick_model(struct exchange *x)
{
    const char *m = x->delta_model;
    if (!*m && x->done)
        m = lr_response_model(x->resp);
    if (!m || !*m)
        m = x->parsed.model;
    snprintf(x->chunk_model, sizeof x->chunk_model, "%s", m);
}

/* Turn what the engine left into SSE bytes in x->out; 0 when there was
   nothing (the connection is then suspended), 1 when there was, -1 on
   out of memory. */
static int fill(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    struct serve_buf text = x->pending;
    int done = x->done;
    memset(&x->pending, 0, sizeof x->pending);
    if (!text.len && !done) {
        x->suspended = 1;
        MHD_suspend_connection(x->conn);
        pthread_mutex_unlock(&x->mu);
        return 0;
    }
    if (!x->chunk_model[0])
        pick_model(x);
    pthread_mutex_unlock(&x->mu);
    int rc = 0;
    const char *model = x->chunk_model;
    if (text.len || !x->sse_role_sent)
        rc = serve_sse_delta(&x->out, x->id, x->created, model,
                             !x->sse_role_sent, text.data ? text.data : "",
                             text.len);
    x->sse_role_sent = 1;
    serve_buf_free(&text);
    if (!rc && done) {
        rc = serve_sse_end(&x->out, x->id, x->created, model, x->resp,
                           x->parsed.include_usage);
        x->sse_final = 1;
    }
    return rc ? -1 : 1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct exchange *x = cls;
    (void)pos;
    while (x->out_off == x->out.len) {
        if (x->sse_final)
            return MHD_CONTENT_READER_END_OF_STREAM;
        x->out.len = x->out_off = 0;
        int rc = fill(x);
        if (rc <= 0)
            return rc < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : 0;
    }
    size_t n = x->out.len - x->out_off;
    n = n < max ? n : max;
    memcpy(buf, x->out.data + x->out_off, n);
    x->out_off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    exchange_release(cls);
}

struct MHD_Response *exchange_sse_response(struct exchange *x)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16384, sse_read, x, sse_free);
    if (!r)
        return NULL;
    pthread_mutex_lock(&x->mu);
    x->refs++;
    pthread_mutex_unlock(&x->mu);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    return r;
}

void exchange_cancel(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    uint64_t id = x->submitted && !x->done ? x->req_id : 0;
    pthread_mutex_unlock(&x->mu);
    if (id)
        lr_cancel(x->srv->router, id);
}

void exchange_closed(struct exchange *x)
{
    struct serve_server *srv = x->srv;
    pthread_mutex_lock(&x->mu);
    x->conn_gone = 1;
    pthread_mutex_unlock(&x->mu);
    exchange_cancel(x);
    serve_watch_forget(srv->watch, x);
    pthread_mutex_lock(&srv->mu);
    if (x->prev)
        x->prev->next = x->next;
    else
        srv->list = x->next;
    if (x->next)
        x->next->prev = x->prev;
    srv->live--;
    pthread_mutex_unlock(&srv->mu);
    exchange_release(x);
}
